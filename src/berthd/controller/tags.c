/* tags: AddTags, ListTags, DeleteTags and the TagList rules (tags.h).
 *
 * DESIGN: a tag change rewrites the resource's document and queues it to
 * the store like any other change, so the API answers once it is durable
 * (api.c). An endpoint config's document is shared by the endpoints made
 * from it (their "Config" snapshot), so it is copied before it changes:
 * tagging a config never rewrites an endpoint. */
#include "tags.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ic.h"
#include "store.h"

#define TAG_PATTERN "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"
#define ARN_PATTERN "arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:.+"

static int bad(api_error *e, const char *value, const char *path, const char *rule) {
  return api_fail(e, 400, "ValidationException",
                  "1 validation error detected: Value '%.200s' at '%s' failed to satisfy "
                  "constraint: %s", value, path, rule);
}

/* Characters (UTF-8 code points; jansson has checked the encoding). */
static size_t chars(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) n++;
  return n;
}

/* SageMaker's [\p{L}\p{Z}\p{N}_.:/=+\-@]: for ASCII exactly that (letters,
 * digits, space and the seven marks); any non-ASCII character is taken as
 * a letter, number or space, as Berth does not classify Unicode. */
static int tag_chars_ok(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p >= 0x80) continue;
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) continue;
    if (!strchr(" _.:/=+-@", *p)) return 0;
  }
  return 1;
}

/* v must be a string (present, not null). */
static int string_member(json_t *v, const char *path, api_error *e) {
  if (!v || json_is_null(v))
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value null at '%s' failed to satisfy "
                    "constraint: Member must not be null", path);
  if (!json_is_string(v))
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                    "Member must be a string", path);
  return 0;
}

/* One TagKey: 1..128 characters of the pattern, not "aws:...". */
static int key_check(json_t *v, const char *path, api_error *e) {
  if (string_member(v, path, e)) return -1;
  const char *k = json_string_value(v);
  size_t n = chars(k);
  if (n < 1) return bad(e, k, path, "Member must have length greater than or equal to 1");
  if (n > 128) return bad(e, k, path, "Member must have length less than or equal to 128");
  if (!tag_chars_ok(k))
    return bad(e, k, path, "Member must satisfy regular expression pattern: " TAG_PATTERN);
  if (strncasecmp(k, "aws:", 4) == 0)
    return bad(e, k, path, "Member must not start with 'aws:' (the prefix is reserved for AWS)");
  return 0;
}

static int value_check(json_t *v, const char *path, api_error *e) {
  if (string_member(v, path, e)) return -1;
  const char *s = json_string_value(v);
  if (chars(s) > 256) return bad(e, s, path, "Member must have length less than or equal to 256");
  if (!tag_chars_ok(s))
    return bad(e, s, path, "Member must satisfy regular expression pattern: " TAG_PATTERN);
  return 0;
}

int tags_check(json_t *obj, const char *key, const char *path, api_error *e) {
  json_t *tags;
  if (valid_array(obj, key, path, 0, 0, TAGS_MAX, &tags, e)) return -1;
  size_t i, j;
  json_t *t;
  json_array_foreach(tags, i, t) {
    char p[96];
    if (!json_is_object(t)) {
      snprintf(p, sizeof p, "%s.%zu", path, i + 1);
      return api_fail(e, 400, "ValidationException",
                      "1 validation error detected: Value at '%s' failed to satisfy "
                      "constraint: Member must be a structure {Key, Value}", p);
    }
    snprintf(p, sizeof p, "%s.%zu.Key", path, i + 1);
    if (key_check(json_object_get(t, "Key"), p, e)) return -1;
    snprintf(p, sizeof p, "%s.%zu.Value", path, i + 1);
    if (value_check(json_object_get(t, "Value"), p, e)) return -1;
    const char *k = json_string_value(json_object_get(t, "Key"));
    for (j = 0; j < i; j++)
      if (strcmp(k, json_string_value(json_object_get(json_array_get(tags, j), "Key"))) == 0)
        return api_fail(e, 400, "ValidationException",
                        "%s: Key '%.128s' appears more than once (%s.%zu and %s.%zu): each tag "
                        "key may be given once", path, k, path, j + 1, path, i + 1);
  }
  return 0;
}

/* ---- The resource an ARN names ---- */

typedef struct tagged {
  char arn[257];
  char kind[32];
  char name[NAME_MAX_LEN + 1];
  endpoint_config *cfg;
  endpoint *ep;
  ic *x;
  json_t *model;
} tagged;

/* Whether s matches ARN_PATTERN (the service model's ResourceArn). */
static int arn_shape_ok(const char *s) {
  if (strncmp(s, "arn:aws", 7) != 0) return 0;
  s += 7;
  s += strspn(s, "abcdefghijklmnopqrstuvwxyz-");
  if (strncmp(s, ":sagemaker:", 11) != 0) return 0;
  s += 11;
  s += strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-");
  if (*s++ != ':') return 0;
  if (strspn(s, "0123456789") != 12) return 0;
  s += 12;
  return *s == ':' && s[1] != '\0';
}

/* Names are matched without case: ctl_arn writes them in lower case. */
static int find(ctl *c, json_t *req, tagged *t, api_error *e) {
  const char *arn;
  memset(t, 0, sizeof *t);
  if (valid_string(req, "ResourceArn", "ResourceArn", 1, 256, &arn, e)) return -1;
  if (!arn_shape_ok(arn))
    return bad(e, arn, "ResourceArn", "Member must satisfy regular expression pattern: " ARN_PATTERN);
  snprintf(t->arn, sizeof t->arn, "%s", arn);
  char prefix[96];
  snprintf(prefix, sizeof prefix, "arn:aws:sagemaker:%s:%s:", c->region, c->account);
  const char *res = strrchr(arn, ':') + 1;
  const char *slash = strchr(res, '/');
  snprintf(t->kind, sizeof t->kind, "%.*s", slash ? (int)(slash - res) : 0, res);
  static const char *const kinds[] = {"endpoint-config", "endpoint", "inference-component",
                                      "model", NULL};
  int known = 0;
  for (const char *const *k = kinds; *k; k++) known |= strcmp(t->kind, *k) == 0;
  if (!known)
    return api_fail(e, 400, "ValidationException",
                    "ResourceArn '%s' names no resource type Berth tags: it tags endpoint-config, "
                    "endpoint, inference-component and model ARNs (as CreateEndpointConfig, "
                    "CreateEndpoint, CreateInferenceComponent and CreateModel return them)", arn);
  const char *name = slash + 1;
  if (strncmp(arn, prefix, strlen(prefix)) == 0 && strlen(name) <= NAME_MAX_LEN) {
    snprintf(t->name, sizeof t->name, "%s", name);
    if (strcmp(t->kind, "endpoint-config") == 0) {
      for (endpoint_config *x = c->configs; x; x = x->next)
        if (strcasecmp(x->name, name) == 0) t->cfg = x;
    } else if (strcmp(t->kind, "endpoint") == 0) {
      for (endpoint *x = c->endpoints; x; x = x->next)
        if (strcasecmp(x->name, name) == 0) t->ep = x;
    } else if (strcmp(t->kind, "inference-component") == 0) {
      for (ic *x = c->ics; x; x = x->next)
        if (strcasecmp(x->name, name) == 0) t->x = x;
    } else {
      const char *k;
      json_t *doc;
      json_object_foreach(c->models, k, doc)
        if (strcasecmp(k, name) == 0 && !json_is_true(json_object_get(doc, "Deleted"))) {
          t->model = doc;
          snprintf(t->name, sizeof t->name, "%s", k);
        }
    }
  }
  if (!t->cfg && !t->ep && !t->x && !t->model)
    return api_fail(e, 400, "ValidationException",
                    "Could not find %s \"%s\": no resource of this Berth (region %s, account "
                    "%s) has that ARN", t->kind, arn, c->region, c->account);
  return 0;
}

static json_t *current(const tagged *t) {
  json_t *tags = t->cfg ? json_object_get(t->cfg->doc, "Tags")
               : t->ep ? t->ep->tags
               : t->x ? json_object_get(t->x->doc, "Tags")
               : json_object_get(t->model, "Tags");
  return json_is_array(tags) ? tags : NULL;
}

/* Stores tags (stolen) as the resource's and queues its document. */
static int commit(ctl *c, tagged *t, json_t *tags, api_error *e) {
  int rc;
  if (t->cfg) {
    json_t *doc = json_deep_copy(t->cfg->doc);
    json_object_set_new(doc, "Tags", tags);
    rc = store_put(c->db, "endpoint-config", t->cfg->name, doc);
    if (rc) {
      json_decref(doc);
    } else {
      json_decref(t->cfg->doc);
      t->cfg->doc = doc;
    }
  } else if (t->ep) {
    json_t *old = t->ep->tags;
    t->ep->tags = tags;
    rc = ctl_save_endpoint(c, t->ep);
    if (rc) {
      t->ep->tags = old;
      json_decref(tags);
    } else {
      json_decref(old);
    }
  } else if (t->x) {
    json_t *old = json_incref(json_object_get(t->x->doc, "Tags"));
    json_object_set_new(t->x->doc, "Tags", tags);
    rc = ic_save(c, t->x);
    if (rc) {
      if (old) json_object_set(t->x->doc, "Tags", old);
      else json_object_del(t->x->doc, "Tags");
    }
    json_decref(old);
  } else {
    json_t *old = json_incref(json_object_get(t->model, "Tags"));
    json_object_set_new(t->model, "Tags", tags);
    rc = store_put(c->db, "model", t->name, t->model);
    if (rc) {
      if (old) json_object_set(t->model, "Tags", old);
      else json_object_del(t->model, "Tags");
    }
    json_decref(old);
  }
  if (rc)
    return api_fail(e, 500, "InternalFailure", "could not commit the tags of %s to the store (%s)",
                    t->arn, rc == -ENOBUFS ? "its write queue is full: retry" : "see berthd's log");
  return 0;
}

static json_t *find_key(json_t *tags, const char *key, size_t *at) {
  size_t i;
  json_t *t;
  json_array_foreach(tags, i, t)
    if (strcmp(json_string_value(json_object_get(t, "Key")), key) == 0) {
      if (at) *at = i;
      return t;
    }
  return NULL;
}

/* ---- Operations ---- */

int tags_add(ctl *c, json_t *req, json_t **resp, api_error *e) {
  json_t *add;
  const char *arn;
  tagged t;
  /* Input constraints first, then existence, as SageMaker orders them. */
  if (valid_string(req, "ResourceArn", "ResourceArn", 1, 256, &arn, e) ||
      valid_array(req, "Tags", "Tags", 1, 0, TAGS_MAX, &add, e) || tags_check(req, "Tags", "Tags", e))
    return -1;
  if (find(c, req, &t, e)) return -1;
  json_t *cur = current(&t);
  json_t *next = cur ? json_deep_copy(cur) : json_array();
  size_t i;
  json_t *tag;
  json_array_foreach(add, i, tag) {
    const char *k = json_string_value(json_object_get(tag, "Key"));
    json_t *have = find_key(next, k, NULL);
    if (have) json_object_set(have, "Value", json_object_get(tag, "Value"));
    else json_array_append_new(next, json_pack("{s:s,s:O}", "Key", k, "Value",
                                               json_object_get(tag, "Value")));
  }
  if (json_array_size(next) > TAGS_MAX) {
    size_t n = json_array_size(next);
    json_decref(next);
    return api_fail(e, 400, "ValidationException",
                    "Tags: %s would have %zu tags with these: a resource may have at most %d "
                    "(DeleteTags some first)", t.arn, n, TAGS_MAX);
  }
  if (commit(c, &t, next, e)) return -1;
  json_t *out = json_array();
  json_array_foreach(add, i, tag)
    json_array_append_new(out, json_pack("{s:O,s:O}", "Key", json_object_get(tag, "Key"), "Value",
                                         json_object_get(tag, "Value")));
  *resp = json_pack("{s:o}", "Tags", out);
  return 0;
}

int tags_delete(ctl *c, json_t *req, json_t **resp, api_error *e) {
  json_t *keys;
  const char *arn;
  tagged t;
  if (valid_string(req, "ResourceArn", "ResourceArn", 1, 256, &arn, e) ||
      valid_array(req, "TagKeys", "TagKeys", 1, 1, TAGS_MAX, &keys, e))
    return -1;
  size_t i;
  json_t *k;
  json_array_foreach(keys, i, k) {
    char p[48];
    snprintf(p, sizeof p, "TagKeys.%zu", i + 1);
    if (key_check(k, p, e)) return -1;
  }
  if (find(c, req, &t, e)) return -1;
  json_t *cur = current(&t);
  json_t *next = cur ? json_deep_copy(cur) : json_array();
  int changed = 0;
  json_array_foreach(keys, i, k) {
    size_t at;
    if (find_key(next, json_string_value(k), &at)) {
      json_array_remove(next, at);
      changed = 1;
    }
  }
  /* Keys the resource does not have are no error (SageMaker ignores them). */
  if (!changed) {
    json_decref(next);
  } else if (commit(c, &t, next, e)) {
    return -1;
  }
  *resp = json_object();
  return 0;
}

int tags_list(ctl *c, json_t *req, json_t **resp, api_error *e) {
  long long max;
  const char *token;
  tagged t;
  /* The service model bounds MaxResults below only (50); a resource has at
   * most 50 tags, so every valid MaxResults returns them all. */
  if (valid_string(req, "ResourceArn", "ResourceArn", 1, 256, &token, e) ||
      valid_int(req, "MaxResults", "MaxResults", 0, 50, INT32_MAX, 50, &max, e) ||
      valid_string(req, "NextToken", "NextToken", 0, 8192, &token, e))
    return -1;
  if (find(c, req, &t, e)) return -1;
  json_t *cur = current(&t);
  size_t n = json_array_size(cur), start = 0;
  if (token) {
    char *end;
    unsigned long long off = strtoull(token, &end, 10);
    if (*end != '\0' || end == token || off > n)
      return api_fail(e, 400, "ValidationException",
                      "NextToken '%.64s' is not a token ListTags returned for %s (or its tags "
                      "changed since); start again without NextToken", token, t.arn);
    start = (size_t)off;
  }
  json_t *page = json_array();
  size_t end_i = start + (size_t)max < n ? start + (size_t)max : n;
  for (size_t i = start; i < end_i; i++) json_array_append(page, json_array_get(cur, i));
  *resp = json_pack("{s:o}", "Tags", page);
  if (end_i < n) {
    char next[32];
    snprintf(next, sizeof next, "%zu", end_i);
    json_object_set_new(*resp, "NextToken", json_string(next));
  }
  return 0;
}

/* keys: see keys.h. */
#include "keys.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "berth/iam.h"
#include "berth/log.h"
#include "berth/secret.h"
#include "store.h"

#define ADMIN_KEY "admin"
#define MAX_KEYS 1000

static unsigned char master[32];
static size_t stored_keys; /* records in the store, opened or not */

/* DATA_DIR/master.key: 32 random bytes (hex) that seal the secrets in the
 * store. Every controller sharing a store needs the same file: one that
 * has none while the store already holds keys would seal new ones that the
 * others cannot open, so it refuses to lead. */
static int load_master(ctl *c, int stored) {
  char path[1200], hex[80] = {0};
  snprintf(path, sizeof path, "%s/master.key", c->data_dir);
  int n = berth_secret_read(path, hex, sizeof hex);
  if (n == -ENOENT && stored) {
    berth_log(BERTH_LOG_ERROR, "%s is missing, and the store already holds access keys sealed "
              "with another controller's: copy master.key from a controller of this store "
              "(owner-only, 0600) into %s", path, c->data_dir);
    return -1;
  }
  if (n == -ENOENT) {
    /* First start: a new key, kept before anything is sealed with it. */
    if (berth_secret_random(hex, 64, BERTH_HEX_DIGITS)) return -1;
    strcat(hex, "\n");
    n = berth_secret_write(path, hex);
    hex[64] = '\0';
    if (n == 0) n = 64;
  }
  if (n < 0) {
    berth_log(BERTH_LOG_ERROR, "cannot read or write %s: %s", path, strerror(-n));
    return -1;
  }
  int ok = n == 64;
  for (int i = 0; ok && i < 32; i++) {
    unsigned v;
    ok = sscanf(hex + 2 * i, "%2x", &v) == 1;
    master[i] = (unsigned char)v;
  }
  berth_secret_wipe(hex, sizeof hex);
  if (!ok)
    berth_log(BERTH_LOG_ERROR, "%s must hold 64 hex digits (the key that seals access key "
              "secrets)", path);
  return ok ? 0 : -1;
}

static int load_one(const char *name, json_t *doc, void *ud) {
  ctl *c = ud;
  stored_keys++;
  const char *id = json_string_value(json_object_get(doc, "AccessKeyId"));
  const char *sealed = json_string_value(json_object_get(doc, "SealedSecret"));
  char secret[65];
  if (!id || !sealed || berth_secret_open(master, sealed, id, secret, sizeof secret)) {
    berth_log(BERTH_LOG_ERROR, "access key %s: its secret does not open with %s/master.key "
              "(another controller's key file, or the record was altered); the key is not "
              "usable until the right master.key is in place", name, c->data_dir);
    return 0;
  }
  auth_add(c, name, id, secret, json_object_get(doc, "Allow"), json_object_get(doc, "Resources"));
  berth_secret_wipe(secret, sizeof secret);
  return 0;
}

static int count_one(const char *name, json_t *doc, void *ud) {
  (void)name;
  (void)doc;
  (*(int *)ud)++;
  return 0;
}

int keys_load(ctl *c) {
  int stored = 0;
  if (store_each(c->db, "access-key", count_one, &stored) || load_master(c, stored)) return -1;
  return store_each(c->db, "access-key", load_one, c);
}

/* Creates and stores a key; the new key's secret goes to secret_out. */
static auth_key *create(ctl *c, const char *name, json_t *allow, json_t *resources,
                        api_error *e) {
  char id[21], secret[41], sealed[300];
  memcpy(id, "BKIA", 4);
  if (berth_secret_random(id + 4, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") ||
      berth_secret_random(secret, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789+/") ||
      berth_secret_seal(master, secret, id, sealed, sizeof sealed)) {
    api_fail(e, 500, "InternalFailure", "could not make a random key");
    return NULL;
  }
  json_t *doc = json_pack("{s:s,s:s,s:s,s:O,s:O,s:f}", "Name", name, "AccessKeyId", id,
                          "SealedSecret", sealed, "Allow", allow, "Resources", resources,
                          "CreationTime", ctl_now());
  int rc = store_put(c->db, "access-key", name, doc);
  json_decref(doc);
  if (rc) {
    berth_secret_wipe(secret, sizeof secret);
    api_fail(e, 503, "ThrottlingException", "the state store is busy (%s); retry",
             berth_err_name(rc));
    return NULL;
  }
  auth_key *k = auth_add(c, name, id, secret, allow, resources);
  berth_secret_wipe(secret, sizeof secret);
  return k;
}

static int write_credentials(ctl *c, const auth_key *k) {
  char path[1200], text[400];
  snprintf(path, sizeof path, "%s/credentials", c->data_dir);
  snprintf(text, sizeof text, "# Berth's admin access key (berth keys create makes narrower "
           "ones)\n[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", k->id,
           k->secret);
  int rc = berth_secret_write(path, text);
  berth_secret_wipe(text, sizeof text);
  if (rc) berth_log(BERTH_LOG_ERROR, "cannot write %s: %s", path, strerror(-rc));
  return rc ? -1 : 0;
}

int keys_first_start(ctl *c) {
  char path[1200];
  snprintf(path, sizeof path, "%s/credentials", c->data_dir);
  /* Only a store with no key at all gets one: deleting (rotating) admin
   * sticks, and keys this master.key cannot open are never replaced. */
  if (stored_keys) {
    berth_log(BERTH_LOG_INFO, "requests must be signed (SigV4) with a Berth access key%s%s",
              auth_find_name(c, ADMIN_KEY) ? "; the admin key is in " : "",
              auth_find_name(c, ADMIN_KEY) ? path : "");
    return 0;
  }
  json_t *all = json_pack("[s]", "*");
  api_error e = {0};
  auth_key *k = create(c, ADMIN_KEY, all, all, &e);
  json_decref(all);
  if (!k) {
    berth_log(BERTH_LOG_ERROR, "cannot make the admin access key: %s", e.message);
    return -1;
  }
  if (write_credentials(c, k)) return -1;
  berth_log(BERTH_LOG_INFO, "made the admin access key %s; its credentials are in %s (AWS "
            "shared-credentials format, profile default)", k->id, path);
  return 0;
}

/* ---- Berth.CreateAccessKey, ListAccessKeys, DeleteAccessKey ---- */

static int valid_key_name(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 64) return 0;
  for (size_t i = 0; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.')) return 0;
  return 1;
}

/* obj[key]: a non-empty array of patterns each valid per check. */
static int valid_patterns(json_t *req, const char *key, int (*check)(const char *, char *, size_t),
                          json_t *dflt, json_t **out, api_error *e) {
  json_t *list;
  if (valid_array(req, key, key, !dflt, 1, 50, &list, e)) return -1;
  if (!list) {
    *out = json_incref(dflt);
    return 0;
  }
  size_t i;
  json_t *p;
  char why[400];
  json_array_foreach(list, i, p) {
    if (!json_is_string(p))
      return api_fail(e, 400, "ValidationException", "%s.%zu must be a string", key, i + 1);
    if (check(json_string_value(p), why, sizeof why))
      return api_fail(e, 400, "ValidationException", "%s.%zu: %s", key, i + 1, why);
  }
  *out = json_incref(list);
  return 0;
}

static json_t *summary(const auth_key *k) {
  return json_pack("{s:s,s:s,s:O,s:O}", "Name", k->name, "AccessKeyId", k->id, "Allow",
                   k->allow, "Resources", k->resources);
}

static int create_key(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *name;
  if (valid_string(req, "Name", "Name", 1, 64, &name, e)) return -1;
  if (!valid_key_name(name))
    return api_fail(e, 400, "ValidationException", "Name '%.80s' must be 1 to 64 letters, "
                    "digits, '-', '_' or '.'", name);
  if (auth_find_name(c, name))
    return api_fail(e, 400, "ResourceInUse", "Access key %s already exists; delete it first "
                    "or pick another name", name);
  size_t n = 0;
  for (auth_key *k = c->keys; k; k = k->next) n++;
  if (n >= MAX_KEYS)
    return api_fail(e, 400, "ResourceLimitExceeded", "Berth holds at most %d access keys",
                    MAX_KEYS);
  json_t *allow, *resources, *star = json_pack("[s]", "*");
  int rc = valid_patterns(req, "Allow", berth_iam_action_valid, NULL, &allow, e);
  if (!rc) {
    rc = valid_patterns(req, "Resources", berth_iam_resource_valid, star, &resources, e);
    if (rc) json_decref(allow);
  }
  json_decref(star);
  if (rc) return -1;
  auth_key *k = create(c, name, allow, resources, e);
  json_decref(allow);
  json_decref(resources);
  if (!k) return -1;
  json_t *out = summary(k);
  json_object_set_new(out, "SecretAccessKey", json_string(k->secret));
  *resp = json_pack("{s:o}", "AccessKey", out);
  berth_log(BERTH_LOG_INFO, "access key %s (%s) created", k->name, k->id);
  return 0;
}

static int list_keys(ctl *c, json_t *req, json_t **resp, api_error *e) {
  (void)req;
  (void)e;
  json_t *list = json_array();
  for (auth_key *k = c->keys; k; k = k->next) json_array_append_new(list, summary(k));
  *resp = json_pack("{s:o}", "AccessKeys", list);
  return 0;
}

static int delete_key(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *name;
  if (valid_string(req, "Name", "Name", 1, 64, &name, e)) return -1;
  auth_key *k = auth_find_name(c, name);
  if (!k) return api_fail(e, 400, "ValidationException", "Access key %.80s does not exist", name);
  int rc = store_delete(c->db, "access-key", name);
  if (rc)
    return api_fail(e, 503, "ThrottlingException", "the state store is busy (%s); retry",
                    berth_err_name(rc));
  berth_log(BERTH_LOG_INFO, "access key %s (%s) deleted", k->name, k->id);
  auth_remove(c, k);
  *resp = json_object();
  return 0;
}

int keys_call(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e) {
  static const api_operation ops[] = {
    {"CreateAccessKey", create_key},
    {"ListAccessKeys", list_keys},
    {"DeleteAccessKey", delete_key},
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (strcmp(op, ops[i].name) == 0) return api_dispatch(ops, 3, "Berth", c, op, req, resp, e);
  return 1;
}

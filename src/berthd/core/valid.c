/* valid: field validators for the control APIs. */
#include "valid.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define NAME_PATTERN "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
/* The same names, as the service model writes the rule for an IC's name. */
#define IC_NAME_PATTERN "^[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?$"

int api_fail(api_error *e, int status, const char *type, const char *fmt, ...) {
  e->status = status;
  snprintf(e->type, sizeof e->type, "%s", type);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
  return -1;
}

/* The value as the user sent it, shortened for the message. */
static void show(json_t *v, char *out, size_t outsz) {
  if (!v || json_is_null(v)) {
    snprintf(out, outsz, "null");
    return;
  }
  if (json_is_string(v)) {
    snprintf(out, outsz, "'%.200s'", json_string_value(v));
    return;
  }
  char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
  snprintf(out, outsz, "'%.200s'", t ? t : "?");
  free(t);
}

static int constraint(api_error *e, json_t *v, const char *path, const char *rule) {
  char shown[256];
  show(v, shown, sizeof shown);
  return api_fail(e, 400, "ValidationException",
                  "1 validation error detected: Value %s at '%s' failed to satisfy "
                  "constraint: %s", shown, path, rule);
}

static json_t *field(json_t *obj, const char *key) {
  json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
  return (v && json_is_null(v)) ? NULL : v;
}

int valid_is_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63) return 0;
  if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1])) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '-') return 0;
  return 1;
}

int valid_string(json_t *obj, const char *key, const char *path, int required,
                 size_t max_len, const char **out, api_error *e) {
  json_t *v = field(obj, key);
  *out = NULL;
  if (!v) return required ? constraint(e, v, path, "Member must not be null") : 0;
  if (!json_is_string(v)) return constraint(e, v, path, "Member must be a string");
  if (max_len && json_string_length(v) > max_len) {
    char rule[96];
    snprintf(rule, sizeof rule, "Member must have length less than or equal to %zu", max_len);
    return constraint(e, v, path, rule);
  }
  *out = json_string_value(v);
  return 0;
}

int valid_name(json_t *obj, const char *key, const char *path, int required,
               const char **out, api_error *e) {
  if (valid_string(obj, key, path, required, 0, out, e)) return -1;
  if (!*out) return 0;
  json_t *v = field(obj, key);
  if (strlen(*out) > 63)
    return constraint(e, v, path, "Member must have length less than or equal to 63");
  if (!valid_is_name(*out))
    return constraint(e, v, path,
                      strcmp(key, "InferenceComponentName") == 0 ||
                              strcmp(key, "ModelName") == 0 ||
                              strcmp(key, "BaseInferenceComponentName") == 0
                          ? "Member must satisfy regular expression pattern: " IC_NAME_PATTERN
                          : "Member must satisfy regular expression pattern: " NAME_PATTERN);
  return 0;
}

static int ascii_in(const char *s, size_t n, const char *extra) {
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i])) return 0;
  return 1;
}

#define ROLE_PATTERN "arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"

int valid_role_arn(json_t *obj, const char *key, const char *path, api_error *e) {
  const char *s;
  if (valid_string(obj, key, path, 0, 2048, &s, e)) return -1;
  if (!s) return 0;
  json_t *v = field(obj, key);
  if (strlen(s) < 20)
    return constraint(e, v, path, "Member must have length greater than or equal to 20");
  const char *p = s;
  int ok = strncmp(p, "arn:aws", 7) == 0;
  if (ok) {
    p += 7;
    p += strspn(p, "abcdefghijklmnopqrstuvwxyz-");
    ok = strncmp(p, ":iam::", 6) == 0;
  }
  if (ok) {
    p += 6;
    ok = strspn(p, "0123456789") == 12 && strncmp(p + 12, ":role", 5) == 0;
  }
  if (ok) {
    p += 17;
    if (*p == '/') p++;
    ok = *p && ascii_in(p, strlen(p), "_+=,.@-/");
  }
  return ok ? 0
            : constraint(e, v, path, "Member must satisfy regular expression pattern: " ROLE_PATTERN);
}

int valid_url(json_t *obj, const char *key, const char *path, api_error *e) {
  const char *s;
  if (valid_string(obj, key, path, 0, 1024, &s, e)) return -1;
  if (!s) return 0;
  const char *host = strncmp(s, "s3://", 5) == 0    ? s + 5
                   : strncmp(s, "https://", 8) == 0 ? s + 8
                   : strncmp(s, "http://", 7) == 0  ? s + 7
                                                    : NULL;
  if ((host && host[0] && host[0] != '/') || s[0] == '/' ||
      (strncmp(s, "file://", 7) == 0 && s[7] == '/'))
    return 0;
  return constraint(e, field(obj, key), path,
                    "Member must satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*) "
                    "(Berth also takes http://, file:// and absolute paths)");
}

int valid_kms_key(json_t *obj, const char *key, const char *path, api_error *e) {
  const char *s;
  if (valid_string(obj, key, path, 0, 2048, &s, e)) return -1;
  if (s && !ascii_in(s, strlen(s), ":/_-"))
    return constraint(e, field(obj, key), path,
                      "Member must satisfy regular expression pattern: [a-zA-Z0-9:/_-]*");
  return 0;
}

int valid_number(json_t *obj, const char *key, const char *path, int required,
                 double min, double max, double dflt, double *out, api_error *e) {
  json_t *v = field(obj, key);
  *out = dflt;
  if (!v) return required ? constraint(e, v, path, "Member must not be null") : 0;
  if (!json_is_number(v)) return constraint(e, v, path, "Member must be a number");
  double d = json_number_value(v);
  char rule[96];
  if (!isfinite(d) || d < min) {
    snprintf(rule, sizeof rule, "Member must have value greater than or equal to %g", min);
    return constraint(e, v, path, rule);
  }
  if (d > max) {
    snprintf(rule, sizeof rule, "Member must have value less than or equal to %g", max);
    return constraint(e, v, path, rule);
  }
  *out = d;
  return 0;
}

int valid_int(json_t *obj, const char *key, const char *path, int required,
              long long min, long long max, long long dflt, long long *out, api_error *e) {
  json_t *v = field(obj, key);
  *out = dflt;
  if (!v) return required ? constraint(e, v, path, "Member must not be null") : 0;
  if (!json_is_integer(v)) return constraint(e, v, path, "Member must be an integer");
  long long x = json_integer_value(v);
  char rule[96];
  if (x < min) {
    snprintf(rule, sizeof rule, "Member must have value greater than or equal to %lld", min);
    return constraint(e, v, path, rule);
  }
  if (x > max) {
    snprintf(rule, sizeof rule, "Member must have value less than or equal to %lld", max);
    return constraint(e, v, path, rule);
  }
  *out = x;
  return 0;
}

int valid_enum(json_t *obj, const char *key, const char *path, int required,
               const char *const *allowed, const char *dflt, const char **out, api_error *e) {
  if (valid_string(obj, key, path, required, 0, out, e)) return -1;
  if (!*out) {
    *out = dflt;
    return 0;
  }
  for (const char *const *a = allowed; *a; a++)
    if (strcmp(*a, *out) == 0) return 0;
  char rule[512] = "Member must satisfy enum value set: [";
  size_t len = strlen(rule);
  for (const char *const *a = allowed; *a; a++)
    len += (size_t)snprintf(rule + len, len < sizeof rule ? sizeof rule - len : 0, "%s%s",
                            a == allowed ? "" : ", ", *a);
  if (len < sizeof rule - 1) strcat(rule, "]");
  return constraint(e, field(obj, key), path, rule);
}

int valid_object(json_t *obj, const char *key, const char *path, int required,
                 json_t **out, api_error *e) {
  json_t *v = field(obj, key);
  *out = NULL;
  if (!v) return required ? constraint(e, v, path, "Member must not be null") : 0;
  if (!json_is_object(v)) return constraint(e, v, path, "Member must be a structure");
  *out = v;
  return 0;
}

int valid_array(json_t *obj, const char *key, const char *path, int required,
                size_t min_items, size_t max_items, json_t **out, api_error *e) {
  json_t *v = field(obj, key);
  *out = NULL;
  if (!v) return required ? constraint(e, v, path, "Member must not be null") : 0;
  if (!json_is_array(v)) return constraint(e, v, path, "Member must be a list");
  char rule[96];
  if (json_array_size(v) < min_items) {
    snprintf(rule, sizeof rule, "Member must have length greater than or equal to %zu", min_items);
    return constraint(e, v, path, rule);
  }
  if (json_array_size(v) > max_items) {
    snprintf(rule, sizeof rule, "Member must have length less than or equal to %zu", max_items);
    return constraint(e, v, path, rule);
  }
  *out = v;
  return 0;
}

int valid_time(json_t *obj, const char *key, const char *path, double *out, int *present,
               api_error *e) {
  *present = field(obj, key) != NULL;
  return valid_number(obj, key, path, 0, 0, 1e12, 0, out, e);
}

int api_dispatch(const api_operation *ops, size_t n, const char *service, struct ctl *c,
                 const char *op, json_t *req, json_t **resp, api_error *e) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(ops[i].name, op) == 0) {
      if (!json_is_object(req))
        return api_fail(e, 400, "SerializationException",
                        "the request body must be a JSON object");
      return ops[i].fn(c, req, resp, e);
    }
  return api_fail(e, 400, "UnknownOperationException",
                  "%s.%.100s is not an operation Berth supports", service, op);
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int valid_secret_name(const char *name) {
  return ends_with(name, "_TOKEN") || ends_with(name, "_KEY") || strcasestr(name, "SECRET") ||
         strcasestr(name, "PASSWORD");
}

void valid_redact_environment(json_t *env) {
  const char *k;
  json_t *v;
  json_object_foreach(env, k, v)
    if (valid_secret_name(k)) json_object_set_new(env, k, json_string("****"));
}

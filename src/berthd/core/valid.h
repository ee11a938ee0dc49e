/* valid: request validation with AWS-style messages that name the field,
 * the value and the rule ("1 validation error detected: Value '0' at
 * 'ProductionVariants.1.InitialInstanceCount' failed to satisfy constraint:
 * Member must have value greater than or equal to 1"). */
#ifndef BERTHD_VALID_H
#define BERTHD_VALID_H

#include <jansson.h>

typedef struct api_error {
  int status;                /* HTTP status, 400 unless said */
  char type[64];             /* __type */
  char message[1024];
} api_error;

/* An operation of one of the control APIs. */
struct ctl;
typedef struct api_operation {
  const char *name;
  int (*fn)(struct ctl *c, json_t *req, json_t **resp, api_error *e);
} api_operation;

/* Runs the operation named op from ops (the body must be a JSON object);
 * an unknown one is UnknownOperationException naming service and op. */
int api_dispatch(const api_operation *ops, size_t n, const char *service, struct ctl *c,
                 const char *op, json_t *req, json_t **resp, api_error *e);

/* Fills e and returns -1, so handlers can `return api_fail(...)`. */
int api_fail(api_error *e, int status, const char *type, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));

/* Each validator reads obj[key]; path is the field as the user names it in
 * messages. Returns 0 (value stored in *out, or the default when absent and
 * not required) or -1 with e filled. */
int valid_name(json_t *obj, const char *key, const char *path, int required,
               const char **out, api_error *e);
int valid_string(json_t *obj, const char *key, const char *path, int required,
                 size_t max_len, const char **out, api_error *e);
int valid_int(json_t *obj, const char *key, const char *path, int required,
              long long min, long long max, long long dflt, long long *out, api_error *e);
int valid_number(json_t *obj, const char *key, const char *path, int required,
                 double min, double max, double dflt, double *out, api_error *e);
int valid_enum(json_t *obj, const char *key, const char *path, int required,
               const char *const *allowed, const char *dflt, const char **out, api_error *e);
/* obj[key] must be an object (or absent when not required: *out = NULL). */
int valid_object(json_t *obj, const char *key, const char *path, int required,
                 json_t **out, api_error *e);
int valid_array(json_t *obj, const char *key, const char *path, int required,
                size_t min_items, size_t max_items, json_t **out, api_error *e);
/* Optional epoch-seconds timestamp (number). */
int valid_time(json_t *obj, const char *key, const char *path, double *out, int *present,
               api_error *e);

/* Whether an environment variable's name says it holds a secret
 * (*_TOKEN, *_KEY, *SECRET*, *PASSWORD*, any case). */
int valid_secret_name(const char *name);
/* Replaces the values of secret-named variables in an Environment object
 * (may be NULL) with "****": what Describe answers show. */
void valid_redact_environment(json_t *env);

/* Optional IAM role ARN (ExecutionRoleArn): 20..2048 characters of
 * arn:aws[a-z-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@-/]+. Berth keeps it and
 * assumes no role. */
int valid_role_arn(json_t *obj, const char *key, const char *path, api_error *e);
/* Optional model artifact location (ArtifactUrl, ModelDataUrl): at most
 * 1024 characters of SageMaker's (https|s3)://([^/]+)/?(.*), or, as Berth
 * extensions, http://HOST/..., file://PATH or an absolute path. */
int valid_url(json_t *obj, const char *key, const char *path, api_error *e);
/* Optional KmsKeyId: at most 2048 of [a-zA-Z0-9:/_-]. Berth encrypts with
 * no KMS key and only keeps it. */
int valid_kms_key(json_t *obj, const char *key, const char *path, api_error *e);

/* The SageMaker name rule: 1..63 of [a-zA-Z0-9-], starting and ending with
 * a letter or digit. */
int valid_is_name(const char *s);

#endif

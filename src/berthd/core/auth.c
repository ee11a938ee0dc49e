/* auth: see auth.h. */
#include "auth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/buf.h"
#include "berth/iam.h"
#include "berth/log.h"
#include "berth/secret.h"
#include "berth/sigv4.h"
#include "ctl.h"
#include "tokens.h"

/* JSON services' names and CloudWatch's query-protocol ones. */
enum { MISSING, INCOMPLETE, INVALID, UNKNOWN_KEY, DENIED, BODY_HASH };
static const struct {
  int status;
  const char *json, *query;
} kinds[] = {
  [MISSING] = {403, "MissingAuthenticationTokenException", "MissingAuthenticationToken"},
  [INCOMPLETE] = {400, "IncompleteSignatureException", "IncompleteSignature"},
  [INVALID] = {403, "InvalidSignatureException", "SignatureDoesNotMatch"},
  [UNKNOWN_KEY] = {403, "UnrecognizedClientException", "InvalidClientTokenId"},
  [DENIED] = {400, "AccessDeniedException", "AccessDenied"},
  [BODY_HASH] = {400, "XAmzContentSHA256Mismatch", "XAmzContentSHA256Mismatch"},
};

static int fail(api_error *e, int kind, int query, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));

static int fail(api_error *e, int kind, int query, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
  e->status = query && kind == DENIED ? 403 : kinds[kind].status;
  snprintf(e->type, sizeof e->type, "%s", query ? kinds[kind].query : kinds[kind].json);
  return -1;
}

const char *auth_query_error(const api_error *e) {
  static char out[96];
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(e->type, kinds[i].query) == 0) {
      snprintf(out, sizeof out, "%s;Sender", kinds[i].query);
      return out;
    }
  return NULL;
}

/* "20261125T034051Z" as seconds since the epoch, or -1. */
static long long parse_amz_date(const char *s) {
  if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z') return -1;
  for (int i = 0; i < 15; i++)
    if (i != 8 && !isdigit((unsigned char)s[i])) return -1;
  /* The digits are checked above; sscanf would cost more than the rest of
   * this check on every signed request. */
#define DIGITS2(i) ((s[i] - '0') * 10 + (s[(i) + 1] - '0'))
  struct tm tm = {0};
  tm.tm_year = DIGITS2(0) * 100 + DIGITS2(2) - 1900;
  tm.tm_mon = DIGITS2(4) - 1;
  tm.tm_mday = DIGITS2(6);
  tm.tm_hour = DIGITS2(9);
  tm.tm_min = DIGITS2(11);
  tm.tm_sec = DIGITS2(13);
#undef DIGITS2
  return (long long)timegm(&tm);
}

static void format_amz_date(long long t, char out[17]) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static auth_key *find_id(struct ctl *c, const char *id) {
  for (auth_key *k = c->keys; k; k = k->next)
    if (strcmp(k->id, id) == 0) return k;
  return NULL;
}

static const auth_key open_key = {.name = "admin", .id = "none"};

int auth_verify(struct ctl *c, const berth_http_req *req, const char *service, int query,
                const auth_key **who, api_error *e) {
  if (c->auth_off) {
    *who = &open_key;
    return 0;
  }
  const char *authz = berth_http_req_header(req, "authorization");
  if (!authz)
    return fail(e, MISSING, query, "Missing Authentication Token: sign the request with AWS "
                "Signature Version 4 and a Berth access key (see DATA_DIR/credentials)");
  berth_sigv4_auth a;
  char why[256];
  if (berth_sigv4_parse(authz, &a, why, sizeof why)) return fail(e, INCOMPLETE, query, "%s", why);
  const char *amz_date = berth_http_req_header(req, "x-amz-date");
  if (!amz_date)
    return fail(e, INCOMPLETE, query, "Authorization header requires existence of a "
                "'X-Amz-Date' header.");
  long long t = parse_amz_date(amz_date);
  if (t < 0)
    return fail(e, INCOMPLETE, query, "X-Amz-Date '%.32s' must be YYYYMMDDTHHMMSSZ (UTC).",
                amz_date);
  if (strncmp(amz_date, a.date, 8) != 0)
    return fail(e, INVALID, query, "Date in Credential scope does not match YYYYMMDD from "
                "ISO-8601 version of date from HTTP: '%s' != '%.8s'", a.date, amz_date);
  long long now = (long long)ctl_now();
  char now_s[17], bound[17];
  format_amz_date(now, now_s);
  if (t < now - AUTH_MAX_SKEW_S) {
    format_amz_date(now - AUTH_MAX_SKEW_S, bound);
    return fail(e, INVALID, query, "Signature expired: %s is now earlier than %s (%s - 15 min.)",
                amz_date, bound, now_s);
  }
  if (t > now + AUTH_MAX_SKEW_S) {
    format_amz_date(now + AUTH_MAX_SKEW_S, bound);
    return fail(e, INVALID, query, "Signature not yet current: %s is still later than %s "
                "(%s + 15 min.)", amz_date, bound, now_s);
  }
  if (strcmp(a.service, service) != 0)
    return fail(e, INVALID, query, "Credential should be scoped to correct service: '%s'.",
                service);
  /* host is signed, or a request could be replayed at another listener. */
  /* x-amz-target too when sent: it names the operation, and a captured
   * Describe must not be replayed as a Delete. */
  int host_signed = 0, target_signed = 0;
  for (const char *p = a.signed_headers; *p;) {
    size_t n = strcspn(p, ";");
    if (n == 4 && strncmp(p, "host", 4) == 0) host_signed = 1;
    if (n == 12 && strncmp(p, "x-amz-target", 12) == 0) target_signed = 1;
    p += n + (p[n] == ';');
  }
  if (!host_signed)
    return fail(e, INCOMPLETE, query, "'Host' must be a 'SignedHeader' in the AWS "
                "Authorization.");
  if (!target_signed && berth_http_req_header(req, "x-amz-target"))
    return fail(e, INCOMPLETE, query, "'X-Amz-Target' must be a 'SignedHeader' in the AWS "
                "Authorization.");
  auth_key *k = find_id(c, a.access_key);
  if (!k)
    return fail(e, UNKNOWN_KEY, query, "The security token included in the request is invalid: "
                "access key %.40s is not one of this Berth's keys.", a.access_key);
  char body_hash[65];
  berth_sha256_hex(req->body ? req->body : "", req->body_len, body_hash);
  berth_buf creq;
  berth_buf_init(&creq, 64u << 10);
  int rc = berth_sigv4_canonical(&creq, req->method, req->path, req->query, req->headers,
                                 req->n_headers, a.signed_headers, body_hash, 0);
  if (rc) {
    berth_buf_free(&creq);
    return fail(e, INCOMPLETE, query, "a header named in SignedHeaders (%.200s) is missing from "
                "the request", a.signed_headers);
  }
  char expect[65], scope[sizeof k->scope];
  snprintf(scope, sizeof scope, "%s/%s/%s", a.date, a.region, a.service);
  if (strcmp(scope, k->scope) != 0) {
    berth_sigv4_signing_key(k->secret, a.date, a.region, a.service, k->signing_key);
    memcpy(k->scope, scope, sizeof scope);
  }
  berth_sigv4_sign_key(k->signing_key, a.date, a.region, a.service, amz_date,
                       creq.data ? creq.data : "", creq.len, expect);
  berth_buf_free(&creq);
  if (!berth_secret_equal(expect, a.signature))
    return fail(e, INVALID, query, "The request signature we calculated does not match the "
                "signature you provided. Check your AWS Secret Access Key and signing method. "
                "Consult the service documentation for details.");
  /* Signed over the body's own hash, as every AWS service but S3 checks:
   * a changed body, or a signature over UNSIGNED-PAYLOAD or any other
   * claim, is a wrong signature. A claim that disagrees with a body the
   * signature does cover is refused on its own. */
  const char *claimed = berth_http_req_header(req, "x-amz-content-sha256");
  if (claimed && strcmp(claimed, body_hash) != 0)
    return fail(e, BODY_HASH, query, "The provided 'x-amz-content-sha256' header does not match "
                "what was computed (the body must be signed: UNSIGNED-PAYLOAD is not accepted).");
  *who = k;
  return 0;
}

int auth_verify_bearer(struct ctl *c, const char *token, const auth_key **who, api_error *e) {
  if (c->auth_off) {
    *who = &open_key;
    return 0;
  }
  char id[40], when[32];
  long long expiry;
  e->status = 401;
  if (tokens_parse(token, id, sizeof id, &expiry)) {
    snprintf(e->type, sizeof e->type, "InvalidBearerToken");
    snprintf(e->message, sizeof e->message, "The bearer token is not a Berth token ("
             TOKENS_PREFIX ".<access key id>.<expiry>.<signature>): mint one with `berth token` "
             "or Berth.CreateToken");
    return -1;
  }
  auth_key *k = find_id(c, id);
  if (!k) {
    snprintf(e->type, sizeof e->type, "UnrecognizedClientException");
    snprintf(e->message, sizeof e->message, "The bearer token was minted from access key %s, "
             "which is not one of this Berth's keys (deleted keys' tokens die with them)", id);
    return -1;
  }
  if (!tokens_mac_ok(token, k->secret)) {
    snprintf(e->type, sizeof e->type, "InvalidBearerToken");
    snprintf(e->message, sizeof e->message, "The bearer token's signature does not match "
             "access key %s: the token was altered or cut; mint a new one", id);
    return -1;
  }
  long long now = (long long)ctl_now();
  time_t tt = (time_t)expiry;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (now > expiry + TOKENS_SKEW_S) {
    snprintf(e->type, sizeof e->type, "ExpiredBearerToken");
    snprintf(e->message, sizeof e->message, "The bearer token of access key %s expired at %s "
             "(%lld s ago): mint a new one with `berth token`", id, when, now - expiry);
    return -1;
  }
  if (expiry > now + TOKENS_MAX_LIFETIME_S + TOKENS_SKEW_S) {
    snprintf(e->type, sizeof e->type, "InvalidBearerToken");
    snprintf(e->message, sizeof e->message, "The bearer token of access key %s expires at %s, "
             "past the longest lifetime of %d s from now: mint a new one", id, when,
             TOKENS_MAX_LIFETIME_S);
    return -1;
  }
  *who = k;
  return 0;
}

const auth_key *auth_basic(struct ctl *c, const char *id, const char *secret) {
  auth_key *k = find_id(c, id);
  return k && berth_secret_equal(k->secret, secret) ? k : NULL;
}

static int any_match(json_t *patterns, const char *s, int fold_case) {
  size_t i;
  json_t *p;
  json_array_foreach(patterns, i, p) {
    const char *text = json_string_value(p);
    if (text && berth_iam_match(text, s, fold_case)) return 1;
  }
  return 0;
}

int auth_permit(struct ctl *c, const auth_key *who, const char *action, const char *arn,
                int query, api_error *e) {
  /* ARNs without case too: SageMaker's own lower-case its names. */
  if (c->auth_off || (any_match(who->allow, action, 1) && any_match(who->resources, arn, 1)))
    return 0;
  return fail(e, DENIED, query, "User: %s is not authorized to perform: %s on resource: %s "
              "because no permission of access key %s allows the %s action on it",
              who->name, action, arn, who->id, action);
}

json_t *auth_export(const struct ctl *c) {
  json_t *list = json_array();
  for (const auth_key *k = c->keys; k; k = k->next)
    json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:O,s:O}", "name", k->name, "id", k->id,
                                          "secret", k->secret, "allow", k->allow,
                                          "resources", k->resources));
  return list;
}

auth_key *auth_add(struct ctl *c, const char *name, const char *id, const char *secret,
                   json_t *allow, json_t *resources) {
  auth_key *k = berth_xcalloc(1, sizeof *k);
  snprintf(k->name, sizeof k->name, "%s", name);
  snprintf(k->id, sizeof k->id, "%s", id);
  snprintf(k->secret, sizeof k->secret, "%s", secret);
  k->allow = json_is_array(allow) ? json_incref(allow) : json_array();
  k->resources = json_is_array(resources) ? json_incref(resources) : json_pack("[s]", "*");
  auth_key **pp = &c->keys;
  while (*pp) pp = &(*pp)->next;
  *pp = k;
  return k;
}

auth_key *auth_find_name(struct ctl *c, const char *name) {
  for (auth_key *k = c->keys; k; k = k->next)
    if (strcmp(k->name, name) == 0) return k;
  return NULL;
}

static void key_free(auth_key *k) {
  json_decref(k->allow);
  json_decref(k->resources);
  berth_secret_wipe(k->secret, sizeof k->secret);
  berth_secret_wipe(k->signing_key, sizeof k->signing_key);
  free(k);
}

void auth_remove(struct ctl *c, auth_key *k) {
  for (auth_key **pp = &c->keys; *pp; pp = &(*pp)->next)
    if (*pp == k) {
      *pp = k->next;
      key_free(k);
      return;
    }
}

void auth_free_all(struct ctl *c) {
  while (c->keys) {
    auth_key *k = c->keys;
    c->keys = k->next;
    key_free(k);
  }
}

void auth_import(struct ctl *c, json_t *list) {
  auth_free_all(c);
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    const char *name = json_string_value(json_object_get(e, "name"));
    const char *id = json_string_value(json_object_get(e, "id"));
    const char *secret = json_string_value(json_object_get(e, "secret"));
    if (!name || !id || !secret) continue;
    auth_add(c, name, id, secret, json_object_get(e, "allow"), json_object_get(e, "resources"));
  }
}

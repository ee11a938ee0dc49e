/* auth: who sent a request and whether that key may do what it asks.
 *
 * Every call to the control and runtime APIs carries an AWS Signature
 * Version 4 made with one of Berth's access keys (docs/security.md). The
 * controller keeps the keys in its store and hands them to routers in the
 * routing snapshot, so both roles check signatures the same way, here.
 *
 * Errors come in AWS's shapes: JSON services (SageMaker, Application Auto
 * Scaling, the runtime) name them as those services do
 * (InvalidSignatureException...), CloudWatch by its query-protocol codes
 * (SignatureDoesNotMatch...), chosen by `query`. */
#ifndef BERTHD_AUTH_H
#define BERTHD_AUTH_H

#include <jansson.h>

#include "berth/http_server.h"
#include "valid.h"

#define AUTH_MAX_SKEW_S (15 * 60)

typedef struct auth_key {
  struct auth_key *next;
  char name[65];
  char id[33];                  /* the access key id */
  char secret[65];
  /* The SigV4 signing key of the scope last verified ("date/region/
   * service"): four of a request's five HMACs, done once a day. A secret
   * too. */
  char scope[112];
  unsigned char signing_key[32];
  json_t *allow;                /* array of action patterns */
  json_t *resources;            /* array of ARN patterns */
} auth_key;

struct ctl;

/* Checks req's Authorization against the keys for service (the signing
 * name: sagemaker, application-autoscaling, monitoring). 0 with *who set,
 * or -1 with e filled (403/400 as AWS answers). With auth off (--auth
 * none) every request passes as the admin. */
int auth_verify(struct ctl *c, const berth_http_req *req, const char *service, int query,
                const auth_key **who, api_error *e);

/* Checks a bearer token (tokens.h; the text after "Bearer "): 0 with *who
 * its key, or -1 with e filled, status 401 (InvalidBearerToken,
 * ExpiredBearerToken, UnrecognizedClientException). Messages name the key
 * and the expiry, never the token. With --auth none any token passes. */
int auth_verify_bearer(struct ctl *c, const char *token, const auth_key **who, api_error *e);

/* The key whose id and secret these are (HTTP Basic, for Prometheus), or
 * NULL. */
const auth_key *auth_basic(struct ctl *c, const char *id, const char *secret);

/* Whether who may perform action ("sagemaker:InvokeEndpoint") on arn ("*"
 * for calls on no one resource). 0, or -1 with AccessDenied in e. */
int auth_permit(struct ctl *c, const auth_key *who, const char *action, const char *arn,
                int query, api_error *e);

/* The query-protocol name of an auth error, for x-amzn-query-error. */
const char *auth_query_error(const api_error *e);

/* Keys as JSON [{name,id,secret,allow,resources}] (the routing snapshot)
 * and back: auth_import replaces c's keys. */
json_t *auth_export(const struct ctl *c);
void auth_import(struct ctl *c, json_t *list);
/* Adds a key (copies the strings; allow and resources are borrowed and
 * kept with a reference of their own). */
auth_key *auth_add(struct ctl *c, const char *name, const char *id, const char *secret,
                   json_t *allow, json_t *resources);
auth_key *auth_find_name(struct ctl *c, const char *name);
void auth_remove(struct ctl *c, auth_key *k);
void auth_free_all(struct ctl *c);

#endif

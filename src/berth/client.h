/* client: the berth client's HTTP calls to berthd and the JSON helpers the
 * commands share.
 *
 * Every call runs on the one curl easy handle in berth_cli (connect timeout
 * 5 s; total 120 s for control calls, 70 s for invocations). A failed call
 * fills a berth_cli_error: `type` is the API's error name for an error the
 * server answered, empty when the server could not be reached or answered
 * something unreadable; `message` is the human-readable reason. */
#ifndef BERTH_CLIENT_H
#define BERTH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "berth/buf.h"
#include "cli.h"

typedef struct berth_cli_error {
  char type[128];
  char message[2048];
  long status;  /* HTTP status; 0 when no answer arrived */
} berth_cli_error;

/* Calls SageMaker.<op> on the control API with `req` (borrowed). Returns 0
 * and the response object in *resp (caller owns it; {} for an empty body), or
 * -1 with *err filled. */
int berth__control_call(berth_cli *cli, const char *op, json_t *req,
                        json_t **resp, berth_cli_error *err);

/* Calls a List* operation page by page (MaxResults 100, following
 * NextToken) with the members of `req` (borrowed, may be NULL) and collects
 * the `items_key` arrays of all pages into *items (caller owns). Returns 0, or
 * -1 with *err filled. */
int berth__control_list(berth_cli *cli, const char *op, const json_t *req,
                        const char *items_key, json_t **items, berth_cli_error *err);

typedef struct berth_invocation {
  const char *endpoint;
  const char *ic;                 /* NULL: no inference component header */
  const char *content_type;
  const char *custom_attributes;  /* NULL: header not sent */
  const char *body;
  size_t body_len;
} berth_invocation;

/* Largest response body `berth invoke` accepts. */
#define BERTH_INVOKE_MAX_RESPONSE ((size_t)64 << 20)

/* POSTs an invocation to the runtime API. Returns 0 with the response body
 * in `out` (a buffer the caller initialised and frees), or -1 with *err
 * filled (for ModelError the model's own status and message are appended). */
int berth__runtime_invoke(berth_cli *cli, const berth_invocation *inv,
                          berth_buf *out, berth_cli_error *err);

/* Prints the error as one line: "berth: <type>: <message>" or
 * "berth: <message>". */
void berth__error_print(const berth_cli_error *err);
/* Formats a client-side error into *err (type left empty). */
void berth__error_set(berth_cli_error *err, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
bool berth__error_is(const berth_cli_error *err, const char *type);
/* True when the error says the named resource does not exist: SageMaker
 * answers ValidationException "Could not find ..." for most resources and
 * some servers use ResourceNotFound. */
bool berth__error_not_found(const berth_cli_error *err);

/* JSON accessors that tolerate missing or mistyped members. */
const char *berth__json_str(const json_t *obj, const char *key, const char *dflt);
/* Integer or real member; `dflt` when absent. */
double berth__json_num(const json_t *obj, const char *key, double dflt);
/* Formats an epoch-seconds member as local "YYYY-MM-DD HH:MM:SS", "-" when
 * absent. */
void berth__json_time(const json_t *obj, const char *key, char *out, size_t n);

#endif

/* router_failure: what a failed try at a copy means. Whether the request
 * may go to another copy, whether the copy leaves the rotation, how long a
 * model may stay silent, and the line the router logs (with the request's
 * own id, the one its answer carries in x-amzn-requestid).
 *
 * The rule for a second try (issue 13, item 3): a request goes again, once
 * and to another copy, only when it provably never reached a model: the
 * connection was refused, the request was not written whole, or the
 * model's host reset the connection before any answer byte (the request
 * sat unread in a socket whose process went away; see
 * berth_http_call_delivered). A model that read the request and then closed
 * or died (a FIN) may have acted on it: that request fails with 424. */
#ifndef BERTHD_ROUTER_FAILURE_H
#define BERTHD_ROUTER_FAILURE_H

#include <stdint.h>

#include "ctl.h"

/* The longest a model may stay silent within an answer. */
#define ROUTER_MODEL_TIMEOUT_MS 60000

/* The longest silence allowed from a model (connect, then between bytes):
 * --invocation-timeout, at most ROUTER_MODEL_TIMEOUT_MS. A stream that
 * stalls that long is cut with ModelInvocationTimeExceeded well before its
 * own --stream-timeout runs out. */
uint64_t router_silence_ms(const ctl *c);

/* Whether a try that ended with err (a libuv code, not 0) may go to another
 * copy: it was not cancelled and never reached a model (delivered is
 * berth_http_call_delivered's answer). */
int router_may_retry(int err, int delivered);

/* A try at cp ended with err; delivered as above. A copy that refused the
 * connection (or reset it before reading the request) leaves this router's
 * rotation at once: it counts as starting until the next routing snapshot
 * lists it ready again, at most the snapshot's long-poll wait (5 s) later,
 * sooner when its agent reports it. Call before cp's in-flight count is
 * dropped (cp may be freed then). */
void router_copy_refused(copy *cp, int err, int delivered);

/* Where a try went, kept past the copy (which may go with the try). */
typedef struct router_try {
  int64_t copy_id;
  char address[64];
  int port;
} router_try;

void router_try_note(router_try *t, const copy *cp);

/* Logs (WARN) a failed try t of request request_id of IC icname: retried
 * says whether it was sent on to another copy. */
void router_log_failure(const char *request_id, const char *icname, const router_try *t, int err,
                        int delivered, int retried);

#endif

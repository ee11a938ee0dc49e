/* http_client: HTTP/1.1 client calls on a libuv loop, with a keep-alive
 * connection pool per host:port. Used by the router (to copies) and the
 * agent (health checks).
 *
 * A call's callbacks run on the loop. on_done runs exactly once per call
 * (also after berth_http_call_cancel, with UV_ECANCELED), and the call is
 * freed right after it returns. A pooled connection that fails before any
 * response byte arrives is retried once on a new connection. */
#ifndef BERTH_HTTP_CLIENT_H
#define BERTH_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "berth/http.h"

typedef struct berth_http_client berth_http_client;
typedef struct berth_http_call berth_http_call;

typedef struct berth_http_call_cb {
  /* The response head; headers valid only during the callback. */
  void (*on_head)(berth_http_call *call, int status,
                  const berth_http_header *headers, size_t n_headers, void *ud);
  /* De-chunked body bytes, as they arrive. */
  void (*on_body)(berth_http_call *call, const char *data, size_t len, void *ud);
  /* 0 when the whole response arrived; otherwise a negative libuv code:
   * UV_ETIMEDOUT (no byte for timeout_ms), UV_ECONNREFUSED, UV_ECONNRESET,
   * UV_EPROTO (unparseable response), UV_ECANCELED. */
  void (*on_done)(berth_http_call *call, int status, void *ud);
} berth_http_call_cb;

typedef struct berth_http_request_opts {
  const char *host;           /* numeric IPv4 or IPv6 address */
  int port;
  const char *method;
  const char *target;         /* "/invocations" */
  const berth_http_header *headers; /* extra headers; host and
                                       content-length are added */
  size_t n_headers;
  const void *body;           /* copied; may be NULL */
  size_t body_len;
  uint64_t timeout_ms;        /* max silence (connect, then between bytes) */
} berth_http_request_opts;

berth_http_client *berth_http_client_new(uv_loop_t *loop, size_t max_idle_per_host);
/* Closes pooled connections; calls in flight end with UV_ECANCELED, their
 * on_done running inside this function (so the caller may free its own
 * state right after). The memory goes once the loop has closed the handles:
 * keep running the loop before uv_loop_close. Like the server, the client
 * needs SIGPIPE ignored by the program. */
void berth_http_client_free(berth_http_client *cl);

int berth_http_request(berth_http_client *cl, const berth_http_request_opts *opts,
                       const berth_http_call_cb *cb, void *ud, berth_http_call **out);
/* Ends a call early; on_done follows with UV_ECANCELED (from the loop, not
 * from inside this function). */
void berth_http_call_cancel(berth_http_call *call);

#endif

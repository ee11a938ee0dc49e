/* http_client: HTTP/1.1 client calls on a libuv loop, with a keep-alive
 * connection pool per host:port. Used by the router (to copies) and the
 * agent (health checks).
 *
 * A call's callbacks run on the loop. on_done runs exactly once per call
 * (also after berth_http_call_cancel, with UV_ECANCELED), and the call is
 * freed right after it returns. A pooled connection that fails before the
 * whole request was written, or before the server got it (see
 * berth_http_call_delivered: it closed the connection while it sat idle),
 * is retried once on a new connection; a request the server may have read
 * is never sent again, since the server may have acted on it. A pooled
 * connection with a FIN or stray bytes waiting on it is not reused.
 *
 * https: a call whose options name a TLS client context (berth/tls.h)
 * verifies the server's certificate and name during the handshake, then
 * sends the request; a connection it pools keeps its TLS session and is
 * reused only by calls with the same context and name. A handshake or
 * verification failure ends the call with UV_EPROTO, the reason in
 * berth_http_call_error. */
#ifndef BERTH_HTTP_CLIENT_H
#define BERTH_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "berth/http.h"
#include "berth/tls.h"

typedef struct berth_http_client berth_http_client;
typedef struct berth_http_call berth_http_call;

typedef struct berth_http_call_cb {
  /* The response head; headers valid only during the callback. */
  void (*on_head)(berth_http_call *call, int status,
                  const berth_http_header *headers, size_t n_headers, void *ud);
  /* De-chunked body bytes, as they arrive. */
  void (*on_body)(berth_http_call *call, const char *data, size_t len, void *ud);
  /* 0 when the whole response arrived; otherwise a negative libuv code:
   * UV_ETIMEDOUT (no byte for timeout_ms, or deadline_ms passed),
   * UV_ECONNREFUSED, UV_ECONNRESET,
   * UV_EPROTO (unparseable response, or TLS refused: handshake failed, the
   * certificate did not verify), UV_ECANCELED. */
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
  const void *body;           /* copied unless borrow_body; may be NULL */
  size_t body_len;
  uint64_t timeout_ms;        /* max silence (connect, then between bytes) */
  int borrow_body;            /* body stays valid until on_done: not copied */
  uint64_t deadline_ms;       /* max total time until the whole answer (0: none) */
  /* https: the server must present a certificate this context trusts, for
   * tls_name (a DNS name or address; NULL: host), also sent as SNI when it
   * is a name. NULL: plain HTTP. Not owned; must outlive the call. */
  berth_tls_client *tls;
  const char *tls_name;
  /* The Host header to send instead of host:port: a request passed on as
   * it came (its signature may cover Host). */
  const char *host_header;
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
/* During on_done: whether the request may have reached the server: an
 * answer byte arrived, or it was written whole and the server's end did not
 * show it never got it. A caller may send a failed request elsewhere only
 * when this is 0. Shown never to have got it, with no answer byte: a reset
 * (a host resets a connection closed with bytes still unread: a killed
 * process, an idle connection closed as the request came), or a close with
 * request bytes the server's TCP never acknowledged (Linux: SIOCOUTQ).
 * A server that read the request and closed sends a FIN after
 * acknowledging it: delivered. A server that aborts on purpose (SO_LINGER
 * 0) after reading a request would be taken for one that never got it. */
int berth_http_call_delivered(const berth_http_call *call);
/* During on_done: why the call failed, when more is known than the code
 * ("TLS handshake with 10.0.0.5:8443 failed: certificate verify failed:
 * self-signed certificate (peer 10.0.0.5)"), else "". */
const char *berth_http_call_error(const berth_http_call *call);
/* Stops reading the answer (backpressure: the consumer is full) until
 * resume. on_body may still run for bytes already read. The silence timeout
 * does not run while paused; deadline_ms does. */
void berth_http_call_pause(berth_http_call *call);
void berth_http_call_resume(berth_http_call *call);
/* Ends a call early; on_done follows with UV_ECANCELED (from the loop, not
 * from inside this function). */
void berth_http_call_cancel(berth_http_call *call);

#endif

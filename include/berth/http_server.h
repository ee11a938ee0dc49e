/* http_server: an HTTP/1.1 server on a libuv loop.
 *
 * The whole request body (bounded by max_body_bytes) is read before the
 * handler runs. A handler answers at once or later (the request stays valid
 * until it is answered or aborted). Keep-alive, pipelining (one request at a
 * time per connection), idle and header timeouts, 431/413/400 answers from
 * the parser, and graceful close are handled here. Responses go out with
 * uv_try_write first, uv_write for what remains.
 *
 * The program must ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)): a peer that
 * vanishes is then an EPIPE from write, not a dead process. A client EOF
 * while its request is being handled counts as a lost connection (on_abort),
 * as in Go's net/http.
 *
 * With cfg.tls every accepted connection speaks TLS (berth/tls.h): the
 * handshake comes first and counts against header_timeout; requests and
 * answers then pass through the session, with the same bounds, timeouts
 * and backpressure (max_stream_buffer counts ciphertext). A failed
 * handshake, including plain HTTP sent to a TLS port, closes the
 * connection (logged at debug). Closing sends close_notify when the socket
 * takes it at once. */
#ifndef BERTH_HTTP_SERVER_H
#define BERTH_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "berth/http.h"
#include "berth/tls.h"

typedef struct berth_http_server berth_http_server;
typedef struct berth_http_req berth_http_req;

struct berth_http_req {
  /* Read-only for handlers; valid until answered or aborted. */
  const char *method;
  const char *target;        /* as sent: path and query */
  const char *path;          /* target before '?', still percent-encoded */
  const char *query;         /* after '?', or "" */
  const berth_http_header *headers; /* names lower-cased */
  size_t n_headers;
  const char *body;          /* NUL-terminated for convenience */
  size_t body_len;
  const char *peer;          /* "127.0.0.1:5123" */
  uint64_t start_ms;         /* uv_now when the head arrived */

  /* For handlers that answer later. on_abort runs if the connection is lost
   * before the answer completes, always from the loop (never inside a
   * berth_http_* call); the request must not be used after on_abort
   * returns. Without on_abort the request stays valid until answered (the
   * answer is then dropped). A graceful server close is not an abort. */
  void *user;
  void (*on_abort)(berth_http_req *req);
  /* Streaming: runs once the unsent output falls to half of
   * max_stream_buffer after a berth_http_stream_write returned -ENOBUFS. */
  void (*on_drain)(berth_http_req *req);
};

typedef void (*berth_http_handler)(berth_http_req *req, void *ud);

/* Builds the body of an error the server itself raises (400, 413, 431,
 * 408...). Must append to body and set *content_type. NULL: a JSON body
 * {"message": "..."} with application/json. */
typedef void (*berth_http_error_formatter)(int status, const char *message,
                                           void *body_buf /* berth_buf* */,
                                           const char **content_type,
                                           const char **error_type_header, void *ud);

typedef struct berth_http_server_config {
  berth_http_handler handler;
  void *ud;
  berth_http_error_formatter format_error; /* optional */
  size_t max_head_bytes;        /* default 16384 */
  uint64_t max_body_bytes;      /* default 6291456 */
  uint64_t header_timeout_ms;   /* default 10000: whole head must arrive */
  uint64_t body_timeout_ms;     /* default 60000: whole body must arrive after the head */
  uint64_t idle_timeout_ms;     /* default 60000: keep-alive idle */
  /* default 4096 open connections; past it (or past max_connections_per_peer
   * from one address) the oldest idle connection is closed to make room
   * (never-spoke ones first), and the new one is refused only when every
   * connection is busy with a request. */
  size_t max_connections;
  size_t max_connections_per_peer; /* 0: no per-address limit */
  /* Total request-body bytes all connections may hold at once (0: no limit);
   * a request past it gets 503 and the connection closes. */
  uint64_t max_buffered_bytes;
  size_t max_stream_buffer;     /* default 4 MiB of unsent streamed output */
  /* NULL: plain HTTP. Otherwise TLS on every connection, with the context's
   * current certificate at accept time (berth_tls_server_reload swaps it
   * for new connections). Not owned: it must outlive the server. */
  berth_tls_server *tls;
  /* With tls: a connection from a loopback address whose first byte is not
   * a TLS handshake speaks plain HTTP (a berthd's own roles on one host). */
  int plain_from_loopback;
  /* SO_REUSEPORT: several listeners (one per thread, each on its own loop)
   * share the port and the kernel spreads connections over them. */
  int reuse_port;
} berth_http_server_config;

/* Binds and listens on host:port (port 0 picks one). */
int berth_http_server_listen(uv_loop_t *loop, const char *host, int port,
                             const berth_http_server_config *cfg,
                             berth_http_server **out);
int berth_http_server_port(const berth_http_server *s);
/* Requests being handled now. */
size_t berth_http_server_inflight(const berth_http_server *s);
/* Stops accepting, closes idle connections, lets in-flight requests finish
 * (their connections close after the answer), then calls on_closed and frees
 * the server. */
void berth_http_server_close(berth_http_server *s, void (*on_closed)(void *ud), void *ud);

const char *berth_http_req_header(const berth_http_req *req, const char *lname);

/* Answers with a complete body (Content-Length). headers: extra headers,
 * not including content-length, connection, date or transfer-encoding. */
void berth_http_respond(berth_http_req *req, int status,
                        const berth_http_header *headers, size_t n_headers,
                        const void *body, size_t len);

/* Streamed (chunked) answer: begin, any number of writes, end. write returns
 * 0, or -ENOBUFS when more than max_stream_buffer is queued unsent (the
 * caller should stop reading its source until on_drain), or -EPIPE when the
 * connection is gone. With -ENOBUFS nothing of data was queued: write it
 * again after on_drain. A single write larger than max_stream_buffer is
 * accepted when nothing is queued. After -EPIPE, on_abort follows from the
 * loop unless the caller ends the stream first; either way call
 * berth_http_stream_end or stop using req after on_abort. */
int berth_http_stream_begin(berth_http_req *req, int status,
                            const berth_http_header *headers, size_t n_headers);
/* A stream whose body has exactly length bytes (Content-Length, no chunks):
 * a body passed on as it comes from a source that said its length. Ending
 * it short is berth_http_stream_abort (the client sees a short body). */
int berth_http_stream_begin_sized(berth_http_req *req, int status,
                                  const berth_http_header *headers, size_t n_headers,
                                  uint64_t length);
/* The same with the body's first len bytes (at most length), sent with the
 * head in one write: a proxy that has both in hand saves a system call. */
int berth_http_stream_begin_sized_with(berth_http_req *req, int status,
                                       const berth_http_header *headers, size_t n_headers,
                                       uint64_t length, const void *data, size_t len);
int berth_http_stream_write(berth_http_req *req, const void *data, size_t len);
/* Like stream_write but queues data even past max_stream_buffer: for bytes
 * already in hand when the caller stops its source (the rest of a read,
 * the last event). Returns 0 or -EPIPE. */
int berth_http_stream_push(berth_http_req *req, const void *data, size_t len);
/* Ends a stream that failed midway: the connection closes without the last
 * chunk, so the client sees a truncated answer, never a complete one. The
 * request is released (no on_abort follows); do not use req afterwards. */
void berth_http_stream_abort(berth_http_req *req);
/* Ends a complete stream (the terminating chunk). */
void berth_http_stream_end(berth_http_req *req);

#endif

/* http_client: HTTP/1.1 client calls with a keep-alive pool (http_client.h).
 *
 * DESIGN: a call owns a timer (silence timeout, and the zero-delay wake-up
 * that delivers a cancel from the loop) and a serialized request. It borrows
 * one connection at a time: an idle one from the pool for its host:port, or
 * a new one. A borrowed pooled connection that fails before any response
 * byte is replaced once by a new connection (the server may have closed it
 * while it sat idle). A connection goes back to the pool only when the
 * response was complete, said keep-alive, and nothing extra followed; idle
 * pooled connections keep reading so that a server's close is noticed.
 *
 * Lifetimes: a connection is freed in its tcp close callback; a call in its
 * timer close callback once no write of its request is pending (the write
 * points into the call's buffer); the client once it is freed by the user
 * and has no calls or connections left.
 *
 * TLS: a connection for an https call owns a session (berth/tls.h). After
 * connect it sends the ClientHello and the request waits until the
 * handshake is done; everything read is decrypted first and the plaintext
 * of one read is then parsed as one buffer, exactly as on a plain
 * connection (so "extra bytes after the answer" means the same). Its
 * ciphertext goes out in write requests of its own (tls_wreq) that count
 * in the call's write_pending like the plain path's write_req. */
#include "berth/http_client.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#ifdef __linux__
#include <linux/sockios.h> /* SIOCOUTQ */
#endif

#include "berth/buf.h"

typedef struct cconn cconn;

/* A pooled connection idle longer than this is not reused: servers close
 * idle keep-alive connections after a few seconds (2 s for gunicorn, 5 s
 * for node and uvicorn), and a request written just as the server closes
 * fails after it was sent, when it can no longer be sent again safely. */
#define POOL_IDLE_MAX_MS 1000
/* A connection back in the pool for less than this is reused without the
 * recv(2) check below: a server closes idle connections after seconds, not
 * milliseconds, and a busy pool reuses each within a few. (A server that
 * dies in between resets the request unread: retried as a reused
 * connection's failure.) */
#define POOL_PEEK_AFTER_MS 20
/* Plaintext scratch per decrypt step: the largest TLS record. */
#define TLS_RECORD 16384
#define TLS_NAME_MAX 253

struct berth_http_client {
  uv_loop_t *loop;
  size_t max_idle_per_host;
  cconn *idle;          /* pooled connections */
  berth_http_call *calls;
  size_t n_conns;
  size_t n_calls;
  int freed;
};

struct cconn {
  berth_http_client *cl;
  cconn *prev, *next;   /* in cl->idle while pooled */
  int pooled;
  uint64_t idle_since;  /* loop time it went back to the pool */
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  char host[64];
  int port;
  int closing;
  int connected;
  int eof_seen;         /* the peer ended the stream (TLS close_notify) */
  berth_http_parser *parser;
  berth_http_call *call;
  berth_tls_conn *tls;  /* NULL on plain connections */
  berth_tls_client *tls_ctx; /* with tls_name, part of the pool key */
  char tls_name[TLS_NAME_MAX + 1];
};

/* A write of TLS ciphertext; call is set for the request's own bytes. */
typedef struct tls_wreq {
  uv_write_t w;
  cconn *c;
  berth_http_call *call;
  char data[];
} tls_wreq;

enum { C_ACTIVE, C_DONE };

struct berth_http_call {
  berth_http_client *cl;
  berth_http_call *prev, *next;
  berth_http_call_cb cb;
  void *ud;
  uv_timer_t timer;
  uint64_t timeout_ms;
  char host[64];
  int port;
  int is_head;
  int idempotent;       /* RFC 9110 9.2.2: may be sent again after a failure */
  berth_buf req;        /* serialized request head (and the body unless borrowed) */
  const char *body;     /* a borrowed body, sent after req */
  size_t body_len;
  uint64_t deadline;    /* loop time the whole answer must have arrived by (0: none) */
  cconn *conn;
  int state;
  int canceled;
  int keep_alive;       /* the final response allows reuse */
  int got_byte;         /* a response byte arrived on the current conn */
  int unreceived;       /* the server provably never got the request (conn_unreceived) */
  int reused;           /* current conn came from the pool */
  int retried;
  int paused;           /* reading stopped by berth_http_call_pause */
  int write_pending;    /* uv_writes pointing into req */
  int write_done;       /* the whole request was written */
  int timer_closed;
  int interim;          /* current response is 1xx */
  int complete;
  berth_tls_client *tls;
  char tls_name[TLS_NAME_MAX + 1];
  char error[320];      /* berth_http_call_error */
};

static void conn_close(cconn *c);
static void call_finish(berth_http_call *call, int status);
static int call_start_conn(berth_http_call *call, int allow_pool);
static void on_call_timer(uv_timer_t *t);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);
static int conn_unreceived(cconn *c, int status);

/* Restarts the silence timeout (connect, then each received byte), never
 * past the call's total deadline. A paused call is not silent: only its
 * deadline runs. */
static void call_touch(berth_http_call *call) {
  if (call->canceled) return;
  uint64_t ms = call->paused ? 0 : call->timeout_ms;
  if (call->deadline) {
    uint64_t now = uv_now(call->cl->loop);
    uint64_t left = call->deadline > now ? call->deadline - now : 1;
    if (!ms || left < ms) ms = left;
  }
  if (ms) uv_timer_start(&call->timer, on_call_timer, ms, 0);
  else uv_timer_stop(&call->timer);
}

/* ---- client freeing ---- */

static void client_maybe_free(berth_http_client *cl) {
  if (cl->freed && !cl->n_conns && !cl->n_calls) free(cl);
}

/* ---- connections ---- */

static void pool_remove(cconn *c) {
  if (!c->pooled) return;
  if (c->prev) c->prev->next = c->next;
  else c->cl->idle = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  c->pooled = 0;
}

static void on_conn_closed(uv_handle_t *h) {
  cconn *c = h->data;
  berth_http_client *cl = c->cl;
  berth_http_parser_free(c->parser);
  berth_tls_conn_free(c->tls);
  free(c);
  cl->n_conns--;
  client_maybe_free(cl);
}

static void conn_close(cconn *c) {
  if (c->closing) return;
  c->closing = 1;
  pool_remove(c);
  if (c->call && c->call->conn == c) c->call->conn = NULL;
  c->call = NULL;
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* Whether conn c may carry call: same peer, and the same TLS context and
 * name (a plain connection never serves an https call, nor the reverse). */
static int conn_fits(const cconn *c, const berth_http_call *call) {
  return c->port == call->port && !strcmp(c->host, call->host) && c->tls_ctx == call->tls &&
         (!call->tls || !strcmp(c->tls_name, call->tls_name));
}

static size_t pool_count(berth_http_client *cl, const berth_http_call *call) {
  size_t n = 0;
  for (cconn *c = cl->idle; c; c = c->next) n += conn_fits(c, call);
  return n;
}

/* ---- parser callbacks (the conn's current call) ---- */

static int p_on_head(void *ud, const berth_http_head *h) {
  cconn *c = ud;
  berth_http_call *call = c->call;
  if (!call || call->state != C_ACTIVE || call->canceled) return 1;
  call->interim = h->status >= 100 && h->status < 200;
  if (call->interim) return 0; /* 100 Continue and friends: wait for the final answer */
  call->keep_alive = h->keep_alive;
  if (call->cb.on_head) call->cb.on_head(call, h->status, h->headers, h->n_headers, call->ud);
  return (call->state != C_ACTIVE || call->canceled || c->call != call) ? 1 : 0;
}

static int p_on_body(void *ud, const char *data, size_t len) {
  cconn *c = ud;
  berth_http_call *call = c->call;
  if (!call || call->state != C_ACTIVE || call->canceled) return 1;
  if (call->cb.on_body) call->cb.on_body(call, data, len, call->ud);
  return (call->state != C_ACTIVE || call->canceled || c->call != call) ? 1 : 0;
}

static int p_on_complete(void *ud) {
  cconn *c = ud;
  berth_http_call *call = c->call;
  if (!call) return 1;
  if (call->interim) {
    call->interim = 0;
    return 0;
  }
  call->complete = 1;
  return 0;
}

static const berth_http_parser_cb parser_cb = {p_on_head, p_on_body, p_on_complete};

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)h;
  /* A fresh buffer each time: the parser hands slices of it to on_body. */
  size_t n = suggested < 65536 ? suggested : 65536;
  b->base = berth_xmalloc(n);
  b->len = n;
}

/* The response is complete: pool or close the conn, then on_done(0). The
 * conn is pooled first so that on_done may start a call that reuses it. */
static void call_response_done(berth_http_call *call, cconn *c, int extra_bytes) {
  berth_http_client *cl = call->cl;
  int keep = call->keep_alive && !extra_bytes && call->write_done && !cl->freed &&
             !c->closing && c->connected && !c->eof_seen &&
             pool_count(cl, call) < cl->max_idle_per_host;
  c->call = NULL;
  call->conn = NULL;
  if (keep) {
    if (call->paused) uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    c->pooled = 1;
    c->idle_since = uv_now(cl->loop);
    c->prev = NULL;
    c->next = cl->idle;
    if (cl->idle) cl->idle->prev = c;
    cl->idle = c;
  } else {
    conn_close(c);
  }
  call_finish(call, 0);
}

/* The peer ended the stream (EOF, or TLS close_notify): completes an
 * answer that runs until close, or fails the call (retried when nothing of
 * it can have reached the server). */
static void conn_eof(cconn *c, int status) {
  berth_http_call *call = c->call;
  if (!call) {
    conn_close(c);
    return;
  }
  int rc = berth_http_parser_finish(c->parser);
  if (rc == 0 && call->complete) {
    call_response_done(call, c, 1);
    return;
  }
  if (!call->got_byte && conn_unreceived(c, status)) call->unreceived = 1;
  int may_retry = !call->got_byte &&
                  (!call->write_done || call->idempotent || call->unreceived) &&
                  call->reused && !call->retried;
  conn_close(c);
  if (may_retry) {
    call->retried = 1;
    if (call_start_conn(call, 0) == 0) return;
  }
  call_finish(call, status == UV_EOF ? UV_ECONNRESET : status);
}

/* Whether the server of a connection that ended (status: how) before any
 * answer byte provably never got the request. Either it reset the
 * connection: a host resets a connection closed with bytes still unread
 * (a killed process, one that closed an idle connection just as the
 * request came), while a server that read the request and closed sends a
 * FIN (UV_EOF). Or it closed (FIN) with request bytes its TCP never
 * acknowledged: it closed before they arrived, since a server that read
 * them had acknowledged them by its FIN at the latest. */
static int conn_unreceived(cconn *c, int status) {
  if (status == UV_ECONNRESET || status == UV_EPIPE) return 1;
#ifdef SIOCOUTQ
  uv_os_fd_t fd;
  int unacked = 0;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, SIOCOUTQ, &unacked) == 0 &&
      unacked > 0)
    return 1;
#else
  (void)c;
#endif
  return 0;
}

/* Response bytes (plaintext) for the conn's call; data stays valid for the
 * whole call, since on_body gets slices of it. */
static void conn_input(cconn *c, const char *data, size_t len) {
  berth_http_call *call = c->call;
  if (!call) {
    /* Idle pooled connection: any byte means it is unusable. */
    conn_close(c);
    return;
  }
  call->got_byte = 1;
  call_touch(call);
  size_t off = 0;
  while (off < len) {
    ssize_t n = berth_http_parser_execute(c->parser, data + off, len - off);
    if (n < 0) {
      conn_close(c);
      if (n == BERTH_HTTP_E_PAUSED || call->state != C_ACTIVE) return; /* canceled meanwhile */
      call_finish(call, UV_EPROTO);
      return;
    }
    off += (size_t)n;
    if (call->complete) break;
  }
  if (call->complete) call_response_done(call, c, off < len);
}

static void tls_input(cconn *c, const char *data, size_t len);

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
  cconn *c = st->data;
  if (nread == 0 || c->closing) {
    free(b->base);
    return;
  }
  if (nread < 0) {
    free(b->base);
    conn_eof(c, (int)nread);
    return;
  }
  if (c->tls) tls_input(c, b->base, (size_t)nread);
  else conn_input(c, b->base, (size_t)nread);
  free(b->base);
}

/* ---- writing the request ---- */

/* A write of call's request on wc completed. */
static void request_written(berth_http_call *call, cconn *wc, int status) {
  call->write_pending--;
  if (call->state == C_DONE || wc != call->conn) {
    /* A finished call, or a connection the call already left (retry). */
    if (call->state == C_DONE && call->timer_closed && !call->write_pending) free(call);
    return;
  }
  if (status < 0) {
    /* Not all of the request went out: no server can have acted on it. */
    int may_retry = !call->got_byte && call->reused && !call->retried;
    conn_close(wc);
    if (may_retry) {
      call->retried = 1;
      if (call_start_conn(call, 0) == 0) return;
    }
    call_finish(call, UV_ECONNRESET);
    return;
  }
  call->write_done = 1;
}

static void on_write(uv_write_t *w, int status) {
  request_written(w->data, (cconn *)((char *)w - offsetof(cconn, write_req)), status);
}

/* ---- TLS ---- */

static void on_tls_write(uv_write_t *w, int status) {
  tls_wreq *r = (tls_wreq *)w;
  cconn *c = r->c;
  berth_http_call *call = r->call;
  free(r);
  if (call) {
    request_written(call, c, status);
    return;
  }
  if (status < 0 && !c->closing) {
    /* Handshake bytes did not go out: the connection is dead. */
    berth_http_call *cc = c->call;
    conn_close(c);
    if (cc) call_finish(cc, UV_ECONNRESET);
  }
}

/* Sends the ciphertext the session holds: what the socket takes now, the
 * rest in a write request. With call, these are its request's bytes
 * (write_done and write_pending follow them). Returns 0 or a libuv code. */
static int tls_flush(cconn *c, berth_http_call *call) {
  size_t n = berth_tls_out_pending(c->tls);
  if (n == 0) {
    if (call) call->write_done = 1;
    return 0;
  }
  tls_wreq *r = berth_xmalloc(sizeof *r + n);
  n = berth_tls_out_take(c->tls, r->data, n);
  uv_buf_t b = uv_buf_init(r->data, (unsigned)n);
  /* uv_try_write refuses (EAGAIN) while earlier writes are queued, so
   * records never go out of order. */
  int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (w < 0 && w != UV_EAGAIN) {
    free(r);
    return w;
  }
  size_t done = w < 0 ? 0 : (size_t)w;
  if (done == n) {
    free(r);
    if (call) call->write_done = 1;
    return 0;
  }
  r->c = c;
  r->call = call;
  b = uv_buf_init(r->data + done, (unsigned)(n - done));
  int rc = uv_write(&r->w, (uv_stream_t *)&c->tcp, &b, 1, on_tls_write);
  if (rc < 0) {
    free(r);
    return rc;
  }
  if (call) call->write_pending++;
  return 0;
}

/* The session failed: the call ends with UV_EPROTO and the reason. */
static void tls_failed(cconn *c, const char *what) {
  berth_http_call *call = c->call;
  if (call)
    snprintf(call->error, sizeof call->error, "TLS %s with %s:%d failed: %s", what, c->host,
             c->port, berth_tls_error(c->tls));
  conn_close(c);
  if (call) call_finish(call, UV_EPROTO);
}

static int conn_send(berth_http_call *call, cconn *c);

/* Ciphertext arrived: finish the handshake (then send the request), or
 * decrypt all of it and hand the plaintext on as one buffer. */
static void tls_input(cconn *c, const char *data, size_t len) {
  berth_tls_feed(c->tls, data, len);
  if (c->call) call_touch(c->call); /* handshake bytes end a silence too */
  if (!berth_tls_established(c->tls)) {
    int h = berth_tls_handshake(c->tls);
    if (h < 0) {
      tls_failed(c, "handshake");
      return;
    }
    int rc = tls_flush(c, NULL);
    if (rc == 0 && h == 1 && c->call) rc = conn_send(c->call, c);
    if (rc < 0) {
      berth_http_call *call = c->call;
      conn_close(c);
      if (call) call_finish(call, rc);
      return;
    }
    if (h == 0) return;
  }
  /* Bounded by what was fed: one read (64 KiB) and a partial record. */
  berth_buf plain;
  berth_buf_init(&plain, 0);
  char tmp[TLS_RECORD];
  int eof = 0;
  for (;;) {
    ssize_t n = berth_tls_read(c->tls, tmp, sizeof tmp);
    if (n == 0) break;
    if (n == BERTH_TLS_CLOSED) {
      eof = 1;
      break;
    }
    if (n < 0) {
      berth_buf_free(&plain);
      tls_failed(c, "read");
      return;
    }
    berth_buf_append(&plain, tmp, (size_t)n);
  }
  /* The session may owe the peer an answer (a TLS 1.3 KeyUpdate). */
  if (berth_tls_out_pending(c->tls) && tls_flush(c, NULL) < 0) eof = 1;
  /* Known before the answer completes: the connection is not pooled. */
  if (eof) c->eof_seen = 1;
  if (plain.len) conn_input(c, plain.data, plain.len);
  berth_buf_free(&plain);
  if (eof && !c->closing) conn_eof(c, UV_EOF);
}

static int conn_send(berth_http_call *call, cconn *c) {
  if (c->tls) {
    int rc = berth_tls_write(c->tls, call->req.data, call->req.len);
    if (rc == 0 && call->body_len) rc = berth_tls_write(c->tls, call->body, call->body_len);
    if (rc < 0) {
      snprintf(call->error, sizeof call->error, "TLS write to %s:%d failed: %s", c->host,
               c->port, berth_tls_error(c->tls));
      return UV_EPROTO;
    }
    return tls_flush(c, call);
  }
  uv_buf_t b[2] = {uv_buf_init(call->req.data, (unsigned)call->req.len),
                   uv_buf_init((char *)call->body, (unsigned)call->body_len)};
  unsigned nb = call->body_len ? 2 : 1;
  size_t total = call->req.len + call->body_len;
  int n = uv_try_write((uv_stream_t *)&c->tcp, b, nb);
  if (n < 0 && n != UV_EAGAIN) return n;
  size_t done = n < 0 ? 0 : (size_t)n;
  if (done == total) {
    call->write_done = 1;
    return 0;
  }
  /* The rest, from where the socket stopped taking it. */
  unsigned first = 0;
  if (done >= b[0].len) {
    done -= b[0].len;
    first = 1;
  }
  b[first].base += done;
  b[first].len -= (unsigned)done;
  c->write_req.data = call;
  int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, b + first, nb - first, on_write);
  if (rc == 0) call->write_pending++;
  return rc;
}

static void on_connect(uv_connect_t *r, int status) {
  cconn *c = r->data;
  if (c->closing) return;
  berth_http_call *call = c->call;
  if (!call) {
    conn_close(c);
    return;
  }
  if (status < 0) {
    conn_close(c);
    call_finish(call, status);
    return;
  }
  c->connected = 1;
  call_touch(call);
  uv_tcp_nodelay(&c->tcp, 1);
  int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc == 0 && c->tls) {
    /* The ClientHello; the request follows once the handshake is done. */
    if (berth_tls_handshake(c->tls) < 0) {
      tls_failed(c, "handshake");
      return;
    }
    rc = tls_flush(c, NULL);
  } else if (rc == 0) {
    rc = conn_send(call, c);
  }
  if (rc < 0) {
    conn_close(c);
    call_finish(call, rc);
  }
}

/* Whether an idle pooled connection still looks usable: nothing to read
 * (a server's FIN, or stray bytes) is waiting on its socket. Its own read
 * callback would close it on the next loop turn, but a request picked in
 * this turn would be written into a connection the server has closed, and
 * could then not be told apart from one the server read (curl checks the
 * same way before reusing a connection). One recv(2) per reuse. */
static int conn_alive(cconn *c) {
  uv_os_fd_t fd;
  if (c->eof_seen || uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) return 0;
  char b;
  ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Attaches a connection to call: pooled if allowed and available, else new. */
static int call_start_conn(berth_http_call *call, int allow_pool) {
  berth_http_client *cl = call->cl;
  call->got_byte = 0;
  call->unreceived = 0;
  call->interim = 0;
  call->complete = 0;
  call->write_done = 0;
  if (allow_pool) {
    for (cconn *c = cl->idle, *next; c; c = next) {
      next = c->next;
      if (!conn_fits(c, call)) continue;
      uint64_t idle = uv_now(cl->loop) - c->idle_since;
      if (idle > POOL_IDLE_MAX_MS || (idle >= POOL_PEEK_AFTER_MS && !conn_alive(c))) {
        conn_close(c);
        continue;
      }
      pool_remove(c);
      c->call = call;
      call->conn = c;
      call->reused = 1;
      if (call->is_head) berth_http_parser_expect_no_body(c->parser);
      int rc = conn_send(call, c);
      if (rc < 0) {
        conn_close(c);
        call->reused = 0;
        break; /* fall through to a new connection */
      }
      return 0;
    }
  }
  call->reused = 0;
  struct sockaddr_storage addr;
  if (uv_ip4_addr(call->host, call->port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(call->host, call->port, (struct sockaddr_in6 *)&addr) != 0)
    return UV_EINVAL;
  berth_tls_conn *tls = NULL;
  if (call->tls && !(tls = berth_tls_conn_client(call->tls, call->tls_name))) {
    snprintf(call->error, sizeof call->error, "cannot verify a TLS peer named '%s'",
             call->tls_name);
    return UV_EINVAL;
  }
  cconn *c = berth_xcalloc(1, sizeof *c);
  c->cl = cl;
  snprintf(c->host, sizeof c->host, "%s", call->host);
  c->port = call->port;
  c->tls = tls;
  c->tls_ctx = call->tls;
  snprintf(c->tls_name, sizeof c->tls_name, "%s", call->tls_name);
  berth_http_limits lim = {65536, 200, 0};
  c->parser = berth_http_parser_new(BERTH_HTTP_RESPONSE, &lim, &parser_cb, c);
  if (call->is_head) berth_http_parser_expect_no_body(c->parser);
  uv_tcp_init(cl->loop, &c->tcp);
  c->tcp.data = c;
  cl->n_conns++;
  c->connect_req.data = c;
  int rc = uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&addr, on_connect);
  if (rc < 0) {
    conn_close(c);
    return rc;
  }
  c->call = call;
  call->conn = c;
  return 0;
}

/* ---- calls ---- */

static void on_call_timer_closed(uv_handle_t *h) {
  berth_http_call *call = h->data;
  berth_http_client *cl = call->cl;
  call->timer_closed = 1;
  berth_buf_free(&call->req);
  if (call->prev) call->prev->next = call->next;
  else cl->calls = call->next;
  if (call->next) call->next->prev = call->prev;
  cl->n_calls--;
  if (!call->write_pending) free(call);
  client_maybe_free(cl);
}

/* Runs on_done once, detaches and closes what the call still holds. */
static void call_finish(berth_http_call *call, int status) {
  if (call->state == C_DONE) return;
  call->state = C_DONE;
  if (call->conn) conn_close(call->conn);
  uv_timer_stop(&call->timer);
  if (call->cb.on_done) call->cb.on_done(call, status, call->ud);
  uv_close((uv_handle_t *)&call->timer, on_call_timer_closed);
}

static void on_call_timer(uv_timer_t *t) {
  berth_http_call *call = t->data;
  if (call->state == C_DONE) return;
  if (call->canceled) {
    call_finish(call, UV_ECANCELED);
    return;
  }
  call_finish(call, UV_ETIMEDOUT);
}

static int name_is(const char *a, const char *b) {
  return !strcasecmp(a, b);
}

static int header_ok(const berth_http_header *h) {
  if (!h->name || !h->value || !h->name[0]) return 0;
  if (strpbrk(h->name, "\r\n: \t") || strpbrk(h->value, "\r\n")) return 0;
  return 1;
}

int berth_http_request(berth_http_client *cl, const berth_http_request_opts *o,
                       const berth_http_call_cb *cb, void *ud, berth_http_call **out) {
  if (out) *out = NULL;
  if (!cl || cl->freed || !o || !o->host || !o->method || !o->target || !cb) return UV_EINVAL;
  if (o->host_header && (!o->host_header[0] || strpbrk(o->host_header, "\r\n"))) return UV_EINVAL;
  if (o->port <= 0 || o->port > 65535 || strlen(o->host) >= 64) return UV_EINVAL;
  if (o->tls_name && (!o->tls_name[0] || strlen(o->tls_name) > TLS_NAME_MAX)) return UV_EINVAL;
  if (strpbrk(o->method, " \r\n") || strpbrk(o->target, " \r\n") || !o->target[0])
    return UV_EINVAL;
  struct sockaddr_storage addr;
  int v6 = 0;
  if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&addr) != 0) {
    if (uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&addr) != 0) return UV_EINVAL;
    v6 = 1;
  }
  berth_http_call *call = berth_xcalloc(1, sizeof *call);
  call->cl = cl;
  call->cb = *cb;
  call->ud = ud;
  call->timeout_ms = o->timeout_ms;
  snprintf(call->host, sizeof call->host, "%s", o->host);
  call->port = o->port;
  call->tls = o->tls;
  if (o->tls)
    snprintf(call->tls_name, sizeof call->tls_name, "%s", o->tls_name ? o->tls_name : o->host);
  call->is_head = name_is(o->method, "HEAD");
  call->idempotent = name_is(o->method, "GET") || call->is_head || name_is(o->method, "OPTIONS") ||
                     name_is(o->method, "PUT") || name_is(o->method, "DELETE");
  call->state = C_ACTIVE;
  if (o->deadline_ms) call->deadline = uv_now(cl->loop) + o->deadline_ms;

  berth_buf_init(&call->req, 0);
  /* Appends, not printf: the router sends one of these per request. */
  berth_buf_appends(&call->req, o->method);
  berth_buf_append(&call->req, " ", 1);
  berth_buf_appends(&call->req, o->target);
  if (o->host_header) {
    berth_buf_appends(&call->req, " HTTP/1.1\r\nHost: ");
    berth_buf_appends(&call->req, o->host_header);
  } else {
    berth_buf_appends(&call->req, v6 ? " HTTP/1.1\r\nHost: [" : " HTTP/1.1\r\nHost: ");
    berth_buf_appends(&call->req, o->host);
    berth_buf_appends(&call->req, v6 ? "]:" : ":");
    berth_buf_append_u64(&call->req, (uint64_t)o->port);
  }
  berth_buf_append(&call->req, "\r\n", 2);
  for (size_t i = 0; i < o->n_headers; i++) {
    const berth_http_header *h = &o->headers[i];
    if (!header_ok(h) || name_is(h->name, "host") || name_is(h->name, "content-length") ||
        name_is(h->name, "transfer-encoding"))
      continue;
    berth_buf_appends(&call->req, h->name);
    berth_buf_append(&call->req, ": ", 2);
    berth_buf_appends(&call->req, h->value);
    berth_buf_append(&call->req, "\r\n", 2);
  }
  int bodyless = (name_is(o->method, "GET") || name_is(o->method, "HEAD") ||
                  name_is(o->method, "DELETE") || name_is(o->method, "OPTIONS")) &&
                 o->body_len == 0;
  if (!bodyless) {
    berth_buf_append(&call->req, "Content-Length: ", 16);
    berth_buf_append_u64(&call->req, o->body_len);
    berth_buf_append(&call->req, "\r\n", 2);
  }
  berth_buf_appends(&call->req, "\r\n");
  if (o->body && o->body_len && o->borrow_body) {
    call->body = o->body;
    call->body_len = o->body_len;
  } else if (o->body && o->body_len) {
    berth_buf_append(&call->req, o->body, o->body_len);
  }

  uv_timer_init(cl->loop, &call->timer);
  call->timer.data = call;
  call_touch(call);

  call->next = cl->calls;
  if (cl->calls) cl->calls->prev = call;
  cl->calls = call;
  cl->n_calls++;

  int rc = call_start_conn(call, 1);
  if (rc < 0) {
    /* Not started: no on_done. Undo without calling back. */
    call->state = C_DONE;
    uv_close((uv_handle_t *)&call->timer, on_call_timer_closed);
    return rc;
  }
  if (out) *out = call;
  return 0;
}

void berth_http_call_cancel(berth_http_call *call) {
  if (!call || call->state != C_ACTIVE || call->canceled) return;
  call->canceled = 1;
  if (call->conn) conn_close(call->conn);
  /* on_done must come from the loop: a zero timer. */
  uv_timer_start(&call->timer, on_call_timer, 0, 0);
}

int berth_http_call_delivered(const berth_http_call *call) {
  return call->got_byte || (call->write_done && !call->unreceived);
}

const char *berth_http_call_error(const berth_http_call *call) {
  return call->error;
}

void berth_http_call_pause(berth_http_call *call) {
  if (!call || call->state != C_ACTIVE || call->paused) return;
  call->paused = 1;
  if (call->conn && call->conn->connected) uv_read_stop((uv_stream_t *)&call->conn->tcp);
  call_touch(call);
}

void berth_http_call_resume(berth_http_call *call) {
  if (!call || call->state != C_ACTIVE || !call->paused) return;
  call->paused = 0;
  if (call->conn && call->conn->connected && !call->conn->closing)
    uv_read_start((uv_stream_t *)&call->conn->tcp, on_alloc, on_read);
  call_touch(call);
}

berth_http_client *berth_http_client_new(uv_loop_t *loop, size_t max_idle_per_host) {
  berth_http_client *cl = berth_xcalloc(1, sizeof *cl);
  cl->loop = loop;
  cl->max_idle_per_host = max_idle_per_host;
  return cl;
}

void berth_http_client_free(berth_http_client *cl) {
  if (!cl || cl->freed) return;
  cl->freed = 1;
  while (cl->idle) conn_close(cl->idle);
  /* on_done(UV_ECANCELED) for every call still running, before we return,
   * so that callers may free their own state right after. */
  for (berth_http_call *call = cl->calls; call; call = call->next)
    if (call->state == C_ACTIVE) {
      call->canceled = 1;
      call_finish(call, UV_ECANCELED);
    }
  client_maybe_free(cl);
}

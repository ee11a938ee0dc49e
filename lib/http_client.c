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
 * and has no calls or connections left. */
#include "berth/http_client.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "berth/buf.h"

typedef struct cconn cconn;

/* A pooled connection idle longer than this is not reused: servers close
 * idle keep-alive connections after a few seconds (2 s for gunicorn, 5 s
 * for node and uvicorn), and a request written just as the server closes
 * fails after it was sent, when it can no longer be sent again safely. */
#define POOL_IDLE_MAX_MS 1000

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
  berth_http_parser *parser;
  berth_http_call *call;
};

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
  int reused;           /* current conn came from the pool */
  int retried;
  int paused;           /* reading stopped by berth_http_call_pause */
  int write_pending;    /* uv_writes pointing into req */
  int write_done;       /* the whole request was written */
  int timer_closed;
  int interim;          /* current response is 1xx */
  int complete;
};

static void conn_close(cconn *c);
static void call_finish(berth_http_call *call, int status);
static int call_start_conn(berth_http_call *call, int allow_pool);
static void on_call_timer(uv_timer_t *t);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);

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

static size_t pool_count(berth_http_client *cl, const char *host, int port) {
  size_t n = 0;
  for (cconn *c = cl->idle; c; c = c->next)
    if (c->port == port && !strcmp(c->host, host)) n++;
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
             !c->closing && c->connected &&
             pool_count(cl, c->host, c->port) < cl->max_idle_per_host;
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

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
  cconn *c = st->data;
  berth_http_call *call = c->call;
  if (nread == 0) {
    free(b->base);
    return;
  }
  if (c->closing) {
    free(b->base);
    return;
  }
  if (!call) {
    /* Idle pooled connection: any byte or EOF means it is unusable. */
    free(b->base);
    conn_close(c);
    return;
  }
  if (nread < 0) {
    free(b->base);
    int rc = berth_http_parser_finish(c->parser);
    if (rc == 0 && call->complete) {
      call_response_done(call, c, 1);
      return;
    }
    int may_retry = !call->got_byte && (!call->write_done || call->idempotent) && call->reused &&
                    !call->retried;
    conn_close(c);
    if (may_retry) {
      call->retried = 1;
      if (call_start_conn(call, 0) == 0) return;
    }
    call_finish(call, nread == UV_EOF ? UV_ECONNRESET : (int)nread);
    return;
  }
  call->got_byte = 1;
  call_touch(call);
  size_t off = 0, len = (size_t)nread;
  while (off < len) {
    ssize_t n = berth_http_parser_execute(c->parser, b->base + off, len - off);
    if (n < 0) {
      free(b->base);
      conn_close(c);
      if (n == BERTH_HTTP_E_PAUSED || call->state != C_ACTIVE) return; /* canceled meanwhile */
      call_finish(call, UV_EPROTO);
      return;
    }
    off += (size_t)n;
    if (call->complete) break;
  }
  free(b->base);
  if (call->complete) call_response_done(call, c, off < len);
}

/* ---- writing the request ---- */

static void on_write(uv_write_t *w, int status) {
  berth_http_call *call = w->data;
  cconn *wc = (cconn *)((char *)w - offsetof(cconn, write_req));
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

static int conn_send(berth_http_call *call, cconn *c) {
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
  if (rc == 0) rc = conn_send(call, c);
  if (rc < 0) {
    conn_close(c);
    call_finish(call, rc);
  }
}

/* Attaches a connection to call: pooled if allowed and available, else new. */
static int call_start_conn(berth_http_call *call, int allow_pool) {
  berth_http_client *cl = call->cl;
  call->got_byte = 0;
  call->interim = 0;
  call->complete = 0;
  call->write_done = 0;
  if (allow_pool) {
    for (cconn *c = cl->idle, *next; c; c = next) {
      next = c->next;
      if (c->port != call->port || strcmp(c->host, call->host)) continue;
      if (uv_now(cl->loop) - c->idle_since > POOL_IDLE_MAX_MS) {
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
  cconn *c = berth_xcalloc(1, sizeof *c);
  c->cl = cl;
  snprintf(c->host, sizeof c->host, "%s", call->host);
  c->port = call->port;
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
  if (o->port <= 0 || o->port > 65535 || strlen(o->host) >= 64) return UV_EINVAL;
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
  call->is_head = name_is(o->method, "HEAD");
  call->idempotent = name_is(o->method, "GET") || call->is_head || name_is(o->method, "OPTIONS") ||
                     name_is(o->method, "PUT") || name_is(o->method, "DELETE");
  call->state = C_ACTIVE;
  if (o->deadline_ms) call->deadline = uv_now(cl->loop) + o->deadline_ms;

  berth_buf_init(&call->req, 0);
  berth_buf_printf(&call->req, "%s %s HTTP/1.1\r\nHost: %s%s%s:%d\r\n", o->method, o->target,
                   v6 ? "[" : "", o->host, v6 ? "]" : "", o->port);
  for (size_t i = 0; i < o->n_headers; i++) {
    const berth_http_header *h = &o->headers[i];
    if (!header_ok(h) || name_is(h->name, "host") || name_is(h->name, "content-length") ||
        name_is(h->name, "transfer-encoding"))
      continue;
    berth_buf_printf(&call->req, "%s: %s\r\n", h->name, h->value);
  }
  int bodyless = (name_is(o->method, "GET") || name_is(o->method, "HEAD") ||
                  name_is(o->method, "DELETE") || name_is(o->method, "OPTIONS")) &&
                 o->body_len == 0;
  if (!bodyless) berth_buf_printf(&call->req, "Content-Length: %zu\r\n", o->body_len);
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
  return call->write_done || call->got_byte;
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

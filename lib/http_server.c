/* http_server: HTTP/1.1 server on a libuv loop (see http_server.h).
 *
 * DESIGN: each connection moves through phases: WAIT (between requests),
 * HEAD and BODY (the parser is fed), HANDLER (one request dispatched, its
 * answer not yet fully written), LINGER (an answer that ends the connection
 * was sent: we shut down our side and discard input until the peer closes,
 * so an unread request body does not turn our close into a RST that destroys
 * the answer in flight). Bytes read while a request is in HANDLER are kept,
 * bounded, in inbuf and parsed after the answer: one request at a time.
 *
 * Lifetimes: a connection is freed from the close callback of its last
 * handle, and only once the handler no longer holds its request. A lost
 * connection's on_abort runs from that close callback too, so it never runs
 * inside a berth_http_* call. The server is freed when its listener and all
 * connections are gone.
 *
 * TLS (cfg.tls): the session sits between the socket and everything above.
 * on_read feeds it ciphertext; until the handshake is done nothing else
 * happens (the header timer set at accept bounds a slow handshake, and
 * inbuf stays empty so the timer closes silently). Afterwards conn_process
 * decrypts into inbuf as it goes, never past PIPELINE_MAX: the rest stays
 * ciphertext in the session, and reading stops while that is large too.
 * conn_write encrypts and sends the ciphertext through the same
 * try-write-then-queue path, so bytes_pending, on_drain and the linger
 * logic see ciphertext bytes and work unchanged. */
#include "berth/http_server.h"

#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "berth/buf.h"
#include "berth/log.h"
#include "http_head.h"

/* Pipelined input kept while a request is answered; past it we stop reading. */
#define PIPELINE_MAX (64 * 1024)
/* How long a closing connection waits for the peer to close after our FIN. */
#define LINGER_MS 2000
#define READ_CHUNK 65536
/* Largest TLS record's plaintext: the decrypt step's scratch, and the size
 * up to which a write's pieces are gathered into one record. */
#define TLS_RECORD 16384

enum { PH_WAIT, PH_HEAD, PH_BODY, PH_HANDLER, PH_LINGER };
enum { T_NONE, T_HEADER, T_IDLE, T_BODY, T_LINGER };

typedef struct conn conn;

struct berth_http_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  berth_http_server_config cfg;
  int port;
  int closing;
  int listener_closed;
  size_t n_conns;
  size_t n_closing;      /* of n_conns, closed but not yet freed */
  size_t inflight;
  uint64_t buffered;     /* request-body bytes reserved by all connections */
  uint64_t accepted;     /* connections accepted so far */
  conn *conns;
  void (*on_closed)(void *ud);
  void *closed_ud;
  char date[40];
  time_t date_at;
  char rbuf[READ_CHUNK]; /* read scratch: consumed within each read callback */
  char tls_scratch[TLS_RECORD]; /* plaintext scratch: consumed within each call */
};

struct conn {
  berth_http_server *srv;
  conn *prev, *next;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_shutdown_t shutdown_req;
  berth_tls_conn *tls;  /* NULL on a plain listener */
  int open_handles;
  int phase;
  int timer_kind;
  int closing;          /* uv_close called */
  int reading;
  int in_process;
  int msg_complete;     /* parser reached on_complete */
  int close_after;      /* close once the current answer is written */
  berth_http_parser *parser;
  berth_buf inbuf;
  berth_buf body;
  char peer[64];
  char peer_ip[48];     /* peer without its port: the per-client limit's key */
  uint64_t accept_seq;  /* order of acceptance: lower is older */
  int spoke;            /* sent at least one byte */
  int read_any;         /* any bytes read (TLS: whether the first was a handshake) */
  uint64_t reserved;    /* this request's share of srv->buffered */
  int refuse_status;    /* a head callback refused the request (503) */
  const char *refuse_message;

  /* The request being answered. */
  berth_http_req req;
  char *path;
  char *query;
  int req_held;         /* handler owns req; conn may not be freed */
  int resp_started;
  int resp_ended;
  int resp_stream_chunked;
  int resp_no_body;     /* HEAD request */
  int req_minor;
  int req_keep_alive;
  int need_drain;
  size_t writes_pending;
  size_t bytes_pending;
};

typedef struct wreq {
  uv_write_t w;
  conn *c;
  size_t len;
  char data[];
} wreq;

static void conn_process(conn *c);
static void conn_close(conn *c);
static void request_release(conn *c);
static void reading_update(conn *c);

/* ---- helpers ---- */

static const char *date_header(berth_http_server *s) {
  static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t now = time(NULL);
  if (now != s->date_at || !s->date[0]) {
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(s->date, sizeof s->date, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    s->date_at = now;
  }
  return s->date;
}

/* A header from a handler that contains CR, LF or NUL would split the
 * response; such headers are dropped. */
static int header_safe(const berth_http_header *h, size_t *name_len, size_t *value_len) {
  if (!h->name || !h->value || !h->name[0]) return 0;
  const char *p;
  for (p = h->name; *p; p++)
    if (*p == '\r' || *p == '\n' || *p == ':' || *p == ' ') return 0;
  *name_len = (size_t)(p - h->name);
  for (p = h->value; *p; p++)
    if (*p == '\r' || *p == '\n') return 0;
  *value_len = (size_t)(p - h->value);
  return 1;
}

static int reserved_header(const char *name) {
  /* The first letter rules out most names without a strcasecmp. */
  switch (name[0] | 0x20) {
  case 'c': return !strcasecmp(name, "content-length") || !strcasecmp(name, "connection");
  case 'd': return !strcasecmp(name, "date");
  case 't': return !strcasecmp(name, "transfer-encoding");
  default: return 0;
  }
}

/* Appends "Content-Length: N\r\n" without printf (every answer has one). */
static void append_content_length(berth_buf *h, uint64_t n) {
  berth_buf_append(h, "Content-Length: ", 16);
  berth_buf_append_u64(h, n);
  berth_buf_append(h, "\r\n", 2);
}

static void timer_set(conn *c, int kind, uint64_t ms);

/* ---- writing ---- */

static void on_write(uv_write_t *w, int status) {
  wreq *r = (wreq *)w;
  conn *c = r->c;
  c->writes_pending--;
  c->bytes_pending -= r->len;
  free(r);
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (c->closing) return;
  if (c->need_drain && c->req_held && !c->resp_ended &&
      c->bytes_pending <= c->srv->cfg.max_stream_buffer / 2) {
    c->need_drain = 0;
    if (c->req.on_drain) c->req.on_drain(&c->req);
    if (c->closing) return;
  }
  if (c->writes_pending == 0 && c->resp_ended && c->phase == PH_HANDLER) request_release(c);
  else if (c->writes_pending == 0 && c->phase == PH_LINGER && c->timer_kind != T_LINGER) {
    /* The error answer is out: now half-close and wait for the peer. */
    timer_set(c, T_LINGER, LINGER_MS);
  }
}

/* Queues len bytes at base, which lie inside r, behind earlier writes; r
 * is freed when the write completes. Returns 0 or a negative libuv code
 * (the connection is then closing). */
static int queue_write(conn *c, wreq *r, char *base, size_t len) {
  r->c = c;
  r->len = len;
  uv_buf_t b = uv_buf_init(base, (unsigned)len);
  int rc = uv_write(&r->w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (rc < 0) {
    free(r);
    conn_close(c);
    return rc;
  }
  c->writes_pending++;
  c->bytes_pending += len;
  return 0;
}

/* Writes bytes in wire form: as much as the socket takes now, the rest
 * queued (copied). Returns 0 or a negative libuv code (the connection is
 * then closing). */
static int raw_write(conn *c, uv_buf_t *bufs, unsigned nbufs) {
  if (c->closing) return UV_EPIPE;
  size_t total = 0;
  for (unsigned i = 0; i < nbufs; i++) total += bufs[i].len;
  if (total == 0) return 0;
  size_t done = 0;
  if (c->writes_pending == 0) {
    int n = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
    if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS) {
      conn_close(c);
      return n;
    }
    if (n > 0) done = (size_t)n;
  }
  if (done == total) return 0;
  wreq *r = berth_xmalloc(sizeof *r + (total - done));
  size_t off = 0, skip = done;
  for (unsigned i = 0; i < nbufs; i++) {
    size_t l = bufs[i].len;
    if (skip >= l) {
      skip -= l;
      continue;
    }
    memcpy(r->data + off, bufs[i].base + skip, l - skip);
    off += l - skip;
    skip = 0;
  }
  return queue_write(c, r, r->data, total - done);
}

/* Sends the ciphertext the session produced, taken straight into the
 * write request that may have to hold it. */
static int tls_flush(conn *c) {
  if (c->closing) return UV_EPIPE;
  size_t n = berth_tls_out_pending(c->tls);
  if (n == 0) return 0;
  wreq *r = berth_xmalloc(sizeof *r + n);
  n = berth_tls_out_take(c->tls, r->data, n);
  size_t done = 0;
  if (c->writes_pending == 0) {
    uv_buf_t b = uv_buf_init(r->data, (unsigned)n);
    int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (w < 0 && w != UV_EAGAIN && w != UV_ENOSYS) {
      free(r);
      conn_close(c);
      return w;
    }
    if (w > 0) done = (size_t)w;
  }
  if (done == n) {
    free(r);
    return 0;
  }
  return queue_write(c, r, r->data + done, n - done);
}

/* A session that failed is useless: say why at debug (the message never
 * holds application bytes) and close; an alert waiting in the session goes
 * out with the close if the socket takes it. */
static void tls_failed(conn *c, const char *what) {
  berth_log(BERTH_LOG_DEBUG, "http: TLS %s with %s failed: %s", what, c->peer,
            berth_tls_error(c->tls));
  conn_close(c);
}

/* Writes plaintext bufs: encrypted on a TLS connection, as they are on a
 * plain one. Returns 0 or a negative libuv code (the connection is then
 * closing). */
static int conn_write(conn *c, uv_buf_t *bufs, unsigned nbufs) {
  if (!c->tls) return raw_write(c, bufs, nbufs);
  if (c->closing) return UV_EPIPE;
  size_t total = 0;
  for (unsigned i = 0; i < nbufs; i++) total += bufs[i].len;
  if (total == 0) return 0;
  int rc = 0;
  if (nbufs > 1 && total <= TLS_RECORD) {
    /* A chunk's size line, data and CRLF in one record, not three. */
    char *g = c->srv->tls_scratch;
    size_t off = 0;
    for (unsigned i = 0; i < nbufs; i++) {
      if (bufs[i].len) memcpy(g + off, bufs[i].base, bufs[i].len);
      off += bufs[i].len;
    }
    rc = berth_tls_write(c->tls, g, total);
  } else {
    for (unsigned i = 0; i < nbufs && rc == 0; i++)
      if (bufs[i].len) rc = berth_tls_write(c->tls, bufs[i].base, bufs[i].len);
  }
  if (rc < 0) {
    tls_failed(c, "write");
    return UV_EPROTO;
  }
  return tls_flush(c);
}

/* ---- closing and freeing ---- */

static void server_maybe_finish(berth_http_server *s) {
  if (!s->closing || !s->listener_closed || s->n_conns) return;
  void (*cb)(void *) = s->on_closed;
  void *ud = s->closed_ud;
  free(s);
  if (cb) cb(ud);
}

static void conn_maybe_free(conn *c) {
  if (c->open_handles || c->req_held) return;
  berth_http_server *s = c->srv;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->n_conns--;
  s->n_closing--;
  s->buffered -= c->reserved;
  berth_http_parser_free(c->parser);
  berth_tls_conn_free(c->tls);
  berth_buf_free(&c->inbuf);
  berth_buf_free(&c->body);
  free(c->path);
  free(c->query);
  free(c);
  server_maybe_finish(s);
}

static void on_handle_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->open_handles > 0) return;
  if (c->req_held && c->resp_ended) {
    /* The answer was complete but its writes were cancelled. */
    request_release(c);
    return;
  }
  /* Connection lost before the answer was complete. Without on_abort the
   * request stays held until the handler answers into the void. */
  if (c->req_held && c->req.on_abort) {
    c->req_held = 0;
    c->srv->inflight--;
    c->req.on_abort(&c->req);
  }
  conn_maybe_free(c);
}

/* Best effort: close_notify (or an alert the session holds) goes out only
 * when nothing is queued before it and the socket takes it now; a peer
 * that misses it sees a TCP close, which HTTP framing already covers. */
static void tls_goodbye(conn *c) {
  if (c->writes_pending) return;
  berth_tls_close_notify(c->tls);
  char b[512];
  size_t n = berth_tls_out_take(c->tls, b, sizeof b);
  if (n == 0) return;
  uv_buf_t ub = uv_buf_init(b, (unsigned)n);
  (void)uv_try_write((uv_stream_t *)&c->tcp, &ub, 1);
}

static void conn_close(conn *c) {
  if (c->closing) return;
  if (c->tls) tls_goodbye(c);
  c->closing = 1;
  c->srv->n_closing++;
  c->reading = 0;
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *r, int status) {
  (void)r;
  (void)status; /* the linger timer or EOF ends it either way */
}

/* Enters LINGER: after pending writes, FIN, then drop input until EOF. */
static void conn_linger(conn *c) {
  if (c->closing) return;
  c->phase = PH_LINGER;
  if (c->tls) {
    /* After the answer, before our FIN: the peer learns the end was ours. */
    berth_tls_close_notify(c->tls);
    if (tls_flush(c) < 0) return;
  }
  if (c->writes_pending == 0) timer_set(c, T_LINGER, LINGER_MS);
  else timer_set(c, T_NONE, 0);
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
    conn_close(c);
    return;
  }
  reading_update(c);
}

/* ---- timers ---- */

static void send_error(conn *c, int status, const char *message);

static void on_timer(uv_timer_t *t) {
  conn *c = t->data;
  int kind = c->timer_kind;
  c->timer_kind = T_NONE;
  switch (kind) {
  case T_HEADER:
    if (c->phase == PH_WAIT && c->inbuf.len == 0 && berth_http_parser_idle(c->parser)) {
      conn_close(c); /* connected but never spoke */
    } else {
      send_error(c, 408, "request head not received in time");
    }
    break;
  case T_BODY:
    send_error(c, 408, "request body not received in time");
    break;
  case T_IDLE:
  case T_LINGER:
    conn_close(c);
    break;
  default:
    break;
  }
}

static void timer_set(conn *c, int kind, uint64_t ms) {
  if (c->closing) return;
  c->timer_kind = kind;
  if (kind == T_NONE || ms == 0) {
    c->timer_kind = T_NONE;
    uv_timer_stop(&c->timer);
    return;
  }
  uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* ---- responses ---- */

static int conn_keeps_alive(conn *c) {
  return c->req_keep_alive && !c->close_after && !c->srv->closing;
}

void berth__http_response_head(berth_buf *h, int status, const char *date,
                               const berth_http_header *headers, size_t n_headers,
                               const char *conn_line) {
  /* Appends, not printf: this runs for every answer, and vfprintf's setup
   * cost more than the copying. */
  if (status >= 100 && status <= 999) {
    char line[] = "HTTP/1.1 000 ";
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    berth_buf_append(h, line, sizeof line - 1);
  } else {
    berth_buf_printf(h, "HTTP/1.1 %d ", status);
  }
  berth_buf_appends(h, berth_http_reason(status));
  berth_buf_append(h, "\r\nDate: ", 8);
  berth_buf_appends(h, date);
  berth_buf_append(h, "\r\n", 2);
  for (size_t i = 0; i < n_headers; i++) {
    size_t nl, vl;
    if (!header_safe(&headers[i], &nl, &vl) || reserved_header(headers[i].name)) continue;
    berth_buf_append(h, headers[i].name, nl);
    berth_buf_append(h, ": ", 2);
    berth_buf_append(h, headers[i].value, vl);
    berth_buf_append(h, "\r\n", 2);
  }
  if (conn_line) berth_buf_appends(h, conn_line);
}

static void build_head(conn *c, berth_buf *h, int status, const berth_http_header *headers,
                       size_t n_headers) {
  const char *conn_line = !conn_keeps_alive(c) ? "Connection: close\r\n"
                          : c->req_minor == 0  ? "Connection: keep-alive\r\n"
                                               : NULL;
  berth__http_response_head(h, status, date_header(c->srv), headers, n_headers, conn_line);
}

static void error_body(berth_http_server *s, int status, const char *message, berth_buf *body,
                       const char **ctype, const char **etype) {
  if (s->cfg.format_error) {
    s->cfg.format_error(status, message, body, ctype, etype, s->cfg.ud);
    return;
  }
  *ctype = "application/json";
  berth_buf_appends(body, "{\"message\": \"");
  for (const char *p = message; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch == '"' || ch == '\\') berth_buf_printf(body, "\\%c", ch);
    else if (ch < 0x20) berth_buf_printf(body, "\\u%04x", ch);
    else berth_buf_append(body, p, 1);
  }
  berth_buf_appends(body, "\"}");
}

/* An error the server raises itself; the connection closes after it. */
static void send_error(conn *c, int status, const char *message) {
  if (c->closing || c->phase == PH_LINGER) return;
  berth_buf body, head;
  berth_buf_init(&body, 0);
  berth_buf_init(&head, 0);
  const char *ctype = "text/plain", *etype = NULL;
  error_body(c->srv, status, message, &body, &ctype, &etype);
  c->close_after = 1;
  berth_http_header hs[2];
  size_t n = 0;
  hs[n].name = "Content-Type";
  hs[n++].value = ctype ? ctype : "text/plain";
  if (etype) {
    hs[n].name = "X-Amzn-ErrorType";
    hs[n++].value = etype;
  }
  c->req_keep_alive = 0;
  c->req_minor = 1;
  build_head(c, &head, status, hs, n);
  berth_buf_printf(&head, "Content-Length: %zu\r\n\r\n", body.len);
  uv_buf_t bufs[2] = {uv_buf_init(head.data, (unsigned)head.len),
                      uv_buf_init(body.data ? body.data : (char *)"", (unsigned)body.len)};
  int rc = conn_write(c, bufs, 2);
  berth_buf_free(&body);
  berth_buf_free(&head);
  if (rc == 0) conn_linger(c);
}

static berth_http_server *req_server(berth_http_req *req, conn **out) {
  conn *c = (conn *)((char *)req - offsetof(conn, req));
  *out = c;
  return c->srv;
}

void berth_http_respond(berth_http_req *req, int status, const berth_http_header *headers,
                        size_t n_headers, const void *body, size_t len) {
  conn *c;
  req_server(req, &c);
  if (!c->req_held || c->resp_started || c->resp_ended) return;
  c->resp_started = 1;
  c->resp_ended = 1;
  if (c->closing) {
    request_release(c);
    return;
  }
  int no_body = (status >= 100 && status < 200) || status == 204 || status == 304;
  berth_buf head;
  berth_buf_init(&head, 0);
  build_head(c, &head, status, headers, n_headers);
  if (!no_body) append_content_length(&head, len);
  berth_buf_appends(&head, "\r\n");
  uv_buf_t bufs[2] = {uv_buf_init(head.data, (unsigned)head.len),
                      uv_buf_init((char *)(body ? body : ""), (unsigned)len)};
  unsigned nb = (no_body || c->resp_no_body || !body || !len) ? 1 : 2;
  conn_write(c, bufs, nb);
  berth_buf_free(&head);
  if (c->closing) {
    request_release(c);
    return;
  }
  if (c->writes_pending == 0) request_release(c);
}

/* length < 0: chunked (or, for HTTP/1.0, ended by the close); with a
 * length, data[0..len) is the body's start, written with the head. */
static int stream_begin(berth_http_req *req, int status, const berth_http_header *headers,
                        size_t n_headers, int64_t length, const void *data, size_t len) {
  conn *c;
  req_server(req, &c);
  if (!c->req_held || c->resp_started) return -EINVAL;
  if (c->closing) return -EPIPE;
  c->resp_started = 1;
  /* HTTP/1.0 has no chunked coding: the body then ends when we close. */
  if (c->req_minor == 0 && length < 0) c->close_after = 1;
  c->resp_stream_chunked = c->req_minor >= 1 && length < 0;
  berth_buf head;
  berth_buf_init(&head, 0);
  build_head(c, &head, status, headers, n_headers);
  if (length >= 0 && !c->resp_no_body)
    append_content_length(&head, (uint64_t)length);
  else if (c->resp_stream_chunked && !c->resp_no_body)
    berth_buf_appends(&head, "Transfer-Encoding: chunked\r\n");
  berth_buf_appends(&head, "\r\n");
  if (length < 0 || c->resp_no_body || (uint64_t)len > (uint64_t)length) len = 0;
  uv_buf_t b[2] = {uv_buf_init(head.data, (unsigned)head.len),
                   uv_buf_init((char *)data, (unsigned)len)};
  int rc = conn_write(c, b, len ? 2 : 1);
  berth_buf_free(&head);
  return rc < 0 ? -EPIPE : 0;
}

int berth_http_stream_begin(berth_http_req *req, int status, const berth_http_header *headers,
                            size_t n_headers) {
  return stream_begin(req, status, headers, n_headers, -1, NULL, 0);
}

int berth_http_stream_begin_sized(berth_http_req *req, int status,
                                  const berth_http_header *headers, size_t n_headers,
                                  uint64_t length) {
  if (length > INT64_MAX) return -EINVAL;
  return stream_begin(req, status, headers, n_headers, (int64_t)length, NULL, 0);
}

int berth_http_stream_begin_sized_with(berth_http_req *req, int status,
                                       const berth_http_header *headers, size_t n_headers,
                                       uint64_t length, const void *data, size_t len) {
  if (length > INT64_MAX || len > length) return -EINVAL;
  return stream_begin(req, status, headers, n_headers, (int64_t)length, data, len);
}

static int stream_write(berth_http_req *req, const void *data, size_t len, int force) {
  conn *c;
  berth_http_server *s = req_server(req, &c);
  if (!c->req_held || !c->resp_started || c->resp_ended) return -EINVAL;
  if (c->closing) return -EPIPE;
  if (len == 0 || c->resp_no_body) return 0;
  if (c->bytes_pending > 0 && c->bytes_pending + len > s->cfg.max_stream_buffer) {
    if (force) {
      c->need_drain = 1; /* queued anyway; on_drain still says when to go on */
      goto queue;
    }
    c->need_drain = 1;
    return -ENOBUFS;
  }
queue:;
  char pre[24];
  int pn = 0;
  if (c->resp_stream_chunked) pn = snprintf(pre, sizeof pre, "%zx\r\n", len);
  uv_buf_t bufs[3] = {uv_buf_init(pre, (unsigned)pn), uv_buf_init((char *)data, (unsigned)len),
                      uv_buf_init((char *)"\r\n", c->resp_stream_chunked ? 2 : 0)};
  int rc = conn_write(c, bufs, 3);
  return rc < 0 ? -EPIPE : 0;
}

int berth_http_stream_write(berth_http_req *req, const void *data, size_t len) {
  return stream_write(req, data, len, 0);
}

int berth_http_stream_push(berth_http_req *req, const void *data, size_t len) {
  return stream_write(req, data, len, 1);
}

void berth_http_stream_abort(berth_http_req *req) {
  conn *c;
  req_server(req, &c);
  if (!c->req_held || c->resp_ended) return;
  /* Marked ended so that the close releases the request instead of calling
   * on_abort; the missing last chunk (or short body) tells the client the
   * answer is incomplete. */
  c->resp_ended = 1;
  c->close_after = 1;
  if (c->closing) {
    request_release(c);
    return;
  }
  conn_close(c);
}

void berth_http_stream_end(berth_http_req *req) {
  conn *c;
  req_server(req, &c);
  if (!c->req_held || c->resp_ended) return;
  c->resp_ended = 1;
  if (!c->closing && c->resp_started && c->resp_stream_chunked && !c->resp_no_body) {
    uv_buf_t b = uv_buf_init((char *)"0\r\n\r\n", 5);
    conn_write(c, &b, 1);
  }
  if (c->closing || c->writes_pending == 0) request_release(c);
}

const char *berth_http_req_header(const berth_http_req *req, const char *lname) {
  /* The router looks up about ten names per request among about ten
   * headers: comparing the first letter first skips most strcasecmp calls. */
  int first = lname[0] >= 'A' && lname[0] <= 'Z' ? lname[0] + 32 : lname[0];
  for (size_t i = 0; i < req->n_headers; i++) {
    const char *name = req->headers[i].name;
    int c = name[0] >= 'A' && name[0] <= 'Z' ? name[0] + 32 : name[0];
    if (c == first && !strcasecmp(name, lname)) return req->headers[i].value;
  }
  return NULL;
}

/* ---- reading and dispatch ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  conn *c = h->data;
  *b = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);

static void reading_update(conn *c) {
  if (c->closing) return;
  /* Ciphertext not yet decrypted has its own bound, so that a partial
   * record waiting for its tail can never stop reading. */
  int want = c->phase == PH_LINGER ||
             (c->inbuf.len < PIPELINE_MAX &&
              (!c->tls || berth_tls_in_pending(c->tls) < PIPELINE_MAX));
  if (want && !c->reading) {
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

/* Ends the current request once its answer is written (or the connection
 * is gone), then reads the next one or closes. */
static void request_release(conn *c) {
  if (!c->req_held) return;
  c->req_held = 0;
  c->srv->inflight--;
  free(c->path);
  free(c->query);
  c->path = c->query = NULL;
  /* An idle keep-alive connection keeps no body buffer. */
  berth_buf_free(&c->body);
  c->srv->buffered -= c->reserved;
  c->reserved = 0;
  if (c->closing) {
    conn_maybe_free(c);
    return;
  }
  int keep = conn_keeps_alive(c);
  c->phase = PH_WAIT;
  c->msg_complete = 0;
  c->resp_started = c->resp_ended = 0;
  c->need_drain = 0;
  if (!keep) {
    conn_linger(c);
    reading_update(c);
    return;
  }
  timer_set(c, T_IDLE, c->srv->cfg.idle_timeout_ms);
  reading_update(c);
  conn_process(c);
}

/* Counts n more body bytes against the listener's max_buffered_bytes; past
 * it the request is refused with 503 (the client may retry) rather than
 * letting many large bodies exhaust memory together. */
static int reserve(conn *c, uint64_t n) {
  berth_http_server *s = c->srv;
  if (s->cfg.max_buffered_bytes && s->buffered + n > s->cfg.max_buffered_bytes) {
    c->refuse_status = 503;
    c->refuse_message = "too many request bodies are being received at once (the server's "
                        "limit on buffered request bytes); retry shortly";
    return -1;
  }
  s->buffered += n;
  c->reserved += n;
  return 0;
}

static int p_on_head(void *ud, const berth_http_head *h) {
  conn *c = ud;
  c->phase = PH_BODY;
  /* One deadline for the whole body, not per read: a body trickled a byte
   * at a time must not hold its buffer for ever. */
  timer_set(c, T_BODY, c->srv->cfg.body_timeout_ms);
  c->req_minor = h->version_minor;
  c->req_keep_alive = h->keep_alive;
  c->resp_no_body = !strcmp(h->method, "HEAD");
  c->req.start_ms = uv_now(c->srv->loop);
  /* The parser keeps the head until its next execute, which only happens
   * after this request is released: the pointers stay valid meanwhile. */
  c->req.method = h->method;
  c->req.target = h->target;
  c->req.headers = h->headers;
  c->req.n_headers = h->n_headers;
  /* RFC 9112 3.2.2: a server must accept the absolute form
   * ("http://host/path"); its path is what follows the authority. */
  const char *t = h->target;
  if (!strncasecmp(t, "http://", 7) || !strncasecmp(t, "https://", 8)) {
    t = strchr(t, ':') + 3;
    t += strcspn(t, "/?");
  }
  const char *q = strchr(t, '?');
  free(c->path);
  free(c->query);
  c->path = q ? berth_xstrndup(t, (size_t)(q - t)) : berth_xstrdup(t[0] ? t : "/");
  c->query = berth_xstrdup(q ? q + 1 : "");
  c->req.path = c->path;
  c->req.query = c->query;
  if (h->content_length > 0 && reserve(c, (uint64_t)h->content_length) < 0) return 1;
  if (h->expect_continue && (h->chunked || h->content_length > 0)) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
    conn_write(c, &b, 1);
  }
  return 0;
}

static int p_on_body(void *ud, const char *data, size_t len) {
  conn *c = ud;
  /* A chunked body reserves as it grows. */
  if (c->body.len + len > c->reserved && reserve(c, c->body.len + len - c->reserved) < 0) return 1;
  /* The parser enforces max_body_bytes; the buffer is bounded by it too. */
  return berth_buf_append(&c->body, data, len) < 0;
}

static int p_on_complete(void *ud) {
  conn *c = ud;
  c->msg_complete = 1;
  return 0;
}

static void dispatch(conn *c) {
  berth_http_server *s = c->srv;
  timer_set(c, T_NONE, 0);
  c->phase = PH_HANDLER;
  c->req_held = 1;
  c->resp_started = c->resp_ended = 0;
  s->inflight++;
  if (!c->body.data) berth_buf_append(&c->body, "", 0);
  c->req.body = c->body.data;
  c->req.body_len = c->body.len;
  c->req.user = NULL;
  c->req.on_abort = NULL;
  c->req.on_drain = NULL;
  s->cfg.handler(&c->req, s->cfg.ud);
}

static int map_parser_error(ssize_t rc) {
  switch (rc) {
  case BERTH_HTTP_E_HEAD_TOO_LARGE: return 431;
  case BERTH_HTTP_E_BODY_TOO_LARGE: return 413;
  case BERTH_HTTP_E_NOT_IMPLEMENTED: return 501;
  case BERTH_HTTP_E_VERSION: return 505;
  default: return 400;
  }
}

/* Decrypts fed ciphertext into inbuf until PIPELINE_MAX (the rest waits
 * in the session). Returns 0, or -1 when the connection is closing: a TLS
 * error, or the peer's close_notify, which counts as EOF. */
static int tls_fill(conn *c) {
  if (!berth_tls_established(c->tls)) return 0;
  while (c->inbuf.len < PIPELINE_MAX) {
    ssize_t n = berth_tls_read(c->tls, c->srv->tls_scratch, sizeof c->srv->tls_scratch);
    if (n == 0) break;
    if (n == BERTH_TLS_CLOSED) {
      conn_close(c);
      return -1;
    }
    if (n < 0) {
      tls_failed(c, "read");
      return -1;
    }
    c->spoke = 1;
    /* Bounded by PIPELINE_MAX + TLS_RECORD: the loop stops past PIPELINE_MAX. */
    berth_buf_append(&c->inbuf, c->srv->tls_scratch, (size_t)n);
  }
  /* Reading may make the session answer (a TLS 1.3 KeyUpdate). */
  if (berth_tls_out_pending(c->tls) && tls_flush(c) < 0) return -1;
  return 0;
}

/* Parses buffered input until a request is dispatched or input runs out.
 * Re-entrant calls (a handler answering synchronously) return at once: the
 * outer loop picks up where they would have. */
static void conn_process(conn *c) {
  if (c->in_process) return;
  c->in_process = 1;
  while (!c->closing && c->phase != PH_HANDLER && c->phase != PH_LINGER) {
    if (c->tls && tls_fill(c) < 0) break;
    if (!c->inbuf.len) break;
    if (c->srv->closing && c->phase == PH_WAIT && berth_http_parser_idle(c->parser)) break;
    ssize_t n = berth_http_parser_execute(c->parser, c->inbuf.data, c->inbuf.len);
    if (n < 0) {
      berth_buf_reset(&c->inbuf);
      if (n == BERTH_HTTP_E_PAUSED && c->refuse_status)
        send_error(c, c->refuse_status, c->refuse_message);
      else
        send_error(c, map_parser_error(n), berth_http_parser_error(c->parser));
      break;
    }
    berth_buf_consume(&c->inbuf, (size_t)n);
    if (c->phase == PH_WAIT && !berth_http_parser_idle(c->parser)) {
      c->phase = PH_HEAD;
      if (c->timer_kind != T_HEADER) timer_set(c, T_HEADER, c->srv->cfg.header_timeout_ms);
    }
    if (c->msg_complete && !c->closing) {
      c->msg_complete = 0;
      dispatch(c);
    }
  }
  c->in_process = 0;
  if (!c->closing && c->srv->closing && c->phase == PH_WAIT && !c->req_held) conn_close(c);
  reading_update(c);
}

/* Ciphertext arrived: advance the handshake, or let conn_process decrypt. */
static void tls_input(conn *c, const char *data, size_t len) {
  berth_tls_feed(c->tls, data, len);
  if (!berth_tls_established(c->tls)) {
    int h = berth_tls_handshake(c->tls);
    if (h < 0) {
      tls_failed(c, "handshake");
      return;
    }
    if (tls_flush(c) < 0 || h == 0) return;
  }
  conn_process(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
  conn *c = st->data;
  if (nread == 0 || c->closing) return;
  if (nread < 0) {
    /* EOF or error. With a request pending this is a lost client (on_abort
     * from the close callback); otherwise just close. */
    conn_close(c);
    return;
  }
  if (c->phase == PH_LINGER) return; /* discard */
  int first = !c->read_any;
  c->read_any = 1;
  if (c->tls && first && c->srv->cfg.plain_from_loopback && b->base[0] != 0x16 &&
      (strncmp(c->peer, "127.", 4) == 0 || strncmp(c->peer, "[::1]", 5) == 0 ||
       strncmp(c->peer, "::1", 3) == 0 || strncmp(c->peer, "[::ffff:127.", 12) == 0 ||
       strncmp(c->peer, "::ffff:127.", 11) == 0)) {
    /* Not a TLS handshake (records start with 22), from this host: plain
     * HTTP, for the roles of one berthd (loopback never leaves the host). */
    berth_tls_conn_free(c->tls);
    c->tls = NULL;
  }
  if (c->tls) {
    tls_input(c, b->base, (size_t)nread);
    return;
  }
  c->spoke = 1;
  /* Bounded by PIPELINE_MAX + READ_CHUNK: reading stops past PIPELINE_MAX. */
  berth_buf_append(&c->inbuf, b->base, (size_t)nread);
  conn_process(c);
}

/* The connection to close to make room: one waiting for its first or next
 * request (never one being answered), from peer_ip when given. Connections
 * that never sent a byte go first (they cost a descriptor and nothing else
 * to their owner), then the longest idle. NULL when none qualifies. */
static conn *eviction_victim(berth_http_server *s, const char *peer_ip) {
  conn *best = NULL;
  for (conn *c = s->conns; c; c = c->next) {
    if (c->closing || c->req_held || c->phase != PH_WAIT || c->inbuf.len) continue;
    if (peer_ip && strcmp(c->peer_ip, peer_ip)) continue;
    if (!best || (!c->spoke && best->spoke) ||
        (c->spoke == best->spoke && c->accept_seq < best->accept_seq))
      best = c;
  }
  return best;
}

static size_t peer_connections(berth_http_server *s, const char *peer_ip) {
  size_t n = 0;
  for (conn *c = s->conns; c; c = c->next) n += !c->closing && !strcmp(c->peer_ip, peer_ip);
  return n;
}

static void peer_name(conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return;
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, c->peer_ip, sizeof c->peer_ip);
    snprintf(c->peer, sizeof c->peer, "[%s]:%d", c->peer_ip, ntohs(a->sin6_port));
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    uv_ip4_name(a, c->peer_ip, sizeof c->peer_ip);
    snprintf(c->peer, sizeof c->peer, "%s:%d", c->peer_ip, ntohs(a->sin_port));
  }
}

static void on_connection(uv_stream_t *ls, int status) {
  berth_http_server *s = ls->data;
  if (s->closing) return;
  if (status == UV_EMFILE || status == UV_ENFILE) {
    /* Out of descriptors: free one so the next accept succeeds. */
    conn *v = eviction_victim(s, NULL);
    if (v) conn_close(v);
    return;
  }
  if (status < 0) return;
  conn *c = berth_xcalloc(1, sizeof *c);
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  c->accept_seq = ++s->accepted;
  berth_buf_init(&c->inbuf, PIPELINE_MAX + READ_CHUNK);
  berth_buf_init(&c->body, s->cfg.max_body_bytes ? (size_t)s->cfg.max_body_bytes + 1 : 0);
  berth_http_limits lim = {s->cfg.max_head_bytes, 100, s->cfg.max_body_bytes};
  static const berth_http_parser_cb pcb = {p_on_head, p_on_body, p_on_complete};
  c->parser = berth_http_parser_new(BERTH_HTTP_REQUEST, &lim, &pcb, c);
  c->req.peer = c->peer;
  int accepted = uv_accept(ls, (uv_stream_t *)&c->tcp) == 0;
  if (accepted) peer_name(c);
  /* Past a limit, an idle connection makes room for the new one: a flood
   * of silent connections then costs its sender its oldest ones instead of
   * locking out everyone else. */
  if (accepted && s->cfg.max_connections_per_peer &&
      peer_connections(s, c->peer_ip) >= s->cfg.max_connections_per_peer) {
    conn *v = eviction_victim(s, c->peer_ip);
    if (v) conn_close(v);
    else accepted = 0;
  }
  if (accepted && s->n_conns - s->n_closing >= s->cfg.max_connections) {
    conn *v = eviction_victim(s, NULL);
    if (v) conn_close(v);
    else accepted = 0;
  }
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->n_conns++;
  if (!accepted) {
    conn_close(c);
    return;
  }
  if (s->cfg.tls) {
    c->tls = berth_tls_conn_server(s->cfg.tls);
    if (!c->tls) {
      conn_close(c);
      return;
    }
  }
  uv_tcp_nodelay(&c->tcp, 1);
  c->phase = PH_WAIT;
  /* On TLS this bounds the handshake and the head together. */
  timer_set(c, T_HEADER, s->cfg.header_timeout_ms);
  reading_update(c);
}

static void on_failed_listener_closed(uv_handle_t *h) {
  free(h->data);
}

int berth_http_server_listen(uv_loop_t *loop, const char *host, int port,
                             const berth_http_server_config *cfg, berth_http_server **out) {
  if (!cfg || !cfg->handler || port < 0 || port > 65535) return -EINVAL;
  struct sockaddr_storage addr;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0)
    return -EINVAL;
  berth_http_server *s = berth_xcalloc(1, sizeof *s);
  s->loop = loop;
  s->cfg = *cfg;
  if (!s->cfg.max_head_bytes) s->cfg.max_head_bytes = 16384;
  if (!s->cfg.max_body_bytes) s->cfg.max_body_bytes = 6291456;
  if (!s->cfg.header_timeout_ms) s->cfg.header_timeout_ms = 10000;
  if (!s->cfg.idle_timeout_ms) s->cfg.idle_timeout_ms = 60000;
  if (!s->cfg.max_connections) s->cfg.max_connections = 4096;
  if (!s->cfg.max_stream_buffer) s->cfg.max_stream_buffer = 4 << 20;
  if (!s->cfg.body_timeout_ms) s->cfg.body_timeout_ms = 60000;
  /* With reuse_port the socket is made now, so the option is set before
   * bind (this libuv has no flag for it). */
  int rc = uv_tcp_init_ex(loop, &s->listener, cfg->reuse_port ? addr.ss_family : AF_UNSPEC);
  if (rc < 0) {
    free(s);
    return rc;
  }
  s->listener.data = s;
  if (cfg->reuse_port) {
    uv_os_fd_t fd;
    int one = 1;
    rc = uv_fileno((uv_handle_t *)&s->listener, &fd);
    if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) rc = -errno;
  }
  if (rc == 0) rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
  if (rc < 0) {
    /* The handle is initialised: it must be closed, and s freed after. */
    uv_close((uv_handle_t *)&s->listener, on_failed_listener_closed);
    return rc;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
  s->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  *out = s;
  return 0;
}

int berth_http_server_port(const berth_http_server *s) {
  return s->port;
}

size_t berth_http_server_inflight(const berth_http_server *s) {
  return s->inflight;
}

static void on_listener_closed(uv_handle_t *h) {
  berth_http_server *s = h->data;
  s->listener_closed = 1;
  server_maybe_finish(s);
}

void berth_http_server_close(berth_http_server *s, void (*on_closed)(void *ud), void *ud) {
  if (s->closing) return;
  s->closing = 1;
  s->on_closed = on_closed;
  s->closed_ud = ud;
  for (conn *c = s->conns, *next; c; c = next) {
    next = c->next;
    if (c->phase == PH_HANDLER) continue; /* closes after its answer */
    if (c->phase == PH_LINGER) continue;  /* already on its way out */
    conn_close(c);
  }
  uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

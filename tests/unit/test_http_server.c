/* test_http_server: the server and the client against each other on one
 * loop, plus a raw TCP client for what berth_http_client cannot send (slow
 * heads, pipelining, Expect). Nothing sleeps: the loop runs until a
 * condition holds or a deadline passes. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "berth/buf.h"
#include "berth/http_client.h"
#include "berth/http_server.h"
#include "check.h"
#include "big_stream.h"
#include "loop_wait.h"
#include "raw_client.h"

/* ---- driving the loop ---- */

static int run_until(const int *flag, uint64_t ms) {
  return WAIT(*flag, ms);
}

/* Runs the loop for ms (to let a peer's bytes or an order of events land). */
static void run_for(uint64_t ms) {
  int never = 0;
  run_until(&never, ms);
}

/* ---- the server's handler ---- */

static int aborts;
static int handled;

typedef struct pending {
  uv_timer_t timer;
  berth_http_req *req;
  int step;
} pending;

static void on_pending_closed(uv_handle_t *h) {
  free(h->data);
}

static void on_req_abort(berth_http_req *req) {
  pending *p = req->user;
  aborts++;
  if (p) {
    p->req = NULL;
    uv_close((uv_handle_t *)&p->timer, on_pending_closed);
  }
}

static void on_slow_timer(uv_timer_t *t) {
  pending *p = t->data;
  berth_http_req *req = p->req;
  if (!req) return;
  if (p->step == -1) { /* /slow: one answer */
    berth_http_respond(req, 200, NULL, 0, "slow", 4);
    uv_close((uv_handle_t *)&p->timer, on_pending_closed);
    return;
  }
  static const char *parts[] = {"one", "two", "three"};
  if (p->step < 3) {
    CHECK_INT(berth_http_stream_write(req, parts[p->step], strlen(parts[p->step])), 0);
    p->step++;
    uv_timer_start(&p->timer, on_slow_timer, 5, 0);
    return;
  }
  berth_http_stream_end(req);
  uv_close((uv_handle_t *)&p->timer, on_pending_closed);
}

static pending *pending_new(berth_http_req *req, int step, uint64_t ms) {
  pending *p = berth_xcalloc(1, sizeof *p);
  p->req = req;
  p->step = step;
  uv_timer_init(&loop, &p->timer);
  p->timer.data = p;
  req->user = p;
  req->on_abort = on_req_abort;
  if (ms) uv_timer_start(&p->timer, on_slow_timer, ms, 0);
  return p;
}

static void handler(berth_http_req *req, void *ud) {
  (void)ud;
  handled++;
  if (!strcmp(req->path, "/echo")) {
    berth_buf b;
    berth_buf_init(&b, 0);
    berth_buf_printf(&b, "%s:%s:%s", req->method, req->query, req->body);
    berth_http_header h[] = {{"Content-Type", "text/plain"}, {"X-Bad", "a\r\nInjected: 1"}};
    berth_http_respond(req, 200, h, 2, b.data, b.len);
    berth_buf_free(&b);
  } else if (!strcmp(req->path, "/peer")) {
    berth_http_respond(req, 200, NULL, 0, req->peer, strlen(req->peer));
  } else if (!strcmp(req->path, "/slow")) {
    pending_new(req, -1, 200);
  } else if (!strcmp(req->path, "/stream")) {
    CHECK_INT(berth_http_stream_begin(req, 200, NULL, 0), 0);
    pending_new(req, 0, 1);
  } else if (!strcmp(req->path, "/hang")) {
    pending_new(req, -1, 0);
  } else if (!strcmp(req->path, "/big")) {
    big_sent = 0;
    req->on_drain = big_pump;
    CHECK_INT(berth_http_stream_begin(req, 200, NULL, 0), 0);
    big_pump(req);
  } else if (!strcmp(req->path, "/cut")) {
    CHECK_INT(berth_http_stream_begin(req, 200, NULL, 0), 0);
    CHECK_INT(berth_http_stream_write(req, "part", 4), 0);
    berth_http_stream_abort(req);
  } else if (!strcmp(req->path, "/nocontent")) {
    berth_http_respond(req, 204, NULL, 0, NULL, 0);
  } else {
    berth_http_respond(req, 404, NULL, 0, "nope", 4);
  }
}

/* ---- a client call collecting its result ---- */

typedef struct result {
  int done;
  int status;   /* on_done's */
  int http;     /* response status */
  int n_body;   /* on_body calls */
  int done_sync;
  int delivered; /* berth_http_call_delivered during on_done */
  berth_buf body;
  char hdr[128];
} result;

static void r_head(berth_http_call *c, int status, const berth_http_header *h, size_t n, void *ud) {
  (void)c;
  result *r = ud;
  r->http = status;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(h[i].name, "x-bad") || !strcmp(h[i].name, "injected"))
      snprintf(r->hdr, sizeof r->hdr, "%s", h[i].name);
}
static void r_body(berth_http_call *c, const char *d, size_t n, void *ud) {
  (void)c;
  result *r = ud;
  r->n_body++;
  berth_buf_append(&r->body, d, n);
}
static void r_done(berth_http_call *c, int status, void *ud) {
  result *r = ud;
  r->delivered = berth_http_call_delivered(c);
  r->done = 1;
  r->status = status;
}
static const berth_http_call_cb rcb = {r_head, r_body, r_done};

static berth_http_call *call(berth_http_client *cl, int port, const char *method,
                             const char *target, const char *body, uint64_t timeout,
                             const berth_http_header *h, size_t nh, result *r) {
  memset(r, 0, sizeof *r);
  berth_buf_init(&r->body, 0);
  berth_http_request_opts o = {.host = "127.0.0.1", .port = port, .method = method,
                               .target = target, .headers = h, .n_headers = nh, .body = body,
                               .body_len = body ? strlen(body) : 0, .timeout_ms = timeout};
  berth_http_call *c = NULL;
  int rc = berth_http_request(cl, &o, &rcb, r, &c);
  CHECK_INT(rc, 0);
  return c;
}

/* ---- raw TCP client ---- */

static void raw_open(raw *r, int port) {
  raw_start(r, &loop, port);
  run_until(&r->connected, 2000);
}
static void raw_sends(raw *r, const char *s) { raw_send(r, s, strlen(s)); }
static void raw_close(raw *r) {
  raw_end(r);
  run_until(&r->closed, 2000);
  berth_buf_free(&r->in);
}
static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; p && (p = strstr(p, needle)) != NULL; p++) n++;
  return n;
}

/* ---- a misbehaving server: answers keep-alive, then closes anyway ---- */

typedef struct flaky_conn {
  uv_tcp_t tcp;
  uv_write_t w;
  berth_buf in;
} flaky_conn;

static uv_tcp_t flaky;
static int flaky_accepts;

static void flaky_closed(uv_handle_t *h) {
  flaky_conn *f = h->data;
  berth_buf_free(&f->in);
  free(f);
}
static void flaky_written(uv_write_t *w, int status) {
  (void)status;
  flaky_conn *f = w->data;
  uv_close((uv_handle_t *)&f->tcp, flaky_closed);
}
static void flaky_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  flaky_conn *f = s->data;
  if (n > 0) berth_buf_append(&f->in, b->base, (size_t)n);
  free(b->base);
  if (n < 0) {
    uv_close((uv_handle_t *)&f->tcp, flaky_closed);
    return;
  }
  if (f->in.data && strstr(f->in.data, "\r\n\r\n")) {
    static char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    uv_buf_t ob = uv_buf_init(resp, sizeof resp - 1);
    uv_read_stop(s);
    f->w.data = f;
    uv_write(&f->w, s, &ob, 1, flaky_written);
  }
}
static void flaky_accept(uv_stream_t *ls, int status) {
  if (status < 0) return;
  flaky_conn *f = berth_xcalloc(1, sizeof *f);
  berth_buf_init(&f->in, 0);
  uv_tcp_init(&loop, &f->tcp);
  f->tcp.data = f;
  if (uv_accept(ls, (uv_stream_t *)&f->tcp) == 0) {
    flaky_accepts++;
    uv_read_start((uv_stream_t *)&f->tcp, raw_alloc, flaky_read);
  } else {
    uv_close((uv_handle_t *)&f->tcp, flaky_closed);
  }
}

/* The second call starts from the first one's on_done, when the pooled
 * connection is back in the pool but its EOF is not read yet: it fails
 * before any byte and must be retried on a new connection. */
static berth_http_client *chain_cl;
static int chain_port;
static result chain2;
static void chain_done(berth_http_call *c, int status, void *ud) {
  r_done(c, status, ud);
  berth_http_request_opts o = {.host = "127.0.0.1", .port = chain_port, .method = "GET",
                               .target = "/again", .timeout_ms = 2000};
  memset(&chain2, 0, sizeof chain2);
  berth_buf_init(&chain2.body, 0);
  CHECK_INT(berth_http_request(chain_cl, &o, &rcb, &chain2, NULL), 0);
}

/* ---- tests ---- */

static int closed_flag;
static void on_closed(void *ud) {
  (void)ud;
  closed_flag = 1;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&loop);
  uv_timer_init(&loop, &deadline);
  berth_http_server_config cfg = {0};
  cfg.handler = handler;
  cfg.max_body_bytes = 1024;
  cfg.header_timeout_ms = 300;
  cfg.idle_timeout_ms = 5000;
  cfg.max_stream_buffer = 64 << 10;
  berth_http_server *srv = NULL;
  CHECK_INT(berth_http_server_listen(&loop, "127.0.0.1", 0, &cfg, &srv), 0);
  int port = berth_http_server_port(srv);
  CHECK(port > 0);
  berth_http_client *cl = berth_http_client_new(&loop, 4);
  result r, r2;

  /* GET and POST round trips; an unsafe handler header is dropped. */
  call(cl, port, "GET", "/echo?x=1", NULL, 2000, NULL, 0, &r);
  CHECK(run_until(&r.done, 2000));
  CHECK_INT(r.status, 0);
  CHECK_INT(r.http, 200);
  CHECK_STR(r.body.data, "GET:x=1:");
  CHECK_STR(r.hdr, "");
  berth_buf_free(&r.body);

  call(cl, port, "POST", "/echo", "hello", 2000, NULL, 0, &r);
  CHECK(run_until(&r.done, 2000));
  CHECK_INT(r.status, 0);
  CHECK_STR(r.body.data, "POST::hello");
  berth_buf_free(&r.body);

  /* 204: no body, and the connection stays usable. */
  call(cl, port, "GET", "/nocontent", NULL, 2000, NULL, 0, &r);
  CHECK(run_until(&r.done, 2000));
  CHECK_INT(r.status, 0);
  CHECK_INT(r.http, 204);
  berth_buf_free(&r.body);

  /* Keep-alive: two calls in a row use one connection (same peer port). */
  call(cl, port, "GET", "/peer", NULL, 2000, NULL, 0, &r);
  CHECK(run_until(&r.done, 2000));
  call(cl, port, "GET", "/peer", NULL, 2000, NULL, 0, &r2);
  CHECK(run_until(&r2.done, 2000));
  CHECK(r.body.len > 10);
  CHECK_STR(r.body.data, r2.body.data);
  CHECK(strncmp(r.body.data ? r.body.data : "", "127.0.0.1:", 10) == 0);
  berth_buf_free(&r.body);
  berth_buf_free(&r2.body);

  /* HEAD: a Content-Length but no body, and the connection is reused. */
  call(cl, port, "HEAD", "/echo", NULL, 2000, NULL, 0, &r);
  CHECK(run_until(&r.done, 2000));
  CHECK_INT(r.status, 0);
  CHECK_INT(r.http, 200);
  CHECK_INT(r.body.len, 0);
  berth_buf_free(&r.body);
  call(cl, port, "GET", "/peer", NULL, 2000, NULL, 0, &r2);
  CHECK(run_until(&r2.done, 2000));
  CHECK_INT(r2.status, 0);
  berth_buf_free(&r2.body);

  /* Backpressure: a slow-to-read stream gets -ENOBUFS and on_drain, and
   * every byte arrives. */
  call(cl, port, "GET", "/big", NULL, 5000, NULL, 0, &r);
  CHECK(run_until(&r.done, 10000));
  CHECK_INT(r.status, 0);
  CHECK_INT(r.body.len, BIG_TOTAL);
  CHECK(enobufs_seen > 0);
  berth_buf_free(&r.body);

  /* Streaming: the client sees the chunks one by one. */
  call(cl, port, "GET", "/stream", NULL, 2000, NULL, 0, &r);
  CHECK(run_until(&r.done, 2000));
  CHECK_INT(r.status, 0);
  CHECK_STR(r.body.data, "onetwothree");
  CHECK_INT(r.n_body, 3);
  berth_buf_free(&r.body);

  /* 413 for a body over the limit. */
  {
    char big[2001];
    memset(big, 'x', 2000);
    big[2000] = '\0';
    call(cl, port, "POST", "/echo", big, 2000, NULL, 0, &r);
    CHECK(run_until(&r.done, 2000));
    CHECK_INT(r.http, 413);
    CHECK(r.body.data && strstr(r.body.data, "\"message\""));
    berth_buf_free(&r.body);
  }

  /* 431 for a head over the limit. */
  {
    char *v = malloc(20001);
    memset(v, 'a', 20000);
    v[20000] = '\0';
    berth_http_header h = {"X-Big", v};
    call(cl, port, "GET", "/echo", NULL, 2000, &h, 1, &r);
    CHECK(run_until(&r.done, 2000));
    CHECK_INT(r.http, 431);
    berth_buf_free(&r.body);
    free(v);
  }

  /* Client timeout: the server takes 200 ms, the client waits 50. */
  call(cl, port, "GET", "/slow", NULL, 50, NULL, 0, &r);
  CHECK(run_until(&r.done, 2000));
  CHECK_INT(r.status, UV_ETIMEDOUT);
  berth_buf_free(&r.body);
  CHECK(WAIT(aborts == 1, 2000));

  /* Cancel: on_done comes later from the loop, with UV_ECANCELED; the
   * server sees the client go away (on_abort). */
  {
    int before = aborts;
    berth_http_call *c = call(cl, port, "GET", "/hang", NULL, 2000, NULL, 0, &r);
    int seen_handled = handled;
    CHECK(WAIT(handled > seen_handled, 2000));
    berth_http_call_cancel(c);
    CHECK_INT(r.done, 0);
    CHECK(run_until(&r.done, 2000));
    CHECK_INT(r.status, UV_ECANCELED);
    berth_buf_free(&r.body);
    CHECK(WAIT(aborts == before + 1, 2000));
    CHECK_INT(berth_http_server_inflight(srv), 0);
  }

  /* Connection refused. */
  {
    berth_http_server_config c2 = cfg;
    berth_http_server *tmp = NULL;
    CHECK_INT(berth_http_server_listen(&loop, "127.0.0.1", 0, &c2, &tmp), 0);
    int dead = berth_http_server_port(tmp);
    closed_flag = 0;
    berth_http_server_close(tmp, on_closed, NULL);
    CHECK(run_until(&closed_flag, 2000));
    call(cl, dead, "POST", "/", "x", 2000, NULL, 0, &r);
    CHECK(run_until(&r.done, 2000));
    CHECK_INT(r.status, UV_ECONNREFUSED);
    CHECK_INT(r.delivered, 0); /* never reached a server: safe to send elsewhere */
    berth_buf_free(&r.body);
  }

  /* A request the server read and never answered may have been acted on. */
  call(cl, port, "POST", "/hang", "x", 300, NULL, 0, &r);
  CHECK(run_until(&r.done, 3000));
  CHECK_INT(r.status, UV_ETIMEDOUT);
  CHECK_INT(r.delivered, 1);
  berth_buf_free(&r.body);

  /* Raw: header timeout gives 408 and a close. */
  {
    raw w;
    raw_open(&w, port);
    raw_sends(&w, "GET /echo HTTP/1.1\r\nHost: x\r\n");
    CHECK(run_until(&w.eof, 3000));
    CHECK(w.in.data && strncmp(w.in.data, "HTTP/1.1 408 ", 13) == 0);
    CHECK(w.in.data && strstr(w.in.data, "Connection: close\r\n"));
    raw_close(&w);
  }

  /* Raw: pipelined requests are answered in order, one at a time. */
  {
    raw w;
    raw_open(&w, port);
    raw_sends(&w, "GET /echo?a HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /echo?b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
                 "GET /echo?c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(run_until(&w.eof, 3000));
    const char *s = w.in.data ? w.in.data : "";
    CHECK_INT(count(s, "HTTP/1.1 200 OK"), 3);
    const char *a = strstr(s, "GET:a:"), *b = strstr(s, "POST:b:xyz"), *c = strstr(s, "GET:c:");
    CHECK(a && b && c && a < b && b < c);
    raw_close(&w);
  }

  /* Raw: Expect: 100-continue, then the body, then the answer. */
  {
    raw w;
    raw_open(&w, port);
    raw_sends(&w, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    CHECK(WAIT(w.in.data && strstr(w.in.data, "HTTP/1.1 100 Continue\r\n\r\n"), 2000));
    CHECK(!strstr(w.in.data ? w.in.data : "", "POST::"));
    raw_sends(&w, "ok");
    CHECK(WAIT(w.in.data && strstr(w.in.data, "POST::ok"), 2000));
    raw_close(&w);
  }

  /* Raw: smuggling attempt is a 400 and a close. */
  {
    raw w;
    raw_open(&w, port);
    raw_sends(&w, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    CHECK(run_until(&w.eof, 3000));
    CHECK(w.in.data && strncmp(w.in.data, "HTTP/1.1 400 ", 13) == 0);
    raw_close(&w);
  }

  /* Graceful close: an in-flight request still gets its answer. */
  call(cl, port, "GET", "/slow", NULL, 5000, NULL, 0, &r);
  CHECK(WAIT(berth_http_server_inflight(srv) == 1, 2000));
  closed_flag = 0;
  berth_http_server_close(srv, on_closed, NULL);
  CHECK(run_until(&r.done, 3000));
  CHECK_INT(r.status, 0);
  CHECK_INT(r.http, 200);
  CHECK_STR(r.body.data, "slow");
  berth_buf_free(&r.body);
  CHECK(run_until(&closed_flag, 3000));

  /* Retry: a pooled connection the server closed is replaced once. */
  {
    uv_tcp_init(&loop, &flaky);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    CHECK_INT(uv_tcp_bind(&flaky, (struct sockaddr *)&a, 0), 0);
    CHECK_INT(uv_listen((uv_stream_t *)&flaky, 16, flaky_accept), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&flaky, (struct sockaddr *)&ss, &len);
    chain_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    chain_cl = cl;
    berth_http_call_cb ccb = {r_head, r_body, chain_done};
    berth_http_request_opts o = {.host = "127.0.0.1", .port = chain_port, .method = "GET",
                                 .target = "/first", .timeout_ms = 2000};
    memset(&r, 0, sizeof r);
    berth_buf_init(&r.body, 0);
    CHECK_INT(berth_http_request(cl, &o, &ccb, &r, NULL), 0);
    CHECK(run_until(&r.done, 2000));
    CHECK_INT(r.status, 0);
    CHECK(run_until(&chain2.done, 2000));
    CHECK_INT(chain2.status, 0);
    CHECK_INT(chain2.http, 200);
    CHECK_STR(chain2.body.data, "ok");
    CHECK_INT(flaky_accepts, 2);
    berth_buf_free(&r.body);
    berth_buf_free(&chain2.body);
    uv_close((uv_handle_t *)&flaky, NULL);
  }

  /* Limits: a stream cut midway, the absolute form, the buffered-body cap,
   * the whole-body deadline and eviction of idle connections. */
  {
    berth_http_server_config c4 = cfg;
    c4.max_connections = 3;
    c4.max_buffered_bytes = 100;
    c4.body_timeout_ms = 600;
    berth_http_server *s4 = NULL;
    CHECK_INT(berth_http_server_listen(&loop, "127.0.0.1", 0, &c4, &s4), 0);
    int p4 = berth_http_server_port(s4);

    /* An aborted stream reaches the client as an error, never complete. */
    call(cl, p4, "GET", "/cut", NULL, 2000, NULL, 0, &r);
    CHECK(run_until(&r.done, 3000));
    CHECK_INT(r.http, 200);
    CHECK(r.status != 0);
    berth_buf_free(&r.body);

    raw w;
    raw_open(&w, p4);
    raw_sends(&w, "GET http://example.com/echo?abs HTTP/1.1\r\nHost: example.com\r\n"
                 "Connection: close\r\n\r\n");
    CHECK(run_until(&w.eof, 3000));
    CHECK(w.in.data && strstr(w.in.data, "HTTP/1.1 200 ") && strstr(w.in.data, "GET:abs:"));
    raw_close(&w);

    raw_open(&w, p4);
    raw_sends(&w, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n");
    CHECK(run_until(&w.eof, 3000));
    CHECK(w.in.data && strncmp(w.in.data, "HTTP/1.1 503 ", 13) == 0);
    raw_close(&w);

    /* A byte every 300 ms would hold a per-read timer for ever; the whole
     * body has 600 ms. */
    raw_open(&w, p4);
    raw_sends(&w, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nx");
    uint64_t t0 = uv_now(&loop);
    run_for(300);
    raw_sends(&w, "y");
    run_for(250);
    raw_sends(&w, "z");
    CHECK(run_until(&w.eof, 3000));
    CHECK(w.in.data && strncmp(w.in.data, "HTTP/1.1 408 ", 13) == 0);
    CHECK(uv_now(&loop) - t0 < 1000);
    raw_close(&w);

    /* Three silent connections fill the listener; a fourth still gets an
     * answer, and the oldest silent one is the one closed for it. */
    raw idle[3];
    for (int i = 0; i < 3; i++) {
      raw_open(&idle[i], p4);
      CHECK(WAIT(idle[i].connected != 0, 2000));
      run_for(20); /* accepted in this order */
    }
    call(cl, p4, "GET", "/echo", NULL, 2000, NULL, 0, &r);
    CHECK(run_until(&r.done, 3000));
    CHECK_INT(r.status, 0);
    CHECK_INT(r.http, 200);
    berth_buf_free(&r.body);
    CHECK(run_until(&idle[0].eof, 2000));
    CHECK(!idle[1].eof && !idle[2].eof);
    for (int i = 0; i < 3; i++) raw_close(&idle[i]);

    closed_flag = 0;
    berth_http_server_close(s4, on_closed, NULL);
    CHECK(run_until(&closed_flag, 3000));
  }

  /* Freeing the client with a call in flight ends it with UV_ECANCELED. */
  {
    berth_http_server *s3 = NULL;
    CHECK_INT(berth_http_server_listen(&loop, "127.0.0.1", 0, &cfg, &s3), 0);
    call(cl, berth_http_server_port(s3), "GET", "/hang", NULL, 5000, NULL, 0, &r);
    CHECK(WAIT(berth_http_server_inflight(s3) == 1, 2000));
    berth_http_client_free(cl);
    CHECK_INT(r.done, 1);
    CHECK_INT(r.status, UV_ECANCELED);
    berth_buf_free(&r.body);
    closed_flag = 0;
    berth_http_server_close(s3, on_closed, NULL);
    CHECK(run_until(&closed_flag, 3000));
  }

  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&loop), 0);
  CHECK_DONE();
}

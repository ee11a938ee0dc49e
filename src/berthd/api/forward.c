/* forward: see forward.h. */
#include "forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "berth/buf.h"
#include "berth/http_client.h"
#include "berth/log.h"
#include "controllers.h"

#define FORWARDED_HEADER "x-berth-forwarded"
#define MAX_HEADERS 64

typedef struct forwarded {
  berth_http_req *req;          /* NULL once the client is gone */
  berth_http_call *call;
  int status;
  char *names[MAX_HEADERS], *values[MAX_HEADERS];
  size_t n_headers;
  berth_buf body;
} forwarded;

/* Hop-by-hop headers, and what the server or client sets itself. */
static int passes(const char *name) {
  static const char *const dropped[] = {"connection", "keep-alive", "transfer-encoding", "te",
                                        "upgrade", "content-length", "host", "date",
                                        "proxy-connection", FORWARDED_HEADER};
  for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
    if (strcasecmp(name, dropped[i]) == 0) return 0;
  return 1;
}

static void on_abort(berth_http_req *req) {
  forwarded *f = req->user;
  f->req = NULL;
  if (f->call) berth_http_call_cancel(f->call); /* on_done frees */
}

static void on_head(berth_http_call *call, int status, const berth_http_header *h, size_t n,
                    void *ud) {
  (void)call;
  forwarded *f = ud;
  f->status = status;
  for (size_t i = 0; i < n && f->n_headers < MAX_HEADERS; i++) {
    if (!passes(h[i].name)) continue;
    f->names[f->n_headers] = berth_xstrdup(h[i].name);
    f->values[f->n_headers++] = berth_xstrdup(h[i].value);
  }
}

static void on_body(berth_http_call *call, const char *d, size_t n, void *ud) {
  forwarded *f = ud;
  if (berth_buf_append(&f->body, d, n) != 0) berth_http_call_cancel(call);
}

static void on_done(berth_http_call *call, int err, void *ud) {
  (void)call;
  forwarded *f = ud;
  f->call = NULL;
  if (f->req) {
    berth_http_req *req = f->req;
    req->on_abort = NULL;
    req->user = NULL;
    if (err) {
      static const char msg[] = "{\"__type\":\"ServiceUnavailable\",\"message\":\"this controller "
                                "is a standby and the leader did not answer; retry\"}";
      berth_http_header h[2] = {{"content-type", "application/x-amz-json-1.1"},
                                {"retry-after", "1"}};
      berth_http_respond(req, 503, h, 2, msg, sizeof msg - 1);
    } else {
      berth_http_header h[MAX_HEADERS];
      for (size_t i = 0; i < f->n_headers; i++) h[i] = (berth_http_header){f->names[i], f->values[i]};
      berth_http_respond(req, f->status, h, f->n_headers, f->body.data ? f->body.data : "",
                         f->body.len);
    }
  }
  for (size_t i = 0; i < f->n_headers; i++) {
    free(f->names[i]);
    free(f->values[i]);
  }
  berth_buf_free(&f->body);
  free(f);
}

static const berth_http_call_cb forward_cb = {on_head, on_body, on_done};

int forward_to_leader(ctl *c, berth_http_req *req, const char *leader_url) {
  if (!leader_url[0] || berth_http_req_header(req, FORWARDED_HEADER)) return -1;
  /* The leader's address, resolved when it changes (rarely: a failover). */
  static controllers at;
  static char parsed[256];
  if (strcmp(parsed, leader_url) != 0) {
    char bad[300];
    if (controllers_parse(&at, leader_url, bad, sizeof bad)) return -1;
    snprintf(parsed, sizeof parsed, "%s", leader_url);
  }
  const controller_addr *a = controllers_current(&at);
  if (a->https && !c->peer_tls) return -1;
  const char *host = berth_http_req_header(req, "host");
  berth_http_header h[MAX_HEADERS + 1];
  size_t n = 0;
  for (size_t i = 0; i < req->n_headers && n < MAX_HEADERS; i++)
    if (passes(req->headers[i].name)) h[n++] = req->headers[i];
  h[n++] = (berth_http_header){FORWARDED_HEADER, "1"};
  forwarded *f = berth_xcalloc(1, sizeof *f);
  f->req = req;
  berth_buf_init(&f->body, FORWARD_MAX_ANSWER_BYTES);
  berth_http_request_opts o = {.host = a->host, .port = a->port, .method = req->method,
                               .target = req->target, .headers = h, .n_headers = n,
                               .body = req->body, .body_len = req->body_len, /* copied: */
                               .timeout_ms = 120000, /* req may go before the call */
                               .tls = a->https ? c->peer_tls : NULL, .tls_name = a->name,
                               .host_header = host};
  if (berth_http_request(c->client, &o, &forward_cb, f, &f->call) != 0) {
    berth_buf_free(&f->body);
    free(f);
    return -1;
  }
  req->user = f;
  req->on_abort = on_abort;
  return 0;
}

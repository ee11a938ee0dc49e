/* test_http_parser: table-driven tests of the HTTP/1.1 parser. Every case is
 * fed whole, byte by byte, and split at every offset; all three must give
 * the same trace (heads, bodies, completions, error), and the trace must
 * match what the table expects. */
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "berth/http.h"
#include "check.h"

typedef struct trace {
  berth_buf t;     /* canonical record of callbacks */
  berth_buf body;  /* body of the message being parsed */
  int msgs;
  char last_body[256];
  char hdr[128];   /* value of header "x-t" of the last head, if any */
} trace;

static int t_head(void *ud, const berth_http_head *h) {
  trace *tr = ud;
  if (h->method)
    berth_buf_printf(&tr->t, "H %s %s 1.%d", h->method, h->target, h->version_minor);
  else
    berth_buf_printf(&tr->t, "H %d [%s] 1.%d", h->status, h->reason, h->version_minor);
  berth_buf_printf(&tr->t, " cl=%lld ch=%d ka=%d ex=%d n=%zu", (long long)h->content_length,
                   h->chunked, h->keep_alive, h->expect_continue, h->n_headers);
  for (size_t i = 0; i < h->n_headers; i++)
    berth_buf_printf(&tr->t, " %s=%s", h->headers[i].name, h->headers[i].value);
  berth_buf_appends(&tr->t, "|");
  const char *x = berth_http_head_get(h, "X-T");
  snprintf(tr->hdr, sizeof tr->hdr, "%s", x ? x : "");
  return 0;
}

static int t_body(void *ud, const char *d, size_t n) {
  trace *tr = ud;
  berth_buf_append(&tr->body, d, n);
  return 0;
}

static int t_complete(void *ud) {
  trace *tr = ud;
  berth_buf_printf(&tr->t, "C[%s]|", tr->body.data ? tr->body.data : "");
  snprintf(tr->last_body, sizeof tr->last_body, "%s", tr->body.data ? tr->body.data : "");
  berth_buf_reset(&tr->body);
  tr->msgs++;
  return 0;
}

static const berth_http_parser_cb tcb = {t_head, t_body, t_complete};

enum { LIM_DEFAULT, LIM_SMALL };
static const berth_http_limits small = {128, 5, 16};

typedef struct tcase {
  const char *name;
  berth_http_kind kind;
  const char *in;
  size_t len;
  int err;            /* expected error, 0 none */
  int msgs;           /* messages completed (including at EOF) */
  const char *body;   /* body of the last completed message, NULL: unchecked */
  int lim;
  int no_body;        /* expect_no_body before feeding (responses) */
  int eof;            /* call finish at the end */
} tcase;

/* Feeds in[0..len) in pieces cut at the given offsets (ascending), then
 * optionally finishes. Returns the error (0 or BERTH_HTTP_E_*). */
static int run(const tcase *c, const size_t *cuts, size_t ncuts, trace *tr) {
  berth_buf_init(&tr->t, 0);
  berth_buf_init(&tr->body, 0);
  tr->msgs = 0;
  tr->last_body[0] = tr->hdr[0] = '\0';
  berth_http_parser *p = berth_http_parser_new(c->kind, c->lim == LIM_SMALL ? &small : NULL, &tcb, tr);
  if (c->no_body) berth_http_parser_expect_no_body(p);
  int err = 0;
  size_t start = 0;
  for (size_t k = 0; k <= ncuts && !err; k++) {
    size_t end = k < ncuts ? cuts[k] : c->len;
    size_t off = start;
    while (off < end) {
      ssize_t n = berth_http_parser_execute(p, c->in + off, end - off);
      if (n < 0) {
        err = (int)n;
        break;
      }
      if (n == 0) {
        err = 99; /* no progress: a parser bug */
        break;
      }
      off += (size_t)n;
    }
    start = end;
  }
  if (!err && c->eof) err = berth_http_parser_finish(p);
  if (err) berth_buf_printf(&tr->t, "E%d", err);
  berth_http_parser_free(p);
  berth_buf_free(&tr->body);
  return err;
}

#define S(x) x, sizeof(x) - 1

static const tcase cases[] = {
  /* Requests that parse. */
  {"get", BERTH_HTTP_REQUEST, S("GET /a?b=1 HTTP/1.1\r\nHost: h\r\n\r\n"), 0, 1, "", 0, 0, 0},
  {"leading empty line", BERTH_HTTP_REQUEST, S("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 0, 1, "", 0, 0, 0},
  {"post cl", BERTH_HTTP_REQUEST, S("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"), 0, 1, "hello", 0, 0, 0},
  {"ows trimmed", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\nX-T: \t v a l \t \r\n\r\n"), 0, 1, "", 0, 0, 0},
  {"duplicate equal cl", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"), 0, 1, "ok", 0, 0, 0},
  {"chunked ext trailers", BERTH_HTTP_REQUEST,
   S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c=\"d\"\r\nhello\r\n6 ;x\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n"),
   0, 1, "hello world0123456789", 0, 0, 0},
  {"chunked te case", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n"), 0, 1, "", 0, 0, 0},
  {"pipelined", BERTH_HTTP_REQUEST,
   S("GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\nGET /4 HTTP/1.0\r\n\r\n"),
   0, 4, "", 0, 0, 0},
  {"http10 keepalive", BERTH_HTTP_REQUEST, S("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0, 1, "", 0, 0, 0},
  {"connection close", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n"), 0, 1, "", 0, 0, 0},
  {"expect", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nz"), 0, 1, "z", 0, 0, 0},
  {"obs-text value", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\nX-T: caf\xc3\xa9\r\n\r\n"), 0, 1, "", 0, 0, 0},
  {"http/1.2 is 1.1", BERTH_HTTP_REQUEST, S("GET / HTTP/1.2\r\n\r\n"), 0, 1, "", 0, 0, 0},
  {"eof between messages", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\n\r\n"), 0, 1, "", 0, 0, 1},

  /* Smuggling and malformed requests: 400. */
  {"cl and te", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"te and cl", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"cl differ", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"cl list", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nContent-Length: 4, 4\r\n\r\nabcd"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"cl sign", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nContent-Length: +4\r\n\r\nabcd"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"cl empty", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"cl overflow", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"te not last chunked", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"te twice chunked", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"te xchunked", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"te empty", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"te gzip chunked 501", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), BERTH_HTTP_E_NOT_IMPLEMENTED, 0, NULL, 0, 0, 0},
  {"te in http/1.0", BERTH_HTTP_REQUEST, S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"obs-fold", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"space before colon", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"bare cr", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"bare lf", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\nHost: h\n\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"nul in header", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"ctl in header", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\nX-A: a\x01\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"del in target", BERTH_HTTP_REQUEST, S("GET /\x7f HTTP/1.1\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"no colon", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\nX-A\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"empty name", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\n: a\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"two hosts", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"bad method", BERTH_HTTP_REQUEST, S("G(T / HTTP/1.1\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"double space", BERTH_HTTP_REQUEST, S("GET  / HTTP/1.1\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"http/0.9", BERTH_HTTP_REQUEST, S("GET /\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"bad version", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1x\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"http/2 505", BERTH_HTTP_REQUEST, S("GET / HTTP/2.0\r\n\r\n"), BERTH_HTTP_E_VERSION, 0, NULL, 0, 0, 0},
  {"chunk size bad", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"chunk size negative", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"chunk size 0x", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"chunk size overflow", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"chunk ws junk", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"chunk no crlf after data", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"chunk bare lf", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"trailer fold", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\n c\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"eof in body", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 1},
  {"eof in head", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\nHost"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 1},

  /* Limits. */
  {"head too large", BERTH_HTTP_REQUEST,
   S("GET / HTTP/1.1\r\nX-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"),
   BERTH_HTTP_E_HEAD_TOO_LARGE, 0, NULL, LIM_SMALL, 0, 0},
  {"head at limit", BERTH_HTTP_REQUEST,
   S("GET / HTTP/1.1\r\nX-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"),
   0, 1, "", LIM_SMALL, 0, 0},
  {"too many headers", BERTH_HTTP_REQUEST, S("GET / HTTP/1.1\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\nf: 1\r\n\r\n"),
   BERTH_HTTP_E_HEAD_TOO_LARGE, 0, NULL, LIM_SMALL, 0, 0},
  {"cl over limit", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n"), BERTH_HTTP_E_BODY_TOO_LARGE, 0, NULL, LIM_SMALL, 0, 0},
  {"cl at limit", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nContent-Length: 16\r\n\r\n0123456789abcdef"), 0, 1, "0123456789abcdef", LIM_SMALL, 0, 0},
  {"chunked over limit", BERTH_HTTP_REQUEST, S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n9\r\n012345678\r\n0\r\n\r\n"),
   BERTH_HTTP_E_BODY_TOO_LARGE, 0, NULL, LIM_SMALL, 0, 0},
  {"leading crlf flood", BERTH_HTTP_REQUEST,
   S("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
     "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"),
   BERTH_HTTP_E_HEAD_TOO_LARGE, 0, NULL, LIM_SMALL, 0, 0},

  /* Responses. */
  {"resp cl", BERTH_HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"), 0, 1, "hi", 0, 0, 0},
  {"resp no reason", BERTH_HTTP_RESPONSE, S("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"), 0, 1, "", 0, 0, 0},
  {"resp empty reason", BERTH_HTTP_RESPONSE, S("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"), 0, 1, "", 0, 0, 0},
  {"resp chunked", BERTH_HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;e\r\nd\r\n0\r\nT: 1\r\n\r\n"), 0, 1, "abcd", 0, 0, 0},
  {"resp te wins over cl", BERTH_HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n"), 0, 1, "z", 0, 0, 0},
  {"resp eof body", BERTH_HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\n\r\nuntil the end"), 0, 1, "until the end", 0, 0, 1},
  {"resp eof body not finished", BERTH_HTTP_RESPONSE, S("HTTP/1.0 200 OK\r\n\r\npartial"), 0, 0, NULL, 0, 0, 0},
  {"resp 204", BERTH_HTTP_RESPONSE, S("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"), 0, 2, "x", 0, 0, 0},
  {"resp 304", BERTH_HTTP_RESPONSE, S("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"), 0, 1, "", 0, 0, 0},
  {"resp 100 then 200", BERTH_HTTP_RESPONSE, S("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes"), 0, 2, "yes", 0, 0, 0},
  {"resp head no body", BERTH_HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), 0, 1, "", 0, 1, 0},
  {"resp head after 100", BERTH_HTTP_RESPONSE, S("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), 0, 2, "", 0, 1, 0},
  {"resp bad status", BERTH_HTTP_RESPONSE, S("HTTP/1.1 20 OK\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"resp status 600", BERTH_HTTP_RESPONSE, S("HTTP/1.1 600 OK\r\n\r\n"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"resp version", BERTH_HTTP_RESPONSE, S("HTTP/3.0 200 OK\r\n\r\n"), BERTH_HTTP_E_VERSION, 0, NULL, 0, 0, 0},
  {"resp cl differ", BERTH_HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 0},
  {"resp eof in chunked", BERTH_HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"), BERTH_HTTP_E_BAD_MESSAGE, 0, NULL, 0, 0, 1},
  {"resp keepalive pair", BERTH_HTTP_RESPONSE, S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nb"), 0, 2, "b", 0, 0, 0},
};

static void check_case(const tcase *c) {
  trace whole, piece;
  int err = run(c, NULL, 0, &whole);
  if (err != c->err || whole.msgs != c->msgs || (c->body && strcmp(whole.last_body, c->body))) {
    CHECK_FAIL_("case \"%s\": err %d (want %d), msgs %d (want %d), body \"%s\" (want \"%s\")\n  trace %s",
                c->name, err, c->err, whole.msgs, c->msgs, whole.last_body, c->body ? c->body : "*",
                whole.t.data ? whole.t.data : "");
  }
  check_count++;

  /* Byte by byte. */
  size_t *cuts = malloc((c->len + 1) * sizeof *cuts);
  for (size_t i = 0; i < c->len; i++) cuts[i] = i + 1;
  run(c, cuts, c->len ? c->len - 1 : 0, &piece);
  check_count++;
  if (strcmp(whole.t.data ? whole.t.data : "", piece.t.data ? piece.t.data : ""))
    CHECK_FAIL_("case \"%s\" byte by byte differs:\n  whole %s\n  bytes %s", c->name, whole.t.data,
                piece.t.data);
  berth_buf_free(&piece.t);

  /* Every split point. */
  for (size_t k = 1; k < c->len; k++) {
    cuts[0] = k;
    run(c, cuts, 1, &piece);
    check_count++;
    if (strcmp(whole.t.data ? whole.t.data : "", piece.t.data ? piece.t.data : ""))
      CHECK_FAIL_("case \"%s\" split at %zu differs:\n  whole %s\n  split %s", c->name, k,
                  whole.t.data, piece.t.data);
    berth_buf_free(&piece.t);
  }
  free(cuts);
  berth_buf_free(&whole.t);
}

/* Details the table does not show. */
static void check_heads(void) {
  trace tr;
  tcase c = {"x", BERTH_HTTP_REQUEST, S("GET /a?b=1 HTTP/1.1\r\nHost: h\r\nX-T: \t v a l \t \r\n\r\n"), 0, 1, "", 0, 0, 0};
  run(&c, NULL, 0, &tr);
  CHECK_STR(tr.t.data, "H GET /a?b=1 1.1 cl=-1 ch=0 ka=1 ex=0 n=2 host=h x-t=v a l|C[]|");
  CHECK_STR(tr.hdr, "v a l");
  berth_buf_free(&tr.t);

  tcase c2 = {"x", BERTH_HTTP_REQUEST, S("GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nPOST / HTTP/1.1\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n"), 0, 3, "", 0, 0, 0};
  run(&c2, NULL, 0, &tr);
  CHECK(strstr(tr.t.data, "H GET / 1.0 cl=-1 ch=0 ka=0 ex=0 n=0|C[]|H GET / 1.0 cl=-1 ch=0 ka=1") != NULL);
  CHECK(strstr(tr.t.data, "H POST / 1.1 cl=0 ch=0 ka=0 ex=1") != NULL);
  berth_buf_free(&tr.t);

  tcase c3 = {"x", BERTH_HTTP_RESPONSE, S("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"), 0, 1, "", 0, 0, 0};
  run(&c3, NULL, 0, &tr);
  CHECK_STR(tr.t.data, "H 503 [Service Unavailable] 1.1 cl=0 ch=0 ka=1 ex=0 n=1 content-length=0|C[]|");
  berth_buf_free(&tr.t);

  /* Idle tracking and the error message. */
  berth_http_parser *p = berth_http_parser_new(BERTH_HTTP_REQUEST, NULL, &tcb, &tr);
  berth_buf_init(&tr.t, 0);
  berth_buf_init(&tr.body, 0);
  CHECK(berth_http_parser_idle(p));
  CHECK_INT(berth_http_parser_execute(p, "GET", 3), 3);
  CHECK(!berth_http_parser_idle(p));
  CHECK_INT(berth_http_parser_execute(p, " / HTTP/1.1\r\n\r\nGET", 18), 15);
  CHECK(berth_http_parser_idle(p));
  CHECK_INT(berth_http_parser_execute(p, "GET / HTTP/1.1\r\nA : b\r\n\r\n", 25), BERTH_HTTP_E_BAD_MESSAGE);
  CHECK_STR(berth_http_parser_error(p), "whitespace before colon in header");
  CHECK_INT(berth_http_parser_execute(p, "x", 1), BERTH_HTTP_E_BAD_MESSAGE);
  berth_http_parser_free(p);
  berth_buf_free(&tr.t);
  berth_buf_free(&tr.body);
}

static int stop_head(void *ud, const berth_http_head *h) {
  (void)ud;
  (void)h;
  return 1;
}

static void check_pause(void) {
  berth_http_parser_cb cb = {stop_head, NULL, NULL};
  berth_http_parser *p = berth_http_parser_new(BERTH_HTTP_REQUEST, NULL, &cb, NULL);
  CHECK_INT(berth_http_parser_execute(p, "GET / HTTP/1.1\r\n\r\n", 18), BERTH_HTTP_E_PAUSED);
  berth_http_parser_free(p);
}

static void check_misc(void) {
  char out[16];
  CHECK_INT(berth_http_pct_decode("a%20b%2Fc", 9, out, sizeof out), 5);
  CHECK_STR(out, "a b/c");
  CHECK_INT(berth_http_pct_decode("a+b", 3, out, sizeof out), 3);
  CHECK_STR(out, "a+b");
  CHECK_INT(berth_http_pct_decode("%4a%4A", 6, out, sizeof out), 2);
  CHECK_STR(out, "JJ");
  CHECK_INT(berth_http_pct_decode("%2", 2, out, sizeof out), -1);
  CHECK_INT(berth_http_pct_decode("%zz", 3, out, sizeof out), -1);
  CHECK_INT(berth_http_pct_decode("a%00", 4, out, sizeof out), -1);
  CHECK_INT(berth_http_pct_decode("0123456789abcdef", 16, out, sizeof out), -1);
  CHECK_INT(berth_http_pct_decode("0123456789abcde", 15, out, sizeof out), 15);
  CHECK_INT(berth_http_pct_decode("", 0, out, sizeof out), 0);
  CHECK_STR(berth_http_reason(404), "Not Found");
  CHECK_STR(berth_http_reason(431), "Request Header Fields Too Large");
  CHECK_STR(berth_http_reason(299), "Unknown");
}

int main(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
  check_heads();
  check_pause();
  check_misc();
  CHECK_DONE();
}

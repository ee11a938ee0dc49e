/* bench_http_hot: the runtime router's per-request CPU in lib/, piece by
 * piece, in process (no sockets): what bench/router/run.sh's profile showed
 * as the big shares, timed alone so a change to one shows in ns/op.
 *
 * The request is an InvokeEndpoint as the AWS SDK v3 sends it: its head
 * (about 900 bytes, ten headers, eight signed) and a 180-byte JSON body,
 * signed with lib/sigv4 itself (test_sigv4.c checks that signer against the
 * SDK's). Pieces:
 *  - parse: the whole request through the lib parser (head and body);
 *  - lookup: the nine header lookups the router and auth make per request;
 *  - sha256: the body's hash (berth_sha256_hex);
 *  - canonical: the canonical request (berth_sigv4_canonical);
 *  - sign: the signature from a cached signing key (berth_sigv4_sign_key:
 *    one SHA-256 and one HMAC);
 *  - verify: all of SigV4 as src/berthd/core/auth.c does it per request
 *    (parse Authorization, sha256, canonical, sign, compare);
 *  - head: the 200 response head with the router's answer headers.
 * Each is the best of 5 runs of ITER iterations (ns/op). The baseline is
 * the same program built from the code before a change: run both.
 * Usage: bench_http_hot [iterations]   (README.md beside this file). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/buf.h"
#include "berth/http.h"
#include "berth/http_server.h"
#include "berth/sigv4.h"
#include "http_head.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define AMZ_DATE "20261125T034051Z"
#define SIGNED "amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;" \
               "x-amz-content-sha256;x-amz-date;x-amz-user-agent"

static const char body[] =
    "{\"inputs\":\"Summarise the following support ticket in one sentence: the customer "
    "cannot log in after the password reset email expired\",\"parameters\":"
    "{\"max_new_tokens\":64}}";

static char request[4096];
static size_t request_len;
static volatile uint64_t sink;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- parse ---- */

static berth_http_head parsed; /* valid until the next execute */
static int on_head(void *ud, const berth_http_head *h) {
  (void)ud;
  parsed = *h;
  return 0;
}
static int on_body(void *ud, const char *d, size_t n) {
  (void)ud;
  sink += n + (unsigned char)d[0];
  return 0;
}
static const berth_http_parser_cb pcb = {on_head, on_body, NULL};
static berth_http_parser *parser;

static void piece_parse(void) {
  if (berth_http_parser_execute(parser, request, request_len) != (ssize_t)request_len) {
    fprintf(stderr, "bench_http_hot: parse failed: %s\n", berth_http_parser_error(parser));
    exit(1);
  }
}

/* ---- lookups, on the parsed head as the server hands it over ---- */

static berth_http_req req;
static void piece_lookup(void) {
  static const char *const names[] = {
    "authorization", "x-amz-date", "x-amz-target", "x-amz-content-sha256", "content-type",
    "accept", "x-amzn-sagemaker-inference-component", "x-amzn-sagemaker-custom-attributes",
    "x-amzn-sagemaker-session-id"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    sink += (uintptr_t)berth_http_req_header(&req, names[i]);
}

/* ---- SigV4 ---- */

static unsigned char signing_key[32];
static berth_buf creq;
static char body_hash[65];

static void piece_sha256(void) {
  char out[65];
  berth_sha256_hex(body, sizeof body - 1, out);
  sink += (unsigned char)out[0];
}

static void piece_canonical(void) {
  berth_buf_reset(&creq);
  if (berth_sigv4_canonical(&creq, req.method, req.path, req.query, req.headers, req.n_headers,
                            SIGNED, body_hash, 0) != 0)
    exit(1);
}

static void piece_sign(void) {
  char out[65];
  berth_sigv4_sign_key(signing_key, "20261125", "us-east-1", "sagemaker", AMZ_DATE, creq.data,
                       creq.len, out);
  sink += (unsigned char)out[0];
}

static void piece_verify(void) {
  berth_sigv4_auth a;
  char why[256];
  if (berth_sigv4_parse(berth_http_req_header(&req, "authorization"), &a, why, sizeof why))
    exit(1);
  char hash[65], expect[65];
  berth_sha256_hex(req.body, req.body_len, hash);
  berth_buf c;
  berth_buf_init(&c, 64u << 10);
  if (berth_sigv4_canonical(&c, req.method, req.path, req.query, req.headers, req.n_headers,
                            a.signed_headers, hash, 0) != 0)
    exit(1);
  berth_sigv4_sign_key(signing_key, a.date, a.region, a.service,
                       berth_http_req_header(&req, "x-amz-date"), c.data, c.len, expect);
  berth_buf_free(&c);
  if (strcmp(expect, a.signature) != 0) {
    fprintf(stderr, "bench_http_hot: the signature does not verify\n");
    exit(1);
  }
}

/* ---- response head ---- */

static void piece_head(void) {
  static const berth_http_header h[] = {
    {"Content-Type", "application/json"},
    {"x-Amzn-Invoked-Production-Variant", "AllTraffic"},
    {"x-amzn-RequestId", "5d3a8c1e-2b7f-4f0a-9c61-7e2d1b9a4c30"}};
  static const char date[] = "Wed, 25 Nov 2026 03:40:51 GMT";
  berth_buf b;
  berth_buf_init(&b, 0);
  berth__http_response_head(&b, 200, date, h, 3, NULL);
  berth_buf_printf(&b, "Content-Length: %zu\r\n", (size_t)150);
  berth_buf_appends(&b, "\r\n");
  sink += b.len;
  berth_buf_free(&b);
}

/* ---- setup ---- */

static void build_request(void) {
  char sha[65];
  berth_sha256_hex(body, sizeof body - 1, sha);
  /* The headers as the server will see them, to sign over. */
  char clen[16];
  snprintf(clen, sizeof clen, "%zu", sizeof body - 1);
  berth_http_header h[] = {
    {"host", "runtime.sagemaker.us-east-1.amazonaws.com"},
    {"content-type", "application/json"},
    {"accept", "application/json"},
    {"x-amz-user-agent", "aws-sdk-js/3.700.0"},
    {"user-agent", "aws-sdk-js/3.700.0 ua/2.1 os/linux#6.1.0 lang/js md/nodejs#20.19.2 "
                   "api/sagemaker-runtime#3.700.0 m/E"},
    {"amz-sdk-invocation-id", "0f6c2a4e-8d3b-4e71-a5c9-2b7d9e1f4a63"},
    {"amz-sdk-request", "attempt=1; max=3"},
    {"x-amz-date", AMZ_DATE},
    {"x-amz-content-sha256", sha},
    {"content-length", clen}};
  size_t n = sizeof h / sizeof h[0];
  const char *path = "/endpoints/my-endpoint/invocations";
  berth_buf c;
  berth_buf_init(&c, 0);
  if (berth_sigv4_canonical(&c, "POST", path, "", h, n, SIGNED, sha, 0) != 0) exit(1);
  char sig[65];
  berth_sigv4_sign(SECRET, "20261125", "us-east-1", "sagemaker", AMZ_DATE, c.data, c.len, sig);
  berth_buf_free(&c);
  berth_buf r;
  berth_buf_init(&r, sizeof request - 1);
  berth_buf_printf(&r, "POST %s HTTP/1.1\r\n", path);
  for (size_t i = 0; i < n; i++) berth_buf_printf(&r, "%s: %s\r\n", h[i].name, h[i].value);
  berth_buf_printf(&r, "authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/"
                       "us-east-1/sagemaker/aws4_request, SignedHeaders=%s, Signature=%s\r\n\r\n",
                   SIGNED, sig);
  if (berth_buf_append(&r, body, sizeof body - 1) < 0) exit(1);
  memcpy(request, r.data, r.len);
  request_len = r.len;
  berth_buf_free(&r);
}

static void run(const char *name, void (*fn)(void), long iter) {
  double best = 1e18;
  for (int round = 0; round < 5; round++) {
    uint64_t t0 = now_ns();
    for (long i = 0; i < iter; i++) fn();
    double ns = (double)(now_ns() - t0) / (double)iter;
    if (ns < best) best = ns;
  }
  printf("%-10s %9.1f ns/op\n", name, best);
}

int main(int argc, char **argv) {
  long iter = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
  if (iter <= 0) iter = 100000;
  build_request();
  parser = berth_http_parser_new(BERTH_HTTP_REQUEST, NULL, &pcb, NULL);
  berth_buf_init(&creq, 0);
  run("parse", piece_parse, iter);
  /* The last parse's head stays valid: the parser is not run again. */
  const char *q = strchr(parsed.target, '?');
  req = (berth_http_req){.method = parsed.method, .target = parsed.target,
                         .path = parsed.target, .query = q ? q + 1 : "",
                         .headers = parsed.headers, .n_headers = parsed.n_headers,
                         .body = body, .body_len = sizeof body - 1};
  berth_sigv4_signing_key(SECRET, "20261125", "us-east-1", "sagemaker", signing_key);
  berth_sha256_hex(body, sizeof body - 1, body_hash);
  piece_verify(); /* checks the signature once before timing */
  run("lookup", piece_lookup, iter);
  run("sha256", piece_sha256, iter);
  run("canonical", piece_canonical, iter);
  run("sign", piece_sign, iter);
  run("verify", piece_verify, iter);
  run("head", piece_head, iter);
  berth_buf_free(&creq);
  berth_http_parser_free(parser);
  return 0;
}

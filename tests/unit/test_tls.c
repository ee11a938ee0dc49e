/* test_tls: the TLS server and the https client against each other on one
 * loop. Certificates are made here with OpenSSL's API (self-signed, for
 * 127.0.0.1 and localhost) and written to a temp dir, since the server
 * takes file names. Covers: verification against the right CA, a wrong CA
 * and a wrong name; keep-alive over one session; a large streamed answer
 * with backpressure; plain HTTP to the TLS port and TLS to a plain port; a
 * slow handshake bounded by header_timeout; and reload (new connections
 * see the new certificate, an open keep-alive connection keeps working, a
 * broken file leaves the old one in use). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "berth/buf.h"
#include "berth/http_client.h"
#include "berth/http_server.h"
#include "berth/tls.h"
#include "check.h"
#include "big_stream.h"
#include "loop_wait.h"
#include "raw_client.h"

/* ---- certificates ---- */

static char dir[64];

/* Writes a self-signed certificate for 127.0.0.1 and localhost (CN cn) and
 * its key to dir/<name>.crt and dir/<name>.key. */
static int make_cert(const char *name, const char *cn, char *crt, char *key, size_t len) {
  snprintf(crt, len, "%s/%s.crt", dir, name);
  snprintf(key, len, "%s/%s.key", dir, name);
  EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  X509 *x = X509_new();
  int ok = pk && x;
  if (ok) {
    X509_set_version(x, 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pk);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    const struct {
      int nid;
      const char *value;
    } exts[] = {{NID_basic_constraints, "critical,CA:TRUE"},
                {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"}};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0] && ok; i++) {
      X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
      ok = e && X509_add_ext(x, e, -1);
      X509_EXTENSION_free(e);
    }
    ok = ok && X509_sign(x, pk, EVP_sha256()) > 0;
  }
  FILE *f = ok ? fopen(crt, "w") : NULL;
  ok = f && PEM_write_X509(f, x);
  if (f) fclose(f);
  f = ok ? fopen(key, "w") : NULL;
  ok = f && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
  if (f) fclose(f);
  X509_free(x);
  EVP_PKEY_free(pk);
  return ok ? 0 : -1;
}

static int copy_file(const char *from, const char *to) {
  char buf[8192];
  FILE *in = fopen(from, "r"), *out = fopen(to, "w");
  size_t n = 0;
  int ok = in && out;
  while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
  if (in) fclose(in);
  if (out) fclose(out);
  return ok ? 0 : -1;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

/* ---- the server's handler ---- */

static void handler(berth_http_req *req, void *ud) {
  (void)ud;
  if (!strcmp(req->path, "/hello")) {
    berth_http_respond(req, 200, NULL, 0, "hello", 5);
  } else if (!strcmp(req->path, "/echo")) {
    berth_http_respond(req, 200, NULL, 0, req->body, req->body_len);
  } else if (!strcmp(req->path, "/peer")) {
    berth_http_respond(req, 200, NULL, 0, req->peer, strlen(req->peer));
  } else if (!strcmp(req->path, "/big")) {
    big_sent = 0;
    req->on_drain = big_pump;
    CHECK_INT(berth_http_stream_begin(req, 200, NULL, 0), 0);
    big_pump(req);
  } else {
    berth_http_respond(req, 404, NULL, 0, "nope", 4);
  }
}

/* ---- client calls ---- */

typedef struct result {
  int done;
  int status;
  int http;
  berth_buf body;
  char error[320];
  /* /big: checked as it arrives instead of kept */
  int check_big;
  size_t big_got;
  int big_bad;
  int pause_once;
  berth_http_call *call;
} result;

static uv_timer_t resume_timer; /* outlives any one result */

static void r_head(berth_http_call *c, int status, const berth_http_header *h, size_t n,
                   void *ud) {
  (void)c;
  (void)h;
  (void)n;
  ((result *)ud)->http = status;
}

static void on_resume(uv_timer_t *t) {
  result *r = t->data;
  if (r && !r->done) berth_http_call_resume(r->call);
}

static void r_body(berth_http_call *c, const char *d, size_t n, void *ud) {
  result *r = ud;
  if (!r->check_big) {
    berth_buf_append(&r->body, d, n);
    return;
  }
  for (size_t i = 0; i < n; i++)
    if (d[i] != big_piece[(r->big_got + i) % BIG_PIECE]) r->big_bad = 1;
  r->big_got += n;
  if (r->pause_once) {
    /* Stop reading for a while: the server's unsent output must pile up
     * past max_stream_buffer, so that -ENOBUFS and on_drain are exercised. */
    r->pause_once = 0;
    r->call = c;
    berth_http_call_pause(c);
    resume_timer.data = r;
    uv_timer_start(&resume_timer, on_resume, 150, 0);
  }
}

static void r_done(berth_http_call *c, int status, void *ud) {
  result *r = ud;
  r->done = 1;
  r->status = status;
  snprintf(r->error, sizeof r->error, "%s", berth_http_call_error(c));
}

static const berth_http_call_cb rcb = {r_head, r_body, r_done};

static void call(berth_http_client *cl, int port, berth_tls_client *tls, const char *name,
                 const char *method, const char *target, const char *body, result *r) {
  memset(r, 0, sizeof *r);
  berth_buf_init(&r->body, 0);
  berth_http_request_opts o = {.host = "127.0.0.1",
                               .port = port,
                               .method = method,
                               .target = target,
                               .body = body,
                               .body_len = body ? strlen(body) : 0,
                               .timeout_ms = 3000,
                               .tls = tls,
                               .tls_name = name};
  CHECK_INT(berth_http_request(cl, &o, &rcb, r, NULL), 0);
}

/* One GET, run to its end; returns on_done's status. */
static int get(berth_http_client *cl, int port, berth_tls_client *tls, const char *name,
               const char *target, result *r) {
  call(cl, port, tls, name, "GET", target, NULL, r);
  CHECK(WAIT(r->done, 5000));
  return r->status;
}

/* ---- raw TCP client: bytes TLS would never send ---- */

static void raw_open(raw *r, int port) {
  raw_start(r, &loop, port);
  CHECK(WAIT(r->connected, 2000));
}
static void raw_close(raw *r) {
  raw_end(r);
  CHECK(WAIT(r->closed, 2000));
  berth_buf_free(&r->in);
}

/* ---- tests ---- */

static int closed_count;
static void on_closed(void *ud) {
  (void)ud;
  closed_count++;
}

static void on_handle_closed(uv_handle_t *h) {
  (void)h;
}

static void test_context_errors(const char *crt, const char *key, const char *other_key) {
  berth_tls_server *s = NULL;
  char err[512];
  char missing[128];
  snprintf(missing, sizeof missing, "%s/missing.crt", dir);
  CHECK(berth_tls_server_new(missing, key, &s, err, sizeof err) < 0);
  CHECK(s == NULL);
  CHECK(strstr(err, missing) != NULL);
  CHECK(strstr(err, "--tls-cert") != NULL);
  /* A key that is not the certificate's. */
  CHECK(berth_tls_server_new(crt, other_key, &s, err, sizeof err) < 0);
  CHECK(strstr(err, "does not match") != NULL);
  CHECK(berth_tls_server_new(crt, NULL, &s, err, sizeof err) == -EINVAL);
  berth_tls_client *c = NULL;
  CHECK(berth_tls_client_new(missing, &c, err, sizeof err) < 0);
  CHECK(strstr(err, "--ca-file") != NULL);
  /* The system store loads (it may be empty, but that is no error). */
  CHECK_INT(berth_tls_client_new(NULL, &c, err, sizeof err), 0);
  berth_tls_client_free(c);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&loop);
  uv_timer_init(&loop, &deadline);
  uv_timer_init(&loop, &resume_timer);
  for (size_t i = 0; i < BIG_PIECE; i++) big_piece[i] = (char)('a' + (i * 7) % 26);

  snprintf(dir, sizeof dir, "/tmp/berth-tls-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  char a_crt[128], a_key[128], b_crt[128], b_key[128], c_crt[128], c_key[128];
  char srv_crt[128], srv_key[128];
  CHECK_INT(make_cert("a", "berth test A", a_crt, a_key, sizeof a_crt), 0);
  CHECK_INT(make_cert("b", "berth test B", b_crt, b_key, sizeof b_crt), 0);
  CHECK_INT(make_cert("c", "berth test C", c_crt, c_key, sizeof c_crt), 0);
  /* The server reads these two paths; reload swaps their contents. */
  snprintf(srv_crt, sizeof srv_crt, "%s/server.crt", dir);
  snprintf(srv_key, sizeof srv_key, "%s/server.key", dir);
  CHECK_INT(copy_file(a_crt, srv_crt), 0);
  CHECK_INT(copy_file(a_key, srv_key), 0);

  test_context_errors(a_crt, a_key, b_key);

  char err[512] = "";
  berth_tls_server *tls = NULL;
  CHECK_INT(berth_tls_server_new(srv_crt, srv_key, &tls, err, sizeof err), 0);
  CHECK_STR(err, "");
  CHECK_INT(berth_tls_server_generation(tls), 1);
  berth_tls_client *ca_a = NULL, *ca_b = NULL, *ca_c = NULL;
  CHECK_INT(berth_tls_client_new(a_crt, &ca_a, err, sizeof err), 0);
  CHECK_INT(berth_tls_client_new(b_crt, &ca_b, err, sizeof err), 0);
  CHECK_INT(berth_tls_client_new(c_crt, &ca_c, err, sizeof err), 0);

  berth_http_server_config cfg = {0};
  cfg.handler = handler;
  cfg.header_timeout_ms = 300;
  cfg.idle_timeout_ms = 5000;
  cfg.max_stream_buffer = 256 << 10;
  cfg.tls = tls;
  berth_http_server *srv = NULL;
  CHECK_INT(berth_http_server_listen(&loop, "127.0.0.1", 0, &cfg, &srv), 0);
  int port = berth_http_server_port(srv);
  /* A plain listener, for https sent to it. */
  berth_http_server_config pcfg = cfg;
  pcfg.tls = NULL;
  berth_http_server *plain_srv = NULL;
  CHECK_INT(berth_http_server_listen(&loop, "127.0.0.1", 0, &pcfg, &plain_srv), 0);
  int plain_port = berth_http_server_port(plain_srv);

  berth_http_client *cl = berth_http_client_new(&loop, 4);
  result r, r2;

  /* Verified against the right CA, by address (IP SAN) and by name. */
  CHECK_INT(get(cl, port, ca_a, NULL, "/hello", &r), 0);
  CHECK_INT(r.http, 200);
  CHECK_STR(r.body.data, "hello");
  CHECK_STR(r.error, "");
  berth_buf_free(&r.body);
  CHECK_INT(get(cl, port, ca_a, "localhost", "/hello", &r), 0);
  CHECK_STR(r.body.data, "hello");
  berth_buf_free(&r.body);

  /* A body goes up encrypted, the answer comes back. */
  call(cl, port, ca_a, NULL, "POST", "/echo", "a request body", &r);
  CHECK(WAIT(r.done, 5000));
  CHECK_INT(r.status, 0);
  CHECK_STR(r.body.data, "a request body");
  berth_buf_free(&r.body);

  /* Keep-alive: two calls share one connection and its session. */
  CHECK_INT(get(cl, port, ca_a, NULL, "/peer", &r), 0);
  CHECK_INT(get(cl, port, ca_a, NULL, "/peer", &r2), 0);
  CHECK(r.body.len > 10);
  CHECK_STR(r.body.data, r2.body.data);
  berth_buf_free(&r.body);
  berth_buf_free(&r2.body);

  /* Another CA: verification fails, with the reason. */
  CHECK_INT(get(cl, port, ca_b, NULL, "/hello", &r), UV_EPROTO);
  CHECK(strstr(r.error, "certificate verify failed") != NULL);
  CHECK(strstr(r.error, "127.0.0.1") != NULL);
  CHECK_INT(r.http, 0);
  berth_buf_free(&r.body);
  /* The right CA but a name the certificate does not carry. */
  CHECK_INT(get(cl, port, ca_a, "other.example", "/hello", &r), UV_EPROTO);
  CHECK(strstr(r.error, "verify") != NULL);
  berth_buf_free(&r.body);
  /* Bad names are refused up front. */
  berth_http_request_opts bad = {.host = "127.0.0.1", .port = port, .method = "GET",
                                 .target = "/", .tls = ca_a, .tls_name = ""};
  CHECK_INT(berth_http_request(cl, &bad, &rcb, &r, NULL), UV_EINVAL);

  /* A large streamed answer with backpressure: the client stops reading
   * for a while, the server's queue fills, -ENOBUFS, on_drain, all 8 MiB
   * arrive intact. */
  enobufs_seen = 0;
  call(cl, port, ca_a, NULL, "GET", "/big", NULL, &r);
  r.check_big = 1;
  r.pause_once = 1;
  CHECK(WAIT(r.done, 20000));
  CHECK_INT(r.status, 0);
  CHECK_INT(r.big_got, BIG_TOTAL);
  CHECK_INT(r.big_bad, 0);
  CHECK(enobufs_seen > 0);
  uv_timer_stop(&resume_timer);
  resume_timer.data = NULL;
  berth_buf_free(&r.body);

  /* Plain HTTP to the TLS port: the connection closes, the server lives. */
  CHECK(get(cl, port, NULL, NULL, "/hello", &r) < 0);
  CHECK_INT(r.http, 0);
  berth_buf_free(&r.body);
  raw w;
  raw_open(&w, port);
  static const char plain_req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  raw_send(&w, plain_req, sizeof plain_req - 1);
  CHECK(WAIT(w.eof, 2000));
  CHECK(!w.in.data || !strstr(w.in.data, "hello"));
  raw_close(&w);
  CHECK_INT(get(cl, port, ca_a, NULL, "/hello", &r), 0);
  berth_buf_free(&r.body);

  /* https to a plain port: a handshake failure, not a hang. */
  CHECK_INT(get(cl, plain_port, ca_a, NULL, "/hello", &r), UV_EPROTO);
  CHECK(strstr(r.error, "handshake") != NULL);
  berth_buf_free(&r.body);

  /* A handshake that never completes is cut at header_timeout (300 ms). */
  raw_open(&w, port);
  raw_send(&w, "\x16\x03\x01\x02\x00", 5); /* a record header, no record */
  uint64_t t0 = uv_now(&loop);
  CHECK(WAIT(w.eof, 3000));
  CHECK(uv_now(&loop) - t0 < 2000);
  raw_close(&w);

  /* Reload. An open keep-alive connection (pooled in cl, made under
   * certificate A) keeps working; new connections get certificate C. */
  CHECK_INT(get(cl, port, ca_a, NULL, "/peer", &r), 0);
  CHECK_INT(copy_file(c_crt, srv_crt), 0);
  CHECK_INT(copy_file(c_key, srv_key), 0);
  CHECK_INT(berth_tls_server_reload(tls, err, sizeof err), 0);
  CHECK_INT(berth_tls_server_generation(tls), 2);
  CHECK_INT(get(cl, port, ca_a, NULL, "/peer", &r2), 0);
  CHECK_STR(r.body.data, r2.body.data); /* the same connection */
  berth_buf_free(&r.body);
  berth_buf_free(&r2.body);
  berth_http_client *cl2 = berth_http_client_new(&loop, 4);
  CHECK_INT(get(cl2, port, ca_a, NULL, "/hello", &r), UV_EPROTO);
  berth_buf_free(&r.body);
  CHECK_INT(get(cl2, port, ca_c, NULL, "/hello", &r), 0);
  CHECK_STR(r.body.data, "hello");
  berth_buf_free(&r.body);
  /* The old connection still answers after the others came and went. */
  CHECK_INT(get(cl, port, ca_a, NULL, "/peer", &r), 0);
  CHECK_INT(r.http, 200);
  berth_buf_free(&r.body);

  /* A reload from a broken file fails and keeps certificate C. */
  write_file(srv_key, "not a key\n");
  CHECK(berth_tls_server_reload(tls, err, sizeof err) < 0);
  CHECK(strstr(err, srv_key) != NULL);
  CHECK_INT(berth_tls_server_generation(tls), 2);
  berth_http_client *cl3 = berth_http_client_new(&loop, 4);
  CHECK_INT(get(cl3, port, ca_c, NULL, "/hello", &r), 0);
  berth_buf_free(&r.body);

  /* Shut down: servers close (close_notify to idle connections), clients
   * free, then the contexts. */
  berth_http_client_free(cl);
  berth_http_client_free(cl2);
  berth_http_client_free(cl3);
  berth_http_server_close(srv, on_closed, NULL);
  berth_http_server_close(plain_srv, on_closed, NULL);
  CHECK(WAIT(closed_count == 2, 3000));
  berth_tls_server_free(tls);
  berth_tls_client_free(ca_a);
  berth_tls_client_free(ca_b);
  berth_tls_client_free(ca_c);
  uv_close((uv_handle_t *)&deadline, on_handle_closed);
  uv_close((uv_handle_t *)&resume_timer, on_handle_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&loop), 0);

  const char *files[] = {a_crt, a_key, b_crt, b_key, c_crt, c_key, srv_crt, srv_key};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(files[i]);
  rmdir(dir);
  CHECK_DONE();
}

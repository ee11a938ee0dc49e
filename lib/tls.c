/* tls: TLS sessions over OpenSSL memory BIOs (see tls.h).
 *
 * DESIGN: each session owns an SSL with two memory BIOs: "in" receives the
 * ciphertext the caller read from its socket, "out" collects what OpenSSL
 * wants sent. OpenSSL never touches a descriptor, so the libuv code keeps
 * its own reads, writes, timers and backpressure; a write into "out" never
 * blocks. SSL_CTX is refcounted by OpenSSL (SSL_new takes a reference), so
 * a reload only swaps the context that new sessions start from; sessions
 * already open hold theirs until SSL_free.
 *
 * Servers send no session tickets and keep no session cache: a ticket that
 * arrives after a response would look like stray bytes on an idle pooled
 * connection, and our clients keep connections open instead of resuming. */
#include "berth/tls.h"

#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "berth/buf.h"

#define TLS_ERR_MAX 256
#define TLS_NAME_MAX 253 /* longest DNS name */

/* One context may serve listeners on several threads (the router's): the
 * lock keeps a reload from freeing it under a thread's SSL_new. */
struct berth_tls_server {
  pthread_mutex_t lock;
  SSL_CTX *ctx; /* for new sessions; open ones hold their own reference */
  char *cert_file;
  char *key_file;
  unsigned generation;
};

struct berth_tls_client {
  SSL_CTX *ctx;
};

struct berth_tls_conn {
  SSL *ssl;
  BIO *in;  /* owned by ssl */
  BIO *out; /* owned by ssl */
  int established;
  int notify_sent;
  int dead;
  char name[TLS_NAME_MAX + 1]; /* the peer we verify (client side), for messages */
  char err[2 * TLS_ERR_MAX + 64]; /* room for a reason and a peer name */
};

static const unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

/* The oldest queued OpenSSL reason, which names the cause; later entries
 * are usually consequences. Clears the queue, which is per thread. */
static void openssl_reason(char *buf, size_t len) {
  unsigned long e = ERR_get_error();
  if (!buf || !len) {
    ERR_clear_error();
    return;
  }
  if (!e) snprintf(buf, len, "unknown OpenSSL error");
  else ERR_error_string_n(e, buf, len);
  ERR_clear_error();
}

static void set_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b) {
  if (err && errlen) snprintf(err, errlen, fmt, a, b);
}

/* ---- server contexts ---- */

static int on_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg) {
  (void)ssl;
  (void)arg;
  unsigned char *sel = NULL;
  /* Only http/1.1 is served; a client offering only h2 proceeds without
   * ALPN rather than failing (RFC 7301 allows either). */
  if (SSL_select_next_proto(&sel, outlen, alpn_http11, sizeof alpn_http11, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *server_ctx_load(const char *cert_file, const char *key_file, char *err,
                                size_t errlen) {
  char why[TLS_ERR_MAX];
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    openssl_reason(why, sizeof why);
    set_err(err, errlen, "cannot create a TLS context: %s%s", why, "");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* Renegotiation costs the server a handshake per client request. */
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  /* Thousands of idle keep-alive connections: give their buffers back. */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(ctx, on_alpn_select, NULL);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
    openssl_reason(why, sizeof why);
    set_err(err, errlen,
            "cannot load the TLS certificate chain from '%s' (%s); --tls-cert must name a "
            "readable PEM file, leaf certificate first",
            cert_file, why);
    goto fail;
  }
  int mismatch = 0;
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
    /* OpenSSL compares the key with the loaded certificate right here. */
    mismatch = ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH;
    if (!mismatch) {
      openssl_reason(why, sizeof why);
      set_err(err, errlen,
              "cannot load the TLS private key from '%s' (%s); --tls-key must name a readable, "
              "unencrypted PEM key",
              key_file, why);
      goto fail;
    }
  }
  if (mismatch || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    set_err(err, errlen,
            "the TLS private key in '%s' does not match the certificate in '%s'; give the key "
            "the certificate was issued for",
            key_file, cert_file);
    goto fail;
  }
  return ctx;
fail:
  SSL_CTX_free(ctx);
  return NULL;
}

int berth_tls_server_new(const char *cert_file, const char *key_file, berth_tls_server **out,
                         char *err, size_t errlen) {
  if (err && errlen) err[0] = 0;
  if (!out) return -EINVAL;
  *out = NULL;
  if (!cert_file || !key_file || !cert_file[0] || !key_file[0]) {
    set_err(err, errlen, "TLS needs both a certificate file and a key file%s%s", "", "");
    return -EINVAL;
  }
  SSL_CTX *ctx = server_ctx_load(cert_file, key_file, err, errlen);
  if (!ctx) return -EPROTO;
  berth_tls_server *s = berth_xcalloc(1, sizeof *s);
  pthread_mutex_init(&s->lock, NULL);
  s->ctx = ctx;
  s->cert_file = berth_xstrdup(cert_file);
  s->key_file = berth_xstrdup(key_file);
  s->generation = 1;
  *out = s;
  return 0;
}

int berth_tls_server_reload(berth_tls_server *s, char *err, size_t errlen) {
  if (err && errlen) err[0] = 0;
  if (!s) return -EINVAL;
  SSL_CTX *ctx = server_ctx_load(s->cert_file, s->key_file, err, errlen);
  if (!ctx) return -EPROTO; /* the old context stays */
  pthread_mutex_lock(&s->lock);
  SSL_CTX_free(s->ctx);     /* drops our reference only */
  s->ctx = ctx;
  __atomic_add_fetch(&s->generation, 1, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&s->lock);
  return 0;
}

unsigned berth_tls_server_generation(const berth_tls_server *s) {
  return __atomic_load_n(&s->generation, __ATOMIC_RELAXED);
}

void berth_tls_server_free(berth_tls_server *s) {
  if (!s) return;
  SSL_CTX_free(s->ctx);
  pthread_mutex_destroy(&s->lock);
  free(s->cert_file);
  free(s->key_file);
  free(s);
}

/* ---- client contexts ---- */

int berth_tls_client_new(const char *ca_file, berth_tls_client **out, char *err,
                         size_t errlen) {
  char why[TLS_ERR_MAX];
  if (err && errlen) err[0] = 0;
  if (!out) return -EINVAL;
  *out = NULL;
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    openssl_reason(why, sizeof why);
    set_err(err, errlen, "cannot create a TLS context: %s%s", why, "");
    return -EPROTO;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof alpn_http11);
  int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                   : SSL_CTX_set_default_verify_paths(ctx);
  if (ok != 1) {
    openssl_reason(why, sizeof why);
    if (ca_file)
      set_err(err, errlen,
              "cannot load CA certificates from '%s' (%s); --ca-file must name a readable PEM "
              "file",
              ca_file, why);
    else
      set_err(err, errlen, "cannot load the system's CA certificates (%s)%s", why, "");
    SSL_CTX_free(ctx);
    return -EPROTO;
  }
  berth_tls_client *c = berth_xcalloc(1, sizeof *c);
  c->ctx = ctx;
  *out = c;
  return 0;
}

void berth_tls_client_free(berth_tls_client *c) {
  if (!c) return;
  SSL_CTX_free(c->ctx);
  free(c);
}

/* ---- sessions ---- */

static berth_tls_conn *conn_new(SSL_CTX *ctx) {
  SSL *ssl = SSL_new(ctx);
  if (!ssl) {
    ERR_clear_error();
    return NULL;
  }
  BIO *in = BIO_new(BIO_s_mem());
  BIO *out = BIO_new(BIO_s_mem());
  if (!in || !out) {
    BIO_free(in);
    BIO_free(out);
    SSL_free(ssl);
    ERR_clear_error();
    return NULL;
  }
  /* An empty "in" means "wait for more", not end of stream. */
  BIO_set_mem_eof_return(in, -1);
  BIO_set_mem_eof_return(out, -1);
  SSL_set_bio(ssl, in, out);
  berth_tls_conn *t = berth_xcalloc(1, sizeof *t);
  t->ssl = ssl;
  t->in = in;
  t->out = out;
  return t;
}

berth_tls_conn *berth_tls_conn_server(berth_tls_server *s) {
  pthread_mutex_lock(&s->lock);
  berth_tls_conn *t = conn_new(s->ctx);
  pthread_mutex_unlock(&s->lock);
  if (t) SSL_set_accept_state(t->ssl);
  return t;
}

berth_tls_conn *berth_tls_conn_client(berth_tls_client *c, const char *name) {
  if (!name || !name[0] || strlen(name) > TLS_NAME_MAX) return NULL;
  berth_tls_conn *t = conn_new(c->ctx);
  if (!t) return NULL;
  snprintf(t->name, sizeof t->name, "%s", name);
  SSL_set_connect_state(t->ssl);
  unsigned char addr[16];
  int numeric = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
  int ok;
  if (numeric) {
    /* RFC 6066 3: SNI carries host names only, never addresses. */
    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name) == 1;
  } else {
    SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = SSL_set1_host(t->ssl, name) == 1 && SSL_set_tlsext_host_name(t->ssl, name) == 1;
  }
  if (!ok) {
    ERR_clear_error();
    berth_tls_conn_free(t);
    return NULL;
  }
  return t;
}

void berth_tls_conn_free(berth_tls_conn *t) {
  if (!t) return;
  SSL_free(t->ssl); /* frees both BIOs and drops the context reference */
  free(t);
}

void berth_tls_feed(berth_tls_conn *t, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    int n = BIO_write(t->in, p, len > INT_MAX ? INT_MAX : (int)len);
    if (n <= 0) abort(); /* a memory BIO fails only on out-of-memory */
    p += n;
    len -= (size_t)n;
  }
}

size_t berth_tls_in_pending(const berth_tls_conn *t) {
  return BIO_ctrl_pending(t->in);
}

/* Turns a failed SSL_* call into 0 (wants more input), BERTH_TLS_CLOSED or
 * -EPROTO with t->err set. */
static int fail_code(berth_tls_conn *t, int ret, const char *what) {
  int e = SSL_get_error(t->ssl, ret);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return 0;
  }
  if (e == SSL_ERROR_ZERO_RETURN) {
    ERR_clear_error();
    return BERTH_TLS_CLOSED;
  }
  t->dead = 1;
  long vr = SSL_get_verify_result(t->ssl);
  char why[TLS_ERR_MAX];
  if (!t->established && vr != X509_V_OK) {
    ERR_clear_error();
    snprintf(t->err, sizeof t->err, "certificate verify failed: %s (peer %s)",
             X509_verify_cert_error_string(vr), t->name[0] ? t->name : "?");
  } else if (e == SSL_ERROR_SSL) {
    openssl_reason(why, sizeof why);
    snprintf(t->err, sizeof t->err, "%s: %s", what, why);
  } else {
    ERR_clear_error();
    snprintf(t->err, sizeof t->err, "%s: unexpected TLS state %d", what, e);
  }
  return -EPROTO;
}

int berth_tls_handshake(berth_tls_conn *t) {
  if (t->dead) return -EPROTO;
  if (t->established) return 1;
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    t->established = 1;
    return 1;
  }
  int rc = fail_code(t, r, "TLS handshake failed");
  if (rc == BERTH_TLS_CLOSED) {
    t->dead = 1;
    snprintf(t->err, sizeof t->err, "TLS handshake failed: the peer closed the session");
    return -EPROTO;
  }
  return rc;
}

int berth_tls_established(const berth_tls_conn *t) {
  return t->established;
}

ssize_t berth_tls_read(berth_tls_conn *t, void *buf, size_t cap) {
  if (t->dead) return -EPROTO;
  if (!t->established) {
    int h = berth_tls_handshake(t);
    if (h <= 0) return h;
  }
  if (cap == 0) return 0;
  ERR_clear_error();
  int n = SSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
  if (n > 0) return n;
  return fail_code(t, n, "TLS read failed");
}

int berth_tls_write(berth_tls_conn *t, const void *data, size_t len) {
  if (t->dead) return -EPROTO;
  if (!t->established || t->notify_sent) return -EINVAL;
  const char *p = data;
  while (len > 0) {
    ERR_clear_error();
    /* Without SSL_MODE_ENABLE_PARTIAL_WRITE and with a memory BIO that
     * never fills, SSL_write takes all it is given or fails. */
    int n = SSL_write(t->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
    if (n <= 0) {
      int rc = fail_code(t, n, "TLS write failed");
      return rc < 0 ? rc : -EPROTO;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int berth_tls_close_notify(berth_tls_conn *t) {
  if (t->notify_sent || t->dead || !t->established) return 0;
  t->notify_sent = 1;
  ERR_clear_error();
  /* 0 means "sent, the peer's close_notify not seen": all we want, since
   * the connection closes after it either way. */
  int r = SSL_shutdown(t->ssl);
  if (r < 0) return fail_code(t, r, "TLS shutdown failed") < 0 ? -EPROTO : 0;
  return 0;
}

size_t berth_tls_out_pending(const berth_tls_conn *t) {
  return BIO_ctrl_pending(t->out);
}

/* BIO_read rather than peeking at the memory and BIO_reset: a reset
 * clears the BIO's whole allocation, which after one large answer would
 * cost a big memset per small write. */
size_t berth_tls_out_take(berth_tls_conn *t, void *buf, size_t cap) {
  size_t done = 0;
  while (done < cap) {
    size_t want = cap - done;
    int n = BIO_read(t->out, (char *)buf + done, want > INT_MAX ? INT_MAX : (int)want);
    if (n <= 0) break;
    done += (size_t)n;
  }
  return done;
}

const char *berth_tls_error(const berth_tls_conn *t) {
  return t->err;
}

const char *berth_tls_version(const berth_tls_conn *t) {
  return SSL_get_version(t->ssl);
}

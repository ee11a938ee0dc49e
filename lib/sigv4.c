/* sigv4: see sigv4.h. The rules are AWS's "Create a canonical request for
 * Signature Version 4"; the values are checked against the SDK's signer in
 * tests/unit/test_sigv4.c.
 *
 * DESIGN (cost per request): a verifier hashes the body and the canonical
 * request and computes one HMAC for every request. With OpenSSL 3,
 * EVP_sha256() and the one-shot HMAC() look the algorithm up in the
 * provider store under a lock, and HMAC() builds and frees a MAC context
 * with three digest contexts each call: most of a verification's time
 * (bench/http_hot.c). So SHA-256 is fetched once per process, each thread
 * keeps one digest context that every hash reuses (freed when the thread
 * exits), and HMAC is written out over it (RFC 2104). Nothing here is
 * shared between threads but the fetched, immutable EVP_MD. */
#include "berth/sigv4.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const unsigned char *b, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[b[i] >> 4];
    out[2 * i + 1] = digits[b[i] & 15];
  }
  out[2 * n] = '\0';
}

static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha_md;        /* written once under sha_once, then read-only */
static pthread_key_t sha_key; /* frees a thread's context when it exits */
static _Thread_local EVP_MD_CTX *sha_ctx;

static void sha_ctx_free(void *ctx) {
  EVP_MD_CTX_free(ctx);
}

static void sha_setup(void) {
  sha_md = EVP_MD_fetch(NULL, "SHA256", NULL); /* NULL: EVP_sha256() below */
  if (pthread_key_create(&sha_key, sha_ctx_free) != 0) abort();
}

/* SHA-256 of a then b (b may be empty) into out, on this thread's context.
 * A failure here is OpenSSL failing to allocate: abort, as for our own
 * allocations, rather than compare a signature against garbage. */
static void sha256_2(const void *a, size_t alen, const void *b, size_t blen,
                     unsigned char out[32]) {
  if (!sha_ctx) {
    pthread_once(&sha_once, sha_setup);
    sha_ctx = EVP_MD_CTX_new();
    if (!sha_ctx || pthread_setspecific(sha_key, sha_ctx) != 0) abort();
  }
  unsigned int n = 0;
  if (!EVP_DigestInit_ex(sha_ctx, sha_md ? sha_md : EVP_sha256(), NULL) ||
      !EVP_DigestUpdate(sha_ctx, a, alen) || (blen && !EVP_DigestUpdate(sha_ctx, b, blen)) ||
      !EVP_DigestFinal_ex(sha_ctx, out, &n) || n != 32) {
    fprintf(stderr, "berth: SHA-256 failed in OpenSSL\n");
    abort();
  }
}

void berth_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[32];
  sha256_2(data, len, NULL, 0, md);
  hex(md, 32, out);
}

/* Copies the value of "key=" that starts at p (up to ',' or ' ') into out. */
static int take(const char *s, const char *key, char *out, size_t outsz) {
  const char *p = strstr(s, key);
  if (!p) return -1;
  p += strlen(key);
  size_t n = strcspn(p, ", ");
  if (n == 0 || n >= outsz) return -1;
  memcpy(out, p, n);
  out[n] = '\0';
  return 0;
}

int berth_sigv4_parse(const char *a, berth_sigv4_auth *o, char *err, size_t errsz) {
  memset(o, 0, sizeof *o);
  static const char scheme[] = "AWS4-HMAC-SHA256 ";
  if (strncmp(a, scheme, sizeof scheme - 1) != 0) {
    snprintf(err, errsz, "Authorization header requires the AWS4-HMAC-SHA256 scheme");
    return -EINVAL;
  }
  char cred[400];
  if (take(a, "Credential=", cred, sizeof cred)) {
    snprintf(err, errsz, "Authorization header requires 'Credential' parameter.");
    return -EINVAL;
  }
  if (take(a, "SignedHeaders=", o->signed_headers, sizeof o->signed_headers)) {
    snprintf(err, errsz, "Authorization header requires 'SignedHeaders' parameter.");
    return -EINVAL;
  }
  if (take(a, "Signature=", o->signature, sizeof o->signature) || strlen(o->signature) != 64 ||
      strspn(o->signature, "0123456789abcdef") != 64) {
    snprintf(err, errsz, "Authorization header requires 'Signature' parameter (64 hex digits).");
    return -EINVAL;
  }
  /* AK/DATE/REGION/SERVICE/aws4_request */
  char *parts[5] = {0};
  int np = 0;
  for (char *p = cred, *save = NULL, *t; np < 5 && (t = strtok_r(p, "/", &save)); p = NULL)
    parts[np++] = t;
  if (np != 5 || strcmp(parts[4], "aws4_request") != 0 || strlen(parts[1]) != 8 ||
      strspn(parts[1], "0123456789") != 8 || strlen(parts[0]) >= sizeof o->access_key ||
      strlen(parts[2]) >= sizeof o->region || strlen(parts[3]) >= sizeof o->service) {
    snprintf(err, errsz, "Credential should be scoped to a valid region, service and date: "
             "AKID/YYYYMMDD/REGION/SERVICE/aws4_request.");
    return -EINVAL;
  }
  snprintf(o->access_key, sizeof o->access_key, "%s", parts[0]);
  snprintf(o->date, sizeof o->date, "%s", parts[1]);
  snprintf(o->region, sizeof o->region, "%s", parts[2]);
  snprintf(o->service, sizeof o->service, "%s", parts[3]);
  return 0;
}

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.' || c == '~';
}

/* AWS's UriEncode: every byte but the unreserved ones as %XX (upper case),
 * '/' kept when keep_slash. */
static void uri_encode(berth_buf *out, const char *s, size_t n, int keep_slash) {
  static const char digits[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n;) {
    /* Runs of bytes kept as they are go in with one append. */
    size_t j = i;
    while (j < n && (unreserved((unsigned char)s[j]) || (keep_slash && s[j] == '/'))) j++;
    if (j > i) berth_buf_append(out, s + i, j - i);
    if (j == n) break;
    unsigned char c = (unsigned char)s[j];
    char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
    berth_buf_append(out, esc, 3);
    i = j + 1;
  }
}

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes s[0..n) into out (malformed escapes stay as they are). */
static size_t pct_decode(const char *s, size_t n, char *out) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      out[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else {
      out[k++] = s[i];
    }
  }
  return k;
}

typedef struct qparam {
  char *k, *v;
} qparam;

static int qcmp(const void *a, const void *b) {
  const qparam *x = a, *y = b;
  int c = strcmp(x->k, y->k);
  return c ? c : strcmp(x->v, y->v);
}

/* The query's parameters, decoded, encoded AWS's way, sorted. */
static void canonical_query(berth_buf *out, const char *q) {
  size_t n = 0, cap = 0;
  qparam *ps = NULL;
  while (q && *q) {
    size_t len = strcspn(q, "&");
    if (len) {
      const char *eq = memchr(q, '=', len);
      size_t kl = eq ? (size_t)(eq - q) : len;
      char *kd = malloc(kl + 1), *vd = malloc(len - kl + 1);
      kd[pct_decode(q, kl, kd)] = '\0';
      vd[eq ? pct_decode(eq + 1, len - kl - 1, vd) : 0] = '\0';
      berth_buf kb, vb;
      berth_buf_init(&kb, 0);
      berth_buf_init(&vb, 0);
      uri_encode(&kb, kd, strlen(kd), 0);
      uri_encode(&vb, vd, strlen(vd), 0);
      free(kd);
      free(vd);
      if (n == cap) {
        cap = cap ? cap * 2 : 8;
        ps = berth_xrealloc(ps, cap * sizeof *ps);
      }
      ps[n].k = berth_buf_steal(&kb, NULL);
      ps[n].v = berth_buf_steal(&vb, NULL);
      if (!ps[n].k) ps[n].k = berth_xstrdup("");
      if (!ps[n].v) ps[n].v = berth_xstrdup("");
      n++;
    }
    q += len;
    if (*q == '&') q++;
  }
  if (n) qsort(ps, n, sizeof *ps, qcmp);
  for (size_t i = 0; i < n; i++) {
    berth_buf_printf(out, "%s%s=%s", i ? "&" : "", ps[i].k, ps[i].v);
    free(ps[i].k);
    free(ps[i].v);
  }
  free(ps);
}

/* A header value as AWS signs it: trimmed, inner runs of spaces as one. */
static void canonical_value(berth_buf *out, const char *v) {
  while (*v == ' ' || *v == '\t') v++;
  size_t n = strlen(v);
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  /* v[0] and v[n-1] are not blank: runs of words, each blank run one space. */
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && v[j] != ' ' && v[j] != '\t') j++;
    berth_buf_append(out, v + i, j - i);
    if (j == n) break;
    while (v[j] == ' ' || v[j] == '\t') j++; /* stops before n: v[n-1] is not blank */
    berth_buf_append(out, " ", 1);
    i = j;
  }
}

int berth_sigv4_canonical(berth_buf *out, const char *method, const char *path,
                          const char *query, const berth_http_header *h, size_t n,
                          const char *signed_headers, const char *payload_sha256, int s3) {
  berth_buf_appends(out, method);
  berth_buf_append(out, "\n", 1);
  if (!path || !*path) path = "/";
  if (s3)
    berth_buf_appends(out, path);
  else
    uri_encode(out, path, strlen(path), 1);
  berth_buf_append(out, "\n", 1);
  canonical_query(out, query);
  berth_buf_append(out, "\n", 1);
  const char *p = signed_headers;
  while (*p) {
    size_t len = strcspn(p, ";");
    int found = 0;
    for (size_t i = 0; i < n; i++) {
      /* The first letter first: most pairs differ there. */
      if ((len && h[i].name[0] != p[0]) || strncmp(h[i].name, p, len) != 0 ||
          h[i].name[len] != '\0')
        continue;
      if (!found) {
        berth_buf_append(out, p, len);
        berth_buf_append(out, ":", 1);
      } else {
        berth_buf_append(out, ",", 1);
      }
      canonical_value(out, h[i].value);
      found = 1;
    }
    if (!found) return -ENOENT;
    berth_buf_append(out, "\n", 1);
    p += len;
    if (*p == ';') p++;
  }
  berth_buf_append(out, "\n", 1);
  berth_buf_appends(out, signed_headers);
  berth_buf_append(out, "\n", 1);
  berth_buf_appends(out, payload_sha256);
  return 0;
}

/* HMAC-SHA256 (RFC 2104): H((K ^ opad) || H((K ^ ipad) || msg)), K the key
 * padded to the 64-byte block, or its hash when longer. */
static void hmac(const void *key, size_t keylen, const char *msg, size_t len, unsigned char out[32]) {
  unsigned char k[64] = {0}, pad[64], inner[32];
  if (keylen > sizeof k)
    sha256_2(key, keylen, NULL, 0, k);
  else
    memcpy(k, key, keylen);
  for (size_t i = 0; i < sizeof k; i++) pad[i] = k[i] ^ 0x36;
  sha256_2(pad, sizeof pad, msg, len, inner);
  for (size_t i = 0; i < sizeof k; i++) pad[i] = k[i] ^ 0x5c;
  sha256_2(pad, sizeof pad, inner, sizeof inner, out);
  /* The key material goes. */
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
  OPENSSL_cleanse(inner, sizeof inner);
}

void berth_sigv4_signing_key(const char *secret, const char *date, const char *region,
                             const char *service, unsigned char out[32]) {
  char k0[300];
  snprintf(k0, sizeof k0, "AWS4%s", secret);
  unsigned char k1[32], k2[32], k3[32];
  hmac(k0, strlen(k0), date, strlen(date), k1);
  hmac(k1, 32, region, strlen(region), k2);
  hmac(k2, 32, service, strlen(service), k3);
  hmac(k3, 32, "aws4_request", 12, out);
  /* The key material goes. */
  memset(k0, 0, sizeof k0);
  memset(k1, 0, sizeof k1);
  memset(k2, 0, sizeof k2);
  memset(k3, 0, sizeof k3);
}

void berth_sigv4_sign(const char *secret, const char *date, const char *region,
                      const char *service, const char *amz_date, const char *canonical,
                      size_t canonical_len, char out[65]) {
  unsigned char key[32];
  berth_sigv4_signing_key(secret, date, region, service, key);
  berth_sigv4_sign_key(key, date, region, service, amz_date, canonical, canonical_len, out);
  memset(key, 0, sizeof key);
}

void berth_sigv4_sign_key(const unsigned char k4[32], const char *date, const char *region,
                          const char *service, const char *amz_date, const char *canonical,
                          size_t canonical_len, char out[65]) {
  unsigned char sig[32];
  char creq_hash[65];
  berth_sha256_hex(canonical, canonical_len, creq_hash);
  char sts[600];
  int len = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date,
                     date, region, service, creq_hash);
  hmac(k4, 32, sts, (size_t)len, sig);
  hex(sig, 32, out);
}

/* sigv4: see sigv4.h. The rules are AWS's "Create a canonical request for
 * Signature Version 4"; the values are checked against the SDK's signer in
 * tests/unit/test_sigv4.c. */
#include "berth/sigv4.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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

void berth_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
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
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c) || (keep_slash && c == '/'))
      berth_buf_append(out, (const char *)&c, 1);
    else
      berth_buf_printf(out, "%%%02X", c);
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
  int space = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] == ' ' || v[i] == '\t') {
      space = 1;
      continue;
    }
    if (space) berth_buf_append(out, " ", 1);
    space = 0;
    berth_buf_append(out, v + i, 1);
  }
}

int berth_sigv4_canonical(berth_buf *out, const char *method, const char *path,
                          const char *query, const berth_http_header *h, size_t n,
                          const char *signed_headers, const char *payload_sha256, int s3) {
  berth_buf_printf(out, "%s\n", method);
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
      if (strlen(h[i].name) != len || strncmp(h[i].name, p, len) != 0) continue;
      if (!found) berth_buf_printf(out, "%.*s:", (int)len, p);
      else berth_buf_append(out, ",", 1);
      canonical_value(out, h[i].value);
      found = 1;
    }
    if (!found) return -ENOENT;
    berth_buf_append(out, "\n", 1);
    p += len;
    if (*p == ';') p++;
  }
  berth_buf_printf(out, "\n%s\n%s", signed_headers, payload_sha256);
  return 0;
}

static void hmac(const void *key, size_t keylen, const char *msg, size_t len, unsigned char out[32]) {
  unsigned int n = 32;
  HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, len, out, &n);
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

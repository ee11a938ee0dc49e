/* s3: see s3.h. */
#include "s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

void s3_endpoint(const char *region, char *out, size_t outsz) {
  const char *e = getenv("AWS_ENDPOINT_URL_S3");
  if (!e || !*e) e = getenv("AWS_ENDPOINT_URL");
  if (e && *e)
    snprintf(out, outsz, "%s", e);
  else
    snprintf(out, outsz, "https://s3.%s.amazonaws.com", region);
  size_t n = strlen(out);
  while (n && out[n - 1] == '/') out[--n] = '\0';
}

/* AWS's URI encoding: every byte but A-Z a-z 0-9 - _ . ~ (and '/' when
 * keep_slash) as %XX, uppercase. SigV4 signs the encoded form, so it must
 * be exactly this one. */
static int encode(berth_buf *b, const char *s, int keep_slash) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    unsigned char c = *p;
    int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/');
    if (plain ? berth_buf_append(b, p, 1) : berth_buf_printf(b, "%%%02X", c)) return -1;
  }
  return 0;
}

int s3_object_url(const char *endpoint, const char *bucket, const char *key, char *out,
                  size_t outsz) {
  berth_buf b;
  berth_buf_init(&b, outsz - 1);
  int rc = berth_buf_printf(&b, "%s/", endpoint) || encode(&b, bucket, 0) ||
           berth_buf_appends(&b, "/") || encode(&b, key, 1) ? -1 : 0;
  if (!rc) snprintf(out, outsz, "%s", b.data);
  berth_buf_free(&b);
  return rc;
}

void s3_objects_free(s3_object *objs, int n) {
  for (int i = 0; i < n; i++) free(objs[i].key);
  free(objs);
}

int s3_list(transfer *t, const char *endpoint, const char *bucket, const char *prefix,
            s3_object **objs) {
  s3_object *v = NULL;
  int n = 0, cap = 0;
  char token[2048] = "";
  berth_buf url, body;
  berth_buf_init(&url, 8192);
  berth_buf_init(&body, 16 << 20);
  for (;;) {
    /* Query parameters sorted by name: the canonical order SigV4 signs. */
    berth_buf_reset(&url);
    int bad = berth_buf_printf(&url, "%s/", endpoint) || encode(&url, bucket, 0) ||
              berth_buf_appends(&url, "?");
    if (token[0]) bad = bad || berth_buf_appends(&url, "continuation-token=") ||
                        encode(&url, token, 0) || berth_buf_appends(&url, "&");
    bad = bad || berth_buf_appends(&url, "list-type=2&prefix=") || encode(&url, prefix, 0);
    if (bad) {
      snprintf(t->error, sizeof t->error, "the S3 prefix '%.1000s' is too long", prefix);
      goto fail;
    }
    transfer_info info;
    if (transfer_get(t, url.data, &body, &info)) goto fail;
    const char *at = body.data, *next;
    char *item = berth_xmalloc(64 << 10);
    char key[1100], etag[256], size[32];
    for (;;) {
      const char *start = strstr(at, "<Contents>");
      if (!start) break;
      const char *end = strstr(start, "</Contents>");
      if (!end || end - start >= (64 << 10)) break;
      memcpy(item, start, (size_t)(end - start));
      item[end - start] = '\0';
      next = NULL;
      if (transfer_xml_text(item, &next, "Key", key, sizeof key)) {
        free(item);
        snprintf(t->error, sizeof t->error, "ListObjectsV2 on s3://%s/%s returned an object "
                 "without a Key (or with one over 1024 bytes)", bucket, prefix);
        goto fail;
      }
      next = NULL;
      if (transfer_xml_text(item, &next, "ETag", etag, sizeof etag)) etag[0] = '\0';
      next = NULL;
      if (transfer_xml_text(item, &next, "Size", size, sizeof size)) size[0] = '\0';
      if (n == S3_LIST_MAX) {
        free(item);
        snprintf(t->error, sizeof t->error, "s3://%s/%s holds more than %d objects, more than "
                 "one artifact may have: pack them into a .tar.gz", bucket, prefix, S3_LIST_MAX);
        goto fail;
      }
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        v = berth_xrealloc(v, (size_t)cap * sizeof *v);
      }
      v[n].key = berth_xstrdup(key);
      snprintf(v[n].etag, sizeof v[n].etag, "%s", etag);
      v[n].size = size[0] ? strtoll(size, NULL, 10) : -1;
      n++;
      at = end;
    }
    free(item);
    char truncated[16] = "";
    transfer_xml_text(body.data, NULL, "IsTruncated", truncated, sizeof truncated);
    if (strcmp(truncated, "true") != 0) break;
    if (transfer_xml_text(body.data, NULL, "NextContinuationToken", token, sizeof token) ||
        !token[0]) {
      snprintf(t->error, sizeof t->error, "ListObjectsV2 on s3://%s/%s is truncated but has "
               "no NextContinuationToken", bucket, prefix);
      goto fail;
    }
  }
  berth_buf_free(&url);
  berth_buf_free(&body);
  *objs = v;
  return n;
fail:
  berth_buf_free(&url);
  berth_buf_free(&body);
  s3_objects_free(v, n);
  return -1;
}

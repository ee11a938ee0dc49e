/* buf: bounded growable byte buffers and aborting allocators. */
#include "berth/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n) {
  fprintf(stderr, "berth: out of memory allocating %zu bytes\n", n);
  abort();
}

void *berth_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom(n);
  return p;
}

void *berth_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom(n * size);
  return p;
}

void *berth_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom(n);
  return q;
}

char *berth_xstrdup(const char *s) {
  return berth_xstrndup(s, strlen(s));
}

char *berth_xstrndup(const char *s, size_t n) {
  char *p = berth_xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void berth_buf_init(berth_buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void berth_buf_free(berth_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void berth_buf_reset(berth_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

static int reserve(berth_buf *b, size_t extra) {
  if (b->max && (extra > b->max || b->len > b->max - extra)) return -ENOBUFS;
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  b->data = berth_xrealloc(b->data, cap);
  b->cap = cap;
  return 0;
}

int berth_buf_append(berth_buf *b, const void *data, size_t n) {
  int rc = reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int berth_buf_appends(berth_buf *b, const char *s) {
  return berth_buf_append(b, s, strlen(s));
}

int berth_buf_append_u64(berth_buf *b, uint64_t n) {
  char digits[20];
  size_t k = sizeof digits;
  do {
    digits[--k] = (char)('0' + n % 10);
    n /= 10;
  } while (n);
  return berth_buf_append(b, digits + k, sizeof digits - k);
}

int berth_buf_printf(berth_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return -EINVAL;
  if ((size_t)n < sizeof small) return berth_buf_append(b, small, (size_t)n);
  int rc = reserve(b, (size_t)n);
  if (rc) return rc;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

void berth_buf_consume(berth_buf *b, size_t n) {
  if (n >= b->len) {
    berth_buf_reset(b);
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}

char *berth_buf_steal(berth_buf *b, size_t *len) {
  char *p = b->data;
  if (len) *len = b->len;
  if (!p) p = berth_xstrdup("");
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

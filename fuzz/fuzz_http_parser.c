/* fuzz_http_parser: libFuzzer driver for the HTTP/1.1 parser.
 *
 * The input goes to a request parser whole, then split at an offset taken
 * from its first bytes, then to a response parser (with or without
 * expect_no_body, default or tiny limits). Besides crashes and leaks, the
 * driver checks a property: splitting the input must not change what the
 * callbacks see (a digest of heads, bodies and completions) or the error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth/http.h"

typedef struct digest {
  uint64_t h;
  int msgs;
} digest;

static void mix(digest *d, const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) {
    d->h ^= s[i];
    d->h *= 1099511628211ULL;
  }
}

static void mix_str(digest *d, const char *s) {
  if (s) mix(d, s, strlen(s) + 1);
  else mix(d, "\xff", 1);
}

static int on_head(void *ud, const berth_http_head *h) {
  digest *d = ud;
  mix(d, "H", 1);
  mix_str(d, h->method);
  mix_str(d, h->target);
  mix_str(d, h->reason);
  mix(d, &h->status, sizeof h->status);
  mix(d, &h->version_minor, sizeof h->version_minor);
  mix(d, &h->content_length, sizeof h->content_length);
  mix(d, &h->chunked, sizeof h->chunked);
  mix(d, &h->keep_alive, sizeof h->keep_alive);
  mix(d, &h->expect_continue, sizeof h->expect_continue);
  for (size_t i = 0; i < h->n_headers; i++) {
    mix_str(d, h->headers[i].name);
    mix_str(d, h->headers[i].value);
  }
  const char *v = berth_http_head_get(h, "content-type");
  mix_str(d, v);
  return 0;
}

static int on_body(void *ud, const char *data, size_t len) {
  mix(ud, data, len); /* byte-wise, so splits do not change it */
  return 0;
}

static int on_complete(void *ud) {
  digest *d = ud;
  mix(d, "C", 1);
  d->msgs++;
  return 0;
}

static const berth_http_parser_cb cb = {on_head, on_body, on_complete};
static const berth_http_limits tiny = {64, 4, 32};

/* Feeds data cut at `cut` (or whole when cut >= size); returns the error. */
static int feed(berth_http_kind kind, const berth_http_limits *lim, int no_body, int finish,
                const uint8_t *data, size_t size, size_t cut, digest *d) {
  d->h = 1469598103934665603ULL;
  d->msgs = 0;
  berth_http_parser *p = berth_http_parser_new(kind, lim, &cb, d);
  if (no_body) berth_http_parser_expect_no_body(p);
  int err = 0;
  size_t bounds[2] = {cut < size ? cut : size, size};
  size_t off = 0;
  for (int k = 0; k < 2 && !err; k++) {
    while (off < bounds[k]) {
      ssize_t n = berth_http_parser_execute(p, (const char *)data + off, bounds[k] - off);
      if (n < 0) {
        err = (int)n;
        break;
      }
      if (n == 0) __builtin_trap(); /* no progress would hang a server */
      off += (size_t)n;
      (void)berth_http_parser_idle(p);
    }
  }
  if (!err && finish) err = berth_http_parser_finish(p);
  if (err) (void)berth_http_parser_error(p);
  berth_http_parser_free(p);
  return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16) return 0;
  size_t cut = size >= 2 ? ((size_t)data[0] | (size_t)data[1] << 8) % (size + 1) : 0;
  int flags = size ? data[size - 1] : 0;
  const berth_http_limits *lim = (flags & 2) ? &tiny : NULL;
  for (int kind = 0; kind < 2; kind++) {
    int no_body = kind == BERTH_HTTP_RESPONSE && (flags & 1);
    int finish = (flags & 4) != 0;
    digest whole, split;
    int e1 = feed((berth_http_kind)kind, lim, no_body, finish, data, size, size, &whole);
    int e2 = feed((berth_http_kind)kind, lim, no_body, finish, data, size, cut, &split);
    if (e1 != e2 || whole.h != split.h || whole.msgs != split.msgs) __builtin_trap();
  }
  char out[64];
  (void)berth_http_pct_decode((const char *)data, size, out, sizeof out);
  (void)berth_http_reason(size ? data[0] * 3 : 0);
  return 0;
}

/* fuzz_http_parser: libFuzzer driver for the HTTP/1.1 parser.
 *
 * The input goes to a request parser whole, then split at an offset taken
 * from its first bytes, then to a response parser (with or without
 * expect_no_body, default or tiny limits). Besides crashes and leaks, the
 * driver checks a property: splitting the input must not change what the
 * callbacks see (a digest of heads, bodies and completions) or the error.
 *
 * The last byte holds the flags: bit 0 expect_no_body (responses), bit 1
 * tiny limits, bit 2 finish() at the end, bits 3-4 which callback stops the
 * parser (0 none, 1 on_head, 2 on_body, 3 on_complete) and bits 5-7 on which
 * call of it (1 to 8). When one is chosen, each of the two runs is repeated
 * with that callback returning non-zero, as lib/http_client.c does after a
 * cancel: execute (or finish) must then return BERTH_HTTP_E_PAUSED at once,
 * with the callbacks seen so far exactly those of the run that did not stop,
 * and the parser is freed without being fed again. An input that never
 * reaches that call must behave as if nothing stopped it. The unpaused runs
 * are the same as before the pause bits existed, so older corpus files
 * replay the messages they were kept for. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth/http.h"

enum { STOP_NONE, STOP_HEAD, STOP_BODY, STOP_COMPLETE };

typedef struct digest {
  uint64_t h;
  int msgs;
  /* Set by the caller: count calls of callback `which` (STOP_*); on call
   * number `nth` take a snapshot, and return non-zero there if `stop`. */
  int which, nth, stop;
  /* Set by the callbacks. */
  int seen, fired;
  uint64_t snap_h;
  int snap_msgs;
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

/* Called last in every callback, so the snapshot includes that call. */
static int stop_here(digest *d, int which) {
  if (d->which != which || ++d->seen != d->nth) return 0;
  d->fired = 1;
  d->snap_h = d->h;
  d->snap_msgs = d->msgs;
  return d->stop;
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
  return stop_here(d, STOP_HEAD);
}

static int on_body(void *ud, const char *data, size_t len) {
  mix(ud, data, len); /* byte-wise, so splits do not change it */
  return stop_here(ud, STOP_BODY);
}

static int on_complete(void *ud) {
  digest *d = ud;
  mix(d, "C", 1);
  d->msgs++;
  return stop_here(d, STOP_COMPLETE);
}

static const berth_http_parser_cb cb = {on_head, on_body, on_complete};
static const berth_http_limits tiny = {64, 4, 32};

/* A callback stopped the parser exactly when this call says it did. */
static void check_stop(const digest *d, ssize_t rc) {
  if ((rc == BERTH_HTTP_E_PAUSED) != (d->stop && d->fired)) __builtin_trap();
}

/* Feeds data cut at `cut` (or whole when cut >= size); returns the error.
 * d->which, d->nth and d->stop choose the callback that stops the parser. */
static int feed(berth_http_kind kind, const berth_http_limits *lim, int no_body, int finish,
                const uint8_t *data, size_t size, size_t cut, digest *d) {
  d->h = 1469598103934665603ULL;
  d->msgs = 0;
  d->seen = d->fired = 0;
  berth_http_parser *p = berth_http_parser_new(kind, lim, &cb, d);
  if (no_body) berth_http_parser_expect_no_body(p);
  int err = 0;
  size_t bounds[2] = {cut < size ? cut : size, size};
  size_t off = 0;
  for (int k = 0; k < 2 && !err; k++) {
    while (off < bounds[k]) {
      ssize_t n = berth_http_parser_execute(p, (const char *)data + off, bounds[k] - off);
      check_stop(d, n);
      if (n < 0) {
        err = (int)n;
        break;
      }
      if (n == 0) __builtin_trap(); /* no progress would hang a server */
      off += (size_t)n;
      (void)berth_http_parser_idle(p);
    }
  }
  if (!err && finish) {
    err = berth_http_parser_finish(p); /* on_complete may stop it here */
    check_stop(d, err);
  }
  /* A stopped parser must not be used again, so only free it. */
  if (err && err != BERTH_HTTP_E_PAUSED) (void)berth_http_parser_error(p);
  berth_http_parser_free(p);
  return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16) return 0;
  size_t cut = size >= 2 ? ((size_t)data[0] | (size_t)data[1] << 8) % (size + 1) : 0;
  int flags = size ? data[size - 1] : 0;
  const berth_http_limits *lim = (flags & 2) ? &tiny : NULL;
  int which = (flags >> 3) & 3, nth = 1 + (flags >> 5);
  for (int kind = 0; kind < 2; kind++) {
    int no_body = kind == BERTH_HTTP_RESPONSE && (flags & 1);
    int finish = (flags & 4) != 0;
    /* [0] whole, [1] split; the unpaused runs snapshot the digest where the
     * paused ones will stop. */
    size_t cuts[2] = {size, cut};
    digest plain[2];
    int e[2];
    for (int s = 0; s < 2; s++) {
      plain[s] = (digest){.which = which, .nth = nth, .stop = 0};
      e[s] = feed((berth_http_kind)kind, lim, no_body, finish, data, size, cuts[s], &plain[s]);
    }
    if (e[0] != e[1] || plain[0].h != plain[1].h || plain[0].msgs != plain[1].msgs)
      __builtin_trap();
    if (which == STOP_NONE) continue;
    for (int s = 0; s < 2; s++) {
      digest d = {.which = which, .nth = nth, .stop = 1};
      int ep = feed((berth_http_kind)kind, lim, no_body, finish, data, size, cuts[s], &d);
      if (d.fired != plain[s].fired) __builtin_trap();
      if (d.fired ? (ep != BERTH_HTTP_E_PAUSED || d.h != plain[s].snap_h ||
                     d.msgs != plain[s].snap_msgs)
                  : (ep != e[s] || d.h != plain[s].h || d.msgs != plain[s].msgs))
        __builtin_trap();
    }
  }
  char out[64];
  (void)berth_http_pct_decode((const char *)data, size, out, sizeof out);
  (void)berth_http_reason(size ? data[0] * 3 : 0);
  return 0;
}

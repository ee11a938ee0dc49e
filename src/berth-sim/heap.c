/* heap: 4-ary min-heap of events ordered by (time, kind, id): shallower
 * than a binary heap, and a node's children share a cache line or two. */
#include "heap.h"

#include <errno.h>
#include <stdlib.h>

#include "berth/buf.h"

void heap_init(event_heap *h, size_t max) {
  h->ev = NULL;
  h->n = h->cap = 0;
  h->max = max;
}

void heap_free(event_heap *h) {
  free(h->ev);
  h->ev = NULL;
  h->n = h->cap = 0;
}

static int before(const sim_event *a, const sim_event *b) {
  if (a->t != b->t) return a->t < b->t;
  if (a->kind != b->kind) return a->kind < b->kind;
  return a->id < b->id;
}

int heap_push(event_heap *h, double t, int32_t kind, int32_t id) {
  if (h->n >= h->max) return -ENOBUFS;
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 1024;
    if (h->cap > h->max) h->cap = h->max;
    h->ev = berth_xrealloc(h->ev, h->cap * sizeof *h->ev);
  }
  sim_event e = {t, kind, id};
  size_t i = h->n++;
  while (i > 0) {
    size_t p = (i - 1) / 4;
    if (!before(&e, &h->ev[p])) break;
    h->ev[i] = h->ev[p];
    i = p;
  }
  h->ev[i] = e;
  return 0;
}

int heap_pop(event_heap *h, sim_event *out) {
  if (!h->n) return 0;
  *out = h->ev[0];
  sim_event last = h->ev[--h->n];
  size_t i = 0, n = h->n;
  for (;;) {
    size_t c = 4 * i + 1;
    if (c >= n) break;
    size_t end = c + 4 < n ? c + 4 : n;
    for (size_t k = c + 1; k < end; k++)
      if (before(&h->ev[k], &h->ev[c])) c = k;
    if (!before(&h->ev[c], &last)) break;
    h->ev[i] = h->ev[c];
    i = c;
  }
  if (n) h->ev[i] = last;
  return 1;
}

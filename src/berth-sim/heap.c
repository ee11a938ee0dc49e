/* heap: binary min-heap of events ordered by (time, sequence). */
#include "heap.h"

#include <errno.h>
#include <stdlib.h>

#include "berth/buf.h"

void heap_init(event_heap *h, size_t max) {
  h->ev = NULL;
  h->n = h->cap = 0;
  h->max = max;
  h->next_seq = 0;
}

void heap_free(event_heap *h) {
  free(h->ev);
  h->ev = NULL;
  h->n = h->cap = 0;
}

static int before(const sim_event *a, const sim_event *b) {
  return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

int heap_push(event_heap *h, double t, int32_t kind, int32_t id) {
  if (h->n >= h->max) return -ENOBUFS;
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 1024;
    if (h->cap > h->max) h->cap = h->max;
    h->ev = berth_xrealloc(h->ev, h->cap * sizeof *h->ev);
  }
  sim_event e = {t, h->next_seq++, kind, id};
  size_t i = h->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
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
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && before(&h->ev[c + 1], &h->ev[c])) c++;
    if (!before(&h->ev[c], &last)) break;
    h->ev[i] = h->ev[c];
    i = c;
  }
  if (n) h->ev[i] = last;
  return 1;
}

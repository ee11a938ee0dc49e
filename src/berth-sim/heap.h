/* heap: the simulator's event queue, a 4-ary min-heap on time.
 *
 * Events are small values (time, kind, id), copied in and out, ordered by
 * time, then kind, then id: a total order, so a run is the same on every
 * machine whatever the heap's shape. Push and pop are O(log n). */
#ifndef BERTH_SIM_HEAP_H
#define BERTH_SIM_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sim_event {
  double t;
  int32_t kind;
  int32_t id;
} sim_event;

typedef struct event_heap {
  sim_event *ev;
  size_t n, cap;
  size_t max;        /* hard limit on queued events */
} event_heap;

void heap_init(event_heap *h, size_t max);
void heap_free(event_heap *h);
/* Returns 0, or -ENOBUFS when max events are queued. */
int heap_push(event_heap *h, double t, int32_t kind, int32_t id);
/* Returns 1 and fills *out, or 0 when empty. */
int heap_pop(event_heap *h, sim_event *out);
static inline const sim_event *heap_top(const event_heap *h) { return h->n ? &h->ev[0] : NULL; }

#endif

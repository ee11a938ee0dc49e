/* window: see window.h. */
#include "berth/window.h"

#include <math.h>
#include <string.h>

#define EPS 1e-9

void scale_window_init(scale_window *w, double now) {
  memset(w, 0, sizeof *w);
  scale_history_init(&w->closed);
  w->cur.start = floor(now / SCALE_BUCKET_S) * SCALE_BUCKET_S;
}

int scale_window_advance(scale_window *w, double now, unsigned seconds, uint32_t invocations,
                         uint32_t no_capacity, double concurrency, uint32_t copies) {
  for (unsigned s = 0; s < seconds; s++) {
    /* The requests land in the newest slot: the sliding sum only needs
     * them inside the last ten. */
    int last = s + 1 == seconds;
    w->sec_inv[w->sec_i] = last ? invocations : 0;
    w->sec_nocap[w->sec_i] = last ? no_capacity : 0;
    w->sec_held[w->sec_i] = last ? w->pend_held : 0;
    w->sec_conc[w->sec_i] = concurrency;
    w->sec_i = (w->sec_i + 1) % SCALE_BUCKET_S;
  }
  w->cur.invocations += invocations;
  w->cur.no_capacity += no_capacity;
  if (seconds) {
    w->cur.held_arrivals += w->pend_held;
    w->pend_held = 0;
  }
  w->cur.concurrency_sum += concurrency * seconds;
  w->cur.concurrency_samples += seconds;
  int closed = 0;
  while (now + EPS >= w->cur.start + SCALE_BUCKET_S) {
    w->cur.copies = copies;
    scale_history_push(&w->closed, &w->cur);
    double next = w->cur.start + SCALE_BUCKET_S;
    memset(&w->cur, 0, sizeof w->cur);
    w->cur.start = next;
    closed++;
  }
  return closed;
}

void scale_window_held(scale_window *w, uint32_t arrivals) {
  w->pend_held = arrivals > UINT32_MAX - w->pend_held ? UINT32_MAX : w->pend_held + arrivals;
}

void scale_window_served(scale_window *w, uint32_t n, double service_s) {
  if (!n || !(service_s >= 0)) return;
  w->cur.served += n;
  w->cur.service_sum += service_s;
}

void scale_window_served_one(scale_window *w, double service_s) {
  if (!(service_s >= 0)) return;
  scale_window_served(w, 1, service_s);
  w->cur.service_sq_n++;
  w->cur.service_sq_sum += service_s * service_s;
}

void scale_window_decide(scale_window *w, const scale_config *cfg, scale_state *st, double now,
                         int desired, uint32_t copies, scale_decision *out) {
  scale_history *h = &w->closed;
  const scale_bucket *newest = h->n ? scale_history_at(h, h->n - 1) : NULL;
  int slide = cfg->profile == SCALE_PROFILE_FAST &&
              !(newest && fabs(newest->start + SCALE_BUCKET_S - now) < EPS);
  if (!slide) {
    scale_decide(cfg, st, h, now, desired, out);
    return;
  }
  /* The closed buckets stay: dropping the one that overlaps the sliding
   * window would leave up to 10 s unexamined before it, and a scale-in could
   * then miss the last moments of load. Overlap only repeats a few seconds
   * in means, and never hides load. */
  scale_bucket b = {0};
  b.start = now - SCALE_BUCKET_S;
  b.copies = copies;
  for (size_t i = 0; i < SCALE_BUCKET_S; i++) {
    b.invocations += w->sec_inv[i];
    b.no_capacity += w->sec_nocap[i];
    b.held_arrivals += w->sec_held[i];
    b.concurrency_sum += w->sec_conc[i];
  }
  b.concurrency_samples = SCALE_BUCKET_S;
  int full = h->n == SCALE_HISTORY;
  scale_bucket oldest = full ? h->b[h->head] : b;
  scale_history_push(h, &b);
  scale_decide(cfg, st, h, now, desired, out);
  /* Take it off again. */
  if (full) {
    h->head = (h->head + SCALE_HISTORY - 1) % SCALE_HISTORY;
    h->b[h->head] = oldest;
  } else {
    h->n--;
  }
}

/* window: an inference component's metric window, as autoscaling reads it.
 * berthd's controller and berth-sim both keep one per IC and decide through
 * it, so both read the same buckets the same way.
 *
 * DESIGN: requests and concurrency arrive in steps of whole seconds
 * (berthd: one second, from its once-a-second sample; berth-sim: ten, at
 * its ticks). They fill one-second slots (the last SCALE_BUCKET_S of them)
 * and the 10-second bucket being filled, which closes into the history
 * once its ten seconds are over. The FAST profile decides on the closed
 * buckets plus the last ten seconds as one sliding bucket, pushed onto the
 * history for the decision and taken off again (O(1), no copy); when the
 * sliding bucket is exactly the newest closed one (a decision on a bucket
 * boundary) it is not added twice. */
#ifndef BERTH_WINDOW_H
#define BERTH_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "berth/scale.h"

typedef struct scale_window {
  scale_history closed;         /* closed buckets, oldest first */
  scale_bucket cur;             /* the bucket being filled */
  uint32_t sec_inv[SCALE_BUCKET_S], sec_nocap[SCALE_BUCKET_S];
  double sec_conc[SCALE_BUCKET_S];
  uint32_t sec_held[SCALE_BUCKET_S];
  size_t sec_i;                 /* the slot the next second goes to */
  uint32_t pend_held;           /* scale_window_held since the last advance */
} scale_window;

/* An empty window whose first bucket holds now. */
void scale_window_init(scale_window *w, double now);
/* `seconds` whole seconds ending at now passed, with `invocations` and
 * `no_capacity` requests in them and `concurrency` requests in flight (plus
 * held) on average; copies: the ready copies now. Closes every bucket whose
 * ten seconds are over; returns how many it closed. */
int scale_window_advance(scale_window *w, double now, unsigned seconds, uint32_t invocations,
                         uint32_t no_capacity, double concurrency, uint32_t copies);
/* Requests that started waiting for a copy (held, at no ready copy) and
 * that `invocations` does not count (berthd counts them when answered):
 * they join the next scale_window_advance's newest second. */
void scale_window_held(scale_window *w, uint32_t arrivals);
/* n requests answered, their service times summing to service_s seconds,
 * into the bucket being filled (scale_service_mean reads them). */
void scale_window_served(scale_window *w, uint32_t n, double service_s);
/* One request answered after service_s seconds: as scale_window_served,
 * and its square for the service time's spread. */
void scale_window_served_one(scale_window *w, double service_s);
/* scale_decide on what cfg's profile reads at now (see DESIGN). */
void scale_window_decide(scale_window *w, const scale_config *cfg, scale_state *st, double now,
                         int desired, uint32_t copies, scale_decision *out);

#endif

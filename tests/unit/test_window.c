/* test_window: lib/window, the metric window berthd and berth-sim decide
 * through. */
#include <math.h>
#include <string.h>

#include "berth/window.h"
#include "check.h"

static scale_config cfg_tt(scale_profile prof, double target) {
  scale_config c;
  scale_config_init(&c, prof);
  c.min_capacity = 0;
  c.max_capacity = 10;
  c.n_policies = 1;
  scale_policy_init(&c.policies[0], SCALE_TARGET_TRACKING, SCALE_METRIC_CONCURRENT_PER_COPY);
  c.policies[0].target = target;
  return c;
}

/* Buckets close when their ten seconds are over, with what came in. */
static void test_closing(void) {
  static scale_window w;
  scale_window_init(&w, 3.5); /* the first bucket is [0, 10) */
  CHECK(fabs(w.cur.start - 0) < 1e-9);
  for (int s = 4; s <= 9; s++) CHECK_INT(scale_window_advance(&w, s + 0.5, 1, 2, 1, 3.0, 1), 0);
  CHECK_INT(scale_window_advance(&w, 10.5, 1, 2, 1, 3.0, 2), 1);
  const scale_bucket *b = scale_history_at(&w.closed, 0);
  CHECK(b && fabs(b->start) < 1e-9);
  CHECK_INT(b->invocations, 14);
  CHECK_INT(b->no_capacity, 7);
  CHECK_INT(b->concurrency_samples, 7);
  CHECK(fabs(b->concurrency_sum - 21.0) < 1e-9);
  CHECK_INT(b->copies, 2);
  /* A gap closes every bucket it spans. */
  CHECK_INT(scale_window_advance(&w, 41.0, 1, 0, 0, 0, 2), 3);
  CHECK_INT(w.closed.n, 4);
}

/* Ten seconds at once (berth-sim's step) make the same bucket as ten steps
 * of one (berthd's), for the same totals. */
static void test_steps(void) {
  static scale_window a, b;
  scale_window_init(&a, 0);
  scale_window_init(&b, 0);
  for (int s = 1; s <= 10; s++) scale_window_advance(&a, s, 1, s == 10 ? 30 : 0, 0, 2.5, 3);
  scale_window_advance(&b, 10, 10, 30, 0, 2.5, 3);
  const scale_bucket *x = scale_history_at(&a.closed, 0), *y = scale_history_at(&b.closed, 0);
  CHECK(x && y);
  CHECK_INT(x->invocations, y->invocations);
  CHECK_INT(x->concurrency_samples, y->concurrency_samples);
  CHECK(fabs(x->concurrency_sum - y->concurrency_sum) < 1e-9);
  CHECK_INT(x->copies, y->copies);
}

/* Deciding leaves the history as it was, full or not; on a bucket boundary
 * FAST decides on the closed buckets alone (the sliding bucket would be
 * the newest closed one again). */
static void test_decide(void) {
  static scale_window w;
  const double loads[] = {0, 4, 20};
  for (size_t k = 0; k < sizeof loads / sizeof loads[0]; k++) {
    scale_config c = cfg_tt(SCALE_PROFILE_FAST, 2);
    scale_window_init(&w, 0);
    double now = 0;
    for (int i = 0; i < SCALE_HISTORY + 20; i++) {
      now += 10;
      scale_window_advance(&w, now, 10, 0, 0, loads[k], 1);
    }
    CHECK_INT(w.closed.n, SCALE_HISTORY);
    scale_history saved = w.closed;
    scale_state s1, s2;
    scale_state_init(&s1);
    scale_state_init(&s2);
    scale_decision d1, d2;
    scale_window_decide(&w, &c, &s1, now, 1, 1, &d1);
    CHECK(memcmp(&saved, &w.closed, sizeof saved) == 0);
    scale_decide(&c, &s2, &w.closed, now, 1, &d2);
    CHECK_INT(d1.desired, d2.desired);
    /* Off the boundary the sliding bucket counts too, and goes again. */
    scale_window_advance(&w, now + 3, 3, 0, 0, loads[k], 1);
    saved = w.closed;
    scale_window_decide(&w, &c, &s1, now + 3, d1.desired, 1, &d1);
    CHECK(memcmp(&saved, &w.closed, sizeof saved) == 0);
  }
  /* A step in the last seconds is seen before its bucket closes. */
  scale_config c = cfg_tt(SCALE_PROFILE_FAST, 2);
  scale_window_init(&w, 0);
  for (int s = 1; s <= 60; s++) scale_window_advance(&w, s, 1, 0, 0, 1.0, 1);
  for (int s = 61; s <= 66; s++) scale_window_advance(&w, s, 1, 0, 0, 20.0, 1);
  scale_state st;
  scale_state_init(&st);
  scale_decision d;
  scale_window_decide(&w, &c, &st, 66, 1, 1, &d);
  CHECK(d.changed && d.desired > 1);
}

/* Held arrivals and served requests land in the bucket being filled and
 * close with it; the sliding bucket sees the held ones of its ten seconds;
 * scale_service_mean reads the served ones. */
static void test_wake_inputs(void) {
  static scale_window w;
  scale_window_init(&w, 0);
  CHECK(scale_service_mean(&w.closed) == 0.0);
  for (int s = 1; s <= 10; s++) {
    scale_window_held(&w, 3);
    scale_window_served(&w, 2, 3.0);
    scale_window_advance(&w, s, 1, 0, 0, 0.0, 0);
  }
  const scale_bucket *b = scale_history_at(&w.closed, 0);
  CHECK(b != NULL);
  if (!b) return;
  CHECK_INT(b->held_arrivals, 30);
  CHECK_INT(b->served, 20);
  CHECK(fabs(b->service_sum - 30.0) < 1e-9);
  CHECK(fabs(scale_service_mean(&w.closed) - 1.5) < 1e-9);
  /* Nothing held since: the next bucket starts empty. */
  CHECK_INT(w.cur.held_arrivals, 0);
  scale_window_served(&w, 0, 5.0);  /* nothing answered: no change */
  scale_window_served(&w, 1, -1.0); /* no negative service times */
  CHECK_INT(w.cur.served, 0);
  /* The sliding bucket [now - 10, now) at zero copies reads its held
   * arrivals as a rate times the mean service time, and not the 500 passed
   * as concurrency. */
  for (int s = 11; s <= 15; s++) {
    scale_window_held(&w, 20);
    scale_window_advance(&w, s, 1, 0, 0, 500.0, 0);
  }
  scale_config c = cfg_tt(SCALE_PROFILE_FAST, 4);
  c.max_capacity = 200;
  scale_state st;
  scale_state_init(&st);
  scale_decision d;
  scale_window_decide(&w, &c, &st, 15, 1, 0, &d);
  /* [5, 15): seconds 6..10 held 3/s, 11..15 held 20/s: 11.5/s x 1.5 s =
   * 17.25 concurrent, a step (above 1.5 x 4): ceil(17.25 / 4) copies. */
  CHECK_INT(d.desired, 5);
}

int main(void) {
  test_closing();
  test_steps();
  test_decide();
  test_wake_inputs();
  CHECK_DONE();
}

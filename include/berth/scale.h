/* scale: autoscaling decisions for one inference component's copy count.
 *
 * Pure: metrics, policies, previous state and the time in; a desired copy
 * count and a cause out. No I/O, clock or globals, so berthd, the unit tests
 * and berth-sim run the same decisions.
 *
 * Metrics arrive as 10-second buckets (scale_bucket). Two timing profiles:
 *  - SCALE_PROFILE_AWS reproduces Application Auto Scaling on SageMaker:
 *    one-minute datapoints, target tracking scales out after 3 of 3
 *    datapoints above the target and in after 15 of 15 below 90% of it,
 *    cooldowns as configured (default 300 s), evaluated once a minute.
 *  - SCALE_PROFILE_FAST (Berth's default) evaluates every bucket: a step
 *    (the last 10 s above 1.5x the target) scales out at once; a smaller
 *    excess scales out once the last minute's mean is above the target too.
 *    Scale-in needs the whole scale-in window (default 5 minutes) with every
 *    one-minute mean below 90% of the target and no 10 s reading at or above
 *    it, and goes only down to what the window's largest one-minute demand
 *    needs at 90% of the target, so a steady load never flaps. */
#ifndef BERTH_SCALE_H
#define BERTH_SCALE_H

#include <stddef.h>
#include <stdint.h>

#define SCALE_BUCKET_S 10
#define SCALE_HISTORY 180          /* buckets kept: 30 minutes */
#define SCALE_MAX_STEPS 20
#define SCALE_MAX_POLICIES 8

typedef enum { SCALE_PROFILE_FAST = 0, SCALE_PROFILE_AWS = 1 } scale_profile;

typedef enum {
  SCALE_METRIC_INVOCATIONS_PER_COPY = 0,   /* invocations per copy per minute */
  SCALE_METRIC_CONCURRENT_PER_COPY = 1,    /* mean concurrent requests per copy */
  SCALE_METRIC_NO_CAPACITY_FAILURES = 2,   /* NoCapacityInvocationFailures (sum) */
  SCALE_METRIC_INVOCATIONS = 3             /* invocations (sum, per minute) */
} scale_metric;

/* One 10-second bucket of an IC's metrics. */
typedef struct scale_bucket {
  double start;                 /* seconds (any epoch, same as `now`) */
  uint32_t invocations;         /* requests that completed or were routed */
  uint32_t no_capacity;         /* requests refused for want of a copy */
  double concurrency_sum;       /* sum over samples of in-flight requests */
  uint32_t concurrency_samples;
  uint32_t copies;              /* ready copies at the end of the bucket */
  /* Waking (docs/autoscaling.md, "Waking from zero"). Requests held for a
   * copy never count as concurrency: at zero ready copies demand is their
   * arrival rate times the IC's mean service time, from these fields. */
  uint32_t held_arrivals;       /* held requests not in `invocations` (berthd
                                   counts invocations when answered; berth-sim
                                   at arrival, and leaves this 0) */
  uint32_t served;              /* requests answered in the bucket ... */
  double service_sum;           /* ... and their service seconds summed */
  uint32_t service_sq_n;        /* of those, the ones measured one by one ... */
  double service_sq_sum;        /* ... and their squares summed (the spread
                                   BerthLatencySlo reads) */
} scale_bucket;

/* Metric history, oldest first, as a ring. */
typedef struct scale_history {
  scale_bucket b[SCALE_HISTORY];
  size_t head;                  /* index of the oldest */
  size_t n;
} scale_history;

typedef enum { SCALE_TARGET_TRACKING = 0, SCALE_STEP = 1 } scale_policy_type;
typedef enum {
  SCALE_ADJ_CHANGE = 0,         /* ChangeInCapacity */
  SCALE_ADJ_EXACT = 1,          /* ExactCapacity */
  SCALE_ADJ_PERCENT = 2         /* PercentChangeInCapacity */
} scale_adjustment;
typedef enum { SCALE_AGG_AVERAGE = 0, SCALE_AGG_SUM = 1, SCALE_AGG_MAX = 2, SCALE_AGG_MIN = 3 } scale_aggregation;

typedef struct scale_step {
  double lower, upper;          /* bounds relative to the alarm threshold;
                                   -inf / +inf when absent */
  int adjustment;
} scale_step;

typedef struct scale_policy {
  scale_policy_type type;
  scale_metric metric;
  /* target tracking */
  double target;
  double scale_out_cooldown_s;  /* default 300 */
  double scale_in_cooldown_s;   /* default 300 */
  int disable_scale_in;
  /* target tracking on a latency SLO instead of `target` (the extension
   * BerthLatencySlo; lib/slo.c's queueing model): the fewest copies whose
   * estimated percentile latency is within slo_latency_s */
  int slo;
  double slo_percentile;        /* 0..1 */
  double slo_latency_s;
  double slo_batch_slowdown;    /* per-token time's slope against batch size */
  int slo_max_concurrency;      /* requests one copy serves at once */
  /* step scaling: the alarm is metric `op` threshold over `period_s`,
   * evaluated over `evaluation_periods` periods (all must breach) */
  double threshold;
  int greater;                  /* 1: metric > threshold; 0: metric < threshold */
  double period_s;              /* default 60 */
  int evaluation_periods;       /* default 1 */
  scale_aggregation aggregation;
  scale_adjustment adjustment;
  double cooldown_s;            /* default 300 */
  int min_adjustment_magnitude;
  scale_step steps[SCALE_MAX_STEPS];
  int n_steps;
} scale_policy;

typedef struct scale_config {
  scale_profile profile;
  int min_capacity, max_capacity;
  scale_policy policies[SCALE_MAX_POLICIES];
  int n_policies;
  double fast_scale_in_window_s; /* FAST profile: default 300 */
} scale_config;

/* What the scaler remembers between decisions (per IC). */
typedef struct scale_state {
  double last_scale_out;        /* time of the last scale-out (or -inf) */
  double last_scale_in;
  double last_evaluation;       /* AWS profile: evaluations once a minute */
  double last_step[SCALE_MAX_POLICIES];
  double since;                 /* when the policies took effect (or -inf):
                                   FAST scale-in needs a whole window after it */
  double wake_since;            /* when the IC last had requests at zero ready
                                   copies, until its copies work the backlog
                                   off (-inf: not waking; DESIGN, Waking) */
} scale_state;

typedef struct scale_decision {
  int desired;                  /* = current when nothing changes */
  int changed;
  int policy;                   /* index of the policy that decided, or -1 */
  char cause[256];              /* "target tracking: 12.0 invocations per copy > 5 ..." */
} scale_decision;

void scale_state_init(scale_state *st);
/* Added: a policy / config with the documented defaults (cooldowns 300 s,
 * period 60 s, one evaluation period, alarm "greater", Average,
 * ChangeInCapacity, no steps; config: min 0, max 1, no policies, FAST
 * scale-in window 300 s), for callers to fill in the rest. */
void scale_policy_init(scale_policy *p, scale_policy_type type, scale_metric metric);
void scale_config_init(scale_config *cfg, scale_profile profile);
void scale_history_init(scale_history *h);
/* Adds a bucket (the ring drops the oldest past SCALE_HISTORY). */
void scale_history_push(scale_history *h, const scale_bucket *b);
const scale_bucket *scale_history_at(const scale_history *h, size_t i); /* 0 = oldest */

/* Value of a metric over [now - window_s, now) from complete buckets (a
 * bucket counts when start + 10 <= now and its midpoint start + 5 lies in
 * the window, so a sliding newest bucket lands in exactly one window); 0
 * when none. Rates are normalized over the time the buckets cover (the window
 * when it is full). INVOCATIONS_PER_COPY divides by max(1, mean copies), so
 * traffic at zero copies reads as demand. */
double scale_metric_value(const scale_history *h, scale_metric m, double now, double window_s);

/* Decides the desired copy count at time now given the current desired
 * count. Multiple policies: scale-out wins if any wants out (the largest),
 * scale-in only if all that can scale in agree (the largest of their
 * results), as Application Auto Scaling does. Result is clamped to
 * [min_capacity, max_capacity]. Updates st when it scales; in the AWS
 * profile it also records each evaluation in st->last_evaluation and does
 * nothing (desired = current) until 60 s have passed since the last one.
 * Windows are measured back from the end of the newest complete bucket.
 * Target tracking sizes from demand (metric x copies that served it), at
 * least one copy more than those in use on a scale-out; the FAST profile
 * scales in (the window covered, at most one bucket missing) to
 * ceil(window peak demand / (0.9 x target)), the hysteresis
 * band that keeps noisy steady loads from flapping. Step policies never
 * veto a scale-in; target-tracking ones that may scale in must all agree.
 * Missing data (no bucket in a datapoint) never breaches. */
void scale_decide(const scale_config *cfg, scale_state *st, const scale_history *h, double now,
                  int current, scale_decision *out);

/* A request arrived for an IC at zero copies that has a scalable target:
 * the copies to ask for at once (max(1, min_capacity), within max). */
int scale_wake(const scale_config *cfg);

/* Requests held for a copy wait for one that is coming: a scale-in while
 * any is held would strand them until the wake timeout (held requests are
 * arrivals, not concurrency, so the metric alone can read as idle). Returns
 * current when desired is below it and requests are held, else desired. */
int scale_hold_guard(int current, int desired, uint32_t held);

/* The IC's mean service time over its history (service_sum / served of
 * the buckets that answered requests), in seconds; 0 when none did. */
double scale_service_mean(const scale_history *h);

/* Copies a waking IC needs for arrivals_per_s requests per second that take
 * service_s seconds each (0: unknown): for each target-tracking policy,
 * ConcurrentRequestsPerCopy ceil(rate x service / target) and
 * InvocationsPerCopy ceil(rate x 60 / target); the largest, at least
 * scale_wake(cfg) (one copy when the service time is unknown: errs low),
 * within max_capacity. Never the backlog held: a burst of 500 requests at
 * 20/s for a 1-s model at target 4 is 5 copies, not 125. */
int scale_wake_rate(const scale_config *cfg, double arrivals_per_s, double service_s);

#endif

/* slo: the fewest copies that keep a latency percentile within an SLO.
 *
 * Pure: an inference component's observed arrival rate and service times in,
 * a copy count out, so the autoscaler and berth-sim decide alike.
 *
 * DESIGN. The queueing model, stated so its error can be judged:
 *  - Requests arrive as a Poisson stream of rate lambda, spread evenly over
 *    c copies (least outstanding requests keeps them close to even).
 *  - A copy batches: with b requests in flight each one's service time is
 *    s1 * (1 + alpha * (b - 1)) (s1: alone on the copy; alpha: the batching
 *    slowdown, the slope of per-token time against batch size that vLLM and
 *    TGI publish). The mean in flight per copy L solves Little's law
 *    L = (lambda / c) * s1 * (1 + alpha * max(0, L - 1)), so
 *    L = rho (1 - alpha) / (1 - rho alpha) once rho = lambda s1 / c > 1.
 *  - Up to max_concurrency requests run at once on a copy; the c * m slots
 *    form an M/M/k queue (Erlang C) at the slowed service time, which gives
 *    the probability and the tail of a wait for a slot.
 *  - The latency percentile is taken as the service time's percentile (mean
 *    times the observed tail ratio, slowed) plus the wait's percentile: the
 *    sum of two percentiles is at least the percentile of the sum, so the
 *    estimate errs towards more copies.
 * Hysteresis: scale out to the fewest copies whose estimate is within the
 * SLO; scale in only to the fewest whose estimate is within SLO_SCALE_IN_BAND
 * of it. Between the two the count stays, so a steady load never flaps. */
#ifndef BERTH_SLO_H
#define BERTH_SLO_H

#define SLO_SCALE_IN_BAND 0.8
#define SLO_MAX_COPIES 4096

typedef struct slo_load {
  double arrivals_per_s;        /* lambda: requests per second */
  double service_s;             /* mean service time alone on a copy (s1) */
  double service_tail;          /* service time at the percentile over its mean, >= 1 */
  double batch_slowdown;        /* alpha, >= 0 and < 1 */
  int max_concurrency;          /* requests one copy runs at once, >= 1 */
} slo_load;

typedef struct slo_goal {
  double percentile;            /* 0 < q < 1, e.g. 0.99 */
  double latency_s;             /* the SLO at that percentile */
} slo_goal;

/* A service time's q-quantile over its mean for a coefficient of variation
 * cv, taking service times as lognormal (positive and right-skewed, as
 * token counts are): exp(z_q sigma - sigma^2 / 2), sigma^2 = ln(1 + cv^2).
 * 1 for cv 0. */
double slo_service_tail(double cv, double q);

/* The estimated q-quantile of latency with `copies` copies; INFINITY when the
 * copies cannot keep up (rho alpha >= 1 or the slots saturate). */
double slo_latency(const slo_load *l, int copies, double q);

/* Mean requests in flight per copy (L above); INFINITY when unstable. */
double slo_in_flight(const slo_load *l, int copies);

/* The fewest copies in [min_copies, max_copies] whose estimate is at most
 * `band` times the SLO (band 1: scale-out size); max_copies when none is. */
int slo_copies_within(const slo_load *l, const slo_goal *g, double band, int min_copies,
                      int max_copies);

/* The count to hold given the current one, with the hysteresis above. No
 * arrivals: min_copies (scale-in timing is the caller's). */
int slo_decide(const slo_load *l, const slo_goal *g, int current, int min_copies, int max_copies);

#endif

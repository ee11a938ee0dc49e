/* scale: autoscaling decisions for one inference component's copy count.
 *
 * DESIGN. Every decision reads the metric history through one helper,
 * window_scan(), which summarizes the complete 10 s buckets of a time window
 * (counts, copies, per-bucket samples, peak demand). Windows are measured back
 * from the end of the newest complete bucket, not from `now`, so a clock that
 * is not aligned to bucket boundaries sees whole buckets in every datapoint.
 *
 * Each policy turns the history into a proposal (a copy count and the reason
 * in words); scale_decide() combines the proposals the way Application Auto
 * Scaling does: the largest scale-out wins; scale-in happens only when every
 * target-tracking policy that may scale in agrees, to the largest of the
 * proposed counts. Step policies act on their own alarms and never veto.
 *
 * "Demand" is a bucket's metric times the copies that served it (at least
 * one): the load the IC saw, independent of how many copies it had. Target
 * tracking sizes from demand (desired = ceil(demand / target)), so a decision
 * taken while new copies are still starting does not count the same load
 * twice, and the FAST profile scales in only to what the window's peak demand
 * needs at 90% of the target: the same band that triggers scale-in, so a
 * steady load with noise inside that band never scales out again after it.
 *
 * Waking. Requests held while an IC has no ready copy are not concurrency
 * (callers leave them out): a backlog held for minutes would otherwise read
 * as hundreds of concurrent requests and ask for backlog / target copies at
 * once (the wake storm). A bucket that ends at zero ready copies reads as
 * its arrival rate (invocations plus held arrivals, per second) times the
 * IC's mean service time from its own history (scale_service_mean); with no
 * history, one copy's worth (the target) while requests arrive, so it errs
 * low, and neither scales out past the wake nor in below it.
 *
 * The backlog reaches the copies once they are ready, and would then read
 * as concurrency there. So from a bucket at zero ready copies with arrivals
 * until the copies' concurrency has been at or below the target for a
 * minute (the backlog worked off, and out of every window a scale-out
 * reads; at most WAKE_PHASE_MAX_S), a FAST scale-out on
 * concurrency asks for no more than the arrival rate times the mean
 * service time needs (while that time is unknown, no more than the ready
 * copies' worth): the backlog drains on the copies the rate needs. */
#include "berth/scale.h"

#include "berth/slo.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EPS 1e-9
#define SCALE_IN_RATIO 0.9        /* scale-in below 90% of the target */
#define FAST_OUT_COOLDOWN_MAX 10.0
#define FAST_STEP_RATIO 1.5       /* a 10 s reading this far above target is a step */
#define FAST_SMOOTH_S 60.0        /* otherwise decisions read one-minute means */
#define AWS_EVAL_S 60.0
#define AWS_OUT_POINTS 3
#define AWS_IN_POINTS 15
#define WAKE_PHASE_MAX_S 1800.0   /* a wake's backlog caps scale-out this long at most */

void scale_state_init(scale_state *st) {
  st->last_scale_out = -INFINITY;
  st->last_scale_in = -INFINITY;
  st->last_evaluation = -INFINITY;
  for (int i = 0; i < SCALE_MAX_POLICIES; i++) st->last_step[i] = -INFINITY;
  st->since = -INFINITY;
  st->wake_since = -INFINITY;
}

void scale_policy_init(scale_policy *p, scale_policy_type type, scale_metric metric) {
  memset(p, 0, sizeof *p);
  p->type = type;
  p->metric = metric;
  p->scale_out_cooldown_s = 300;
  p->scale_in_cooldown_s = 300;
  p->greater = 1;
  p->period_s = 60;
  p->evaluation_periods = 1;
  p->aggregation = SCALE_AGG_AVERAGE;
  p->adjustment = SCALE_ADJ_CHANGE;
  p->cooldown_s = 300;
}

void scale_config_init(scale_config *cfg, scale_profile profile) {
  memset(cfg, 0, sizeof *cfg);
  cfg->profile = profile;
  cfg->min_capacity = 0;
  cfg->max_capacity = 1;
  cfg->fast_scale_in_window_s = 300;
}

void scale_history_init(scale_history *h) {
  h->head = 0;
  h->n = 0;
}

void scale_history_push(scale_history *h, const scale_bucket *b) {
  if (h->n < SCALE_HISTORY) {
    h->b[(h->head + h->n) % SCALE_HISTORY] = *b;
    h->n++;
  } else {
    h->b[h->head] = *b;
    h->head = (h->head + 1) % SCALE_HISTORY;
  }
}

const scale_bucket *scale_history_at(const scale_history *h, size_t i) {
  if (i >= h->n) return NULL;
  return &h->b[(h->head + i) % SCALE_HISTORY];
}

/* ---- metrics ---- */

static double copies_or_one(uint32_t copies) { return copies ? (double)copies : 1.0; }

/* What a bucket at zero ready copies stands for (see DESIGN, Waking): the
 * IC's mean service time (0: unknown) and, for want of one, the target. */
typedef struct wake_basis {
  double service_s;
  double target;
} wake_basis;

/* Concurrency a bucket stood for at zero ready copies: its arrivals per
 * second times the service time, or one copy's worth when that is unknown. */
static double wake_concurrency(const scale_bucket *b, const wake_basis *wb) {
  double rate = ((double)b->invocations + (double)b->held_arrivals) / SCALE_BUCKET_S;
  if (!(rate > 0) || !wb) return 0.0;
  return wb->service_s > 0 ? rate * wb->service_s : wb->target;
}

/* The metric measured over one bucket: rates per minute for the invocation
 * metrics, the count for no-capacity failures, mean in-flight requests per
 * copy for concurrency. */
static double bucket_sample(const scale_bucket *b, scale_metric m, const wake_basis *wb) {
  double per_min = 60.0 / SCALE_BUCKET_S;
  switch (m) {
  case SCALE_METRIC_INVOCATIONS_PER_COPY:
    return ((double)b->invocations + (b->copies ? 0.0 : (double)b->held_arrivals)) * per_min /
           copies_or_one(b->copies);
  case SCALE_METRIC_CONCURRENT_PER_COPY: {
    if (!b->copies) return wake_concurrency(b, wb);
    double c = b->concurrency_samples ? b->concurrency_sum / b->concurrency_samples : 0.0;
    return c / copies_or_one(b->copies);
  }
  case SCALE_METRIC_NO_CAPACITY_FAILURES:
    return (double)b->no_capacity;
  case SCALE_METRIC_INVOCATIONS:
    return (double)b->invocations * per_min;
  }
  return 0.0;
}

static int per_copy(scale_metric m) {
  return m == SCALE_METRIC_INVOCATIONS_PER_COPY || m == SCALE_METRIC_CONCURRENT_PER_COPY;
}

/* Summary of the buckets complete by `done` whose midpoint lies in [lo, hi).
 * Midpoints, not containment: a history whose newest bucket slides with the
 * clock ([now - 10, now), as berthd builds it) is not aligned with the
 * closed buckets before it, and each bucket must still land in exactly one
 * of a series of adjacent windows. The closed bucket that the sliding one
 * overlaps is skipped by SCAN_ONCE (readings that add or count load: no
 * second is counted twice) and kept by SCAN_ALL (scale-in, which must see
 * every second of its window, and where a repeated second only delays). */
typedef enum scan_mode { SCAN_ONCE, SCAN_ALL } scan_mode;

typedef struct window {
  size_t n;
  double invocations, no_capacity, copies, conc_per_copy;
  double sample_sum, sample_min, sample_max;
  double peak_demand;         /* largest bucket sample x copies (>= 1) */
  double demand_sum;          /* sum of bucket sample x copies (>= 1) */
  uint32_t last_copies;       /* copies at the end of the newest bucket */
  double oldest_start;        /* start of the oldest bucket counted */
} window;

static void window_scan(const scale_history *h, scale_metric m, const wake_basis *wb, double lo,
                        double hi, double done, scan_mode mode, window *w) {
  memset(w, 0, sizeof *w);
  /* Buckets are pushed in time order: find the newest with its midpoint
   * before hi by bisection (the simulator scans windows far back from the
   * newest bucket), then walk back, newest first, until past lo. */
  size_t top = 0, n = h->n;
  while (top < n) {
    size_t k = top + (n - top) / 2;
    if (scale_history_at(h, k)->start + SCALE_BUCKET_S / 2.0 < hi - EPS) top = k + 1;
    else n = k;
  }
  for (size_t k = top; k-- > 0;) {
    const scale_bucket *b = scale_history_at(h, k);
    double mid = b->start + SCALE_BUCKET_S / 2.0;
    if (mid < lo - EPS) break;
    if (b->start + SCALE_BUCKET_S > done + EPS) continue;
    if (mode == SCAN_ONCE && w->n && b->start + SCALE_BUCKET_S > w->oldest_start + EPS) continue;
    double s = bucket_sample(b, m, wb);
    double demand = per_copy(m) ? s * copies_or_one(b->copies) : s;
    if (w->n == 0) {
      w->sample_min = w->sample_max = s;
      w->last_copies = b->copies;
    }
    w->n++;
    w->oldest_start = b->start;
    w->invocations += b->invocations + (b->copies ? 0 : b->held_arrivals);
    w->no_capacity += b->no_capacity;
    w->copies += b->copies;
    if (m == SCALE_METRIC_CONCURRENT_PER_COPY) w->conc_per_copy += s;
    w->sample_sum += s;
    if (s < w->sample_min) w->sample_min = s;
    if (s > w->sample_max) w->sample_max = s;
    if (demand > w->peak_demand) w->peak_demand = demand;
    w->demand_sum += demand;
  }
}

/* Mean load over the window, bucket by bucket: right also when the copy
 * count changed inside it (a mean per-copy value times mean copies is not). */
static double mean_demand(const window *w) {
  return w->n ? w->demand_sum / (double)w->n : 0.0;
}

/* The metric over the window, as scale_metric_value() defines it. Rates are
 * normalized over the time the buckets cover (the window when it is full).
 * Per-copy invocations divide by the mean copies but by at least one, so the
 * value stays continuous as copies go to zero and traffic reaching an IC at
 * zero copies reads as demand. */
static double window_value(const window *w, scale_metric m) {
  if (w->n == 0) return 0.0;
  double span = (double)w->n * SCALE_BUCKET_S;
  double mean_copies = w->copies / (double)w->n;
  switch (m) {
  case SCALE_METRIC_INVOCATIONS_PER_COPY:
    return w->invocations / (mean_copies > 1.0 ? mean_copies : 1.0) * 60.0 / span;
  case SCALE_METRIC_CONCURRENT_PER_COPY:
    return w->conc_per_copy / (double)w->n;
  case SCALE_METRIC_NO_CAPACITY_FAILURES:
    return w->no_capacity;
  case SCALE_METRIC_INVOCATIONS:
    return w->invocations * 60.0 / span;
  }
  return 0.0;
}

/* Load behind a per-copy value: the value times the mean copies (>= 1). */
static double window_demand(const window *w, scale_metric m) {
  double v = window_value(w, m);
  if (!per_copy(m) || w->n == 0) return v;
  double mean_copies = w->copies / (double)w->n;
  return v * (mean_copies > 1.0 ? mean_copies : 1.0);
}

double scale_service_mean(const scale_history *h) {
  double sum = 0, n = 0;
  for (size_t k = 0; k < h->n; k++) {
    const scale_bucket *b = scale_history_at(h, k);
    sum += b->service_sum;
    n += b->served;
  }
  return n > 0 && sum > 0 ? sum / n : 0.0;
}

double scale_metric_value(const scale_history *h, scale_metric m, double now, double window_s) {
  window w;
  /* No target here: at zero copies the reading is the rate times the
   * service time, 0 while that is unknown. */
  wake_basis wb = {scale_service_mean(h), 0};
  window_scan(h, m, &wb, now - window_s, now, now, SCAN_ONCE, &w);
  return window_value(&w, m);
}

/* End of the newest bucket complete at now; 0 when there is none. */
static int last_end(const scale_history *h, double now, double *end) {
  for (size_t k = h->n; k-- > 0;) {
    const scale_bucket *b = scale_history_at(h, k);
    if (b->start + SCALE_BUCKET_S <= now + EPS) {
      *end = b->start + SCALE_BUCKET_S;
      return 1;
    }
  }
  return 0;
}

static const char *metric_words(scale_metric m) {
  switch (m) {
  case SCALE_METRIC_INVOCATIONS_PER_COPY: return "invocations per copy per minute";
  case SCALE_METRIC_CONCURRENT_PER_COPY: return "concurrent requests per copy";
  case SCALE_METRIC_NO_CAPACITY_FAILURES: return "no-capacity failures";
  case SCALE_METRIC_INVOCATIONS: return "invocations per minute";
  }
  return "?";
}

static const char *agg_words(scale_aggregation a) {
  switch (a) {
  case SCALE_AGG_AVERAGE: return "Average";
  case SCALE_AGG_SUM: return "Sum";
  case SCALE_AGG_MAX: return "Maximum";
  case SCALE_AGG_MIN: return "Minimum";
  }
  return "?";
}

/* ceil that ignores rounding noise: 3 * 5 / 5 must be 3, not 4. */
static int ceil_count(double x) {
  if (!(x > 0)) return 0;
  if (x > 1e9) return 1000000000;
  return (int)ceil(x - EPS);
}

/* ---- policies ---- */

typedef struct proposal {
  int desired;            /* = current when the policy proposes nothing */
  int veto_in;            /* a target-tracking policy not ready to scale in */
  char reason[200];
} proposal;

static void tt_fast(const scale_config *cfg, const scale_policy *p, const scale_state *st,
                    const scale_history *h, double service_s, double now, double end,
                    int current, proposal *pr) {
  double t = p->target;
  const wake_basis wbv = {service_s, t}, *wb = &wbv;
  window w, wm;
  /* A step (the last 10 s well above target) is acted on at once; smaller
   * excesses must hold for a minute, so noise around the target does not
   * buy copies that scale-in would then have to give back. */
  window_scan(h, p->metric, wb, end - SCALE_BUCKET_S, end, end, SCAN_ONCE, &w);
  window_scan(h, p->metric, wb, end - FAST_SMOOTH_S, end, end, SCAN_ONCE, &wm);
  double v = window_value(&w, p->metric), vm = window_value(&wm, p->metric);
  /* A wake's backlog at the copies is not demand (DESIGN, Waking). */
  int waking = p->metric == SCALE_METRIC_CONCURRENT_PER_COPY && isfinite(st->wake_since);
  int step = w.n && v > FAST_STEP_RATIO * t;
  int sustained = wm.n * SCALE_BUCKET_S + EPS >= FAST_SMOOTH_S && vm > t && w.n && v > t;
  double out_cd = p->scale_out_cooldown_s < FAST_OUT_COOLDOWN_MAX ? p->scale_out_cooldown_s
                                                                  : FAST_OUT_COOLDOWN_MAX;
  if ((step || sustained) && now - st->last_scale_out >= out_cd - EPS) {
    const window *by = step ? &w : &wm;
    double demand = step ? window_demand(&w, p->metric) : mean_demand(&wm);
    int capped = 0;
    if (waking && by->n) {
      double rate = by->invocations / ((double)by->n * SCALE_BUCKET_S);
      double cap = service_s > 0 ? rate * service_s : (double)by->last_copies * t;
      if (demand > cap) {
        demand = cap;
        capped = 1; /* the backlog, not the rate, is above the target */
      }
    }
    int want = ceil_count(demand / t);
    if (!capped && want < (int)by->last_copies + 1) want = (int)by->last_copies + 1;
    if (want > current) {
      pr->desired = want;
      snprintf(pr->reason, sizeof pr->reason,
               "target tracking: %.4g %s > target %g over the last %g s", step ? v : vm,
               metric_words(p->metric), t, step ? (double)SCALE_BUCKET_S : FAST_SMOOTH_S);
      return;
    }
  }
  if (p->disable_scale_in) return;
  pr->veto_in = 1;
  /* The cheap refusals first: this runs for every IC on every tick. */
  if (v >= t) return; /* the newest reading alone blocks scale-in */
  if (now - fmax(st->last_scale_out, st->last_scale_in) < p->scale_in_cooldown_s - EPS) return;
  double win = cfg->fast_scale_in_window_s > 0 ? cfg->fast_scale_in_window_s : 300;
  /* Load seen before the policy took effect says nothing about it. */
  if (end - win < st->since - EPS) return;
  /* The window must be covered: data from its start on, and at most one
   * bucket missing (a sliding newest bucket leaves a gap before it). */
  size_t need = (size_t)ceil_count(win / SCALE_BUCKET_S);
  if (need > SCALE_HISTORY) need = SCALE_HISTORY;
  /* Also take a bucket that straddles the window's start (berthd's sliding
   * newest bucket leaves the others unaligned): the buckets seen must cover
   * the whole window, from its first second. */
  window_scan(h, p->metric, wb, end - win - SCALE_BUCKET_S / 2.0 + 1e-6, end, end, SCAN_ALL, &w);
  if (w.n + 1 < need || w.oldest_start > end - win + EPS) return;
  if (w.sample_max >= t) return;
  /* Every one-minute mean of the window (and every 10 s reading, at the
   * step threshold) must be below 90% of the target; scale in only to what
   * the largest one-minute demand needs at 90% of the target, so neither
   * scale-out rule fires again under the same load: no flapping. */
  double peak_value = 0, peak_demand = 0;
  double span = win < FAST_SMOOTH_S ? win : FAST_SMOOTH_S;
  for (double hi = end; hi > end - win + EPS; hi -= span) {
    window sub;
    window_scan(h, p->metric, wb, hi - span, hi, end, SCAN_ALL, &sub);
    if (!sub.n) continue;
    double sv = window_value(&sub, p->metric), sd = mean_demand(&sub);
    if (sv > peak_value) peak_value = sv;
    if (sd > peak_demand) peak_demand = sd;
  }
  if (peak_value >= SCALE_IN_RATIO * t) return;
  double peak10 = w.peak_demand / FAST_STEP_RATIO;
  int want = ceil_count(fmax(peak_demand, peak10) / (SCALE_IN_RATIO * t));
  if (want >= current) return;
  pr->desired = want;
  pr->veto_in = 0;
  snprintf(pr->reason, sizeof pr->reason,
           "target tracking: peak one-minute %.4g %s < %.4g (90%% of target %g) over the last %g s",
           peak_value, metric_words(p->metric), SCALE_IN_RATIO * t, t, win);
}

/* ---- target tracking on a latency SLO (BerthLatencySlo) ---- */

/* What a stretch of buckets says about an IC's load. */
typedef struct slo_reading {
  size_t n;
  double oldest_start;
  double rate;            /* arrivals per second (held ones included) */
  double service;         /* mean observed service time; 0 when none answered */
  double cv;              /* its coefficient of variation; -1 when unmeasured */
  double inflight;        /* mean requests in flight per ready copy */
} slo_reading;

/* Buckets complete by `done` whose midpoint lies in [lo, hi). */
static void slo_read(const scale_history *h, double lo, double hi, double done, slo_reading *r) {
  double arrivals = 0, served = 0, sum = 0, sq_n = 0, sq_sum = 0, sq_mean_sum = 0, conc = 0;
  size_t conc_n = 0;
  memset(r, 0, sizeof *r);
  for (size_t k = h->n; k-- > 0;) {
    const scale_bucket *b = scale_history_at(h, k);
    double mid = b->start + SCALE_BUCKET_S / 2.0;
    if (mid < lo - EPS) break;
    if (mid >= hi - EPS || b->start + SCALE_BUCKET_S > done + EPS) continue;
    r->n++;
    r->oldest_start = b->start;
    arrivals += (double)b->invocations + (double)b->held_arrivals;
    served += b->served;
    sum += b->service_sum;
    if (b->service_sq_n) {
      sq_n += b->service_sq_n;
      sq_sum += b->service_sq_sum;
      sq_mean_sum += b->service_sum * b->service_sq_n / (b->served ? b->served : 1);
    }
    if (b->copies && b->concurrency_samples) {
      conc += b->concurrency_sum / b->concurrency_samples / b->copies;
      conc_n++;
    }
  }
  if (!r->n) return;
  r->rate = arrivals / ((double)r->n * SCALE_BUCKET_S);
  r->service = served > 0 ? sum / served : 0;
  r->cv = -1;
  if (sq_n >= 2) {
    double mean = sq_mean_sum / sq_n, var = sq_sum / sq_n - mean * mean;
    r->cv = mean > 0 && var > 0 ? sqrt(var) / mean : 0;
  }
  r->inflight = conc_n ? conc / (double)conc_n : 0;
}

/* Copies an arrival rate needs at `band` times the SLO, with the service
 * times `svc` read; -1 when nothing has been answered yet (no service time
 * to go by). The service time alone on a copy is the observed one with the
 * batching slowdown at the observed in-flight count taken out; an
 * unmeasured spread counts as cv 1. */
static int slo_want(const scale_policy *p, double rate, const slo_reading *svc, double band,
                    int max_copies) {
  if (!(svc->service > 0)) return -1;
  if (!(rate > 0)) return 0;
  int m = p->slo_max_concurrency > 0 ? p->slo_max_concurrency : 1;
  double b = svc->inflight < m ? svc->inflight : m;
  slo_load l = {rate, svc->service / (1 + p->slo_batch_slowdown * (b > 1 ? b - 1 : 0)),
                slo_service_tail(svc->cv >= 0 ? svc->cv : 1, p->slo_percentile),
                p->slo_batch_slowdown, m};
  slo_goal g = {p->slo_percentile, p->slo_latency_s};
  return slo_copies_within(&l, &g, band, 1, max_copies);
}

/* Rates are read over a minute (or, for a load step, the last 10 s), the
 * service times over the whole history: a minute's mean and spread of a few
 * hundred service times are too noisy to size on (they made the count
 * flap). Scale out when the rate needs more copies than there are (a 10 s
 * rate only when it needs FAST_STEP_RATIO times the copies); scale in only
 * after the whole scale-in window, to what its busiest minute needs at
 * SLO_SCALE_IN_BAND of the SLO (slo.h: the band that stops flapping). */
static void tt_slo(const scale_config *cfg, const scale_policy *p, const scale_state *st,
                   const scale_history *h, double now, double end, int current, proposal *pr) {
  slo_reading r10, rm, svc;
  int max = cfg->max_capacity > 0 ? cfg->max_capacity : 1;
  slo_read(h, end - SCALE_BUCKET_S, end, end, &r10);
  slo_read(h, end - FAST_SMOOTH_S, end, end, &rm);
  slo_read(h, end - (double)SCALE_HISTORY * SCALE_BUCKET_S, end, end, &svc);
  int want = slo_want(p, rm.rate, &svc, 1, max);
  int want10 = slo_want(p, r10.rate, &svc, 1, max);
  if (want10 >= FAST_STEP_RATIO * (current > 0 ? current : 1) && want10 > want) want = want10;
  double out_cd = cfg->profile == SCALE_PROFILE_FAST && p->scale_out_cooldown_s > FAST_OUT_COOLDOWN_MAX
                      ? FAST_OUT_COOLDOWN_MAX
                      : p->scale_out_cooldown_s;
  if (want > current && now - st->last_scale_out >= out_cd - EPS) {
    pr->desired = want;
    snprintf(pr->reason, sizeof pr->reason,
             "latency SLO: %.3g requests/s at %.3g s each need %d copies for p%g <= %g s",
             rm.rate, svc.service, want, p->slo_percentile * 100, p->slo_latency_s);
    return;
  }
  if (p->disable_scale_in) return;
  pr->veto_in = 1;
  if (want < 0 || want >= current) return;
  if (now - fmax(st->last_scale_out, st->last_scale_in) < p->scale_in_cooldown_s - EPS) return;
  double win = cfg->fast_scale_in_window_s > 0 ? cfg->fast_scale_in_window_s : 300;
  if (end - win < st->since - EPS) return;
  slo_reading all;
  slo_read(h, end - win, end, end, &all);
  size_t need = (size_t)ceil_count(win / SCALE_BUCKET_S);
  if (need > SCALE_HISTORY) need = SCALE_HISTORY;
  if (all.n + 1 < need || all.oldest_start > end - win + SCALE_BUCKET_S + EPS) return;
  int peak = 0;
  double span = win < FAST_SMOOTH_S ? win : FAST_SMOOTH_S;
  for (double hi = end; hi > end - win + EPS; hi -= span) {
    slo_reading sub;
    slo_read(h, hi - span, hi, end, &sub);
    if (!sub.n) continue;
    int w = slo_want(p, sub.rate, &svc, SLO_SCALE_IN_BAND, max);
    if (w < 0) return;
    if (w > peak) peak = w;
  }
  if (peak >= current) return;
  pr->desired = peak;
  pr->veto_in = 0;
  snprintf(pr->reason, sizeof pr->reason,
           "latency SLO: the busiest minute of the last %g s needs %d copies for p%g <= %g s "
           "(at %g of it)", win, peak, p->slo_percentile * 100, p->slo_latency_s,
           SLO_SCALE_IN_BAND);
}

static void tt_aws(const scale_policy *p, const scale_state *st, const scale_history *h,
                   double service_s, double now, double end, int current, proposal *pr) {
  double t = p->target;
  const wake_basis wb = {service_s, t};
  window w[AWS_IN_POINTS];
  double v[AWS_IN_POINTS];
  int n_above = 0, n_below = 0;
  for (int k = 0; k < AWS_IN_POINTS; k++) {
    window_scan(h, p->metric, &wb, end - AWS_EVAL_S * (k + 1), end - AWS_EVAL_S * k, end,
                SCAN_ONCE, &w[k]);
    v[k] = window_value(&w[k], p->metric);
    /* Counts run from the newest datapoint and stop at the first miss. */
    if (n_above == k && w[k].n && v[k] > t) n_above++;
    if (n_below == k && w[k].n && v[k] < SCALE_IN_RATIO * t) n_below++;
  }
  if (n_above >= AWS_OUT_POINTS && now - st->last_scale_out >= p->scale_out_cooldown_s - EPS) {
    int want = ceil_count(window_demand(&w[0], p->metric) / t);
    if (want < (int)w[0].last_copies + 1) want = (int)w[0].last_copies + 1;
    if (want > current) {
      pr->desired = want;
      snprintf(pr->reason, sizeof pr->reason,
               "target tracking: %.4g %s > target %g for %d of %d one-minute datapoints", v[0],
               metric_words(p->metric), t, AWS_OUT_POINTS, AWS_OUT_POINTS);
      return;
    }
  }
  if (p->disable_scale_in) return;
  pr->veto_in = 1;
  if (n_below < AWS_IN_POINTS) return;
  if (now - fmax(st->last_scale_out, st->last_scale_in) < p->scale_in_cooldown_s - EPS) return;
  int want = ceil_count(window_demand(&w[0], p->metric) / t);
  if (want >= current) return;
  pr->desired = want;
  pr->veto_in = 0;
  snprintf(pr->reason, sizeof pr->reason,
           "target tracking: %.4g %s < %.4g (90%% of target %g) for %d of %d one-minute datapoints",
           v[0], metric_words(p->metric), SCALE_IN_RATIO * t, t, AWS_IN_POINTS, AWS_IN_POINTS);
}

/* Aggregate of the per-bucket samples of one alarm period. */
static double aggregate(const window *w, scale_aggregation a) {
  switch (a) {
  case SCALE_AGG_AVERAGE: return w->sample_sum / (double)w->n;
  case SCALE_AGG_SUM: return w->sample_sum;
  case SCALE_AGG_MAX: return w->sample_max;
  case SCALE_AGG_MIN: return w->sample_min;
  }
  return 0.0;
}

/* Application Auto Scaling's rounding of a percent change: toward zero, but
 * a nonzero change moves at least one copy, and at least the minimum
 * adjustment magnitude when one is set. */
static int percent_delta(int current, int pct, int min_mag) {
  if (pct == 0) return 0;
  double d = (double)current * pct / 100.0;
  int sign = pct > 0 ? 1 : -1;
  long mag = (long)floor(fabs(d) + EPS);
  if (mag < 1) mag = 1;
  if (min_mag > 0 && mag < min_mag) mag = min_mag;
  if (mag > 1000000000L) mag = 1000000000L;
  return sign * (int)mag;
}

static void step_policy(const scale_config *cfg, const scale_policy *p, int idx,
                        const scale_state *st, const scale_history *h, double service_s,
                        double now, double end, int current, proposal *pr) {
  /* No target: at zero copies the reading is the rate times the service
   * time, 0 while that is unknown. */
  const wake_basis wb = {service_s, 0};
  double period = p->period_s > 0 ? p->period_s : 60;
  if (cfg->profile == SCALE_PROFILE_FAST && period > SCALE_BUCKET_S) period = SCALE_BUCKET_S;
  int periods = p->evaluation_periods > 0 ? p->evaluation_periods : 1;
  double latest = 0.0;
  for (int k = 0; k < periods; k++) {
    window w;
    window_scan(h, p->metric, &wb, end - period * (k + 1), end - period * k, end, SCAN_ONCE, &w);
    if (w.n == 0) return; /* missing data never breaches */
    double v = aggregate(&w, p->aggregation);
    if (p->greater ? !(v > p->threshold) : !(v < p->threshold)) return;
    if (k == 0) latest = v;
  }
  if (now - st->last_step[idx] < p->cooldown_s - EPS) return;

  double over = latest - p->threshold;
  const scale_step *step = NULL;
  for (int s = 0; s < p->n_steps && s < SCALE_MAX_STEPS; s++)
    if (over >= p->steps[s].lower && over < p->steps[s].upper) {
      step = &p->steps[s];
      break;
    }
  if (!step) return;

  long want;
  switch (p->adjustment) {
  case SCALE_ADJ_EXACT: want = step->adjustment; break;
  case SCALE_ADJ_PERCENT:
    want = (long)current + percent_delta(current, step->adjustment, p->min_adjustment_magnitude);
    break;
  case SCALE_ADJ_CHANGE:
  default: want = (long)current + step->adjustment; break;
  }
  if (want < 0) want = 0;
  if (want > 1000000000L) want = 1000000000L;
  if (want == current) return;
  pr->desired = (int)want;
  snprintf(pr->reason, sizeof pr->reason,
           "step scaling: %.4g %s (%s) %s threshold %g for %d of %d %g s periods", latest,
           metric_words(p->metric), agg_words(p->aggregation), p->greater ? ">" : "<",
           p->threshold, periods, periods, period);
}

static int clamp_capacity(const scale_config *cfg, int n) {
  int hi = cfg->max_capacity > 0 ? cfg->max_capacity : 0;
  int lo = cfg->min_capacity > 0 ? cfg->min_capacity : 0;
  if (n < lo) n = lo;
  if (n > hi) n = hi;
  return n;
}

/* Whether bucket b still carries a wake's backlog: concurrency per ready
 * copy above a concurrency target of cfg. */
static int backlogged(const scale_config *cfg, const scale_bucket *b) {
  if (!b->copies) return 0;
  double conc = b->concurrency_samples ? b->concurrency_sum / b->concurrency_samples : 0.0;
  int n_pol = cfg->n_policies < SCALE_MAX_POLICIES ? cfg->n_policies : SCALE_MAX_POLICIES;
  for (int i = 0; i < n_pol; i++) {
    const scale_policy *p = &cfg->policies[i];
    if (p->type == SCALE_TARGET_TRACKING && p->metric == SCALE_METRIC_CONCURRENT_PER_COPY &&
        p->target > 0 && conc / b->copies > p->target)
      return 1;
  }
  return 0;
}

/* Tracks st->wake_since (DESIGN, Waking): arrivals at zero ready copies in
 * the newest complete bucket start a wake; it ends once no bucket of the
 * last minute (the longest window a scale-out reads) is backlogged or at
 * zero copies with arrivals, or after WAKE_PHASE_MAX_S. */
static void wake_phase(const scale_config *cfg, scale_state *st, const scale_history *h,
                       double end) {
  int newest = 1;
  for (size_t k = h->n; k-- > 0;) {
    const scale_bucket *b = scale_history_at(h, k);
    if (b->start + SCALE_BUCKET_S > end + EPS) continue;
    if (b->start + SCALE_BUCKET_S <= end - FAST_SMOOTH_S + EPS) break;
    int held = !b->copies && b->invocations + b->held_arrivals > 0;
    if (newest && held && !isfinite(st->wake_since)) st->wake_since = end;
    newest = 0;
    if (!isfinite(st->wake_since)) return;
    if (held || backlogged(cfg, b)) {
      if (end - st->wake_since > WAKE_PHASE_MAX_S) break;
      return; /* still waking, or working the backlog off */
    }
  }
  st->wake_since = -INFINITY;
}

void scale_decide(const scale_config *cfg, scale_state *st, const scale_history *h, double now,
                  int current, scale_decision *out) {
  memset(out, 0, sizeof *out);
  out->desired = current;
  out->policy = -1;

  int evaluate = 1;
  if (cfg->profile == SCALE_PROFILE_AWS) {
    if (now - st->last_evaluation < AWS_EVAL_S - EPS)
      evaluate = 0;
    else
      st->last_evaluation = now;
  }
  double end = 0.0;
  if (evaluate && !last_end(h, now, &end)) evaluate = 0;

  int out_best = current, out_policy = -1;
  int in_best = -1, in_policy = -1, veto = 0;
  proposal pr[SCALE_MAX_POLICIES];
  double service_s = evaluate ? scale_service_mean(h) : 0.0;
  if (evaluate) wake_phase(cfg, st, h, end);
  int n_pol = cfg->n_policies < SCALE_MAX_POLICIES ? cfg->n_policies : SCALE_MAX_POLICIES;
  for (int i = 0; evaluate && i < n_pol; i++) {
    const scale_policy *p = &cfg->policies[i];
    pr[i].desired = current;
    pr[i].veto_in = 0;
    pr[i].reason[0] = '\0';
    if (p->type == SCALE_TARGET_TRACKING && p->slo) {
      tt_slo(cfg, p, st, h, now, end, current, &pr[i]);
    } else if (p->type == SCALE_TARGET_TRACKING) {
      if (!(p->target > 0)) continue; /* unusable target: no say */
      if (cfg->profile == SCALE_PROFILE_AWS)
        tt_aws(p, st, h, service_s, now, end, current, &pr[i]);
      else
        tt_fast(cfg, p, st, h, service_s, now, end, current, &pr[i]);
    } else {
      step_policy(cfg, p, i, st, h, service_s, now, end, current, &pr[i]);
    }
    if (pr[i].desired > out_best) {
      out_best = pr[i].desired;
      out_policy = i;
    } else if (pr[i].desired < current) {
      if (pr[i].desired > in_best) {
        in_best = pr[i].desired;
        in_policy = i;
      }
    } else if (pr[i].veto_in) {
      veto = 1;
    }
  }

  int want = current, policy = -1;
  if (out_policy >= 0) {
    want = out_best;
    policy = out_policy;
  } else if (in_policy >= 0 && !veto) {
    want = in_best;
    policy = in_policy;
  }
  int desired = clamp_capacity(cfg, want);
  if (desired == current) {
    snprintf(out->cause, sizeof out->cause, "no change: %d copies", current);
    return;
  }

  out->desired = desired;
  out->changed = 1;
  size_t len;
  if (policy >= 0 && ((want > current) == (desired > current))) {
    out->policy = policy;
    snprintf(out->cause, sizeof out->cause, "%s", pr[policy].reason);
    if (desired > current)
      st->last_scale_out = now;
    else
      st->last_scale_in = now;
    if (cfg->policies[policy].type == SCALE_STEP) st->last_step[policy] = now;
  } else {
    snprintf(out->cause, sizeof out->cause, "capacity limits [%d, %d]", cfg->min_capacity,
             cfg->max_capacity);
  }
  len = strlen(out->cause);
  snprintf(out->cause + len, sizeof out->cause - len, ": %d -> %d copies", current, desired);
}

int scale_hold_guard(int current, int desired, uint32_t held) {
  return held > 0 && desired < current ? current : desired;
}

int scale_wake(const scale_config *cfg) {
  if (cfg->max_capacity <= 0) return 0;
  int n = cfg->min_capacity > 1 ? cfg->min_capacity : 1;
  return n > cfg->max_capacity ? cfg->max_capacity : n;
}

int scale_wake_rate(const scale_config *cfg, double arrivals_per_s, double service_s) {
  int n = scale_wake(cfg);
  if (n <= 0 || !(arrivals_per_s > 0)) return n;
  int n_pol = cfg->n_policies < SCALE_MAX_POLICIES ? cfg->n_policies : SCALE_MAX_POLICIES;
  for (int i = 0; i < n_pol; i++) {
    const scale_policy *p = &cfg->policies[i];
    if (p->type != SCALE_TARGET_TRACKING || !(p->target > 0)) continue;
    int want = 0;
    if (p->metric == SCALE_METRIC_CONCURRENT_PER_COPY && service_s > 0)
      want = ceil_count(arrivals_per_s * service_s / p->target);
    else if (p->metric == SCALE_METRIC_INVOCATIONS_PER_COPY)
      want = ceil_count(arrivals_per_s * 60.0 / p->target);
    if (want > n) n = want;
  }
  return n > cfg->max_capacity ? cfg->max_capacity : n;
}

/* forecast: see forecast.h. */
#include "berth/forecast.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define EPS 1e-9
#define BEFORE 1e-6 /* "just before" a time: slots are whole seconds wide */

int forecast_init(forecast *f, double season_s) {
  if (!(season_s >= FORECAST_SEASON_MIN_S && season_s <= FORECAST_SEASON_MAX_S)) return -EINVAL;
  memset(f, 0, sizeof *f);
  f->season_s = season_s;
  f->slot_s = fmax((double)SCALE_BUCKET_S, 2 * season_s / FORECAST_DAILY_SLOTS);
  f->week_slot_s = fmax(f->slot_s, (FORECAST_WEEK_SEASONS + 1) * season_s / FORECAST_WEEKLY_SLOTS);
  f->n_daily = (size_t)ceil(2 * season_s / f->slot_s - EPS);
  if (f->n_daily > FORECAST_DAILY_SLOTS) f->n_daily = FORECAST_DAILY_SLOTS;
  f->recent_s = fmin(1800.0, season_s / 8);
  f->lookahead_s = fmin(60.0, season_s / 20);
  f->profile_s = fmin(120.0, season_s / 20);
  f->first = f->newest = NAN;
  for (size_t i = 0; i < FORECAST_DAILY_SLOTS; i++) f->daily[i].idx = FORECAST_EMPTY;
  for (size_t i = 0; i < FORECAST_WEEKLY_SLOTS; i++) f->weekly[i].idx = FORECAST_EMPTY;
  return 0;
}

/* Slot numbers may be negative (berth-sim's pre-roll runs before t = 0), so
 * "empty" is a flag the index can never take: positions are computed with a
 * positive modulus and a slot matches only when its stored number does. */
static size_t pos_of(int64_t idx, size_t n) {
  int64_t m = idx % (int64_t)n;
  return (size_t)(m < 0 ? m + (int64_t)n : m);
}

/* Clamped to what a slot stores (10-s slots: 680 years either way). */
static int64_t idx_of(double t, double width) {
  double i = floor(t / width + EPS);
  if (!(i > (double)INT32_MIN)) return (int64_t)INT32_MIN + 1;
  if (i > (double)INT32_MAX) return INT32_MAX;
  return (int64_t)i;
}

static void slot_add(forecast_slot *ring, size_t n, double width, double t, double demand) {
  int64_t idx = idx_of(t, width);
  forecast_slot *s = &ring[pos_of(idx, n)];
  if (s->idx != idx) {
    s->idx = (int32_t)idx;
    s->sum = 0;
    s->n = 0;
  }
  if (s->n == UINT16_MAX) return; /* a slot of 7.5 days at 10-s buckets: mean is settled */
  s->sum += (float)demand;
  s->n++;
}

static size_t n_weekly(const forecast *f) {
  size_t n = (size_t)ceil((FORECAST_WEEK_SEASONS + 1) * f->season_s / f->week_slot_s - EPS);
  return n > FORECAST_WEEKLY_SLOTS ? FORECAST_WEEKLY_SLOTS : n;
}

static int slot_mean(const forecast_slot *ring, size_t n, int64_t i, double *out) {
  const forecast_slot *s = &ring[pos_of(i, n)];
  if (s->idx != i || !s->n) return 0;
  *out = s->sum / s->n;
  return 1;
}

/* Largest mean demand over `span` consecutive slots (the ones that hold
 * data) starting at a slot meeting [a, b]; -1 when none holds data. The
 * window is cut to the ring's span so a lap never reads a slot twice. */
static double ring_peak(const forecast_slot *ring, size_t n, double width, double a, double b,
                        int span) {
  int64_t lo = idx_of(a, width), hi = idx_of(b, width);
  if (hi - lo + span >= (int64_t)n) hi = lo + (int64_t)n - 1 - span;
  double peak = -1, sum = 0, v;
  int k = 0;
  /* A sliding sum over [i, i + span): O(window + span). */
  for (int64_t j = lo; j < lo + span; j++)
    if (slot_mean(ring, n, j, &v)) {
      sum += v;
      k++;
    }
  for (int64_t i = lo; i <= hi; i++) {
    if (k && slot_mean(ring, n, i, &v) && sum / k > peak) peak = sum / k;
    if (slot_mean(ring, n, i, &v)) {
      sum -= v;
      k--;
    }
    if (slot_mean(ring, n, i + span, &v)) {
      sum += v;
      k++;
    }
  }
  return peak;
}

/* Slots in a mean over `seconds`. */
static int span_of(double seconds, double width) {
  int k = (int)floor(seconds / width + EPS);
  return k < 1 ? 1 : k;
}

/* Mean demand of the slots in [a, b) that hold data; -1 when none does. */
static double ring_mean(const forecast_slot *ring, size_t n, double width, double a, double b) {
  int64_t lo = idx_of(a, width), hi = idx_of(b - BEFORE, width);
  if (hi - lo >= (int64_t)n) hi = lo + (int64_t)n - 1;
  double sum = 0, v;
  size_t k = 0;
  for (int64_t i = lo; i <= hi; i++) {
    if (!slot_mean(ring, n, i, &v)) continue;
    sum += v;
    k++;
  }
  return k ? sum / (double)k : -1;
}

double forecast_demand(const scale_config *cfg, const scale_bucket *b) {
  double conc = b->concurrency_samples ? b->concurrency_sum / b->concurrency_samples : 0;
  double per_min = b->invocations * (60.0 / SCALE_BUCKET_S);
  double need = 0;
  for (int i = 0; i < cfg->n_policies; i++) {
    const scale_policy *p = &cfg->policies[i];
    if (p->type != SCALE_TARGET_TRACKING) continue;
    double v = 0;
    if (p->slo && p->slo_max_concurrency > 0)
      v = conc / p->slo_max_concurrency;
    else if (p->target > 0 && p->metric == SCALE_METRIC_CONCURRENT_PER_COPY)
      v = conc / p->target;
    else if (p->target > 0 && p->metric == SCALE_METRIC_INVOCATIONS_PER_COPY)
      v = per_min / p->target;
    if (v > need) need = v;
  }
  return need;
}

void forecast_push(forecast *f, double start, double demand) {
  if (!isfinite(start) || !(demand >= 0)) return;
  if (!isnan(f->newest) && !(start > f->newest)) return;
  if (isnan(f->first)) f->first = start;
  f->newest = start;
  slot_add(f->daily, f->n_daily, f->slot_s, start, demand);
  slot_add(f->weekly, n_weekly(f), f->week_slot_s, start, demand);
}

double forecast_copies(const forecast *f, double now, double horizon_s, forecast_detail *d) {
  forecast_detail tmp;
  if (!d) d = &tmp;
  d->daily_peak = d->weekly_peak = -1;
  d->level = 1;
  d->copies = 0;
  if (isnan(f->newest)) return 0;
  double h = fmax(0, fmin(horizon_s, f->season_s / 2));
  double S = f->season_s, W = FORECAST_WEEK_SEASONS * S;
  d->daily_peak = ring_peak(f->daily, f->n_daily, f->slot_s, now - S, now - S + h + f->lookahead_s,
                            span_of(f->profile_s, f->slot_s));
  if (d->daily_peak < 0) return 0;
  d->weekly_peak = ring_peak(f->weekly, n_weekly(f), f->week_slot_s, now - W,
                             now - W + h + f->lookahead_s, span_of(f->profile_s, f->week_slot_s));
  double profile = d->weekly_peak >= 0 ? 0.5 * d->daily_peak + 0.5 * d->weekly_peak : d->daily_peak;
  /* The level reads the weekly ring's coarser slots: a handful of means
   * instead of 180 buckets twice, at every evaluation of every IC. */
  size_t nw = n_weekly(f);
  double recent = ring_mean(f->weekly, nw, f->week_slot_s, now - f->recent_s, now);
  double ago = ring_mean(f->weekly, nw, f->week_slot_s, now - S - f->recent_s, now - S);
  /* An idle or unknown phase a season ago says nothing about the level. */
  if (recent >= 0 && ago >= 0.05) {
    double r = recent / ago;
    d->level = r < FORECAST_LEVEL_MIN ? FORECAST_LEVEL_MIN : r > FORECAST_LEVEL_MAX ? FORECAST_LEVEL_MAX : r;
  }
  d->copies = profile * d->level;
  return d->copies;
}

static int ceil_copies(double x) {
  if (!(x > EPS)) return 0;
  double c = ceil(x - EPS);
  return c > 1e6 ? 1000000 : (int)c;
}

int forecast_floor(const forecast *f, double now, double horizon_s) {
  return ceil_copies(forecast_copies(f, now, horizon_s, NULL));
}

int forecast_apply(scale_decision *d, int current, int floor, const char *cause) {
  int want = d->changed ? d->desired : current;
  if (floor <= want) return 0;
  d->changed = 1;
  d->desired = floor;
  if (floor > current && cause) snprintf(d->cause, sizeof d->cause, "%s", cause);
  return 1;
}

int forecast_score(forecast *f, double now, double horizon_s) {
  /* Settle what the pushed buckets now cover. */
  while (f->p_n) {
    size_t i = f->p_head;
    /* The one-minute means that start within the horizon (at least the
     * one at its start), as the forecast's profile reads them. */
    double at = f->pending[i].at, end = at + f->pending[i].h;
    int span = span_of(fmin(60.0, f->season_s / 20), f->slot_s);
    double last = fmax(at, end - span * f->slot_s);
    if (isnan(f->newest) || f->newest + SCALE_BUCKET_S < last + span * f->slot_s - EPS) break;
    double peak = ring_peak(f->daily, f->n_daily, f->slot_s, at, last, span);
    int actual = ceil_copies(peak < 0 ? 0 : peak);
    int predicted = (int)f->pending[i].predicted;
    f->err.n++;
    f->err.abs_err_sum += fabs((double)(predicted - actual));
    f->err.actual_sum += actual;
    f->err.under += predicted < actual;
    f->err.over += predicted > actual;
    f->p_head = (f->p_head + 1) % FORECAST_PENDING;
    f->p_n--;
  }
  forecast_detail d;
  double h = fmax((double)SCALE_BUCKET_S, fmin(horizon_s, f->season_s / 2));
  double c = forecast_copies(f, now, h, &d);
  if (d.daily_peak < 0) return 0;
  if (f->p_n == FORECAST_PENDING) { /* horizon past the bound: drop the oldest */
    f->p_head = (f->p_head + 1) % FORECAST_PENDING;
    f->p_n--;
  }
  size_t j = (f->p_head + f->p_n) % FORECAST_PENDING;
  f->pending[j].at = now;
  f->pending[j].h = (float)h;
  f->pending[j].predicted = (float)ceil_copies(c);
  f->p_n++;
  return ceil_copies(c);
}

double forecast_mae(const forecast_error *e) {
  return e->n ? e->abs_err_sum / (double)e->n : 0;
}

double forecast_wape(const forecast_error *e) {
  return e->actual_sum > 0 ? 100.0 * e->abs_err_sum / e->actual_sum : -1;
}

/* forecast: an inference component's copies needed ahead of time, from its
 * own demand history, so copies (and the instances under them) start before
 * a recurring load arrives.
 *
 * Pure: closed 10-second buckets in, copies needed within a horizon out. No
 * I/O, clock or globals; berthd and berth-sim keep one per IC and call the
 * same functions.
 *
 * DESIGN (docs/forecast.md). The demand series is copies needed per bucket
 * (forecast_demand: the bucket's metric over the target-tracking target).
 * Two bounded rings keep it: a daily ring covering two seasons at slots of
 * max(10 s, 2 x season / FORECAST_DAILY_SLOTS), and a weekly ring covering
 * eight seasons at coarser slots; each slot keeps the mean demand of its
 * buckets and the slot number it belongs to, so a stale slot (from a lap of
 * the ring ago) is recognised and ignored. The profile is the mean over
 * two minutes (two of the autoscaler's datapoints), so one noisy bucket or
 * minute does not hold an extra copy. The forecast at now for a horizon h is the season-ago
 * profile's peak over [now, now + h + w] moved back one season (w a short
 * look-ahead, so a step is anticipated), blended
 * half and half with the same window a week ago once a week of history
 * exists, times a level correction: the mean demand of the last R seconds
 * over the mean of the same phase a season ago, clamped to [0.5, 2]
 * (1 when the season ago was idle or unknown). With no history at the
 * season-ago window the forecast is 0: no floor. */
#ifndef BERTH_FORECAST_H
#define BERTH_FORECAST_H

#include <stddef.h>
#include <stdint.h>

#include "berth/scale.h"

#define FORECAST_DAILY_SLOTS 17280   /* two seasons of 10-s slots at 86400 s */
#define FORECAST_WEEKLY_SLOTS 4096   /* eight seasons */
#define FORECAST_WEEK_SEASONS 7
#define FORECAST_PENDING 1024        /* forecasts awaiting their actuals: a
                                        horizon of 10240 s; past it the
                                        oldest go unscored */
#define FORECAST_SEASON_MIN_S 60.0
#define FORECAST_SEASON_MAX_S (86400.0 * 28)
#define FORECAST_LEVEL_MIN 0.5
#define FORECAST_LEVEL_MAX 2.0
#define FORECAST_EMPTY INT32_MIN

typedef struct forecast_slot {
  int32_t idx;                  /* slot number (time / slot width);
                                   FORECAST_EMPTY: none */
  float sum;                    /* copies needed, summed over its buckets */
  uint16_t n;                   /* buckets in it */
} forecast_slot;

/* What forecast_score has measured: forecasts of the copies needed within
 * the horizon (rounded up) against the copies the demand then needed. */
typedef struct forecast_error {
  uint64_t n;                   /* forecasts scored */
  double abs_err_sum;           /* sum of |forecast - actual| in copies */
  double actual_sum;            /* sum of actual copies */
  uint64_t under;               /* forecasts below the actual */
  uint64_t over;                /* forecasts above the actual */
} forecast_error;

typedef struct forecast {
  /* public, read-only */
  double season_s;
  double slot_s, week_slot_s;   /* slot widths */
  double recent_s;              /* level correction window: min(1800, season / 8) */
  double lookahead_s;           /* w: min(60, season / 20) */
  double profile_s;             /* the profile's mean: min(120, season / 20) */
  double first, newest;         /* first and newest bucket start (NAN: none) */
  forecast_error err;
  /* private */
  forecast_slot daily[FORECAST_DAILY_SLOTS];
  forecast_slot weekly[FORECAST_WEEKLY_SLOTS];
  size_t n_daily;               /* slots in use (two seasons' worth) */
  struct {
    double at;
    float h, predicted;
  } pending[FORECAST_PENDING];
  size_t p_head, p_n;
} forecast;

/* What one forecast found, for logs and causes. */
typedef struct forecast_detail {
  double daily_peak;            /* season-ago peak over the window (-1: none) */
  double weekly_peak;           /* week-ago peak (-1: none) */
  double level;                 /* level correction applied */
  double copies;                /* the forecast, in copies (not rounded) */
} forecast_detail;

/* season_s within [FORECAST_SEASON_MIN_S, FORECAST_SEASON_MAX_S]: 0, or
 * -EINVAL outside it. The struct is large (about 270 KiB): allocate it. */
int forecast_init(forecast *f, double season_s);

/* Copies one bucket's demand needs under cfg's target-tracking policies:
 * the largest over them of mean concurrency / target
 * (ConcurrentRequestsPerCopy) or invocations per minute / target
 * (InvocationsPerCopy); latency-SLO policies count mean concurrency over
 * their per-copy concurrency. 0 when no policy applies. */
double forecast_demand(const scale_config *cfg, const scale_bucket *b);

/* Adds a closed bucket's demand (copies needed) starting at `start`.
 * Buckets must come in time order; an older one than the newest is
 * ignored. */
void forecast_push(forecast *f, double start, double demand);

/* The copies the demand is forecast to need at some moment within
 * [now, now + horizon_s] (not rounded); 0 without history a season ago.
 * detail may be NULL. */
double forecast_copies(const forecast *f, double now, double horizon_s, forecast_detail *detail);

/* The floor that forecast implies: ceil(forecast_copies), never below 0. */
int forecast_floor(const forecast *f, double now, double horizon_s);

/* Applies a floor to the scaler's decision d, made at current copies: the
 * desired count never goes below floor (clamp floor to MaxCapacity first).
 * A floor above current is a scale-out the forecast causes: d->cause
 * becomes `cause`. A scale-in to below the floor stops at it. Returns 1 when
 * the floor changed the decision. */
int forecast_apply(scale_decision *d, int current, int floor, const char *cause);

/* Records the floor forecast now for [now, now + horizon_s] and scores
 * every earlier one whose window the pushed buckets now cover against the
 * actual copies needed there (ceil of the peak one-minute mean demand
 * starting within it). Call once per closed bucket; only forecasts made
 * with history count. Returns that floor (forecast_floor at a horizon of
 * at least one bucket), so a caller need not forecast twice. */
int forecast_score(forecast *f, double now, double horizon_s);

/* Mean absolute error in copies, and the weighted absolute percentage
 * error (sum |error| / sum actual, in percent; -1 when nothing was needed). */
double forecast_mae(const forecast_error *e);
double forecast_wape(const forecast_error *e);

#endif

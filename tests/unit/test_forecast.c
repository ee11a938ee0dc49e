/* test_forecast: lib/forecast, copies needed one horizon ahead from an IC's
 * own demand history. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "berth/forecast.h"
#include "check.h"

#define SEASON 600.0
#define H 60.0

/* A square wave: `high` copies from phase 60 s to 180 s of each season. */
static double square(double t) {
  double ph = fmod(t, SEASON);
  if (ph < 0) ph += SEASON;
  return ph >= 60 && ph < 180 ? 3.0 : 0.0;
}

static void feed(forecast *f, double from, double to, double (*g)(double), double scale) {
  for (double t = from; t < to; t += SCALE_BUCKET_S) forecast_push(f, t, scale * g(t));
}

/* The step is forecast one horizon before it arrives, and the floor ends
 * once the season-ago window has passed. The profile is a forward mean
 * over profile_s, so it rises up to profile_s before the look-ahead
 * reaches the step, and not before. */
static void test_square_wave(void) {
  forecast *f = calloc(1, sizeof *f);
  CHECK_INT(forecast_init(f, SEASON), 0);
  feed(f, 0, SEASON, square, 1);
  /* now = 600 + 60 - H: the load at 660 lies within [now, now + H]. */
  CHECK_INT(forecast_floor(f, SEASON + 60 - H, H), 3);
  /* Well before it: nothing. */
  CHECK_INT(forecast_floor(f, SEASON + 60 - H - f->lookahead_s - f->profile_s - 10, H), 0);
  CHECK(forecast_floor(f, SEASON + 60 - H - f->lookahead_s - f->profile_s + 20, H) > 0);
  /* Feed on through the second season's load: the floor holds through it
   * and falls once the window a season ago is past the load. */
  feed(f, SEASON, SEASON + 110, square, 1);
  CHECK_INT(forecast_floor(f, SEASON + 110, H), 3);
  feed(f, SEASON + 110, SEASON + 300, square, 1);
  CHECK_INT(forecast_floor(f, SEASON + 300, H), 0);
  free(f);
}

static double flat(double t) {
  (void)t;
  return 2.0;
}

/* The level correction scales the profile by the recent demand over the
 * same phase a season ago, clamped to [0.5, 2]. */
static void test_level(void) {
  forecast *f = calloc(1, sizeof *f);
  forecast_init(f, SEASON);
  feed(f, 0, SEASON, flat, 1);            /* 2 copies all season */
  feed(f, SEASON, SEASON + 100, flat, 1.5); /* now 3: +50% */
  forecast_detail d;
  double c = forecast_copies(f, SEASON + 100, H, &d);
  CHECK(fabs(d.level - 1.5) < 1e-6);
  CHECK(fabs(c - 3.0) < 1e-6);
  CHECK_INT(forecast_floor(f, SEASON + 100, H), 3);
  /* Ten times the demand clamps at twice. */
  forecast *g = calloc(1, sizeof *g);
  forecast_init(g, SEASON);
  feed(g, 0, SEASON, flat, 1);
  feed(g, SEASON, SEASON + 100, flat, 10);
  forecast_copies(g, SEASON + 100, H, &d);
  CHECK(fabs(d.level - FORECAST_LEVEL_MAX) < 1e-6);
  /* Idle now: the profile is halved, not dropped (clamped at 0.5). */
  forecast_init(g, SEASON);
  feed(g, 0, SEASON, flat, 1);
  feed(g, SEASON, SEASON + 100, flat, 0);
  c = forecast_copies(g, SEASON + 100, H, &d);
  CHECK(fabs(d.level - FORECAST_LEVEL_MIN) < 1e-6);
  CHECK(fabs(c - 1.0) < 1e-6);
  free(f);
  free(g);
}

/* No history a season ago: no floor; a gap in the history the same. */
static void test_no_history(void) {
  forecast *f = calloc(1, sizeof *f);
  forecast_init(f, SEASON);
  CHECK_INT(forecast_floor(f, 1000, H), 0);
  feed(f, 0, 300, flat, 1); /* the first half season only */
  CHECK_INT(forecast_floor(f, 300, H), 0);     /* [-300, -240]: nothing */
  CHECK_INT(forecast_floor(f, SEASON + 100, H), 2);
  forecast_detail d;
  CHECK(forecast_copies(f, SEASON + 400, H, &d) == 0);
  CHECK(d.daily_peak < 0);
  /* A season length out of range is refused. */
  CHECK(forecast_init(f, 1) < 0);
  CHECK(forecast_init(f, 1e9) < 0);
  free(f);
}

/* A week of history blends the week-ago window half and half. */
static void test_weekly(void) {
  forecast *f = calloc(1, sizeof *f);
  forecast_init(f, SEASON);
  /* Day 0: 4 copies in the window, days 1..6: 2. */
  for (double t = 0; t < 7 * SEASON; t += SCALE_BUCKET_S)
    forecast_push(f, t, t < SEASON ? 4.0 : 2.0);
  forecast_detail d;
  double c = forecast_copies(f, 7 * SEASON, H, &d);
  CHECK(fabs(d.daily_peak - 2) < 1e-6);
  CHECK(fabs(d.weekly_peak - 4) < 1e-6);
  CHECK(fabs(c - 3) < 1e-6);
  free(f);
}

/* Memory stays bounded whatever the season and however long it runs: the
 * slots in use never exceed the rings, and a day-long season keeps 10-s
 * slots while a 28-day one coarsens them. */
static void test_memory_bound(void) {
  forecast *f = calloc(1, sizeof *f);
  forecast_init(f, 86400);
  CHECK(fabs(f->slot_s - 10) < 1e-9);
  CHECK(f->n_daily <= FORECAST_DAILY_SLOTS);
  for (double t = 0; t < 3 * 86400; t += SCALE_BUCKET_S) forecast_push(f, t, 1);
  CHECK_INT(forecast_floor(f, 3 * 86400, 600), 1);
  forecast_init(f, FORECAST_SEASON_MAX_S);
  CHECK(f->slot_s > 10);
  CHECK(f->n_daily <= FORECAST_DAILY_SLOTS);
  CHECK(sizeof(forecast) < 320 * 1024);
  free(f);
}

/* The score counts a perfect forecast of a repeating wave as no error, and
 * one of a wave that stopped as misses. */
static void test_score(void) {
  forecast *f = calloc(1, sizeof *f);
  forecast_init(f, SEASON);
  for (double t = 0; t < 3 * SEASON; t += SCALE_BUCKET_S) {
    forecast_push(f, t, square(t));
    forecast_score(f, t + SCALE_BUCKET_S, H);
  }
  CHECK(f->err.n > 0);
  CHECK_INT(f->err.under, 0); /* the look-ahead only over-forecasts */
  fprintf(stderr, "square wave: %llu forecasts, MAE %.3f copies, WAPE %.1f%%\n",
          (unsigned long long)f->err.n, forecast_mae(&f->err), forecast_wape(&f->err));
  CHECK(forecast_mae(&f->err) < 1.0); /* the look-ahead margin before each step */
  uint64_t n = f->err.n;
  for (double t = 3 * SEASON; t < 4 * SEASON; t += SCALE_BUCKET_S) {
    forecast_push(f, t, 0);
    forecast_score(f, t + SCALE_BUCKET_S, H);
  }
  CHECK(f->err.n > n);
  CHECK(f->err.over > 0);
  CHECK(forecast_mae(&f->err) > 0);
  free(f);
}

/* Demand per bucket from the target-tracking policy's metric. */
static void test_demand(void) {
  scale_config c;
  scale_config_init(&c, SCALE_PROFILE_FAST);
  c.n_policies = 1;
  scale_policy_init(&c.policies[0], SCALE_TARGET_TRACKING, SCALE_METRIC_CONCURRENT_PER_COPY);
  c.policies[0].target = 2;
  scale_bucket b = {0};
  b.concurrency_sum = 50;
  b.concurrency_samples = 10;
  CHECK(fabs(forecast_demand(&c, &b) - 2.5) < 1e-9);
  scale_policy_init(&c.policies[0], SCALE_TARGET_TRACKING, SCALE_METRIC_INVOCATIONS_PER_COPY);
  c.policies[0].target = 30; /* per minute */
  b.invocations = 10;        /* in 10 s: 60 a minute */
  CHECK(fabs(forecast_demand(&c, &b) - 2) < 1e-9);
  c.n_policies = 0;
  CHECK(forecast_demand(&c, &b) == 0);
}

int main(void) {
  test_square_wave();
  test_level();
  test_no_history();
  test_weekly();
  test_memory_bound();
  test_score();
  test_demand();
  CHECK_DONE();
}

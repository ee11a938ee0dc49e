/* prewarm: forecast-driven warm-up of an inference component (the daemon's
 * side of lib/forecast). Each closed bucket feeds the IC's forecaster; the
 * autoscaler then never sets desired below what the forecast needs within
 * the horizon, and scales out early when it is above the current count.
 * docs/forecast.md. */
#ifndef BERTHD_PREWARM_H
#define BERTHD_PREWARM_H

#include "berth/forecast.h"
#include "ctl.h"

/* Per IC (ic->forecast), allocated on the first closed bucket of an IC
 * with a scalable target and seeded from its persisted 24 hours of buckets
 * (so a restart keeps the daily season; the weekly one starts over).
 * Freed with free() by ic_free. */
struct ic_forecast {
  forecast f;
  double copy_start_s;          /* the IC's last measured copy start (-1: none) */
  double horizon_s;             /* h in use */
  int floor;                    /* copies the forecast needs within h */
  forecast_detail detail;       /* of that floor, for the cause text */
};

/* After metrics_sample closed `closed` buckets (0: nothing to do). */
void prewarm_closed(ctl *c, ic *x, int closed);

/* The forecast floor for x now (0 without a forecast), clamped to its
 * MaxCapacity; cause gets the text for a scale-out it causes. */
int prewarm_floor(const ctl *c, const ic *x, char *cause, size_t size);

#endif

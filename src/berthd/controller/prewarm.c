/* prewarm: see prewarm.h. */
#include "prewarm.h"

#include <stdio.h>
#include <stdlib.h>

#include "berth/buf.h"
#include "berth/log.h"
#include "metrics.h"

#define DEFAULT_COPY_START_S 60.0 /* before the IC's first copy start is measured */

/* A persisted record as the bucket the autoscaler reads. */
static scale_bucket bucket_of(const metrics_record *r) {
  scale_bucket b = {0};
  b.start = r->start;
  b.invocations = r->invocations;
  b.no_capacity = r->no_capacity;
  b.concurrency_sum = r->concurrency * SCALE_BUCKET_S;
  b.concurrency_samples = SCALE_BUCKET_S;
  b.copies = r->copies;
  return b;
}

static void note_setup(struct ic_forecast *p, const metrics_record *r) {
  if (r->setups) p->copy_start_s = r->setup_ms / r->setups / 1000.0;
}

/* h = the IC's last copy start plus its variant's last instance start,
 * plus one bucket for the decision to be seen. The local and pool
 * providers' instances are running agents, so their instance start is 0;
 * --forecast-horizon overrides both. */
static double horizon_of(const ctl *c, const struct ic_forecast *p) {
  if (c->forecast_horizon_s > 0) return c->forecast_horizon_s;
  double copy_start = p->copy_start_s >= 0 ? p->copy_start_s : DEFAULT_COPY_START_S;
  return copy_start + SCALE_BUCKET_S;
}

static struct ic_forecast *create(ctl *c, ic *x) {
  struct ic_forecast *p = berth_xcalloc(1, sizeof *p);
  if (forecast_init(&p->f, c->forecast_season_s) != 0) {
    free(p);
    return NULL;
  }
  p->copy_start_s = -1;
  const metrics_history *mh = metrics_closed(x->metrics);
  for (size_t i = 0; i < mh->n; i++) {
    const metrics_record *r = metrics_history_at(mh, i);
    scale_bucket b = bucket_of(r);
    forecast_push(&p->f, b.start, forecast_demand(&x->scaling->cfg, &b));
    note_setup(p, r);
  }
  return p;
}

void prewarm_closed(ctl *c, ic *x, int closed) {
  if (closed <= 0 || c->forecast_season_s <= 0 || !x->scaling || !x->metrics) return;
  if (!x->forecast && !(x->forecast = create(c, x))) return;
  struct ic_forecast *p = x->forecast;
  /* The window's closed buckets are the same ones the history just got;
   * any the seed already holds are ignored by time. */
  const scale_history *h = &x->metrics->window.closed;
  const metrics_history *mh = metrics_closed(x->metrics);
  for (size_t k = (size_t)closed; k > 0; k--) {
    if (h->n >= k) {
      const scale_bucket *b = scale_history_at(h, h->n - k);
      forecast_push(&p->f, b->start, forecast_demand(&x->scaling->cfg, b));
    }
    if (mh->n >= k) note_setup(p, metrics_history_at(mh, mh->n - k));
  }
  double now = p->f.newest + SCALE_BUCKET_S;
  p->horizon_s = horizon_of(c, p);
  int prev = p->floor;
  p->floor = forecast_score(&p->f, now, p->horizon_s);
  forecast_copies(&p->f, now, p->horizon_s, &p->detail);
  if (p->floor != prev)
    berth_log(BERTH_LOG_INFO,
              "forecast for %s: %d copies needed within %.0f s (a season ago %.2f, level %.2f)",
              x->name, p->floor, p->horizon_s, p->detail.daily_peak, p->detail.level);
}

int prewarm_floor(const ctl *c, const ic *x, char *cause, size_t size) {
  if (c->forecast_season_s <= 0 || !x->forecast || !x->scaling) return 0;
  const struct ic_forecast *p = x->forecast;
  int n = p->floor;
  if (n > x->scaling->cfg.max_capacity) n = x->scaling->cfg.max_capacity;
  if (n <= 0) return 0;
  snprintf(cause, size,
           "forecast: %d copies needed within %.0f s (%.2f copies a season ago, level %.2f)", n,
           p->horizon_s, p->detail.daily_peak, p->detail.level);
  return n;
}

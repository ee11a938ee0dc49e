/* autoscale: the once-a-second scaling loop. */
#include "autoscale.h"

#include <stdio.h>
#include <string.h>

#include "aas.h"
#include "alarms.h"
#include "ic.h"
#include "metrics.h"
#include "metrics_persist.h"
#include "prewarm.h"
#include "usage.h"

static void evaluate(ctl *c, ic *x, double now, uint32_t ready) {
  scaling *s = x->scaling;
  scale_decision d;
  /* FAST reacts to the last ten seconds, not the last aligned bucket. */
  scale_window_decide(&x->metrics->window, &s->cfg, &s->st, now, x->desired, ready, &d);
  /* The forecast floor: never below what the demand a season ago says is
   * coming within the horizon, and out early when it is above. */
  char fcause[sizeof d.cause] = "";
  int floor = prewarm_floor(c, x, fcause, sizeof fcause);
  forecast_apply(&d, x->desired, floor, fcause);
  if (!d.changed || d.desired == x->desired) return;
  if (scale_hold_guard(x->desired, d.desired, (uint32_t)x->n_waiting) == x->desired) return;
  if (!aas_dynamic_allowed(x, x->desired, d.desired)) return; /* SuspendedState */
  if (ic_set_desired(c, x, d.desired, d.cause) == 0) {
    char desc[128];
    snprintf(desc, sizeof desc, "Setting desired copy count to %d.", d.desired);
    aas_activity(c, x, desc, d.cause, "Successful");
  }
}

static void on_tick(uv_timer_t *t) {
  ctl *c = t->data;
  double now = ctl_clock();
  for (ic *x = c->ics; x; x = x->next) {
    uint32_t inflight = 0, ready = 0;
    for (copy *cp = x->copies; cp; cp = cp->next) {
      inflight += cp->inflight;
      ready += cp->state == COPY_READY;
    }
    metrics_usage u;
    usage_sample(c, x, now, &u);
    metrics_usage_sample(x->metrics, &u);
    /* Held requests are arrivals, not concurrency (lib/scale.c, Waking). */
    metrics_held(x->metrics, x->n_waiting);
    int closed = metrics_sample(x->metrics, now, (double)inflight, ready);
    metrics_persist_closed(c, x, closed);
    prewarm_closed(c, x, closed);
    if (x->scaling && !x->deleting && !x->failed_sticky && !c->shutting_down)
      evaluate(c, x, now, ready);
  }
  if (!c->shutting_down) aas_tick(c); /* scheduled actions, variant targets */
  alarms_evaluate(c); /* after the buckets closed this second */
}

void autoscale_start(ctl *c) {
  uv_timer_init(c->loop, &c->autoscale_tick);
  c->autoscale_tick.data = c;
  uv_timer_start(&c->autoscale_tick, on_tick, 1000, 1000);
}

void autoscale_stop(ctl *c) {
  uv_timer_stop(&c->autoscale_tick);
}

void autoscale_wake(ctl *c, ic *x) {
  if (!x->scaling || x->desired > 0) return;
  int n = scale_wake(&x->scaling->cfg);
  if (n <= 0 || !aas_dynamic_allowed(x, x->desired, n)) return;
  /* Counts as a scale-out, so scale-in waits its cooldown. */
  x->scaling->st.last_scale_out = ctl_clock();
  char cause[160];
  snprintf(cause, sizeof cause, "a request arrived while %s had no copies", x->name);
  if (ic_set_desired(c, x, n, cause) == 0) {
    char desc[128];
    snprintf(desc, sizeof desc, "Setting desired copy count to %d.", n);
    aas_activity(c, x, desc, cause, "Successful");
  }
}

/* reconcile: the controller's loop. Loads desired state from the store,
 * then converges it every TICK_MS and soon after each change (ctl_kick):
 * instances per endpoint (managed instance scaling), copies per IC
 * (converge, sched), deletions; each pass ends by telling held agent syncs
 * and router polls what changed. */
#ifndef BERTHD_RECONCILE_H
#define BERTHD_RECONCILE_H

#include "ctl.h"

/* Loads desired state from the store. */
int ctl_load(ctl *c);
/* Starts the reconciliation timers (and the local agents). */
void ctl_start(ctl *c);
void ctl_reconcile(ctl *c);
/* Shutdown: stops every copy (draining ready ones). */
void ctl_stop_all(ctl *c);
/* Frees all objects (after the loop has stopped). */
void ctl_free_state(ctl *c);

#endif

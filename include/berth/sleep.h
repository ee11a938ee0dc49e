/* sleep: when an idle copy of an inference component sleeps, when a
 * sleeping copy stops, and what a sleeping copy keeps reserved.
 *
 * A sleeping copy is a second tier below ready: its model server keeps its
 * weights in host memory and frees its compute (vLLM's sleep mode, or a
 * frozen cgroup), so it wakes in about a second instead of a cold start.
 * It keeps its host-memory reservation and gives its CPU and accelerator
 * share back to the instance for other copies.
 *
 * Pure: plain values in, a decision out; no clock, no I/O. berthd's
 * controller and berth-sim call the same functions. */
#ifndef BERTH_SLEEP_H
#define BERTH_SLEEP_H

#include "berth/sched.h"

/* Specification.BerthSleepPolicy's defaults when the object is given
 * without them: five idle minutes before sleeping, an hour asleep before
 * the copy stops. */
#define BERTH_SLEEP_AFTER_IDLE_DEFAULT_S 300
#define BERTH_STOP_AFTER_SLEEP_DEFAULT_S 3600
/* Their ranges (seconds): at least 1 s idle; 0 stop means never stop. */
#define BERTH_SLEEP_AFTER_IDLE_MIN_S 1
#define BERTH_SLEEP_AFTER_IDLE_MAX_S 86400
#define BERTH_STOP_AFTER_SLEEP_MAX_S 604800

typedef struct berth_sleep_policy {
  int enabled;                 /* 0: copies never sleep (no BerthSleepPolicy) */
  double sleep_after_idle_s;   /* ready and idle this long: sleep */
  double stop_after_sleep_s;   /* asleep this long: stop (0: never) */
} berth_sleep_policy;

typedef enum {
  BERTH_SLEEP_KEEP = 0,        /* leave the copy as it is */
  BERTH_SLEEP_SLEEP,           /* a ready copy goes to sleep */
  BERTH_SLEEP_STOP             /* a sleeping copy stops (a scale-in) */
} berth_sleep_action;

/* What to do with one copy at time now. asleep: the copy sleeps (else it is
 * ready and serving nothing). since: for a ready copy, when it last became
 * idle (its last request ended, or it became ready, whichever is later);
 * for a sleeping copy, when it fell asleep. may_stop: the copy's IC may
 * lose a copy (it scales and is above its minimum); without it a sleeping
 * copy sleeps on. */
berth_sleep_action berth_sleep_decide(const berth_sleep_policy *p, int asleep, double since,
                                      double now, int may_stop);

/* The reservation a copy needing need keeps while it sleeps: its host
 * memory only. */
sched_need berth_sleep_need(const sched_need *need);

/* A copy's reservation on inst from awake (need with its assignment a) to
 * asleep (berth_sleep_need, no devices), and back. */
void berth_sleep_reserve(sched_instance *inst, const sched_need *need, const sched_assignment *a);
void berth_sleep_unreserve(sched_instance *inst, const sched_need *need,
                           const sched_assignment *a);

/* Whether a copy that sleeps on inst (whose reservations include the
 * copy's sleeping one) can wake in place: its CPU and its own devices
 * (a, the assignment it ran with) have room again for need. A copy's
 * devices are fixed at its start (its server sees them), so only those
 * count. */
int berth_sleep_wake_fits(const sched_instance *inst, const sched_need *need,
                          const sched_assignment *a);

#endif

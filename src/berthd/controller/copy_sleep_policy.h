/* copy_sleep_policy: the controller's side of sleeping copies
 * (docs/sleep.md). An IC with Specification.BerthSleepPolicy puts a ready
 * copy to sleep once the IC has had no request for SleepAfterIdleSeconds,
 * wakes its sleeping copies when a router holds a request for it, and
 * stops a copy asleep for StopAfterSleepSeconds (a scale-in, while the IC
 * scales and is above its MinCapacity). The decisions are lib/sleep.c's
 * (berth-sim runs the same); this module applies them.
 *
 * DESIGN: a copy going to sleep first leaves the routers' rotation (it is
 * COPY_SLEEPING at once, out of the snapshot); only when the router serves
 * that snapshot and reports nothing in flight at the copy is its agent
 * told (the sync answer's "sleep": true), so no request ever meets a
 * server that is falling asleep. Its reservation shrinks to its memory
 * then and there (ctl_copy_release knows). A wake takes the copy's CPU and
 * device share back first; when another copy took them meanwhile, the
 * sleeper stops and the IC starts a new copy (a cold start) instead. */
#ifndef BERTHD_COPY_SLEEP_POLICY_H
#define BERTHD_COPY_SLEEP_POLICY_H

#include "ctl.h"
#include "valid.h"

/* Specification.BerthSleepPolicy {SleepAfterIdleSeconds, StopAfterSleepSeconds}
 * of spec into *out (disabled when absent). 0 or -1 with e naming the
 * field, the value and the rule. */
int copy_sleep_policy_parse(json_t *spec, berth_sleep_policy *out, api_error *e);
/* One reconciliation pass over x's copies (after ic_reconcile). */
void copy_sleep_policy_step(ctl *c, ic *x);
/* A router holds a request for x and wants a copy: its sleeping copies
 * wake (c->wake_sleepers; x->last_request is routing.c's to keep). */
void copy_sleep_policy_wake(ctl *c, ic *x);
/* What x's agent reports of cp while the controller has it COPY_SLEEPING
 * (rep: the agent's entry, NULL when it sent none). */
void copy_sleep_policy_report(ctl *c, copy *cp, json_t *rep);
/* A copy the agent reports "sleeping" that this controller did not know
 * (it restarted): taken over asleep, holding its memory only. cp's
 * reservation must not be made yet; this makes it. */
void copy_sleep_policy_adopt_asleep(ctl *c, copy *cp);
/* Whether cp's agent should keep it asleep (its sync answer's "sleep"). */
int copy_sleep_policy_wants_sleep(const copy *cp);
/* x's copies in COPY_SLEEPING (the snapshot's "sleeping", Describe's
 * RuntimeConfig.BerthSleepingCopyCount). */
int copy_sleep_policy_sleeping(const ic *x);
/* Describe's Specification.BerthSleepPolicy with its defaults filled in. */
json_t *copy_sleep_policy_describe(const berth_sleep_policy *p);

#endif

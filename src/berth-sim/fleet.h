/* fleet: managed instance scaling decisions for one endpoint.
 *
 * Pure, like sched and scale (ARCHITECTURE rule 1): instance and copy state
 * in, decisions out; no clock, I/O or globals. berth-sim uses it today; it
 * is written to move to lib/ as include/berth/fleet.h so that berthd's
 * managed instance scaling runs the same decisions.
 *
 *  - Scale-out: when copies are pending (placed nowhere), launch the fewest
 *    instances on which, together with those already starting, every pending
 *    copy fits (never past max_instances).
 *  - IDLE_RELEASE: an instance that has held no copy for idle_cooldown_s is
 *    released, at most max_step at a time, never below min_instances and
 *    never while copies are pending.
 *  - CONSOLIDATION: also picks the least used instance whose copies all fit
 *    on the other accepting instances, and says where each goes; the caller
 *    moves them make-before-break (start the new copy, drain the old one
 *    when the new is ready) and releases the emptied instance. */
#ifndef BERTH_SIM_FLEET_H
#define BERTH_SIM_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "berth/sched.h"

typedef struct fleet_config {
  int min_instances, max_instances;
  double idle_cooldown_s;
  int max_step;                  /* instances released per call, at most */
  int consolidate;               /* 1: CONSOLIDATION, 0: IDLE_RELEASE */
} fleet_config;

/* Instances to launch so that the n_pending needs (in pending order) fit on
 * n_starting already launched (still empty) instances plus the new ones,
 * each an empty instance like *empty. n_total counts every instance the
 * endpoint holds. Copies that fit on no empty instance are ignored. */
int fleet_launch_count(const fleet_config *cfg, const sched_instance *empty, int n_starting,
                       int n_total, const sched_need *pending, size_t n_pending,
                       sched_strategy strategy);

/* Instances to release now. idle_since[i] is when instance i last became
 * empty, or a negative value when it holds copies or is not running.
 * Writes up to max_step indices, oldest idle first, into out and returns
 * how many. */
size_t fleet_idle_release(const fleet_config *cfg, const double *idle_since, size_t n,
                          int n_total, size_t n_pending, double now, size_t *out);

/* One copy as consolidation sees it. */
typedef struct fleet_copy {
  int instance;                  /* index into the instance array */
  sched_need need;
  uint32_t ic;
  sched_assignment a;            /* its reservation there */
} fleet_copy;

/* Picks an instance to vacate: among accepting instances that hold copies,
 * the least used (dominant share) whose copies all fit on the other
 * accepting instances. Returns its index and fills dest[c] (the new
 * assignment) for every copy c on it (others get instance -1), or -1 when no
 * instance can be vacated. Looks at max_candidates instances at most. */
int fleet_consolidate(const sched_instance *insts, size_t n, const fleet_copy *copies,
                      size_t n_copies, size_t n_ics, size_t max_candidates,
                      sched_assignment *dest);

/* Dominant share of an instance's capacity in use, 0..1. */
double fleet_utilization(const sched_instance *inst);

#endif

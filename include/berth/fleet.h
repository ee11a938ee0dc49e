/* fleet: managed instance scaling decisions for one endpoint variant.
 *
 * Pure: instances (capacity, reservations, copy counts, idle times), the
 * copies that could not be placed, the policy and the time in; actions out.
 *  - scale-out: how many instances to add so pending copies fit (simulated
 *    with sched, first fit onto empty instances), up to MaxInstanceCount;
 *  - IDLE_RELEASE: release instances that held no copy for the cooldown,
 *    down to MinInstanceCount, at most MaximumStepSize at a time;
 *  - CONSOLIDATION: also pick lightly used instances whose copies all fit
 *    on the others, to be evacuated make-before-break (the caller starts
 *    replacements elsewhere, drains the old copies, then releases).
 *  - instance pools: with several candidate types (capacity, price per
 *    hour, priority), scale-out picks the type or mix that holds the
 *    pending copies at the lowest price per hour (ties: higher priority,
 *    then list order) and says which type each added instance is; a type
 *    the caller marks unavailable (its launch failed for capacity) is
 *    skipped, so the caller falls back by calling again. CONSOLIDATION may
 *    also replace an instance by one cheaper instance that holds all its
 *    copies (the caller launches the replacement, then evacuates the old).
 * The caller applies actions; decisions are deterministic. */
#ifndef BERTH_FLEET_H
#define BERTH_FLEET_H

#include <stddef.h>

#include "berth/sched.h"

typedef enum { FLEET_IDLE_RELEASE = 0, FLEET_CONSOLIDATION = 1 } fleet_scale_in;

typedef struct fleet_policy {
  int managed;                  /* ManagedInstanceScaling ENABLED */
  int min_instances, max_instances;
  fleet_scale_in strategy;
  int max_step;                 /* MaximumStepSize, default 1 */
  double cooldown_s;            /* CooldownInMinutes * 60 (or an override) */
} fleet_policy;

typedef struct fleet_copy {
  size_t instance;              /* index into instances */
  sched_need need;
  sched_strategy strategy;
  int ic;                       /* IC index, for SPREAD in simulation */
} fleet_copy;

/* Most instance types a variant may list (SageMaker's InstancePools). */
#define FLEET_MAX_TYPES 5

/* One candidate instance type of a variant's pools. */
typedef struct fleet_type {
  sched_instance empty;         /* an empty instance of the type (sched_capacity) */
  double price_per_hour;
  int priority;                 /* 1 highest (InstancePools[].Priority) */
  int unavailable;              /* set by the caller: a launch failed for capacity */
} fleet_type;

typedef struct fleet_instance {
  sched_instance res;           /* capacity and reservations */
  int type;                     /* index into fleet_input.types (0 without types) */
  int copies;                   /* copies it holds now */
  double idle_since;            /* when it last became empty (if copies == 0) */
  int evacuating;               /* already being consolidated */
} fleet_instance;

typedef struct fleet_input {
  const fleet_instance *instances;
  size_t n_instances;
  const fleet_copy *copies;     /* every placed copy (for consolidation) */
  size_t n_copies;
  const sched_need *pending;    /* copies that found no room */
  const sched_strategy *pending_strategy;
  size_t n_pending;
  sched_instance template_instance; /* an empty instance of the variant's type
                                       (used when n_types is 0) */
  const fleet_type *types;      /* candidate types, or NULL: one type, template_instance */
  size_t n_types;               /* 0..FLEET_MAX_TYPES */
  double now;
  double last_scale_in;         /* time of the last release or evacuation */
} fleet_input;

typedef struct fleet_actions {
  int add;                      /* instances to add now */
  int add_type[64];             /* type index of each added instance (first 64; the
                                   rest: add_type[63]); all 0 without types */
  size_t replace[FLEET_MAX_TYPES]; /* CONSOLIDATION: instances to replace by a cheaper type */
  int replace_type[FLEET_MAX_TYPES];
  size_t n_replace;
  size_t release[64];           /* instance indices to release (empty ones) */
  size_t n_release;
  size_t evacuate[64];          /* instance indices to consolidate away */
  size_t n_evacuate;
  int pending_blocked;          /* pending copies that fit only past MaxInstanceCount */
  int never_fits;               /* pending copies too large for an empty instance */
} fleet_actions;

void fleet_decide(const fleet_policy *p, const fleet_input *in, fleet_actions *out);

/* The types in launch order for an instance no pending copy decides
 * (InitialInstanceCount, MinInstanceCount): by priority, then price per
 * hour, then list order; unavailable types last. Writes n indices. */
void fleet_type_order(const fleet_type *types, size_t n, int *order);

#endif

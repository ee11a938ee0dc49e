/* yardstick: the baselines' choices a fair comparison makes for them.
 *
 * - The SageMaker baseline's instance type: what a SageMaker user would pick
 *   for the traffic (sagemaker_choose_type).
 * - The dedicated baseline's size: in hindsight, the fewest copies of each
 *   model that keep DEDICATED_SLO_FRACTION of its requests within SLO, each
 *   model simulated alone (yardstick_size_dedicated).
 * docs/sim.md, "Policies", states both rules. */
#ifndef BERTH_SIM_YARDSTICK_H
#define BERTH_SIM_YARDSTICK_H

#include <stddef.h>

#include "demand.h"
#include "scenario.h"

/* The scenario's sagemaker.instance_type, else the listed type with the
 * lowest price per accelerator (per vCPU when no model uses accelerators)
 * among those on which every model's copy fits with whole devices, as
 * SageMaker allocates them; ties go to the endpoint's type, then the
 * cheaper instance. The endpoint's type when no listed type holds every
 * model. */
int sagemaker_choose_type(const scenario *s);

/* Sets every model's dedicated_copies (scenario.h) to the fewest copies
 * that keep DEDICATED_SLO_FRACTION of its requests within SLO when it runs
 * alone as the dedicated policy: a binary search, doubling from the
 * peak-demand size when that misses. Leaves them 0 (the peak sizing of
 * sim.c) with DEDICATED_SIZING_PEAK or when the demand is not cached.
 * Returns 0 or a negative errno code with a message in err. */
int yardstick_size_dedicated(scenario *s, const sim_demand *d, char *err, size_t errsz);

#endif

/* demand: what the traffic of a scenario needs, independent of any policy.
 *
 * One pass over the traffic computes, per model and per 10-second bucket
 * (the autoscaler's resolution), the work (request-seconds of service) and
 * the invocations, which size the dedicated baseline and the warm start;
 * and the fluid lower bound on cost:
 * the time integral of the instances needed if every model had, at every
 * instant, just the copies its requests in service need
 * (max(min_copies, ceil(in_service / max_concurrency)), every request
 * served at once on arrival, at its service time alone) and those copies
 * were packed perfectly onto the cheapest fractional mix of all the listed
 * types, each model's copies only on types they fit (a linear program over
 * CPU, memory, accelerators and accelerator memory; demand.c, docs/sim.md). */
#ifndef BERTH_SIM_DEMAND_H
#define BERTH_SIM_DEMAND_H

#include <stddef.h>
#include <stdint.h>

#include "scenario.h"
#include "traffic.h"

/* Requests kept in memory for the policies to replay (generating them once
 * instead of once per policy); past this many, each policy regenerates. */
#define DEMAND_CACHE_MAX ((size_t)16 << 20)

typedef struct sim_demand {
  size_t n_models, n_buckets;
  float *work;            /* [bucket * n_models + model]: request-seconds */
  float *invocations;     /* [bucket * n_models + model] */
  uint64_t requests;
  uint64_t *model_requests;
  double fluid_cost;            /* USD */
  double fluid_instance_hours;  /* fluid_cost over the endpoint type's price */
  size_t n_samples;       /* time series at the scenario's sample_s */
  float *fluid_instances; /* mean fluid cost over each sample, in endpoint instances */
  sim_request *cache;     /* every request, in order, when cached */
  int cached;
  double wall_s;
} sim_demand;

int demand_compute(const scenario *s, sim_demand *d, char *err, size_t errsz);
void demand_free(sim_demand *d);

#define DEMAND_BUCKET_S 10.0

/* Copies model i needs to serve the mean demand of buckets [first,
 * first + n) at its scaling target (within its min and max copies). */
int demand_copies(const scenario *s, const sim_demand *d, size_t i, size_t first, size_t n);

#endif

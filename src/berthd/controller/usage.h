/* usage: what copies use, as their agents report it with each sync
 * (agent/copy_usage.c), turned into an IC's once-a-second usage sample
 * (metrics_usage): CPU and memory normalised to the copies' reservations
 * (NumberOfCpuCoresRequired, MinMemoryRequiredInMb), GPU busy and GPU
 * memory, and the capacity of the IC's variant's running instances. */
#ifndef BERTHD_USAGE_H
#define BERTHD_USAGE_H

#include <jansson.h>

#include "ctl.h"
#include "metrics.h"

/* A reading older than this is not counted (its agent stopped sending). */
#define USAGE_STALE_S 30

/* Takes cp's reading from its agent's report entry (rep "usage"). */
void usage_copy_report(copy *cp, json_t *rep, double now);
/* x's ready copies now, and its variant's capacity. */
void usage_sample(ctl *c, const ic *x, double now, metrics_usage *out);

/* The IC's share of its running instances' price per hour (USD): each
 * instance's price split over the copies placed on it by their dominant
 * share of it (lib/cost.c, as berth-sim --per-model). */
double usage_cost_per_hour(const ctl *c, const ic *x);
/* A copy's own normalised figures (percent), for Prometheus: 0 when it
 * has no fresh reading. */
int usage_copy_normalized(const copy *cp, double now, double *cpu, double *mem, double *gpu,
                          double *gpu_mem);

#endif

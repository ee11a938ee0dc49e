/* sim: the discrete-event simulation of one policy on one scenario.
 *
 * A virtual clock and a binary heap of events (request arrival, request
 * done, copy ready, instance ready, 10-second control tick). Decisions are
 * Berth's own modules: placement is sched_place (lib/sched.c), copy counts
 * are scale_decide / scale_wake (lib/scale.c) fed with the same 10-second
 * metric buckets the daemon records, instances follow fleet.c. What the sim
 * models instead of running: request service time (from token counts),
 * copy start (artifact load plus health check), instance start, and the
 * router (RANDOM, least outstanding, power of two choices) with a per-copy
 * concurrency limit and a FIFO queue per copy.
 *
 * Policies:
 *  - DEDICATED: each model alone on its own always-on instances, with the
 *    copies scn_model.dedicated_copies says (yardstick.c's hindsight SLO
 *    sizing) or else its peak minute needs at its scaling target, on the
 *    cheapest listed instance type for that many copies.
 *  - SAGEMAKER: one shared endpoint, SCALE_PROFILE_AWS, scale-from-zero by a
 *    step policy on NoCapacityInvocationFailures, requests at zero copies
 *    fail, IDLE_RELEASE of instances after SageMaker's default cooldown.
 *  - BERTH: one shared endpoint, SCALE_PROFILE_FAST, scale_wake on the first
 *    request at zero copies, which waits in a bounded queue instead of
 *    failing, CONSOLIDATION of lightly used instances. */
#ifndef BERTH_SIM_SIM_H
#define BERTH_SIM_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "berth/forecast.h"
#include "demand.h"
#include "scenario.h"

typedef enum { POLICY_DEDICATED = 0, POLICY_SAGEMAKER = 1, POLICY_BERTH = 2 } sim_policy;
#define SIM_N_POLICIES 3

const char *sim_policy_name(sim_policy p);

#define SIM_LAT_BINS 1700   /* 1% wide latency bins from 1 ms to ~2e4 s */

typedef struct sim_model_result {
  uint64_t requests, ok, in_slo;
  uint64_t failed_no_capacity, failed_hold_full, failed_hold_timeout;
  uint64_t cold_starts, held;          /* wake-ups; requests that waited for one */
  double cold_wait_sum, cold_wait_max; /* wake-up to first ready copy */
  double p50, p99;
  double copy_hours;                   /* copies placed (starting, ready, draining, asleep) */
  double sleep_copy_hours;             /* of which asleep (berth with sleep on) */
  uint64_t sleep_wakes;                /* sleeping copies woken by a request */
  int peak_copies;
  int dedicated_instances;             /* DEDICATED only */
  int dedicated_type;                  /* index into scenario.types */
  uint32_t *lat_hist;                  /* SIM_LAT_BINS */
} sim_model_result;

typedef struct sim_result {
  sim_policy policy;
  double instance_hours, cost;
  uint64_t requests, ok, in_slo, failed;
  uint64_t failed_no_capacity, failed_hold_full, failed_hold_timeout;
  uint64_t cold_starts, held;
  double cold_wait_mean, cold_wait_max;
  double sleep_copy_hours;             /* copies asleep, summed */
  uint64_t sleep_wakes;
  double p50, p99, latency_mean;
  int peak_instances;
  uint64_t instance_launches, copy_starts, consolidations, scale_actions;
  uint64_t launches_by_type[SCN_MAX_TYPES]; /* instance launches per scenario type */
  uint64_t events;
  double wall_s;
  int forecast;                        /* BERTH with the forecast on */
  forecast_error forecast_err;         /* its copies-needed forecasts, all models */
  sim_model_result *models;
  /* time series, one row per sample_s: [sample * n_models + model] */
  size_t n_samples, n_models;
  float *ts_ready, *ts_desired, *ts_share;   /* share: instances' worth of copies */
  float *ts_instances, *ts_starting;         /* [sample] */
} sim_result;

/* Runs policy p on s. d must come from demand_compute(s). Returns 0 or a
 * negative errno code with a message in err. */
int sim_run(const scenario *s, const sim_demand *d, sim_policy p, sim_result *out,
            char *err, size_t errsz);
void sim_result_free(sim_result *r);

/* Latency at quantile q (0..1) of a SIM_LAT_BINS histogram; 0 when empty. */
double sim_hist_quantile(const uint32_t *hist, double q);

#endif

/* scenario: what berth-sim simulates, read from a JSON file.
 *
 * A scenario names instance types (from the catalog, prices overridable),
 * one endpoint (the shared fleet), models (what a copy needs, how long a
 * request takes, how a copy starts, how it scales, its latency SLO, its
 * traffic) and a traffic source (a seeded generator or a trace file).
 * docs/sim.md documents every field. Loading validates everything and an
 * error names the file, the field and the value. */
#ifndef BERTH_SIM_SCENARIO_H
#define BERTH_SIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "berth/catalog.h"
#include "berth/route.h"
#include "berth/scale.h"
#include "berth/sched.h"
#include "berth/sleep.h"

#define SCN_MAX_MODELS 10000
#define SCN_MAX_TYPES 32
#define SCN_MAX_WINDOWS 8

/* The router's strategies (lib/route.c): the simulator routes with them. */
typedef berth_route_strategy route_policy;
typedef enum { TRAFFIC_GENERATOR = 0, TRAFFIC_TRACE = 1 } traffic_kind;
typedef enum { SCALE_IN_IDLE_RELEASE = 0, SCALE_IN_CONSOLIDATION = 1 } scale_in_strategy;
/* How the dedicated baseline is sized: the fewest copies that keep
 * DEDICATED_SLO_FRACTION within SLO (hindsight), or the peak mean demand. */
enum { DEDICATED_SIZING_SLO = 0, DEDICATED_SIZING_PEAK = 1 };
#define DEDICATED_SLO_FRACTION 0.999
#define SCN_BATCH_SLOWDOWN 0.04          /* default, calibrated in docs/sim.md */
#define SCN_SLEEP_WAKE_S 1.0             /* a sleeping copy's wake, default (docs/sim.md) */

/* Token count distribution: lognormal with this mean and coefficient of
 * variation, clamped to [min, max]. */
typedef struct token_dist { double mean, cv, min, max; } token_dist;

typedef struct scn_model {
  char name[64];
  sched_need need;                 /* one copy's resources */
  sched_strategy placement;
  /* service time = overhead_s + input/prefill_tps + output/decode_tps */
  double overhead_s, prefill_tps, decode_tps;
  int max_concurrency;             /* requests one copy serves at once */
  /* Continuous batching: per-token decode time at b requests in flight is
   * (1 + batch_slowdown * (b - 1)) times its time alone (docs/sim.md). */
  double batch_slowdown;
  int dedicated_copies;            /* > 0: dedicated's size, set by its hindsight sizing */
  double artifact_load_s, health_check_s;  /* copy start = their sum */
  /* scaling */
  int min_copies, max_copies;
  scale_metric metric;
  double target;
  double scale_out_cooldown_s, scale_in_cooldown_s;
  /* SLO-aware copy counts (berthd's BerthLatencySlo, lib/slo.c) instead of
   * the target when latency_slo_s > 0, for berth only */
  double latency_slo_percentile, latency_slo_s;
  /* Sleeping copies (berthd's BerthSleepPolicy, lib/sleep.c), for berth
   * only: an idle IC's copies sleep, holding their memory; a request wakes
   * them in sleep_wake_s instead of a cold start (docs/sim.md). */
  berth_sleep_policy sleep;
  double sleep_wake_s;
  /* SLO: latency <= slo_latency_s + slo_per_output_token_s * output tokens */
  double slo_latency_s, slo_per_output_token_s;
  /* generated traffic */
  double rate_per_s;               /* mean arrival rate at shape 1 */
  double interarrival_cv;          /* 1: Poisson; > 1 bursty (Gamma) */
  double diurnal_amplitude;        /* rate *= 1 + a*cos(2pi(h - peak)/24) */
  double peak_hour;                /* UTC hour of the diurnal peak */
  double active[SCN_MAX_WINDOWS][2];  /* [start, end) hours of the day */
  int n_active;                    /* 0: always active */
  double inactive_factor;          /* rate multiplier outside active hours */
  double bursts_per_day, burst_factor, burst_minutes;
  token_dist in_tokens, out_tokens;
  double weight;                   /* share of a trace or of total_rate_per_s */
} scn_model;

/* ManagedInstanceScaling's ScaleInPolicy, as fleet_decide (lib/fleet.c)
 * takes it. */
typedef struct scn_fleet_policy {
  scale_in_strategy scale_in;
  double cooldown_s;               /* CooldownInMinutes * 60 */
  int max_step;                    /* MaximumStepSize */
} scn_fleet_policy;

typedef struct scenario {
  char name[64];
  char description[512];
  char path[4096];                 /* the file it came from */
  double duration_s;
  uint64_t seed;
  berth_instance_type types[SCN_MAX_TYPES];
  size_t n_types;
  int endpoint_type;               /* index into types */
  int berth_pools;                 /* endpoint.instance_pools: the berth policy may
                                      launch each of the first FLEET_MAX_TYPES listed
                                      types (default 1); 0: endpoint_type only */
  int min_instances, max_instances;
  double instance_start_s;         /* launch to accepting copies */
  route_policy routing;
  int hold_max;                    /* Berth: requests held per IC at zero copies */
  double hold_timeout_s;
  double scale_in_window_s;        /* FAST profile (berthd --scale-in-window) */
  scn_fleet_policy fleet_berth, fleet_sagemaker;  /* endpoint's, or overridden */
  double sample_s;                 /* time-series interval */
  double dedicated_peak_window_s;  /* dedicated sizing: peak mean demand over windows this long */
  int dedicated_sizing;            /* DEDICATED_SIZING_* */
  int sagemaker_type;              /* index into types; -1: the rule of sagemaker_choose_type */
  /* forecast: {enabled, season_s, horizon_s}: Berth's forecast-driven
   * warm-up (lib/forecast.c, docs/forecast.md); horizon 0: a copy start
   * plus an instance start */
  int forecast;
  double forecast_season_s, forecast_horizon_s;
  /* traffic */
  traffic_kind traffic;
  char trace_path[4096];
  double trace_time_scale;         /* trace seconds per simulated second */
  double total_rate_per_s;         /* generator: > 0 spreads it by Zipf */
  double zipf_s;
  int zipf_shuffle;                /* Zipf ranks in a seeded random order */
  scn_model *models;
  size_t n_models;
} scenario;

/* Loads path, resolving instance types against cat. Returns 0, or -EINVAL
 * (or an errno from reading) with a message in err. */
int scenario_load(const char *path, const berth_catalog *cat, scenario *out,
                  char *err, size_t errsz);
void scenario_free(scenario *s);

const char *route_policy_name(route_policy p);

/* Service time of one request alone on a copy (seconds): the least it can
 * take, which the fluid bound uses. */
static inline double scn_service_time(const scn_model *m, uint32_t in_tokens, uint32_t out_tokens) {
  return m->overhead_s + (double)in_tokens / m->prefill_tps + (double)out_tokens / m->decode_tps;
}

/* Service time of a request that starts with in_flight requests (itself
 * included) on its copy: decode slows linearly with the batch, fixed at the
 * start of service (an approximation: later arrivals and departures do not
 * change it). */
static inline double scn_service_time_at(const scn_model *m, uint32_t in_tokens,
                                         uint32_t out_tokens, int in_flight) {
  double slow = 1 + m->batch_slowdown * (double)(in_flight > 1 ? in_flight - 1 : 0);
  return m->overhead_s + (double)in_tokens / m->prefill_tps +
         (double)out_tokens / m->decode_tps * slow;
}

/* The most latency a request may see and still meet its model's SLO. */
static inline double scn_slo_limit(const scn_model *m, uint32_t out_tokens) {
  return m->slo_latency_s + m->slo_per_output_token_s * (double)out_tokens;
}

#endif

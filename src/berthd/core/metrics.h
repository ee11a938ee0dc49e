/* metrics: per-IC time series at 10-second resolution, fed by the router's
 * reports (invocations, latency, errors, no-capacity failures, wait while
 * waking) and by a once-a-second sample of concurrent requests. What
 * autoscaling reads is lib/window's (shared with berth-sim); the buckets
 * here add what the CloudWatch and Prometheus views show: latency
 * histograms (latency_hist.h), the copies' usage (metrics_usage) and the
 * last 24 hours of closed buckets (metrics_history.h). */
#ifndef BERTHD_METRICS_H
#define BERTHD_METRICS_H

#include <jansson.h>

#include "berth/scale.h"
#include "berth/window.h"
#include "latency_hist.h"
#include "metrics_history.h"

typedef struct ic_bucket {
  scale_bucket s;               /* what the autoscaler reads */
  uint32_t model_errors;        /* InvocationModelErrors (424) */
  uint32_t errors_4xx, errors_5xx;
  double model_latency_us;      /* sum; ModelLatency */
  double overhead_latency_us;   /* sum; OverheadLatency */
  uint32_t latency_n;
  double wait_ms;               /* sum of time requests were held while waking */
  uint32_t waited;
  double setup_ms;              /* sum of copy start-to-ready times: ModelSetupTime */
  uint32_t setups;
  latency_hist model_hist, overhead_hist; /* per request, for percentiles */
  /* The controller's once-a-second usage samples, summed (metrics_usage) */
  uint32_t usage_n, gpu_n;
  double cpu_norm, mem_norm, gpu_norm, gpu_mem_norm;
  double cpu_used, mem_used_mb, gpu_used, gpu_mem_used_mb;
} ic_bucket;

/* What an IC's ready copies use now, as their agents last measured it, and
 * what its variant's running instances offer (controller/usage.c). */
typedef struct metrics_usage {
  int has, has_gpu;             /* a CPU/memory reading; a GPU reading */
  double cpu_norm, mem_norm, gpu_norm, gpu_mem_norm; /* percent of the reservation */
  double cpu_used, mem_used_mb, gpu_used, gpu_mem_used_mb;
  double cap_cpu, cap_mem_mb, cap_gpu, cap_gpu_mem_mb;
  uint32_t instances;
} metrics_usage;

typedef struct ic_metrics {
  ic_bucket cur;                /* the bucket being filled */
  metrics_history history;      /* closed buckets, the last 24 hours */
  metrics_usage capacity;       /* the last sample's instances and capacity */
  scale_window window;          /* what the autoscaler reads (same buckets) */
  uint32_t acc_inv, acc_nocap;  /* since the last one-second sample */
  int last_waiting;             /* metrics_held's previous count */
  /* totals since start, for Prometheus counters */
  uint64_t total_invocations, total_no_capacity, total_model_errors, total_waited;
  double total_wait_ms;
  /* latency histograms since start, for the Prometheus _bucket series */
  uint64_t total_model_bins[LATENCY_HIST_BINS], total_overhead_bins[LATENCY_HIST_BINS];
  uint64_t total_latency_n;
  double total_model_us, total_overhead_us;
} ic_metrics;

ic_metrics *metrics_new(double now);
void metrics_free(ic_metrics *m);
void metrics_invocation(ic_metrics *m, int status, double model_us, double overhead_us);
void metrics_no_capacity(ic_metrics *m);
void metrics_waited(ic_metrics *m, double wait_ms);
void metrics_copy_ready(ic_metrics *m, double setup_ms);
/* Once a second, before metrics_sample: what the copies use now. */
void metrics_usage_sample(ic_metrics *m, const metrics_usage *u);
/* Once a second, before metrics_sample: the requests held for a copy now.
 * Their growth since the last call counts as held arrivals (they are
 * invocations only once answered), the rate a waking IC is sized from. */
void metrics_held(ic_metrics *m, int waiting);
/* Once a second: records concurrency (requests in flight at copies; held
 * ones are not concurrency, see lib/scale.c) and closes the bucket when its
 * 10 s are over (copies = ready copies then). Returns how many buckets
 * closed: the newest that many of metrics_closed. */
int metrics_sample(ic_metrics *m, double now, double concurrency, uint32_t copies);
/* A router process: what its requests added since the last call (the
 * bucket being filled), which is then emptied. */
void metrics_take(ic_metrics *m, ic_bucket *out);
/* The controller: adds a router's delta, as if its requests ran here. */
void metrics_merge(ic_metrics *m, const ic_bucket *d);
json_t *metrics_delta_json(const ic_bucket *d);
struct ctl;
struct ic;
/* An entry of a router report ({"name", "delta", ...}): adds its delta to
 * the IC it names in c and returns that IC (NULL when there is none). */
struct ic *metrics_merge_reported(struct ctl *c, json_t *entry);
void metrics_delta_parse(json_t *j, ic_bucket *d);
/* The closed buckets, oldest first. */
const metrics_history *metrics_closed(const ic_metrics *m);

#endif

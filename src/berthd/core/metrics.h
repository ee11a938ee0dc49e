/* metrics: per-IC time series at 10-second resolution, fed by the router's
 * reports (invocations, latency, errors, no-capacity failures, wait while
 * waking) and by a once-a-second sample of concurrent requests. What
 * autoscaling reads is lib/window's (shared with berth-sim); the buckets
 * here add what the CloudWatch and Prometheus views show. */
#ifndef BERTHD_METRICS_H
#define BERTHD_METRICS_H

#include <jansson.h>

#include "berth/scale.h"
#include "berth/window.h"

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
} ic_bucket;

typedef struct ic_metrics {
  ic_bucket cur;                /* the bucket being filled */
  ic_bucket ring[SCALE_HISTORY];
  size_t head, n;               /* closed buckets, oldest at head */
  scale_window window;          /* what the autoscaler reads (same buckets) */
  uint32_t acc_inv, acc_nocap;  /* since the last one-second sample */
  /* totals since start, for Prometheus counters */
  uint64_t total_invocations, total_no_capacity, total_model_errors, total_waited;
  double total_wait_ms;
} ic_metrics;

ic_metrics *metrics_new(double now);
void metrics_free(ic_metrics *m);
void metrics_invocation(ic_metrics *m, int status, double model_us, double overhead_us);
void metrics_no_capacity(ic_metrics *m);
void metrics_waited(ic_metrics *m, double wait_ms);
void metrics_copy_ready(ic_metrics *m, double setup_ms);
/* Once a second: records concurrency (in flight + waiting) and closes the
 * bucket when its 10 s are over (copies = ready copies then). */
void metrics_sample(ic_metrics *m, double now, double concurrency, uint32_t copies);
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
/* The closed bucket at i (0 = oldest). */
const ic_bucket *metrics_bucket(const ic_metrics *m, size_t i);

#endif

/* prometheus: counters from the IC metric totals (metrics.h) and gauges read
 * from the controller state at scrape time. Every family gets HELP and TYPE
 * lines even when it has no series yet, so dashboards see the names from the
 * first scrape. Label values are escaped as the format requires (\\, \", \n). */
#include "prometheus.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "usage.h"

static void header(berth_buf *out, const char *name, const char *type, const char *help) {
  berth_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Appends s as a label value (without the quotes). */
static void label_value(berth_buf *out, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '\\': berth_buf_appends(out, "\\\\"); break;
    case '"': berth_buf_appends(out, "\\\""); break;
    case '\n': berth_buf_appends(out, "\\n"); break;
    default: berth_buf_append(out, s, 1); break;
    }
  }
}

/* name{endpoint="..",variant="..",inference_component=".." (open for more) */
static void ic_labels(berth_buf *out, const char *name, const ic *x) {
  berth_buf_printf(out, "%s{endpoint=\"", name);
  label_value(out, x->endpoint);
  berth_buf_appends(out, "\",variant=\"");
  label_value(out, x->variant);
  berth_buf_appends(out, "\",inference_component=\"");
  label_value(out, x->name);
  berth_buf_appends(out, "\"");
}

/* name{endpoint="..",variant="..",inference_component=".."[,state=".."]} */
static void ic_series(berth_buf *out, const char *name, const ic *x, const char *state) {
  ic_labels(out, name, x);
  if (state) berth_buf_printf(out, ",state=\"%s\"", state);
  berth_buf_appends(out, "} ");
}

typedef enum { C_INVOCATIONS, C_NO_CAPACITY, C_MODEL_ERRORS, C_WAITED, C_WAIT_SECONDS } ic_counter;

static const struct {
  const char *name;
  ic_counter which;
  const char *help;
} counters[] = {
  {"berth_invocations_total", C_INVOCATIONS,
   "Invocations routed to the inference component (AWS/SageMaker Invocations)."},
  {"berth_no_capacity_failures_total", C_NO_CAPACITY,
   "Invocations refused because the inference component had no copy to serve them "
   "(NoCapacityInvocationFailures)."},
  {"berth_model_errors_total", C_MODEL_ERRORS,
   "Invocations the model answered with an error (InvocationModelErrors)."},
  {"berth_requests_waited_total", C_WAITED,
   "Requests held while a copy of a scaled-to-zero inference component started."},
  {"berth_wait_seconds_total", C_WAIT_SECONDS,
   "Seconds requests were held while a copy started, summed over requests."},
};

static void counter_value(berth_buf *out, const ic_metrics *m, ic_counter which) {
  switch (which) {
  case C_INVOCATIONS: berth_buf_printf(out, "%llu\n", (unsigned long long)m->total_invocations); break;
  case C_NO_CAPACITY: berth_buf_printf(out, "%llu\n", (unsigned long long)m->total_no_capacity); break;
  case C_MODEL_ERRORS: berth_buf_printf(out, "%llu\n", (unsigned long long)m->total_model_errors); break;
  case C_WAITED: berth_buf_printf(out, "%llu\n", (unsigned long long)m->total_waited); break;
  case C_WAIT_SECONDS: berth_buf_printf(out, "%.9g\n", m->total_wait_ms / 1000.0); break;
  }
}

/* Copies by state as exported: stopping copies count as draining (on their
 * way out), crashed ones waiting to restart as starting. */
static int exported_state(copy_state s) {
  switch (s) {
  case COPY_READY: return 0;
  case COPY_STARTING:
  case COPY_BACKOFF: return 1;
  case COPY_PENDING: return 2;
  case COPY_DRAINING:
  case COPY_STOPPING: return 3;
  case COPY_SLEEPING: return 4;
  }
  return 2;
}

static const char *const state_names[] = {"ready", "starting", "pending", "draining", "sleeping"};

/* Histogram buckets: every eighth bin boundary of latency_hist, 10^(n/3)
 * microseconds from 100 us to 100 s, so each is an exact sum of bins. */
#define LE_FIRST_BIN (2 * LATENCY_HIST_PER_DECADE)
#define LE_LAST_BIN (8 * LATENCY_HIST_PER_DECADE)
#define LE_STEP (LATENCY_HIST_PER_DECADE / 3)

static void histogram(berth_buf *out, const char *name, const ic *x, const uint64_t *bins,
                      double sum_us, uint64_t count) {
  char series[128];
  uint64_t cum = 0;
  int k = 0;
  snprintf(series, sizeof series, "%s_bucket", name);
  for (int le = LE_FIRST_BIN; le <= LE_LAST_BIN; le += LE_STEP) {
    for (; k <= le; k++) cum += bins[k];
    ic_labels(out, series, x);
    berth_buf_printf(out, ",le=\"%.6g\"} %llu\n", latency_hist_upper(le) / 1e6,
                     (unsigned long long)cum);
  }
  berth_buf_printf(out, "%s{endpoint=\"", series);
  label_value(out, x->endpoint);
  berth_buf_appends(out, "\",variant=\"");
  label_value(out, x->variant);
  berth_buf_appends(out, "\",inference_component=\"");
  label_value(out, x->name);
  berth_buf_printf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)count);
  snprintf(series, sizeof series, "%s_sum", name);
  ic_series(out, series, x, NULL);
  berth_buf_printf(out, "%.9g\n", sum_us / 1e6);
  snprintf(series, sizeof series, "%s_count", name);
  ic_series(out, series, x, NULL);
  berth_buf_printf(out, "%llu\n", (unsigned long long)count);
}

static void render_latencies(ctl *c, berth_buf *out) {
  header(out, "berth_model_latency_seconds", "histogram",
         "Time the model took per request (AWS/SageMaker ModelLatency), since berthd started.");
  for (ic *x = c->ics; x; x = x->next)
    if (x->metrics)
      histogram(out, "berth_model_latency_seconds", x, x->metrics->total_model_bins,
                x->metrics->total_model_us, x->metrics->total_latency_n);
  header(out, "berth_overhead_latency_seconds", "histogram",
         "Time Berth added around the model per request (OverheadLatency), since berthd "
         "started.");
  for (ic *x = c->ics; x; x = x->next)
    if (x->metrics)
      histogram(out, "berth_overhead_latency_seconds", x, x->metrics->total_overhead_bins,
                x->metrics->total_overhead_us, x->metrics->total_latency_n);
}

/* Per copy: what it uses over what it reserves, as its agent last said. */
static void render_copies(ctl *c, berth_buf *out) {
  header(out, "berth_copy_utilization_ratio", "gauge",
         "What the copy uses over what it reserves (1 = all of it): resource cpu "
         "(NumberOfCpuCoresRequired), memory (MinMemoryRequiredInMb), gpu (its devices busy), "
         "gpu_memory; from its agent's last reading.");
  double now = ctl_clock();
  static const char *const resources[] = {"cpu", "memory", "gpu", "gpu_memory"};
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next) {
      double v[4];
      if (!usage_copy_normalized(cp, now, &v[0], &v[1], &v[2], &v[3])) continue;
      for (int k = 0; k < 4; k++) {
        if (v[k] < 0) continue;
        berth_buf_appends(out, "berth_copy_utilization_ratio{endpoint=\"");
        label_value(out, x->endpoint);
        berth_buf_appends(out, "\",variant=\"");
        label_value(out, x->variant);
        berth_buf_appends(out, "\",inference_component=\"");
        label_value(out, x->name);
        berth_buf_printf(out, "\",instance=\"%lld\",copy=\"%lld\",resource=\"%s\"} %.6g\n",
                         (long long)(cp->inst ? cp->inst->id : 0), (long long)cp->id,
                         resources[k], v[k] / 100.0);
      }
    }
}

static void render_ics(ctl *c, berth_buf *out) {
  for (size_t k = 0; k < sizeof counters / sizeof counters[0]; k++) {
    header(out, counters[k].name, "counter", counters[k].help);
    for (ic *x = c->ics; x; x = x->next) {
      if (!x->metrics) continue;
      ic_series(out, counters[k].name, x, NULL);
      counter_value(out, x->metrics, counters[k].which);
    }
  }
  header(out, "berth_copies", "gauge",
         "Copies of the inference component by state (stopping copies count as draining, "
         "crashed ones waiting to restart as starting).");
  for (ic *x = c->ics; x; x = x->next) {
    unsigned n[5] = {0, 0, 0, 0, 0};
    for (copy *cp = x->copies; cp; cp = cp->next) n[exported_state(cp->state)]++;
    for (int s = 0; s < 5; s++) {
      ic_series(out, "berth_copies", x, state_names[s]);
      berth_buf_printf(out, "%u\n", n[s]);
    }
  }
  header(out, "berth_desired_copies", "gauge",
         "Desired copy count of the inference component (RuntimeConfig.DesiredCopyCount).");
  for (ic *x = c->ics; x; x = x->next) {
    ic_series(out, "berth_desired_copies", x, NULL);
    berth_buf_printf(out, "%d\n", x->desired);
  }
  header(out, "berth_concurrent_requests", "gauge",
         "Requests now in flight at the inference component's copies.");
  for (ic *x = c->ics; x; x = x->next) {
    unsigned long long inflight = 0;
    for (copy *cp = x->copies; cp; cp = cp->next) inflight += cp->inflight;
    ic_series(out, "berth_concurrent_requests", x, NULL);
    berth_buf_printf(out, "%llu\n", inflight);
  }
  header(out, "berth_inference_component_cost_per_hour", "gauge",
         "The inference component's share of its instances' on-demand price per hour (USD): "
         "each instance's price split over its copies by their dominant share of it.");
  for (ic *x = c->ics; x; x = x->next) {
    ic_series(out, "berth_inference_component_cost_per_hour", x, NULL);
    berth_buf_printf(out, "%.6g\n", usage_cost_per_hour(c, x));
  }
  header(out, "berth_requests_waiting", "gauge",
         "Requests now held while a copy of the inference component starts.");
  for (ic *x = c->ics; x; x = x->next) {
    ic_series(out, "berth_requests_waiting", x, NULL);
    berth_buf_printf(out, "%d\n", x->n_waiting);
  }
}

static int same_group(const instance *a, const instance *b) {
  return strcmp(a->endpoint, b->endpoint) == 0 && strcmp(a->variant, b->variant) == 0 &&
         a->type == b->type;
}

static void render_instances(ctl *c, berth_buf *out) {
  header(out, "berth_instances", "gauge",
         "Running instances of the endpoint variant, by instance type.");
  for (instance *in = c->instances; in; in = in->next) {
    if (in->state != INSTANCE_RUNNING) continue;
    int first = 1;
    for (instance *p = c->instances; p != in && first; p = p->next)
      if (p->state == INSTANCE_RUNNING && same_group(p, in)) first = 0;
    if (!first) continue;
    unsigned n = 0;
    for (instance *q = in; q; q = q->next) n += q->state == INSTANCE_RUNNING && same_group(q, in);
    berth_buf_appends(out, "berth_instances{endpoint=\"");
    label_value(out, in->endpoint);
    berth_buf_appends(out, "\",variant=\"");
    label_value(out, in->variant);
    berth_buf_appends(out, "\",instance_type=\"");
    label_value(out, in->type ? in->type->name : "unknown");
    berth_buf_printf(out, "\"} %u\n", n);
  }
  header(out, "berth_instance_cost_per_hour", "gauge",
         "On-demand price of the running instance per hour (USD, from the instance catalog).");
  for (instance *in = c->instances; in; in = in->next) {
    if (in->state != INSTANCE_RUNNING || !in->type) continue;
    berth_buf_appends(out, "berth_instance_cost_per_hour{endpoint=\"");
    label_value(out, in->endpoint);
    berth_buf_appends(out, "\",variant=\"");
    label_value(out, in->variant);
    berth_buf_printf(out, "\",instance=\"%lld\",instance_type=\"", (long long)in->id);
    label_value(out, in->type->name);
    berth_buf_printf(out, "\"} %.6g\n", in->type->price_per_hour);
  }
  header(out, "berth_instance_reserved_ratio", "gauge",
         "Share (0..1) of the instance's capacity reserved by copies placed on it.");
  for (instance *in = c->instances; in; in = in->next) {
    if (in->state != INSTANCE_RUNNING) continue;
    const sched_instance *r = &in->res;
    double dev_used = 0;
    for (int d = 0; d < r->n_devices && d < SCHED_MAX_DEVICES; d++) dev_used += r->dev_milli_used[d];
    double ratio[3] = {
      r->cpu_milli > 0 ? (double)r->cpu_milli_used / (double)r->cpu_milli : 0,
      r->mem_mb > 0 ? (double)r->mem_mb_used / (double)r->mem_mb : 0,
      r->n_devices > 0 ? dev_used / (1000.0 * r->n_devices) : 0,
    };
    static const char *const resources[] = {"cpu", "memory", "accelerator"};
    for (int k = 0; k < 3; k++) {
      if (k == 2 && r->n_devices == 0) continue;
      berth_buf_appends(out, "berth_instance_reserved_ratio{endpoint=\"");
      label_value(out, in->endpoint);
      berth_buf_appends(out, "\",variant=\"");
      label_value(out, in->variant);
      berth_buf_printf(out, "\",instance=\"%lld\",resource=\"%s\"} %.6g\n", (long long)in->id,
                       resources[k], ratio[k]);
    }
  }
}

void prometheus_render(ctl *c, berth_buf *out) {
  render_ics(c, out);
  render_latencies(c, out);
  render_copies(c, out);
  render_instances(c, out);
}

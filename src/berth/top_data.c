/* top_data: the calls behind `berth top` and the tables it draws from them.
 *
 * DESIGN: every source (the endpoint list, the IC list, the placement, the
 * metrics, the copy counts) is kept as its last good JSON answer, and the
 * arrays the view reads are rebuilt from those on every refresh, so one
 * failing call never blanks what the others still show. An error the server
 * could not even answer (status 0: berthd down, unreachable) skips the rest
 * of the refresh: the next calls would wait for the same timeout.
 *
 * Metrics are the newest closed 10-second bucket of each IC: GetMetricData
 * over the last minute with Period 10, newest first. Every closed bucket has
 * an Invocations datapoint (0 when idle), so its timestamp says which bucket
 * the latencies and held requests must come from to describe the same 10 s;
 * CloudWatch leaves a bucket without requests out of ModelLatency, which
 * then shows "-". */
#include "top_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "client.h"

#define BUCKET_S 10
#define MAX_QUERIES 500 /* GetMetricData's MetricDataQueries bound */

/* The metrics of one IC, in the order of the ic_metrics arrays. */
enum { M_INVOCATIONS, M_P50, M_P99, M_HELD, M_CPU, M_MEMORY, N_METRICS };

static const struct {
  const char *ns, *name, *stat;
} metric_defs[N_METRICS] = {
  {"AWS/SageMaker", "Invocations", "Sum"},
  {"AWS/SageMaker", "ModelLatency", "p50"},
  {"AWS/SageMaker", "ModelLatency", "p99"},
  {"AWS/SageMaker", "WaitTime", "SampleCount"},
  {"/aws/sagemaker/InferenceComponents", "CPUUtilizationNormalized", "Average"},
  {"/aws/sagemaker/InferenceComponents", "MemoryUtilizationNormalized", "Average"},
};

/* Copies text for the screen: printable ASCII only, one byte a column. */
static void copy_text(char *dst, size_t n, const char *src) {
  size_t i = 0;
  for (; src && src[i] && i + 1 < n; i++) {
    unsigned char ch = (unsigned char)src[i];
    dst[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
  }
  dst[i] = '\0';
}

/* Records the refresh's first error. Returns true when the server did not
 * answer at all, so the caller stops this refresh. */
static bool note_error(top_data *d, const char *call, const berth_cli_error *err) {
  if (!d->error[0]) {
    char msg[sizeof err->type + sizeof err->message + 64];
    if (err->type[0])
      snprintf(msg, sizeof msg, "%.56s: %s: %s", call, err->type, err->message);
    else
      snprintf(msg, sizeof msg, "%.56s: %s", call, err->message);
    copy_text(d->error, sizeof d->error, msg);
  }
  return err->status == 0;
}

static void replace(json_t **slot, json_t *v) {
  json_decref(*slot);
  *slot = v;
}

void berth__top_data_init(top_data *d) {
  memset(d, 0, sizeof *d);
  d->ic_metrics = json_object();
  d->ic_copies = json_object();
}

void berth__top_data_free(top_data *d) {
  free(d->endpoints);
  free(d->instances);
  free(d->ics);
  json_decref(d->endpoint_list);
  json_decref(d->ic_list);
  json_decref(d->placement);
  json_decref(d->ic_metrics);
  json_decref(d->ic_copies);
  memset(d, 0, sizeof *d);
}

/* ---- GetMetricData ---- */

/* The newest datapoint of one result: its timestamp and value. */
typedef struct newest {
  bool has;
  double ts, value;
} newest;

static void add_query(json_t *queries, size_t ic, int m, const char *name, const char *stat) {
  char id[32];
  snprintf(id, sizeof id, "m%d_%zu", m, ic);
  json_t *dims = json_pack("[{s:s,s:s}]", "Name", "InferenceComponentName", "Value", name);
  json_array_append_new(queries,
                        json_pack("{s:s,s:{s:{s:s,s:s,s:o},s:i,s:s}}", "Id", id, "MetricStat",
                                  "Metric", "Namespace", metric_defs[m].ns, "MetricName",
                                  metric_defs[m].name, "Dimensions", dims, "Period", BUCKET_S,
                                  "Stat", stat));
}

/* One GetMetricData call for ICs [first, first+n) of names; fills
 * got[(ic - first) * N_METRICS + m]. */
static int metrics_call(berth_cli *cli, json_t *names, size_t first, size_t n, bool avg,
                        newest *got, berth_cli_error *err) {
  json_t *queries = json_array();
  for (size_t i = 0; i < n; i++) {
    const char *name = json_string_value(json_array_get(names, first + i));
    for (int m = 0; m < N_METRICS; m++) {
      if (avg && m == M_P99) continue;
      add_query(queries, i, m, name, avg && m == M_P50 ? "Average" : metric_defs[m].stat);
    }
  }
  double now = (double)time(NULL);
  json_t *req = json_pack("{s:o,s:f,s:f,s:s}", "MetricDataQueries", queries, "StartTime",
                          now - 6 * BUCKET_S, "EndTime", now + 6 * BUCKET_S, "ScanBy",
                          "TimestampDescending");
  json_t *resp = NULL;
  int rc = berth__control_call(cli, "GraniteServiceVersion20100801.GetMetricData", req, &resp,
                               err);
  json_decref(req);
  if (rc != 0) return -1;
  memset(got, 0, n * N_METRICS * sizeof *got);
  size_t k;
  json_t *r;
  json_array_foreach(json_object_get(resp, "MetricDataResults"), k, r) {
    const char *id = berth__json_str(r, "Id", "");
    int m;
    size_t i;
    if (sscanf(id, "m%d_%zu", &m, &i) != 2 || m < 0 || m >= N_METRICS || i >= n) continue;
    json_t *ts = json_object_get(r, "Timestamps"), *vs = json_object_get(r, "Values");
    newest *g = &got[i * N_METRICS + (size_t)m];
    for (size_t p = 0; p < json_array_size(ts) && p < json_array_size(vs); p++) {
      json_t *t = json_array_get(ts, p), *v = json_array_get(vs, p);
      if (!json_is_number(t) || !json_is_number(v)) continue;
      if (!g->has || json_number_value(t) > g->ts) {
        g->has = true;
        g->ts = json_number_value(t);
        g->value = json_number_value(v);
      }
    }
  }
  json_decref(resp);
  return 0;
}

/* True when err is the server refusing a percentile Stat, so Average is
 * what it can give. */
static bool refuses_percentile(const berth_cli_error *err) {
  return (berth__error_is(err, "InvalidParameterValueException") ||
          berth__error_is(err, "InvalidParameterValue")) &&
         strstr(err->message, "Stat") != NULL;
}

static json_t *num_or_null(double v) {
  return isnan(v) ? json_null() : json_real(v);
}

/* Fetches every listed IC's metrics into a new name -> values object. */
static int fetch_metrics(berth_cli *cli, top_data *d, json_t **out, berth_cli_error *err) {
  json_t *names = json_array();
  size_t i;
  json_t *item;
  json_array_foreach(d->ic_list, i, item) {
    const char *name = berth__json_str(item, "InferenceComponentName", NULL);
    if (name) json_array_append_new(names, json_string(name));
  }
  size_t n = json_array_size(names), per_call = MAX_QUERIES / N_METRICS;
  newest *got = berth_xcalloc(n ? n : 1, N_METRICS * sizeof *got);
  int rc = 0;
  for (size_t first = 0; first < n && rc == 0; first += per_call) {
    size_t count = n - first < per_call ? n - first : per_call;
    newest *g = got + first * N_METRICS;
    rc = metrics_call(cli, names, first, count, d->latency_avg, g, err);
    if (rc != 0 && !d->latency_avg && refuses_percentile(err)) {
      d->latency_avg = true;
      rc = metrics_call(cli, names, first, count, true, g, err);
    }
  }
  if (rc != 0) {
    free(got);
    json_decref(names);
    return -1;
  }
  /* The newest bucket any IC has: a stale Invocations datapoint (an IC
   * whose buckets stopped) does not count as the last 10 s. */
  double ref = (double)time(NULL) - 3 * BUCKET_S;
  bool any = false;
  for (i = 0; i < n; i++) {
    const newest *inv = &got[i * N_METRICS + M_INVOCATIONS];
    if (inv->has && (!any || inv->ts > ref)) ref = inv->ts, any = true;
  }
  json_t *obj = json_object();
  for (i = 0; i < n; i++) {
    const newest *g = &got[i * N_METRICS];
    const newest *inv = &g[M_INVOCATIONS];
    double v[N_METRICS];
    for (int m = 0; m < N_METRICS; m++) v[m] = NAN;
    bool current = inv->has && inv->ts >= ref - BUCKET_S;
    if (inv->has) v[M_INVOCATIONS] = current ? inv->value / BUCKET_S : 0;
    if (current) {
      for (int m = M_P50; m <= M_HELD; m++)
        if (g[m].has && g[m].ts == inv->ts) v[m] = g[m].value;
      if (isnan(v[M_HELD])) v[M_HELD] = 0;
    }
    double since = (current ? inv->ts : ref) - BUCKET_S;
    for (int m = M_CPU; m <= M_MEMORY; m++)
      if (g[m].has && g[m].ts >= since) v[m] = g[m].value;
    json_t *arr = json_array();
    for (int m = 0; m < N_METRICS; m++) json_array_append_new(arr, num_or_null(v[m]));
    json_object_set_new(obj, json_string_value(json_array_get(names, i)), arr);
  }
  free(got);
  json_decref(names);
  *out = obj;
  return 0;
}

/* ---- the arrays the view reads ---- */

static double arr_num(const json_t *arr, size_t i) {
  const json_t *v = json_array_get(arr, i);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static long instance_number(const char *id) {
  return strncmp(id, "i-", 2) == 0 ? strtol(id + 2, NULL, 10) : 0;
}

static int cmp_instance(const void *a, const void *b) {
  const top_instance *x = a, *y = b;
  int c = strcmp(x->endpoint, y->endpoint);
  if (c) return c;
  long nx = instance_number(x->id), ny = instance_number(y->id);
  if (nx != ny) return nx < ny ? -1 : 1;
  return strcmp(x->id, y->id);
}

static int cmp_endpoint(const void *a, const void *b) {
  return strcmp(((const top_endpoint *)a)->name, ((const top_endpoint *)b)->name);
}

/* Busiest first; an IC without a bucket yet after an idle one. */
static int cmp_ic(const void *a, const void *b) {
  const top_ic *x = a, *y = b;
  double rx = isnan(x->rps) ? -1 : x->rps, ry = isnan(y->rps) ? -1 : y->rps;
  if (rx != ry) return rx > ry ? -1 : 1;
  return strcmp(x->name, y->name);
}

static void build_instances(top_data *d) {
  json_t *list = json_object_get(d->placement, "Instances");
  free(d->instances);
  d->n_instances = 0;
  d->instances = berth_xcalloc(json_array_size(list) + 1, sizeof *d->instances);
  size_t i;
  json_t *in;
  json_array_foreach(list, i, in) {
    top_instance *t = &d->instances[d->n_instances++];
    json_t *cap = json_object_get(in, "Capacity"), *res = json_object_get(in, "Reserved");
    copy_text(t->id, sizeof t->id, berth__json_str(in, "InstanceId", "?"));
    copy_text(t->endpoint, sizeof t->endpoint, berth__json_str(in, "EndpointName", ""));
    copy_text(t->type, sizeof t->type, berth__json_str(in, "InstanceType", "?"));
    copy_text(t->state, sizeof t->state, berth__json_str(in, "State", "?"));
    t->cpu_used = berth__json_num(res, "CpuMillicores", 0);
    t->cpu_cap = berth__json_num(cap, "CpuMillicores", 0);
    t->mem_used = berth__json_num(res, "MemoryMb", 0);
    t->mem_cap = berth__json_num(cap, "MemoryMb", 0);
    t->gpu_used = berth__json_num(res, "AcceleratorDevices", 0);
    t->gpu_cap = berth__json_num(cap, "AcceleratorDevices", 0);
  }
  qsort(d->instances, d->n_instances, sizeof *d->instances, cmp_instance);
}

static void build_endpoints(top_data *d, const char *only) {
  free(d->endpoints);
  d->n_endpoints = 0;
  d->endpoints = berth_xcalloc(json_array_size(d->endpoint_list) + 1, sizeof *d->endpoints);
  json_t *reservations = json_object_get(d->placement, "Endpoints");
  size_t i;
  json_t *item;
  json_array_foreach(d->endpoint_list, i, item) {
    const char *name = berth__json_str(item, "EndpointName", NULL);
    if (!name || (only && strcmp(name, only) != 0)) continue;
    top_endpoint *t = &d->endpoints[d->n_endpoints++];
    copy_text(t->name, sizeof t->name, name);
    copy_text(t->status, sizeof t->status, berth__json_str(item, "EndpointStatus", "?"));
    t->cpu_pct = t->mem_pct = t->gpu_pct = NAN;
    size_t k;
    json_t *r;
    json_array_foreach(reservations, k, r) {
      if (strcmp(berth__json_str(r, "EndpointName", ""), name) != 0) continue;
      t->cpu_pct = berth__json_num(r, "CPUReservation", NAN);
      t->mem_pct = berth__json_num(r, "MemoryReservation", NAN);
      t->gpu_pct = berth__json_num(r, "GPUReservation", NAN);
    }
    for (k = 0; k < d->n_instances; k++)
      if (strcmp(d->instances[k].endpoint, t->name) == 0) t->instances++;
  }
  qsort(d->endpoints, d->n_endpoints, sizeof *d->endpoints, cmp_endpoint);
}

static void set_copies(top_ic *t, const json_t *copies) {
  double cur = arr_num(copies, 0), want = arr_num(copies, 1);
  t->current = isnan(cur) ? -1 : (int)cur;
  t->desired = isnan(want) ? -1 : (int)want;
}

static void build_ics(top_data *d) {
  free(d->ics);
  d->n_ics = 0;
  d->ics = berth_xcalloc(json_array_size(d->ic_list) + 1, sizeof *d->ics);
  size_t i;
  json_t *item;
  json_array_foreach(d->ic_list, i, item) {
    const char *name = berth__json_str(item, "InferenceComponentName", NULL);
    if (!name) continue;
    top_ic *t = &d->ics[d->n_ics++];
    copy_text(t->name, sizeof t->name, name);
    copy_text(t->endpoint, sizeof t->endpoint, berth__json_str(item, "EndpointName", "?"));
    copy_text(t->status, sizeof t->status,
              berth__json_str(item, "InferenceComponentStatus", "?"));
    /* A server whose summaries carry the copy counts saves the describes. */
    const json_t *rt = json_object_get(item, "RuntimeConfig");
    if (json_is_number(json_object_get(rt, "CurrentCopyCount"))) {
      json_t *c = json_pack("[f,f]", berth__json_num(rt, "CurrentCopyCount", -1),
                            berth__json_num(rt, "DesiredCopyCount", -1));
      json_object_set_new(d->ic_copies, name, c);
    }
    set_copies(t, json_object_get(d->ic_copies, name));
    const json_t *m = json_object_get(d->ic_metrics, name);
    t->rps = arr_num(m, M_INVOCATIONS);
    t->p50_us = arr_num(m, M_P50);
    t->p99_us = arr_num(m, M_P99);
    t->held = arr_num(m, M_HELD);
    t->cpu_pct = arr_num(m, M_CPU);
    t->mem_pct = arr_num(m, M_MEMORY);
  }
  qsort(d->ics, d->n_ics, sizeof *d->ics, cmp_ic);
}

/* Drops the copy counts of ICs no longer listed, so the map stays as big as
 * the list. */
static void prune_copies(top_data *d) {
  json_t *keep = json_object();
  size_t i;
  json_t *item;
  json_array_foreach(d->ic_list, i, item) {
    const char *name = berth__json_str(item, "InferenceComponentName", NULL);
    json_t *c = name ? json_object_get(d->ic_copies, name) : NULL;
    if (c) json_object_set(keep, name, c);
  }
  replace(&d->ic_copies, keep);
}

/* DescribeInferenceComponent for the first q->describe_max ICs (those the
 * screen can show), until one fails. */
static void describe_shown(berth_cli *cli, const top_query *q, top_data *d) {
  for (size_t i = 0; i < d->n_ics && i < q->describe_max; i++) {
    top_ic *t = &d->ics[i];
    json_t *req = json_pack("{s:s}", "InferenceComponentName", t->name), *resp = NULL;
    berth_cli_error err;
    int rc = berth__control_call(cli, "DescribeInferenceComponent", req, &resp, &err);
    json_decref(req);
    if (rc != 0) {
      if (berth__error_not_found(&err)) continue; /* deleted since the list */
      note_error(d, "DescribeInferenceComponent", &err);
      return;
    }
    const json_t *rt = json_object_get(resp, "RuntimeConfig");
    json_t *c = json_pack("[f,f]", berth__json_num(rt, "CurrentCopyCount", -1),
                          berth__json_num(rt, "DesiredCopyCount", -1));
    set_copies(t, c);
    json_object_set_new(d->ic_copies, t->name, c);
    copy_text(t->status, sizeof t->status,
              berth__json_str(resp, "InferenceComponentStatus", t->status));
    json_decref(resp);
  }
}

int berth__top_refresh(berth_cli *cli, const top_query *q, top_data *d) {
  berth_cli_error err;
  json_t *got = NULL;
  bool down = false;
  d->error[0] = '\0';

  if (berth__control_list(cli, "ListEndpoints", NULL, "Endpoints", &got, &err) == 0)
    replace(&d->endpoint_list, got);
  else
    down = note_error(d, "ListEndpoints", &err);

  if (!down) {
    json_t *filter = q->endpoint ? json_pack("{s:s}", "EndpointNameEquals", q->endpoint)
                                 : json_object();
    if (berth__control_list(cli, "ListInferenceComponents", filter, "InferenceComponents", &got,
                            &err) == 0)
      replace(&d->ic_list, got);
    else
      down = note_error(d, "ListInferenceComponents", &err);
    json_decref(filter);
  }

  if (!down) {
    json_t *req = q->endpoint ? json_pack("{s:s}", "EndpointName", q->endpoint) : json_object();
    if (berth__control_call(cli, "Berth.DescribeInstances", req, &got, &err) == 0)
      replace(&d->placement, got);
    else
      down = note_error(d, "Berth.DescribeInstances", &err);
    json_decref(req);
  }

  if (!down) {
    if (fetch_metrics(cli, d, &got, &err) == 0)
      replace(&d->ic_metrics, got);
    else
      down = note_error(d, "GetMetricData", &err);
  }

  prune_copies(d);
  build_instances(d);
  build_endpoints(d, q->endpoint);
  build_ics(d);
  if (!down) describe_shown(cli, q, d);

  d->refreshed = time(NULL);
  if (!d->error[0]) d->last_good = d->refreshed;
  return d->error[0] ? -1 : 0;
}

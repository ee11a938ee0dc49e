/* cloudwatch: GetMetricData, GetMetricStatistics and ListMetrics over the
 * inference components' metric buckets (metrics.h).
 *
 * DESIGN: every AWS/SageMaker metric is derived from the closed 10-second
 * buckets (the last 30 minutes are kept). A query merges the buckets of the
 * ICs its dimensions select into 10-second slots (an EndpointName+VariantName
 * metric adds up that variant's ICs slot by slot), turns each slot into a
 * sample, then folds samples into Period-sized datapoints whose timestamps
 * are multiples of Period (StartTime is rounded down to one, as CloudWatch
 * does). Three kinds of metric:
 *  - counts (Invocations, errors): one sample per slot, the count;
 *  - means over requests (ModelLatency, OverheadLatency, ModelSetupTime,
 *    WaitTime): the slot adds its sum and its request count, so Average is
 *    the mean per request and SampleCount the number of requests; Minimum
 *    and Maximum are over slot means (no per-request values are kept); a
 *    slot without requests is no data;
 *  - per-copy ratios and gauges (InvocationsPerCopy,
 *    ConcurrentRequestsPerCopy, CopyCount): one sample per slot, divided by
 *    max(1, ready copies) so traffic at zero copies still reads as demand.
 * The /aws/sagemaker/Endpoints reservation metrics are not kept over time:
 * they are one datapoint at the current time. An unknown metric, namespace
 * or dimension set is an empty result, as in CloudWatch. */
#include "cloudwatch.h"

#include "valid.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define NS_SAGEMAKER "AWS/SageMaker"
#define NS_ENDPOINTS "/aws/sagemaker/Endpoints"
#define NS_ICS "/aws/sagemaker/InferenceComponents"
#define MAX_QUERIES 500
#define MAX_DIMENSIONS 30
#define MAX_FILTERS 10
#define LIST_PAGE 500
#define MAX_PERIOD_S (86400LL * 366)
#define MAX_DATAPOINTS 100800
/* Closed buckets span METRICS_HISTORY_BUCKETS slots; a few more absorb
 * rounding. */
#define MAX_SLOTS (METRICS_HISTORY_BUCKETS + 4)
#define MAX_PERCENTILES 10

/* KIND_SHARE: percent of a capacity (the instance-level utilisation). */
typedef enum { KIND_COUNT, KIND_MEAN, KIND_RATIO, KIND_SHARE } metric_kind;

typedef enum {
  F_INVOCATIONS,
  F_4XX,
  F_5XX,
  F_MODEL_ERRORS,
  F_NO_CAPACITY,
  F_MODEL_LATENCY,
  F_OVERHEAD_LATENCY,
  F_SETUP,
  F_WAIT,
  F_CONCURRENCY_PER_COPY,
  F_INVOCATIONS_PER_COPY,
  F_COPIES,
  F_INVOCATIONS_PER_INSTANCE,
  F_CPU_NORM,
  F_MEMORY_NORM,
  F_GPU_NORM,
  F_GPU_MEMORY_NORM,
  F_CPU_INSTANCE,
  F_MEMORY_INSTANCE,
  F_GPU_INSTANCE,
  F_GPU_MEMORY_INSTANCE
} metric_field;

/* Which dimension sets a metric has. */
enum { DIMS_IC = 1, DIMS_VARIANT = 2 };

typedef struct metric_def {
  const char *ns;
  const char *name;
  metric_field field;
  metric_kind kind;
  const char *unit;             /* GetMetricStatistics Datapoints.Unit */
  int dims;                     /* DIMS_IC | DIMS_VARIANT */
} metric_def;

#define BOTH (DIMS_IC | DIMS_VARIANT)
/* Everything kept over time: AWS/SageMaker per IC and per endpoint
 * variant, utilisation per IC and per variant. */
static const metric_def kept_metrics[] = {
  {NS_SAGEMAKER, "Invocations", F_INVOCATIONS, KIND_COUNT, "None", BOTH},
  {NS_SAGEMAKER, "InvocationsPerCopy", F_INVOCATIONS_PER_COPY, KIND_RATIO, "None", BOTH},
  {NS_SAGEMAKER, "InvocationsPerInstance", F_INVOCATIONS_PER_INSTANCE, KIND_RATIO, "None",
   DIMS_VARIANT},
  {NS_SAGEMAKER, "Invocation4XXErrors", F_4XX, KIND_COUNT, "None", BOTH},
  {NS_SAGEMAKER, "Invocation5XXErrors", F_5XX, KIND_COUNT, "None", BOTH},
  {NS_SAGEMAKER, "InvocationModelErrors", F_MODEL_ERRORS, KIND_COUNT, "None", BOTH},
  {NS_SAGEMAKER, "NoCapacityInvocationFailures", F_NO_CAPACITY, KIND_COUNT, "None", BOTH},
  {NS_SAGEMAKER, "ModelLatency", F_MODEL_LATENCY, KIND_MEAN, "Microseconds", BOTH},
  {NS_SAGEMAKER, "OverheadLatency", F_OVERHEAD_LATENCY, KIND_MEAN, "Microseconds", BOTH},
  {NS_SAGEMAKER, "ModelSetupTime", F_SETUP, KIND_MEAN, "Milliseconds", BOTH},
  {NS_SAGEMAKER, "ConcurrentRequestsPerCopy", F_CONCURRENCY_PER_COPY, KIND_RATIO, "None", BOTH},
  /* Berth's own */
  {NS_SAGEMAKER, "WaitTime", F_WAIT, KIND_MEAN, "Milliseconds", BOTH},
  {NS_SAGEMAKER, "CopyCount", F_COPIES, KIND_RATIO, "Count", BOTH},
  /* Per IC, normalised to its copies' reservations */
  {NS_ICS, "CPUUtilizationNormalized", F_CPU_NORM, KIND_MEAN, "Percent", DIMS_IC},
  {NS_ICS, "MemoryUtilizationNormalized", F_MEMORY_NORM, KIND_MEAN, "Percent", DIMS_IC},
  {NS_ICS, "GPUUtilizationNormalized", F_GPU_NORM, KIND_MEAN, "Percent", DIMS_IC},
  {NS_ICS, "GPUMemoryUtilizationNormalized", F_GPU_MEMORY_NORM, KIND_MEAN, "Percent", DIMS_IC},
  /* Per variant, of its running instances' capacity */
  {NS_ENDPOINTS, "InvocationsPerInstance", F_INVOCATIONS_PER_INSTANCE, KIND_RATIO, "None",
   DIMS_VARIANT},
  {NS_ENDPOINTS, "CPUUtilization", F_CPU_INSTANCE, KIND_SHARE, "Percent", DIMS_VARIANT},
  {NS_ENDPOINTS, "MemoryUtilization", F_MEMORY_INSTANCE, KIND_SHARE, "Percent", DIMS_VARIANT},
  {NS_ENDPOINTS, "GPUUtilization", F_GPU_INSTANCE, KIND_SHARE, "Percent", DIMS_VARIANT},
  {NS_ENDPOINTS, "GPUMemoryUtilization", F_GPU_MEMORY_INSTANCE, KIND_SHARE, "Percent",
   DIMS_VARIANT},
};
#define N_KEPT_METRICS (sizeof kept_metrics / sizeof kept_metrics[0])

typedef enum { R_CPU, R_MEMORY, R_GPU } reservation;

/* /aws/sagemaker/Endpoints, per endpoint variant. */
static const struct {
  const char *name;
  reservation r;
} reservation_metrics[] = {
  {"CPUReservation", R_CPU},
  {"MemoryReservation", R_MEMORY},
  {"GPUReservation", R_GPU},
};
#define N_RESERVATION_METRICS (sizeof reservation_metrics / sizeof reservation_metrics[0])

typedef struct dims {
  const char *name[MAX_DIMENSIONS];
  const char *value[MAX_DIMENSIONS]; /* NULL in a ListMetrics filter: any */
  size_t n;
} dims;

typedef enum { STAT_SUM, STAT_AVERAGE, STAT_MAXIMUM, STAT_MINIMUM, STAT_SAMPLE_COUNT } stat_kind;

static const char *const stat_names[] = {"Sum", "Average", "Maximum", "Minimum", "SampleCount",
                                         NULL};

/* One metric's identity, the time range wanted and the percentiles
 * asked (ExtendedStatistics, or a GetMetricData Stat "p99"). */
typedef struct metric_query {
  const char *ns, *metric;
  dims d;
  long long period;
  double start, end;
  double pct[MAX_PERCENTILES];
  size_t n_pct;
} metric_query;

typedef struct point {
  double ts, sum, count, min, max;
  double pct[MAX_PERCENTILES];  /* -1: no request in the datapoint */
} point;

typedef struct slot {
  double a, b;
  int has;
} slot;

/* ---- Errors ---- */

/* valid.h reports SageMaker's ValidationException; CloudWatch names a
 * missing member and a bad value with its own shapes. */
static int cw_error(api_error *e, json_t *obj, const char *key) {
  json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
  e->status = 400;
  snprintf(e->type, sizeof e->type, "%s",
           (!v || json_is_null(v)) ? "MissingRequiredParameterException"
                                   : "InvalidParameterValueException");
  return -1;
}

#define CHECK(call, obj, key)                   \
  do {                                          \
    if (call) return cw_error(e, (obj), (key)); \
  } while (0)

const char *cloudwatch_query_error(const api_error *e) {
  static const char *const map[][2] = {
    {"InvalidParameterValueException", "InvalidParameterValue;Sender"},
    {"MissingRequiredParameterException", "MissingParameter;Sender"},
    {"InvalidParameterCombinationException", "InvalidParameterCombination;Sender"},
    {"InvalidNextToken", "InvalidNextToken;Sender"},
    {"InternalServiceFault", "InternalServiceError;Receiver"},
    {"ResourceNotFound", "ResourceNotFound;Sender"},
    {"LimitExceededFault", "LimitExceeded;Sender"},
    {"InvalidFormatFault", "InvalidFormat;Sender"},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(e->type, map[i][0]) == 0) return map[i][1];
  return NULL;
}

/* ---- Parsing ---- */

/* Dimensions [{Name, Value}] at obj[key]; filters (ListMetrics) may leave
 * Value out. */
static int parse_dims(json_t *obj, const char *key, const char *path, int filters, dims *d,
                      api_error *e) {
  json_t *arr, *item;
  size_t i;
  char p[192];
  d->n = 0;
  CHECK(valid_array(obj, key, path, 0, 0, filters ? MAX_FILTERS : MAX_DIMENSIONS, &arr, e), obj,
        key);
  if (!arr) return 0;
  json_array_foreach(arr, i, item) {
    snprintf(p, sizeof p, "%s.member.%zu", path, i + 1);
    if (!json_is_object(item))
      return api_fail(e, 400, "InvalidParameterValueException",
                      "%s must be an object {\"Name\": ..., \"Value\": ...}", p);
    const char *name, *value;
    char pn[224], pv[224];
    snprintf(pn, sizeof pn, "%s.Name", p);
    snprintf(pv, sizeof pv, "%s.Value", p);
    CHECK(valid_string(item, "Name", pn, 1, 255, &name, e), item, "Name");
    CHECK(valid_string(item, "Value", pv, !filters, 1024, &value, e), item, "Value");
    if (name[0] == '\0')
      return api_fail(e, 400, "InvalidParameterValueException",
                      "The parameter %s must not be empty: name the dimension "
                      "(InferenceComponentName, EndpointName, VariantName)", pn);
    for (size_t k = 0; k < d->n; k++)
      if (strcmp(d->name[k], name) == 0)
        return api_fail(e, 400, "InvalidParameterValueException",
                        "The collection %s must not contain duplicate key values: dimension "
                        "'%.100s' is given twice", path, name);
    d->name[d->n] = name;
    d->value[d->n] = value;
    d->n++;
  }
  return 0;
}

static const char *dim_value(const dims *d, const char *name) {
  for (size_t i = 0; i < d->n; i++)
    if (strcmp(d->name[i], name) == 0) return d->value[i];
  return NULL;
}

/* The IC a dimension set names (exactly {InferenceComponentName}). */
static const char *dims_ic(const dims *d) {
  return d->n == 1 ? dim_value(d, "InferenceComponentName") : NULL;
}

/* Exactly {EndpointName, VariantName}. */
static int dims_variant(const dims *d, const char **ep, const char **vname) {
  if (d->n != 2) return 0;
  *ep = dim_value(d, "EndpointName");
  *vname = dim_value(d, "VariantName");
  return *ep && *vname;
}

static int parse_time(json_t *obj, const char *key, double *out, api_error *e) {
  CHECK(valid_number(obj, key, key, 1, 0, 1e11, 0, out, e), obj, key);
  return 0;
}

static int parse_period(json_t *obj, const char *path, long long *out, api_error *e) {
  CHECK(valid_int(obj, "Period", path, 1, 1, MAX_PERIOD_S, 0, out, e), obj, "Period");
  if (*out % SCALE_BUCKET_S != 0)
    return api_fail(e, 400, "InvalidParameterValueException",
                    "The value %lld for parameter %s is not a multiple of %d: Berth keeps "
                    "%d-second buckets, so use 10, 20, 30, 60 or another multiple of %d",
                    *out, path, SCALE_BUCKET_S, SCALE_BUCKET_S, SCALE_BUCKET_S);
  return 0;
}

/* ---- Series ---- */

static const metric_def *find_kept_metric(const char *ns, const char *name) {
  for (size_t i = 0; i < N_KEPT_METRICS; i++)
    if (strcmp(kept_metrics[i].ns, ns) == 0 && strcmp(kept_metrics[i].name, name) == 0)
      return &kept_metrics[i];
  return NULL;
}

/* Adds record r to slot s. Ratios of a variant add the numerators and take
 * the largest denominator (instances, capacity: the variant's, the same
 * for each of its ICs); utilisation counts only measured buckets. */
static void add_bucket(slot *s, const metrics_record *r, metric_field f) {
  switch (f) {
  case F_INVOCATIONS: s->a += r->invocations; break;
  case F_4XX: s->a += r->errors_4xx; break;
  case F_5XX: s->a += r->errors_5xx; break;
  case F_MODEL_ERRORS: s->a += r->model_errors; break;
  case F_NO_CAPACITY: s->a += r->no_capacity; break;
  case F_MODEL_LATENCY:
    s->a += r->model_latency_us;
    s->b += r->latency_n;
    break;
  case F_OVERHEAD_LATENCY:
    s->a += r->overhead_latency_us;
    s->b += r->latency_n;
    break;
  case F_SETUP:
    s->a += r->setup_ms;
    s->b += r->setups;
    break;
  case F_WAIT:
    s->a += r->wait_ms;
    s->b += r->waited;
    break;
  case F_CONCURRENCY_PER_COPY:
    s->a += r->concurrency;
    s->b += r->copies;
    break;
  case F_INVOCATIONS_PER_COPY:
    s->a += r->invocations;
    s->b += r->copies;
    break;
  case F_COPIES: s->a += r->copies; break;
  case F_INVOCATIONS_PER_INSTANCE:
    s->a += r->invocations;
    s->b = fmax(s->b, r->instances);
    break;
  case F_CPU_NORM:
  case F_MEMORY_NORM:
    if (!r->usage_n) return;
    s->a += (f == F_CPU_NORM ? r->cpu_norm : r->mem_norm) * r->usage_n;
    s->b += r->usage_n;
    break;
  case F_GPU_NORM:
  case F_GPU_MEMORY_NORM:
    if (!r->gpu_n) return;
    s->a += (f == F_GPU_NORM ? r->gpu_norm : r->gpu_mem_norm) * r->gpu_n;
    s->b += r->gpu_n;
    break;
  case F_CPU_INSTANCE:
  case F_MEMORY_INSTANCE:
    if (!r->usage_n) return;
    s->a += f == F_CPU_INSTANCE ? r->cpu_used : r->mem_used_mb;
    s->b = fmax(s->b, f == F_CPU_INSTANCE ? r->cap_cpu : r->cap_mem_mb);
    break;
  case F_GPU_INSTANCE:
  case F_GPU_MEMORY_INSTANCE:
    if (!r->gpu_n) return;
    s->a += f == F_GPU_INSTANCE ? r->gpu_used : r->gpu_mem_used_mb;
    s->b = fmax(s->b, f == F_GPU_INSTANCE ? r->cap_gpu : r->cap_gpu_mem_mb);
    break;
  }
  s->has = 1;
}

static int ic_selected(const ic *x, const metric_def *def, const dims *d) {
  const char *name = dims_ic(d), *ep, *vname;
  if (name) return (def->dims & DIMS_IC) && strcmp(x->name, name) == 0;
  if (dims_variant(d, &ep, &vname))
    return (def->dims & DIMS_VARIANT) && strcmp(x->endpoint, ep) == 0 &&
           strcmp(x->variant, vname) == 0;
  return 0;
}

/* Adds one sample to the datapoint for timestamp ts (pts ascending). */
static void add_sample(point *pts, size_t *n, double ts, double sum, double count, double v) {
  if (*n == 0 || pts[*n - 1].ts != ts) {
    pts[*n] = (point){ts, 0, 0, v, v, {0}};
    for (size_t k = 0; k < MAX_PERCENTILES; k++) pts[*n].pct[k] = -1;
    (*n)++;
  }
  point *p = &pts[*n - 1];
  p->sum += sum;
  p->count += count;
  if (v < p->min) p->min = v;
  if (v > p->max) p->max = v;
}

/* The percentiles of each datapoint of a latency metric, from the
 * histograms of the buckets that fall in it (latency_hist.h: within 5%). */
static void add_percentiles(ctl *c, const metric_def *def, const metric_query *q, point *pts,
                            size_t n) {
  if (!q->n_pct || (def->field != F_MODEL_LATENCY && def->field != F_OVERHEAD_LATENCY)) return;
  latency_hist *h = berth_xcalloc(1, sizeof *h);
  for (size_t i = 0; i < n; i++) {
    memset(h, 0, sizeof *h);
    double lo = pts[i].ts, hi = lo + (double)q->period;
    for (ic *x = c->ics; x; x = x->next) {
      if (!x->metrics || !ic_selected(x, def, &q->d)) continue;
      const metrics_history *mh = metrics_closed(x->metrics);
      const metrics_record *r;
      for (size_t k = metrics_history_find(mh, lo); (r = metrics_history_at(mh, k)) && r->start < hi;
           k++)
        latency_hist_add_sparse(h, def->field == F_MODEL_LATENCY ? r->model : r->overhead);
    }
    for (size_t k = 0; k < q->n_pct; k++) pts[i].pct[k] = latency_hist_percentile(h, q->pct[k]);
  }
  free(h);
}

/* Datapoints (ascending, at most MAX_SLOTS) of a metric kept over time. */
static size_t kept_series(ctl *c, const metric_def *def, const metric_query *q, double now,
                          point *pts) {
  double period = (double)q->period;
  double ts0 = floor(q->start / period) * period;
  double oldest = now - (METRICS_HISTORY_BUCKETS + 2) * (double)SCALE_BUCKET_S;
  double lo = floor(fmax(ts0, oldest) / SCALE_BUCKET_S) * SCALE_BUCKET_S;
  double hi = fmin(q->end, now + SCALE_BUCKET_S);
  if (!(hi > lo)) return 0;
  size_t nslots = (size_t)ceil((hi - lo) / SCALE_BUCKET_S);
  if (nslots > MAX_SLOTS) nslots = MAX_SLOTS;
  slot *slots = berth_xcalloc(nslots, sizeof *slots);
  for (ic *x = c->ics; x; x = x->next) {
    if (!x->metrics || !ic_selected(x, def, &q->d)) continue;
    const metrics_history *mh = metrics_closed(x->metrics);
    const metrics_record *b;
    for (size_t i = metrics_history_find(mh, lo); (b = metrics_history_at(mh, i)) != NULL; i++) {
      if (b->start >= hi) break;
      double k = floor((b->start - lo) / SCALE_BUCKET_S + 0.5);
      if (k < 0 || k >= (double)nslots) continue;
      add_bucket(&slots[(size_t)k], b, def->field);
    }
  }
  size_t n = 0;
  for (size_t k = 0; k < nslots; k++) {
    const slot *s = &slots[k];
    if (!s->has) continue;
    double ts = floor((lo + (double)k * SCALE_BUCKET_S) / period) * period;
    switch (def->kind) {
    case KIND_COUNT: add_sample(pts, &n, ts, s->a, 1, s->a); break;
    case KIND_MEAN:
      if (s->b > 0) add_sample(pts, &n, ts, s->a, s->b, s->a / s->b);
      break;
    case KIND_RATIO: {
      double v = s->a / fmax(1, s->b);
      add_sample(pts, &n, ts, v, 1, v);
      break;
    }
    case KIND_SHARE:
      if (s->b > 0) {
        double v = 100.0 * s->a / s->b;
        add_sample(pts, &n, ts, v, 1, v);
      }
      break;
    }
  }
  free(slots);
  add_percentiles(c, def, q, pts, n);
  return n;
}

/* The one datapoint of a reservation metric: percent of the variant's
 * running instances' capacity reserved by copies now. */
static size_t reservation_series(ctl *c, reservation r, const metric_query *q, double now,
                                 point *pts) {
  const char *ep, *vname;
  if (!dims_variant(&q->d, &ep, &vname)) return 0;
  double period = (double)q->period;
  if (!(q->start <= now && q->end > now - period)) return 0;
  double used = 0, cap = 0;
  for (instance *in = c->instances; in; in = in->next) {
    if (in->state != INSTANCE_RUNNING || strcmp(in->endpoint, ep) != 0 ||
        strcmp(in->variant, vname) != 0)
      continue;
    switch (r) {
    case R_CPU:
      used += (double)in->res.cpu_milli_used;
      cap += (double)in->res.cpu_milli;
      break;
    case R_MEMORY:
      used += (double)in->res.mem_mb_used;
      cap += (double)in->res.mem_mb;
      break;
    case R_GPU:
      for (int d = 0; d < in->res.n_devices && d < SCHED_MAX_DEVICES; d++)
        used += in->res.dev_milli_used[d];
      cap += 1000.0 * in->res.n_devices;
      break;
    }
  }
  if (cap <= 0) return 0;
  double v = 100.0 * used / cap;
  pts[0] = (point){floor(now / period) * period, v, 1, v, v, {0}};
  for (size_t k = 0; k < MAX_PERCENTILES; k++) pts[0].pct[k] = -1;
  return 1;
}

/* How many datapoints series may write for q: one per 10-s slot of the
 * range at most (callers size their arrays with it; alarms ask every
 * second). */
static size_t points_needed(const metric_query *q) {
  double period = (double)q->period;
  double from = floor(q->start / period) * period;
  double n = ceil((q->end - from) / SCALE_BUCKET_S) + 2;
  return n > MAX_SLOTS || !(n > 0) ? MAX_SLOTS : (size_t)n;
}

/* Datapoints of any metric (ascending); *unit gets its unit. */
static size_t series(ctl *c, const metric_query *q, double now, point *pts, const char **unit) {
  *unit = "None";
  const metric_def *def = find_kept_metric(q->ns, q->metric);
  if (def) {
    *unit = def->unit;
    return kept_series(c, def, q, now, pts);
  }
  if (strcmp(q->ns, NS_ENDPOINTS) == 0) {
    *unit = "Percent";
    for (size_t i = 0; i < N_RESERVATION_METRICS; i++)
      if (strcmp(reservation_metrics[i].name, q->metric) == 0)
        return reservation_series(c, reservation_metrics[i].r, q, now, pts);
  }
  return 0;
}

static double stat_value(const point *p, stat_kind s) {
  switch (s) {
  case STAT_SUM: return p->sum;
  case STAT_AVERAGE: return p->count > 0 ? p->sum / p->count : 0;
  case STAT_MAXIMUM: return p->max;
  case STAT_MINIMUM: return p->min;
  case STAT_SAMPLE_COUNT: return p->count;
  }
  return 0;
}

static stat_kind stat_of(const char *name) {
  for (int i = 0; stat_names[i]; i++)
    if (strcmp(stat_names[i], name) == 0) return (stat_kind)i;
  return STAT_SUM;
}

/* A percentile statistic ("p99", "p99.9", "p50"): 1 with *out its
 * value, 0 when s is none. */
static int percentile_of(const char *s, double *out) {
  if (s[0] != 'p' || s[1] < '0' || s[1] > '9') return 0;
  char *end;
  double v = strtod(s + 1, &end);
  if (*end != '\0' || !(v > 0) || v > 100) return 0;
  *out = v;
  return 1;
}

/* ---- GetMetricData ---- */

typedef struct data_query {
  const char *id, *label;
  metric_query m;
  stat_kind stat;
  int percentile;               /* the Stat is m.pct[0] */
  int return_data;
} data_query;

static int valid_id(const char *s) {
  if (s[0] < 'a' || s[0] > 'z') return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_'))
      return 0;
  return 1;
}

static int parse_data_query(json_t *item, size_t i, data_query *q, api_error *e) {
  char p[64], path[160];
  snprintf(p, sizeof p, "MetricDataQueries.member.%zu", i + 1);
  if (!json_is_object(item))
    return api_fail(e, 400, "InvalidParameterValueException", "%s must be an object", p);
  snprintf(path, sizeof path, "%s.Id", p);
  CHECK(valid_string(item, "Id", path, 1, 255, &q->id, e), item, "Id");
  if (!valid_id(q->id))
    return api_fail(e, 400, "InvalidParameterValueException",
                    "The value '%.255s' for parameter %s is invalid: an Id starts with a "
                    "lower-case letter and holds only letters, digits and '_' (e.g. m1)",
                    q->id, path);
  snprintf(path, sizeof path, "%s.Label", p);
  CHECK(valid_string(item, "Label", path, 0, 2048, &q->label, e), item, "Label");
  json_t *rd = json_object_get(item, "ReturnData");
  if (rd && !json_is_null(rd) && !json_is_boolean(rd))
    return api_fail(e, 400, "InvalidParameterValueException",
                    "The parameter %s.ReturnData must be true or false", p);
  q->return_data = !rd || json_is_null(rd) || json_is_true(rd);
  json_t *expr = json_object_get(item, "Expression");
  json_t *ms = json_object_get(item, "MetricStat");
  int has_expr = expr && !json_is_null(expr), has_ms = ms && !json_is_null(ms);
  if (has_expr && has_ms)
    return api_fail(e, 400, "InvalidParameterCombinationException",
                    "%s gives both MetricStat and Expression: give exactly one", p);
  if (has_expr)
    return api_fail(e, 400, "InvalidParameterValueException",
                    "%s.Expression: Berth does not evaluate metric math expressions; query "
                    "each metric with MetricStat and combine the values yourself", p);
  if (!has_ms)
    return api_fail(e, 400, "MissingRequiredParameterException",
                    "%s must give MetricStat {Metric, Period, Stat}", p);
  json_t *metric;
  snprintf(path, sizeof path, "%s.MetricStat", p);
  CHECK(valid_object(item, "MetricStat", path, 1, &ms, e), item, "MetricStat");
  snprintf(path, sizeof path, "%s.MetricStat.Metric", p);
  CHECK(valid_object(ms, "Metric", path, 1, &metric, e), ms, "Metric");
  snprintf(path, sizeof path, "%s.MetricStat.Metric.Namespace", p);
  CHECK(valid_string(metric, "Namespace", path, 1, 255, &q->m.ns, e), metric, "Namespace");
  snprintf(path, sizeof path, "%s.MetricStat.Metric.MetricName", p);
  CHECK(valid_string(metric, "MetricName", path, 1, 255, &q->m.metric, e), metric, "MetricName");
  snprintf(path, sizeof path, "%s.MetricStat.Metric.Dimensions", p);
  if (parse_dims(metric, "Dimensions", path, 0, &q->m.d, e)) return -1;
  snprintf(path, sizeof path, "%s.MetricStat.Period", p);
  if (parse_period(ms, path, &q->m.period, e)) return -1;
  const char *stat, *unit;
  snprintf(path, sizeof path, "%s.MetricStat.Stat", p);
  CHECK(valid_string(ms, "Stat", path, 1, 100, &stat, e), ms, "Stat");
  int known = 0;
  for (int k = 0; stat_names[k]; k++) known |= strcmp(stat_names[k], stat) == 0;
  if (!known && percentile_of(stat, &q->m.pct[0])) {
    known = q->percentile = 1;
    q->m.n_pct = 1;
  }
  if (!known)
    return api_fail(e, 400, "InvalidParameterValueException",
                    "The value '%.100s' for parameter %s is not a statistic Berth computes: use "
                    "Sum, Average, Maximum, Minimum, SampleCount or a percentile pNN (p50, "
                    "p99.9: more than 0, at most 100)", stat, path);
  q->stat = stat_of(stat);
  snprintf(path, sizeof path, "%s.MetricStat.Unit", p);
  CHECK(valid_string(ms, "Unit", path, 0, 64, &unit, e), ms, "Unit");
  if (!q->label) q->label = q->m.metric;
  return 0;
}

static int get_metric_data(ctl *c, json_t *req, json_t **resp, api_error *e) {
  static const char *const scan_values[] = {"TimestampDescending", "TimestampAscending", NULL};
  json_t *arr, *item;
  double start, end;
  const char *scan, *token;
  long long max_points;
  size_t i;
  CHECK(valid_array(req, "MetricDataQueries", "MetricDataQueries", 1, 1, MAX_QUERIES, &arr, e),
        req, "MetricDataQueries");
  if (parse_time(req, "StartTime", &start, e) || parse_time(req, "EndTime", &end, e)) return -1;
  if (!(end > start))
    return api_fail(e, 400, "InvalidParameterValueException",
                    "The parameter StartTime (%.0f) must be less than the parameter EndTime "
                    "(%.0f)", start, end);
  CHECK(valid_enum(req, "ScanBy", "ScanBy", 0, scan_values, "TimestampDescending", &scan, e),
        req, "ScanBy");
  CHECK(valid_int(req, "MaxDatapoints", "MaxDatapoints", 0, 1, MAX_DATAPOINTS, MAX_DATAPOINTS,
                  &max_points, e),
        req, "MaxDatapoints");
  CHECK(valid_string(req, "NextToken", "NextToken", 0, 8192, &token, e), req, "NextToken");
  if (token)
    return api_fail(e, 400, "InvalidNextToken",
                    "NextToken '%.64s' was not returned by this GetMetricData (Berth returns "
                    "every datapoint in one page): send the request without NextToken", token);
  size_t n = json_array_size(arr);
  data_query *qs = berth_xcalloc(n, sizeof *qs);
  int rc = -1;
  json_array_foreach(arr, i, item) {
    if (parse_data_query(item, i, &qs[i], e)) goto out;
    qs[i].m.start = start;
    qs[i].m.end = end;
    for (size_t k = 0; k < i; k++)
      if (strcmp(qs[k].id, qs[i].id) == 0) {
        api_fail(e, 400, "InvalidParameterValueException",
                 "The value '%.255s' for field MetricDataQueries.member.%zu.Id is duplicated "
                 "(also member %zu): give every query its own Id", qs[i].id, i + 1, k + 1);
        goto out;
      }
  }
  int descending = strcmp(scan, "TimestampDescending") == 0;
  double now = ctl_clock();
  long long left = max_points;
  json_t *results = json_array();
  for (i = 0; i < n; i++) {
    if (!qs[i].return_data) continue;
    const char *unit;
    point *pts = berth_xcalloc(points_needed(&qs[i].m), sizeof *pts);
    size_t np = series(c, &qs[i].m, now, pts, &unit);
    if (qs[i].percentile) {
      /* A datapoint without requests has no percentile. */
      size_t kept = 0;
      for (size_t k = 0; k < np; k++)
        if (pts[k].pct[0] >= 0) pts[kept++] = pts[k];
      np = kept;
    }
    /* Past MaxDatapoints the rest is cut: the newest kept when descending. */
    int partial = 0;
    size_t first = 0;
    if ((long long)np > left) {
      partial = 1;
      if (descending) first = np - (size_t)left;
      np = (size_t)left;
    }
    left -= (long long)np;
    json_t *ts = json_array(), *vals = json_array();
    for (size_t k = 0; k < np; k++) {
      const point *p = descending ? &pts[first + np - 1 - k] : &pts[k];
      json_array_append_new(ts, json_integer((json_int_t)llround(p->ts)));
      json_array_append_new(vals, json_real(qs[i].percentile ? p->pct[0]
                                                             : stat_value(p, qs[i].stat)));
    }
    free(pts);
    json_array_append_new(results, json_pack("{s:s,s:s,s:o,s:o,s:s}", "Id", qs[i].id, "Label",
                                             qs[i].label, "Timestamps", ts, "Values", vals,
                                             "StatusCode", partial ? "PartialData" : "Complete"));
  }
  *resp = json_pack("{s:o,s:[]}", "MetricDataResults", results, "Messages");
  rc = 0;
out:
  free(qs);
  return rc;
}

/* ---- GetMetricStatistics ---- */

static int get_metric_statistics(ctl *c, json_t *req, json_t **resp, api_error *e) {
  metric_query q;
  json_t *stats;
  const char *unit_req;
  memset(&q, 0, sizeof q);
  CHECK(valid_string(req, "Namespace", "Namespace", 1, 255, &q.ns, e), req, "Namespace");
  CHECK(valid_string(req, "MetricName", "MetricName", 1, 255, &q.metric, e), req, "MetricName");
  if (parse_dims(req, "Dimensions", "Dimensions", 0, &q.d, e)) return -1;
  if (parse_time(req, "StartTime", &q.start, e) || parse_time(req, "EndTime", &q.end, e))
    return -1;
  if (!(q.end > q.start))
    return api_fail(e, 400, "InvalidParameterValueException",
                    "The parameter StartTime (%.0f) must be less than the parameter EndTime "
                    "(%.0f)", q.start, q.end);
  if (parse_period(req, "Period", &q.period, e)) return -1;
  CHECK(valid_string(req, "Unit", "Unit", 0, 64, &unit_req, e), req, "Unit");
  CHECK(valid_array(req, "Statistics", "Statistics", 0, 1, 5, &stats, e), req, "Statistics");
  json_t *ext;
  CHECK(valid_array(req, "ExtendedStatistics", "ExtendedStatistics", 0, 1, MAX_PERCENTILES, &ext,
                    e),
        req, "ExtendedStatistics");
  if (stats && ext)
    return api_fail(e, 400, "InvalidParameterCombinationException",
                    "Give Statistics or ExtendedStatistics, not both (as CloudWatch requires)");
  if (!stats && !ext)
    return api_fail(e, 400, "MissingRequiredParameterException",
                    "The parameter Statistics or ExtendedStatistics must be specified (Sum, "
                    "Average, Maximum, Minimum, SampleCount; or percentiles such as p99)");
  int want[5] = {0};
  size_t i;
  json_t *s;
  const char *ext_names[MAX_PERCENTILES];
  json_array_foreach(ext, i, s) {
    const char *name = json_string_value(s);
    if (!name || !percentile_of(name, &q.pct[i]))
      return api_fail(e, 400, "InvalidParameterValueException",
                      "The value '%.100s' for parameter ExtendedStatistics.member.%zu is not a "
                      "percentile Berth computes: use pNN with NN more than 0 and at most 100 "
                      "(p50, p90, p99, p99.9)", name ? name : "?", i + 1);
    ext_names[i] = name;
    q.n_pct = i + 1;
  }
  json_array_foreach(stats, i, s) {
    const char *name = json_string_value(s);
    int k;
    for (k = 0; stat_names[k]; k++)
      if (name && strcmp(stat_names[k], name) == 0) break;
    if (!stat_names[k])
      return api_fail(e, 400, "InvalidParameterValueException",
                      "The value '%.100s' for parameter Statistics.member.%zu is not one of "
                      "Sum, Average, Maximum, Minimum, SampleCount", name ? name : "?", i + 1);
    want[k] = 1;
  }
  point *pts = berth_xcalloc(points_needed(&q), sizeof *pts);
  const char *unit;
  size_t np = series(c, &q, ctl_clock(), pts, &unit);
  json_t *dps = json_array();
  for (i = 0; i < np; i++) {
    /* Percentiles only where requests were (latency metrics). */
    if (q.n_pct && pts[i].pct[0] < 0) continue;
    json_t *dp = json_pack("{s:I,s:s}", "Timestamp", (json_int_t)llround(pts[i].ts), "Unit", unit);
    for (int k = 0; stat_names[k]; k++)
      if (want[k]) json_object_set_new(dp, stat_names[k], json_real(stat_value(&pts[i], (stat_kind)k)));
    if (q.n_pct) {
      json_t *ev = json_object();
      for (size_t k = 0; k < q.n_pct; k++)
        json_object_set_new(ev, ext_names[k], json_real(pts[i].pct[k]));
      json_object_set_new(dp, "ExtendedStatistics", ev);
    }
    json_array_append_new(dps, dp);
  }
  free(pts);
  *resp = json_pack("{s:s,s:o}", "Label", q.metric, "Datapoints", dps);
  return 0;
}

/* ---- ListMetrics ---- */

static int matches_filters(const dims *filters, const char *const *names,
                           const char *const *values, size_t n) {
  for (size_t f = 0; f < filters->n; f++) {
    int hit = 0;
    for (size_t k = 0; k < n && !hit; k++)
      hit = strcmp(filters->name[f], names[k]) == 0 &&
            (!filters->value[f] || strcmp(filters->value[f], values[k]) == 0);
    if (!hit) return 0;
  }
  return 1;
}

static void list_add(json_t *out, const char *ns_filter, const char *metric_filter,
                     const dims *filters, const char *ns, const char *metric,
                     const char *const *names, const char *const *values, size_t n) {
  if (ns_filter && strcmp(ns_filter, ns) != 0) return;
  if (metric_filter && strcmp(metric_filter, metric) != 0) return;
  if (!matches_filters(filters, names, values, n)) return;
  json_t *d = json_array();
  for (size_t k = 0; k < n; k++)
    json_array_append_new(d, json_pack("{s:s,s:s}", "Name", names[k], "Value", values[k]));
  json_array_append_new(out, json_pack("{s:s,s:s,s:o}", "Namespace", ns, "MetricName", metric,
                                       "Dimensions", d));
}

static int list_metrics(ctl *c, json_t *req, json_t **resp, api_error *e) {
  static const char *const recent_values[] = {"PT3H", NULL};
  const char *ns, *metric, *token, *recent, *owner;
  dims filters;
  CHECK(valid_string(req, "Namespace", "Namespace", 0, 255, &ns, e), req, "Namespace");
  CHECK(valid_string(req, "MetricName", "MetricName", 0, 255, &metric, e), req, "MetricName");
  CHECK(valid_string(req, "NextToken", "NextToken", 0, 8192, &token, e), req, "NextToken");
  CHECK(valid_enum(req, "RecentlyActive", "RecentlyActive", 0, recent_values, NULL, &recent, e),
        req, "RecentlyActive");
  CHECK(valid_string(req, "OwningAccount", "OwningAccount", 0, 255, &owner, e), req,
        "OwningAccount");
  if (parse_dims(req, "Dimensions", "Dimensions", 1, &filters, e)) return -1;

  json_t *all = json_array();
  static const char *const ic_names[] = {"InferenceComponentName"};
  static const char *const variant_names[] = {"EndpointName", "VariantName"};
  for (ic *x = c->ics; x; x = x->next) {
    const char *values[] = {x->name};
    for (size_t i = 0; i < N_KEPT_METRICS; i++)
      if (kept_metrics[i].dims & DIMS_IC)
        list_add(all, ns, metric, &filters, kept_metrics[i].ns, kept_metrics[i].name, ic_names,
                 values, 1);
  }
  for (endpoint *ep = c->endpoints; ep; ep = ep->next)
    for (int v = 0; v < ep->cfg.n_variants; v++) {
      const char *values[] = {ep->name, ep->cfg.variants[v].name};
      for (size_t i = 0; i < N_KEPT_METRICS; i++)
        if (kept_metrics[i].dims & DIMS_VARIANT)
          list_add(all, ns, metric, &filters, kept_metrics[i].ns, kept_metrics[i].name,
                   variant_names, values, 2);
      for (size_t i = 0; i < N_RESERVATION_METRICS; i++)
        list_add(all, ns, metric, &filters, NS_ENDPOINTS, reservation_metrics[i].name,
                 variant_names, values, 2);
    }

  size_t n = json_array_size(all), startat = 0;
  if (token) {
    char *end;
    unsigned long long off = strtoull(token, &end, 10);
    if (*end != '\0' || end == token || off > n) {
      json_decref(all);
      return api_fail(e, 400, "InvalidNextToken",
                      "NextToken '%.64s' is not a token ListMetrics returned (or the metrics "
                      "have changed since): start again without NextToken", token);
    }
    startat = (size_t)off;
  }
  size_t stop = startat + LIST_PAGE < n ? startat + LIST_PAGE : n;
  json_t *page = json_array();
  for (size_t i = startat; i < stop; i++) json_array_append(page, json_array_get(all, i));
  json_decref(all);
  *resp = json_pack("{s:o}", "Metrics", page);
  if (stop < n) {
    char next[32];
    snprintf(next, sizeof next, "%zu", stop);
    json_object_set_new(*resp, "NextToken", json_string(next));
  }
  return 0;
}

/* ---- For alarms (alarms.c) ---- */

int cloudwatch_param_error(api_error *e, json_t *obj, const char *key) {
  return cw_error(e, obj, key);
}

int cloudwatch_check_dimensions(json_t *obj, const char *key, const char *path, api_error *e) {
  dims d;
  return parse_dims(obj, key, path, 0, &d, e);
}

int cloudwatch_datapoints(ctl *c, const char *ns, const char *metric, json_t *dimensions,
                          long long period, const char *stat, double start, double end,
                          double *ts, double *values, size_t max) {
  int known = 0;
  for (int k = 0; stat_names[k]; k++) known |= strcmp(stat_names[k], stat) == 0;
  if (!known || period <= 0) return -1;
  metric_query q;
  memset(&q, 0, sizeof q);
  q.ns = ns;
  q.metric = metric;
  q.period = period;
  q.start = start;
  q.end = end;
  size_t i;
  json_t *item;
  json_array_foreach(dimensions, i, item) {
    const char *name = json_string_value(json_object_get(item, "Name"));
    const char *value = json_string_value(json_object_get(item, "Value"));
    if (!name || !value || q.d.n == MAX_DIMENSIONS) return 0; /* selects nothing */
    q.d.name[q.d.n] = name;
    q.d.value[q.d.n] = value;
    q.d.n++;
  }
  point *pts = berth_xcalloc(points_needed(&q), sizeof *pts);
  const char *unit;
  size_t np = series(c, &q, ctl_clock(), pts, &unit);
  stat_kind sk = stat_of(stat);
  size_t n = 0;
  for (size_t k = 0; k < np && n < max; k++) {
    if (pts[k].ts < floor(start / (double)period) * (double)period || pts[k].ts >= end) continue;
    ts[n] = pts[k].ts;
    values[n] = stat_value(&pts[k], sk);
    n++;
  }
  free(pts);
  return (int)n;
}

/* ---- Dispatch ---- */

static const api_operation operations[] = {
  {"GetMetricData", get_metric_data},
  {"GetMetricStatistics", get_metric_statistics},
  {"ListMetrics", list_metrics},
};

int cloudwatch_call(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e) {
  return api_dispatch(operations, sizeof operations / sizeof operations[0],
                      "GraniteServiceVersion20100801", c, op, req, resp, e);
}

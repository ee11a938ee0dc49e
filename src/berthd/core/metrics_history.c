/* metrics_history: see metrics_history.h. */
#include "metrics_history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

static void record_clear(metrics_record *r) {
  latency_sparse_free(r->model);
  latency_sparse_free(r->overhead);
  r->model = r->overhead = NULL;
}

void metrics_history_free(metrics_history *h) {
  if (!h->ring) return;
  for (size_t i = 0; i < h->n; i++) record_clear(&h->ring[(h->head + i) % METRICS_HISTORY_BUCKETS]);
  free(h->ring);
  memset(h, 0, sizeof *h);
}

const metrics_record *metrics_history_at(const metrics_history *h, size_t i) {
  return i < h->n ? &h->ring[(h->head + i) % METRICS_HISTORY_BUCKETS] : NULL;
}

static void drop_oldest(metrics_history *h) {
  record_clear(&h->ring[h->head]);
  h->head = (h->head + 1) % METRICS_HISTORY_BUCKETS;
  h->n--;
}

void metrics_history_push(metrics_history *h, metrics_record *r) {
  if (h->n && !(r->start > metrics_history_at(h, h->n - 1)->start)) {
    record_clear(r);
    return;
  }
  if (!h->ring) h->ring = berth_xcalloc(METRICS_HISTORY_BUCKETS, sizeof *h->ring);
  while (h->n && metrics_history_at(h, 0)->start < r->start - METRICS_RETENTION_S) drop_oldest(h);
  if (h->n == METRICS_HISTORY_BUCKETS) drop_oldest(h);
  h->ring[(h->head + h->n) % METRICS_HISTORY_BUCKETS] = *r;
  h->n++;
  r->model = r->overhead = NULL;
}

size_t metrics_history_find(const metrics_history *h, double t) {
  size_t lo = 0, hi = h->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (metrics_history_at(h, mid)->start < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* The persisted members: counts, then sums and means, by offset. */
#define U32(f) {#f, offsetof(metrics_record, f), 'u'}
#define DBL(f) {#f, offsetof(metrics_record, f), 'd'}
#define FLT(f) {#f, offsetof(metrics_record, f), 'f'}
static const struct {
  const char *key;
  size_t off;
  char type;
} fields[] = {
  U32(invocations), U32(no_capacity), U32(model_errors), U32(errors_4xx), U32(errors_5xx),
  U32(latency_n), U32(waited), U32(setups), U32(copies), U32(instances), U32(usage_n), U32(gpu_n),
  DBL(model_latency_us), DBL(overhead_latency_us), DBL(wait_ms), DBL(setup_ms), DBL(concurrency),
  FLT(cpu_norm), FLT(mem_norm), FLT(gpu_norm), FLT(gpu_mem_norm), FLT(cpu_used),
  FLT(mem_used_mb), FLT(gpu_used), FLT(gpu_mem_used_mb), FLT(cap_cpu), FLT(cap_mem_mb),
  FLT(cap_gpu), FLT(cap_gpu_mem_mb),
};

static json_t *sparse_json(const latency_sparse *s) {
  json_t *a = json_array();
  for (uint16_t i = 0; s && i < s->n; i++)
    json_array_append_new(a, json_pack("[i,I]", s->b[i].bin, (json_int_t)s->b[i].count));
  return a;
}

json_t *metrics_record_json(const metrics_record *r) {
  json_t *j = json_pack("{s:f}", "start", r->start);
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    const char *p = (const char *)r + fields[i].off;
    double v = fields[i].type == 'u'   ? (double)*(const uint32_t *)p
             : fields[i].type == 'd' ? *(const double *)p
                                     : (double)*(const float *)p;
    if (v == 0) continue; /* most are: keep the rows small */
    json_object_set_new(j, fields[i].key,
                        fields[i].type == 'u' ? json_integer((json_int_t)v) : json_real(v));
  }
  if (r->model) json_object_set_new(j, "model_hist", sparse_json(r->model));
  if (r->overhead) json_object_set_new(j, "overhead_hist", sparse_json(r->overhead));
  return j;
}

static latency_sparse *sparse_parse(json_t *a) {
  if (!json_array_size(a)) return NULL;
  latency_hist h;
  memset(&h, 0, sizeof h);
  latency_hist_add_json(&h, a);
  return latency_sparse_of(&h);
}

int metrics_record_parse(json_t *j, metrics_record *r) {
  memset(r, 0, sizeof *r);
  json_t *start = json_object_get(j, "start");
  if (!json_is_number(start)) return -1;
  r->start = json_number_value(start);
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    double v = json_number_value(json_object_get(j, fields[i].key));
    if (!isfinite(v) || v < 0 || v > 1e18) v = 0;
    char *p = (char *)r + fields[i].off;
    if (fields[i].type == 'u') *(uint32_t *)p = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    else if (fields[i].type == 'd') *(double *)p = v;
    else *(float *)p = (float)v;
  }
  r->model = sparse_parse(json_object_get(j, "model_hist"));
  r->overhead = sparse_parse(json_object_get(j, "overhead_hist"));
  return 0;
}

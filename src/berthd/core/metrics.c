/* metrics: per-IC 10-second buckets. The bucket being filled is dense
 * (latency histograms included, so a router's delta carries them); when it
 * closes it becomes a compact metrics_record in the 24-hour history. */
#include "metrics.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "ctl.h"

ic_metrics *metrics_new(double now) {
  ic_metrics *m = berth_xcalloc(1, sizeof *m);
  scale_window_init(&m->window, now);
  m->cur.s.start = m->window.cur.start;
  return m;
}

void metrics_free(ic_metrics *m) {
  if (!m) return;
  metrics_history_free(&m->history);
  free(m);
}

void metrics_invocation(ic_metrics *m, int status, double model_us, double overhead_us) {
  m->cur.s.invocations++;
  m->acc_inv++;
  m->total_invocations++;
  if (status == 424) {
    m->cur.model_errors++;
    m->total_model_errors++;
  } else if (status >= 500) {
    m->cur.errors_5xx++;
  } else if (status >= 400) {
    m->cur.errors_4xx++;
  }
  if (status < 400 || status == 424) {
    m->cur.model_latency_us += model_us;
    m->cur.overhead_latency_us += overhead_us;
    m->cur.latency_n++;
    latency_hist_add(&m->cur.model_hist, model_us);
    latency_hist_add(&m->cur.overhead_hist, overhead_us);
    m->total_model_bins[latency_hist_bin(model_us)]++;
    m->total_overhead_bins[latency_hist_bin(overhead_us)]++;
    m->total_latency_n++;
    m->total_model_us += model_us;
    m->total_overhead_us += overhead_us;
    scale_window_served_one(&m->window, model_us / 1e6);
  }
}

void metrics_no_capacity(ic_metrics *m) {
  m->cur.s.no_capacity++;
  m->cur.errors_4xx++;
  m->acc_nocap++;
  m->total_no_capacity++;
}

void metrics_waited(ic_metrics *m, double wait_ms) {
  m->cur.wait_ms += wait_ms;
  m->cur.waited++;
  m->total_waited++;
  m->total_wait_ms += wait_ms;
}

void metrics_copy_ready(ic_metrics *m, double setup_ms) {
  m->cur.setup_ms += setup_ms;
  m->cur.setups++;
}

void metrics_held(ic_metrics *m, int waiting) {
  if (waiting < 0) waiting = 0;
  if (waiting > m->last_waiting) scale_window_held(&m->window, (uint32_t)(waiting - m->last_waiting));
  m->last_waiting = waiting;
}

void metrics_usage_sample(ic_metrics *m, const metrics_usage *u) {
  m->capacity = *u;
  if (u->has) {
    m->cur.usage_n++;
    m->cur.cpu_norm += u->cpu_norm;
    m->cur.mem_norm += u->mem_norm;
    m->cur.cpu_used += u->cpu_used;
    m->cur.mem_used_mb += u->mem_used_mb;
  }
  if (u->has_gpu) {
    m->cur.gpu_n++;
    m->cur.gpu_norm += u->gpu_norm;
    m->cur.gpu_mem_norm += u->gpu_mem_norm;
    m->cur.gpu_used += u->gpu_used;
    m->cur.gpu_mem_used_mb += u->gpu_mem_used_mb;
  }
}

/* The bucket b as the history keeps it. */
static void record_of(const ic_bucket *b, const metrics_usage *cap, metrics_record *r) {
  memset(r, 0, sizeof *r);
  r->start = b->s.start;
  r->invocations = b->s.invocations;
  r->no_capacity = b->s.no_capacity;
  r->model_errors = b->model_errors;
  r->errors_4xx = b->errors_4xx;
  r->errors_5xx = b->errors_5xx;
  r->latency_n = b->latency_n;
  r->waited = b->waited;
  r->setups = b->setups;
  r->copies = b->s.copies;
  r->instances = cap->instances;
  r->model_latency_us = b->model_latency_us;
  r->overhead_latency_us = b->overhead_latency_us;
  r->wait_ms = b->wait_ms;
  r->setup_ms = b->setup_ms;
  r->concurrency = b->s.concurrency_samples ? b->s.concurrency_sum / b->s.concurrency_samples : 0;
  r->usage_n = b->usage_n;
  r->gpu_n = b->gpu_n;
  if (b->usage_n) {
    double n = b->usage_n;
    r->cpu_norm = (float)(b->cpu_norm / n);
    r->mem_norm = (float)(b->mem_norm / n);
    r->cpu_used = (float)(b->cpu_used / n);
    r->mem_used_mb = (float)(b->mem_used_mb / n);
  }
  if (b->gpu_n) {
    double n = b->gpu_n;
    r->gpu_norm = (float)(b->gpu_norm / n);
    r->gpu_mem_norm = (float)(b->gpu_mem_norm / n);
    r->gpu_used = (float)(b->gpu_used / n);
    r->gpu_mem_used_mb = (float)(b->gpu_mem_used_mb / n);
  }
  r->cap_cpu = (float)cap->cap_cpu;
  r->cap_mem_mb = (float)cap->cap_mem_mb;
  r->cap_gpu = (float)cap->cap_gpu;
  r->cap_gpu_mem_mb = (float)cap->cap_gpu_mem_mb;
  r->model = latency_sparse_of(&b->model_hist);
  r->overhead = latency_sparse_of(&b->overhead_hist);
}

int metrics_sample(ic_metrics *m, double now, double concurrency, uint32_t copies) {
  m->cur.s.concurrency_sum += concurrency;
  m->cur.s.concurrency_samples++;
  int closed = scale_window_advance(&m->window, now, 1, m->acc_inv, m->acc_nocap, concurrency,
                                    copies);
  m->acc_inv = m->acc_nocap = 0;
  /* The window closed its buckets: these close with them. */
  for (int k = 0; k < closed; k++) {
    m->cur.s.copies = copies;
    metrics_record r;
    record_of(&m->cur, &m->capacity, &r);
    metrics_history_push(&m->history, &r);
    double next = m->cur.s.start + SCALE_BUCKET_S;
    memset(&m->cur, 0, sizeof m->cur);
    m->cur.s.start = next;
  }
  return closed;
}

const metrics_history *metrics_closed(const ic_metrics *m) {
  return &m->history;
}

void metrics_take(ic_metrics *m, ic_bucket *out) {
  *out = m->cur;
  double start = m->cur.s.start;
  memset(&m->cur, 0, sizeof m->cur);
  m->cur.s.start = start;
}

/* The counters a router's delta carries, in their wire order (counts,
 * then sums): one table for merging, writing and reading deltas. */
static const size_t delta_counts[] = {
  offsetof(ic_bucket, s.invocations), offsetof(ic_bucket, s.no_capacity),
  offsetof(ic_bucket, model_errors), offsetof(ic_bucket, errors_4xx),
  offsetof(ic_bucket, errors_5xx), offsetof(ic_bucket, latency_n), offsetof(ic_bucket, waited)};
static const size_t delta_sums[] = {offsetof(ic_bucket, model_latency_us),
                                    offsetof(ic_bucket, overhead_latency_us),
                                    offsetof(ic_bucket, wait_ms)};
#define N_COUNTS (sizeof delta_counts / sizeof delta_counts[0])
#define N_SUMS (sizeof delta_sums / sizeof delta_sums[0])

static uint32_t *count_at(ic_bucket *b, size_t i) {
  return (uint32_t *)((char *)b + delta_counts[i]);
}

static uint32_t count_of(const ic_bucket *b, size_t i) {
  return *(const uint32_t *)((const char *)b + delta_counts[i]);
}

static double *sum_at(ic_bucket *b, size_t i) {
  return (double *)((char *)b + delta_sums[i]);
}

static double sum_of(const ic_bucket *b, size_t i) {
  return *(const double *)((const char *)b + delta_sums[i]);
}

void metrics_merge(ic_metrics *m, const ic_bucket *d) {
  for (size_t i = 0; i < N_COUNTS; i++) *count_at(&m->cur, i) += count_of(d, i);
  for (size_t i = 0; i < N_SUMS; i++) *sum_at(&m->cur, i) += sum_of(d, i);
  latency_hist_merge(&m->cur.model_hist, &d->model_hist);
  latency_hist_merge(&m->cur.overhead_hist, &d->overhead_hist);
  for (int k = 0; k < LATENCY_HIST_BINS; k++) {
    m->total_model_bins[k] += d->model_hist.n[k];
    m->total_overhead_bins[k] += d->overhead_hist.n[k];
  }
  m->total_latency_n += d->latency_n;
  m->total_model_us += d->model_latency_us;
  m->total_overhead_us += d->overhead_latency_us;
  scale_window_served(&m->window, d->latency_n, d->model_latency_us / 1e6);
  /* As if each request had been counted here. */
  m->acc_inv += d->s.invocations;
  m->acc_nocap += d->s.no_capacity;
  m->total_invocations += d->s.invocations;
  m->total_no_capacity += d->s.no_capacity;
  m->total_model_errors += d->model_errors;
  m->total_waited += d->waited;
  m->total_wait_ms += d->wait_ms;
}

/* The wire form of a delta: the counts of delta_counts, then the sums of
 * delta_sums, then the model and overhead latency histograms
 * (latency_hist_json), as one array. */
json_t *metrics_delta_json(const ic_bucket *d) {
  json_t *a = json_array();
  for (size_t i = 0; i < N_COUNTS; i++) json_array_append_new(a, json_integer(count_of(d, i)));
  for (size_t i = 0; i < N_SUMS; i++) json_array_append_new(a, json_real(sum_of(d, i)));
  json_array_append_new(a, latency_hist_json(&d->model_hist));
  json_array_append_new(a, latency_hist_json(&d->overhead_hist));
  return a;
}

void metrics_delta_parse(json_t *j, ic_bucket *d) {
  memset(d, 0, sizeof *d);
  for (size_t i = 0; i < N_COUNTS; i++) {
    json_int_t v = json_integer_value(json_array_get(j, i));
    *count_at(d, i) = v > 0 && v < 100000000 ? (uint32_t)v : 0;
  }
  for (size_t i = 0; i < N_SUMS; i++) {
    double v = json_number_value(json_array_get(j, N_COUNTS + i));
    *sum_at(d, i) = v > 0 && v < 1e18 ? v : 0;
  }
  latency_hist_add_json(&d->model_hist, json_array_get(j, N_COUNTS + N_SUMS));
  latency_hist_add_json(&d->overhead_hist, json_array_get(j, N_COUNTS + N_SUMS + 1));
}

ic *metrics_merge_reported(ctl *c, json_t *entry) {
  ic *x = ctl_find_ic(c, json_string_value(json_object_get(entry, "name")));
  if (!x) return NULL;
  ic_bucket d;
  metrics_delta_parse(json_object_get(entry, "delta"), &d);
  metrics_merge(x->metrics, &d);
  return x;
}

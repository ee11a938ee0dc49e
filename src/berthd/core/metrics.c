/* metrics: per-IC 10-second buckets. */
#include "metrics.h"

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

void metrics_sample(ic_metrics *m, double now, double concurrency, uint32_t copies) {
  m->cur.s.concurrency_sum += concurrency;
  m->cur.s.concurrency_samples++;
  int closed = scale_window_advance(&m->window, now, 1, m->acc_inv, m->acc_nocap, concurrency,
                                    copies);
  m->acc_inv = m->acc_nocap = 0;
  /* The window closed its buckets: these close with them. */
  for (int k = 0; k < closed; k++) {
    m->cur.s.copies = copies;
    size_t at = (m->head + m->n) % SCALE_HISTORY;
    if (m->n == SCALE_HISTORY)
      m->head = (m->head + 1) % SCALE_HISTORY;
    else
      m->n++;
    m->ring[at] = m->cur;
    double next = m->cur.s.start + SCALE_BUCKET_S;
    memset(&m->cur, 0, sizeof m->cur);
    m->cur.s.start = next;
  }
}

const ic_bucket *metrics_bucket(const ic_metrics *m, size_t i) {
  return i < m->n ? &m->ring[(m->head + i) % SCALE_HISTORY] : NULL;
}

void metrics_take(ic_metrics *m, ic_bucket *out) {
  *out = m->cur;
  double start = m->cur.s.start;
  memset(&m->cur, 0, sizeof m->cur);
  m->cur.s.start = start;
}

void metrics_merge(ic_metrics *m, const ic_bucket *d) {
  ic_bucket *c = &m->cur;
  c->s.invocations += d->s.invocations;
  c->s.no_capacity += d->s.no_capacity;
  c->model_errors += d->model_errors;
  c->errors_4xx += d->errors_4xx;
  c->errors_5xx += d->errors_5xx;
  c->model_latency_us += d->model_latency_us;
  c->overhead_latency_us += d->overhead_latency_us;
  c->latency_n += d->latency_n;
  c->wait_ms += d->wait_ms;
  c->waited += d->waited;
  m->acc_inv += d->s.invocations;
  m->acc_nocap += d->s.no_capacity;
  m->total_invocations += d->s.invocations;
  m->total_no_capacity += d->s.no_capacity;
  m->total_model_errors += d->model_errors;
  m->total_waited += d->waited;
  m->total_wait_ms += d->wait_ms;
}

/* The wire form of a delta: [invocations, no_capacity, model_errors,
 * errors_4xx, errors_5xx, model_latency_us, overhead_latency_us,
 * latency_n, wait_ms, waited]. */
json_t *metrics_delta_json(const ic_bucket *d) {
  return json_pack("[i,i,i,i,i,f,f,i,f,i]", (int)d->s.invocations, (int)d->s.no_capacity,
                   (int)d->model_errors, (int)d->errors_4xx, (int)d->errors_5xx,
                   d->model_latency_us, d->overhead_latency_us, (int)d->latency_n, d->wait_ms,
                   (int)d->waited);
}

void metrics_delta_parse(json_t *j, ic_bucket *d) {
  memset(d, 0, sizeof *d);
  uint32_t *u[] = {&d->s.invocations, &d->s.no_capacity, &d->model_errors, &d->errors_4xx,
                   &d->errors_5xx};
  for (size_t i = 0; i < 5; i++) {
    json_int_t v = json_integer_value(json_array_get(j, i));
    *u[i] = v > 0 && v < 100000000 ? (uint32_t)v : 0;
  }
  d->model_latency_us = json_number_value(json_array_get(j, 5));
  d->overhead_latency_us = json_number_value(json_array_get(j, 6));
  json_int_t n = json_integer_value(json_array_get(j, 7));
  d->latency_n = n > 0 && n < 100000000 ? (uint32_t)n : 0;
  d->wait_ms = json_number_value(json_array_get(j, 8));
  json_int_t w = json_integer_value(json_array_get(j, 9));
  d->waited = w > 0 && w < 100000000 ? (uint32_t)w : 0;
}

ic *metrics_merge_reported(ctl *c, json_t *entry) {
  ic *x = ctl_find_ic(c, json_string_value(json_object_get(entry, "name")));
  if (!x) return NULL;
  ic_bucket d;
  metrics_delta_parse(json_object_get(entry, "delta"), &d);
  metrics_merge(x->metrics, &d);
  return x;
}

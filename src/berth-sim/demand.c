/* demand: per-bucket work and the fluid lower bound (see demand.h).
 *
 * The in-service count of each model is tracked exactly, with a heap of
 * departures, so the bound is the integral of a step function, not an
 * estimate from buckets. */
#include "demand.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/buf.h"
#include "heap.h"
#include "traffic.h"

#define N_RES 4

typedef struct fluid {
  const scenario *s;
  sim_demand *d;
  double cap[N_RES];
  double (*need)[N_RES];
  int *in_service, *copies;
  double sum[N_RES];
  double last_t, integral;
} fluid;

static double fluid_now(const fluid *f) {
  double x = 0;
  for (int r = 0; r < N_RES; r++)
    if (f->cap[r] > 0 && f->sum[r] / f->cap[r] > x) x = f->sum[r] / f->cap[r];
  return x;
}

/* Integrates the current fluid instance count from last_t to t. */
static void fluid_advance(fluid *f, double t) {
  double end = f->s->duration_s;
  if (t > end) t = end;
  if (t <= f->last_t) return;
  double x = fluid_now(f), a = f->last_t;
  f->integral += x * (t - a);
  double ss = f->s->sample_s;
  while (a < t) {
    size_t k = (size_t)(a / ss);
    double b = (double)(k + 1) * ss;
    if (b > t) b = t;
    if (k < f->d->n_samples) f->d->fluid_instances[k] += (float)(x * (b - a) / ss);
    a = b;
  }
  f->last_t = t;
}

static void fluid_set(fluid *f, size_t m) {
  const scn_model *mm = &f->s->models[m];
  int c = (f->in_service[m] + mm->max_concurrency - 1) / mm->max_concurrency;
  if (c < mm->min_copies) c = mm->min_copies;
  if (c == f->copies[m]) return;
  for (int r = 0; r < N_RES; r++) f->sum[r] += (double)(c - f->copies[m]) * f->need[m][r];
  f->copies[m] = c;
}

int demand_compute(const scenario *s, sim_demand *d, char *err, size_t errsz) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  memset(d, 0, sizeof *d);
  d->n_models = s->n_models;
  d->n_buckets = (size_t)ceil(s->duration_s / DEMAND_BUCKET_S);
  d->work = berth_xcalloc(d->n_buckets * d->n_models, sizeof *d->work);
  d->invocations = berth_xcalloc(d->n_buckets * d->n_models, sizeof *d->invocations);
  d->model_requests = berth_xcalloc(d->n_models, sizeof *d->model_requests);
  d->n_samples = (size_t)ceil(s->duration_s / s->sample_s);
  d->fluid_instances = berth_xcalloc(d->n_samples, sizeof *d->fluid_instances);

  const berth_instance_type *t = &s->types[s->endpoint_type];
  fluid f;
  memset(&f, 0, sizeof f);
  f.s = s;
  f.d = d;
  f.cap[0] = (double)t->vcpus * 1000;
  f.cap[1] = (double)t->memory_mib;
  f.cap[2] = (double)t->accelerators * 1000;
  f.cap[3] = (double)t->accelerators * (double)t->accelerator_memory_mib;
  f.need = berth_xcalloc(s->n_models, sizeof *f.need);
  f.in_service = berth_xcalloc(s->n_models, sizeof *f.in_service);
  f.copies = berth_xcalloc(s->n_models, sizeof *f.copies);
  for (size_t m = 0; m < s->n_models; m++) {
    const sched_need *n = &s->models[m].need;
    f.need[m][0] = (double)n->cpu_milli;
    f.need[m][1] = (double)n->mem_mb;
    f.need[m][2] = (double)n->dev_milli;
    double devs = n->dev_milli > 1000 ? (double)n->dev_milli / 1000 : 1;
    f.need[m][3] = n->dev_milli > 0 ? (double)n->dev_mem_mb * devs : 0;
    fluid_set(&f, m);
  }

  d->cached = 1;
  traffic *tr;
  int rc = traffic_open(&tr, s, err, errsz);
  if (rc) goto out;
  event_heap dep;
  heap_init(&dep, (size_t)1 << 30);
  sim_request r;
  while ((rc = traffic_next(tr, &r, err, errsz)) == 1) {
    sim_event e;
    while (heap_top(&dep) && heap_top(&dep)->t <= r.t) {
      heap_pop(&dep, &e);
      fluid_advance(&f, e.t);
      f.in_service[e.id]--;
      fluid_set(&f, (size_t)e.id);
    }
    const scn_model *m = &s->models[r.model];
    double svc = scn_service_time(m, r.in_tokens, r.out_tokens);
    fluid_advance(&f, r.t);
    f.in_service[r.model]++;
    fluid_set(&f, (size_t)r.model);
    heap_push(&dep, r.t + svc, 0, r.model);
    if (d->cached) {
      if (d->requests >= DEMAND_CACHE_MAX) {
        free(d->cache);
        d->cache = NULL;
        d->cached = 0;
      } else {
        if ((d->requests & (d->requests - 1)) == 0)
          d->cache = berth_xrealloc(d->cache, (d->requests ? 2 * d->requests : 1024) * sizeof *d->cache);
        d->cache[d->requests] = r;
      }
    }
    d->requests++;
    d->model_requests[r.model]++;
    /* work split over the buckets the request spans */
    double a = r.t, b = r.t + svc;
    while (a < b) {
      size_t k = (size_t)(a / DEMAND_BUCKET_S);
      double e2 = (double)(k + 1) * DEMAND_BUCKET_S;
      if (e2 > b) e2 = b;
      if (k >= d->n_buckets) break;
      d->work[k * d->n_models + (size_t)r.model] += (float)(e2 - a);
      a = e2;
    }
    size_t k = (size_t)(r.t / DEMAND_BUCKET_S);
    if (k < d->n_buckets) d->invocations[k * d->n_models + (size_t)r.model] += 1;
  }
  if (rc == 0) {
    sim_event e;
    while (heap_pop(&dep, &e)) {
      fluid_advance(&f, e.t);
      f.in_service[e.id]--;
      fluid_set(&f, (size_t)e.id);
    }
    fluid_advance(&f, s->duration_s);
    d->fluid_instance_hours = f.integral / 3600.0;
    d->fluid_cost = d->fluid_instance_hours * t->price_per_hour;
  }
  heap_free(&dep);
  traffic_close(tr);
out:
  free(f.need);
  free(f.in_service);
  free(f.copies);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  d->wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  if (rc < 0) {
    demand_free(d);
    return rc;
  }
  return 0;
}

int demand_copies(const scenario *s, const sim_demand *d, size_t i, size_t first, size_t n) {
  const scn_model *m = &s->models[i];
  double work = 0, inv = 0, span = 0;
  for (size_t k = first; k < first + n && k < d->n_buckets; k++) {
    work += d->work[k * d->n_models + i];
    inv += d->invocations[k * d->n_models + i];
    span += DEMAND_BUCKET_S;
  }
  if (span <= 0) return m->min_copies;
  double v = m->metric == SCALE_METRIC_INVOCATIONS_PER_COPY ? inv * 60.0 / span  /* per minute */
                                                            : work / span;      /* concurrency */
  int c = (int)ceil(v / m->target - 1e-9);
  if (c < m->min_copies) c = m->min_copies;
  if (c > m->max_copies) c = m->max_copies;
  return c;
}

void demand_free(sim_demand *d) {
  free(d->work);
  free(d->invocations);
  free(d->model_requests);
  free(d->fluid_instances);
  free(d->cache);
  memset(d, 0, sizeof *d);
}

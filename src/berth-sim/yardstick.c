/* yardstick: the SageMaker baseline's type and the dedicated baseline's
 * hindsight size (see yardstick.h).
 *
 * DESIGN: dedicated endpoints do not interact, so each model's size is found
 * on a one-model copy of the scenario with only that model's requests,
 * replayed by sim_run itself (the same service, batching and routing as the
 * full run). Within-SLO share only grows with copies, so a binary search
 * over the copy count finds the fewest; models are sized on as many threads
 * as there are CPUs, each reading the shared scenario and demand only. */
#include "yardstick.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/sched.h"
#include "sim.h"

#define MAX_DEDICATED_COPIES 4096   /* doubling stops here: the model is unservable */

/* A copy's need as SageMaker allocates it: whole accelerators. */
static sched_need whole_need(const sched_need *n) {
  sched_need w = *n;
  if (w.dev_milli > 0) w.dev_milli = (w.dev_milli + 999) / 1000 * 1000;
  return w;
}

int sagemaker_choose_type(const scenario *s) {
  if (s->sagemaker_type >= 0) return s->sagemaker_type;
  int accel = 0;
  for (size_t m = 0; m < s->n_models; m++)
    if (s->models[m].need.dev_milli > 0) accel = 1;
  int best = -1;
  double best_unit = INFINITY;
  for (size_t t = 0; t < s->n_types; t++) {
    const berth_instance_type *ty = &s->types[t];
    sched_instance in = sched_capacity(ty);
    int all = 1;
    for (size_t m = 0; m < s->n_models && all; m++) {
      sched_need w = whole_need(&s->models[m].need);
      if (!sched_fits_empty(&in, &w)) all = 0;
    }
    int units = accel ? ty->accelerators : ty->vcpus;
    if (!all || units <= 0) continue;
    double unit = ty->price_per_hour / units;
    int better = unit < best_unit * (1 - 1e-9);
    if (!better && best >= 0 && unit <= best_unit * (1 + 1e-9))
      better = (int)t == s->endpoint_type ||
               (best != s->endpoint_type && ty->price_per_hour < s->types[best].price_per_hour);
    if (better) {
      best = (int)t;
      best_unit = unit;
    }
  }
  return best >= 0 ? best : s->endpoint_type;
}

/* The model alone: a one-model scenario and its requests. */
typedef struct alone {
  scenario s;
  scn_model m;
  sim_demand d;
} alone;

/* first[m] .. first[m + 1] index by_model: the cache's requests of model m,
 * in order (one counting sort, not one pass over the cache per model). */
typedef struct by_model { size_t *first, *idx; } by_model;

static void by_model_init(by_model *b, const sim_demand *d) {
  b->first = berth_xcalloc(d->n_models + 1, sizeof *b->first);
  b->idx = berth_xcalloc(d->requests ? d->requests : 1, sizeof *b->idx);
  for (size_t i = 0; i < d->requests; i++) b->first[(size_t)d->cache[i].model + 1]++;
  for (size_t m = 0; m < d->n_models; m++) b->first[m + 1] += b->first[m];
  size_t *fill = berth_xcalloc(d->n_models ? d->n_models : 1, sizeof *fill);
  for (size_t i = 0; i < d->requests; i++) {
    size_t m = (size_t)d->cache[i].model;
    b->idx[b->first[m] + fill[m]++] = i;
  }
  free(fill);
}

static void alone_init(alone *a, const scenario *s, const sim_demand *d, const by_model *b,
                       size_t m) {
  memset(a, 0, sizeof *a);
  a->s = *s;
  a->m = s->models[m];
  a->s.models = &a->m;
  a->s.n_models = 1;
  sim_demand *o = &a->d;
  o->n_models = 1;
  o->n_buckets = d->n_buckets;
  o->work = berth_xcalloc(d->n_buckets ? d->n_buckets : 1, sizeof *o->work);
  o->invocations = berth_xcalloc(d->n_buckets ? d->n_buckets : 1, sizeof *o->invocations);
  for (size_t k = 0; k < d->n_buckets; k++) {
    o->work[k] = d->work[k * d->n_models + m];
    o->invocations[k] = d->invocations[k * d->n_models + m];
  }
  o->model_requests = berth_xcalloc(1, sizeof *o->model_requests);
  o->requests = b->first[m + 1] - b->first[m];
  o->model_requests[0] = o->requests;
  o->n_samples = d->n_samples;
  o->fluid_instances = berth_xcalloc(d->n_samples ? d->n_samples : 1, sizeof *o->fluid_instances);
  o->cache = berth_xcalloc(o->requests ? o->requests : 1, sizeof *o->cache);
  for (size_t n = 0; n < o->requests; n++) {
    o->cache[n] = d->cache[b->idx[b->first[m] + n]];
    o->cache[n].model = 0;
  }
  o->cached = 1;
}

/* 1 when n copies keep the model within DEDICATED_SLO_FRACTION, 0 when not,
 * a negative errno code on failure. */
static int enough(alone *a, int n, char *err, size_t errsz) {
  a->m.dedicated_copies = n;
  sim_result r;
  int rc = sim_run(&a->s, &a->d, POLICY_DEDICATED, &r, err, errsz);
  if (rc) return rc;
  int ok = r.requests == 0 ||
           (double)r.in_slo >= DEDICATED_SLO_FRACTION * (double)r.requests - 1e-9;
  sim_result_free(&r);
  return ok;
}

/* The peak-demand size sim.c would use, where the search starts. */
static int peak_size(const scenario *s, const sim_demand *d, size_t m) {
  size_t w = (size_t)(s->dedicated_peak_window_s / DEMAND_BUCKET_S);
  if (w < 1) w = 1;
  int peak = 1;
  for (size_t k = 0; k < d->n_buckets; k += w) {
    int c = demand_copies(s, d, m, k, w);
    if (c > peak) peak = c;
  }
  return peak;
}

static int size_one(scenario *s, const sim_demand *d, const by_model *b, size_t m, char *err,
                    size_t errsz) {
  alone a;
  alone_init(&a, s, d, b, m);
  int lo = s->models[m].min_copies > 1 ? s->models[m].min_copies : 1;
  int hi = peak_size(s, d, m);
  if (hi < lo) hi = lo;
  int rc;
  /* Grow until enough; then the answer lies in [lo, hi]. */
  while ((rc = enough(&a, hi, err, errsz)) == 0) {
    lo = hi + 1;
    if (hi >= MAX_DEDICATED_COPIES) break;
    hi = hi * 2 > MAX_DEDICATED_COPIES ? MAX_DEDICATED_COPIES : hi * 2;
  }
  if (rc >= 0 && rc == 1) {
    while (lo < hi) {
      int mid = lo + (hi - lo) / 2;
      if ((rc = enough(&a, mid, err, errsz)) < 0) break;
      if (rc) hi = mid; else lo = mid + 1;
    }
  }
  s->models[m].dedicated_copies = hi;
  free(a.d.work);
  free(a.d.invocations);
  free(a.d.model_requests);
  free(a.d.fluid_instances);
  free(a.d.cache);
  return rc < 0 ? rc : 0;
}

typedef struct sizing {
  scenario *s;
  const sim_demand *d;
  by_model b;
  size_t next;
  int rc;
  char err[1024];
  pthread_mutex_t lock;
} sizing;

static void *size_worker(void *arg) {
  sizing *z = arg;
  char err[1024] = "";
  for (;;) {
    pthread_mutex_lock(&z->lock);
    size_t m = z->next++;
    int stop = z->rc != 0;
    pthread_mutex_unlock(&z->lock);
    if (stop || m >= z->s->n_models) return NULL;
    int rc = size_one(z->s, z->d, &z->b, m, err, sizeof err);
    if (rc) {
      pthread_mutex_lock(&z->lock);
      if (!z->rc) {
        z->rc = rc;
        snprintf(z->err, sizeof z->err, "sizing dedicated for model \"%.64s\": %.900s", z->s->models[m].name, err);
      }
      pthread_mutex_unlock(&z->lock);
    }
  }
}

int yardstick_size_dedicated(scenario *s, const sim_demand *d, char *err, size_t errsz) {
  if (s->dedicated_sizing != DEDICATED_SIZING_SLO || !d->cached) return 0;
  static sizing z;
  memset(&z, 0, sizeof z);
  z.s = s;
  z.d = d;
  by_model_init(&z.b, d);
  pthread_mutex_init(&z.lock, NULL);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  enum { MAX_THREADS = 16 };
  pthread_t th[MAX_THREADS];
  int n = 0;
  for (long i = 1; i < cpus && i < MAX_THREADS && (size_t)i < s->n_models; i++)
    if (pthread_create(&th[n], NULL, size_worker, &z) == 0) n++;
  size_worker(&z);
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  pthread_mutex_destroy(&z.lock);
  free(z.b.first);
  free(z.b.idx);
  if (z.rc) snprintf(err, errsz, "%s", z.err);
  return z.rc;
}

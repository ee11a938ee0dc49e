/* demand: per-bucket work and the fluid lower bound (see demand.h).
 *
 * The in-service count of each model is tracked exactly, with a heap of
 * departures, so the bound is the integral of a step function, not an
 * estimate from buckets.
 *
 * DESIGN: the cheapest fractional mix of the listed types at one moment is
 * a linear program, min sum_t price_t x_t subject to covering each
 * resource's demand. Its feasible region changes with the demand, but its
 * dual, max D.u over {u >= 0, sum_j cap_tj u_j <= price_t}, does not: only
 * the objective does. So the dual polytope's vertices are enumerated once
 * (a handful: a few types, four resources per fit class) and the bound at
 * any moment is the largest D.u over them, a few dozen multiply-adds per
 * change of the copy counts instead of an LP solve. */
#include "demand.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/buf.h"
#include "heap.h"
#include "traffic.h"

#define N_RES 4
#define MAX_ROWS 32                /* fit classes x resources kept in the LP */
#define MAX_SUBSETS 2000000        /* vertex enumeration budget */

/* The LP of one moment: rows j are (fit class, resource) covering
 * constraints; a model's copies count in every row whose class contains all
 * the types the copy fits (they must sit on those types). */
typedef struct fluid_lp {
  size_t n_rows, n_vert;
  double cap[SCN_MAX_TYPES][MAX_ROWS];  /* capacity of type t in row j */
  double *vert;                         /* [n_vert * n_rows] dual vertices */
} fluid_lp;

typedef struct fluid {
  const scenario *s;
  sim_demand *d;
  fluid_lp lp;
  double (*need)[N_RES];
  uint32_t *rows_of;                    /* [model]: bitmask of classes it counts in */
  int *row_res;                         /* [row]: the resource it covers */
  int *in_service, *copies;
  double sum[MAX_ROWS];
  double last_t, integral, cost_now;
  int dirty;
} fluid;

/* Capacity of resource r on one instance of t, after the host's reserve. */
static double type_cap(const berth_instance_type *t, int r) {
  sched_instance in = sched_capacity(t);
  switch (r) {
  case 0: return (double)in.cpu_milli;
  case 1: return (double)in.mem_mb;
  case 2: return (double)in.n_devices * 1000;
  default: return (double)in.n_devices * (double)in.dev_mem_mb;
  }
}

/* Solves the k x k system a u = b in place (partial pivoting); 0 when
 * singular. */
static int solve(double *a, double *b, size_t k) {
  for (size_t c = 0; c < k; c++) {
    size_t p = c;
    for (size_t r = c + 1; r < k; r++)
      if (fabs(a[r * k + c]) > fabs(a[p * k + c])) p = r;
    if (fabs(a[p * k + c]) < 1e-12) return 0;
    if (p != c) {
      for (size_t j = 0; j < k; j++) {
        double t = a[c * k + j];
        a[c * k + j] = a[p * k + j];
        a[p * k + j] = t;
      }
      double t = b[c];
      b[c] = b[p];
      b[p] = t;
    }
    for (size_t r = 0; r < k; r++) {
      if (r == c) continue;
      double f = a[r * k + c] / a[c * k + c];
      if (f == 0) continue;
      for (size_t j = c; j < k; j++) a[r * k + j] -= f * a[c * k + j];
      b[r] -= f * b[c];
    }
  }
  for (size_t c = 0; c < k; c++) b[c] /= a[c * k + c];
  return 1;
}

/* Enumerates the vertices of {u >= 0, cap_t . u <= price_t for every t}:
 * every choice of k tight constraints among the n_types + k, kept when
 * feasible. Returns 0, or -E2BIG past MAX_SUBSETS (the caller then merges
 * the classes, a looser but still valid bound). */
static int lp_vertices(fluid_lp *lp, const scenario *s) {
  size_t k = lp->n_rows, n = s->n_types + k;
  double binom = 1;
  for (size_t i = 0; i < k; i++) binom = binom * (double)(n - i) / (double)(i + 1);
  if (binom > MAX_SUBSETS) return -E2BIG;
  size_t *pick = berth_xcalloc(k ? k : 1, sizeof *pick);
  double *a = berth_xcalloc(k * k + 1, sizeof *a), *b = berth_xcalloc(k + 1, sizeof *b);
  size_t cap_vert = 64;
  lp->vert = berth_xcalloc(cap_vert * (k ? k : 1), sizeof *lp->vert);
  lp->n_vert = 0;
  for (size_t i = 0; i < k; i++) pick[i] = i;
  for (;;) {
    for (size_t i = 0; i < k; i++) {
      size_t c = pick[i];
      for (size_t j = 0; j < k; j++)
        a[i * k + j] = c < s->n_types ? lp->cap[c][j] : (c - s->n_types == j ? 1.0 : 0.0);
      b[i] = c < s->n_types ? s->types[c].price_per_hour : 0;
    }
    int ok = solve(a, b, k);
    for (size_t j = 0; ok && j < k; j++) {
      if (b[j] < -1e-12) ok = 0;
      if (b[j] < 0) b[j] = 0;
    }
    for (size_t t = 0; ok && t < s->n_types; t++) {
      double x = 0;
      for (size_t j = 0; j < k; j++) x += lp->cap[t][j] * b[j];
      if (x > s->types[t].price_per_hour * (1 + 1e-9) + 1e-12) ok = 0;
    }
    if (ok) {
      if (lp->n_vert == cap_vert) {
        cap_vert *= 2;
        lp->vert = berth_xrealloc(lp->vert, cap_vert * k * sizeof *lp->vert);
      }
      memcpy(&lp->vert[lp->n_vert * k], b, k * sizeof *b);
      lp->n_vert++;
    }
    /* next k-subset of n, in lexicographic order */
    size_t i = k;
    while (i > 0 && pick[i - 1] == n - k + i - 1) i--;
    if (i == 0) break;
    pick[i - 1]++;
    for (size_t j = i; j < k; j++) pick[j] = pick[j - 1] + 1;
  }
  free(pick);
  free(a);
  free(b);
  return 0;
}

/* Builds the LP rows: one fit class per distinct set of types a model's copy
 * fits (or a single class of all types when merged), each with the
 * resources some type of the class has. */
static void lp_build(fluid *f, int merge) {
  const scenario *s = f->s;
  fluid_lp *lp = &f->lp;
  uint32_t classes[MAX_ROWS];
  size_t n_class = 0;
  uint32_t *fit = berth_xcalloc(s->n_models ? s->n_models : 1, sizeof *fit);
  for (size_t m = 0; m < s->n_models; m++) {
    for (size_t t = 0; t < s->n_types; t++) {
      sched_instance in = sched_capacity(&s->types[t]);
      if (sched_fits_empty(&in, &s->models[m].need)) fit[m] |= 1u << t;
    }
    if (merge) fit[m] = s->n_types >= 32 ? UINT32_MAX : (1u << s->n_types) - 1;
    size_t c = 0;
    while (c < n_class && classes[c] != fit[m]) c++;
    if (c == n_class && n_class * N_RES < MAX_ROWS) classes[n_class++] = fit[m];
  }
  memset(lp->cap, 0, sizeof lp->cap);
  lp->n_rows = 0;
  uint32_t row_class[MAX_ROWS];
  for (size_t c = 0; c < n_class; c++)
    for (int r = 0; r < N_RES; r++) {
      int any = 0;
      for (size_t t = 0; t < s->n_types; t++)
        if ((classes[c] >> t & 1) && type_cap(&s->types[t], r) > 0) any = 1;
      if (!any) continue;   /* no model of the class needs r (it fits there) */
      size_t j = lp->n_rows++;
      row_class[j] = classes[c];
      f->row_res[j] = r;
      for (size_t t = 0; t < s->n_types; t++)
        if (classes[c] >> t & 1) lp->cap[t][j] = type_cap(&s->types[t], r);
    }
  /* A model counts in row j when every type it fits is in j's class. A
   * model whose class was dropped (over MAX_ROWS) still counts in the
   * classes that contain its fit set, so the bound stays valid. */
  for (size_t m = 0; m < s->n_models; m++) {
    f->rows_of[m] = 0;
    for (size_t j = 0; j < lp->n_rows; j++)
      if ((fit[m] & ~row_class[j]) == 0) f->rows_of[m] |= 1u << j;
  }
  free(fit);
}

static double fluid_now(fluid *f) {
  if (!f->dirty) return f->cost_now;
  const fluid_lp *lp = &f->lp;
  double best = 0;
  for (size_t v = 0; v < lp->n_vert; v++) {
    const double *u = &lp->vert[v * lp->n_rows];
    double x = 0;
    for (size_t j = 0; j < lp->n_rows; j++) x += f->sum[j] * u[j];
    if (x > best) best = x;
  }
  f->cost_now = best;
  f->dirty = 0;
  return best;
}

/* Integrates the current fluid instance count from last_t to t. */
static void fluid_advance(fluid *f, double t) {
  double end = f->s->duration_s;
  if (t > end) t = end;
  if (t <= f->last_t) return;
  /* In endpoint-instance equivalents: the cheapest mix's cost per hour
   * over one endpoint instance's price. */
  double cost = fluid_now(f), a = f->last_t;
  double ep = f->s->types[f->s->endpoint_type].price_per_hour;
  double x = ep > 0 ? cost / ep : 0;
  f->integral += cost * (t - a);
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
  for (size_t j = 0; j < f->lp.n_rows; j++)
    if (f->rows_of[m] >> j & 1) f->sum[j] += (double)(c - f->copies[m]) * f->need[m][f->row_res[j]];
  f->copies[m] = c;
  f->dirty = 1;
}

int demand_compute(const scenario *s, sim_demand *d, char *err, size_t errsz) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = 0;
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
  f.rows_of = berth_xcalloc(s->n_models ? s->n_models : 1, sizeof *f.rows_of);
  f.row_res = berth_xcalloc(MAX_ROWS, sizeof *f.row_res);
  lp_build(&f, 0);
  if (lp_vertices(&f.lp, s) < 0) {
    lp_build(&f, 1);
    if (lp_vertices(&f.lp, s) < 0) {
      rc = -E2BIG;
      snprintf(err, errsz, "fluid bound: %zu instance types make too large an LP; list fewer", s->n_types);
      goto out;
    }
  }
  f.dirty = 1;
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
  rc = traffic_open(&tr, s, err, errsz);
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
    d->fluid_cost = f.integral / 3600.0;
    d->fluid_instance_hours = t->price_per_hour > 0 ? d->fluid_cost / t->price_per_hour : 0;
  }
  heap_free(&dep);
  traffic_close(tr);
out:
  free(f.lp.vert);
  free(f.rows_of);
  free(f.row_res);
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

/* history: see history.h. */
#include "history.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "traffic.h"

/* Buckets ahead of the newest arrival a request's service may reach: 640 s,
 * beyond any shipped model's service time; longer service is cut there. */
#define AHEAD 64

typedef struct model_acc {
  size_t base;                  /* oldest bucket not yet emitted */
  double work[AHEAD];           /* request-seconds, by bucket - base (ring at base) */
  uint32_t inv[AHEAD];
} model_acc;

static void emit_until(model_acc *a, size_t model, size_t k, size_t n_buckets, double season_s,
                       history_bucket_cb cb, void *arg) {
  if (k > n_buckets) k = n_buckets;
  while (a->base < k) {
    size_t slot = a->base % AHEAD;
    scale_bucket b = {0};
    b.start = (double)a->base * SCALE_BUCKET_S - season_s;
    b.invocations = a->inv[slot];
    b.concurrency_sum = a->work[slot];
    b.concurrency_samples = SCALE_BUCKET_S;
    cb(arg, model, &b);
    a->work[slot] = 0;
    a->inv[slot] = 0;
    a->base++;
  }
}

int history_preroll(const scenario *s, double season_s, history_bucket_cb cb, void *arg,
                    char *err, size_t errsz) {
  if (s->traffic != TRAFFIC_GENERATOR || s->n_models == 0) return 0;
  scenario *two = berth_xmalloc(sizeof *two);
  *two = *s; /* models shared, read-only */
  two->duration_s = 2 * season_s;
  size_t n_buckets = (size_t)ceil(season_s / SCALE_BUCKET_S);
  model_acc *acc = berth_xcalloc(s->n_models, sizeof *acc);
  traffic *tr = NULL;
  int rc = traffic_open(&tr, two, err, errsz);
  if (rc) goto out;
  sim_request r;
  while ((rc = traffic_next(tr, &r, err, errsz)) == 1) {
    if (r.t < season_s || r.model < 0 || (size_t)r.model >= s->n_models) continue;
    double t = r.t - season_s;
    size_t k = (size_t)(t / SCALE_BUCKET_S);
    if (k >= n_buckets) break;
    model_acc *a = &acc[r.model];
    emit_until(a, (size_t)r.model, k, n_buckets, season_s, cb, arg);
    a->inv[k % AHEAD]++;
    /* Spread the service over the buckets it spans. */
    const scn_model *m = &s->models[r.model];
    double from = t, to = t + scn_service_time(m, r.in_tokens, r.out_tokens);
    for (size_t j = k; j < k + AHEAD && j < n_buckets && from < to; j++) {
      double end = (double)(j + 1) * SCALE_BUCKET_S;
      double upto = to < end ? to : end;
      a->work[j % AHEAD] += upto - from;
      from = upto;
    }
  }
  if (rc < 0) goto out;
  rc = 0;
  for (size_t m = 0; m < s->n_models; m++) emit_until(&acc[m], m, n_buckets, n_buckets, season_s, cb, arg);
out:
  if (tr) traffic_close(tr);
  free(acc);
  free(two);
  return rc;
}

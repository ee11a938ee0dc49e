/* fleet: managed instance scaling decisions (see fleet.h). */
#include "fleet.h"

#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

static double share(int64_t used, int64_t cap) { return cap > 0 ? (double)used / (double)cap : 0; }

double fleet_utilization(const sched_instance *in) {
  double u = share(in->cpu_milli_used, in->cpu_milli);
  double m = share(in->mem_mb_used, in->mem_mb);
  if (m > u) u = m;
  if (in->n_devices > 0) {
    int64_t d = 0, dm = 0;
    for (int i = 0; i < in->n_devices; i++) {
      d += in->dev_milli_used[i];
      dm += in->dev_mem_mb_used[i];
    }
    double x = share(d, (int64_t)in->n_devices * 1000);
    if (x > u) u = x;
    x = share(dm, (int64_t)in->n_devices * in->dev_mem_mb);
    if (x > u) u = x;
  }
  return u;
}

int fleet_launch_count(const fleet_config *cfg, const sched_instance *empty, int n_starting,
                       int n_total, const sched_need *pending, size_t n_pending,
                       sched_strategy strategy) {
  int room = cfg->max_instances - n_total;
  if (n_pending == 0 || room <= 0) return 0;
  size_t fit = 0;
  for (size_t i = 0; i < n_pending; i++) fit += sched_fits_empty(empty, &pending[i]) != 0;
  if (!fit) return 0;
  /* Each copy fits alone on an empty instance, so n_starting + fit
   * instances always suffice; search the fewest by doubling then bisection. */
  size_t cap = (size_t)n_starting + fit;
  sched_instance *insts = berth_xmalloc(cap * sizeof *insts);
  sched_assignment *out = berth_xmalloc(n_pending * sizeof *out);
  uint32_t *ic = berth_xcalloc(n_pending, sizeof *ic);
  sched_need *needs = berth_xmalloc(n_pending * sizeof *needs);
  size_t nn = 0;
  for (size_t i = 0; i < n_pending; i++)
    if (sched_fits_empty(empty, &pending[i])) needs[nn++] = pending[i];
  for (size_t i = 0; i < nn; i++) ic[i] = (uint32_t)i; /* distinct: SPREAD must not matter */
  size_t lo = 0, hi = fit;             /* answer in [lo, hi] new instances */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    size_t k = (size_t)n_starting + mid;
    for (size_t i = 0; i < k; i++) {
      insts[i] = *empty;
      insts[i].accepting = 1;
    }
    int placed = k ? sched_place_all(insts, k, needs, ic, nn, nn, strategy, out) : 0;
    if (placed == (int)nn) hi = mid; else lo = mid + 1;
  }
  free(insts);
  free(out);
  free(ic);
  free(needs);
  return (int)lo < room ? (int)lo : room;
}

size_t fleet_idle_release(const fleet_config *cfg, const double *idle_since, size_t n,
                          int n_total, size_t n_pending, double now, size_t *out) {
  if (n_pending) return 0;
  size_t k = 0;
  int can = n_total - cfg->min_instances;
  if (can > cfg->max_step) can = cfg->max_step;
  while (can > 0) {
    /* the oldest idle instance not chosen yet */
    size_t best = n;
    for (size_t i = 0; i < n; i++) {
      if (idle_since[i] < 0 || now - idle_since[i] < cfg->idle_cooldown_s) continue;
      int taken = 0;
      for (size_t j = 0; j < k; j++) taken |= out[j] == i;
      if (taken) continue;
      if (best == n || idle_since[i] < idle_since[best]) best = i;
    }
    if (best == n) break;
    out[k++] = best;
    can--;
  }
  return k;
}

typedef struct cand { double util; size_t idx; } cand;

static int cand_cmp(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->util != y->util) return x->util < y->util ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx);
}

int fleet_consolidate(const sched_instance *insts, size_t n, const fleet_copy *copies,
                      size_t n_copies, size_t n_ics, size_t max_candidates,
                      sched_assignment *dest) {
  if (n < 2) return -1;
  cand *cs = berth_xmalloc(n * sizeof *cs);
  size_t nc = 0;
  size_t *held = berth_xcalloc(n, sizeof *held);
  for (size_t c = 0; c < n_copies; c++)
    if (copies[c].instance >= 0 && (size_t)copies[c].instance < n) held[copies[c].instance]++;
  size_t accepting = 0;
  for (size_t i = 0; i < n; i++) {
    if (!insts[i].accepting) continue;
    accepting++;
    if (held[i]) cs[nc++] = (cand){fleet_utilization(&insts[i]), i};
  }
  int victim = -1;
  if (accepting < 2) goto out;
  qsort(cs, nc, sizeof *cs, cand_cmp);
  sched_instance *scratch = berth_xmalloc(n * sizeof *scratch);
  sched_need *needs = berth_xmalloc((n_copies ? n_copies : 1) * sizeof *needs);
  uint32_t *ic = berth_xmalloc((n_copies ? n_copies : 1) * sizeof *ic);
  size_t *which = berth_xmalloc((n_copies ? n_copies : 1) * sizeof *which);
  sched_assignment *out = berth_xmalloc((n_copies ? n_copies : 1) * sizeof *out);
  for (size_t k = 0; k < nc && k < max_candidates && victim < 0; k++) {
    size_t v = cs[k].idx;
    memcpy(scratch, insts, n * sizeof *scratch);
    scratch[v].accepting = 0;
    size_t m = 0;
    for (size_t c = 0; c < n_copies; c++)
      if (copies[c].instance == (int)v) {
        needs[m] = copies[c].need;
        ic[m] = copies[c].ic < n_ics ? copies[c].ic : 0;
        which[m] = c;
        m++;
      }
    int placed = sched_place_all(scratch, n, needs, ic, m, n_ics ? n_ics : 1, SCHED_BINPACK, out);
    if (placed != (int)m) continue;
    for (size_t c = 0; c < n_copies; c++) dest[c].instance = -1;
    for (size_t j = 0; j < m; j++) dest[which[j]] = out[j];
    victim = (int)v;
  }
  free(scratch);
  free(needs);
  free(ic);
  free(which);
  free(out);
out:
  free(cs);
  free(held);
  return victim;
}

/* sched: placement of inference-component copies onto instances.
 *
 * DESIGN. One function, eval(), decides whether a need fits an instance,
 * which devices it would take and how full the instance would be after; the
 * single-copy and batch entry points both rank instances with it, so they
 * agree exactly. Ranking is a total order (fits, then fewer copies of the IC
 * for SPREAD, then higher utilization after placement, then lower index),
 * which makes the answer deterministic.
 *
 * The batch placer keeps a tournament tree over the instances keyed by that
 * order. Placing a copy changes one instance only, so between copies with the
 * same need (and IC) only that instance's key is recomputed and its path in
 * the tree replayed: O(log n) per copy instead of a scan of all instances.
 * A full rebuild happens only when the need (or IC) changes. */
#include "berth/sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

static int n_devices_of(const sched_instance *inst) {
  if (inst->n_devices < 0) return 0;
  return inst->n_devices > SCHED_MAX_DEVICES ? SCHED_MAX_DEVICES : inst->n_devices;
}

int sched_need_valid(const sched_need *need) {
  if (need->cpu_milli < 0 || need->mem_mb < 0 || need->dev_milli < 0 ||
      need->dev_mem_mb < 0)
    return 0;
  return need->dev_milli <= 1000 || need->dev_milli % 1000 == 0;
}

static double ratio(int64_t used, int64_t cap) {
  return (double)used / (double)cap;
}

/* Whether need fits inst now; if so *util is the instance's dominant-resource
 * utilization after placement and, when a is not NULL, *a the assignment.
 * need must be valid. Doubles are exact here for integers below 2^53, and
 * equal ratios round to the same double, so ties are real ties. */
static int eval(const sched_instance *inst, size_t idx, const sched_need *need,
                double *util, sched_assignment *a) {
  if (inst->cpu_milli_used + need->cpu_milli > inst->cpu_milli) return 0;
  if (inst->mem_mb_used + need->mem_mb > inst->mem_mb) return 0;

  int nd = n_devices_of(inst);
  int picked[SCHED_MAX_DEVICES];
  int n_picked = 0;
  int32_t each = 0;
  if (need->dev_milli >= 1000) {
    int want = need->dev_milli / 1000;
    if (want > nd) return 0;
    for (int d = 0; d < nd && n_picked < want; d++)
      if (inst->dev_milli_used[d] == 0 &&
          inst->dev_mem_mb_used[d] + need->dev_mem_mb <= inst->dev_mem_mb)
        picked[n_picked++] = d;
    if (n_picked < want) return 0;
    each = 1000;
  } else if (need->dev_milli > 0) {
    int best = -1;
    for (int d = 0; d < nd; d++) {
      if (inst->dev_milli_used[d] + need->dev_milli > 1000) continue;
      if (inst->dev_mem_mb_used[d] + need->dev_mem_mb > inst->dev_mem_mb) continue;
      if (best < 0 || inst->dev_milli_used[d] > inst->dev_milli_used[best]) best = d;
    }
    if (best < 0) return 0;
    picked[n_picked++] = best;
    each = need->dev_milli;
  }

  double u = 0.0, r;
  if (inst->cpu_milli > 0) {
    r = ratio(inst->cpu_milli_used + need->cpu_milli, inst->cpu_milli);
    if (r > u) u = r;
  }
  if (inst->mem_mb > 0) {
    r = ratio(inst->mem_mb_used + need->mem_mb, inst->mem_mb);
    if (r > u) u = r;
  }
  if (nd > 0) {
    int64_t share = 0, mem = 0;
    for (int d = 0; d < nd; d++) {
      share += inst->dev_milli_used[d];
      mem += inst->dev_mem_mb_used[d];
    }
    share += (int64_t)each * n_picked;
    r = ratio(share, (int64_t)nd * 1000);
    if (r > u) u = r;
    if (inst->dev_mem_mb > 0) {
      mem += need->dev_mem_mb * n_picked;
      r = ratio(mem, (int64_t)nd * inst->dev_mem_mb);
      if (r > u) u = r;
    }
  }
  *util = u;

  if (a) {
    memset(a, 0, sizeof *a);
    a->instance = (int)idx;
    a->n_devices = n_picked;
    memcpy(a->devices, picked, sizeof(int) * (size_t)n_picked);
    a->dev_milli_each = each;
  }
  return 1;
}

/* Rank key of one instance for the current need; see the file comment. */
typedef struct rank {
  int fits;
  uint32_t same;   /* copies of this IC there; 0 under BINPACK */
  double util;
} rank;

static rank rank_of(const sched_instance *inst, size_t idx, const sched_need *need,
                    uint32_t same, sched_strategy strategy) {
  rank k = {0, 0, 0.0};
  if (!inst->accepting) return k;
  k.fits = eval(inst, idx, need, &k.util, NULL);
  k.same = strategy == SCHED_SPREAD ? same : 0;
  return k;
}

/* Whether instance a (key ka) ranks before instance b; a < b on full ties. */
static int ranks_before(rank ka, size_t a, rank kb, size_t b) {
  if (ka.fits != kb.fits) return ka.fits > kb.fits;
  if (ka.same != kb.same) return ka.same < kb.same;
  if (ka.util != kb.util) return ka.util > kb.util;
  return a < b;
}

int sched_place(const sched_instance *insts, size_t n, const uint32_t *same_ic,
                const sched_need *need, sched_strategy strategy,
                sched_assignment *out) {
  if (!sched_need_valid(need)) return -EINVAL;
  size_t best = n;
  rank kbest = {0, 0, 0.0};
  for (size_t i = 0; i < n; i++) {
    rank k = rank_of(&insts[i], i, need, same_ic ? same_ic[i] : 0, strategy);
    if (!k.fits) continue;
    if (best == n || ranks_before(k, i, kbest, best)) {
      best = i;
      kbest = k;
    }
  }
  if (best == n) return -ENOSPC;
  double util;
  eval(&insts[best], best, need, &util, out);
  return 0;
}

int sched_fits_empty(const sched_instance *inst, const sched_need *need) {
  if (!sched_need_valid(need)) return 0;
  if (need->cpu_milli > inst->cpu_milli || need->mem_mb > inst->mem_mb) return 0;
  if (need->dev_milli == 0) return 1;
  int want = need->dev_milli >= 1000 ? need->dev_milli / 1000 : 1;
  return want <= n_devices_of(inst) && need->dev_mem_mb <= inst->dev_mem_mb;
}

void sched_reserve(sched_instance *inst, const sched_need *need,
                   const sched_assignment *a) {
  inst->cpu_milli_used += need->cpu_milli;
  inst->mem_mb_used += need->mem_mb;
  for (int j = 0; j < a->n_devices; j++) {
    int d = a->devices[j];
    inst->dev_milli_used[d] += a->dev_milli_each;
    inst->dev_mem_mb_used[d] += need->dev_mem_mb;
  }
}

void sched_release(sched_instance *inst, const sched_need *need,
                   const sched_assignment *a) {
  inst->cpu_milli_used -= need->cpu_milli;
  inst->mem_mb_used -= need->mem_mb;
  for (int j = 0; j < a->n_devices; j++) {
    int d = a->devices[j];
    inst->dev_milli_used[d] -= a->dev_milli_each;
    inst->dev_mem_mb_used[d] -= need->dev_mem_mb;
  }
}

/* ---- batch placement ---- */

typedef struct order_item {
  double dominant;   /* demand relative to the largest accepting instance */
  const sched_need *need;
  uint32_t ic;
  uint32_t copy;
} order_item;

static int cmp_i64(int64_t a, int64_t b) { return (a > b) - (a < b); }

/* Copies with the same need sort next to each other (and, within a need, by
 * IC) so that the tree is rebuilt once per distinct need. */
static int order_cmp(const void *pa, const void *pb) {
  const order_item *a = pa, *b = pb;
  if (a->dominant != b->dominant) return a->dominant > b->dominant ? -1 : 1;
  int r;
  if ((r = cmp_i64(a->need->cpu_milli, b->need->cpu_milli))) return r;
  if ((r = cmp_i64(a->need->mem_mb, b->need->mem_mb))) return r;
  if ((r = cmp_i64(a->need->dev_milli, b->need->dev_milli))) return r;
  if ((r = cmp_i64(a->need->dev_mem_mb, b->need->dev_mem_mb))) return r;
  if (a->ic != b->ic) return a->ic < b->ic ? -1 : 1;
  return a->copy < b->copy ? -1 : a->copy > b->copy;
}

static int same_need(const sched_need *a, const sched_need *b) {
  return a->cpu_milli == b->cpu_milli && a->mem_mb == b->mem_mb &&
         a->dev_milli == b->dev_milli && a->dev_mem_mb == b->dev_mem_mb;
}

/* The tournament tree: leaves tree[size + i] hold instance i (or -1 as
 * padding), each inner node the better of its children by ranks_before. */
typedef struct tourney {
  size_t size;       /* power of two >= n */
  long *tree;        /* 2 * size nodes */
  rank *keys;        /* n keys */
} tourney;

static long winner(const tourney *t, long a, long b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return ranks_before(t->keys[a], (size_t)a, t->keys[b], (size_t)b) ? a : b;
}

static void tourney_build(tourney *t) {
  for (size_t i = t->size - 1; i >= 1; i--)
    t->tree[i] = winner(t, t->tree[2 * i], t->tree[2 * i + 1]);
}

static void tourney_update(tourney *t, size_t leaf) {
  for (size_t i = (t->size + leaf) / 2; i >= 1; i /= 2)
    t->tree[i] = winner(t, t->tree[2 * i], t->tree[2 * i + 1]);
}

/* Adds delta to the count of copies of the current IC on instance i and,
 * when the tree holds keys for the current need, re-ranks that leaf. */
static void set_same(tourney *t, uint32_t *same, size_t i, int delta) {
  same[i] = (uint32_t)((int64_t)same[i] + delta);
  if (!t) return;
  t->keys[i].same = same[i];
  tourney_update(t, i);
}

int sched_place_all(sched_instance *insts, size_t n, const sched_need *needs,
                    const uint32_t *ic_of_copy, size_t n_copies, size_t n_ics,
                    sched_strategy strategy, sched_assignment *out) {
  if ((n && !insts) || (n_copies && (!needs || !ic_of_copy || !out)) ||
      n_copies > UINT32_MAX || n > (size_t)INT32_MAX || n_ics > SIZE_MAX / sizeof(long))
    return -EINVAL;
  for (size_t c = 0; c < n_copies; c++)
    if (ic_of_copy[c] >= n_ics) return -EINVAL;
  for (size_t c = 0; c < n_copies; c++) {
    memset(&out[c], 0, sizeof out[c]);
    out[c].instance = -1;
  }
  if (n == 0 || n_copies == 0) return 0;

  /* Largest capacity per dimension, to size demands against one instance. */
  int64_t max_cpu = 1, max_mem = 1, max_dev = 1, max_dev_mem = 1;
  for (size_t i = 0; i < n; i++) {
    const sched_instance *in = &insts[i];
    if (!in->accepting) continue;
    if (in->cpu_milli > max_cpu) max_cpu = in->cpu_milli;
    if (in->mem_mb > max_mem) max_mem = in->mem_mb;
    if ((int64_t)n_devices_of(in) * 1000 > max_dev) max_dev = (int64_t)n_devices_of(in) * 1000;
    if (in->dev_mem_mb > max_dev_mem) max_dev_mem = in->dev_mem_mb;
  }

  order_item *order = berth_xcalloc(n_copies, sizeof *order);
  for (size_t c = 0; c < n_copies; c++) {
    const sched_need *nd = &needs[c];
    double d = ratio(nd->cpu_milli, max_cpu);
    double r = ratio(nd->mem_mb, max_mem);
    if (r > d) d = r;
    r = ratio(nd->dev_milli, max_dev);
    if (r > d) d = r;
    r = nd->dev_milli ? ratio(nd->dev_mem_mb, max_dev_mem) : 0.0;
    if (r > d) d = r;
    order[c] = (order_item){d, nd, ic_of_copy[c], (uint32_t)c};
  }
  qsort(order, n_copies, sizeof *order, order_cmp);

  /* Copies of the current IC per instance. Copies of each IC placed so far
   * are chained (first_of_ic / next_of_copy) so the counts can be moved
   * from one IC to another when the order switches IC. */
  uint32_t *same = berth_xcalloc(n, sizeof *same);
  long *first_of_ic = berth_xmalloc(n_ics * sizeof *first_of_ic);
  long *next_of_copy = berth_xmalloc(n_copies * sizeof *next_of_copy);
  for (size_t k = 0; k < n_ics; k++) first_of_ic[k] = -1;

  tourney t = {1, NULL, NULL};
  while (t.size < n) t.size *= 2;
  t.tree = berth_xmalloc(2 * t.size * sizeof *t.tree);
  t.keys = berth_xmalloc(n * sizeof *t.keys);

  int placed = 0;
  const sched_need *group_need = NULL;
  long cur_ic = -1;
  for (size_t k = 0; k < n_copies; k++) {
    size_t c = order[k].copy;
    const sched_need *need = &needs[c];
    if (!sched_need_valid(need)) continue;
    uint32_t ic = ic_of_copy[c];

    /* Same need, other IC: only the instances holding copies of either IC
     * change rank, so update just their leaves. A new need ranks all. */
    int rebuild = !group_need || !same_need(group_need, need);
    if (strategy == SCHED_SPREAD && (long)ic != cur_ic) {
      tourney *tt = rebuild ? NULL : &t;
      if (cur_ic >= 0)
        for (long p = first_of_ic[cur_ic]; p >= 0; p = next_of_copy[p])
          set_same(tt, same, (size_t)out[p].instance, -1);
      for (long p = first_of_ic[ic]; p >= 0; p = next_of_copy[p])
        set_same(tt, same, (size_t)out[p].instance, +1);
      cur_ic = ic;
    }
    if (rebuild) {
      for (size_t i = 0; i < n; i++)
        t.keys[i] = rank_of(&insts[i], i, need, same[i], strategy);
      for (size_t i = 0; i < t.size; i++)
        t.tree[t.size + i] = i < n ? (long)i : -1;
      tourney_build(&t);
      group_need = need;
    }

    long best = t.tree[1];
    if (best < 0 || !t.keys[best].fits) continue;
    double util;
    eval(&insts[best], (size_t)best, need, &util, &out[c]);
    sched_reserve(&insts[best], need, &out[c]);
    placed++;
    if (strategy == SCHED_SPREAD) same[best]++;
    next_of_copy[c] = first_of_ic[ic];
    first_of_ic[ic] = (long)c;
    t.keys[best] = rank_of(&insts[best], (size_t)best, need, same[best], strategy);
    tourney_update(&t, (size_t)best);
  }

  free(t.keys);
  free(t.tree);
  free(next_of_copy);
  free(first_of_ic);
  free(same);
  free(order);
  return placed;
}

sched_instance sched_capacity(const berth_instance_type *t) {
  sched_instance s = {0};
  /* What copies may take: the host's reserve (catalog.h) is never offered. */
  s.cpu_milli = (int64_t)t->vcpus * 1000 - t->reserved_cpu_milli;
  s.mem_mb = t->memory_mib - t->reserved_memory_mib;
  s.n_devices = t->accelerators;
  s.dev_mem_mb = t->accelerator_memory_mib;
  s.accepting = 1;
  return s;
}

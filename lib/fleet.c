/* fleet: instance scale-out (over one type or instance pools), idle
 * release and consolidation decisions. */
#include "berth/fleet.h"

#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

/* Instances needed for the pending copies beyond what fits now: first fit
 * onto at most cap simulated empty instances like empty. Copies too large
 * for an empty instance count in *never_fits; those that find no room
 * within cap count in *left_over. */
static int instances_for_pending(const fleet_input *in, const sched_instance *empty, int cap,
                                 int *never_fits, int *left_over) {
  *never_fits = *left_over = 0;
  sched_instance *sim = berth_xcalloc(cap > 0 ? (size_t)cap : 1, sizeof *sim);
  int used = 0;
  for (size_t i = 0; i < in->n_pending; i++) {
    const sched_need *need = &in->pending[i];
    if (!sched_fits_empty(empty, need)) {
      (*never_fits)++;
      continue;
    }
    sched_assignment a;
    if (used > 0 && sched_place(sim, (size_t)used, NULL, need, SCHED_BINPACK, &a) == 0) {
      sched_reserve(&sim[a.instance], need, &a);
      continue;
    }
    if (used == cap) {
      (*left_over)++;
      continue;
    }
    sim[used] = *empty;
    sim[used].accepting = 1;
    if (sched_place(&sim[used], 1, NULL, need, SCHED_BINPACK, &a) == 0)
      sched_reserve(&sim[used], need, &a);
    used++;
  }
  free(sim);
  return used;
}

/* A scale-out plan: how many instances, of which types, what it costs and
 * how many pending copies it leaves without room. */
typedef struct plan {
  int used;
  int unplaced;
  double cost;
  int priority;                 /* the best priority among its types */
  int mix;
  int *type_of;                 /* type of each instance, cap entries */
} plan;

/* Whether a is a better plan than b: fewer copies left without room, then
 * cheaper, then a single type over a mix, then higher priority. */
static int plan_better(const plan *a, const plan *b) {
  if (a->unplaced != b->unplaced) return a->unplaced < b->unplaced;
  if (a->cost < b->cost - 1e-9) return 1;
  if (a->cost > b->cost + 1e-9) return 0;
  if (a->mix != b->mix) return !a->mix;
  return a->priority < b->priority;
}

static int fits_some_type(const fleet_type *types, size_t n, const sched_need *need) {
  for (size_t t = 0; t < n; t++)
    if (!types[t].unavailable && sched_fits_empty(&types[t].empty, need)) return 1;
  return 0;
}

/* A mix of types, one instance at a time: each new instance is the type
 * with the lowest price per copy it takes (first fit over the copies still
 * without room; ties by priority, then list order). */
static void mix_plan(const fleet_input *in, int cap, plan *out) {
  size_t n = in->n_pending;
  int *left = berth_xcalloc(n ? n : 1, sizeof *left);
  size_t n_left = 0;
  for (size_t i = 0; i < n; i++)
    if (fits_some_type(in->types, in->n_types, &in->pending[i])) left[i] = 1, n_left++;
  out->priority = 1 << 30;
  while (n_left > 0 && out->used < cap) {
    int best = -1;
    double best_score = 0;
    for (size_t t = 0; t < in->n_types; t++) {
      const fleet_type *ft = &in->types[t];
      if (ft->unavailable) continue;
      sched_instance sim = ft->empty;
      sim.accepting = 1;
      int k = 0;
      for (size_t i = 0; i < n; i++) {
        sched_assignment a;
        if (!left[i] || sched_place(&sim, 1, NULL, &in->pending[i], SCHED_BINPACK, &a) != 0)
          continue;
        sched_reserve(&sim, &in->pending[i], &a);
        k++;
      }
      if (k == 0) continue;
      double score = ft->price_per_hour / k;
      if (best < 0 || score < best_score - 1e-12 ||
          (score <= best_score + 1e-12 && ft->priority < in->types[best].priority)) {
        best = (int)t;
        best_score = score;
      }
    }
    if (best < 0) break;
    /* Commit: the same first fit again, taking the copies off the list. */
    sched_instance sim = in->types[best].empty;
    sim.accepting = 1;
    for (size_t i = 0; i < n; i++) {
      sched_assignment a;
      if (!left[i] || sched_place(&sim, 1, NULL, &in->pending[i], SCHED_BINPACK, &a) != 0)
        continue;
      sched_reserve(&sim, &in->pending[i], &a);
      left[i] = 0;
      n_left--;
    }
    out->type_of[out->used++] = best;
    out->cost += in->types[best].price_per_hour;
    if (in->types[best].priority < out->priority) out->priority = in->types[best].priority;
  }
  out->unplaced = (int)n_left;
  out->mix = 1;
  free(left);
}

/* Chooses the scale-out for the pending copies: each available type alone,
 * and a mix when there are several, best by plan_better. Fills out->add,
 * add_type, never_fits and pending_blocked for at most cap instances and
 * returns the number of instances the plan uses. */
static int scale_out(const fleet_input *in, const fleet_type *types, size_t n_types, int cap,
                     fleet_actions *out) {
  fleet_input view = *in;
  view.types = types;
  view.n_types = n_types;
  size_t slots = cap > 0 ? (size_t)cap : 1;
  plan best = {.unplaced = 1 << 30, .type_of = berth_xcalloc(slots, sizeof(int))};
  plan cand = {.type_of = berth_xcalloc(slots, sizeof(int))};
  int found = 0;
  for (size_t t = 0; t < n_types; t++) {
    if (types[t].unavailable) continue;
    int nf, lo;
    int used = instances_for_pending(in, &types[t].empty, cap, &nf, &lo);
    cand.used = used;
    cand.unplaced = nf + lo;
    cand.cost = used * types[t].price_per_hour;
    cand.priority = types[t].priority;
    cand.mix = 0;
    for (int k = 0; k < used; k++) cand.type_of[k] = (int)t;
    if (!found || plan_better(&cand, &best)) {
      int *keep = best.type_of;
      best = cand;
      best.type_of = keep;
      memcpy(best.type_of, cand.type_of, (size_t)used * sizeof(int));
      found = 1;
    }
  }
  size_t n_avail = 0;
  for (size_t t = 0; t < n_types; t++) n_avail += !types[t].unavailable;
  if (n_avail >= 2 && in->n_pending > 0) {
    cand.used = 0;
    cand.cost = 0;
    mix_plan(&view, cap, &cand);
    if (plan_better(&cand, &best)) {
      int *keep = best.type_of;
      best = cand;
      best.type_of = keep;
      memcpy(best.type_of, cand.type_of, (size_t)cand.used * sizeof(int));
    }
  }
  int never = 0;
  for (size_t i = 0; i < in->n_pending; i++)
    never += !fits_some_type(types, n_types, &in->pending[i]);
  out->never_fits = never;
  if (!found) {
    out->pending_blocked = 0;
    best.used = 0;
  } else {
    out->pending_blocked = best.unplaced - never > 0 ? best.unplaced - never : 0;
  }
  int slots_out = (int)(sizeof out->add_type / sizeof out->add_type[0]);
  for (int k = 0; k < best.used && k < slots_out; k++) out->add_type[k] = best.type_of[k];
  int used = best.used;
  free(best.type_of);
  free(cand.type_of);
  return used;
}

void fleet_type_order(const fleet_type *types, size_t n, int *order) {
  for (size_t i = 0; i < n; i++) order[i] = (int)i;
  /* Insertion sort: n is at most FLEET_MAX_TYPES. */
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0; j--) {
      const fleet_type *a = &types[order[j - 1]], *b = &types[order[j]];
      int swap = a->unavailable != b->unavailable ? a->unavailable
               : a->priority != b->priority       ? a->priority > b->priority
                                                  : a->price_per_hour > b->price_per_hour;
      if (!swap) break;
      int x = order[j - 1];
      order[j - 1] = order[j];
      order[j] = x;
    }
}

/* CONSOLIDATION with pools: the instance whose copies all fit one empty
 * instance of a cheaper available type, largest saving first (ties: the
 * cheaper type, then priority, then the lower index). Make before break is
 * the caller's: it launches the replacement, then evacuates the old one. */
static void pick_replacements(const fleet_input *in, int step, fleet_actions *out) {
  for (size_t i = 0; i < in->n_instances; i++)
    if (in->instances[i].evacuating) return; /* one move at a time */
  while ((int)out->n_replace < step &&
         out->n_replace < sizeof out->replace / sizeof out->replace[0]) {
    size_t best_i = (size_t)-1;
    int best_t = -1;
    double best_save = 0;
    for (size_t i = 0; i < in->n_instances; i++) {
      const fleet_instance *fi = &in->instances[i];
      if (fi->copies == 0 || fi->type < 0 || (size_t)fi->type >= in->n_types) continue;
      int taken = 0;
      for (size_t k = 0; k < out->n_replace; k++) taken |= out->replace[k] == i;
      if (taken) continue;
      double price = in->types[fi->type].price_per_hour;
      for (size_t t = 0; t < in->n_types; t++) {
        const fleet_type *ft = &in->types[t];
        double save = price - ft->price_per_hour;
        if (ft->unavailable || save <= 1e-9) continue;
        sched_instance sim = ft->empty;
        sim.accepting = 1;
        int ok = 1;
        for (size_t k = 0; k < in->n_copies && ok; k++) {
          sched_assignment a;
          if (in->copies[k].instance != i) continue;
          if (sched_place(&sim, 1, NULL, &in->copies[k].need, SCHED_BINPACK, &a) != 0) ok = 0;
          else sched_reserve(&sim, &in->copies[k].need, &a);
        }
        if (!ok) continue;
        if (best_t < 0 || save > best_save + 1e-9 ||
            (save >= best_save - 1e-9 && ft->priority < in->types[best_t].priority)) {
          best_i = i;
          best_t = (int)t;
          best_save = save;
        }
      }
    }
    if (best_t < 0) break;
    out->replace[out->n_replace] = best_i;
    out->replace_type[out->n_replace++] = best_t;
  }
}

static double utilization(const sched_instance *s) {
  double u = 0, x;
  if (s->cpu_milli > 0 && (x = (double)s->cpu_milli_used / (double)s->cpu_milli) > u) u = x;
  if (s->mem_mb > 0 && (x = (double)s->mem_mb_used / (double)s->mem_mb) > u) u = x;
  for (int d = 0; d < s->n_devices; d++)
    if ((x = s->dev_milli_used[d] / 1000.0) > u) u = x;
  return u;
}

/* Tries to move every copy of instance victim onto the other accepting
 * instances of the simulation sim (which already holds the moves of earlier
 * evacuations). On success the moves are committed to sim, victim stops
 * accepting and the instances that took copies are marked in received (they
 * are not evacuated in the same round); on failure sim is unchanged. */
static int try_evacuate(const fleet_input *in, sched_instance *sim, size_t victim,
                        int *received) {
  sched_instance *scratch = berth_xcalloc(in->n_instances, sizeof *scratch);
  memcpy(scratch, sim, in->n_instances * sizeof *scratch);
  scratch[victim].accepting = 0;
  size_t *moved_to = berth_xcalloc(in->n_copies ? in->n_copies : 1, sizeof *moved_to);
  int ok = 1;
  for (size_t k = 0; k < in->n_copies && ok; k++) {
    const fleet_copy *cp = &in->copies[k];
    if (cp->instance != victim) continue;
    sched_assignment a;
    if (sched_place(scratch, in->n_instances, NULL, &cp->need, SCHED_BINPACK, &a) != 0)
      ok = 0;
    else {
      sched_reserve(&scratch[a.instance], &cp->need, &a);
      moved_to[k] = a.instance;
    }
  }
  if (ok) {
    memcpy(sim, scratch, in->n_instances * sizeof *sim);
    for (size_t k = 0; k < in->n_copies; k++)
      if (in->copies[k].instance == victim) received[moved_to[k]] = 1;
  }
  free(moved_to);
  free(scratch);
  return ok;
}

/* An instance's price per hour with instance pools; 0 without (or when its
 * type is not among them). */
static double instance_price(const fleet_input *in, const fleet_instance *fi) {
  if (in->n_types == 0 || fi->type < 0 || (size_t)fi->type >= in->n_types) return 0;
  return in->types[fi->type].price_per_hour;
}

void fleet_decide(const fleet_policy *p, const fleet_input *in, fleet_actions *out) {
  memset(out, 0, sizeof *out);
  int n = (int)in->n_instances;
  if (!p->managed) return;
  int room = p->max_instances - n;
  int below_min = n < p->min_instances ? p->min_instances - n : 0;
  /* Without candidate types: the variant's one type (price irrelevant). */
  fleet_type one = {.empty = in->template_instance, .priority = 1};
  const fleet_type *types = in->n_types > 0 ? in->types : &one;
  size_t n_types = in->n_types > 0 ? in->n_types : 1;
  int need = scale_out(in, types, n_types, room > 0 ? room : 0, out);
  /* Instances added to reach the minimum take pending copies too; those
   * beyond the plan are of the first type in launch order. */
  int add = need > below_min ? need : below_min;
  out->add = add < room ? add : (room > 0 ? room : 0);
  int order[FLEET_MAX_TYPES];
  fleet_type_order(types, n_types < FLEET_MAX_TYPES ? n_types : FLEET_MAX_TYPES, order);
  int slots_out = (int)(sizeof out->add_type / sizeof out->add_type[0]);
  for (int k = need; k < out->add && k < slots_out; k++) out->add_type[k] = order[0];
  if (out->add > 0 || in->n_pending > 0) return; /* never shrink while growing */
  if (in->now - in->last_scale_in < p->cooldown_s && in->last_scale_in > 0) return;

  int step = p->max_step > 0 ? p->max_step : 1;
  int keep = p->min_instances;
  int remaining = n;
  /* IDLE_RELEASE (and the first step of CONSOLIDATION): empty instances idle
   * for the cooldown, the dearest first with instance pools, then oldest
   * idle, lowest index on ties. */
  while ((int)out->n_release < step && remaining > keep &&
         out->n_release < sizeof out->release / sizeof out->release[0]) {
    size_t best = (size_t)-1;
    for (size_t i = 0; i < in->n_instances; i++) {
      const fleet_instance *fi = &in->instances[i];
      if (fi->copies != 0 || in->now - fi->idle_since < p->cooldown_s) continue;
      int taken = 0;
      for (size_t k = 0; k < out->n_release; k++) taken |= out->release[k] == i;
      if (taken) continue;
      if (best == (size_t)-1) {
        best = i;
        continue;
      }
      double pi = instance_price(in, fi), pb = instance_price(in, &in->instances[best]);
      if (pi > pb + 1e-9 || (pi >= pb - 1e-9 && fi->idle_since < in->instances[best].idle_since))
        best = i;
    }
    if (best == (size_t)-1) break;
    out->release[out->n_release++] = best;
    remaining--;
  }
  if (p->strategy != FLEET_CONSOLIDATION || out->n_release > 0) return;
  /* CONSOLIDATION: the least used instances whose copies fit elsewhere,
   * simulated jointly so two evacuations never count on the same room. */
  int *tried = berth_xcalloc(in->n_instances ? in->n_instances : 1, sizeof *tried);
  int *received = berth_xcalloc(in->n_instances ? in->n_instances : 1, sizeof *received);
  sched_instance *sim = berth_xcalloc(in->n_instances ? in->n_instances : 1, sizeof *sim);
  for (size_t i = 0; i < in->n_instances; i++) {
    sim[i] = in->instances[i].res;
    /* Moving copies onto an empty instance would free nothing. */
    if (in->instances[i].evacuating || in->instances[i].copies == 0) sim[i].accepting = 0;
  }
  while ((int)out->n_evacuate < step && remaining > keep &&
         out->n_evacuate < sizeof out->evacuate / sizeof out->evacuate[0]) {
    size_t best = (size_t)-1;
    double best_u = 2;
    for (size_t i = 0; i < in->n_instances; i++) {
      const fleet_instance *fi = &in->instances[i];
      if (tried[i] || received[i] || fi->evacuating || fi->copies == 0) continue;
      double u = utilization(&fi->res);
      if (u < best_u) {
        best_u = u;
        best = i;
      }
    }
    if (best == (size_t)-1) break;
    tried[best] = 1;
    if (!try_evacuate(in, sim, best, received)) continue;
    out->evacuate[out->n_evacuate++] = best;
    remaining--;
  }
  if (out->n_evacuate == 0 && in->n_types >= 2) pick_replacements(in, step, out);
  free(sim);
  free(tried);
  free(received);
}

/* fleet: instance scale-out, idle release and consolidation decisions. */
#include "berth/fleet.h"

#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

/* Instances needed for the pending copies beyond what fits now: first fit
 * onto at most cap simulated empty instances. Copies too large for an empty
 * instance count in *never_fits; those that find no room within cap count
 * in *left_over. */
static int instances_for_pending(const fleet_input *in, int cap, int *never_fits,
                                 int *left_over) {
  *never_fits = *left_over = 0;
  sched_instance *sim = berth_xcalloc(cap > 0 ? (size_t)cap : 1, sizeof *sim);
  int used = 0;
  for (size_t i = 0; i < in->n_pending; i++) {
    const sched_need *need = &in->pending[i];
    if (!sched_fits_empty(&in->template_instance, need)) {
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
    sim[used] = in->template_instance;
    sim[used].accepting = 1;
    if (sched_place(&sim[used], 1, NULL, need, SCHED_BINPACK, &a) == 0)
      sched_reserve(&sim[used], need, &a);
    used++;
  }
  free(sim);
  return used;
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

void fleet_decide(const fleet_policy *p, const fleet_input *in, fleet_actions *out) {
  memset(out, 0, sizeof *out);
  int n = (int)in->n_instances;
  if (!p->managed) return;
  int room = p->max_instances - n;
  int below_min = n < p->min_instances ? p->min_instances - n : 0;
  int need = instances_for_pending(in, room > 0 ? room : 0, &out->never_fits,
                                   &out->pending_blocked);
  /* Instances added to reach the minimum take pending copies too. */
  int add = need > below_min ? need : below_min;
  out->add = add < room ? add : (room > 0 ? room : 0);
  if (out->add > 0 || in->n_pending > 0) return; /* never shrink while growing */
  if (in->now - in->last_scale_in < p->cooldown_s && in->last_scale_in > 0) return;

  int step = p->max_step > 0 ? p->max_step : 1;
  int keep = p->min_instances;
  int remaining = n;
  /* IDLE_RELEASE (and the first step of CONSOLIDATION): empty instances idle
   * for the cooldown, oldest idle first, lowest index on ties. */
  while ((int)out->n_release < step && remaining > keep &&
         out->n_release < sizeof out->release / sizeof out->release[0]) {
    size_t best = (size_t)-1;
    for (size_t i = 0; i < in->n_instances; i++) {
      const fleet_instance *fi = &in->instances[i];
      if (fi->copies != 0 || in->now - fi->idle_since < p->cooldown_s) continue;
      int taken = 0;
      for (size_t k = 0; k < out->n_release; k++) taken |= out->release[k] == i;
      if (taken) continue;
      if (best == (size_t)-1 || fi->idle_since < in->instances[best].idle_since) best = i;
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
  free(sim);
  free(tried);
  free(received);
}

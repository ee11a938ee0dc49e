/* ic: converging inference components to their desired copy counts. */
#include "berth/log.h"
#include "ic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "artifact.h"
#include "berth/converge.h"
#include "metrics.h"
#include "rollout.h"
#include "shared_count.h"
#include "store.h"

/* SageMaker's default for both startup timeouts. */
#define DEFAULT_STARTUP_TIMEOUT_S 600

int ic_save(ctl *c, ic *x) {
  rollout_persist(x);
  json_object_set_new(x->doc, "LastModifiedTime", json_real(x->modified));
  json_object_set_new(json_object_get(x->doc, "RuntimeConfig"), "CopyCount",
                      json_integer(x->desired));
  if (x->deleting || x->status == IC_FAILED) {
    json_object_set_new(x->doc, "Status", json_string(ic_status_name(x->status)));
    json_object_set_new(x->doc, "FailureReason", json_string(x->failure));
  } else {
    json_object_del(x->doc, "Status");
    json_object_del(x->doc, "FailureReason");
  }
  return store_put(c->db, "inference-component", x->name, x->doc);
}

int ic_ready_copies(const ic *x) {
  int n = 0;
  for (const copy *cp = x->copies; cp; cp = cp->next)
    if (cp->state == COPY_READY) n++;
  return n;
}

static void set_status(ic *x, ic_status status) {
  if (x->status == status) return;
  x->status = status;
  x->modified = ctl_now();
}

int ic_set_desired(ctl *c, ic *x, int n, const char *cause) {
  int old = x->desired;
  x->desired = n;
  x->modified = ctl_now();
  if (x->status == IC_FAILED) {
    /* A new desired count is a new attempt, as on SageMaker. */
    x->failed_sticky = 0;
    x->failure[0] = '\0';
  }
  if (x->status == IC_IN_SERVICE || x->status == IC_FAILED)
    set_status(x, IC_UPDATING);
  int rc = ic_save(c, x);
  if (rc) {
    x->desired = old;
    return rc;
  }
  berth_log(BERTH_LOG_INFO, "%s: desired copies %d -> %d (%s)", x->name, old, n, cause);
  ctl_kick(c);
  return 0;
}

/* A startup timeout (seconds, validated to [60, 3600] when the IC or the
 * endpoint config was created): the IC's StartupParameters win, then its
 * variant in the endpoint's config (as it was at CreateEndpoint), then
 * SageMaker's default. */
static int startup_parameter(ctl *c, const ic *x, const char *key) {
  json_t *sp = json_object_get(json_object_get(x->doc, "Specification"), "StartupParameters");
  json_t *v = json_object_get(sp, key);
  if (!json_is_integer(v)) {
    endpoint *ep = ctl_find_endpoint(c, x->endpoint);
    size_t i;
    json_t *pv;
    v = NULL;
    if (ep)
      json_array_foreach(json_object_get(ep->cfg.doc, "ProductionVariants"), i, pv) {
        const char *name = json_string_value(json_object_get(pv, "VariantName"));
        if (name && strcmp(name, x->variant) == 0) v = json_object_get(pv, key);
      }
  }
  json_int_t n = json_is_integer(v) ? json_integer_value(v) : DEFAULT_STARTUP_TIMEOUT_S;
  return n >= 1 && n <= 3600 ? (int)n : DEFAULT_STARTUP_TIMEOUT_S;
}

int ic_startup_timeout_s(ctl *c, const ic *x) {
  return startup_parameter(c, x, "ContainerStartupHealthCheckTimeoutInSeconds");
}

int ic_download_timeout_s(ctl *c, const ic *x) {
  return startup_parameter(c, x, "ModelDataDownloadTimeoutInSeconds");
}

int ic_desired_instances(ctl *c, const endpoint *ep, const variant *v) {
  (void)c;
  int i = (int)(v - ep->cfg.variants);
  return ep->started[i] ? ep->desired_instances[i] : v->initial_instances;
}

static int copy_active(const copy *cp) {
  return cp->state != COPY_DRAINING && cp->state != COPY_STOPPING && !cp->moving;
}

static copy *new_copy(ctl *c, ic *x) {
  copy *cp = berth_xcalloc(1, sizeof *cp);
  cp->id = ++c->next_copy_id;
  cp->owner = x;
  cp->ctl = c;
  cp->state = COPY_PENDING;
  cp->remove_when_stopped = 1;
  ic_copy_revision(x, cp, x->rev);
  /* Append so older copies come first (they are the last to be removed). */
  copy **pp = &x->copies;
  while (*pp) pp = &(*pp)->next;
  *pp = cp;
  return cp;
}

/* The IC's copies oldest first (the list's order) as converge's input:
 * all, or those of revision only_rev (>= 0). Returns how many; *list, *in
 * and *act are the caller's to free. */
static size_t copies_for_plan(ic *x, int only_rev, copy ***list, converge_copy **in,
                              converge_action **act) {
  static const converge_state state_of[] = {
    [COPY_PENDING] = CONVERGE_PENDING, [COPY_STARTING] = CONVERGE_STARTING,
    [COPY_READY] = CONVERGE_READY, [COPY_DRAINING] = CONVERGE_DRAINING,
    [COPY_STOPPING] = CONVERGE_STOPPING, [COPY_BACKOFF] = CONVERGE_BACKOFF,
    /* A sleeping copy counts, and goes before ready ones at a scale-in. */
    [COPY_SLEEPING] = CONVERGE_STARTING};
  size_t n = 0;
  for (copy *cp = x->copies; cp; cp = cp->next) n++;
  *list = berth_xmalloc((n ? n : 1) * sizeof **list);
  *in = berth_xmalloc((n ? n : 1) * sizeof **in);
  *act = berth_xmalloc((n ? n : 1) * sizeof **act);
  size_t k = 0;
  for (copy *cp = x->copies; cp; cp = cp->next) {
    if (only_rev >= 0 && cp->rev != only_rev) continue;
    (*list)[k] = cp;
    (*in)[k++] = (converge_copy){state_of[cp->state], cp->moving};
  }
  return k;
}

/* Whether one copy fits on an empty instance of the variant's type (of
 * any of its InstancePools). */
static int fits_empty_instance(ctl *c, const variant *v, const sched_need *need) {
  for (int k = 0; k < (v->n_pools > 0 ? v->n_pools : 1); k++) {
    const char *name = v->n_pools > 0 ? v->pools[k].instance_type : v->instance_type;
    const berth_instance_type *t = berth_catalog_find(&c->catalog, name);
    if (!t) continue;
    sched_instance s = ctl_instance_capacity(c, t);
    if (sched_fits_empty(&s, need)) return 1;
  }
  return 0;
}

/* Places pending copies of x on its variant's running instances. Returns
 * how many stay pending for lack of room. */
static int place_pending(ctl *c, ic *x) {
  instance *cand[1024];
  sched_instance res[1024];
  uint32_t same[1024];
  size_t n = 0;
  for (instance *in = c->instances; in && n < 1024; in = in->next) {
    if (strcmp(in->endpoint, x->endpoint) != 0 || strcmp(in->variant, x->variant) != 0) continue;
    if (in->state != INSTANCE_RUNNING) continue;
    cand[n] = in;
    res[n] = in->res;
    same[n] = 0;
    for (copy *cp = x->copies; cp; cp = cp->next)
      if (cp->inst == in && copy_active(cp)) same[n]++;
    n++;
  }
  int unplaced = 0;
  copy *next;
  for (copy *cp = x->copies; cp; cp = next) {
    /* agent_start may remove (and free) a copy that cannot start. */
    next = cp->next;
    if (cp->state != COPY_PENDING) continue;
    sched_assignment a;
    if (sched_place(res, n, same, &cp->need, x->strategy, &a) != 0) {
      unplaced++;
      continue;
    }
    sched_reserve(&res[a.instance], &cp->need, &a);
    sched_reserve(&cand[a.instance]->res, &cp->need, &a);
    same[a.instance]++;
    cp->inst = cand[a.instance];
    cp->assign = a;
    agent_start(c, cp); /* its agent bounds its own download (pool.c sends it) */
  }
  return unplaced;
}

void ic_copy_revision(ic *x, copy *cp, int rev) {
  json_decref(cp->spec);
  if (x->rollout && rev == x->rollout->old_rev) {
    cp->spec = json_incref(x->rollout->old_doc);
    cp->need = x->rollout->old_need;
  } else {
    cp->spec = json_incref(x->doc);
    cp->need = x->need;
    rev = x->rev;
  }
  cp->rev = rev;
}

void ic_copy_failed(ctl *c, copy *cp, const char *why) {
  ic *x = cp->owner;
  if (x->deleting) return;
  if (x->rollout) {
    if (cp->rev == x->rev && rollout_copy_failed(x, why)) {
      ic_save(c, x);
      ctl_kick(c);
    }
    return;
  }
  if (x->status != IC_CREATING) return;
  /* A model that cannot start the first time will not start by retrying:
   * fail the IC with the reason, as SageMaker does, and stop its copies. */
  snprintf(x->failure, sizeof x->failure, "%s", why);
  x->failed_sticky = 1;
  set_status(x, IC_FAILED);
  ic_save(c, x);
  berth_log(BERTH_LOG_ERROR, "%s: Failed: %s", x->name, why);
  ctl_kick(c);
}

/* The copies an IC must keep: its scalable target's MinCapacity, or its
 * whole desired count when nothing scales it. */
static int minimum(const ic *x) {
  int m = x->scaling ? x->scaling->cfg.min_capacity : x->desired;
  return m < x->desired ? m : x->desired;
}

static int placed_copies(const ic *x) {
  int n = 0;
  for (const copy *cp = x->copies; cp; cp = cp->next) n += cp->inst && copy_active(cp);
  return n;
}

int ic_below_minimum(const ic *x) {
  return !x->deleting && !x->failed_sticky && placed_copies(x) < minimum(x);
}

/* Room for a copy of x that keeps it at its minimum: stop the newest copy
 * of another IC on the same variant that is above its own minimum. */
static void preempt_for(ctl *c, ic *x) {
  /* One at a time: wait while a copy on the variant is still stopping. */
  for (ic *y = c->ics; y; y = y->next)
    if (strcmp(y->endpoint, x->endpoint) == 0 && strcmp(y->variant, x->variant) == 0)
      for (copy *cp = y->copies; cp; cp = cp->next)
        if (cp->inst && (cp->state == COPY_DRAINING || cp->state == COPY_STOPPING)) return;
  for (ic *y = c->ics; y; y = y->next) {
    if (y == x || strcmp(y->endpoint, x->endpoint) != 0 || strcmp(y->variant, x->variant) != 0)
      continue;
    if (placed_copies(y) <= minimum(y)) continue;
    copy *victim = NULL;
    for (copy *cp = y->copies; cp; cp = cp->next)
      if (cp->inst && copy_active(cp)) victim = cp;
    if (!victim) continue;
    berth_log(BERTH_LOG_WARN, "%s: stopping copy %lld (above its minimum) to make room for %s, "
            "which is below its minimum", y->name, (long long)victim->id, x->name);
    agent_stop(c, victim);
    return;
  }
}

/* Whether x's unplaced copies will get no room: no instance can be added
 * for them. */
static int no_room_coming(ctl *c, ic *x) {
  endpoint *ep = ctl_find_endpoint(c, x->endpoint);
  const variant *v = ep ? ctl_endpoint_variant(ep, x->variant) : NULL;
  return !(v && v->managed_scaling && !ep->blocked[v - ep->cfg.variants] &&
           fits_empty_instance(c, v, &x->need));
}

/* A rolling update (rollout.h): the current revision's copies converge to
 * what the rollout asks for; the other revision's ready copies drain as
 * it allows, and those that do not serve stop at once. Returns how many
 * copies stayed unplaced. */
static int reconcile_rollout(ctl *c, ic *x) {
  int cur_ready = 0, prev_active = 0;
  for (copy *cp = x->copies; cp; cp = cp->next) {
    if (cp->rev == x->rev) {
      cur_ready += cp->state == COPY_READY && !cp->moving;
    } else {
      prev_active += copy_active(cp);
    }
  }
  int want, keep;
  rollout_verdict v = rollout_step(c, x, cur_ready, prev_active, &want, &keep);
  if (v != ROLLOUT_PLAN) ic_save(c, x);
  if (v == ROLLOUT_CHANGED) {
    ctl_kick(c); /* the next pass plans by the new roles */
    return 0;
  }
  copy *next;
  for (copy *cp = x->copies; cp; cp = next) {
    next = cp->next;
    if (cp->rev == x->rev || !copy_active(cp)) continue;
    if (cp->state == COPY_READY && keep > 0) {
      keep--;
    } else if (cp->state == COPY_PENDING || cp->state == COPY_BACKOFF) {
      agent_forget(c, cp);
    } else {
      agent_stop(c, cp);
    }
  }
  copy **list;
  converge_copy *in;
  converge_action *act;
  size_t n = copies_for_plan(x, x->rev, &list, &in, &act);
  int add = converge_plan(in, n, want, act);
  for (size_t k = 0; k < n; k++)
    if (act[k] == CONVERGE_STOP) agent_stop(c, list[k]);
  free(list);
  free(in);
  free(act);
  for (int i = 0; i < add; i++) new_copy(c, x);
  int unplaced = place_pending(c, x);
  if (x->rollout) x->rollout->blocked = unplaced && no_room_coming(c, x) ? unplaced : 0;
  return unplaced;
}

/* Converges x's copies to its desired count, replacing moving copies
 * make before break. Returns how many copies stayed unplaced. */
static int reconcile_count(ctl *c, ic *x, int moving) {
  copy **list;
  converge_copy *in;
  converge_action *act;
  size_t n = copies_for_plan(x, -1, &list, &in, &act);
  int add = converge_plan(in, n, x->desired, act);
  for (size_t k = 0; k < n; k++) {
    if (act[k] != CONVERGE_STOP) continue;
    if (list[k]->state == COPY_PENDING || list[k]->state == COPY_BACKOFF)
      agent_forget(c, list[k]);
    else
      agent_stop(c, list[k]);
  }
  free(list);
  free(in);
  free(act);
  for (int k = 0; k < add; k++) new_copy(c, x);
  int unplaced = place_pending(c, x);
  if (unplaced && placed_copies(x) < minimum(x)) {
    endpoint *e = ctl_find_endpoint(c, x->endpoint);
    const variant *vv = e ? ctl_endpoint_variant(e, x->variant) : NULL;
    /* Only when no instance can be added for it. */
    if (vv && (!vv->managed_scaling || e->blocked[vv - e->cfg.variants])) preempt_for(c, x);
  }
  if (moving) {
    /* Make before break: a moving copy stops once its replacements serve,
     * or stays when a replacement found no room. */
    n = copies_for_plan(x, -1, &list, &in, &act);
    converge_moves(in, n, x->desired, unplaced, act);
    for (size_t k = 0; k < n; k++) {
      copy *cp = list[k];
      if (act[k] == CONVERGE_STOP) {
        agent_stop(c, cp);
      } else if (act[k] == CONVERGE_UNMOVE) {
        cp->moving = 0;
        cp->inst->evacuating = 0;
        cp->inst->res.accepting = 1;
      }
    }
    free(list);
    free(in);
    free(act);
  }
  return unplaced;
}

int ic_reconcile(ctl *c, ic *x) {
  if (x->deleting || x->failed_sticky || c->shutting_down) {
    copy *next;
    for (copy *cp = x->copies; cp; cp = next) {
      next = cp->next;
      if (cp->state == COPY_PENDING || cp->state == COPY_BACKOFF)
        agent_forget(c, cp);
      else if (copy_active(cp))
        agent_stop(c, cp);
    }
    return x->deleting && !x->copies;
  }
  /* The health-check deadline agent.c applies to the copies it starts. */
  x->startup_timeout_s = ic_startup_timeout_s(c, x);
  /* Copies on an instance being consolidated away are replaced first and
   * stopped after (make before break). */
  int moving = 0;
  for (copy *cp = x->copies; cp; cp = cp->next) {
    if (cp->inst && cp->inst->evacuating && !cp->moving &&
        (cp->state == COPY_READY || cp->state == COPY_STARTING || cp->state == COPY_BACKOFF ||
         cp->state == COPY_SLEEPING))
      cp->moving = 1;
    moving += cp->moving && cp->state != COPY_DRAINING && cp->state != COPY_STOPPING;
  }
  int unplaced = x->rollout ? reconcile_rollout(c, x) : reconcile_count(c, x, moving);
  int ready = 0;
  /* A sleeping copy serves again on the next request: it counts. */
  for (copy *cp = x->copies; cp; cp = cp->next)
    ready += (cp->state == COPY_READY || cp->state == COPY_SLEEPING) && !cp->moving;
  endpoint *ep = ctl_find_endpoint(c, x->endpoint);
  const variant *v = ep ? ctl_endpoint_variant(ep, x->variant) : NULL;
  if (unplaced && !no_room_coming(c, x)) {
    /* The fleet is adding an instance for it: not a failure (yet). */
  } else if (unplaced) {
    if (v && v->managed_scaling && ep->blocked[v - ep->cfg.variants] && ep->launch_failure[0])
      snprintf(x->failure, sizeof x->failure, "%s ManagedInstanceScaling cannot add an "
               "instance: %s", NO_CAPACITY_REASON, ep->launch_failure);
    else if (v && v->managed_scaling && ep->blocked[v - ep->cfg.variants])
      snprintf(x->failure, sizeof x->failure, "%s The endpoint is at MaxInstanceCount (%d) of "
               "its ManagedInstanceScaling.", NO_CAPACITY_REASON, v->max_instances);
    else
      snprintf(x->failure, sizeof x->failure, "%s", NO_CAPACITY_REASON);
  } else if (strncmp(x->failure, NO_CAPACITY_REASON, strlen(NO_CAPACITY_REASON)) == 0) {
    x->failure[0] = '\0';
  }
  if (!x->rollout && ready >= x->desired && !unplaced) {
    int settled = 1;
    for (copy *cp = x->copies; cp; cp = cp->next)
      if (cp->state == COPY_STARTING || cp->state == COPY_PENDING) settled = 0;
    if (settled) {
      set_status(x, IC_IN_SERVICE);
      x->failure[0] = '\0';
    }
  }
  return 0;
}

void ic_free(ic *x) {
  if (x->scaling) json_decref(x->scaling->doc);
  free(x->scaling);
  free(x->forecast);
  metrics_free(x->metrics);
  json_decref(x->doc);
  json_decref(x->adapter_loads);
  rollout_free(x->rollout);
  if (x->held) shared_count_release(x->held);
  free(x);
}

void ic_hold(ic *x) {
  x->refs++;
}

void ic_drop(ic *x) {
  if (--x->refs == 0 && x->unlinked) ic_free(x);
}

void ic_unlink(ic *x) {
  x->unlinked = 1;
  if (x->refs == 0) ic_free(x);
}

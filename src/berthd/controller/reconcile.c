/* reconcile: the controller's loop: loads desired state from the store and
 * converges endpoints, instances and ICs towards it (reconcile.h). */
#include "reconcile.h"

#include "agent_tokens.h"
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aas.h"
#include "alarms.h"
#include "adapter_ic.h"
#include "agent.h"
#include "berth/fleet.h"
#include "copy_sleep_policy.h"
#include "endpoint_update.h"
#include "berth/log.h"
#include "ic.h"
#include "local_agent.h"
#include "metrics.h"
#include "metrics_persist.h"
#include "model.h"
#include "pool.h"
#include "exec_provider.h"
#include "rollout.h"
#include "routing.h"
#include "store.h"

#define TICK_MS 500
#define ADOPT_WAIT_S 10.0 /* after a restart, for agents to report their copies */

/* ---- loading ---- */

static int load_config(const char *name, json_t *doc, void *ud) {
  ctl *c = ud;
  api_error e;
  endpoint_config *cfg = berth_xcalloc(1, sizeof *cfg);
  if (model_parse_config(c, doc, cfg, &e)) {
    berth_log(BERTH_LOG_ERROR, "endpoint config %s no longer loads: %s", name, e.message);
    free(cfg);
    return 0;
  }
  cfg->doc = json_incref(doc);
  cfg->created = json_number_value(json_object_get(doc, "CreationTime"));
  cfg->next = c->configs;
  c->configs = cfg;
  return 0;
}

static int load_model(const char *name, json_t *doc, void *ud) {
  ctl *c = ud;
  json_object_set(c->models, name, doc);
  return 0;
}

static int load_endpoint(const char *name, json_t *doc, void *ud) {
  ctl *c = ud;
  api_error e;
  endpoint *ep = berth_xcalloc(1, sizeof *ep);
  json_t *cfgdoc = json_object_get(doc, "Config");
  if (model_parse_config(c, cfgdoc, &ep->cfg, &e)) {
    berth_log(BERTH_LOG_ERROR, "endpoint %s no longer loads: %s", name, e.message);
    free(ep);
    return 0;
  }
  ep->cfg.doc = json_incref(cfgdoc);
  snprintf(ep->name, sizeof ep->name, "%s", name);
  snprintf(ep->config_name, sizeof ep->config_name, "%s",
           json_string_value(json_object_get(doc, "EndpointConfigName")));
  const char *status = json_string_value(json_object_get(doc, "EndpointStatus"));
  /* Instances are rebuilt: an endpoint that was serving comes back through
   * Creating unless it was being deleted. */
  ep->status = status && strcmp(status, "Deleting") == 0 ? ENDPOINT_DELETING : ENDPOINT_CREATING;
  const char *fr = json_string_value(json_object_get(doc, "FailureReason"));
  if (fr) snprintf(ep->failure, sizeof ep->failure, "%s", fr);
  /* An UpdateEndpoint in progress goes on (or on rolling back). */
  ep->update = json_deep_copy(json_object_get(doc, "Update"));
  if (ep->update && ep->status != ENDPOINT_DELETING) ep->status = ENDPOINT_UPDATING;
  ep->last_deployment = json_deep_copy(json_object_get(doc, "LastDeploymentConfig"));
  ep->created = json_number_value(json_object_get(doc, "CreationTime"));
  ep->modified = json_number_value(json_object_get(doc, "LastModifiedTime"));
  ep->tags = json_incref(json_object_get(doc, "Tags"));
  ep->next = c->endpoints;
  c->endpoints = ep;
  return 0;
}

static int load_ic(const char *name, json_t *doc, void *ud) {
  ctl *c = ud;
  api_error e;
  ic *x = berth_xcalloc(1, sizeof *x);
  if (model_parse_ic(c, doc, x, 0, &e)) {
    berth_log(BERTH_LOG_ERROR, "inference component %s no longer loads: %s", name, e.message);
    free(x);
    return 0;
  }
  x->doc = json_incref(doc);
  x->metrics = metrics_new(ctl_clock());
  x->created = json_number_value(json_object_get(doc, "CreationTime"));
  x->modified = json_number_value(json_object_get(doc, "LastModifiedTime"));
  if (x->modified == 0) x->modified = x->created;
  const char *status = json_string_value(json_object_get(doc, "Status"));
  const char *fr = json_string_value(json_object_get(doc, "FailureReason"));
  x->status = ic_status_parse(status, IC_CREATING);
  if (fr) snprintf(x->failure, sizeof x->failure, "%s", fr);
  x->deleting = status && strcmp(status, "Deleting") == 0;
  x->failed_sticky = status && strcmp(status, "Failed") == 0;
  /* Its revision, and a rolling update in progress (it goes on). */
  rollout_load(x);
  ic old;
  memset(&old, 0, sizeof old);
  if (x->rollout && model_parse_ic(c, x->rollout->old_doc, &old, 0, &e) == 0)
    x->rollout->old_need = old.need;
  if (x->rollout && !x->deleting) x->status = IC_UPDATING;
  /* Keep the store's order: append. */
  ic **pp = &c->ics;
  while (*pp) pp = &(*pp)->next;
  *pp = x;
  return 0;
}

int ctl_load(ctl *c) {
  c->models = json_object();
  c->activities = json_array();
  int rc = store_each(c->db, "endpoint-config", load_config, c);
  if (!rc) rc = store_each(c->db, "model", load_model, c);
  if (!rc) rc = store_each(c->db, "endpoint", load_endpoint, c);
  if (!rc) rc = store_each(c->db, "inference-component", load_ic, c);
  if (!rc) rc = metrics_persist_load(c); /* the last 24 hours of their metrics */
  if (!rc) rc = aas_load(c);
  if (!rc) rc = alarms_load(c);
  if (!rc && !c->pool) rc = local_agent_load(c);
  if (!rc && c->pool) rc = agent_tokens_load(c);
  if (!rc && c->exec) rc = exec_provider_load(c);
  /* Agents report the copies that survived us before anything is placed:
   * all loaded instances, or ADOPT_WAIT_S, whichever comes first. */
  if (!rc && (c->instances || c->pool)) c->adopt_until = ctl_clock() + ADOPT_WAIT_S;
  return rc;
}

/* ---- instances ---- */

/* A new instance of type tname for ep/v, or NULL with why filled. No free
 * agent of the type (pool provider) or no free accelerators for it (local
 * provider) is SageMaker's insufficient capacity. */
static instance *instance_of_type(ctl *c, endpoint *ep, const variant *v, const char *tname,
                                  char *why, size_t whysz) {
  if (c->pool) {
    instance *in = pool_claim(c, ep->name, v->name, tname);
    if (!in && c->exec) {
      /* The exec provider's launch is refused: the last one failed. */
      exec_provider_why(c, ep->name, v->name, why, whysz);
      if (!why[0]) snprintf(why, whysz, "Instance type %s is not in the catalog %s", tname,
                            berth_catalog_default_path());
    } else if (!in) {
      snprintf(why, whysz, "no free %s agent in the pool (berthd agent --join ... "
               "--instance-type %s)", tname, tname);
    }
    return in;
  }
  const berth_instance_type *t = berth_catalog_find(&c->catalog, tname);
  if (!t) {
    snprintf(why, whysz, "Instance type %s is not in the catalog %s", tname,
             berth_catalog_default_path());
    return NULL;
  }
  instance *in = local_agent_launch(c, ep->name, v->name, t, why, whysz);
  if (!in) return NULL;
  berth_log(BERTH_LOG_INFO, "%s/%s: instance %lld (%s) started", ep->name, v->name,
          (long long)in->id, t->name);
  return in;
}

/* The variant's InstancePools as fleet candidates (capacity, price,
 * priority), in the variant's pool order. Returns how many. */
static size_t variant_fleet_types(ctl *c, const variant *v, fleet_type *types) {
  size_t n = 0;
  for (int k = 0; k < v->n_pools; k++) {
    const berth_instance_type *t = berth_catalog_find(&c->catalog, v->pools[k].instance_type);
    memset(&types[n], 0, sizeof types[n]);
    if (t) {
      types[n].empty = ctl_instance_capacity(c, t);
      types[n].price_per_hour = t->price_per_hour;
    } else {
      types[n].unavailable = 1;
    }
    types[n].priority = v->pools[k].priority;
    n++;
  }
  return n;
}

/* Appends "TYPE: why" to the list of failed launches in all. */
static void note_failure(char *all, size_t allsz, const char *tname, const char *why) {
  const char *parts[4] = {all[0] ? "; " : "", tname, ": ", why};
  size_t len = strlen(all);
  for (int p = 0; p < 4; p++) /* bounded: the list is cut where it is full */
    for (const char *q = parts[p]; *q && len + 1 < allsz; q++) all[len++] = *q;
  all[len] = '\0';
}

/* A new instance for ep/v, or NULL with why filled: the variant's type, or
 * with InstancePools each pool in launch order (fleet_type_order: priority,
 * then price) until one launches. */
static instance *instance_new(ctl *c, endpoint *ep, const variant *v, char *why, size_t whysz) {
  if (v->n_pools == 0) return instance_of_type(c, ep, v, v->instance_type, why, whysz);
  fleet_type types[FLEET_MAX_TYPES];
  int order[FLEET_MAX_TYPES];
  size_t n = variant_fleet_types(c, v, types);
  fleet_type_order(types, n, order);
  char one[256];
  why[0] = '\0';
  for (size_t k = 0; k < n; k++) {
    const char *tname = v->pools[order[k]].instance_type;
    instance *in = instance_of_type(c, ep, v, tname, one, sizeof one);
    if (in) return in;
    note_failure(why, whysz, tname, one);
  }
  return NULL;
}

static int instance_in_use(ctl *c, const instance *in) {
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next)
      if (cp->inst == in) return 1;
  return 0;
}

/* Removes the endpoint's instances that hold no copies. Returns how many
 * remain. */
static int release_instances(ctl *c, endpoint *ep) {
  int left = 0;
  instance **pp = &c->instances;
  while (*pp) {
    instance *in = *pp;
    if (strcmp(in->endpoint, ep->name) == 0) {
      if (!instance_in_use(c, in) && !in->agent) {
        int deleted = in->exec != NULL; /* the exec provider unlinks it */
        pool_release(c, in);
        if (!deleted) pp = &in->next;
        continue;
      }
      if (!instance_in_use(c, in)) {
        berth_log(BERTH_LOG_INFO, "%s: instance %lld released", ep->name, (long long)in->id);
        local_agent_release(c, in);
        continue;
      }
      left++;
    }
    pp = &in->next;
  }
  return left;
}

static void endpoint_free(endpoint *ep) {
  json_decref(ep->cfg.doc);
  json_decref(ep->update);
  json_decref(ep->last_deployment);
  json_decref(ep->tags);
  free(ep);
}

static void release_instance(ctl *c, instance *victim) {
  if (!victim->agent) {
    pool_release(c, victim);
    return;
  }
  berth_log(BERTH_LOG_INFO, "%s/%s: instance %lld released", victim->endpoint, victim->variant,
            (long long)victim->id);
  local_agent_release(c, victim);
}

static int copies_on(ctl *c, const instance *in) {
  int n = 0;
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next) n += cp->inst == in;
  return n;
}

/* Managed instance scaling for one variant: feeds the pure fleet module
 * the variant's instances, placed copies and pending copies, and applies
 * what it decides. */
static void fleet_step(ctl *c, endpoint *ep, int vi) {
  const variant *v = &ep->cfg.variants[vi];
  enum { MAX_FLEET = 512, MAX_FLEET_COPIES = 8192 };
  instance *list[MAX_FLEET];
  fleet_instance fi[MAX_FLEET];
  size_t n = 0;
  double now = ctl_clock();
  for (instance *in = c->instances; in && n < MAX_FLEET; in = in->next) {
    if (strcmp(in->endpoint, ep->name) != 0 || strcmp(in->variant, v->name) != 0) continue;
    int copies = copies_on(c, in);
    if (copies == 0 && in->evacuating) {
      /* Consolidated: every copy moved away. */
      release_instance(c, in); /* the next pass looks at the rest */
      ep->last_scale_in[vi] = now;
      ctl_kick(c);
      return;
    }
    if (copies == 0 && in->idle_since == 0) in->idle_since = now;
    if (copies > 0) in->idle_since = 0;
    list[n] = in;
    fi[n].res = in->res;
    fi[n].copies = copies;
    fi[n].idle_since = in->idle_since;
    fi[n].evacuating = in->evacuating;
    fi[n].type = 0;               /* its pool: set below with InstancePools */
    n++;
  }
  fleet_copy *placed = berth_xcalloc(MAX_FLEET_COPIES, sizeof *placed);
  sched_need *pending = berth_xcalloc(MAX_FLEET_COPIES, sizeof *pending);
  sched_strategy *pstrat = berth_xcalloc(MAX_FLEET_COPIES, sizeof *pstrat);
  size_t np = 0, npend = 0;
  for (ic *x = c->ics; x; x = x->next) {
    if (strcmp(x->endpoint, ep->name) != 0 || strcmp(x->variant, v->name) != 0) continue;
    for (copy *cp = x->copies; cp; cp = cp->next) {
      if (cp->state == COPY_PENDING && !cp->inst && npend < MAX_FLEET_COPIES) {
        pending[npend] = cp->need;
        pstrat[npend++] = x->strategy;
      } else if (cp->inst && np < MAX_FLEET_COPIES) {
        for (size_t i = 0; i < n; i++)
          if (list[i] == cp->inst) {
            placed[np].instance = i;
            placed[np].need = cp->need;
            placed[np].strategy = x->strategy;
            np++;
          }
      }
    }
  }
  const berth_instance_type *t = berth_catalog_find(&c->catalog, v->instance_type);
  fleet_input in = {.instances = fi, .n_instances = n, .copies = placed, .n_copies = np,
                    .pending = pending, .pending_strategy = pstrat, .n_pending = npend};
  if (t) in.template_instance = ctl_instance_capacity(c, t);
  /* InstancePools: every pool is a candidate; an instance knows its pool. */
  fleet_type types[FLEET_MAX_TYPES];
  if (v->n_pools > 0) {
    in.types = types;
    in.n_types = variant_fleet_types(c, v, types);
    for (size_t i = 0; i < n; i++) {
      fi[i].type = -1;
      for (int k = 0; k < v->n_pools; k++)
        if (list[i]->type && strcmp(list[i]->type->name, v->pools[k].instance_type) == 0)
          fi[i].type = k;
    }
  }
  in.now = now;
  in.last_scale_in = ep->last_scale_in[vi];
  /* A variant scalable target's DesiredInstanceCount is a floor here:
   * managed scaling still adds what pending copies need. */
  int floor_n = aas_variant_instances(c, ep, vi, v->min_instances);
  fleet_policy p = {1, floor_n > v->min_instances ? floor_n : v->min_instances, v->max_instances,
                    v->consolidation ? FLEET_CONSOLIDATION : FLEET_IDLE_RELEASE, v->max_step,
                    c->instance_cooldown_s > 0 ? c->instance_cooldown_s : v->cooldown_min * 60.0};
  fleet_actions a;
  int added = 0, failed = 0, any_failed = 0;
  char why[sizeof ep->launch_failure], all[sizeof ep->launch_failure];
  all[0] = '\0';
  /* A type whose launch fails for capacity is marked unavailable and the
   * choice made again (the next pool by price and priority), as long as
   * nothing was launched yet in this step: the input is then unchanged. */
  for (int attempt = 0;; attempt++) {
    fleet_decide(&p, &in, &a);
    failed = 0;
    for (int k = 0; k < a.add; k++, added++) {
      int ti = a.add_type[k < 64 ? k : 63];
      const char *tname = v->n_pools ? v->pools[ti].instance_type : v->instance_type;
      if (!instance_of_type(c, ep, v, tname, why, sizeof why)) {
        failed = any_failed = 1;
        if (v->n_pools) {
          note_failure(all, sizeof all, tname, why);
          types[ti].unavailable = 1;
        } else {
          snprintf(all, sizeof all, "%s", why);
        }
        break;
      }
    }
    if (!failed || added > 0 || v->n_pools == 0 || attempt >= v->n_pools) break;
  }
  if (any_failed && added == 0) {
    /* Pending copies then say why no instance comes (ic.c); past the
     * variant's VariantInstanceProvisionTimeoutInSeconds, so does it. */
    if (ep->launch_failing_since[vi] == 0) ep->launch_failing_since[vi] = now;
    double waited = now - ep->launch_failing_since[vi];
    if (v->provision_timeout_s > 0 && waited >= v->provision_timeout_s)
      snprintf(why, sizeof why, "Could not launch an instance within "
               "VariantInstanceProvisionTimeoutInSeconds (%d s): %.400s", v->provision_timeout_s, all);
    else
      snprintf(why, sizeof why, "%s", all);
    if (strcmp(why, ep->launch_failure) != 0)
      berth_log(BERTH_LOG_WARN, "%s/%s: cannot add an instance: %s", ep->name, v->name, why);
    snprintf(ep->launch_failure, sizeof ep->launch_failure, "%s", why);
  }
  if (added > 0 || (a.add == 0 && !any_failed)) {
    ep->launch_failure[0] = '\0';
    ep->launch_failing_since[vi] = 0;
  }
  /* CONSOLIDATION onto a cheaper pool: make before break, the replacement
   * first, then the old instance is evacuated like any other. */
  for (size_t k = 0; k < a.n_replace; k++) {
    const char *tname = v->pools[a.replace_type[k]].instance_type;
    instance *victim = list[a.replace[k]];
    if (!instance_of_type(c, ep, v, tname, why, sizeof why)) continue;
    added++;
    victim->evacuating = 1;
    victim->res.accepting = 0;
    ep->last_scale_in[vi] = now;
    berth_log(BERTH_LOG_INFO, "%s/%s: replacing instance %lld (%s) by a cheaper %s", ep->name,
              v->name, (long long)victim->id, victim->type ? victim->type->name : "?", tname);
  }
  for (size_t k = 0; k < a.n_evacuate; k++) {
    list[a.evacuate[k]]->evacuating = 1;
    list[a.evacuate[k]]->res.accepting = 0;
    berth_log(BERTH_LOG_INFO, "%s/%s: consolidating instance %lld away", ep->name, v->name,
            (long long)list[a.evacuate[k]]->id);
  }
  for (size_t k = 0; k < a.n_release; k++) release_instance(c, list[a.release[k]]);
  if (a.n_release || a.n_evacuate) ep->last_scale_in[vi] = now;
  ep->desired_instances[vi] = (int)n + added - (int)a.n_release;
  ep->blocked[vi] = a.pending_blocked || added < a.add || (any_failed && added == 0);
  if (added || a.n_release || a.n_evacuate) ctl_kick(c);
  free(placed);
  free(pending);
  free(pstrat);
}

/* A variant scalable target lowered the count (no managed scaling): running
 * instances above `want` go once they hold no copies; copies are never
 * stopped for it. */
static void release_extra(ctl *c, endpoint *ep, const variant *v, int want) {
  int running = 0;
  for (instance *in = c->instances; in; in = in->next)
    running += strcmp(in->endpoint, ep->name) == 0 && strcmp(in->variant, v->name) == 0 &&
               in->state == INSTANCE_RUNNING;
  instance *next;
  for (instance *in = c->instances; in && running > want; in = next) {
    next = in->next;
    if (strcmp(in->endpoint, ep->name) != 0 || strcmp(in->variant, v->name) != 0 ||
        in->state != INSTANCE_RUNNING || instance_in_use(c, in))
      continue;
    release_instance(c, in);
    running--;
  }
}

static void reconcile_endpoint(ctl *c, endpoint *ep) {
  if (ep->update) {
    endpoint_update_step(c, ep); /* sizes and replaces instances itself */
    return;
  }
  for (int i = 0; i < ep->cfg.n_variants; i++) {
    const variant *v = &ep->cfg.variants[i];
    int have = 0;
    for (instance *in = c->instances; in; in = in->next)
      if (strcmp(in->endpoint, ep->name) == 0 && strcmp(in->variant, v->name) == 0) have++;
    if (v->managed_scaling && ep->started[i]) continue; /* the fleet step sizes it */
    ep->started[i] = 1;
    int want = aas_variant_instances(c, ep, i, v->initial_instances); /* a scalable target's */
    if (v->managed_scaling)
      want = want < v->min_instances ? v->min_instances
           : want > v->max_instances ? v->max_instances : want;
    ep->desired_instances[i] = want;
    char why[sizeof ep->failure];
    for (; have < want; have++)
      if (!instance_new(c, ep, v, why, sizeof why)) {
        if (c->pool) {
          /* Waits for agents of this type to join (or, exec provider, for
           * its next launch); the endpoint stays Creating until it has its
           * instances. */
          if (c->exec)
            snprintf(ep->failure, sizeof ep->failure, "Waiting for %d more %s instance(s): %.300s",
                     want - have, v->instance_type, why);
          else
            snprintf(ep->failure, sizeof ep->failure,
                     "Waiting for %d more %s instance(s) to join the pool (berthd agent --join)",
                     want - have, v->instance_type);
          ep->started[i] = 0;
          return;
        }
        snprintf(ep->failure, sizeof ep->failure, "%s", why);
        berth_log(BERTH_LOG_WARN, "endpoint %s failed: %s", ep->name, why);
        ep->status = ENDPOINT_FAILED;
        ep->modified = ctl_now();
        ctl_save_endpoint(c, ep);
        return;
      }
    if (!v->managed_scaling) release_extra(c, ep, v, want);
  }
  if (ep->status == ENDPOINT_CREATING || ep->status == ENDPOINT_UPDATING) {
    ep->failure[0] = '\0';
    ep->status = ENDPOINT_IN_SERVICE;
    ep->modified = ctl_now();
    ctl_save_endpoint(c, ep);
    berth_log(BERTH_LOG_INFO, "endpoint %s is InService", ep->name);
  }
}

static void reconcile(ctl *c);

void ctl_reconcile(ctl *c) {
  if (!ctl_adopting(c)) reconcile(c);
  pool_wake(c, 0);    /* agents whose copies changed hear it now */
  routing_wake(c, 0); /* and routers whose snapshot changed */
}

static void reconcile(ctl *c) {
  for (endpoint *ep = c->endpoints; ep; ep = ep->next)
    if (ep->status != ENDPOINT_DELETING && ep->status != ENDPOINT_FAILED)
      reconcile_endpoint(c, ep);
  /* ICs short of their minimum place their copies first, so a critical
   * model's floor wins over another model's scale-out when room is short. */
  for (ic *x = c->ics; x; x = x->next)
    if (ic_below_minimum(x)) ic_reconcile(c, x);
  ic **pp = &c->ics;
  while (*pp) {
    ic *x = *pp;
    /* An adapter is never placed: it lives in its base's copies. */
    if (x->base[0] ? adapter_ic_reconcile(c, x) : ic_reconcile(c, x)) {
      *pp = x->next;
      store_delete(c->db, "scaling", x->name);
      metrics_persist_forget(c, x);
      if (store_delete(c->db, "inference-component", x->name) == 0) {
        berth_log(BERTH_LOG_INFO, "inference component %s deleted", x->name);
        ic_unlink(x);
        continue;
      }
      x->next = *pp; /* keep it and try again next tick */
      *pp = x;
    }
    copy_sleep_policy_step(c, *pp); /* idle copies sleep, long-asleep ones stop */
    pp = &(*pp)->next;
  }
  for (endpoint *ep = c->endpoints; ep; ep = ep->next)
    if (ep->status == ENDPOINT_IN_SERVICE && !c->shutting_down)
      for (int i = 0; i < ep->cfg.n_variants; i++)
        if (ep->cfg.variants[i].managed_scaling) fleet_step(c, ep, i);
  endpoint **ep_pp = &c->endpoints;
  while (*ep_pp) {
    endpoint *ep = *ep_pp;
    if (ep->status == ENDPOINT_DELETING && release_instances(c, ep) == 0 &&
        store_delete(c->db, "endpoint", ep->name) == 0) {
      *ep_pp = ep->next;
      berth_log(BERTH_LOG_INFO, "endpoint %s deleted", ep->name);
      endpoint_free(ep);
      continue;
    }
    ep_pp = &ep->next;
  }
}

static void on_kick(uv_timer_t *t) {
  ctl *c = t->data;
  c->kicked = 0;
  ctl_reconcile(c);
}

static void on_tick(uv_timer_t *t) {
  ctl *c = t->data;
  pool_check_lost(c);
  exec_provider_check(c); /* join deadlines, delete retries */
  ctl_reconcile(c);
}

/* Coalesces: many changes in one loop iteration cause one pass. */
static void kick(ctl *c) {
  if (!c->kicked) {
    c->kicked = 1;
    uv_timer_start(&c->kick, on_kick, 0, 0);
  }
}

void ctl_start(ctl *c) {
  c->on_kick = kick;
  c->wake_sleepers = copy_sleep_policy_wake; /* routing.c calls it */
  uv_timer_init(c->loop, &c->tick);
  c->tick.data = c;
  uv_timer_init(c->loop, &c->kick);
  c->kick.data = c;
  uv_timer_start(&c->tick, on_tick, TICK_MS, TICK_MS);
  if (!c->pool) local_agent_start_all(c);
  ctl_kick(c);
}

void ctl_stop_all(ctl *c) {
  for (ic *x = c->ics; x; x = x->next) {
    copy *next;
    for (copy *cp = x->copies; cp; cp = next) {
      next = cp->next;
      if (cp->state == COPY_PENDING || cp->state == COPY_BACKOFF)
        agent_forget(c, cp);
      else
        agent_stop(c, cp);
    }
  }
}

void ctl_free_state(ctl *c) {
  auth_free_all(c);
  while (c->configs) {
    endpoint_config *x = c->configs;
    c->configs = x->next;
    json_decref(x->doc);
    free(x);
  }
  while (c->endpoints) {
    endpoint *x = c->endpoints;
    c->endpoints = x->next;
    endpoint_free(x);
  }
  while (c->ics) {
    ic *x = c->ics;
    c->ics = x->next;
    while (x->copies) {
      copy *cp = x->copies;
      x->copies = cp->next;
      copy_free(cp);
    }
    ic_free(x);
  }
  while (c->instances) {
    instance *x = c->instances;
    c->instances = x->next;
    free(x);
  }
  local_agent_free_all(c);
  exec_provider_free(c);
  alarms_free(c);
  json_decref(c->models);
  c->models = NULL;
  aas_free(c);
  json_decref(c->activities);
  c->activities = NULL;
  berth_catalog_free(&c->catalog);
}

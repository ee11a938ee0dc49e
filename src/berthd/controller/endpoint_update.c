/* endpoint_update: UpdateEndpoint and its rollout (endpoint_update.h). */
#include "endpoint_update.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alarms.h"
#include "berth/log.h"
#include "ic.h"
#include "local_agent.h"
#include "model.h"
#include "pool.h"
#include "rollout.h"

/* The update state, as stored ("Update" of the endpoint's document):
 *   EndpointConfigName, PreviousConfigName, PreviousConfig (document),
 *   Targets / PreviousTargets {variant: instances}, OldInstances [ids]
 *   (every instance at the start: a rollback keeps these), Leaving [ids]
 *   (those the forward update replaces), StartTime, Deadline (epoch s),
 *   RollingBack, FailureReason, DeploymentConfig (the one that applies). */

/* Without a MaximumExecutionTimeoutInSeconds: instance start-up on top of
 * the ICs' own download and health-check timeouts. */
#define INSTANCE_START_ALLOWANCE_S 60

static const char *const property_types[] = {"DesiredInstanceCount", "DesiredWeight",
                                             "DataCaptureConfig", NULL};
static const char *const batch_types[] = {"INSTANCE_COUNT", "CAPACITY_PERCENT", NULL};
static const char *const traffic_types[] = {"ALL_AT_ONCE", "CANARY", "LINEAR", NULL};

static int valid_bool(json_t *req, const char *key, int *out, api_error *e) {
  json_t *v = json_object_get(req, key);
  *out = 0;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v))
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                    "Member must be a boolean", key);
  *out = json_is_true(v);
  return 0;
}

static int valid_capacity_size(json_t *o, const char *key, const char *path, int required,
                               api_error *e) {
  json_t *cs;
  char p[160];
  const char *s;
  long long n;
  if (valid_object(o, key, path, required, &cs, e)) return -1;
  if (!cs) return 0;
  snprintf(p, sizeof p, "%s.Type", path);
  if (valid_enum(cs, "Type", p, 1, batch_types, NULL, &s, e)) return -1;
  snprintf(p, sizeof p, "%s.Value", path);
  return valid_int(cs, "Value", p, 1, 1, 1000000, 1, &n, e);
}

/* DeploymentConfig as the service model has it. Berth applies
 * MaximumExecutionTimeoutInSeconds; the rest is kept and described. */
static int valid_deployment(json_t *dc, long long *max_exec_s, api_error *e) {
  json_t *bg, *ru, *ar, *trc, *alarms;
  const char *s;
  long long n;
  *max_exec_s = 0;
  if (valid_object(dc, "BlueGreenUpdatePolicy", "DeploymentConfig.BlueGreenUpdatePolicy", 0, &bg,
                   e) ||
      valid_object(dc, "RollingUpdatePolicy", "DeploymentConfig.RollingUpdatePolicy", 0, &ru, e) ||
      valid_object(dc, "AutoRollbackConfiguration", "DeploymentConfig.AutoRollbackConfiguration",
                   0, &ar, e))
    return -1;
  if (bg && ru)
    return api_fail(e, 400, "ValidationException",
                    "DeploymentConfig: give either BlueGreenUpdatePolicy or RollingUpdatePolicy, "
                    "not both");
  if (bg) {
    const char *p = "DeploymentConfig.BlueGreenUpdatePolicy";
    char q[160];
    snprintf(q, sizeof q, "%s.TrafficRoutingConfiguration", p);
    if (valid_object(bg, "TrafficRoutingConfiguration", q, 1, &trc, e)) return -1;
    char r[224];
    snprintf(r, sizeof r, "%s.Type", q);
    if (valid_enum(trc, "Type", r, 1, traffic_types, NULL, &s, e)) return -1;
    snprintf(r, sizeof r, "%s.WaitIntervalInSeconds", q);
    if (valid_int(trc, "WaitIntervalInSeconds", r, 1, 0, 3600, 0, &n, e)) return -1;
    snprintf(r, sizeof r, "%s.CanarySize", q);
    if (valid_capacity_size(trc, "CanarySize", r, 0, e)) return -1;
    snprintf(r, sizeof r, "%s.LinearStepSize", q);
    if (valid_capacity_size(trc, "LinearStepSize", r, 0, e)) return -1;
    snprintf(q, sizeof q, "%s.TerminationWaitInSeconds", p);
    if (valid_int(bg, "TerminationWaitInSeconds", q, 0, 0, 3600, 0, &n, e)) return -1;
    snprintf(q, sizeof q, "%s.MaximumExecutionTimeoutInSeconds", p);
    if (valid_int(bg, "MaximumExecutionTimeoutInSeconds", q, 0, 600, 14400, 0, max_exec_s, e))
      return -1;
  }
  if (ru) {
    const char *p = "DeploymentConfig.RollingUpdatePolicy";
    char q[160];
    snprintf(q, sizeof q, "%s.MaximumBatchSize", p);
    if (valid_capacity_size(ru, "MaximumBatchSize", q, 1, e)) return -1;
    snprintf(q, sizeof q, "%s.WaitIntervalInSeconds", p);
    if (valid_int(ru, "WaitIntervalInSeconds", q, 1, 0, 3600, 0, &n, e)) return -1;
    snprintf(q, sizeof q, "%s.MaximumExecutionTimeoutInSeconds", p);
    if (valid_int(ru, "MaximumExecutionTimeoutInSeconds", q, 0, 600, 28800, 0, max_exec_s, e))
      return -1;
    snprintf(q, sizeof q, "%s.RollbackMaximumBatchSize", p);
    if (valid_capacity_size(ru, "RollbackMaximumBatchSize", q, 0, e)) return -1;
  }
  if (ar) {
    const char *p = "DeploymentConfig.AutoRollbackConfiguration.Alarms";
    if (valid_array(ar, "Alarms", p, 0, 1, 10, &alarms, e)) return -1;
    size_t i;
    json_t *a;
    json_array_foreach(alarms, i, a) {
      char q[160];
      snprintf(q, sizeof q, "%s.%zu.AlarmName", p, i + 1);
      if (!json_is_object(a))
        return api_fail(e, 400, "ValidationException",
                        "1 validation error detected: Value at '%s.%zu' failed to satisfy "
                        "constraint: Member must be a structure", p, i + 1);
      if (valid_string(a, "AlarmName", q, 1, 255, &s, e)) return -1;
    }
  }
  return 0;
}

/* ---- helpers over the endpoint's instances ---- */

static int copies_on(ctl *c, const instance *in) {
  int n = 0;
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next) n += cp->inst == in;
  return n;
}

static int id_in(json_t *ids, int64_t id) {
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) if (json_integer_value(v) == id) return 1;
  return 0;
}

/* Whether the update (in its current direction) replaces this instance. */
static int is_leaving(json_t *u, const instance *in) {
  if (json_is_true(json_object_get(u, "RollingBack")))
    return !id_in(json_object_get(u, "OldInstances"), in->id);
  return id_in(json_object_get(u, "Leaving"), in->id);
}

static int target_of(json_t *u, const variant *v) {
  const char *key = json_is_true(json_object_get(u, "RollingBack")) ? "PreviousTargets"
                                                                      : "Targets";
  json_t *n = json_object_get(json_object_get(u, key), v->name);
  return json_is_integer(n) ? (int)json_integer_value(n) : v->initial_instances;
}

/* The instance count a variant of a new config starts with. */
static int initial_target(const variant *v) {
  int want = v->initial_instances;
  if (v->managed_scaling)
    want = want < v->min_instances ? v->min_instances
         : want > v->max_instances ? v->max_instances : want;
  return want;
}

/* ep takes cfg (its doc is a reference given to ep); the per-variant
 * memory follows each variant by name. */
static void take_config(endpoint *ep, const endpoint_config *cfg) {
  endpoint old = *ep;
  json_decref(ep->cfg.doc);
  ep->cfg = *cfg;
  ep->cfg.next = NULL;
  for (int i = 0; i < ep->cfg.n_variants; i++) {
    ep->started[i] = ep->desired_instances[i] = ep->blocked[i] = 0;
    ep->last_scale_in[i] = 0;
    for (int k = 0; k < old.cfg.n_variants; k++)
      if (strcmp(old.cfg.variants[k].name, ep->cfg.variants[i].name) == 0) {
        ep->started[i] = old.started[k];
        ep->desired_instances[i] = old.desired_instances[k];
        ep->blocked[i] = old.blocked[k];
        ep->last_scale_in[i] = old.last_scale_in[k];
      }
  }
}

static void release(ctl *c, instance *in) {
  in->leaving = 0;
  if (in->agent) {
    berth_log(BERTH_LOG_INFO, "%s/%s: instance %lld released (UpdateEndpoint)", in->endpoint,
              in->variant, (long long)in->id);
    local_agent_release(c, in);
  } else {
    pool_release(c, in);
  }
}

/* ---- the API call ---- */

int endpoint_update_call(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *name, *cfgname;
  int retain, retain_dc;
  json_t *excl, *dc;
  long long max_exec_s = 0;
  if (valid_name(req, "EndpointName", "EndpointName", 1, &name, e) ||
      valid_name(req, "EndpointConfigName", "EndpointConfigName", 1, &cfgname, e) ||
      valid_bool(req, "RetainAllVariantProperties", &retain, e) ||
      valid_bool(req, "RetainDeploymentConfig", &retain_dc, e) ||
      valid_array(req, "ExcludeRetainedVariantProperties", "ExcludeRetainedVariantProperties", 0,
                  0, 3, &excl, e) ||
      valid_object(req, "DeploymentConfig", "DeploymentConfig", 0, &dc, e))
    return -1;
  int keep_count = retain;
  size_t i;
  json_t *p;
  json_array_foreach(excl, i, p) {
    char path[96];
    const char *t;
    snprintf(path, sizeof path, "ExcludeRetainedVariantProperties.%zu.VariantPropertyType", i + 1);
    if (!json_is_object(p))
      return api_fail(e, 400, "ValidationException",
                      "1 validation error detected: Value at 'ExcludeRetainedVariantProperties."
                      "%zu' failed to satisfy constraint: Member must be a structure", i + 1);
    if (valid_enum(p, "VariantPropertyType", path, 1, property_types, NULL, &t, e)) return -1;
    if (strcmp(t, "DesiredInstanceCount") == 0) keep_count = 0;
  }
  if (dc && valid_deployment(dc, &max_exec_s, e)) return -1;
  endpoint *ep = ctl_find_endpoint(c, name);
  if (!ep) return api_fail(e, 400, "ValidationException", "Could not find endpoint \"%s\".", name);
  char arn[256];
  ctl_arn(c, "endpoint", ep->name, arn, sizeof arn);
  if (ep->status != ENDPOINT_IN_SERVICE)
    return api_fail(e, 400, "ValidationException",
                    "Cannot update in-progress endpoint \"%s\". (It is %s: wait for InService.)",
                    arn, endpoint_status_name(ep->status));
  /* One change at a time: copies moving between instances and a rolling
   * update of an IC would each undo the other's plan. */
  for (ic *x = c->ics; x; x = x->next)
    if (x->rollout && strcmp(x->endpoint, ep->name) == 0)
      return api_fail(e, 400, "ValidationException",
                      "Cannot update endpoint \"%s\" while its inference component \"%s\" is "
                      "rolling out an update: wait until it is InService", arn, x->name);
  endpoint_config *cfg = ctl_find_config(c, cfgname);
  if (!cfg)
    return api_fail(e, 400, "ValidationException", "Could not find endpoint configuration \"%s\".",
                    cfgname);
  if (strcmp(cfgname, ep->config_name) == 0)
    return api_fail(e, 400, "ValidationException",
                    "Endpoint \"%s\" already uses endpoint configuration \"%s\": create a new "
                    "endpoint configuration (CreateEndpointConfig) and update to it", name,
                    cfgname);
  /* An inference component stays on its variant: the new config must keep
   * every variant that hosts one. */
  for (ic *x = c->ics; x; x = x->next) {
    if (strcmp(x->endpoint, name) != 0) continue;
    int found = 0;
    for (int k = 0; k < cfg->n_variants; k++) found |= strcmp(cfg->variants[k].name, x->variant) == 0;
    if (!found)
      return api_fail(e, 400, "ValidationException",
                      "Endpoint configuration \"%s\" has no production variant named \"%s\", "
                      "which hosts inference component \"%s\": the new configuration must keep "
                      "the VariantName of every variant that hosts inference components",
                      cfgname, x->variant, x->name);
  }
  json_t *u = json_object();
  json_t *targets = json_object(), *prev_targets = json_object();
  for (int k = 0; k < ep->cfg.n_variants; k++)
    json_object_set_new(prev_targets, ep->cfg.variants[k].name,
                        json_integer(ic_desired_instances(c, ep, &ep->cfg.variants[k])));
  for (int k = 0; k < cfg->n_variants; k++) {
    const variant *nv = &cfg->variants[k];
    int n = initial_target(nv);
    json_t *was = json_object_get(prev_targets, nv->name);
    if (keep_count && was) {
      /* RetainAllVariantProperties: the count it runs now, within the new
       * variant's managed scaling bounds. */
      n = (int)json_integer_value(was);
      if (nv->managed_scaling) n = n < nv->min_instances ? nv->min_instances
                                 : n > nv->max_instances ? nv->max_instances : n;
      if (n < 1 && !nv->managed_scaling) n = 1;
    }
    json_object_set_new(targets, nv->name, json_integer(n));
  }
  /* Which instances go: those of a variant the new config drops or gives
   * another instance type, then, where the type stays, the emptiest
   * beyond the new count. */
  json_t *old_ids = json_array(), *leaving = json_array();
  for (instance *in = c->instances; in; in = in->next) {
    if (strcmp(in->endpoint, name) != 0) continue;
    json_array_append_new(old_ids, json_integer(in->id));
    const variant *nv = NULL;
    for (int k = 0; k < cfg->n_variants; k++)
      if (strcmp(cfg->variants[k].name, in->variant) == 0) nv = &cfg->variants[k];
    if (!nv || strcmp(nv->instance_type, in->type->name) != 0)
      json_array_append_new(leaving, json_integer(in->id));
  }
  for (int k = 0; k < cfg->n_variants; k++) {
    const variant *nv = &cfg->variants[k];
    int kept = 0;
    for (instance *in = c->instances; in; in = in->next)
      kept += strcmp(in->endpoint, name) == 0 && strcmp(in->variant, nv->name) == 0 &&
              !id_in(leaving, in->id);
    int surplus = kept - (int)json_integer_value(json_object_get(targets, nv->name));
    for (; surplus > 0; surplus--) {
      instance *best = NULL;
      int best_n = 0;
      for (instance *in = c->instances; in; in = in->next) {
        if (strcmp(in->endpoint, name) != 0 || strcmp(in->variant, nv->name) != 0 ||
            id_in(leaving, in->id))
          continue;
        int n = copies_on(c, in);
        if (!best || n < best_n) best = in, best_n = n;
      }
      if (best) json_array_append_new(leaving, json_integer(best->id));
    }
  }
  int budget = INSTANCE_START_ALLOWANCE_S;
  int ic_max = 0;
  for (ic *x = c->ics; x; x = x->next)
    if (strcmp(x->endpoint, name) == 0) {
      int t = ic_startup_timeout_s(c, x) + ic_download_timeout_s(c, x);
      if (t > ic_max) ic_max = t;
    }
  budget += ic_max;
  if (max_exec_s > 0) budget = (int)max_exec_s;
  double now = ctl_now();
  json_object_set_new(u, "EndpointConfigName", json_string(cfgname));
  json_object_set_new(u, "PreviousConfigName", json_string(ep->config_name));
  json_object_set(u, "PreviousConfig", ep->cfg.doc);
  json_object_set_new(u, "Targets", targets);
  json_object_set_new(u, "PreviousTargets", prev_targets);
  json_object_set_new(u, "OldInstances", old_ids);
  json_object_set_new(u, "Leaving", leaving);
  json_object_set_new(u, "StartTime", json_real(now));
  json_object_set_new(u, "Deadline", json_real(now + budget));
  json_object_set_new(u, "RollingBack", json_false());
  if (dc || (retain_dc && ep->last_deployment))
    json_object_set(u, "DeploymentConfig", dc ? dc : ep->last_deployment);
  /* Keep what a failed commit has to put back. */
  endpoint saved = *ep;
  json_incref(saved.cfg.doc);
  json_t *last_dc = ep->last_deployment;
  ep->last_deployment = dc ? json_deep_copy(dc) : retain_dc ? json_incref(last_dc) : NULL;
  /* The endpoint's own copy of the config: a retained count becomes its
   * InitialInstanceCount, so the sizing after the update keeps it. */
  endpoint_config next = *cfg;
  next.doc = json_deep_copy(cfg->doc);
  for (int k = 0; k < next.n_variants; k++) {
    variant *nv = &next.variants[k];
    int n = (int)json_integer_value(json_object_get(targets, nv->name));
    if (nv->managed_scaling || n == nv->initial_instances) continue;
    nv->initial_instances = n;
    json_object_set_new(json_array_get(json_object_get(next.doc, "ProductionVariants"), (size_t)k),
                        "InitialInstanceCount", json_integer(n));
  }
  take_config(ep, &next);
  ep->update = u;
  ep->status = ENDPOINT_UPDATING;
  ep->failure[0] = '\0';
  ep->modified = now;
  if (ctl_save_endpoint(c, ep)) {
    json_decref(ep->update);
    json_decref(ep->cfg.doc);
    json_decref(ep->last_deployment);
    endpoint *link = ep->next;
    *ep = saved;
    ep->next = link;
    ep->last_deployment = last_dc;
    return api_fail(e, 500, "InternalFailure", "could not commit the update to the store");
  }
  json_decref(saved.cfg.doc);
  json_decref(last_dc);
  berth_log(BERTH_LOG_INFO, "endpoint %s: updating from %s to %s (%zu instance(s) to replace)",
            name, json_string_value(json_object_get(u, "PreviousConfigName")), cfgname,
            json_array_size(json_object_get(u, "Leaving")));
  ctl_kick(c);
  *resp = json_pack("{s:s}", "EndpointArn", arn);
  return 0;
}

/* ---- the rollout ---- */

/* Why the forward update cannot finish, or 0. */
static int update_failed(ctl *c, endpoint *ep, char *why, size_t whysz) {
  json_t *u = ep->update;
  for (ic *x = c->ics; x; x = x->next) {
    if (strcmp(x->endpoint, ep->name) != 0) continue;
    const variant *v = ctl_endpoint_variant(ep, x->variant);
    const berth_instance_type *t = v ? berth_catalog_find(&c->catalog, v->instance_type) : NULL;
    if (!t) continue;
    sched_instance cap = ctl_instance_capacity(c, t);
    if (!sched_fits_empty(&cap, &x->need)) {
      snprintf(why, whysz,
               "a copy of inference component %s (%.2f CPU cores, %lld MB memory, %.2f "
               "accelerator devices) does not fit an instance of type %s (%.2f CPU cores, "
               "%lld MB memory, %d accelerator devices)", x->name,
               (double)x->need.cpu_milli / 1000.0, (long long)x->need.mem_mb,
               (double)x->need.dev_milli / 1000.0, t->name, (double)cap.cpu_milli / 1000.0,
               (long long)cap.mem_mb, cap.n_devices);
      return 1;
    }
  }
  for (instance *in = c->instances; in; in = in->next)
    if (strcmp(in->endpoint, ep->name) == 0 && in->leaving && !in->evacuating &&
        copies_on(c, in) > 0) {
      /* ic.c called a move off: its replacement found no room. */
      snprintf(why, whysz, "the copies on instance i-%lld do not fit on the instances of "
               "the new configuration", (long long)in->id);
      return 1;
    }
  /* The deployment's AutoRollbackConfiguration, as for IC rollouts. */
  json_t *alarms = json_object_get(json_object_get(json_object_get(u, "DeploymentConfig"),
                                                   "AutoRollbackConfiguration"), "Alarms");
  size_t i;
  json_t *a;
  json_array_foreach(alarms, i, a) {
    const char *alarm = json_string_value(json_object_get(a, "AlarmName"));
    if (alarm && alarms_in_alarm(c, alarm) == 1) {
      snprintf(why, whysz, "alarm %s went to ALARM during the update", alarm);
      return 1;
    }
  }
  double deadline = json_number_value(json_object_get(u, "Deadline"));
  if (deadline > 0 && ctl_now() > deadline) {
    snprintf(why, whysz, "the copies did not become healthy on the new instances within %.0f "
             "seconds", deadline - json_number_value(json_object_get(u, "StartTime")));
    return 1;
  }
  return 0;
}

/* The update goes backwards: the old config again, the old instances take
 * their copies back, the new ones leave. */
static void roll_back(ctl *c, endpoint *ep, const char *why) {
  json_t *u = ep->update;
  api_error e;
  endpoint_config prev = {0};
  json_t *doc = json_object_get(u, "PreviousConfig");
  if (model_parse_config(c, doc, &prev, &e)) {
    berth_log(BERTH_LOG_ERROR, "endpoint %s: the previous config no longer loads (%s): the "
              "update goes on", ep->name, e.message);
    return;
  }
  prev.doc = json_incref(doc);
  take_config(ep, &prev);
  char msg[sizeof ep->failure];
  snprintf(msg, sizeof msg, "Update to endpoint configuration %s failed and was rolled back to "
           "%s: %s.", json_string_value(json_object_get(u, "EndpointConfigName")),
           json_string_value(json_object_get(u, "PreviousConfigName")), why);
  json_object_set_new(u, "RollingBack", json_true());
  json_object_set_new(u, "FailureReason", json_string(msg));
  snprintf(ep->failure, sizeof ep->failure, "%s", msg);
  json_t *old = json_object_get(u, "OldInstances");
  for (instance *in = c->instances; in; in = in->next) {
    if (strcmp(in->endpoint, ep->name) != 0 || !id_in(old, in->id)) continue;
    in->leaving = 0;
    in->evacuating = 0;
    in->res.accepting = 1;
    /* Their copies count again; replacements on the new instances now
     * move back (make before break). */
    for (ic *x = c->ics; x; x = x->next)
      for (copy *cp = x->copies; cp; cp = cp->next)
        if (cp->inst == in) cp->moving = 0;
  }
  ep->modified = ctl_now();
  ctl_save_endpoint(c, ep);
  berth_log(BERTH_LOG_WARN, "endpoint %s: %s", ep->name, msg);
  ctl_kick(c);
}

static void finish(ctl *c, endpoint *ep) {
  json_t *u = ep->update;
  int back = json_is_true(json_object_get(u, "RollingBack"));
  const char *name = json_string_value(json_object_get(u, back ? "PreviousConfigName"
                                                               : "EndpointConfigName"));
  if (name) snprintf(ep->config_name, sizeof ep->config_name, "%s", name);
  if (!back) ep->failure[0] = '\0';
  for (instance *in = c->instances; in; in = in->next)
    if (strcmp(in->endpoint, ep->name) == 0) in->leaving = 0;
  ep->update = NULL;
  ep->status = ENDPOINT_IN_SERVICE;
  ep->modified = ctl_now();
  if (ctl_save_endpoint(c, ep)) {
    ep->update = u; /* try again next pass */
    ep->status = ENDPOINT_UPDATING;
    return;
  }
  json_decref(u);
  berth_log(BERTH_LOG_INFO, "endpoint %s is InService with endpoint config %s%s", ep->name,
            ep->config_name, back ? " (rolled back)" : "");
}

void endpoint_update_step(ctl *c, endpoint *ep) {
  json_t *u = ep->update;
  char why[400];
  if (!json_is_true(json_object_get(u, "RollingBack")) && update_failed(c, ep, why, sizeof why)) {
    roll_back(c, ep, why);
    return;
  }
  /* 1. The instances the config asks for, beside those that go. */
  for (int i = 0; i < ep->cfg.n_variants; i++) {
    const variant *v = &ep->cfg.variants[i];
    int target = target_of(u, v);
    ep->started[i] = 1;
    ep->desired_instances[i] = target;
    int kept = 0;
    for (instance *in = c->instances; in; in = in->next)
      kept += strcmp(in->endpoint, ep->name) == 0 && strcmp(in->variant, v->name) == 0 &&
              !is_leaving(u, in);
    for (; kept < target; kept++) {
      instance *in = NULL;
      why[0] = '\0';
      if (c->pool) {
        in = pool_claim(c, ep->name, v->name, v->instance_type);
        if (!in) return; /* waits for an agent of the type to join (or the deadline) */
      } else {
        const berth_instance_type *t = berth_catalog_find(&c->catalog, v->instance_type);
        if (t) in = local_agent_launch(c, ep->name, v->name, t, why, sizeof why);
        else snprintf(why, sizeof why, "instance type %s is not in the catalog", v->instance_type);
      }
      if (!in) {
        if (json_is_true(json_object_get(u, "RollingBack"))) break;
        roll_back(c, ep, why);
        return;
      }
      berth_log(BERTH_LOG_INFO, "%s/%s: instance %lld (%s) started for the update", ep->name,
                v->name, (long long)in->id, v->instance_type);
      ctl_kick(c);
    }
  }
  /* 2. Those that go are consolidated away: ic.c re-creates their copies
   * elsewhere and drains them once the replacements serve. */
  int remaining = 0;
  for (instance *in = c->instances; in; in = in->next) {
    if (strcmp(in->endpoint, ep->name) != 0 || !is_leaving(u, in)) continue;
    if (!in->leaving || !in->evacuating) ctl_kick(c);
    in->leaving = 1;
    in->evacuating = 1;
    in->res.accepting = 0;
    remaining += copies_on(c, in) > 0;
  }
  if (remaining) return;
  /* 3. Empty: they go, and the endpoint is InService. */
  for (;;) {
    instance *victim = NULL;
    for (instance *in = c->instances; in && !victim; in = in->next)
      if (strcmp(in->endpoint, ep->name) == 0 && is_leaving(u, in)) victim = in;
    if (!victim) break;
    release(c, victim);
  }
  finish(c, ep);
}

void endpoint_update_describe(const endpoint *ep, json_t *out) {
  if (ep->last_deployment) json_object_set(out, "LastDeploymentConfig", ep->last_deployment);
  if (!ep->update) return;
  json_t *u = ep->update;
  json_t *pending = json_pack("{s:O,s:O}", "EndpointConfigName",
                              json_object_get(u, "EndpointConfigName"), "StartTime",
                              json_object_get(u, "StartTime"));
  json_object_set_new(out, "PendingDeploymentSummary", pending);
}

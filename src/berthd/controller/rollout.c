/* rollout: rolling deployments of inference components (see rollout.h). */
#include "rollout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/log.h"

/* Without a DeploymentConfig: one copy at a time, no bake, and the longest
 * deadline SageMaker allows (a copy's own startup timeouts still bound
 * each batch). */
#define DEFAULT_TIMEOUT_S 28800

static const char *const capacity_types[] = {"COPY_COUNT", "CAPACITY_PERCENT", NULL};

static int check_size(json_t *o, const char *key, const char *path, int required,
                      api_error *e) {
  json_t *sz;
  const char *type;
  long long v;
  char p[96];
  if (valid_object(o, key, path, required, &sz, e)) return -1;
  if (!sz) return 0;
  snprintf(p, sizeof p, "%s.Type", path);
  if (valid_enum(sz, "Type", p, 1, capacity_types, NULL, &type, e)) return -1;
  snprintf(p, sizeof p, "%s.Value", path);
  return valid_int(sz, "Value", p, 1, 1, strcmp(type, "CAPACITY_PERCENT") == 0 ? 100 : 10000, 0,
                   &v, e);
}

int rollout_check_config(json_t *dc, api_error *e) {
  json_t *rup, *arc, *alarms;
  long long n;
  if (!dc) return 0;
  if (valid_object(dc, "RollingUpdatePolicy", "DeploymentConfig.RollingUpdatePolicy", 1, &rup, e) ||
      check_size(rup, "MaximumBatchSize", "DeploymentConfig.RollingUpdatePolicy.MaximumBatchSize",
                 1, e) ||
      valid_int(rup, "WaitIntervalInSeconds",
                "DeploymentConfig.RollingUpdatePolicy.WaitIntervalInSeconds", 1, 0, 3600, 0, &n,
                e) ||
      valid_int(rup, "MaximumExecutionTimeoutInSeconds",
                "DeploymentConfig.RollingUpdatePolicy.MaximumExecutionTimeoutInSeconds", 0, 600,
                28800, DEFAULT_TIMEOUT_S, &n, e) ||
      check_size(rup, "RollbackMaximumBatchSize",
                 "DeploymentConfig.RollingUpdatePolicy.RollbackMaximumBatchSize", 0, e) ||
      valid_object(dc, "AutoRollbackConfiguration", "DeploymentConfig.AutoRollbackConfiguration",
                   0, &arc, e) ||
      valid_array(arc, "Alarms", "DeploymentConfig.AutoRollbackConfiguration.Alarms", 0, 1, 10,
                  &alarms, e))
    return -1;
  size_t i;
  json_t *a;
  json_array_foreach(alarms, i, a) {
    char p[96];
    const char *name;
    snprintf(p, sizeof p, "DeploymentConfig.AutoRollbackConfiguration.Alarms.%zu.AlarmName",
             i + 1);
    if (!json_is_object(a))
      return api_fail(e, 400, "ValidationException",
                      "1 validation error detected: Value at "
                      "'DeploymentConfig.AutoRollbackConfiguration.Alarms.%zu' failed to satisfy "
                      "constraint: Member must be an object with AlarmName", i + 1);
    if (valid_string(a, "AlarmName", p, 1, 255, &name, e)) return -1;
    if (!name[0] || strspn(name, " \t") == strlen(name))
      return api_fail(e, 400, "ValidationException",
                      "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: (?!\\s*$).+",
                      name, p);
  }
  return 0;
}

static void parse_size(json_t *sz, int *percent, int *value, int dflt_percent, int dflt) {
  const char *type = json_string_value(json_object_get(sz, "Type"));
  if (!type) {
    *percent = dflt_percent;
    *value = dflt;
    return;
  }
  *percent = strcmp(type, "CAPACITY_PERCENT") == 0;
  *value = (int)json_integer_value(json_object_get(sz, "Value"));
}

/* The policy's numbers from its DeploymentConfig (already valid). */
static void parse_config(rollout *r) {
  json_t *rup = json_object_get(r->config, "RollingUpdatePolicy");
  parse_size(json_object_get(rup, "MaximumBatchSize"), &r->batch_percent, &r->batch, 0, 1);
  /* SageMaker's default rollback: the whole old capacity at once. */
  parse_size(json_object_get(rup, "RollbackMaximumBatchSize"), &r->rb_percent, &r->rb_batch, 1,
             100);
  r->wait_s = (double)json_integer_value(json_object_get(rup, "WaitIntervalInSeconds"));
  json_t *t = json_object_get(rup, "MaximumExecutionTimeoutInSeconds");
  r->timeout_s = json_is_integer(t) ? (double)json_integer_value(t) : DEFAULT_TIMEOUT_S;
}

/* Copies per batch for n copies: a count, or a percentage rounded up. */
static int batch_of(int percent, int value, int n) {
  int b = percent ? (int)ceil((double)value * n / 100.0) : value;
  return b < 1 ? 1 : b;
}

void rollout_persist(ic *x) {
  rollout *r = x->rollout;
  if (!r) {
    json_object_del(x->doc, "Rollout");
    return;
  }
  json_object_del(r->old_doc, "Rollout");
  json_object_set_new(x->doc, "Rollout",
                      json_pack("{s:O,s:i,s:O,s:f,s:f,s:b,s:i,s:b,s:s}", "OldDoc", r->old_doc,
                                "OldRevision", r->old_rev, "DeploymentConfig", r->config,
                                "Started", r->started, "Until", r->until, "Baking", r->baking,
                                "Asked", r->asked, "RollingBack", r->rolling_back, "Reason",
                                r->reason));
}

void rollout_free(rollout *r) {
  if (!r) return;
  json_decref(r->old_doc);
  json_decref(r->config);
  free(r);
}

void rollout_begin(ic *x, json_t *new_doc, const sched_need *need, json_t *dc) {
  rollout *r = berth_xcalloc(1, sizeof *r);
  r->old_doc = x->doc;
  r->old_rev = x->rev;
  r->old_need = x->need;
  r->config = dc ? json_deep_copy(dc)
                 : json_pack("{s:{s:{s:s,s:i},s:i,s:i}}", "RollingUpdatePolicy",
                             "MaximumBatchSize", "Type", "COPY_COUNT", "Value", 1,
                             "WaitIntervalInSeconds", 0, "MaximumExecutionTimeoutInSeconds",
                             DEFAULT_TIMEOUT_S);
  parse_config(r);
  r->started = ctl_now();
  int b = batch_of(r->batch_percent, r->batch, x->desired);
  r->asked = x->desired < b ? x->desired : b;
  x->doc = json_incref(new_doc);
  x->rev = r->old_rev + 1;
  json_object_set_new(x->doc, "Revision", json_integer(x->rev));
  json_object_del(x->doc, "UpdateFailureReason");
  x->need = *need;
  x->rollout = r;
  x->status = IC_UPDATING;
  x->modified = ctl_now();
  berth_log(BERTH_LOG_INFO, "%s: rolling update to revision %d: %d cop%s, batches of %d%s, "
            "bake %.0f s, deadline %.0f s", x->name, x->rev, x->desired,
            x->desired == 1 ? "y" : "ies", r->batch, r->batch_percent ? "%" : "", r->wait_s,
            r->timeout_s);
}

void rollout_undo(ic *x) {
  rollout *r = x->rollout;
  json_decref(x->doc);
  x->doc = r->old_doc;
  r->old_doc = NULL;
  x->rev = r->old_rev;
  x->need = r->old_need;
  x->rollout = NULL;
  x->status = IC_IN_SERVICE;
  rollout_free(r);
}

void rollout_load(ic *x) {
  x->rev = (int)json_integer_value(json_object_get(x->doc, "Revision"));
  json_t *s = json_object_get(x->doc, "Rollout");
  if (!json_is_object(s)) return;
  rollout *r = berth_xcalloc(1, sizeof *r);
  r->old_doc = json_incref(json_object_get(s, "OldDoc"));
  r->old_rev = (int)json_integer_value(json_object_get(s, "OldRevision"));
  r->config = json_incref(json_object_get(s, "DeploymentConfig"));
  parse_config(r);
  r->started = json_number_value(json_object_get(s, "Started"));
  r->until = json_number_value(json_object_get(s, "Until"));
  r->baking = json_is_true(json_object_get(s, "Baking"));
  r->asked = (int)json_integer_value(json_object_get(s, "Asked"));
  r->rolling_back = json_is_true(json_object_get(s, "RollingBack"));
  snprintf(r->reason, sizeof r->reason, "%s",
           json_string_value(json_object_get(s, "Reason")) ?: "");
  x->rollout = r; /* its old_need is the caller's to fill */
}

/* Swaps back to the old document: its copies are the current revision
 * again, and the rollout replaces the new ones with them. */
static void roll_back(ic *x, const char *why) {
  rollout *r = x->rollout;
  if (r->rolling_back) return;
  berth_log(BERTH_LOG_WARN, "%s: rolling back to revision %d: %s", x->name, r->old_rev, why);
  json_object_del(x->doc, "Rollout");
  json_t *doc = x->doc;
  x->doc = r->old_doc;
  r->old_doc = doc;
  int rev = x->rev;
  x->rev = r->old_rev;
  r->old_rev = rev;
  sched_need need = x->need;
  x->need = r->old_need;
  r->old_need = need;
  r->rolling_back = 1;
  r->baking = 0;
  r->asked = -1; /* worked out at the next step, from what still serves */
  /* The start of a long reason is what names it (the copy's own output
   * follows): keep that much. */
  snprintf(r->reason, sizeof r->reason, "%.511s", why);
  x->modified = ctl_now();
}

int rollout_copy_failed(ic *x, const char *why) {
  if (!x->rollout || x->rollout->rolling_back) return 0;
  char msg[600];
  snprintf(msg, sizeof msg, "a copy of the new specification failed to start: %.520s", why);
  roll_back(x, msg);
  return 1;
}

static void finish(ic *x) {
  rollout *r = x->rollout;
  json_object_set(x->doc, "LastDeploymentConfig", r->config);
  if (r->rolling_back) {
    char msg[700];
    snprintf(msg, sizeof msg, "The update was rolled back and the inference component serves its "
             "previous specification: %s", r->reason);
    json_object_set_new(x->doc, "UpdateFailureReason", json_string(msg));
  }
  berth_log(BERTH_LOG_INFO, "%s: %s at revision %d", x->name,
            r->rolling_back ? "rolled back" : "updated", x->rev);
  x->rollout = NULL;
  rollout_free(r);
  x->modified = ctl_now();
}

/* Whether a reason to roll back holds now; fills why. */
static int must_roll_back(ctl *c, ic *x, char *why, size_t whysz) {
  rollout *r = x->rollout;
  if (ctl_now() - r->started > r->timeout_s) {
    snprintf(why, whysz, "the update did not complete within "
             "MaximumExecutionTimeoutInSeconds (%.0f s)", r->timeout_s);
    return 1;
  }
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(json_object_get(r->config, "AutoRollbackConfiguration"),
                                     "Alarms"), i, a) {
    const char *name = json_string_value(json_object_get(a, "AlarmName"));
    if (name && c->alarm_fired && c->alarm_fired(c, name, r->started)) {
      snprintf(why, whysz, "alarm \"%s\" went to ALARM during the deployment", name);
      return 1;
    }
  }
  return 0;
}

rollout_verdict rollout_step(ctl *c, ic *x, int cur_ready, int prev_active, int *want,
                             int *keep) {
  rollout *r = x->rollout;
  int n = x->desired;
  char why[400];
  if (!r->rolling_back && must_roll_back(c, x, why, sizeof why)) {
    roll_back(x, why);
    return ROLLOUT_CHANGED; /* the copies' roles swapped: plan again */
  }
  rollout_verdict v = ROLLOUT_PLAN;
  int batch = r->rolling_back ? batch_of(r->rb_percent, r->rb_batch, n)
                              : batch_of(r->batch_percent, r->batch, n);
  if (r->asked < 0) r->asked = cur_ready + batch < n ? cur_ready + batch : n;
  if (r->asked > n) r->asked = n; /* scaled in meanwhile */
  if (!r->baking && cur_ready >= r->asked) {
    r->baking = 1;
    r->until = ctl_now() + (r->rolling_back ? 0 : r->wait_s);
    v = ROLLOUT_PLAN_SAVE;
  }
  if (r->baking && ctl_now() >= r->until) {
    if (r->asked >= n && cur_ready >= n && prev_active == 0) {
      finish(x);
      return ROLLOUT_CHANGED;
    }
    if (r->asked < n) {
      r->asked = r->asked + batch < n ? r->asked + batch : n;
      r->baking = 0;
      v = ROLLOUT_PLAN_SAVE;
    }
  }
  *want = r->asked;
  /* Make before break: an old copy drains once a new one serves for it,
   * or first when a new one will get no room (the batch shrinks). */
  int k = n - cur_ready - r->blocked;
  *keep = k > 0 ? k : 0;
  return v;
}

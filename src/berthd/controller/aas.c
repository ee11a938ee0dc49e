/* aas: Application Auto Scaling for inference components. A scalable target
 * and its policies are stored together as one document per IC (kind
 * "scaling"), so they are committed and restored as a unit. */
#include "berth/log.h"
#include "aas.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "valid.h"
#include "ic.h"
#include "store.h"

#define RESOURCE_PREFIX "inference-component/"
#define MAX_ACTIVITIES 1000

static const char *const policy_types[] = {"TargetTrackingScaling", "StepScaling", NULL};
static const char *const adjustment_types[] = {"ChangeInCapacity", "ExactCapacity",
                                               "PercentChangeInCapacity", NULL};
static const char *const aggregations[] = {"Average", "Minimum", "Maximum", NULL};

static void target_arn(const ctl *c, const char *icname, char *out, size_t outsz) {
  snprintf(out, outsz, "arn:aws:application-autoscaling:%s:%s:scalable-target/berth-%s",
           c->region, c->account, icname);
}

static void policy_arn(const ctl *c, const char *icname, const char *policy, char *out,
                       size_t outsz) {
  snprintf(out, outsz,
           "arn:aws:autoscaling:%s:%s:scalingPolicy:berth-%s:resource/sagemaker/"
           RESOURCE_PREFIX "%s:policyName/%s", c->region, c->account, icname, icname, policy);
}

/* Checks ServiceNamespace, ResourceId and ScalableDimension; finds the IC. */
static int resource(ctl *c, json_t *req, int need_dimension, ic **out, const char **resource_id,
                    api_error *e) {
  static const char *const namespaces[] = {"sagemaker", NULL};
  const char *ns, *rid, *dim;
  if (valid_enum(req, "ServiceNamespace", "ServiceNamespace", 1, namespaces, NULL, &ns, e) ||
      valid_string(req, "ResourceId", "ResourceId", 1, 1600, &rid, e) ||
      valid_string(req, "ScalableDimension", "ScalableDimension", need_dimension, 256, &dim, e))
    return -1;
  if (dim && strcmp(dim, AAS_DIMENSION) != 0)
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value '%s' at 'scalableDimension' failed to "
                    "satisfy constraint: Berth scales inference components: use " AAS_DIMENSION,
                    dim);
  if (strncmp(rid, RESOURCE_PREFIX, strlen(RESOURCE_PREFIX)) != 0)
    return api_fail(e, 400, "ValidationException",
                    "Unsupported resource ID '%s': use inference-component/<InferenceComponentName>",
                    rid);
  *resource_id = rid;
  *out = ctl_find_ic(c, rid + strlen(RESOURCE_PREFIX));
  if (!*out || (*out)->deleting)
    return api_fail(e, 400, "ValidationException",
                    "Inference component %s does not exist (ResourceId %s)",
                    rid + strlen(RESOURCE_PREFIX), rid);
  return 0;
}

static int not_registered(api_error *e, const char *rid) {
  return api_fail(e, 400, "ObjectNotFoundException",
                  "No scalable target registered for service namespace: sagemaker, resource ID: "
                  "%s, scalable dimension: " AAS_DIMENSION, rid);
}

static int parse_metric(json_t *ttc, scale_metric *m, api_error *e) {
  json_t *pre, *cust;
  if (valid_object(ttc, "PredefinedMetricSpecification",
                   "TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification", 0,
                   &pre, e) ||
      valid_object(ttc, "CustomizedMetricSpecification",
                   "TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification", 0,
                   &cust, e))
    return -1;
  if (pre) {
    static const char *const types[] = {
      "SageMakerInferenceComponentInvocationsPerCopy",
      "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution", NULL};
    const char *t;
    if (valid_enum(pre, "PredefinedMetricType",
                   "TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification."
                   "PredefinedMetricType", 1, types, NULL, &t, e))
      return -1;
    *m = strcmp(t, types[0]) == 0 ? SCALE_METRIC_INVOCATIONS_PER_COPY
                                  : SCALE_METRIC_CONCURRENT_PER_COPY;
    return 0;
  }
  if (cust) {
    const char *name;
    if (valid_string(cust, "MetricName", "CustomizedMetricSpecification.MetricName", 1, 255,
                     &name, e))
      return -1;
    static const struct { const char *name; scale_metric m; } known[] = {
      {"InvocationsPerCopy", SCALE_METRIC_INVOCATIONS_PER_COPY},
      {"ConcurrentRequestsPerCopy", SCALE_METRIC_CONCURRENT_PER_COPY},
      {"NoCapacityInvocationFailures", SCALE_METRIC_NO_CAPACITY_FAILURES},
      {"Invocations", SCALE_METRIC_INVOCATIONS},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
      if (strcmp(known[i].name, name) == 0) {
        *m = known[i].m;
        return 0;
      }
    return api_fail(e, 400, "ValidationException",
                    "CustomizedMetricSpecification.MetricName '%s' is not a metric Berth keeps: use "
                    "InvocationsPerCopy, ConcurrentRequestsPerCopy, NoCapacityInvocationFailures "
                    "or Invocations (namespace AWS/SageMaker)", name);
  }
  return api_fail(e, 400, "ValidationException",
                  "TargetTrackingScalingPolicyConfiguration needs a "
                  "PredefinedMetricSpecification or a CustomizedMetricSpecification");
}

/* Parses one stored policy document into a scale_policy. */
static int parse_policy(json_t *doc, scale_policy *p, api_error *e) {
  const char *type;
  memset(p, 0, sizeof *p);
  if (valid_enum(doc, "PolicyType", "PolicyType", 0, policy_types, "StepScaling", &type, e))
    return -1;
  if (strcmp(type, "TargetTrackingScaling") == 0) {
    json_t *ttc;
    if (valid_object(doc, "TargetTrackingScalingPolicyConfiguration",
                     "TargetTrackingScalingPolicyConfiguration", 1, &ttc, e))
      return -1;
    p->type = SCALE_TARGET_TRACKING;
    if (parse_metric(ttc, &p->metric, e) ||
        valid_number(ttc, "TargetValue", "TargetTrackingScalingPolicyConfiguration.TargetValue", 1,
                     8.515920e-109, 6.7e12, 0, &p->target, e) ||
        valid_number(ttc, "ScaleOutCooldown",
                     "TargetTrackingScalingPolicyConfiguration.ScaleOutCooldown", 0, 0, 1e9, 300,
                     &p->scale_out_cooldown_s, e) ||
        valid_number(ttc, "ScaleInCooldown",
                     "TargetTrackingScalingPolicyConfiguration.ScaleInCooldown", 0, 0, 1e9, 300,
                     &p->scale_in_cooldown_s, e))
      return -1;
    p->disable_scale_in = json_is_true(json_object_get(ttc, "DisableScaleIn"));
    return 0;
  }
  json_t *ssc, *steps;
  const char *adj, *agg;
  long long mag;
  if (valid_object(doc, "StepScalingPolicyConfiguration", "StepScalingPolicyConfiguration", 1,
                   &ssc, e) ||
      valid_enum(ssc, "AdjustmentType", "StepScalingPolicyConfiguration.AdjustmentType", 1,
                 adjustment_types, NULL, &adj, e) ||
      valid_enum(ssc, "MetricAggregationType",
                 "StepScalingPolicyConfiguration.MetricAggregationType", 0, aggregations,
                 "Average", &agg, e) ||
      valid_int(ssc, "MinAdjustmentMagnitude",
                "StepScalingPolicyConfiguration.MinAdjustmentMagnitude", 0, 0, 100000, 0, &mag,
                e) ||
      valid_number(ssc, "Cooldown", "StepScalingPolicyConfiguration.Cooldown", 0, 0, 1e9, 300,
                   &p->cooldown_s, e) ||
      valid_array(ssc, "StepAdjustments", "StepScalingPolicyConfiguration.StepAdjustments", 1, 1,
                  SCALE_MAX_STEPS, &steps, e))
    return -1;
  p->type = SCALE_STEP;
  p->adjustment = strcmp(adj, "ExactCapacity") == 0 ? SCALE_ADJ_EXACT
                : strcmp(adj, "PercentChangeInCapacity") == 0 ? SCALE_ADJ_PERCENT
                                                               : SCALE_ADJ_CHANGE;
  p->aggregation = strcmp(agg, "Minimum") == 0 ? SCALE_AGG_MIN
                 : strcmp(agg, "Maximum") == 0 ? SCALE_AGG_MAX : SCALE_AGG_AVERAGE;
  p->min_adjustment_magnitude = (int)mag;
  size_t i;
  json_t *st;
  json_array_foreach(steps, i, st) {
    char path[128];
    long long a;
    snprintf(path, sizeof path, "StepScalingPolicyConfiguration.StepAdjustments.%zu.ScalingAdjustment",
             i + 1);
    if (valid_int(st, "ScalingAdjustment", path, 1, -100000, 100000, 0, &a, e)) return -1;
    json_t *lo = json_object_get(st, "MetricIntervalLowerBound");
    json_t *hi = json_object_get(st, "MetricIntervalUpperBound");
    p->steps[i].lower = json_is_number(lo) ? json_number_value(lo) : -INFINITY;
    p->steps[i].upper = json_is_number(hi) ? json_number_value(hi) : INFINITY;
    p->steps[i].adjustment = (int)a;
  }
  p->n_steps = (int)json_array_size(steps);
  /* The alarm: Berth's extension BerthAlarm, else the usual scale-from-zero
   * alarm, NoCapacityInvocationFailures > 0 over one period. */
  json_t *alarm = json_object_get(doc, "BerthAlarm");
  const char *metric = json_string_value(json_object_get(alarm, "MetricName"));
  p->metric = SCALE_METRIC_NO_CAPACITY_FAILURES;
  if (metric && strcmp(metric, "ConcurrentRequestsPerCopy") == 0)
    p->metric = SCALE_METRIC_CONCURRENT_PER_COPY;
  else if (metric && strcmp(metric, "InvocationsPerCopy") == 0)
    p->metric = SCALE_METRIC_INVOCATIONS_PER_COPY;
  else if (metric && strcmp(metric, "Invocations") == 0)
    p->metric = SCALE_METRIC_INVOCATIONS;
  p->threshold = json_number_value(json_object_get(alarm, "Threshold"));
  const char *op = json_string_value(json_object_get(alarm, "ComparisonOperator"));
  p->greater = !(op && strncmp(op, "LessThan", 8) == 0);
  double period = json_number_value(json_object_get(alarm, "Period"));
  p->period_s = period > 0 ? period : 60;
  json_int_t ev = json_integer_value(json_object_get(alarm, "EvaluationPeriods"));
  p->evaluation_periods = ev > 0 ? (int)ev : 1;
  if (!metric) p->aggregation = SCALE_AGG_SUM;
  return 0;
}

int aas_apply(ctl *c, ic *x, json_t *doc, api_error *e) {
  scaling *s = berth_xcalloc(1, sizeof *s);
  json_t *target = json_object_get(doc, "Target");
  s->cfg.profile = c->profile;
  s->cfg.fast_scale_in_window_s = c->scale_in_window_s;
  s->cfg.min_capacity = (int)json_integer_value(json_object_get(target, "MinCapacity"));
  s->cfg.max_capacity = (int)json_integer_value(json_object_get(target, "MaxCapacity"));
  json_t *policies = json_object_get(doc, "Policies");
  size_t i;
  json_t *p;
  json_array_foreach(policies, i, p) {
    if (s->cfg.n_policies == SCALE_MAX_POLICIES) break;
    if (parse_policy(p, &s->cfg.policies[s->cfg.n_policies], e)) {
      free(s);
      return -1;
    }
    s->cfg.n_policies++;
  }
  scale_state_init(&s->st);
  s->st.since = ctl_clock();
  if (x->scaling) {
    double since = s->st.since;
    s->st = x->scaling->st; /* keep cooldown memory across policy changes */
    s->st.since = since;
    json_decref(x->scaling->doc);
    free(x->scaling);
  }
  s->doc = json_incref(doc);
  x->scaling = s;
  return 0;
}

static int save(ctl *c, ic *x, json_t *doc, api_error *e) {
  api_error tmp;
  if (!e) e = &tmp;
  if (store_put(c->db, "scaling", x->name, doc))
    return api_fail(e, 500, "InternalServiceException", "could not commit to the store");
  return aas_apply(c, x, doc, e);
}

void aas_activity(ctl *c, const ic *x, const char *description, const char *cause,
                  const char *status) {
  char id[64];
  snprintf(id, sizeof id, "berth-%016llx", (unsigned long long)(c->random_state += 0x9E3779B97F4A7C15ULL));
  double now = ctl_now();
  char rid[128];
  snprintf(rid, sizeof rid, RESOURCE_PREFIX "%s", x->name);
  json_array_append_new(c->activities,
                        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:s}", "ActivityId", id,
                                  "ServiceNamespace", "sagemaker", "ResourceId", rid,
                                  "ScalableDimension", AAS_DIMENSION, "Description", description,
                                  "Cause", cause, "StartTime", now, "EndTime", now, "StatusCode",
                                  status));
  while (json_array_size(c->activities) > MAX_ACTIVITIES) json_array_remove(c->activities, 0);
}

static int register_target(ctl *c, json_t *req, json_t **resp, api_error *e) {
  ic *x;
  const char *rid;
  long long mn, mx;
  if (resource(c, req, 1, &x, &rid, e)) return -1;
  json_t *old = x->scaling ? json_object_get(x->scaling->doc, "Target") : NULL;
  long long old_min = old ? json_integer_value(json_object_get(old, "MinCapacity")) : -1;
  long long old_max = old ? json_integer_value(json_object_get(old, "MaxCapacity")) : -1;
  if (valid_int(req, "MinCapacity", "MinCapacity", !old, 0, 100000, old_min, &mn, e) ||
      valid_int(req, "MaxCapacity", "MaxCapacity", !old, 0, 100000, old_max, &mx, e))
    return -1;
  if (mn > mx)
    return api_fail(e, 400, "ValidationException",
                    "Minimum capacity (%lld) cannot be greater than maximum capacity (%lld)", mn,
                    mx);
  char arn[256];
  target_arn(c, x->name, arn, sizeof arn);
  json_t *doc = x->scaling ? json_deep_copy(x->scaling->doc)
                           : json_pack("{s:{},s:[]}", "Target", "Policies");
  json_t *t = json_object_get(doc, "Target");
  json_object_set_new(t, "ServiceNamespace", json_string("sagemaker"));
  json_object_set_new(t, "ResourceId", json_string(rid));
  json_object_set_new(t, "ScalableDimension", json_string(AAS_DIMENSION));
  json_object_set_new(t, "MinCapacity", json_integer(mn));
  json_object_set_new(t, "MaxCapacity", json_integer(mx));
  json_object_set_new(t, "ScalableTargetARN", json_string(arn));
  json_t *role = json_object_get(req, "RoleARN");
  if (json_is_string(role)) json_object_set(t, "RoleARN", role);
  if (!json_object_get(t, "CreationTime")) json_object_set_new(t, "CreationTime", json_real(ctl_now()));
  int rc = save(c, x, doc, e);
  json_decref(doc);
  if (rc) return -1;
  /* A target whose range excludes the current count moves it at once. */
  int want = x->desired < mn ? (int)mn : x->desired > mx ? (int)mx : x->desired;
  if (want != x->desired) {
    char cause[160];
    snprintf(cause, sizeof cause, "the scalable target's range is %lld..%lld", mn, mx);
    if (ic_set_desired(c, x, want, cause) == 0) {
      char desc[128];
      snprintf(desc, sizeof desc, "Setting desired copy count to %d.", want);
      aas_activity(c, x, desc, cause, "Successful");
    }
  }
  *resp = json_pack("{s:s}", "ScalableTargetARN", arn);
  return 0;
}

/* The inference components selected by ResourceIds (or all). */
static int selected(json_t *ids, const ic *x) {
  if (!ids || json_array_size(ids) == 0) return 1;
  size_t i;
  json_t *v;
  char rid[128];
  snprintf(rid, sizeof rid, RESOURCE_PREFIX "%s", x->name);
  json_array_foreach(ids, i, v)
    if (json_is_string(v) && strcmp(json_string_value(v), rid) == 0) return 1;
  return 0;
}

static int page(json_t *req, json_t *items, const char *key, json_t **resp, api_error *e) {
  long long max;
  const char *token;
  if (valid_int(req, "MaxResults", "MaxResults", 0, 1, 50, 50, &max, e) ||
      valid_string(req, "NextToken", "NextToken", 0, 2048, &token, e)) {
    json_decref(items);
    return -1;
  }
  size_t start = 0, n = json_array_size(items);
  if (token) {
    char *end;
    unsigned long long off = strtoull(token, &end, 10);
    if (*end || end == token || off > n) {
      json_decref(items);
      return api_fail(e, 400, "InvalidNextTokenException", "Invalid token: %.64s", token);
    }
    start = (size_t)off;
  }
  json_t *out = json_array();
  size_t end_i = start + (size_t)max < n ? start + (size_t)max : n;
  for (size_t i = start; i < end_i; i++) json_array_append(out, json_array_get(items, i));
  json_decref(items);
  *resp = json_object();
  json_object_set_new(*resp, key, out);
  if (end_i < n) {
    char next[32];
    snprintf(next, sizeof next, "%zu", end_i);
    json_object_set_new(*resp, "NextToken", json_string(next));
  }
  return 0;
}

static int namespace_only(json_t *req, api_error *e) {
  static const char *const namespaces[] = {"sagemaker", NULL};
  const char *ns, *dim;
  if (valid_enum(req, "ServiceNamespace", "ServiceNamespace", 1, namespaces, NULL, &ns, e) ||
      valid_string(req, "ScalableDimension", "ScalableDimension", 0, 256, &dim, e))
    return -1;
  return 0;
}

static int describe_targets(ctl *c, json_t *req, json_t **resp, api_error *e) {
  json_t *ids;
  if (namespace_only(req, e) ||
      valid_array(req, "ResourceIds", "ResourceIds", 0, 0, 50, &ids, e))
    return -1;
  json_t *items = json_array();
  for (ic *x = c->ics; x; x = x->next)
    if (x->scaling && selected(ids, x))
      json_array_append(items, json_object_get(x->scaling->doc, "Target"));
  return page(req, items, "ScalableTargets", resp, e);
}

static int deregister_target(ctl *c, json_t *req, json_t **resp, api_error *e) {
  ic *x;
  const char *rid;
  if (resource(c, req, 1, &x, &rid, e)) return -1;
  if (!x->scaling) return not_registered(e, rid);
  if (store_delete(c->db, "scaling", x->name))
    return api_fail(e, 500, "InternalServiceException", "could not commit to the store");
  json_decref(x->scaling->doc);
  free(x->scaling);
  x->scaling = NULL;
  *resp = json_object();
  return 0;
}

static int put_policy(ctl *c, json_t *req, json_t **resp, api_error *e) {
  ic *x;
  const char *rid, *name;
  if (valid_string(req, "PolicyName", "PolicyName", 1, 256, &name, e) ||
      resource(c, req, 1, &x, &rid, e))
    return -1;
  if (!x->scaling) return not_registered(e, rid);
  scale_policy check;
  if (parse_policy(req, &check, e)) return -1;
  char arn[512];
  policy_arn(c, x->name, name, arn, sizeof arn);
  json_t *doc = json_deep_copy(x->scaling->doc);
  json_t *policies = json_object_get(doc, "Policies");
  json_t *pol = json_deep_copy(req);
  json_object_set_new(pol, "PolicyARN", json_string(arn));
  json_object_set_new(pol, "ScalableDimension", json_string(AAS_DIMENSION));
  json_object_set_new(pol, "CreationTime", json_real(ctl_now()));
  json_t *alarms = json_array();
  if (check.type == SCALE_TARGET_TRACKING) {
    char hi[300], lo[300];
    snprintf(hi, sizeof hi, "TargetTracking-%s-AlarmHigh", rid);
    snprintf(lo, sizeof lo, "TargetTracking-%s-AlarmLow", rid);
    json_array_append_new(alarms, json_pack("{s:s,s:s}", "AlarmName", hi, "AlarmARN", hi));
    json_array_append_new(alarms, json_pack("{s:s,s:s}", "AlarmName", lo, "AlarmARN", lo));
  }
  json_object_set(pol, "Alarms", alarms);
  size_t i;
  json_t *p;
  int replaced = 0;
  json_array_foreach(policies, i, p) {
    if (strcmp(json_string_value(json_object_get(p, "PolicyName")), name) == 0) {
      json_object_set(pol, "CreationTime", json_object_get(p, "CreationTime"));
      json_array_set(policies, i, pol);
      replaced = 1;
      break;
    }
  }
  if (!replaced) {
    if (json_array_size(policies) >= SCALE_MAX_POLICIES) {
      json_decref(pol);
      json_decref(doc);
      json_decref(alarms);
      return api_fail(e, 400, "LimitExceededException",
                      "Inference component %s already has %d scaling policies, the most Berth "
                      "keeps per scalable target", x->name, SCALE_MAX_POLICIES);
    }
    json_array_append(policies, pol);
  }
  json_decref(pol);
  int rc = save(c, x, doc, e);
  json_decref(doc);
  if (rc) {
    json_decref(alarms);
    return -1;
  }
  *resp = json_pack("{s:s,s:o}", "PolicyARN", arn, "Alarms", alarms);
  return 0;
}

static int describe_policies(ctl *c, json_t *req, json_t **resp, api_error *e) {
  json_t *names;
  const char *rid = NULL;
  if (namespace_only(req, e) ||
      valid_array(req, "PolicyNames", "PolicyNames", 0, 0, 50, &names, e) ||
      valid_string(req, "ResourceId", "ResourceId", 0, 1600, &rid, e))
    return -1;
  json_t *items = json_array();
  for (ic *x = c->ics; x; x = x->next) {
    if (!x->scaling) continue;
    char my[128];
    snprintf(my, sizeof my, RESOURCE_PREFIX "%s", x->name);
    if (rid && strcmp(rid, my) != 0) continue;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(x->scaling->doc, "Policies"), i, p) {
      if (names && json_array_size(names)) {
        int hit = 0;
        size_t k;
        json_t *n;
        json_array_foreach(names, k, n)
          if (json_is_string(n) && strcmp(json_string_value(n),
                                          json_string_value(json_object_get(p, "PolicyName"))) == 0)
            hit = 1;
        if (!hit) continue;
      }
      json_array_append(items, p);
    }
  }
  return page(req, items, "ScalingPolicies", resp, e);
}

static int delete_policy(ctl *c, json_t *req, json_t **resp, api_error *e) {
  ic *x;
  const char *rid, *name;
  if (valid_string(req, "PolicyName", "PolicyName", 1, 256, &name, e) ||
      resource(c, req, 1, &x, &rid, e))
    return -1;
  if (!x->scaling) return not_registered(e, rid);
  json_t *doc = json_deep_copy(x->scaling->doc);
  json_t *policies = json_object_get(doc, "Policies");
  size_t i;
  json_t *p;
  int found = 0;
  json_array_foreach(policies, i, p) {
    if (strcmp(json_string_value(json_object_get(p, "PolicyName")), name) == 0) {
      json_array_remove(policies, i);
      found = 1;
      break;
    }
  }
  if (!found) {
    json_decref(doc);
    return api_fail(e, 400, "ObjectNotFoundException",
                    "No scaling policy found for service namespace: sagemaker, resource ID: %s, "
                    "scalable dimension: " AAS_DIMENSION ", policy name: %s", rid, name);
  }
  int rc = save(c, x, doc, e);
  json_decref(doc);
  if (rc) return -1;
  *resp = json_object();
  return 0;
}

static int describe_activities(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *rid = NULL;
  if (namespace_only(req, e) || valid_string(req, "ResourceId", "ResourceId", 0, 1600, &rid, e))
    return -1;
  json_t *items = json_array();
  /* Newest first, as Application Auto Scaling lists them. */
  for (size_t i = json_array_size(c->activities); i-- > 0;) {
    json_t *a = json_array_get(c->activities, i);
    if (rid && strcmp(rid, json_string_value(json_object_get(a, "ResourceId"))) != 0) continue;
    json_array_append(items, a);
  }
  return page(req, items, "ScalingActivities", resp, e);
}

int aas_call(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e) {
  static const api_operation ops[] = {
    {"RegisterScalableTarget", register_target},
    {"DeregisterScalableTarget", deregister_target},
    {"DescribeScalableTargets", describe_targets},
    {"PutScalingPolicy", put_policy},
    {"DescribeScalingPolicies", describe_policies},
    {"DeleteScalingPolicy", delete_policy},
    {"DescribeScalingActivities", describe_activities},
  };
  return api_dispatch(ops, sizeof ops / sizeof ops[0], "AnyScaleFrontendService", c, op, req,
                      resp, e);
}

static int load_one(const char *name, json_t *doc, void *ud) {
  ctl *c = ud;
  ic *x = ctl_find_ic(c, name);
  api_error e;
  if (!x) return 0;
  if (aas_apply(c, x, doc, &e))
    berth_log(BERTH_LOG_ERROR, "scaling of %s no longer loads: %s", name, e.message);
  return 0;
}

int aas_load(ctl *c) {
  return store_each(c->db, "scaling", load_one, c);
}

int aas_alarm_action(ctl *c, const char *policy_arn, const char *alarm_name, double value) {
  (void)c;
  (void)policy_arn;
  (void)alarm_name;
  (void)value;
  return -1;
}

/* aas: Application Auto Scaling for inference components (copies) and
 * endpoint variants (instances).
 *
 * DESIGN: a scalable target and its policies are one document (kind
 * "scaling" per IC, "variant-scaling" per EP/VARIANT with the variant's
 * desired instance count), committed and restored as a unit. Scheduled
 * actions are documents of their own ("scheduled-action"), evaluated once a
 * second on the wall clock (schedules name wall times) from the autoscale
 * tick; activities are stored one by one ("scaling-activity") and the
 * newest MAX_ACTIVITIES are kept. Variant policies read a window of their
 * own fed each second with the sum of the variant's ICs' traffic, with the
 * variant's running instances as the "copies" a per-copy metric divides by:
 * SageMakerVariantInvocationsPerInstance is then the same arithmetic as
 * invocations per copy. */
#include "berth/log.h"
#include "aas.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/schedule.h"
#include "berth/tzfile.h"
#include "berth/window.h"
#include "valid.h"
#include "ic.h"
#include "metrics.h"
#include "store.h"

#define RESOURCE_PREFIX "inference-component/"
#define MAX_ACTIVITIES 1000
#define MAX_SCHEDULED_ACTIONS 200   /* AWS's default quota per resource type */
#define ZONEINFO "/usr/share/zoneinfo/"

typedef struct variant_target {
  struct variant_target *next;
  char endpoint[NAME_MAX_LEN + 1];
  char variant[NAME_MAX_LEN + 1];
  scaling *s;
  int desired;                  /* DesiredInstanceCount it asks for */
  scale_window window;          /* the variant's traffic, summed over ICs */
} variant_target;

typedef struct scheduled_action {
  struct scheduled_action *next;
  json_t *doc;                  /* as described, plus nothing private */
  berth_schedule sched;
  berth_tz tz;
  double next_at;               /* wall seconds; < 0: never again */
} scheduled_action;

struct aas_state {
  variant_target *variants;
  scheduled_action *actions;
};

static struct aas_state *state(ctl *c) {
  if (!c->aas) c->aas = berth_xcalloc(1, sizeof *c->aas);
  return c->aas;
}

/* What a request names: an IC's copies or a variant's instances. */
typedef struct target {
  ic *x;                        /* an IC, or NULL */
  endpoint *ep;                 /* a variant: its endpoint and index */
  int vi;
  variant_target *vt;           /* the variant's registration, if any */
  const char *dim;
  char rid[160];
  char key[140];                /* store name */
} target;

static scaling *target_scaling(const target *t) {
  return t->x ? t->x->scaling : t->vt ? t->vt->s : NULL;
}

static const char *store_kind(const target *t) {
  return t->x ? "scaling" : "variant-scaling";
}

static int current_capacity(ctl *c, const target *t) {
  if (t->x) return t->x->desired;
  if (t->vt) return t->vt->desired;
  return ic_desired_instances(c, t->ep, &t->ep->cfg.variants[t->vi]);
}

static const char *const policy_types[] = {"TargetTrackingScaling", "StepScaling", NULL};
static const char *const adjustment_types[] = {"ChangeInCapacity", "ExactCapacity",
                                               "PercentChangeInCapacity", NULL};
static const char *const aggregations[] = {"Average", "Minimum", "Maximum", NULL};

static void target_arn(const ctl *c, const target *t, char *out, size_t outsz) {
  snprintf(out, outsz, "arn:aws:application-autoscaling:%s:%s:scalable-target/berth-%s",
           c->region, c->account, t->key);
}

static void policy_arn(const ctl *c, const target *t, const char *policy, char *out,
                       size_t outsz) {
  snprintf(out, outsz,
           "arn:aws:autoscaling:%s:%s:scalingPolicy:berth-%s:resource/sagemaker/%s:policyName/%s",
           c->region, c->account, t->key, t->rid, policy);
}

static variant_target *find_variant_target(ctl *c, const char *ep, const char *v) {
  for (variant_target *vt = state(c)->variants; vt; vt = vt->next)
    if (strcmp(vt->endpoint, ep) == 0 && strcmp(vt->variant, v) == 0) return vt;
  return NULL;
}

/* Resolves a ResourceId (and ScalableDimension, when given) into t. */
static int resolve(ctl *c, const char *rid, const char *dim, target *t, api_error *e) {
  memset(t, 0, sizeof *t);
  snprintf(t->rid, sizeof t->rid, "%s", rid);
  if (strncmp(rid, RESOURCE_PREFIX, strlen(RESOURCE_PREFIX)) == 0) {
    const char *name = rid + strlen(RESOURCE_PREFIX);
    if (dim && strcmp(dim, AAS_DIMENSION) != 0)
      return api_fail(e, 400, "ValidationException",
                      "1 validation error detected: Value '%s' at 'scalableDimension' failed to "
                      "satisfy constraint: an inference-component/ resource scales by "
                      AAS_DIMENSION, dim);
    t->dim = AAS_DIMENSION;
    t->x = ctl_find_ic(c, name);
    snprintf(t->key, sizeof t->key, "%s", name);
    if (!t->x || t->x->deleting)
      return api_fail(e, 400, "ValidationException",
                      "Inference component %s does not exist (ResourceId %s)", name, rid);
    return 0;
  }
  char epname[NAME_MAX_LEN + 1], vname[NAME_MAX_LEN + 1];
  const char *slash = strncmp(rid, "endpoint/", 9) == 0 ? strstr(rid + 9, "/variant/") : NULL;
  if (!slash || (size_t)(slash - (rid + 9)) > NAME_MAX_LEN || strlen(slash + 9) > NAME_MAX_LEN ||
      slash == rid + 9 || slash[9] == '\0')
    return api_fail(e, 400, "ValidationException",
                    "Unsupported resource ID '%s': use inference-component/<InferenceComponentName> "
                    "or endpoint/<EndpointName>/variant/<VariantName>", rid);
  snprintf(epname, sizeof epname, "%.*s", (int)(slash - (rid + 9)), rid + 9);
  snprintf(vname, sizeof vname, "%s", slash + 9);
  if (dim && strcmp(dim, AAS_VARIANT_DIMENSION) != 0)
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value '%s' at 'scalableDimension' failed to "
                    "satisfy constraint: an endpoint/.../variant/... resource scales by "
                    AAS_VARIANT_DIMENSION, dim);
  t->dim = AAS_VARIANT_DIMENSION;
  snprintf(t->key, sizeof t->key, "%s/%s", epname, vname);
  t->ep = ctl_find_endpoint(c, epname);
  if (!t->ep || t->ep->status == ENDPOINT_DELETING)
    return api_fail(e, 400, "ValidationException",
                    "Endpoint %s does not exist (ResourceId %s)", epname, rid);
  t->vi = -1;
  for (int i = 0; i < t->ep->cfg.n_variants; i++)
    if (strcmp(t->ep->cfg.variants[i].name, vname) == 0) t->vi = i;
  if (t->vi < 0)
    return api_fail(e, 400, "ValidationException",
                    "Endpoint %s has no production variant %s (ResourceId %s)", epname, vname,
                    rid);
  t->vt = find_variant_target(c, epname, vname);
  return 0;
}

/* Checks ServiceNamespace, ResourceId and ScalableDimension; finds the target. */
static int resource(ctl *c, json_t *req, int need_dimension, target *t, api_error *e) {
  static const char *const namespaces[] = {"sagemaker", NULL};
  static const char *const dims[] = {AAS_DIMENSION, AAS_VARIANT_DIMENSION, NULL};
  const char *ns, *rid, *dim;
  if (valid_enum(req, "ServiceNamespace", "ServiceNamespace", 1, namespaces, NULL, &ns, e) ||
      valid_string(req, "ResourceId", "ResourceId", 1, 1600, &rid, e) ||
      valid_enum(req, "ScalableDimension", "ScalableDimension", need_dimension, dims, NULL, &dim,
                 e))
    return -1;
  return resolve(c, rid, dim, t, e);
}

static int not_registered(api_error *e, const target *t) {
  return api_fail(e, 400, "ObjectNotFoundException",
                  "No scalable target registered for service namespace: sagemaker, resource ID: "
                  "%s, scalable dimension: %s", t->rid, t->dim);
}

static int parse_metric(json_t *ttc, int for_variant, scale_metric *m, api_error *e) {
  json_t *pre, *cust;
  if (valid_object(ttc, "PredefinedMetricSpecification",
                   "TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification", 0,
                   &pre, e) ||
      valid_object(ttc, "CustomizedMetricSpecification",
                   "TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification", 0,
                   &cust, e))
    return -1;
  if (pre) {
    static const char *const ic_types[] = {
      "SageMakerInferenceComponentInvocationsPerCopy",
      "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution", NULL};
    static const char *const variant_types[] = {
      "SageMakerVariantInvocationsPerInstance",
      "SageMakerVariantConcurrentRequestsPerModelHighResolution", NULL};
    const char *const *types = for_variant ? variant_types : ic_types;
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
      {"InvocationsPerInstance", SCALE_METRIC_INVOCATIONS_PER_COPY},
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
                    "InvocationsPerCopy, InvocationsPerInstance, ConcurrentRequestsPerCopy, "
                    "NoCapacityInvocationFailures or Invocations (namespace AWS/SageMaker)", name);
  }
  return api_fail(e, 400, "ValidationException",
                  "TargetTrackingScalingPolicyConfiguration needs a "
                  "PredefinedMetricSpecification or a CustomizedMetricSpecification");
}

/* The extension BerthLatencySlo {Percentile, LatencySeconds,
 * MaxConcurrencyPerCopy, BatchSlowdown}: docs/autoscaling.md. */
static int parse_latency_slo(json_t *slo, int for_variant, scale_policy *p, api_error *e) {
  double pct, conc;
  if (for_variant)
    return api_fail(e, 400, "ValidationException",
                    "TargetTrackingScalingPolicyConfiguration.BerthLatencySlo applies to "
                    "inference components (sagemaker:inference-component:DesiredCopyCount), not "
                    "to variants");
  if (valid_number(slo, "LatencySeconds", "BerthLatencySlo.LatencySeconds", 1, 0.001, 86400, 0,
                   &p->slo_latency_s, e) ||
      valid_number(slo, "Percentile", "BerthLatencySlo.Percentile", 0, 50, 99.99, 99, &pct, e) ||
      valid_number(slo, "MaxConcurrencyPerCopy", "BerthLatencySlo.MaxConcurrencyPerCopy", 0, 1,
                   4096, 1, &conc, e) ||
      valid_number(slo, "BatchSlowdown", "BerthLatencySlo.BatchSlowdown", 0, 0, 0.99, 0,
                   &p->slo_batch_slowdown, e))
    return -1;
  if (conc != floor(conc))
    return api_fail(e, 400, "ValidationException",
                    "BerthLatencySlo.MaxConcurrencyPerCopy %g must be a whole number of requests",
                    conc);
  p->slo = 1;
  p->slo_percentile = pct / 100.0;
  p->slo_max_concurrency = (int)conc;
  return 0;
}

/* Parses one stored policy document into a scale_policy. */
static int parse_policy(json_t *doc, int for_variant, scale_policy *p, api_error *e) {
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
    json_t *slo;
    if (valid_object(ttc, "BerthLatencySlo", "TargetTrackingScalingPolicyConfiguration.BerthLatencySlo",
                     0, &slo, e) ||
        (slo && parse_latency_slo(slo, for_variant, p, e)))
      return -1;
    /* A latency SLO stands instead of the target value. */
    if (parse_metric(ttc, for_variant, &p->metric, e) ||
        valid_number(ttc, "TargetValue", "TargetTrackingScalingPolicyConfiguration.TargetValue",
                     !slo, 8.515920e-109, 6.7e12, 1, &p->target, e) ||
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

/* Builds a scaling from its document, keeping old's cooldown memory. */
static scaling *build_scaling(ctl *c, json_t *doc, int for_variant, scaling *old,
                              api_error *e) {
  scaling *s = berth_xcalloc(1, sizeof *s);
  json_t *td = json_object_get(doc, "Target");
  s->cfg.profile = c->profile;
  s->cfg.fast_scale_in_window_s = c->scale_in_window_s;
  s->cfg.min_capacity = (int)json_integer_value(json_object_get(td, "MinCapacity"));
  s->cfg.max_capacity = (int)json_integer_value(json_object_get(td, "MaxCapacity"));
  json_t *policies = json_object_get(doc, "Policies");
  size_t i;
  json_t *p;
  json_array_foreach(policies, i, p) {
    if (s->cfg.n_policies == SCALE_MAX_POLICIES) break;
    if (parse_policy(p, for_variant, &s->cfg.policies[s->cfg.n_policies], e)) {
      free(s);
      return NULL;
    }
    s->cfg.n_policies++;
  }
  scale_state_init(&s->st);
  s->st.since = ctl_clock();
  if (old) {
    double since = s->st.since;
    s->st = old->st; /* keep cooldown memory across policy changes */
    s->st.since = since;
  }
  s->doc = json_incref(doc);
  return s;
}

static void scaling_free(scaling *s) {
  if (!s) return;
  json_decref(s->doc);
  free(s);
}

int aas_apply(ctl *c, ic *x, json_t *doc, api_error *e) {
  scaling *s = build_scaling(c, doc, 0, x->scaling, e);
  if (!s) return -1;
  scaling_free(x->scaling);
  x->scaling = s;
  return 0;
}

static variant_target *variant_target_new(ctl *c, const char *ep, const char *v) {
  variant_target *vt = berth_xcalloc(1, sizeof *vt);
  snprintf(vt->endpoint, sizeof vt->endpoint, "%s", ep);
  snprintf(vt->variant, sizeof vt->variant, "%s", v);
  scale_window_init(&vt->window, ctl_clock());
  vt->next = state(c)->variants;
  state(c)->variants = vt;
  return vt;
}

static int store_failed(api_error *e) {
  return api_fail(e, 500, "InternalServiceException", "could not commit to the store");
}

/* Commits doc as t's scaling document and rebuilds its scaling from it. */
static int save(ctl *c, target *t, json_t *doc, api_error *e) {
  api_error tmp;
  if (!e) e = &tmp;
  if (t->x) {
    if (store_put(c->db, "scaling", t->key, doc)) return store_failed(e);
    return aas_apply(c, t->x, doc, e);
  }
  if (!t->vt) {
    t->vt = variant_target_new(c, t->ep->name, t->ep->cfg.variants[t->vi].name);
    t->vt->desired = ic_desired_instances(c, t->ep, &t->ep->cfg.variants[t->vi]);
  }
  json_object_set_new(doc, "Desired", json_integer(t->vt->desired));
  if (store_put(c->db, "variant-scaling", t->key, doc)) return store_failed(e);
  scaling *s = build_scaling(c, doc, 1, t->vt->s, e);
  if (!s) return -1;
  scaling_free(t->vt->s);
  t->vt->s = s;
  return 0;
}

/* ---- activities ---- */

static void activity_add(ctl *c, const char *rid, const char *dim, const char *description,
                         const char *cause, const char *status, const char *message,
                         json_t *not_scaled) {
  char id[64];
  double now = ctl_now();
  c->random_state += 0x9E3779B97F4A7C15ULL;
  /* Time first, so ids never repeat across restarts. */
  snprintf(id, sizeof id, "berth-%011llx-%08x", (unsigned long long)(now * 1000),
           (unsigned)(c->random_state >> 32));
  json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:s}", "ActivityId", id,
                        "ServiceNamespace", "sagemaker", "ResourceId", rid, "ScalableDimension",
                        dim, "Description", description, "Cause", cause, "StartTime", now,
                        "EndTime", now, "StatusCode", status);
  if (message) json_object_set_new(a, "StatusMessage", json_string(message));
  if (not_scaled) json_object_set_new(a, "NotScaledReasons", not_scaled);
  store_put(c->db, "scaling-activity", id, a);
  json_array_append_new(c->activities, a);
  while (json_array_size(c->activities) > MAX_ACTIVITIES) {
    store_delete(c->db, "scaling-activity",
                 json_string_value(json_object_get(json_array_get(c->activities, 0),
                                                   "ActivityId")));
    json_array_remove(c->activities, 0);
  }
}

void aas_activity(ctl *c, const ic *x, const char *description, const char *cause,
                  const char *status) {
  char rid[128];
  snprintf(rid, sizeof rid, RESOURCE_PREFIX "%s", x->name);
  activity_add(c, rid, AAS_DIMENSION, description, cause, status, NULL, NULL);
}

/* A not-scaled activity (IncludeNotScaledActivities), once per reason: an
 * alarm that stays in ALARM at the maximum records it one time. */
static void not_scaled(ctl *c, const target *t, const char *description, const char *cause,
                       const char *code, int cur, int mn, int mx) {
  for (size_t i = json_array_size(c->activities); i-- > 0;) {
    json_t *a = json_array_get(c->activities, i);
    if (strcmp(json_string_value(json_object_get(a, "ResourceId")), t->rid) != 0) continue;
    json_t *r = json_array_get(json_object_get(a, "NotScaledReasons"), 0);
    if (r && strcmp(json_string_value(json_object_get(a, "Cause")), cause) == 0 &&
        strcmp(json_string_value(json_object_get(r, "Code")), code) == 0)
      return;
    break;
  }
  char msg[256];
  snprintf(msg, sizeof msg, "Capacity stays %d: %s (MinCapacity %d, MaxCapacity %d)", cur, code,
           mn, mx);
  activity_add(c, t->rid, t->dim, description, cause, "Failed", msg,
               json_pack("[{s:s,s:i,s:i,s:i}]", "Code", code, "CurrentCapacity", cur,
                         "MinCapacity", mn, "MaxCapacity", mx));
}

/* Sets t's capacity (copies or instances) and records the activity. */
static int set_capacity(ctl *c, target *t, int n, const char *cause) {
  char desc[128];
  if (t->x) {
    if (ic_set_desired(c, t->x, n, cause)) return -1;
    snprintf(desc, sizeof desc, "Setting desired copy count to %d.", n);
  } else {
    if (!t->vt) return -1;
    t->vt->desired = n;
    json_t *doc = json_deep_copy(t->vt->s->doc);
    json_object_set_new(doc, "Desired", json_integer(n));
    int rc = store_put(c->db, "variant-scaling", t->key, doc);
    json_decref(t->vt->s->doc);
    t->vt->s->doc = doc;
    if (rc) return -1;
    berth_log(BERTH_LOG_INFO, "%s: desired instance count %d (%s)", t->key, n, cause);
    ctl_kick(c);
    snprintf(desc, sizeof desc, "Setting desired instance count to %d.", n);
  }
  activity_add(c, t->rid, t->dim, desc, cause, "Successful", NULL, NULL);
  return 0;
}

static json_t *suspended(json_t *target_doc) {
  return json_object_get(target_doc, "SuspendedState");
}

static int flag(json_t *ss, const char *key) {
  return json_is_true(json_object_get(ss, key));
}

int aas_dynamic_allowed(const ic *x, int from, int to) {
  if (!x->scaling) return 1;
  json_t *ss = suspended(json_object_get(x->scaling->doc, "Target"));
  if (to > from) return !flag(ss, "DynamicScalingOutSuspended");
  if (to < from) return !flag(ss, "DynamicScalingInSuspended");
  return 1;
}

/* ---- scalable targets ---- */

/* How many copies of x fit on the variant at most (SageMaker's rule for
 * MaxCapacity): copies per empty instance of its type times the instances
 * it may have: MaxInstanceCount with managed instance scaling, else the
 * instances it has (or will start). -1 when unknown. */
static int copies_that_fit(ctl *c, const ic *x, int *per_instance, int *instances) {
  endpoint *ep = ctl_find_endpoint(c, x->endpoint);
  const variant *v = ep ? ctl_endpoint_variant(ep, x->variant) : NULL;
  const berth_instance_type *type = v ? berth_catalog_find(&c->catalog, v->instance_type) : NULL;
  if (!type) return -1;
  sched_instance inst = sched_capacity(type);
  int n = 0;
  sched_assignment a;
  while (n < 100000 && sched_place(&inst, 1, NULL, &x->need, SCHED_BINPACK, &a) == 0) {
    sched_reserve(&inst, &x->need, &a);
    n++;
  }
  *per_instance = n;
  if (v->managed_scaling) {
    *instances = v->max_instances;
  } else {
    int have = 0;
    for (instance *in = c->instances; in; in = in->next)
      have += strcmp(in->endpoint, ep->name) == 0 && strcmp(in->variant, v->name) == 0;
    *instances = have > 0 ? have : ic_desired_instances(c, ep, v);
  }
  return n * *instances;
}

static int register_target(ctl *c, json_t *req, json_t **resp, api_error *e) {
  target t;
  long long mn, mx;
  json_t *ss;
  if (resource(c, req, 1, &t, e) ||
      valid_object(req, "SuspendedState", "SuspendedState", 0, &ss, e))
    return -1;
  scaling *cur = target_scaling(&t);
  json_t *old = cur ? json_object_get(cur->doc, "Target") : NULL;
  long long old_min = old ? json_integer_value(json_object_get(old, "MinCapacity")) : -1;
  long long old_max = old ? json_integer_value(json_object_get(old, "MaxCapacity")) : -1;
  if (valid_int(req, "MinCapacity", "MinCapacity", !old, 0, 100000, old_min, &mn, e) ||
      valid_int(req, "MaxCapacity", "MaxCapacity", !old, 0, 100000, old_max, &mx, e))
    return -1;
  static const char *const flags[] = {"DynamicScalingInSuspended", "DynamicScalingOutSuspended",
                                      "ScheduledScalingSuspended"};
  for (size_t i = 0; ss && i < 3; i++) {
    json_t *v = json_object_get(ss, flags[i]);
    if (v && !json_is_boolean(v))
      return api_fail(e, 400, "ValidationException",
                      "1 validation error detected: Value at 'suspendedState.%s' failed to "
                      "satisfy constraint: Member must be a boolean", flags[i]);
  }
  if (mn > mx)
    return api_fail(e, 400, "ValidationException",
                    "Minimum capacity (%lld) cannot be greater than maximum capacity (%lld)", mn,
                    mx);
  if (t.ep && mn < 1 && !t.ep->cfg.variants[t.vi].managed_scaling)
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value '%lld' at 'minCapacity' failed to "
                    "satisfy constraint: a variant without managed instance scaling keeps at "
                    "least 1 instance", mn);
  char arn[256];
  target_arn(c, &t, arn, sizeof arn);
  json_t *doc = cur ? json_deep_copy(cur->doc) : json_pack("{s:{},s:[]}", "Target", "Policies");
  json_t *td = json_object_get(doc, "Target");
  json_object_set_new(td, "ServiceNamespace", json_string("sagemaker"));
  json_object_set_new(td, "ResourceId", json_string(t.rid));
  json_object_set_new(td, "ScalableDimension", json_string(t.dim));
  json_object_set_new(td, "MinCapacity", json_integer(mn));
  json_object_set_new(td, "MaxCapacity", json_integer(mx));
  json_object_set_new(td, "ScalableTargetARN", json_string(arn));
  json_t *sd = suspended(td);
  if (!sd) {
    sd = json_pack("{s:b,s:b,s:b}", flags[0], 0, flags[1], 0, flags[2], 0);
    json_object_set_new(td, "SuspendedState", sd);
  }
  for (size_t i = 0; ss && i < 3; i++) {
    json_t *v = json_object_get(ss, flags[i]);
    if (v) json_object_set(sd, flags[i], v);
  }
  json_t *role = json_object_get(req, "RoleARN");
  if (json_is_string(role)) json_object_set(td, "RoleARN", role);
  if (!json_object_get(td, "CreationTime"))
    json_object_set_new(td, "CreationTime", json_real(ctl_now()));
  int rc = save(c, &t, doc, e);
  json_decref(doc);
  if (rc) return -1;
  *resp = json_pack("{s:s}", "ScalableTargetARN", arn);
  /* SageMaker's rule: MaxCapacity copies must fit in the variant. It still
   * registers; the answer and an activity say so before traffic comes. */
  int per = 0, insts = 0;
  int fit = t.x ? copies_that_fit(c, t.x, &per, &insts) : -1;
  if (fit >= 0 && fit < mx) {
    endpoint *ep = ctl_find_endpoint(c, t.x->endpoint);
    const variant *v = ctl_endpoint_variant(ep, t.x->variant);
    char msg[512];
    snprintf(msg, sizeof msg,
             "MaxCapacity %lld copies of %s cannot fit: %d fit on one %s and the variant %s/%s "
             "has at most %d instance(s) (%s), so at most %d copies can run. Raise %s or lower "
             "MaxCapacity.", mx, t.x->name, per, v->instance_type, ep->name, v->name, insts,
             v->managed_scaling ? "ManagedInstanceScaling.MaxInstanceCount"
                                : "its current instances, without managed instance scaling",
             fit, v->managed_scaling ? "MaxInstanceCount" : "the instance count");
    json_object_set_new(*resp, "Warning", json_string(msg));
    char desc[128];
    snprintf(desc, sizeof desc, "Registering scalable target with MaxCapacity %lld.", mx);
    activity_add(c, t.rid, t.dim, desc, "RegisterScalableTarget", "Successful", msg, NULL);
  }
  /* A target whose range excludes the current count moves it at once. */
  int now_n = current_capacity(c, &t);
  int want = now_n < mn ? (int)mn : now_n > mx ? (int)mx : now_n;
  if (want != now_n) {
    char cause[160];
    snprintf(cause, sizeof cause, "the scalable target's range is %lld..%lld", mn, mx);
    set_capacity(c, &t, want, cause);
  }
  return 0;
}

/* Every registered target, as resolve() would give it. */
typedef int (*target_fn)(ctl *c, target *t, void *ud);

static int each_target(ctl *c, target_fn fn, void *ud) {
  api_error e;
  for (ic *x = c->ics; x; x = x->next) {
    if (!x->scaling || x->deleting) continue;
    char rid[160];
    snprintf(rid, sizeof rid, RESOURCE_PREFIX "%s", x->name);
    target t;
    if (resolve(c, rid, NULL, &t, &e) == 0 && fn(c, &t, ud)) return 1;
  }
  for (variant_target *vt = state(c)->variants; vt; vt = vt->next) {
    if (!vt->s) continue;
    char rid[160];
    snprintf(rid, sizeof rid, "endpoint/%s/variant/%s", vt->endpoint, vt->variant);
    target t;
    if (resolve(c, rid, NULL, &t, &e) == 0 && t.vt && fn(c, &t, ud)) return 1;
  }
  return 0;
}

/* Whether a ResourceIds filter (or none) selects rid. */
static int selected(json_t *ids, const char *rid) {
  if (!ids || json_array_size(ids) == 0) return 1;
  size_t i;
  json_t *v;
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

/* ServiceNamespace and an optional ScalableDimension filter (*dim). */
static int namespace_only(json_t *req, const char **dim, api_error *e) {
  static const char *const namespaces[] = {"sagemaker", NULL};
  static const char *const dims[] = {AAS_DIMENSION, AAS_VARIANT_DIMENSION, NULL};
  const char *ns;
  return valid_enum(req, "ServiceNamespace", "ServiceNamespace", 1, namespaces, NULL, &ns, e) ||
                 valid_enum(req, "ScalableDimension", "ScalableDimension", 0, dims, NULL, dim, e)
             ? -1
             : 0;
}

typedef struct collect {
  json_t *ids, *items;
  const char *dim;
} collect;

static int collect_target(ctl *c, target *t, void *ud) {
  (void)c;
  collect *k = ud;
  if (selected(k->ids, t->rid) && (!k->dim || strcmp(k->dim, t->dim) == 0))
    json_array_append(k->items, json_object_get(target_scaling(t)->doc, "Target"));
  return 0;
}

static int describe_targets(ctl *c, json_t *req, json_t **resp, api_error *e) {
  collect k = {0};
  if (namespace_only(req, &k.dim, e) ||
      valid_array(req, "ResourceIds", "ResourceIds", 0, 0, 50, &k.ids, e))
    return -1;
  k.items = json_array();
  each_target(c, collect_target, &k);
  return page(req, k.items, "ScalableTargets", resp, e);
}

static void drop_actions_of(ctl *c, const char *rid);

static int deregister_target(ctl *c, json_t *req, json_t **resp, api_error *e) {
  target t;
  if (resource(c, req, 1, &t, e)) return -1;
  scaling *s = target_scaling(&t);
  if (!s) return not_registered(e, &t);
  if (store_delete(c->db, store_kind(&t), t.key)) return store_failed(e);
  scaling_free(s);
  if (t.x) t.x->scaling = NULL;
  else t.vt->s = NULL; /* the variant keeps the instances it has */
  drop_actions_of(c, t.rid); /* AWS deletes a target's scheduled actions with it */
  *resp = json_object();
  return 0;
}

static int put_policy(ctl *c, json_t *req, json_t **resp, api_error *e) {
  target t;
  const char *name;
  if (valid_string(req, "PolicyName", "PolicyName", 1, 256, &name, e) ||
      resource(c, req, 1, &t, e))
    return -1;
  scaling *s = target_scaling(&t);
  if (!s) return not_registered(e, &t);
  scale_policy check;
  if (parse_policy(req, !t.x, &check, e)) return -1;
  char arn[512];
  policy_arn(c, &t, name, arn, sizeof arn);
  json_t *doc = json_deep_copy(s->doc);
  json_t *policies = json_object_get(doc, "Policies");
  json_t *pol = json_deep_copy(req);
  json_object_set_new(pol, "PolicyARN", json_string(arn));
  json_object_set_new(pol, "ScalableDimension", json_string(t.dim));
  json_object_set_new(pol, "CreationTime", json_real(ctl_now()));
  json_t *alarms = json_array();
  if (check.type == SCALE_TARGET_TRACKING) {
    char hi[300], lo[300];
    snprintf(hi, sizeof hi, "TargetTracking-%s-AlarmHigh", t.rid);
    snprintf(lo, sizeof lo, "TargetTracking-%s-AlarmLow", t.rid);
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
                      "%s already has %d scaling policies, the most Berth keeps per scalable "
                      "target", t.rid, SCALE_MAX_POLICIES);
    }
    json_array_append(policies, pol);
  }
  json_decref(pol);
  int rc = save(c, &t, doc, e);
  json_decref(doc);
  if (rc) {
    json_decref(alarms);
    return -1;
  }
  *resp = json_pack("{s:s,s:o}", "PolicyARN", arn, "Alarms", alarms);
  return 0;
}

typedef struct policy_filter {
  json_t *names, *items;
  const char *rid, *dim;
} policy_filter;

static int collect_policies(ctl *c, target *t, void *ud) {
  (void)c;
  policy_filter *f = ud;
  if ((f->rid && strcmp(f->rid, t->rid) != 0) || (f->dim && strcmp(f->dim, t->dim) != 0))
    return 0;
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(target_scaling(t)->doc, "Policies"), i, p) {
    if (f->names && json_array_size(f->names)) {
      int hit = 0;
      size_t k;
      json_t *n;
      json_array_foreach(f->names, k, n)
        if (json_is_string(n) && strcmp(json_string_value(n),
                                        json_string_value(json_object_get(p, "PolicyName"))) == 0)
          hit = 1;
      if (!hit) continue;
    }
    json_array_append(f->items, p);
  }
  return 0;
}

static int describe_policies(ctl *c, json_t *req, json_t **resp, api_error *e) {
  policy_filter f = {0};
  if (namespace_only(req, &f.dim, e) ||
      valid_array(req, "PolicyNames", "PolicyNames", 0, 0, 50, &f.names, e) ||
      valid_string(req, "ResourceId", "ResourceId", 0, 1600, &f.rid, e))
    return -1;
  f.items = json_array();
  each_target(c, collect_policies, &f);
  return page(req, f.items, "ScalingPolicies", resp, e);
}

static int delete_policy(ctl *c, json_t *req, json_t **resp, api_error *e) {
  target t;
  const char *name;
  if (valid_string(req, "PolicyName", "PolicyName", 1, 256, &name, e) ||
      resource(c, req, 1, &t, e))
    return -1;
  scaling *s = target_scaling(&t);
  if (!s) return not_registered(e, &t);
  json_t *doc = json_deep_copy(s->doc);
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
                    "scalable dimension: %s, policy name: %s", t.rid, t.dim, name);
  }
  int rc = save(c, &t, doc, e);
  json_decref(doc);
  if (rc) return -1;
  *resp = json_object();
  return 0;
}

static int describe_activities(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *rid = NULL, *dim = NULL;
  json_t *inc = json_object_get(req, "IncludeNotScaledActivities");
  if (namespace_only(req, &dim, e) ||
      valid_string(req, "ResourceId", "ResourceId", 0, 1600, &rid, e))
    return -1;
  if (inc && !json_is_boolean(inc))
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value at 'includeNotScaledActivities' failed "
                    "to satisfy constraint: Member must be a boolean");
  if (dim && !rid)
    return api_fail(e, 400, "ValidationException",
                    "ResourceId must be specified when ScalableDimension is specified");
  json_t *items = json_array();
  /* Newest first, as Application Auto Scaling lists them. */
  for (size_t i = json_array_size(c->activities); i-- > 0;) {
    json_t *a = json_array_get(c->activities, i);
    if (rid && strcmp(rid, json_string_value(json_object_get(a, "ResourceId"))) != 0) continue;
    if (dim && strcmp(dim, json_string_value(json_object_get(a, "ScalableDimension"))) != 0)
      continue;
    if (!json_is_true(inc) && json_object_get(a, "NotScaledReasons")) continue;
    json_array_append(items, a);
  }
  return page(req, items, "ScalingActivities", resp, e);
}

/* ---- scheduled actions ---- */

/* Loads an IANA zone from the system's tzdata (the tzdata package). */
static int load_zone(const char *name, berth_tz *tz, api_error *e) {
  berth_tz_utc(tz);
  if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) return 0;
  int plausible = name[0] && name[0] != '/' && !strstr(name, "..") && strlen(name) < 128;
  for (const char *p = name; plausible && *p; p++)
    plausible = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                *p == '/' || *p == '_' || *p == '-' || *p == '+';
  char path[256];
  snprintf(path, sizeof path, ZONEINFO "%s", name);
  FILE *f = plausible ? fopen(path, "rb") : NULL;
  if (!f)
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value '%.128s' at 'timezone' failed to satisfy "
                    "constraint: not a time zone this host knows: use an IANA name such as "
                    "America/New_York or Etc/GMT+5 (from " ZONEINFO ", the tzdata package)",
                    name);
  enum { MAX_TZFILE = 1 << 20 };
  unsigned char *buf = berth_xmalloc(MAX_TZFILE);
  size_t n = fread(buf, 1, MAX_TZFILE, f);
  fclose(f);
  int rc = berth_tz_parse(buf, n, tz);
  free(buf);
  if (rc)
    return api_fail(e, 400, "ValidationException",
                    "Time zone %.128s: " ZONEINFO "%.128s is not a TZif file (%s)", name, name,
                    strerror(-rc));
  return 0;
}

static double doc_time(json_t *doc, const char *key, double dflt) {
  json_t *v = json_object_get(doc, key);
  return json_is_number(v) ? json_number_value(v) : dflt;
}

/* When a fires next after `after` (wall seconds), within Start/EndTime. */
static double next_run(const scheduled_action *a, double after) {
  double start = doc_time(a->doc, "StartTime", doc_time(a->doc, "CreationTime", after));
  double end = doc_time(a->doc, "EndTime", INFINITY);
  double from = after;
  if (a->sched.kind != BERTH_SCHEDULE_RATE && start - 1 > from) from = start - 1;
  int64_t t;
  if (berth_schedule_next(&a->sched, &a->tz, (int64_t)ceil(start), (int64_t)floor(from), &t))
    return -1;
  return (double)t > end ? -1 : (double)t;
}

static void action_free(scheduled_action *a) {
  json_decref(a->doc);
  berth_tz_free(&a->tz);
  free(a);
}

static void action_key(json_t *doc, char *out, size_t outsz) {
  snprintf(out, outsz, "%s|%s|%s", json_string_value(json_object_get(doc, "ResourceId")),
           json_string_value(json_object_get(doc, "ScalableDimension")),
           json_string_value(json_object_get(doc, "ScheduledActionName")));
}

/* Builds a scheduled action from its document; NULL with e filled. */
static scheduled_action *action_new(json_t *doc, double now, api_error *e) {
  scheduled_action *a = berth_xcalloc(1, sizeof *a);
  char err[512];
  const char *expr = json_string_value(json_object_get(doc, "Schedule"));
  const char *tz = json_string_value(json_object_get(doc, "Timezone"));
  if (berth_schedule_parse(expr ? expr : "", &a->sched, err, sizeof err)) {
    api_fail(e, 400, "ValidationException",
             "1 validation error detected: Value '%.256s' at 'schedule' failed to satisfy "
             "constraint: %s", expr ? expr : "", err);
    free(a);
    return NULL;
  }
  if (load_zone(tz ? tz : "UTC", &a->tz, e)) {
    free(a);
    return NULL;
  }
  a->doc = json_incref(doc);
  a->next_at = next_run(a, now);
  return a;
}

static void drop_actions_of(ctl *c, const char *rid) {
  scheduled_action **pp = &state(c)->actions;
  while (*pp) {
    scheduled_action *a = *pp;
    if (strcmp(json_string_value(json_object_get(a->doc, "ResourceId")), rid) == 0) {
      char key[512];
      action_key(a->doc, key, sizeof key);
      store_delete(c->db, "scheduled-action", key);
      *pp = a->next;
      action_free(a);
      continue;
    }
    pp = &a->next;
  }
}

static scheduled_action **find_action(ctl *c, const char *rid, const char *dim,
                                      const char *name) {
  for (scheduled_action **pp = &state(c)->actions; *pp; pp = &(*pp)->next) {
    json_t *d = (*pp)->doc;
    if (strcmp(json_string_value(json_object_get(d, "ResourceId")), rid) == 0 &&
        strcmp(json_string_value(json_object_get(d, "ScalableDimension")), dim) == 0 &&
        strcmp(json_string_value(json_object_get(d, "ScheduledActionName")), name) == 0)
      return pp;
  }
  return NULL;
}

static int action_name(json_t *req, const char **name, api_error *e) {
  if (valid_string(req, "ScheduledActionName", "ScheduledActionName", 1, 256, name, e))
    return -1;
  if (strpbrk(*name, ":/|") || !(*name)[0])
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value '%.256s' at 'scheduledActionName' failed "
                    "to satisfy constraint: Member must satisfy regular expression pattern: "
                    "(?!((^[ ]+.*)|(.*([\\u0000-\\u001f]|[\\u007f-\\u009f]|[:/|])+.*)|(.*[ ]+$)))."
                    "+", *name);
  return 0;
}

static int put_scheduled_action(ctl *c, json_t *req, json_t **resp, api_error *e) {
  target t;
  const char *name, *expr, *tz;
  json_t *sta;
  double start = 0, end = 0;
  int has_start = 0, has_end = 0;
  if (action_name(req, &name, e) || resource(c, req, 1, &t, e) ||
      valid_string(req, "Schedule", "Schedule", 0, 1600, &expr, e) ||
      valid_string(req, "Timezone", "Timezone", 0, 1600, &tz, e) ||
      valid_time(req, "StartTime", "StartTime", &start, &has_start, e) ||
      valid_time(req, "EndTime", "EndTime", &end, &has_end, e) ||
      valid_object(req, "ScalableTargetAction", "ScalableTargetAction", 0, &sta, e))
    return -1;
  long long mn = -1, mx = -1;
  if (sta && (valid_int(sta, "MinCapacity", "ScalableTargetAction.MinCapacity", 0, 0, 100000, -1,
                        &mn, e) ||
              valid_int(sta, "MaxCapacity", "ScalableTargetAction.MaxCapacity", 0, 0, 100000, -1,
                        &mx, e)))
    return -1;
  if (mn >= 0 && mx >= 0 && mn > mx)
    return api_fail(e, 400, "ValidationException",
                    "ScalableTargetAction: MinCapacity (%lld) cannot be greater than "
                    "MaxCapacity (%lld)", mn, mx);
  if (has_start && has_end && end <= start)
    return api_fail(e, 400, "ValidationException",
                    "EndTime must be after StartTime");
  if (!target_scaling(&t)) return not_registered(e, &t);
  scheduled_action **old = find_action(c, t.rid, t.dim, name);
  if (!old && !expr)
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value null at 'schedule' failed to satisfy "
                    "constraint: a new scheduled action needs a Schedule");
  if (!old) {
    int n = 0;
    for (scheduled_action *a = state(c)->actions; a; a = a->next) n++;
    if (n >= MAX_SCHEDULED_ACTIONS)
      return api_fail(e, 400, "LimitExceededException",
                      "Berth keeps at most %d scheduled actions", MAX_SCHEDULED_ACTIONS);
  }
  double now = ctl_now();
  /* An update changes only what it names, as PutScheduledAction does. */
  json_t *doc = old ? json_deep_copy((*old)->doc) : json_object();
  char arn[700];
  snprintf(arn, sizeof arn,
           "arn:aws:autoscaling:%s:%s:scheduledAction:berth-%s:resource/sagemaker/%s:"
           "scheduledActionName/%s", c->region, c->account, t.key, t.rid, name);
  json_object_set_new(doc, "ScheduledActionName", json_string(name));
  json_object_set_new(doc, "ScheduledActionARN", json_string(arn));
  json_object_set_new(doc, "ServiceNamespace", json_string("sagemaker"));
  json_object_set_new(doc, "ResourceId", json_string(t.rid));
  json_object_set_new(doc, "ScalableDimension", json_string(t.dim));
  if (expr) json_object_set_new(doc, "Schedule", json_string(expr));
  if (tz || !json_object_get(doc, "Timezone"))
    json_object_set_new(doc, "Timezone", json_string(tz ? tz : "UTC"));
  if (has_start) json_object_set_new(doc, "StartTime", json_real(start));
  if (has_end) json_object_set_new(doc, "EndTime", json_real(end));
  if (sta) {
    json_t *o = json_object();
    if (mn >= 0) json_object_set_new(o, "MinCapacity", json_integer(mn));
    if (mx >= 0) json_object_set_new(o, "MaxCapacity", json_integer(mx));
    json_object_set_new(doc, "ScalableTargetAction", o);
  }
  if (!json_object_get(doc, "CreationTime"))
    json_object_set_new(doc, "CreationTime", json_real(now));
  scheduled_action *a = action_new(doc, now, e);
  if (!a) {
    json_decref(doc);
    return -1;
  }
  char key[512];
  action_key(doc, key, sizeof key);
  json_decref(doc);
  if (store_put(c->db, "scheduled-action", key, a->doc)) {
    action_free(a);
    return store_failed(e);
  }
  if (old) {
    scheduled_action *o = *old;
    a->next = o->next;
    *old = a;
    action_free(o);
  } else {
    a->next = state(c)->actions;
    state(c)->actions = a;
  }
  *resp = json_object();
  return 0;
}

static int describe_scheduled_actions(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *rid = NULL, *dim = NULL;
  json_t *names;
  if (namespace_only(req, &dim, e) ||
      valid_string(req, "ResourceId", "ResourceId", 0, 1600, &rid, e) ||
      valid_array(req, "ScheduledActionNames", "ScheduledActionNames", 0, 0, 50, &names, e))
    return -1;
  json_t *items = json_array();
  for (scheduled_action *a = state(c)->actions; a; a = a->next) {
    json_t *d = a->doc;
    if (rid && strcmp(rid, json_string_value(json_object_get(d, "ResourceId"))) != 0) continue;
    if (dim && strcmp(dim, json_string_value(json_object_get(d, "ScalableDimension"))) != 0)
      continue;
    if (names && json_array_size(names) &&
        !selected(names, json_string_value(json_object_get(d, "ScheduledActionName"))))
      continue;
    json_array_append(items, d);
  }
  return page(req, items, "ScheduledActions", resp, e);
}

static int delete_scheduled_action(ctl *c, json_t *req, json_t **resp, api_error *e) {
  static const char *const namespaces[] = {"sagemaker", NULL};
  static const char *const dims[] = {AAS_DIMENSION, AAS_VARIANT_DIMENSION, NULL};
  const char *name, *ns, *rid, *dim;
  /* The resource need not exist any more: its actions can still go. */
  if (action_name(req, &name, e) ||
      valid_enum(req, "ServiceNamespace", "ServiceNamespace", 1, namespaces, NULL, &ns, e) ||
      valid_string(req, "ResourceId", "ResourceId", 1, 1600, &rid, e) ||
      valid_enum(req, "ScalableDimension", "ScalableDimension", 1, dims, NULL, &dim, e))
    return -1;
  scheduled_action **pp = find_action(c, rid, dim, name);
  if (!pp)
    return api_fail(e, 400, "ObjectNotFoundException",
                    "No scheduled action found for service namespace: sagemaker, resource ID: "
                    "%s, scalable dimension: %s, scheduled action name: %s", rid, dim, name);
  char key[512];
  action_key((*pp)->doc, key, sizeof key);
  if (store_delete(c->db, "scheduled-action", key)) return store_failed(e);
  scheduled_action *a = *pp;
  *pp = a->next;
  action_free(a);
  *resp = json_object();
  return 0;
}

/* Runs one scheduled action: the target's Min/MaxCapacity change, and the
 * capacity moves into the new range. */
static void run_action(ctl *c, scheduled_action *a) {
  api_error e;
  target t;
  const char *name = json_string_value(json_object_get(a->doc, "ScheduledActionName"));
  if (resolve(c, json_string_value(json_object_get(a->doc, "ResourceId")),
              json_string_value(json_object_get(a->doc, "ScalableDimension")), &t, &e) ||
      !target_scaling(&t))
    return;
  scaling *s = target_scaling(&t);
  json_t *td = json_object_get(s->doc, "Target");
  if (flag(suspended(td), "ScheduledScalingSuspended")) {
    berth_log(BERTH_LOG_INFO, "scheduled action %s on %s skipped: scheduled scaling is "
              "suspended", name, t.rid);
    return;
  }
  json_t *sta = json_object_get(a->doc, "ScalableTargetAction");
  json_t *jmn = json_object_get(sta, "MinCapacity"), *jmx = json_object_get(sta, "MaxCapacity");
  long long mn = json_integer_value(json_object_get(td, "MinCapacity"));
  long long mx = json_integer_value(json_object_get(td, "MaxCapacity"));
  if (jmn) mn = json_integer_value(jmn);
  if (jmx) mx = json_integer_value(jmx);
  /* One bound moved past the other: the other follows it. */
  if (mn > mx) {
    if (jmn && !jmx) mx = mn;
    else mn = mx;
  }
  json_t *doc = json_deep_copy(s->doc);
  json_t *ntd = json_object_get(doc, "Target");
  json_object_set_new(ntd, "MinCapacity", json_integer(mn));
  json_object_set_new(ntd, "MaxCapacity", json_integer(mx));
  int rc = save(c, &t, doc, &e);
  json_decref(doc);
  char cause[400], desc[160];
  snprintf(cause, sizeof cause, "scheduled action name %s was triggered", name);
  snprintf(desc, sizeof desc, "Setting min capacity to %lld and max capacity to %lld", mn, mx);
  if (rc) {
    activity_add(c, t.rid, t.dim, desc, cause, "Failed", e.message, NULL);
    return;
  }
  activity_add(c, t.rid, t.dim, desc, cause, "Successful", NULL, NULL);
  int cur = current_capacity(c, &t);
  int want = cur < mn ? (int)mn : cur > mx ? (int)mx : cur;
  if (want != cur) set_capacity(c, &t, want, cause);
}

static void run_schedules(ctl *c) {
  double now = ctl_now();
  for (scheduled_action *a = state(c)->actions; a; a = a->next) {
    if (a->next_at < 0 || a->next_at > now) continue;
    a->next_at = next_run(a, now); /* an at(...) never again: it stays described */
    run_action(c, a);
  }
}

/* ---- variant targets: the desired instance count ---- */

int aas_variant_instances(ctl *c, const endpoint *ep, int vi, int dflt) {
  if (!c->aas) return dflt;
  variant_target *vt = find_variant_target(c, ep->name, ep->cfg.variants[vi].name);
  return vt && vt->s ? vt->desired : dflt;
}

static void evaluate_variant(ctl *c, variant_target *vt, double now) {
  endpoint *ep = ctl_find_endpoint(c, vt->endpoint);
  if (!ep || ep->status == ENDPOINT_DELETING) return;
  /* The variant's traffic this second: its ICs' newest one-second slots. */
  uint32_t inv = 0, nocap = 0, instances = 0;
  double conc = 0;
  for (ic *x = c->ics; x; x = x->next) {
    if (strcmp(x->endpoint, vt->endpoint) != 0 || strcmp(x->variant, vt->variant) != 0) continue;
    const scale_window *w = &x->metrics->window;
    size_t last = (w->sec_i + SCALE_BUCKET_S - 1) % SCALE_BUCKET_S;
    inv += w->sec_inv[last];
    nocap += w->sec_nocap[last];
    conc += w->sec_conc[last];
  }
  for (instance *in = c->instances; in; in = in->next)
    instances += strcmp(in->endpoint, vt->endpoint) == 0 &&
                 strcmp(in->variant, vt->variant) == 0 && in->state == INSTANCE_RUNNING;
  scale_window_advance(&vt->window, now, 1, inv, nocap, conc, instances);
  if (!vt->s || vt->s->cfg.n_policies == 0 || c->shutting_down) return;
  scale_decision d;
  scale_window_decide(&vt->window, &vt->s->cfg, &vt->s->st, now, vt->desired, instances, &d);
  if (!d.changed || d.desired == vt->desired) return;
  json_t *ss = suspended(json_object_get(vt->s->doc, "Target"));
  if (flag(ss, d.desired > vt->desired ? "DynamicScalingOutSuspended"
                                       : "DynamicScalingInSuspended"))
    return;
  char rid[160];
  snprintf(rid, sizeof rid, "endpoint/%s/variant/%s", vt->endpoint, vt->variant);
  api_error e;
  target t;
  if (resolve(c, rid, NULL, &t, &e) == 0) set_capacity(c, &t, d.desired, d.cause);
}

void aas_tick(ctl *c) {
  run_schedules(c);
  double now = ctl_clock();
  for (variant_target *vt = state(c)->variants; vt; vt = vt->next) evaluate_variant(c, vt, now);
}

/* ---- step policies run by CloudWatch alarms ---- */

typedef struct find_policy {
  const char *arn;
  target t;
  int index;
} find_policy;

static int match_policy(ctl *c, target *t, void *ud) {
  (void)c;
  find_policy *f = ud;
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(target_scaling(t)->doc, "Policies"), i, p) {
    const char *arn = json_string_value(json_object_get(p, "PolicyARN"));
    if (arn && strcmp(arn, f->arn) == 0 && i < SCALE_MAX_POLICIES) {
      f->t = *t;
      f->index = (int)i;
      return 1;
    }
  }
  return 0;
}

int aas_alarm_action(ctl *c, const char *policy_arn, const char *alarm_name, double value,
                     double threshold) {
  find_policy f = {.arn = policy_arn, .index = -1};
  if (!each_target(c, match_policy, &f)) return -1;
  scaling *s = target_scaling(&f.t);
  const scale_policy *p = &s->cfg.policies[f.index];
  const char *pname =
    json_string_value(json_object_get(json_array_get(json_object_get(s->doc, "Policies"),
                                                     (size_t)f.index), "PolicyName"));
  if (p->type != SCALE_STEP) return -1; /* target tracking owns its alarms */
  double now = ctl_clock();
  if (now < s->st.last_step[f.index] + p->cooldown_s) return 0; /* cooldown */
  /* StepAdjustments are relative to the alarm's threshold: the interval
   * holding value - threshold (lower bound inclusive, upper exclusive). */
  double breach = value - threshold;
  const scale_step *step = NULL;
  for (int i = 0; i < p->n_steps; i++)
    if (breach >= p->steps[i].lower && breach < p->steps[i].upper) step = &p->steps[i];
  if (!step) return 0;
  int cur = current_capacity(c, &f.t), n;
  switch (p->adjustment) {
  case SCALE_ADJ_EXACT: n = step->adjustment; break;
  case SCALE_ADJ_PERCENT: {
    double d = cur * step->adjustment / 100.0;
    int delta = (int)(d < 0 ? ceil(d) : floor(d)); /* toward zero, as AWS rounds */
    if (delta == 0 && step->adjustment != 0) delta = step->adjustment > 0 ? 1 : -1;
    if (abs(delta) < p->min_adjustment_magnitude && step->adjustment != 0)
      delta = step->adjustment > 0 ? p->min_adjustment_magnitude : -p->min_adjustment_magnitude;
    n = cur + delta;
    break;
  }
  default: n = cur + step->adjustment; break;
  }
  int mn = s->cfg.min_capacity, mx = s->cfg.max_capacity;
  int want = n < mn ? mn : n > mx ? mx : n;
  char cause[512], desc[160];
  snprintf(cause, sizeof cause, "monitor alarm %s in state ALARM triggered policy %s",
           alarm_name, pname ? pname : policy_arn);
  if (want == cur) {
    snprintf(desc, sizeof desc, "Attempting to scale %s to %d.", n > cur ? "out" : "in", n);
    not_scaled(c, &f.t, desc, cause,
               n > cur ? "AlreadyAtMaxCapacity" : n < cur ? "AlreadyAtMinCapacity"
                                                          : "AlreadyAtDesiredCapacity",
               cur, mn, mx);
    return 0;
  }
  json_t *ss = suspended(json_object_get(s->doc, "Target"));
  if (flag(ss, want > cur ? "DynamicScalingOutSuspended" : "DynamicScalingInSuspended"))
    return 0;
  if (set_capacity(c, &f.t, want, cause)) return 0;
  s->st.last_step[f.index] = now;
  if (want > cur) s->st.last_scale_out = now;
  else s->st.last_scale_in = now;
  return 0;
}

/* ---- the API, loading, freeing ---- */

int aas_call(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e) {
  static const api_operation ops[] = {
    {"RegisterScalableTarget", register_target},
    {"DeregisterScalableTarget", deregister_target},
    {"DescribeScalableTargets", describe_targets},
    {"PutScalingPolicy", put_policy},
    {"DescribeScalingPolicies", describe_policies},
    {"DeleteScalingPolicy", delete_policy},
    {"DescribeScalingActivities", describe_activities},
    {"PutScheduledAction", put_scheduled_action},
    {"DescribeScheduledActions", describe_scheduled_actions},
    {"DeleteScheduledAction", delete_scheduled_action},
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

static int load_variant(const char *name, json_t *doc, void *ud) {
  ctl *c = ud;
  const char *slash = strchr(name, '/');
  if (!slash || (size_t)(slash - name) > NAME_MAX_LEN) return 0;
  char ep[NAME_MAX_LEN + 1];
  snprintf(ep, sizeof ep, "%.*s", (int)(slash - name), name);
  api_error e;
  scaling *s = build_scaling(c, doc, 1, NULL, &e);
  if (!s) {
    berth_log(BERTH_LOG_ERROR, "scaling of %s no longer loads: %s", name, e.message);
    return 0;
  }
  variant_target *vt = variant_target_new(c, ep, slash + 1);
  vt->s = s;
  vt->desired = (int)json_integer_value(json_object_get(doc, "Desired"));
  return 0;
}

static int load_action(const char *name, json_t *doc, void *ud) {
  ctl *c = ud;
  api_error e;
  scheduled_action *a = action_new(doc, ctl_now(), &e);
  if (!a) {
    berth_log(BERTH_LOG_ERROR, "scheduled action %s no longer loads: %s", name, e.message);
    return 0;
  }
  a->next = state(c)->actions;
  state(c)->actions = a;
  return 0;
}

static int load_activity(const char *name, json_t *doc, void *ud) {
  (void)name;
  ctl *c = ud;
  json_array_append(c->activities, doc);
  return 0;
}

int aas_load(ctl *c) {
  int rc = store_each(c->db, "scaling", load_one, c);
  if (!rc) rc = store_each(c->db, "variant-scaling", load_variant, c);
  if (!rc) rc = store_each(c->db, "scheduled-action", load_action, c);
  if (!rc) rc = store_each(c->db, "scaling-activity", load_activity, c);
  /* Newest last, whatever order the store kept them in. */
  size_t n = json_array_size(c->activities);
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0; j--) {
      json_t *a = json_array_get(c->activities, j - 1), *b = json_array_get(c->activities, j);
      if (strcmp(json_string_value(json_object_get(a, "ActivityId")),
                 json_string_value(json_object_get(b, "ActivityId"))) <= 0)
        break;
      json_incref(a);
      json_array_set(c->activities, j - 1, b);
      json_array_set_new(c->activities, j, a);
    }
  return rc;
}

void aas_free(ctl *c) {
  if (!c->aas) return;
  while (c->aas->variants) {
    variant_target *vt = c->aas->variants;
    c->aas->variants = vt->next;
    scaling_free(vt->s);
    free(vt);
  }
  while (c->aas->actions) {
    scheduled_action *a = c->aas->actions;
    c->aas->actions = a->next;
    action_free(a);
  }
  free(c->aas);
  c->aas = NULL;
}

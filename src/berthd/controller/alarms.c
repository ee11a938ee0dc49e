/* alarms: CloudWatch metric alarms on Berth's own metrics.
 *
 * DESIGN: an alarm is its configuration (the PutMetricAlarm members, kept
 * as the JSON document Describe answers with) plus its state. Both are one
 * store document (kind "alarm"), written on every change of either, so a
 * restarted controller answers DescribeAlarms as before; the metrics
 * themselves are in memory only, so after a restart an alarm reads its
 * metric afresh. Datapoints come from cloudwatch_datapoints, the same
 * computation GetMetricData answers with. An alarm is evaluated once per
 * Period, when a new period has closed: the last EvaluationPeriods periods
 * ending EVAL_DELAY_S ago (the 10-second bucket holding a period's last
 * requests closes up to that late). Between evaluations a SetAlarmState
 * holds, as in CloudWatch. Actions: while an alarm is in ALARM with
 * ActionsEnabled, each evaluation (and a SetAlarmState to ALARM) runs the
 * Application Auto Scaling policies its AlarmActions names
 * (aas_alarm_action); other ARNs (SNS, EC2 actions) are kept but not run.
 * api.c dispatches here before cloudwatch.c, which this module reads
 * through (so the two never call each other). */
#include "alarms.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aas.h"
#include "berth/buf.h"
#include "berth/log.h"
#include "cloudwatch.h"
#include "store.h"

#define STORE_KIND "alarm"
#define ALARMS_MAX 5000         /* an alarm is small; the list is bounded */
#define ALARM_NAME_MAX 255
#define MAX_ACTIONS 5
#define ACTION_MAX_LEN 1024
#define DESCRIPTION_MAX 1024
#define REASON_MAX 1023
#define REASON_DATA_MAX 4000
#define NAMES_MAX 100
#define RECORDS_DEFAULT 50
#define RECORDS_MAX 100
#define MAX_SPAN_S 86400        /* EvaluationPeriods * Period */
#define MAX_TAGS 50
/* A 10-second bucket closes within ~6 s after the end of the 10 s it is
 * counted in (bucket starts are rounded to the nearest multiple of 10). */
#define EVAL_DELAY_S 7.0
/* More than the 10-second slots cloudwatch.c keeps (30 minutes). */
#define MAX_POINTS 256
#define SHOWN_POINTS 5

typedef enum { STATE_INSUFFICIENT_DATA = 0, STATE_OK, STATE_ALARM } alarm_state;
static const char *const state_names[] = {"INSUFFICIENT_DATA", "OK", "ALARM", NULL};

typedef enum { CMP_GE = 0, CMP_GT, CMP_LT, CMP_LE } comparison;
static const char *const comparison_names[] = {"GreaterThanOrEqualToThreshold",
                                               "GreaterThanThreshold", "LessThanThreshold",
                                               "LessThanOrEqualToThreshold", NULL};
static const char *const comparison_words[] = {"greater than or equal to", "greater than",
                                               "less than", "less than or equal to"};

typedef enum { MISSING_MISSING = 0, MISSING_NOT_BREACHING, MISSING_BREACHING, MISSING_IGNORE } treat;
static const char *const treat_names[] = {"missing", "notBreaching", "breaching", "ignore", NULL};

static const char *const statistics[] = {"SampleCount", "Average", "Sum", "Minimum", "Maximum",
                                         NULL};
static const char *const units[] = {
  "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
  "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
  "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
  "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
  "Terabits/Second", "Count/Second", "None", NULL};
static const char *const alarm_types[] = {"CompositeAlarm", "MetricAlarm", NULL};
static const char *const low_sample_options[] = {"evaluate", "ignore", NULL};

typedef struct alarm metric_alarm;

struct alarm {
  struct alarm *next;           /* c->alarms is sorted by name */
  char name[ALARM_NAME_MAX + 1];
  json_t *config;               /* the members Describe shows, owned */
  /* read from config (borrowed from it) */
  const char *ns, *metric, *stat;
  json_t *dims, *alarm_actions;
  long long period, periods, to_alarm;
  double threshold;
  comparison cmp;
  treat missing;
  int actions_enabled;
  /* state */
  alarm_state state;
  char reason[REASON_MAX + 1];
  char *reason_data;            /* JSON text or NULL, owned */
  double state_updated, state_transitioned, config_updated; /* ctl_now */
  double entered_alarm;         /* when it last went to ALARM (ctl_now); 0 */
  double last_end;              /* window end last evaluated (ctl_clock); 0: never */
  double last_value;            /* newest datapoint seen, for actions */
  int has_value;
  int action_warned;            /* an action named no policy: said once */
};

#define CHECK(call, obj, key)                                   \
  do {                                                          \
    if (call) return cloudwatch_param_error(e, (obj), (key));   \
  } while (0)

/* ---- The list ---- */

static metric_alarm *find(ctl *c, const char *name) {
  for (metric_alarm *a = c->alarms; a; a = a->next)
    if (strcmp(a->name, name) == 0) return a;
  return NULL;
}

static size_t count(const ctl *c) {
  size_t n = 0;
  for (const metric_alarm *a = c->alarms; a; a = a->next) n++;
  return n;
}

static void link_sorted(ctl *c, metric_alarm *a) {
  metric_alarm **pp = &c->alarms;
  while (*pp && strcmp((*pp)->name, a->name) < 0) pp = &(*pp)->next;
  a->next = *pp;
  *pp = a;
}

static void unlink_alarm(ctl *c, metric_alarm *a) {
  for (metric_alarm **pp = &c->alarms; *pp; pp = &(*pp)->next)
    if (*pp == a) {
      *pp = a->next;
      return;
    }
}

static void alarm_free(metric_alarm *a) {
  json_decref(a->config);
  free(a->reason_data);
  free(a);
}

static int index_of(const char *const *names, const char *s) {
  for (int i = 0; s && names[i]; i++)
    if (strcmp(names[i], s) == 0) return i;
  return -1;
}

/* Reads the evaluated members out of cfg (validated by PutMetricAlarm, or
 * as stored) and takes cfg over. */
static void apply_config(metric_alarm *a, json_t *cfg) {
  json_decref(a->config);
  a->config = cfg;
  a->ns = json_string_value(json_object_get(cfg, "Namespace"));
  a->metric = json_string_value(json_object_get(cfg, "MetricName"));
  a->stat = json_string_value(json_object_get(cfg, "Statistic"));
  if (!a->ns) a->ns = "";
  if (!a->metric) a->metric = "";
  if (!a->stat) a->stat = "Sum";
  a->dims = json_object_get(cfg, "Dimensions");
  a->alarm_actions = json_object_get(cfg, "AlarmActions");
  a->period = json_integer_value(json_object_get(cfg, "Period"));
  if (a->period <= 0) a->period = 60;
  a->periods = json_integer_value(json_object_get(cfg, "EvaluationPeriods"));
  if (a->periods <= 0) a->periods = 1;
  json_t *m = json_object_get(cfg, "DatapointsToAlarm");
  a->to_alarm = m ? json_integer_value(m) : a->periods;
  if (a->to_alarm <= 0 || a->to_alarm > a->periods) a->to_alarm = a->periods;
  a->threshold = json_number_value(json_object_get(cfg, "Threshold"));
  int k = index_of(comparison_names,
                   json_string_value(json_object_get(cfg, "ComparisonOperator")));
  a->cmp = k < 0 ? CMP_GE : (comparison)k;
  k = index_of(treat_names, json_string_value(json_object_get(cfg, "TreatMissingData")));
  a->missing = k < 0 ? MISSING_MISSING : (treat)k;
  json_t *en = json_object_get(cfg, "ActionsEnabled");
  a->actions_enabled = !en || json_is_true(en);
}

static void arn(const ctl *c, const char *name, char *out, size_t outsz) {
  snprintf(out, outsz, "arn:aws:cloudwatch:%s:%s:alarm:%s", c->region, c->account, name);
}

/* What the store keeps: the configuration and the state. */
static json_t *stored_doc(const metric_alarm *a) {
  json_t *doc = json_pack("{s:O,s:s,s:s,s:f,s:f,s:f}", "Config", a->config, "StateValue",
                          state_names[a->state], "StateReason", a->reason,
                          "StateUpdatedTimestamp", a->state_updated,
                          "StateTransitionedTimestamp", a->state_transitioned,
                          "AlarmConfigurationUpdatedTimestamp", a->config_updated);
  if (a->reason_data) json_object_set_new(doc, "StateReasonData", json_string(a->reason_data));
  return doc;
}

static int save(ctl *c, const metric_alarm *a) {
  json_t *doc = stored_doc(a);
  int rc = store_put(c->db, STORE_KIND, a->name, doc);
  json_decref(doc);
  return rc;
}

/* MetricAlarms[i] of DescribeAlarms. */
static json_t *describe_json(const ctl *c, const metric_alarm *a) {
  char a_arn[512];
  arn(c, a->name, a_arn, sizeof a_arn);
  json_t *o = json_deep_copy(a->config);
  json_object_del(o, "Tags"); /* ListTagsForResource's, not Describe's */
  json_object_set_new(o, "AlarmArn", json_string(a_arn));
  json_object_set_new(o, "StateValue", json_string(state_names[a->state]));
  json_object_set_new(o, "StateReason", json_string(a->reason));
  if (a->reason_data) json_object_set_new(o, "StateReasonData", json_string(a->reason_data));
  json_object_set_new(o, "StateUpdatedTimestamp", json_real(a->state_updated));
  json_object_set_new(o, "StateTransitionedTimestamp", json_real(a->state_transitioned));
  json_object_set_new(o, "AlarmConfigurationUpdatedTimestamp", json_real(a->config_updated));
  return o;
}

/* ---- Actions ---- */

static int is_scaling_policy(const char *action) {
  return strncmp(action, "arn:aws:autoscaling:", 20) == 0 &&
         strstr(action, ":scalingPolicy:") != NULL;
}

/* In ALARM: runs the scaling policies AlarmActions names. */
static void run_actions(ctl *c, metric_alarm *a) {
  if (!a->actions_enabled || a->state != STATE_ALARM) return;
  /* Without a datapoint (SetAlarmState) the policy sees the threshold. */
  double value = a->has_value ? a->last_value : a->threshold;
  size_t i;
  json_t *v;
  json_array_foreach(a->alarm_actions, i, v) {
    const char *action = json_string_value(v);
    if (!action || !is_scaling_policy(action)) continue;
    if (aas_alarm_action(c, action, a->name, value, a->threshold) != 0 && !a->action_warned) {
      a->action_warned = 1;
      berth_log(BERTH_LOG_WARN, "alarm %s: AlarmActions names %s, which is no scaling policy "
                "of an inference component: nothing scaled", a->name, action);
    }
  }
}

/* ---- Validation ---- */

/* valid_string plus a minimum length. */
static int str_field(json_t *obj, const char *key, const char *path, int required,
                     size_t min_len, size_t max_len, const char **out, api_error *e) {
  if (valid_string(obj, key, path, required, max_len, out, e)) return -1;
  if (*out && strlen(*out) < min_len)
    return api_fail(e, 400, "InvalidParameterValueException",
                    "1 validation error detected: Value '%.200s' at '%s' failed to satisfy "
                    "constraint: Member must have length greater than or equal to %zu",
                    *out, path, min_len);
  return 0;
}

#define STR(obj, key, path, req, min, max, out) \
  CHECK(str_field((obj), (key), (path), (req), (min), (max), (out), e), (obj), (key))

/* arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE */
static int looks_like_arn(const char *s) {
  if (strncmp(s, "arn:", 4) != 0) return 0;
  int colons = 0;
  for (const char *p = s; *p; p++) colons += *p == ':';
  return colons >= 5;
}

/* AlarmActions, OKActions or InsufficientDataActions: a list of ARNs,
 * copied into cfg (an empty list when absent, as Describe shows it). */
static int actions_field(json_t *req, const char *key, json_t *cfg, api_error *e) {
  json_t *arr, *v;
  size_t i;
  CHECK(valid_array(req, key, key, 0, 0, MAX_ACTIONS, &arr, e), req, key);
  json_t *out = json_array();
  json_array_foreach(arr, i, v) {
    char path[64];
    const char *s = json_string_value(v);
    snprintf(path, sizeof path, "%s.member.%zu", key, i + 1);
    if (!s || s[0] == '\0' || strlen(s) > ACTION_MAX_LEN || !looks_like_arn(s)) {
      json_decref(out);
      return api_fail(e, 400, "InvalidParameterValueException",
                      "Invalid arn syntax: the value '%.200s' for parameter %s is not an ARN "
                      "(arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE, at most %d characters); a "
                      "scaling policy's is the PolicyARN PutScalingPolicy answered",
                      s ? s : "(not a string)", path, ACTION_MAX_LEN);
    }
    json_array_append(out, v);
  }
  json_object_set_new(cfg, key, out);
  return 0;
}

/* pNN, pNN.N, pNN.NN or p100: CloudWatch's percentile names. */
static int is_percentile(const char *s) {
  if (s[0] != 'p') return 0;
  if (strcmp(s, "p100") == 0) return 1;
  const char *p = s + 1;
  int digits = 0;
  while (*p >= '0' && *p <= '9') p++, digits++;
  if (digits < 1 || digits > 2) return 0;
  if (*p == '\0') return 1;
  if (*p++ != '.') return 0;
  digits = 0;
  while (*p >= '0' && *p <= '9') p++, digits++;
  return *p == '\0' && digits <= 2;
}

static int tags_field(json_t *req, json_t *cfg, api_error *e) {
  json_t *arr, *t;
  size_t i;
  CHECK(valid_array(req, "Tags", "Tags", 0, 0, MAX_TAGS, &arr, e), req, "Tags");
  if (!arr) return 0;
  json_array_foreach(arr, i, t) {
    char pk[64], pv[64];
    const char *k, *v;
    snprintf(pk, sizeof pk, "Tags.member.%zu.Key", i + 1);
    snprintf(pv, sizeof pv, "Tags.member.%zu.Value", i + 1);
    if (!json_is_object(t))
      return api_fail(e, 400, "InvalidParameterValueException",
                      "Tags.member.%zu must be an object {\"Key\": ..., \"Value\": ...}", i + 1);
    STR(t, "Key", pk, 1, 1, 128, &k);
    STR(t, "Value", pv, 1, 0, 256, &v);
  }
  json_object_set_new(cfg, "Tags", json_deep_copy(arr));
  return 0;
}

/* Checks a PutMetricAlarm request; *out gets the configuration to keep. */
static int parse_config(json_t *req, json_t **out, api_error *e) {
  const char *name, *desc, *metric, *ns, *stat, *ext, *unit, *cmp, *missing, *low;
  long long period, periods, to_alarm;
  double threshold;
  json_t *en = json_object_get(req, "ActionsEnabled");
  *out = NULL;
  STR(req, "AlarmName", "AlarmName", 1, 1, ALARM_NAME_MAX, &name);
  STR(req, "AlarmDescription", "AlarmDescription", 0, 0, DESCRIPTION_MAX, &desc);
  if (en && !json_is_null(en) && !json_is_boolean(en))
    return api_fail(e, 400, "InvalidParameterValueException",
                    "The parameter ActionsEnabled must be true or false");
  json_t *mq = json_object_get(req, "Metrics");
  if (mq && !json_is_null(mq))
    return api_fail(e, 400, "InvalidParameterValueException",
                    "Metrics: Berth alarms watch one metric, not metric math; give MetricName, "
                    "Namespace, Statistic and Dimensions instead");
  json_t *tm = json_object_get(req, "ThresholdMetricId");
  if (tm && !json_is_null(tm))
    return api_fail(e, 400, "InvalidParameterValueException",
                    "ThresholdMetricId: Berth has no anomaly detection bands; give a "
                    "Threshold instead");
  STR(req, "MetricName", "MetricName", 1, 1, 255, &metric);
  STR(req, "Namespace", "Namespace", 1, 1, 255, &ns);
  if (ns[0] == ':')
    return api_fail(e, 400, "InvalidParameterValueException",
                    "1 validation error detected: Value '%.255s' at 'Namespace' failed to "
                    "satisfy constraint: Member must satisfy regular expression pattern: "
                    "[^:].*", ns);
  STR(req, "Statistic", "Statistic", 0, 1, 255, &stat);
  STR(req, "ExtendedStatistic", "ExtendedStatistic", 0, 1, 255, &ext);
  if (stat && ext)
    return api_fail(e, 400, "InvalidParameterCombinationException",
                    "Statistic and ExtendedStatistic are mutually exclusive: give one");
  if (!stat && !ext)
    return api_fail(e, 400, "MissingRequiredParameterException",
                    "The parameter Statistic or ExtendedStatistic must be specified (Statistic: "
                    "SampleCount, Average, Sum, Minimum, Maximum)");
  if (stat) CHECK(valid_enum(req, "Statistic", "Statistic", 1, statistics, NULL, &stat, e), req,
                  "Statistic");
  if (ext && !is_percentile(ext))
    return api_fail(e, 400, "InvalidParameterValueException",
                    "The value '%.255s' for parameter ExtendedStatistic is not a percentile "
                    "(p0.0 to p100, e.g. p99 or p99.9)", ext);
  if (ext)
    return api_fail(e, 400, "InvalidParameterValueException",
                    "ExtendedStatistic '%.255s': Berth keeps no per-request values, so it "
                    "computes no percentiles; give Statistic (SampleCount, Average, Sum, "
                    "Minimum, Maximum) instead", ext);
  CHECK(valid_enum(req, "EvaluateLowSampleCountPercentile", "EvaluateLowSampleCountPercentile",
                   0, low_sample_options, NULL, &low, e),
        req, "EvaluateLowSampleCountPercentile");
  if (cloudwatch_check_dimensions(req, "Dimensions", "Dimensions", e)) return -1;
  CHECK(valid_int(req, "Period", "Period", 1, 1, MAX_SPAN_S, 0, &period, e), req, "Period");
  if (!(period == 10 || period == 20 || period == 30 || period % 60 == 0))
    return api_fail(e, 400, "InvalidParameterValueException",
                    "The value %lld for parameter Period is not supported: use 10, 20, 30 or a "
                    "multiple of 60 seconds", period);
  CHECK(valid_enum(req, "Unit", "Unit", 0, units, NULL, &unit, e), req, "Unit");
  CHECK(valid_int(req, "EvaluationPeriods", "EvaluationPeriods", 1, 1, MAX_SPAN_S / 10, 0,
                  &periods, e), req, "EvaluationPeriods");
  CHECK(valid_int(req, "DatapointsToAlarm", "DatapointsToAlarm", 0, 1, MAX_SPAN_S / 10, 0,
                  &to_alarm, e), req, "DatapointsToAlarm");
  if (to_alarm > periods)
    return api_fail(e, 400, "InvalidParameterValueException",
                    "DatapointsToAlarm (%lld) must be less than or equal to EvaluationPeriods "
                    "(%lld): an alarm goes to ALARM when DatapointsToAlarm of the last "
                    "EvaluationPeriods datapoints breach", to_alarm, periods);
  if (period * periods > MAX_SPAN_S)
    return api_fail(e, 400, "InvalidParameterValueException",
                    "Metrics cannot be checked across more than a day (EvaluationPeriods * "
                    "Period must be <= %d; %lld * %lld is %lld)", MAX_SPAN_S, periods, period,
                    periods * period);
  CHECK(valid_number(req, "Threshold", "Threshold", 1, -1e300, 1e300, 0, &threshold, e), req,
        "Threshold");
  STR(req, "ComparisonOperator", "ComparisonOperator", 1, 1, 255, &cmp);
  if (index_of(comparison_names, cmp) < 0)
    return api_fail(e, 400, "InvalidParameterValueException",
                    "The value '%.100s' for parameter ComparisonOperator is not supported: use "
                    "GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold or "
                    "LessThanOrEqualToThreshold (the anomaly-band operators need anomaly "
                    "detection, which Berth lacks)", cmp);
  STR(req, "TreatMissingData", "TreatMissingData", 0, 1, 255, &missing);
  if (missing && index_of(treat_names, missing) < 0)
    return api_fail(e, 400, "InvalidParameterValueException",
                    "Option '%.100s' is not supported. Supported options for parameter "
                    "TreatMissingData are missing, ignore, breaching and notBreaching.", missing);

  json_t *cfg = json_pack("{s:s,s:b,s:s,s:s,s:I,s:I,s:f,s:s}", "AlarmName", name,
                          "ActionsEnabled", !en || json_is_null(en) || json_is_true(en),
                          "MetricName", metric, "Namespace", ns, "Period", (json_int_t)period,
                          "EvaluationPeriods", (json_int_t)periods, "Threshold", threshold,
                          "ComparisonOperator", cmp);
  json_t *d = json_object_get(req, "Dimensions");
  json_object_set_new(cfg, "Dimensions", json_is_array(d) ? json_deep_copy(d) : json_array());
  json_object_set_new(cfg, "Statistic", json_string(stat));
  if (desc) json_object_set_new(cfg, "AlarmDescription", json_string(desc));
  if (unit) json_object_set_new(cfg, "Unit", json_string(unit));
  if (to_alarm) json_object_set_new(cfg, "DatapointsToAlarm", json_integer(to_alarm));
  if (missing) json_object_set_new(cfg, "TreatMissingData", json_string(missing));
  if (low) json_object_set_new(cfg, "EvaluateLowSampleCountPercentile", json_string(low));
  if (actions_field(req, "OKActions", cfg, e) || actions_field(req, "AlarmActions", cfg, e) ||
      actions_field(req, "InsufficientDataActions", cfg, e) || tags_field(req, cfg, e)) {
    json_decref(cfg);
    return -1;
  }
  *out = cfg;
  return 0;
}

/* ---- Operations ---- */

static int store_failed(api_error *e, int rc) {
  return api_fail(e, 500, "InternalServiceFault",
                  "the alarm could not be queued for the state store (%s): try again",
                  rc == -ENOBUFS ? "its queue is full" : "out of memory");
}

static int put_metric_alarm(ctl *c, json_t *req, json_t **resp, api_error *e) {
  json_t *cfg;
  if (parse_config(req, &cfg, e)) return -1;
  const char *name = json_string_value(json_object_get(cfg, "AlarmName"));
  metric_alarm *a = find(c, name);
  double now = ctl_now();
  if (a) {
    /* A replaced alarm keeps its state (CloudWatch's rule); it is judged
     * afresh with the new configuration at the next tick. */
    json_t *old = json_incref(a->config);
    double old_updated = a->config_updated;
    apply_config(a, cfg);
    a->config_updated = now;
    int rc = save(c, a);
    if (rc) {
      apply_config(a, old);
      a->config_updated = old_updated;
      return store_failed(e, rc);
    }
    json_decref(old);
    a->last_end = 0;
    a->action_warned = 0;
  } else {
    if (count(c) >= ALARMS_MAX) {
      json_decref(cfg);
      return api_fail(e, 400, "LimitExceededFault",
                      "The maximum number of alarms (%d) is reached: delete alarms you no "
                      "longer need (DeleteAlarms) before adding '%.255s'", ALARMS_MAX, name);
    }
    a = berth_xcalloc(1, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    apply_config(a, cfg);
    a->state = STATE_INSUFFICIENT_DATA;
    snprintf(a->reason, sizeof a->reason, "Unchecked: Initial alarm creation");
    a->state_updated = a->state_transitioned = a->config_updated = now;
    int rc = save(c, a);
    if (rc) {
      alarm_free(a);
      return store_failed(e, rc);
    }
    link_sorted(c, a);
  }
  *resp = json_object();
  return 0;
}

/* The NextToken for a page that starts after name: "v1." and its hex. */
static void token_of(const char *name, char *out, size_t outsz) {
  size_t n = (size_t)snprintf(out, outsz, "v1.");
  for (const unsigned char *p = (const unsigned char *)name; *p && n + 2 < outsz; p++)
    n += (size_t)snprintf(out + n, outsz - n, "%02x", *p);
}

static int token_parse(const char *token, char *name, size_t namesz) {
  if (strncmp(token, "v1.", 3) != 0) return -1;
  const char *hex = token + 3;
  size_t len = strlen(hex);
  if (len == 0 || len % 2 || len / 2 >= namesz) return -1;
  for (size_t i = 0; i < len / 2; i++) {
    char pair[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
    char *end;
    long v = strtol(pair, &end, 16);
    if (*end != '\0' || v <= 0) return -1;
    name[i] = (char)v;
  }
  name[len / 2] = '\0';
  return 0;
}

static int names_field(json_t *req, const char *key, int required, json_t **arr,
                       api_error *e) {
  json_t *v;
  size_t i;
  CHECK(valid_array(req, key, key, required, required, NAMES_MAX, arr, e), req, key);
  json_array_foreach(*arr, i, v) {
    const char *s = json_string_value(v);
    if (!s || s[0] == '\0' || strlen(s) > ALARM_NAME_MAX)
      return api_fail(e, 400, "InvalidParameterValueException",
                      "1 validation error detected: Value at '%s.member.%zu' failed to satisfy "
                      "constraint: Member must be a string of 1 to %d characters", key, i + 1,
                      ALARM_NAME_MAX);
  }
  return 0;
}

static int in_names(json_t *names, const char *name) {
  size_t i;
  json_t *v;
  json_array_foreach(names, i, v) {
    if (strcmp(json_string_value(v), name) == 0) return 1;
  }
  return 0;
}

static int has_action_prefix(const metric_alarm *a, const char *prefix) {
  static const char *const keys[] = {"AlarmActions", "OKActions", "InsufficientDataActions"};
  size_t n = strlen(prefix), i;
  json_t *v;
  for (size_t k = 0; k < 3; k++) {
    json_array_foreach(json_object_get(a->config, keys[k]), i, v) {
      if (strncmp(json_string_value(v), prefix, n) == 0) return 1;
    }
  }
  return 0;
}

static int describe_alarms(ctl *c, json_t *req, json_t **resp, api_error *e) {
  json_t *names, *types, *v;
  const char *prefix, *state, *action, *token, *children, *parents;
  long long max;
  size_t i;
  if (names_field(req, "AlarmNames", 0, &names, e)) return -1;
  STR(req, "AlarmNamePrefix", "AlarmNamePrefix", 0, 1, ALARM_NAME_MAX, &prefix);
  if (names && prefix)
    return api_fail(e, 400, "InvalidParameterCombinationException",
                    "AlarmNames and AlarmNamePrefix cannot be given together: give the names "
                    "or a prefix");
  CHECK(valid_array(req, "AlarmTypes", "AlarmTypes", 0, 0, 2, &types, e), req, "AlarmTypes");
  int metric_alarms = !types;
  json_array_foreach(types, i, v) {
    int k = index_of(alarm_types, json_string_value(v));
    if (k < 0)
      return api_fail(e, 400, "InvalidParameterValueException",
                      "1 validation error detected: Value at 'AlarmTypes.member.%zu' failed to "
                      "satisfy constraint: Member must satisfy enum value set: [CompositeAlarm, "
                      "MetricAlarm]", i + 1);
    metric_alarms |= k == 1;
  }
  STR(req, "ChildrenOfAlarmName", "ChildrenOfAlarmName", 0, 1, ALARM_NAME_MAX, &children);
  STR(req, "ParentsOfAlarmName", "ParentsOfAlarmName", 0, 1, ALARM_NAME_MAX, &parents);
  CHECK(valid_enum(req, "StateValue", "StateValue", 0, state_names, NULL, &state, e), req,
        "StateValue");
  STR(req, "ActionPrefix", "ActionPrefix", 0, 1, ACTION_MAX_LEN, &action);
  CHECK(valid_int(req, "MaxRecords", "MaxRecords", 0, 1, RECORDS_MAX, RECORDS_DEFAULT, &max, e),
        req, "MaxRecords");
  STR(req, "NextToken", "NextToken", 0, 1, 1024, &token);
  char after[ALARM_NAME_MAX + 1] = "";
  if (token && token_parse(token, after, sizeof after))
    return api_fail(e, 400, "InvalidNextToken",
                    "The NextToken '%.64s' is not one DescribeAlarms returned: start again "
                    "without NextToken", token);
  /* Berth has no composite alarms: they have no children or parents. */
  if (children || parents) metric_alarms = 0;

  json_t *list = json_array();
  const metric_alarm *last = NULL;
  int more = 0;
  for (const metric_alarm *a = metric_alarms ? c->alarms : NULL; a; a = a->next) {
    if (token && strcmp(a->name, after) <= 0) continue;
    if (names && !in_names(names, a->name)) continue;
    if (prefix && strncmp(a->name, prefix, strlen(prefix)) != 0) continue;
    if (state && strcmp(state_names[a->state], state) != 0) continue;
    if (action && !has_action_prefix(a, action)) continue;
    if ((long long)json_array_size(list) == max) {
      more = 1;
      break;
    }
    json_array_append_new(list, describe_json(c, a));
    last = a;
  }
  *resp = json_pack("{s:o,s:[]}", "MetricAlarms", list, "CompositeAlarms");
  if (more && last) {
    char next[2 * ALARM_NAME_MAX + 8];
    token_of(last->name, next, sizeof next);
    json_object_set_new(*resp, "NextToken", json_string(next));
  }
  return 0;
}

/* Names that are not alarms are skipped, as CloudWatch does (it answers
 * success; its documented ResourceNotFound does not come for them). */
static int delete_alarms(ctl *c, json_t *req, json_t **resp, api_error *e) {
  json_t *names, *v;
  size_t i;
  if (names_field(req, "AlarmNames", 1, &names, e)) return -1;
  json_array_foreach(names, i, v) {
    metric_alarm *a = find(c, json_string_value(v));
    if (!a) continue;
    int rc = store_delete(c->db, STORE_KIND, a->name);
    if (rc) return store_failed(e, rc);
    unlink_alarm(c, a);
    alarm_free(a);
  }
  *resp = json_object();
  return 0;
}

static void set_state(metric_alarm *a, alarm_state s, const char *reason, const char *data) {
  double now = ctl_now();
  if (a->state != s) a->state_transitioned = now;
  if (a->state != s && s == STATE_ALARM) a->entered_alarm = now;
  a->state = s;
  a->state_updated = now;
  snprintf(a->reason, sizeof a->reason, "%s", reason);
  free(a->reason_data);
  a->reason_data = data ? berth_xstrdup(data) : NULL;
}

static int set_alarm_state(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *name, *state, *reason, *data;
  STR(req, "AlarmName", "AlarmName", 1, 1, ALARM_NAME_MAX, &name);
  CHECK(valid_enum(req, "StateValue", "StateValue", 1, state_names, NULL, &state, e), req,
        "StateValue");
  STR(req, "StateReason", "StateReason", 1, 0, REASON_MAX, &reason);
  STR(req, "StateReasonData", "StateReasonData", 0, 0, REASON_DATA_MAX, &data);
  if (data) {
    json_error_t jerr;
    json_t *j = json_loads(data, JSON_DECODE_ANY, &jerr);
    if (!j)
      return api_fail(e, 400, "InvalidFormatFault",
                      "StateReasonData is not valid JSON (%s at column %d): send a JSON "
                      "document or leave it out", jerr.text, jerr.column);
    json_decref(j);
  }
  metric_alarm *a = find(c, name);
  if (!a)
    return api_fail(e, 404, "ResourceNotFound",
                    "No alarm named '%.255s' exists: create it with PutMetricAlarm (names are "
                    "case-sensitive)", name);
  set_state(a, (alarm_state)index_of(state_names, state), reason, data);
  int rc = save(c, a);
  if (rc) return store_failed(e, rc);
  run_actions(c, a);
  *resp = json_object();
  return 0;
}

static const api_operation operations[] = {
  {"PutMetricAlarm", put_metric_alarm},
  {"DescribeAlarms", describe_alarms},
  {"DeleteAlarms", delete_alarms},
  {"SetAlarmState", set_alarm_state},
};

int alarms_call(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e) {
  size_t n = sizeof operations / sizeof operations[0];
  for (size_t i = 0; i < n; i++)
    if (strcmp(operations[i].name, op) == 0)
      return api_dispatch(operations, n, "GraniteServiceVersion20100801", c, op, req, resp, e);
  return 1;
}

/* ---- Evaluation ---- */

static int breaches(const metric_alarm *a, double v) {
  switch (a->cmp) {
  case CMP_GE: return v >= a->threshold;
  case CMP_GT: return v > a->threshold;
  case CMP_LT: return v < a->threshold;
  case CMP_LE: return v <= a->threshold;
  }
  return 0;
}

/* 1.0, 2.5, 1.0E9: numbers as CloudWatch's reasons write them. */
static void number(double v, char *out, size_t outsz) {
  snprintf(out, outsz, "%.15g", v);
  if (!strpbrk(out, ".en")) snprintf(out + strlen(out), outsz - strlen(out), ".0");
}

static void date_of(double t, const char *fmt, char *out, size_t outsz) {
  time_t s = (time_t)floor(t);
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(out, outsz, fmt, &tm);
}

/* "[3.0 (01/12/26 10:00:00), 5.0 (01/12/26 09:59:50)]": newest first. */
static void shown_points(const double *ts, const double *vals, int n, char *out, size_t outsz) {
  size_t len = (size_t)snprintf(out, outsz, "[");
  for (int k = 0; k < n && k < SHOWN_POINTS && len < outsz; k++) {
    char v[48], d[32];
    number(vals[n - 1 - k], v, sizeof v);
    date_of(ts[n - 1 - k], "%d/%m/%y %H:%M:%S", d, sizeof d);
    len += (size_t)snprintf(out + len, outsz - len, "%s%s (%s)", k ? ", " : "", v, d);
  }
  if (len < outsz) snprintf(out + len, outsz - len, "]");
}

static char *reason_data(const metric_alarm *a, double start, const double *ts, const double *vals,
                         int n) {
  char qd[40], sd[40];
  date_of(ctl_now(), "%Y-%m-%dT%H:%M:%S.000+0000", qd, sizeof qd);
  date_of(start, "%Y-%m-%dT%H:%M:%S.000+0000", sd, sizeof sd);
  json_t *recent = json_array(), *evaluated = json_array();
  for (int k = n - 1; k >= 0; k--) {
    char d[40];
    date_of(ts[k], "%Y-%m-%dT%H:%M:%S.000+0000", d, sizeof d);
    json_array_append_new(recent, json_real(vals[k]));
    json_array_append_new(evaluated, json_pack("{s:s,s:f}", "timestamp", d, "value", vals[k]));
  }
  json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o,s:f,s:o}", "version", "1.0", "queryDate", qd,
                        "startDate", sd, "statistic", a->stat, "period", (json_int_t)a->period,
                        "recentDatapoints", recent, "threshold", a->threshold,
                        "evaluatedDatapoints", evaluated);
  char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
  json_decref(j);
  return text;
}

/* Judges a over the window [end - periods * period, end). */
static void evaluate(ctl *c, metric_alarm *a, double end) {
  double start = end - (double)(a->periods * a->period);
  double ts[MAX_POINTS], vals[MAX_POINTS];
  int n = cloudwatch_datapoints(c, a->ns, a->metric, a->dims, a->period, a->stat, start, end, ts,
                                vals, MAX_POINTS);
  if (n < 0) n = 0;
  long long missing = a->periods - n, breaching = 0;
  if (missing < 0) missing = 0;
  for (int k = 0; k < n; k++) breaching += breaches(a, vals[k]);
  if (n > 0) {
    a->last_value = vals[n - 1];
    a->has_value = 1;
  }
  if (a->missing == MISSING_BREACHING) breaching += missing;

  alarm_state next;
  if (n == 0 && a->missing == MISSING_IGNORE) next = a->state;
  else if (n == 0 && a->missing == MISSING_MISSING) next = STATE_INSUFFICIENT_DATA;
  else next = breaching >= a->to_alarm ? STATE_ALARM : STATE_OK;

  if (next != a->state) {
    char reason[REASON_MAX + 1], pts[512], thr[48];
    const char *op = comparison_words[a->cmp];
    shown_points(ts, vals, n, pts, sizeof pts);
    number(a->threshold, thr, sizeof thr);
    if (next == STATE_INSUFFICIENT_DATA)
      snprintf(reason, sizeof reason, "Insufficient Data: %lld datapoint%s unknown.",
               a->periods, a->periods == 1 ? " was" : "s were");
    else if (a->periods == 1 && n == 1)
      snprintf(reason, sizeof reason, "Threshold Crossed: 1 datapoint %s was %s%s the threshold "
               "(%s).", pts, next == STATE_ALARM ? "" : "not ", op, thr);
    else if (next == STATE_ALARM)
      snprintf(reason, sizeof reason, "Threshold Crossed: %lld out of the last %lld datapoints "
               "%s were %s the threshold (%s) (minimum %lld datapoint%s for OK -> ALARM "
               "transition)%s.", breaching, a->periods, pts, op, thr, a->to_alarm,
               a->to_alarm == 1 ? "" : "s",
               missing && a->missing == MISSING_BREACHING ? "; missing datapoints were treated "
                                                            "as [Breaching]" : "");
    else
      snprintf(reason, sizeof reason, "Threshold Crossed: %lld out of the last %lld datapoints "
               "%s were %s the threshold (%s), fewer than the %lld needed for ALARM%s.",
               breaching, a->periods, pts, op, thr, a->to_alarm,
               missing && a->missing == MISSING_NOT_BREACHING
                   ? "; missing datapoints were treated as [NonBreaching]" : "");
    char *data = reason_data(a, start, ts, vals, n);
    berth_log(BERTH_LOG_INFO, "alarm %s: %s -> %s: %s", a->name, state_names[a->state],
              state_names[next], reason);
    set_state(a, next, reason, data);
    free(data);
    int rc = save(c, a);
    if (rc)
      berth_log(BERTH_LOG_ERROR, "alarm %s: its new state %s could not be queued for the "
                "store (%d): it is lost if berthd restarts", a->name, state_names[next], rc);
  }
  run_actions(c, a);
}

void alarms_evaluate(ctl *c) {
  if (c->shutting_down) return;
  double now = ctl_clock();
  for (metric_alarm *a = c->alarms; a; a = a->next) {
    double p = (double)a->period;
    double end = floor((now - EVAL_DELAY_S) / p) * p;
    if (end <= a->last_end) continue; /* judged this period already */
    a->last_end = end;
    evaluate(c, a, end);
  }
}

int alarms_in_alarm(ctl *c, const char *name) {
  const metric_alarm *a = find(c, name);
  return a ? a->state == STATE_ALARM : -1;
}

int alarms_fired(ctl *c, const char *name, double since) {
  const metric_alarm *a = find(c, name);
  return a && (a->state == STATE_ALARM || (a->entered_alarm > 0 && a->entered_alarm >= since));
}

/* ---- Load and free ---- */

static int load_one(const char *name, json_t *doc, void *ud) {
  ctl *c = ud;
  json_t *cfg = json_object_get(doc, "Config");
  if (!json_is_object(cfg) || strlen(name) > ALARM_NAME_MAX || find(c, name)) {
    berth_log(BERTH_LOG_ERROR, "store: skipping alarm %.255s: its document is not one "
              "alarms.c wrote", name);
    return 0;
  }
  metric_alarm *a = berth_xcalloc(1, sizeof *a);
  snprintf(a->name, sizeof a->name, "%s", name);
  apply_config(a, json_incref(cfg));
  int k = index_of(state_names, json_string_value(json_object_get(doc, "StateValue")));
  a->state = k < 0 ? STATE_INSUFFICIENT_DATA : (alarm_state)k;
  const char *reason = json_string_value(json_object_get(doc, "StateReason"));
  snprintf(a->reason, sizeof a->reason, "%s", reason ? reason : "");
  const char *data = json_string_value(json_object_get(doc, "StateReasonData"));
  a->reason_data = data ? berth_xstrdup(data) : NULL;
  a->state_updated = json_number_value(json_object_get(doc, "StateUpdatedTimestamp"));
  a->state_transitioned = json_number_value(json_object_get(doc, "StateTransitionedTimestamp"));
  a->config_updated =
    json_number_value(json_object_get(doc, "AlarmConfigurationUpdatedTimestamp"));
  link_sorted(c, a);
  return 0;
}

int alarms_load(ctl *c) {
  return store_each(c->db, STORE_KIND, load_one, c);
}

void alarms_free(ctl *c) {
  while (c->alarms) {
    metric_alarm *a = c->alarms;
    c->alarms = a->next;
    alarm_free(a);
  }
}

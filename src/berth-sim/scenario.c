/* scenario: reads and validates a berth-sim scenario file (JSON).
 *
 * Models may be written once with "count": N and are then expanded to N
 * models named NAME-000 .. NAME-(N-1); "model_defaults" is merged under
 * every model (objects merge field by field). Unknown fields are errors, so
 * a typo never silently becomes a default. */
#include "scenario.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "berth/forecast.h"
#include "rng.h"

typedef struct ctx {
  const char *path;
  char *err;
  size_t errsz;
} ctx;

static int fail(const ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const ctx *c, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(c->err, c->errsz, "%s: %s", c->path, msg);
  return -EINVAL;
}

static const char *describe(const json_t *v, char *buf, size_t n) {
  if (!v) return "nothing";
  switch (json_typeof(v)) {
  case JSON_INTEGER: snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return buf;
  case JSON_REAL: snprintf(buf, n, "%g", json_real_value(v)); return buf;
  case JSON_STRING: snprintf(buf, n, "\"%.40s\"", json_string_value(v)); return buf;
  case JSON_NULL: return "null";
  case JSON_TRUE: case JSON_FALSE: return "a boolean";
  case JSON_ARRAY: return "an array";
  case JSON_OBJECT: return "an object";
  }
  return "?";
}

/* Refuses fields not in allowed (a NULL-terminated list). */
static int check_keys(const ctx *c, const char *where, const json_t *obj, const char *const *allowed) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    int ok = 0;
    for (const char *const *a = allowed; *a; a++)
      if (strcmp(*a, key) == 0) ok = 1;
    if (!ok) {
      char list[512] = "";
      size_t len = 0;
      for (const char *const *a = allowed; *a && len < sizeof list - 64; a++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", a == allowed ? "" : ", ", *a);
      return fail(c, "%s: unknown field \"%s\" (known fields: %s)", where, key, list);
    }
  }
  return 0;
}

static int get_obj(const ctx *c, const char *where, const json_t *parent, const char *key, json_t **out) {
  json_t *v = json_object_get(parent, key);
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_object(v)) return fail(c, "%s.%s must be an object", where, key);
  *out = v;
  return 0;
}

/* Reads a number field in [min, max]; absent leaves *out unchanged. */
static int get_num(const ctx *c, const char *where, const json_t *obj, const char *key,
                   double min, double max, double *out) {
  json_t *v = obj ? json_object_get(obj, key) : NULL;
  char buf[64];
  if (!v) return 0;
  if (!json_is_number(v))
    return fail(c, "%s.%s must be a number from %g to %g, got %s", where, key, min, max,
                describe(v, buf, sizeof buf));
  double x = json_number_value(v);
  if (!(x >= min && x <= max))
    return fail(c, "%s.%s must be from %g to %g, got %g", where, key, min, max, x);
  *out = x;
  return 0;
}

static int get_int(const ctx *c, const char *where, const json_t *obj, const char *key,
                   long min, long max, int *out) {
  json_t *v = obj ? json_object_get(obj, key) : NULL;
  char buf[64];
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
    return fail(c, "%s.%s must be a whole number from %ld to %ld, got %s", where, key, min, max,
                describe(v, buf, sizeof buf));
  *out = (int)json_integer_value(v);
  return 0;
}

static int get_str(const ctx *c, const char *where, const json_t *obj, const char *key,
                   char *out, size_t n) {
  json_t *v = obj ? json_object_get(obj, key) : NULL;
  char buf[64];
  if (!v) return 0;
  if (!json_is_string(v) || json_string_length(v) >= n)
    return fail(c, "%s.%s must be a string of at most %zu bytes, got %s", where, key, n - 1,
                describe(v, buf, sizeof buf));
  snprintf(out, n, "%s", json_string_value(v));
  return 0;
}

/* Picks one of names for a string field; absent leaves *out unchanged. */
static int get_enum(const ctx *c, const char *where, const json_t *obj, const char *key,
                    const char *const *names, const int *values, int *out) {
  char s[64] = "";
  json_t *v = obj ? json_object_get(obj, key) : NULL;
  if (!v) return 0;
  int rc = get_str(c, where, obj, key, s, sizeof s);
  if (rc) return rc;
  for (int i = 0; names[i]; i++)
    if (strcmp(names[i], s) == 0) {
      *out = values[i];
      return 0;
    }
  char list[256] = "";
  size_t len = 0;
  for (int i = 0; names[i]; i++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
  return fail(c, "%s.%s: \"%s\" is not one of %s", where, key, s, list);
}

const char *route_policy_name(route_policy p) {
  switch (p) {
  case BERTH_ROUTE_RANDOM: return "RANDOM";
  case BERTH_ROUTE_LEAST_OUTSTANDING: return "LEAST_OUTSTANDING_REQUESTS";
  case BERTH_ROUTE_P2C: return "POWER_OF_TWO_CHOICES";
  case BERTH_ROUTE_PREFIX_AWARE: return "PREFIX_AWARE"; /* not in scenarios: no bodies */
  }
  return "?";
}

static void model_defaults(scn_model *m) {
  memset(m, 0, sizeof *m);
  m->need.cpu_milli = 1000;
  m->need.mem_mb = 1024;
  m->placement = SCHED_BINPACK;
  m->overhead_s = 0.02;
  m->prefill_tps = 4000;
  m->decode_tps = 40;
  m->max_concurrency = 8;
  m->batch_slowdown = SCN_BATCH_SLOWDOWN;
  m->sleep = (berth_sleep_policy){0, BERTH_SLEEP_AFTER_IDLE_DEFAULT_S,
                                  BERTH_STOP_AFTER_SLEEP_DEFAULT_S};
  m->sleep_wake_s = SCN_SLEEP_WAKE_S;
  m->artifact_load_s = 60;
  m->health_check_s = 10;
  m->min_copies = 0;
  m->max_copies = 8;
  m->metric = SCALE_METRIC_CONCURRENT_PER_COPY;
  m->target = 4;
  m->scale_out_cooldown_s = 300;
  m->scale_in_cooldown_s = 300;
  m->slo_latency_s = 5;
  m->slo_per_output_token_s = 0.05;
  m->rate_per_s = 0;
  m->interarrival_cv = 1;
  m->peak_hour = 14;
  m->inactive_factor = 0;
  m->burst_factor = 1;
  m->burst_minutes = 10;
  m->in_tokens = (token_dist){500, 1, 1, 32768};
  m->out_tokens = (token_dist){200, 1, 1, 8192};
  m->weight = 0;
}

static int parse_tokens(const ctx *c, const char *where, const json_t *t, const char *key, token_dist *d) {
  json_t *o;
  char w[160];
  int rc = get_obj(c, where, t, key, &o);
  if (rc || !o) return rc;
  snprintf(w, sizeof w, "%s.%s", where, key);
  static const char *const keys[] = {"mean", "cv", "min", "max", NULL};
  if ((rc = check_keys(c, w, o, keys)) ||
      (rc = get_num(c, w, o, "mean", 1, 1e6, &d->mean)) ||
      (rc = get_num(c, w, o, "cv", 0, 10, &d->cv)) ||
      (rc = get_num(c, w, o, "min", 0, 1e6, &d->min)) ||
      (rc = get_num(c, w, o, "max", 1, 1e7, &d->max)))
    return rc;
  if (d->min > d->max) return fail(c, "%s: min %g is above max %g", w, d->min, d->max);
  return 0;
}

static int parse_model(const ctx *c, const char *where, const json_t *j, scn_model *m,
                       double *peak_spread) {
  static const char *const keys[] = {"name", "count", "copy", "placement", "service", "startup",
                                     "scaling", "sleep", "slo", "traffic", NULL};
  int rc;
  json_t *o;
  char w[160];
  if ((rc = check_keys(c, where, j, keys))) return rc;
  if ((rc = get_str(c, where, j, "name", m->name, sizeof m->name - 8))) return rc;

  if ((rc = get_obj(c, where, j, "copy", &o))) return rc;
  if (o) {
    static const char *const k[] = {"cpu_cores", "memory_mb", "accelerators", "accelerator_memory_mb", NULL};
    double cores = (double)m->need.cpu_milli / 1000, mem = (double)m->need.mem_mb;
    double acc = (double)m->need.dev_milli / 1000, accmem = (double)m->need.dev_mem_mb;
    snprintf(w, sizeof w, "%s.copy", where);
    if ((rc = check_keys(c, w, o, k)) || (rc = get_num(c, w, o, "cpu_cores", 0, 1024, &cores)) ||
        (rc = get_num(c, w, o, "memory_mb", 0, 1 << 24, &mem)) ||
        (rc = get_num(c, w, o, "accelerators", 0, SCHED_MAX_DEVICES, &acc)) ||
        (rc = get_num(c, w, o, "accelerator_memory_mb", 0, 1 << 24, &accmem)))
      return rc;
    m->need.cpu_milli = (int64_t)llround(cores * 1000);
    m->need.mem_mb = (int64_t)llround(mem);
    m->need.dev_milli = (int32_t)lround(acc * 1000);
    m->need.dev_mem_mb = (int64_t)llround(accmem);
    if (!sched_need_valid(&m->need))
      return fail(c, "%s: accelerators %g is neither a share below 1 nor a whole number", w, acc);
  }
  {
    static const char *const n[] = {"SPREAD", "BINPACK", NULL};
    static const int v[] = {SCHED_SPREAD, SCHED_BINPACK};
    int p = (int)m->placement;
    if ((rc = get_enum(c, where, j, "placement", n, v, &p))) return rc;
    m->placement = (sched_strategy)p;
  }
  if ((rc = get_obj(c, where, j, "service", &o))) return rc;
  if (o) {
    static const char *const k[] = {"overhead_s", "prefill_tokens_per_s", "decode_tokens_per_s",
                                    "max_concurrency", "batch_slowdown", NULL};
    snprintf(w, sizeof w, "%s.service", where);
    if ((rc = check_keys(c, w, o, k)) || (rc = get_num(c, w, o, "overhead_s", 0, 3600, &m->overhead_s)) ||
        (rc = get_num(c, w, o, "prefill_tokens_per_s", 1, 1e9, &m->prefill_tps)) ||
        (rc = get_num(c, w, o, "decode_tokens_per_s", 0.01, 1e9, &m->decode_tps)) ||
        (rc = get_int(c, w, o, "max_concurrency", 1, 100000, &m->max_concurrency)) ||
        (rc = get_num(c, w, o, "batch_slowdown", 0, 10, &m->batch_slowdown)))
      return rc;
  }
  if ((rc = get_obj(c, where, j, "startup", &o))) return rc;
  if (o) {
    static const char *const k[] = {"artifact_load_s", "health_check_s", NULL};
    snprintf(w, sizeof w, "%s.startup", where);
    if ((rc = check_keys(c, w, o, k)) || (rc = get_num(c, w, o, "artifact_load_s", 0, 36000, &m->artifact_load_s)) ||
        (rc = get_num(c, w, o, "health_check_s", 0, 3600, &m->health_check_s)))
      return rc;
  }
  if ((rc = get_obj(c, where, j, "scaling", &o))) return rc;
  if (o) {
    static const char *const k[] = {"min_copies", "max_copies", "metric", "target",
                                    "scale_out_cooldown_s", "scale_in_cooldown_s",
                                    "latency_slo", NULL};
    static const char *const n[] = {"ConcurrentRequestsPerCopy", "InvocationsPerCopy", NULL};
    static const int v[] = {SCALE_METRIC_CONCURRENT_PER_COPY, SCALE_METRIC_INVOCATIONS_PER_COPY};
    int metric = (int)m->metric;
    snprintf(w, sizeof w, "%s.scaling", where);
    if ((rc = check_keys(c, w, o, k)) || (rc = get_int(c, w, o, "min_copies", 0, 10000, &m->min_copies)) ||
        (rc = get_int(c, w, o, "max_copies", 1, 10000, &m->max_copies)) ||
        (rc = get_enum(c, w, o, "metric", n, v, &metric)) ||
        (rc = get_num(c, w, o, "target", 1e-6, 1e9, &m->target)) ||
        (rc = get_num(c, w, o, "scale_out_cooldown_s", 0, 86400, &m->scale_out_cooldown_s)) ||
        (rc = get_num(c, w, o, "scale_in_cooldown_s", 0, 86400, &m->scale_in_cooldown_s)))
      return rc;
    m->metric = (scale_metric)metric;
    json_t *ls;
    char lw[sizeof w + 16];
    snprintf(lw, sizeof lw, "%s.scaling", where);
    if ((rc = get_obj(c, lw, o, "latency_slo", &ls))) return rc;
    if (ls) {
      static const char *const lk[] = {"percentile", "latency_s", NULL};
      snprintf(lw, sizeof lw, "%s.scaling.latency_slo", where);
      m->latency_slo_percentile = 99;
      if ((rc = check_keys(c, lw, ls, lk)) ||
          (rc = get_num(c, lw, ls, "percentile", 50, 99.99, &m->latency_slo_percentile)) ||
          (rc = get_num(c, lw, ls, "latency_s", 1e-3, 86400, &m->latency_slo_s)))
        return rc;
      if (!(m->latency_slo_s > 0))
        return fail(c, "%s: latency_s is required (the SLO at the percentile, seconds)", lw);
    }
  }
  if (m->min_copies > m->max_copies)
    return fail(c, "%s.scaling: min_copies %d is above max_copies %d", where, m->min_copies, m->max_copies);
  if ((rc = get_obj(c, where, j, "sleep", &o))) return rc;
  if (o) {
    static const char *const k[] = {"enabled", "after_idle_s", "stop_after_s", "wake_s", NULL};
    snprintf(w, sizeof w, "%s.sleep", where);
    m->sleep.enabled = 1;
    json_t *en = json_object_get(o, "enabled");
    if (en && !json_is_boolean(en)) return fail(c, "%s.enabled must be true or false", w);
    if (en) m->sleep.enabled = json_is_true(en);
    if ((rc = check_keys(c, w, o, k)) ||
        (rc = get_num(c, w, o, "after_idle_s", BERTH_SLEEP_AFTER_IDLE_MIN_S,
                      BERTH_SLEEP_AFTER_IDLE_MAX_S, &m->sleep.sleep_after_idle_s)) ||
        (rc = get_num(c, w, o, "stop_after_s", 0, BERTH_STOP_AFTER_SLEEP_MAX_S,
                      &m->sleep.stop_after_sleep_s)) ||
        (rc = get_num(c, w, o, "wake_s", 0, 3600, &m->sleep_wake_s)))
      return rc;
  }
  if ((rc = get_obj(c, where, j, "slo", &o))) return rc;
  if (o) {
    static const char *const k[] = {"latency_s", "per_output_token_s", NULL};
    snprintf(w, sizeof w, "%s.slo", where);
    if ((rc = check_keys(c, w, o, k)) || (rc = get_num(c, w, o, "latency_s", 0, 86400, &m->slo_latency_s)) ||
        (rc = get_num(c, w, o, "per_output_token_s", 0, 3600, &m->slo_per_output_token_s)))
      return rc;
  }
  if ((rc = get_obj(c, where, j, "traffic", &o))) return rc;
  if (o) {
    static const char *const k[] = {"rate_per_s", "weight", "interarrival_cv", "diurnal_amplitude",
                                    "peak_hour", "peak_hour_spread", "active_hours", "inactive_factor",
                                    "bursts_per_day", "burst_factor", "burst_minutes",
                                    "input_tokens", "output_tokens", NULL};
    snprintf(w, sizeof w, "%s.traffic", where);
    if ((rc = check_keys(c, w, o, k)) || (rc = get_num(c, w, o, "rate_per_s", 0, 1e6, &m->rate_per_s)) ||
        (rc = get_num(c, w, o, "weight", 0, 1e9, &m->weight)) ||
        (rc = get_num(c, w, o, "interarrival_cv", 0.05, 20, &m->interarrival_cv)) ||
        (rc = get_num(c, w, o, "diurnal_amplitude", 0, 1, &m->diurnal_amplitude)) ||
        (rc = get_num(c, w, o, "peak_hour", 0, 24, &m->peak_hour)) ||
        (rc = get_num(c, w, o, "peak_hour_spread", 0, 12, peak_spread)) ||
        (rc = get_num(c, w, o, "inactive_factor", 0, 1, &m->inactive_factor)) ||
        (rc = get_num(c, w, o, "bursts_per_day", 0, 1000, &m->bursts_per_day)) ||
        (rc = get_num(c, w, o, "burst_factor", 1, 1000, &m->burst_factor)) ||
        (rc = get_num(c, w, o, "burst_minutes", 0.1, 1440, &m->burst_minutes)) ||
        (rc = parse_tokens(c, w, o, "input_tokens", &m->in_tokens)) ||
        (rc = parse_tokens(c, w, o, "output_tokens", &m->out_tokens)))
      return rc;
    json_t *a = json_object_get(o, "active_hours");
    if (a) {
      if (!json_is_array(a) || json_array_size(a) > SCN_MAX_WINDOWS)
        return fail(c, "%s.active_hours must be an array of at most %d [start, end) hour pairs",
                    w, SCN_MAX_WINDOWS);
      m->n_active = 0;
      for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *p = json_array_get(a, i);
        if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_number(json_array_get(p, 0)) ||
            !json_is_number(json_array_get(p, 1)))
          return fail(c, "%s.active_hours[%zu] must be [start_hour, end_hour]", w, i);
        double s = json_number_value(json_array_get(p, 0)), e = json_number_value(json_array_get(p, 1));
        if (!(s >= 0 && e <= 24 && s < e))
          return fail(c, "%s.active_hours[%zu] = [%g, %g]: need 0 <= start < end <= 24", w, i, s, e);
        m->active[m->n_active][0] = s;
        m->active[m->n_active][1] = e;
        m->n_active++;
      }
    }
  }
  return 0;
}

static int parse_fleet(const ctx *c, const char *where, const json_t *o, scn_fleet_policy *f) {
  static const char *const k[] = {"scale_in", "cooldown_minutes", "max_step", NULL};
  static const char *const n[] = {"IDLE_RELEASE", "CONSOLIDATION", NULL};
  static const int v[] = {SCALE_IN_IDLE_RELEASE, SCALE_IN_CONSOLIDATION};
  int rc, s = (int)f->scale_in;
  double minutes = f->cooldown_s / 60;
  if (!o) return 0;
  if ((rc = check_keys(c, where, o, k)) || (rc = get_enum(c, where, o, "scale_in", n, v, &s)) ||
      (rc = get_num(c, where, o, "cooldown_minutes", 0, 1440, &minutes)) ||
      (rc = get_int(c, where, o, "max_step", 1, 100, &f->max_step)))
    return rc;
  f->scale_in = (scale_in_strategy)s;
  f->cooldown_s = minutes * 60;
  return 0;
}

static int add_type(const ctx *c, scenario *s, const berth_catalog *cat, const json_t *e, size_t i) {
  char name[64] = "";
  double price = -1;
  int rc;
  if (json_is_string(e)) {
    snprintf(name, sizeof name, "%s", json_string_value(e));
  } else if (json_is_object(e)) {
    static const char *const k[] = {"name", "price_per_hour", NULL};
    char w[64];
    snprintf(w, sizeof w, "instance_types[%zu]", i);
    if ((rc = check_keys(c, w, e, k)) || (rc = get_str(c, w, e, "name", name, sizeof name)) ||
        (rc = get_num(c, w, e, "price_per_hour", 0, 1e6, &price)))
      return rc;
  } else {
    return fail(c, "instance_types[%zu] must be a type name or {\"name\", \"price_per_hour\"}", i);
  }
  const berth_instance_type *t = berth_catalog_find(cat, name);
  if (!t) return fail(c, "instance_types[%zu]: \"%s\" is not in the catalog; add it there or pick a listed type", i, name);
  if (s->n_types >= SCN_MAX_TYPES) return fail(c, "more than %d instance types", SCN_MAX_TYPES);
  s->types[s->n_types] = *t;
  if (price >= 0) s->types[s->n_types].price_per_hour = price;
  s->n_types++;
  return 0;
}

static int find_type(const scenario *s, const char *name) {
  for (size_t i = 0; i < s->n_types; i++)
    if (strcmp(s->types[i].name, name) == 0) return (int)i;
  return -1;
}

int scenario_load(const char *path, const berth_catalog *cat, scenario *s, char *err, size_t errsz) {
  ctx c = {path, err, errsz};
  json_error_t je;
  int rc = 0;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  memset(s, 0, sizeof *s);
  if (!root) {
    snprintf(err, errsz, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    return -EINVAL;
  }
  if (!json_is_object(root)) {
    rc = fail(&c, "the scenario must be a JSON object");
    goto out;
  }
  snprintf(s->path, sizeof s->path, "%s", path);
  static const char *const keys[] = {"name", "description", "duration_hours", "seed", "instance_types",
                                     "endpoint", "fleet", "model_defaults", "models", "traffic",
                                     "sample_s", "catalog", "notes", "dedicated", "sagemaker", "forecast", NULL};
  if ((rc = check_keys(&c, "scenario", root, keys))) goto out;
  snprintf(s->name, sizeof s->name, "scenario");
  double hours = 24, seed = 1;
  s->sample_s = 60;
  if ((rc = get_str(&c, "scenario", root, "name", s->name, sizeof s->name)) ||
      (rc = get_str(&c, "scenario", root, "description", s->description, sizeof s->description)) ||
      (rc = get_num(&c, "scenario", root, "duration_hours", 1.0 / 60, 24 * 31, &hours)) ||
      (rc = get_num(&c, "scenario", root, "seed", 0, 9007199254740992.0, &seed)) ||
      (rc = get_num(&c, "scenario", root, "sample_s", 10, 3600, &s->sample_s)))
    goto out;
  s->duration_s = hours * 3600;
  s->seed = (uint64_t)seed;
  s->dedicated_peak_window_s = 60;
  s->dedicated_sizing = DEDICATED_SIZING_SLO;
  {
    json_t *dd;
    static const char *const k[] = {"peak_window_s", "sizing", NULL};
    static const char *const n[] = {"SLO", "PEAK", NULL};
    static const int v[] = {DEDICATED_SIZING_SLO, DEDICATED_SIZING_PEAK};
    if ((rc = get_obj(&c, "scenario", root, "dedicated", &dd))) goto out;
    if (dd && ((rc = check_keys(&c, "dedicated", dd, k)) ||
               (rc = get_enum(&c, "dedicated", dd, "sizing", n, v, &s->dedicated_sizing)) ||
               (rc = get_num(&c, "dedicated", dd, "peak_window_s", 10, 3600, &s->dedicated_peak_window_s))))
      goto out;
    s->dedicated_peak_window_s = 10 * floor(s->dedicated_peak_window_s / 10 + 0.5);
  }
  /* forecast: Berth's warm-up from each model's demand a season ago. Off
   * unless the scenario asks, so figures measured without it stay put. */
  s->forecast = 0;
  s->forecast_season_s = 86400;
  s->forecast_horizon_s = 0;
  {
    json_t *fo;
    static const char *const k[] = {"enabled", "season_s", "horizon_s", NULL};
    if ((rc = get_obj(&c, "scenario", root, "forecast", &fo))) goto out;
    if (fo && ((rc = check_keys(&c, "forecast", fo, k)) ||
               (rc = get_num(&c, "forecast", fo, "season_s", FORECAST_SEASON_MIN_S,
                             FORECAST_SEASON_MAX_S, &s->forecast_season_s)) ||
               (rc = get_num(&c, "forecast", fo, "horizon_s", 0, 86400, &s->forecast_horizon_s))))
      goto out;
    json_t *en = fo ? json_object_get(fo, "enabled") : NULL;
    if (en && !json_is_boolean(en)) {
      rc = fail(&c, "forecast.enabled must be true or false");
      goto out;
    }
    if (en) s->forecast = json_is_true(en);
  }

  json_t *types = json_object_get(root, "instance_types");
  if (!json_is_array(types) || json_array_size(types) == 0) {
    rc = fail(&c, "instance_types must be a non-empty array of catalog type names");
    goto out;
  }
  for (size_t i = 0; i < json_array_size(types); i++)
    if ((rc = add_type(&c, s, cat, json_array_get(types, i), i))) goto out;

  /* endpoint */
  json_t *ep;
  if ((rc = get_obj(&c, "scenario", root, "endpoint", &ep))) goto out;
  s->endpoint_type = 0;
  s->berth_pools = 1;
  s->min_instances = 0;
  s->max_instances = 1000;
  s->instance_start_s = 300;
  s->routing = BERTH_ROUTE_LEAST_OUTSTANDING;
  s->hold_max = 256;          /* berthd --wake-queue default */
  s->hold_timeout_s = 300;    /* berthd --wake-timeout default */
  s->scale_in_window_s = 300; /* berthd --scale-in-window default */
  if (ep) {
    static const char *const k[] = {"instance_type", "min_instances", "max_instances", "instance_start_s",
                                    "routing", "hold_max_requests", "hold_timeout_s",
                                    "managed_instance_scaling", "scale_in_window_s",
                                    "instance_pools", NULL};
    static const char *const rn[] = {"RANDOM", "LEAST_OUTSTANDING_REQUESTS", "POWER_OF_TWO_CHOICES", NULL};
    static const int rv[] = {BERTH_ROUTE_RANDOM, BERTH_ROUTE_LEAST_OUTSTANDING, BERTH_ROUTE_P2C};
    char tname[64] = "";
    int routing = (int)s->routing;
    if ((rc = check_keys(&c, "endpoint", ep, k)) ||
        (rc = get_str(&c, "endpoint", ep, "instance_type", tname, sizeof tname)) ||
        (rc = get_int(&c, "endpoint", ep, "min_instances", 0, 100000, &s->min_instances)) ||
        (rc = get_int(&c, "endpoint", ep, "max_instances", 1, 100000, &s->max_instances)) ||
        (rc = get_num(&c, "endpoint", ep, "instance_start_s", 0, 7200, &s->instance_start_s)) ||
        (rc = get_enum(&c, "endpoint", ep, "routing", rn, rv, &routing)) ||
        (rc = get_int(&c, "endpoint", ep, "hold_max_requests", 0, 10000000, &s->hold_max)) ||
        (rc = get_num(&c, "endpoint", ep, "hold_timeout_s", 0, 86400, &s->hold_timeout_s)) ||
        (rc = get_num(&c, "endpoint", ep, "scale_in_window_s", 10, 1800, &s->scale_in_window_s)))
      goto out;
    s->routing = (route_policy)routing;
    json_t *pools = json_object_get(ep, "instance_pools");
    if (pools && !json_is_boolean(pools)) {
      rc = fail(&c, "endpoint.instance_pools must be true (every listed type) or false "
                "(endpoint.instance_type only)");
      goto out;
    }
    if (pools) s->berth_pools = json_is_true(pools);
    if (tname[0]) {
      s->endpoint_type = find_type(s, tname);
      if (s->endpoint_type < 0) {
        rc = fail(&c, "endpoint.instance_type \"%s\" is not among instance_types", tname);
        goto out;
      }
    }
  }
  /* sagemaker: {instance_type}: the type a SageMaker user picked (absent:
   * sagemaker_choose_type in yardstick.c, docs/sim.md "Policies"). */
  s->sagemaker_type = -1;
  {
    json_t *sm;
    static const char *const k[] = {"instance_type", NULL};
    char tname[64] = "";
    if ((rc = get_obj(&c, "scenario", root, "sagemaker", &sm))) goto out;
    if (sm && ((rc = check_keys(&c, "sagemaker", sm, k)) ||
               (rc = get_str(&c, "sagemaker", sm, "instance_type", tname, sizeof tname))))
      goto out;
    if (tname[0] && (s->sagemaker_type = find_type(s, tname)) < 0) {
      rc = fail(&c, "sagemaker.instance_type \"%s\" is not among instance_types", tname);
      goto out;
    }
  }
  if (s->min_instances > s->max_instances) {
    rc = fail(&c, "endpoint: min_instances %d is above max_instances %d", s->min_instances, s->max_instances);
    goto out;
  }

  /* ManagedInstanceScaling: the API's defaults (IDLE_RELEASE, step 1,
   * 20 minutes), the endpoint's settings, then per-policy overrides. */
  scn_fleet_policy mis = {SCALE_IN_IDLE_RELEASE, 1200, 1};
  json_t *fl, *o;
  if (ep) {
    if ((rc = get_obj(&c, "endpoint", ep, "managed_instance_scaling", &o)) ||
        (rc = parse_fleet(&c, "endpoint.managed_instance_scaling", o, &mis)))
      goto out;
  }
  s->fleet_berth = s->fleet_sagemaker = mis;
  if ((rc = get_obj(&c, "scenario", root, "fleet", &fl))) goto out;
  if (fl) {
    static const char *const k[] = {"berth", "sagemaker", NULL};
    if ((rc = check_keys(&c, "fleet", fl, k)) || (rc = get_obj(&c, "fleet", fl, "berth", &o)) ||
        (rc = parse_fleet(&c, "fleet.berth", o, &s->fleet_berth)) ||
        (rc = get_obj(&c, "fleet", fl, "sagemaker", &o)) ||
        (rc = parse_fleet(&c, "fleet.sagemaker", o, &s->fleet_sagemaker)))
      goto out;
  }

  /* traffic */
  json_t *tr;
  if ((rc = get_obj(&c, "scenario", root, "traffic", &tr))) goto out;
  s->traffic = TRAFFIC_GENERATOR;
  s->zipf_s = 1.0;
  s->zipf_shuffle = 1;
  s->trace_time_scale = 1.0;
  if (tr) {
    static const char *const k[] = {"source", "file", "time_scale", "total_rate_per_s", "zipf_s",
                                    "zipf_order", "attribution", NULL};
    static const char *const sn[] = {"generator", "trace", NULL};
    static const int sv[] = {TRAFFIC_GENERATOR, TRAFFIC_TRACE};
    static const char *const on[] = {"listed", "shuffled", NULL};
    static const int ov[] = {0, 1};
    int src = (int)s->traffic;
    char file[4096] = "";
    if ((rc = check_keys(&c, "traffic", tr, k)) || (rc = get_enum(&c, "traffic", tr, "source", sn, sv, &src)) ||
        (rc = get_str(&c, "traffic", tr, "file", file, sizeof file)) ||
        (rc = get_num(&c, "traffic", tr, "time_scale", 1e-3, 1e3, &s->trace_time_scale)) ||
        (rc = get_num(&c, "traffic", tr, "total_rate_per_s", 0, 1e6, &s->total_rate_per_s)) ||
        (rc = get_num(&c, "traffic", tr, "zipf_s", 0, 5, &s->zipf_s)) ||
        (rc = get_enum(&c, "traffic", tr, "zipf_order", on, ov, &s->zipf_shuffle)))
      goto out;
    s->traffic = (traffic_kind)src;
    if (s->traffic == TRAFFIC_TRACE) {
      if (!file[0]) {
        rc = fail(&c, "traffic.file is required when traffic.source is \"trace\"");
        goto out;
      }
      /* relative to the scenario file's directory */
      const char *slash = strrchr(path, '/');
      size_t dir = file[0] == '/' || !slash ? 0 : (size_t)(slash - path) + 1;
      if (dir + strlen(file) >= sizeof s->trace_path) {
        rc = fail(&c, "traffic.file: the trace path is longer than %zu bytes", sizeof s->trace_path - 1);
        goto out;
      }
      memcpy(s->trace_path, path, dir);
      memcpy(s->trace_path + dir, file, strlen(file) + 1);
    }
  }

  /* models */
  json_t *models = json_object_get(root, "models"), *defs = json_object_get(root, "model_defaults");
  if (!json_is_array(models) || json_array_size(models) == 0) {
    rc = fail(&c, "models must be a non-empty array");
    goto out;
  }
  if (defs && !json_is_object(defs)) {
    rc = fail(&c, "model_defaults must be an object");
    goto out;
  }
  size_t total = 0;
  for (size_t i = 0; i < json_array_size(models); i++) {
    json_t *mj = json_array_get(models, i);
    if (!json_is_object(mj)) {
      rc = fail(&c, "models[%zu] must be an object", i);
      goto out;
    }
    int count = 1;
    char w[64];
    snprintf(w, sizeof w, "models[%zu]", i);
    if ((rc = get_int(&c, w, mj, "count", 1, SCN_MAX_MODELS, &count))) goto out;
    total += (size_t)count;
  }
  if (total > SCN_MAX_MODELS) {
    rc = fail(&c, "%zu models in all; the limit is %d", total, SCN_MAX_MODELS);
    goto out;
  }
  s->models = berth_xcalloc(total, sizeof *s->models);
  for (size_t i = 0; i < json_array_size(models); i++) {
    json_t *mj = json_array_get(models, i);
    json_t *merged = defs ? json_deep_copy(defs) : json_object();
    json_object_update_recursive(merged, mj);
    char w[64];
    snprintf(w, sizeof w, "models[%zu]", i);
    scn_model m;
    double spread = 0;
    int count = 1;
    model_defaults(&m);
    snprintf(m.name, sizeof m.name, "model-%zu", i);
    rc = get_int(&c, w, merged, "count", 1, SCN_MAX_MODELS, &count);
    if (!rc) rc = parse_model(&c, w, merged, &m, &spread);
    json_decref(merged);
    if (rc) goto out;
    for (int k = 0; k < count; k++) {
      scn_model *d = &s->models[s->n_models];
      *d = m;
      if (count > 1) snprintf(d->name, sizeof d->name, "%.50s-%03d", m.name, k % 1000000);
      if (spread > 0) {
        rng r;
        rng_seed(&r, s->seed ^ 0x5eed5eedULL, s->n_models);
        d->peak_hour = fmod(m.peak_hour + (2 * rng_u01(&r) - 1) * spread + 24, 24);
      }
      for (size_t p = 0; p < s->n_models; p++)
        if (strcmp(s->models[p].name, d->name) == 0) {
          rc = fail(&c, "%s: model name \"%s\" is used twice", w, d->name);
          goto out;
        }
      s->n_models++;
    }
  }
  /* Copies must fit on the endpoint's instance type. */
  for (size_t i = 0; i < s->n_models; i++) {
    const berth_instance_type *t = &s->types[s->endpoint_type];
    const scn_model *m = &s->models[i];
    sched_instance in = sched_capacity(t);   /* less the host's reserve */
    if (!sched_fits_empty(&in, &m->need)) {
      rc = fail(&c, "model \"%s\": one copy (%.2f cores, %lld MB, %.2f accelerators, %lld MB each) does not fit "
                "on an empty %s (%.2f of %d vCPUs and %lld of %ld MiB after the host's reserve, %d accelerators of %ld MiB)",
                m->name, (double)m->need.cpu_milli / 1000, (long long)m->need.mem_mb,
                (double)m->need.dev_milli / 1000, (long long)m->need.dev_mem_mb, t->name,
                (double)in.cpu_milli / 1000, t->vcpus, (long long)in.mem_mb,
                t->memory_mib, t->accelerators, t->accelerator_memory_mib);
      goto out;
    }
  }
out:
  json_decref(root);
  if (rc) scenario_free(s);
  return rc;
}

void scenario_free(scenario *s) {
  free(s->models);
  s->models = NULL;
  s->n_models = 0;
}

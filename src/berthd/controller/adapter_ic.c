/* adapter_ic: see adapter_ic.h. */
#include "adapter_ic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/log.h"
#include "ic.h"

/* How long a deleted adapter waits for its agents to say it is unloaded
 * before it goes anyway (an agent that no longer answers). */
#define UNLOAD_WAIT_S 30.0

int adapter_ic_is(json_t *req) {
  json_t *spec = json_object_get(req, "Specification");
  return json_is_object(spec) && json_object_get(spec, "BaseInferenceComponentName") &&
         !json_is_null(json_object_get(spec, "BaseInferenceComponentName"));
}

/* An adapter lives in its base's copies: fields that would give it copies
 * or a container of its own are refused, not ignored. */
static int refuse_member(json_t *obj, const char *key, const char *path, const char *base,
                         const char *why, api_error *e) {
  if (!json_object_get(obj, key)) return 0;
  return api_fail(e, 400, "ValidationException",
                  "%s must be omitted for an adapter inference component "
                  "(Specification.BaseInferenceComponentName is \"%s\"): %s", path, base, why);
}

int adapter_ic_parse(ctl *c, json_t *req, ic *out, int check_endpoint, api_error *e) {
  const char *name, *epname, *base, *url, *vname = NULL;
  json_t *spec, *container, *tags;
  if (valid_name(req, "InferenceComponentName", "InferenceComponentName", 1, &name, e) ||
      valid_name(req, "EndpointName", "EndpointName", 1, &epname, e) ||
      valid_object(req, "Specification", "Specification", 1, &spec, e) ||
      valid_name(spec, "BaseInferenceComponentName", "Specification.BaseInferenceComponentName",
                 1, &base, e) ||
      valid_array(req, "Tags", "Tags", 0, 0, 50, &tags, e))
    return -1;
  if (json_object_get(req, "VariantName") &&
      valid_name(req, "VariantName", "VariantName", 0, &vname, e))
    return -1;
  if (refuse_member(spec, "ComputeResourceRequirements",
                    "Specification.ComputeResourceRequirements", base,
                    "it uses the compute resources of its base", e) ||
      refuse_member(spec, "ModelName", "Specification.ModelName", base,
                    "name the adapter's artifacts in Specification.Container.ArtifactUrl", e) ||
      refuse_member(req, "RuntimeConfig", "RuntimeConfig", base,
                    "an adapter has no copies of its own; it is loaded into every copy of "
                    "its base", e))
    return -1;
  if (valid_object(spec, "Container", "Specification.Container", 1, &container, e)) return -1;
  if (refuse_member(container, "Image", "Specification.Container.Image", base,
                    "it runs in the container of its base", e) ||
      valid_string(container, "ArtifactUrl", "Specification.Container.ArtifactUrl", 1, 1024,
                   &url, e))
    return -1;
  if (!url[0])
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value '' at "
                    "'Specification.Container.ArtifactUrl' failed to satisfy constraint: "
                    "Member must have length greater than or equal to 1 (an adapter's "
                    "artifacts are all it has)");
  ic *b = ctl_find_ic(c, base);
  if (check_endpoint) {
    if (!ctl_find_endpoint(c, epname))
      return api_fail(e, 400, "ValidationException", "Could not find endpoint \"%s\".", epname);
    if (!b || b->deleting)
      return api_fail(e, 400, "ValidationException",
                      "Could not find inference component \"%s\" (Specification."
                      "BaseInferenceComponentName): the base must exist on endpoint \"%s\"%s",
                      base, epname, b ? " and not be deleting" : "");
    if (strcmp(b->endpoint, epname) != 0)
      return api_fail(e, 400, "ValidationException",
                      "Specification.BaseInferenceComponentName \"%s\" is on endpoint \"%s\", "
                      "not \"%s\": an adapter must be on the endpoint of its base", base,
                      b->endpoint, epname);
    if (b->base[0])
      return api_fail(e, 400, "ValidationException",
                      "Specification.BaseInferenceComponentName \"%s\" is itself an adapter "
                      "(of \"%s\"): the base must be an inference component with "
                      "ComputeResourceRequirements", base, b->base);
    if (vname && strcmp(vname, b->variant) != 0)
      return api_fail(e, 400, "ValidationException",
                      "VariantName \"%s\" differs from the variant \"%s\" of base inference "
                      "component \"%s\": an adapter lives on its base's variant (omit "
                      "VariantName)", vname, b->variant, base);
  }
  snprintf(out->name, sizeof out->name, "%s", name);
  snprintf(out->endpoint, sizeof out->endpoint, "%s", epname);
  snprintf(out->base, sizeof out->base, "%s", base);
  /* At start-up the base may load later: reconcile fills the variant in. */
  snprintf(out->variant, sizeof out->variant, "%s", b ? b->variant : vname ? vname : "");
  out->desired = 0;
  out->startup_timeout_s = 600;
  return 0;
}

static const char *artifact_url(const ic *x) {
  json_t *spec = json_object_get(x->doc, "Specification");
  return json_string_value(json_object_get(json_object_get(spec, "Container"), "ArtifactUrl"));
}

static json_t *load_of(const ic *x, const copy *cp) {
  char key[32];
  snprintf(key, sizeof key, "%lld", (long long)cp->id);
  return json_object_get(x->adapter_loads, key);
}

static int load_is(const ic *x, const copy *cp, const char *state) {
  const char *s = json_string_value(json_object_get(load_of(x, cp), "state"));
  return s && strcmp(s, state) == 0;
}

static int serving(const copy *cp) {
  return cp->inst && cp->state == COPY_READY && !cp->moving;
}

int adapter_ic_reconcile(ctl *c, ic *x) {
  ic *b = ctl_find_ic(c, x->base);
  if (!x->adapter_loads) x->adapter_loads = json_object();
  if (b) {
    snprintf(x->endpoint, sizeof x->endpoint, "%s", b->endpoint);
    snprintf(x->variant, sizeof x->variant, "%s", b->variant);
  }
  /* Reports of copies that are gone are forgotten. */
  const char *key;
  json_t *val, *tmp;
  json_object_foreach_safe(x->adapter_loads, tmp, key, val) {
    int found = 0;
    for (const copy *cp = b ? b->copies : NULL; cp; cp = cp->next)
      if (strtoll(key, NULL, 10) == cp->id) found = 1;
    if (!found) json_object_del(x->adapter_loads, key);
  }
  int ready = 0, loaded = 0;
  const copy *failed = NULL;
  for (const copy *cp = b ? b->copies : NULL; cp; cp = cp->next) {
    if (load_is(x, cp, "loaded")) loaded++;
    if (!serving(cp)) continue;
    ready++;
    if (load_is(x, cp, "failed") && !failed) failed = cp;
  }
  if (x->deleting)
    return loaded == 0 || c->shutting_down || ctl_now() - x->modified > UNLOAD_WAIT_S;
  if (x->status == IC_FAILED) return 0; /* as SageMaker: a new adapter is a new attempt */
  if (!b || failed) {
    if (failed)
      snprintf(x->failure, sizeof x->failure, "Loading the adapter into copy %lld of base "
               "inference component %s failed: %s", (long long)failed->id, b->name,
               json_string_value(json_object_get(load_of(x, failed), "message")) ?: "");
    else
      snprintf(x->failure, sizeof x->failure, "Base inference component %s does not exist",
               x->base);
    x->status = IC_FAILED;
    x->failed_sticky = 1;
    x->modified = ctl_now();
    ic_save(c, x);
    berth_log(BERTH_LOG_ERROR, "%s: Failed: %s", x->name, x->failure);
    return 0;
  }
  if (x->status != IC_IN_SERVICE && ready > 0 && loaded >= ready) {
    x->status = IC_IN_SERVICE;
    x->failure[0] = '\0';
    x->modified = ctl_now();
    berth_log(BERTH_LOG_INFO, "%s: InService: loaded into the %d ready cop%s of %s", x->name,
              ready, ready == 1 ? "y" : "ies", b->name);
  }
  return 0;
}

json_t *adapter_ic_wanted(ctl *c, const instance *in) {
  json_t *out = json_array();
  for (ic *x = c->ics; x; x = x->next) {
    if (!x->base[0] || x->deleting || x->failed_sticky || !artifact_url(x)) continue;
    ic *b = ctl_find_ic(c, x->base);
    int here = 0;
    for (const copy *cp = b ? b->copies : NULL; cp; cp = cp->next)
      here |= cp->inst == in && cp->state != COPY_STOPPING;
    if (!here) continue;
    json_t *cache = json_object_get(json_object_get(x->doc, "Specification"), "DataCacheConfig");
    json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:b}", "name", x->name, "base", b->name,
                                         "artifact_url", artifact_url(x), "caching",
                                         !json_is_false(json_object_get(cache, "EnableCaching"))));
  }
  return out;
}

void adapter_ic_apply_report(ctl *c, const instance *in, json_t *loads) {
  int changed = 0;
  for (ic *x = c->ics; x; x = x->next) {
    if (!x->base[0]) continue;
    ic *b = ctl_find_ic(c, x->base);
    if (!x->adapter_loads) x->adapter_loads = json_object();
    for (const copy *cp = b ? b->copies : NULL; cp; cp = cp->next) {
      if (cp->inst != in) continue;
      json_t *rep = NULL, *r;
      size_t i;
      json_array_foreach(loads, i, r) {
        const char *name = json_string_value(json_object_get(r, "adapter"));
        if (json_integer_value(json_object_get(r, "copy")) == cp->id && name &&
            strcmp(name, x->name) == 0)
          rep = r;
      }
      char key[32];
      snprintf(key, sizeof key, "%lld", (long long)cp->id);
      json_t *had = json_object_get(x->adapter_loads, key);
      json_t *now = rep ? json_pack("{s:s,s:s}", "state",
                                    json_string_value(json_object_get(rep, "state")) ?: "loading",
                                    "message",
                                    json_string_value(json_object_get(rep, "message")) ?: "")
                        : NULL;
      if (!json_equal(had, now) && (had || now)) changed = 1;
      if (now)
        json_object_set_new(x->adapter_loads, key, now);
      else
        json_object_del(x->adapter_loads, key);
    }
  }
  if (changed) ctl_kick(c); /* statuses and the routing snapshot follow */
}

void adapter_ic_route(ctl *c, const ic *x, json_t *entry) {
  if (!x->base[0]) return;
  ic *b = ctl_find_ic(c, x->base);
  json_t *copies = json_object_get(entry, "copies");
  int coming = 0;
  for (const copy *cp = b ? b->copies : NULL; cp; cp = cp->next) {
    if (!cp->inst) continue;
    int loaded = load_is(x, cp, "loaded");
    /* Starting base copies, and ready ones still loading it, will serve. */
    coming += (cp->state == COPY_STARTING || cp->state == COPY_BACKOFF ||
               (cp->state == COPY_READY && !loaded && !load_is(x, cp, "failed")));
    if (!loaded || (cp->state != COPY_READY && cp->state != COPY_DRAINING)) continue;
    json_array_append_new(copies, json_pack("{s:I,s:s,s:i,s:b}", "id", (json_int_t)cp->id,
                                            "address", cp->inst->address, "port", cp->port,
                                            "draining", cp->state == COPY_DRAINING));
  }
  json_object_set_new(entry, "coming", json_integer(coming));
  json_object_set_new(entry, "base", json_string(x->base));
}

int adapter_ic_refuse_delete(ctl *c, const ic *x, api_error *e) {
  char names[600] = "";
  size_t len = 0;
  int n = 0;
  for (const ic *y = c->ics; y; y = y->next) {
    if (strcmp(y->base, x->name) != 0) continue;
    n++;
    if (len < sizeof names - 70)
      len += (size_t)snprintf(names + len, sizeof names - len, "%s\"%s\"", n > 1 ? ", " : "",
                              y->name);
  }
  if (!n) return 0;
  return api_fail(e, 400, "ValidationException",
                  "Inference component \"%s\" is the base of %d adapter inference "
                  "component%s (%s): delete %s first, then the base", x->name, n,
                  n == 1 ? "" : "s", names, n == 1 ? "it" : "them");
}

/* api: SageMaker control operations. Each handler validates the request,
 * commits the change to the store, then updates memory and kicks the
 * reconciler: durable before acknowledged (rule 3). */
#include "api.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aas.h"
#include "adapter_ic.h"
#include "auth.h"
#include "forward.h"
#include "leader.h"
#include "berth/log.h"
#include "berth/secret.h"
#include "alarms.h"
#include "cloudwatch.h"
#include "copy_sleep_policy.h"
#include "console.h"
#include "logs_api.h"
#include "prometheus.h"
#include "endpoint_update.h"
#include "ic.h"
#include "keys.h"
#include "metrics.h"
#include "log_intake.h"
#include "pool.h"
#include "rollout.h"
#include "routing.h"
#include "model.h"
#include "store.h"
#include "tags.h"
#include "tokens.h"

static json_t *doc_without(json_t *doc, const char *const *drop) {
  json_t *out = json_deep_copy(doc);
  for (const char *const *d = drop; *d; d++) json_object_del(out, *d);
  return out;
}

static const char *const internal_keys[] = {"Tags", "Config", "Status", NULL};

/* ---- List paging shared by the List* operations ---- */

static const char *str_of(json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "";
}

typedef struct sort_ctx {
  const char *key;
  int numeric;
  int descending;
} sort_ctx;

static sort_ctx sort_by;

static int compare_items(const void *a, const void *b) {
  json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  int r;
  if (sort_by.numeric) {
    double dx = json_number_value(json_object_get(x, sort_by.key));
    double dy = json_number_value(json_object_get(y, sort_by.key));
    r = dx < dy ? -1 : dx > dy;
  } else {
    r = strcmp(str_of(x, sort_by.key), str_of(y, sort_by.key));
  }
  return sort_by.descending ? -r : r;
}

/* Filters (NameContains, StatusEquals, time ranges), sorts and pages items
 * (a new array of summaries) into resp[result_key]. Steals items. */
static int list_page(json_t *req, json_t *items, const char *name_key, const char *status_key,
                     const char *result_key, json_t **resp, api_error *e) {
  static const char *const sort_values[] = {"Name", "CreationTime", "Status", NULL};
  static const char *const order_values[] = {"Ascending", "Descending", NULL};
  const char *sort, *order, *contains, *status_eq, *token;
  long long max;
  double t;
  int rc = -1;
  json_t *kept = json_array();
  if (valid_enum(req, "SortBy", "SortBy", 0, sort_values, "CreationTime", &sort, e) ||
      valid_enum(req, "SortOrder", "SortOrder", 0, order_values, "Descending", &order, e) ||
      valid_int(req, "MaxResults", "MaxResults", 0, 1, 100, 10, &max, e) ||
      valid_string(req, "NameContains", "NameContains", 0, 63, &contains, e) ||
      valid_string(req, "StatusEquals", "StatusEquals", 0, 32, &status_eq, e) ||
      valid_string(req, "NextToken", "NextToken", 0, 8192, &token, e))
    goto out;
  if (!status_key && strcmp(sort, "Status") == 0) {
    api_fail(e, 400, "ValidationException",
             "1 validation error detected: Value 'Status' at 'SortBy' failed to satisfy "
             "constraint: Member must satisfy enum value set: [Name, CreationTime]");
    goto out;
  }
  static const char *const time_keys[][2] = {{"CreationTimeBefore", "CreationTime"},
                                             {"CreationTimeAfter", "CreationTime"},
                                             {"LastModifiedTimeBefore", "LastModifiedTime"},
                                             {"LastModifiedTimeAfter", "LastModifiedTime"}};
  double bounds[4];
  int has[4];
  for (int k = 0; k < 4; k++)
    if (valid_time(req, time_keys[k][0], time_keys[k][0], &bounds[k], &has[k], e)) goto out;
  size_t i;
  json_t *it;
  json_array_foreach(items, i, it) {
    if (contains && !strstr(str_of(it, name_key), contains)) continue;
    if (status_eq && status_key && strcmp(str_of(it, status_key), status_eq) != 0) continue;
    int drop = 0;
    for (int k = 0; k < 4; k++) {
      if (!has[k]) continue;
      t = json_number_value(json_object_get(it, time_keys[k][1]));
      if ((k % 2 == 0 && !(t < bounds[k])) || (k % 2 == 1 && !(t > bounds[k]))) drop = 1;
    }
    if (!drop) json_array_append(kept, it);
  }
  size_t n = json_array_size(kept);
  json_t **arr = berth_xcalloc(n, sizeof *arr);
  for (i = 0; i < n; i++) arr[i] = json_array_get(kept, i);
  sort_by.key = strcmp(sort, "Name") == 0 ? name_key
              : strcmp(sort, "Status") == 0 ? status_key : "CreationTime";
  sort_by.numeric = strcmp(sort, "CreationTime") == 0;
  sort_by.descending = strcmp(order, "Descending") == 0;
  qsort(arr, n, sizeof *arr, compare_items);
  size_t start = 0;
  if (token) {
    char *end;
    unsigned long long off = strtoull(token, &end, 10);
    if (*end != '\0' || end == token || off > n) {
      free(arr);
      api_fail(e, 400, "ValidationException",
               "NextToken '%.64s' is not a token this API returned (or the list has changed "
               "since); start again without NextToken", token);
      goto out;
    }
    start = (size_t)off;
  }
  json_t *page = json_array();
  size_t end_i = start + (size_t)max < n ? start + (size_t)max : n;
  for (i = start; i < end_i; i++) json_array_append(page, arr[i]);
  free(arr);
  *resp = json_object();
  json_object_set_new(*resp, result_key, page);
  if (end_i < n) {
    char next[32];
    snprintf(next, sizeof next, "%zu", end_i);
    json_object_set_new(*resp, "NextToken", json_string(next));
  }
  rc = 0;
out:
  json_decref(kept);
  json_decref(items);
  return rc;
}

/* ---- Endpoint configs ---- */

static int create_endpoint_config(ctl *c, json_t *req, json_t **resp, api_error *e) {
  endpoint_config tmp;
  if (model_parse_config(c, req, &tmp, e)) return -1;
  char arn[256];
  ctl_arn(c, "endpoint-config", tmp.name, arn, sizeof arn);
  if (ctl_find_config(c, tmp.name))
    return api_fail(e, 400, "ValidationException",
                    "Cannot create already existing endpoint configuration \"%s\".", arn);
  json_t *doc = json_deep_copy(req);
  json_object_set_new(doc, "EndpointConfigArn", json_string(arn));
  json_object_set_new(doc, "CreationTime", json_real(ctl_now()));
  if (store_put(c->db, "endpoint-config", tmp.name, doc)) {
    json_decref(doc);
    return api_fail(e, 500, "InternalFailure", "could not commit the endpoint config to the store");
  }
  endpoint_config *cfg = berth_xcalloc(1, sizeof *cfg);
  *cfg = tmp;
  cfg->doc = doc;
  cfg->created = json_number_value(json_object_get(doc, "CreationTime"));
  cfg->next = c->configs;
  c->configs = cfg;
  *resp = json_pack("{s:s}", "EndpointConfigArn", arn);
  return 0;
}

static int describe_endpoint_config(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *name;
  if (valid_string(req, "EndpointConfigName", "EndpointConfigName", 1, 63, &name, e)) return -1;
  endpoint_config *cfg = ctl_find_config(c, name);
  if (!cfg)
    return api_fail(e, 400, "ValidationException", "Could not find endpoint configuration \"%s\".",
                    name);
  *resp = doc_without(cfg->doc, internal_keys);
  return 0;
}

static int delete_endpoint_config(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *name;
  if (valid_string(req, "EndpointConfigName", "EndpointConfigName", 1, 63, &name, e)) return -1;
  endpoint_config **pp = &c->configs;
  while (*pp && strcmp((*pp)->name, name) != 0) pp = &(*pp)->next;
  if (!*pp)
    return api_fail(e, 400, "ValidationException", "Could not find endpoint configuration \"%s\".",
                    name);
  if (store_delete(c->db, "endpoint-config", name))
    return api_fail(e, 500, "InternalFailure", "could not commit the deletion to the store");
  endpoint_config *cfg = *pp;
  *pp = cfg->next;
  json_decref(cfg->doc);
  free(cfg);
  *resp = json_object();
  return 0;
}

static int list_endpoint_configs(ctl *c, json_t *req, json_t **resp, api_error *e) {
  json_t *items = json_array();
  for (endpoint_config *cfg = c->configs; cfg; cfg = cfg->next)
    json_array_append_new(items, json_pack("{s:s,s:O,s:f}", "EndpointConfigName", cfg->name,
                                           "EndpointConfigArn",
                                           json_object_get(cfg->doc, "EndpointConfigArn"),
                                           "CreationTime", cfg->created));
  return list_page(req, items, "EndpointConfigName", NULL, "EndpointConfigs", resp, e);
}

/* ---- Endpoints ---- */

static json_t *endpoint_doc(ctl *c, endpoint *ep) {
  json_t *doc = json_pack("{s:s,s:s,s:f,s:f,s:s,s:O}", "EndpointName", ep->name,
                          "EndpointConfigName", ep->config_name, "CreationTime", ep->created,
                          "LastModifiedTime", ep->modified, "EndpointStatus", endpoint_status_name(ep->status),
                          "Config", ep->cfg.doc);
  if (ep->failure[0]) json_object_set_new(doc, "FailureReason", json_string(ep->failure));
  if (ep->tags) json_object_set(doc, "Tags", ep->tags);
  if (ep->update) json_object_set(doc, "Update", ep->update);
  if (ep->last_deployment) json_object_set(doc, "LastDeploymentConfig", ep->last_deployment);
  (void)c;
  return doc;
}

int ctl_save_endpoint(ctl *c, endpoint *ep) {
  json_t *doc = endpoint_doc(c, ep);
  int rc = store_put(c->db, "endpoint", ep->name, doc);
  json_decref(doc);
  return rc;
}

static int create_endpoint(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *name, *cfgname;
  if (valid_name(req, "EndpointName", "EndpointName", 1, &name, e) ||
      valid_name(req, "EndpointConfigName", "EndpointConfigName", 1, &cfgname, e))
    return -1;
  if (tags_check(req, "Tags", "Tags", e)) return -1;
  char arn[256];
  ctl_arn(c, "endpoint", name, arn, sizeof arn);
  if (ctl_find_endpoint(c, name))
    return api_fail(e, 400, "ValidationException", "Cannot create already existing endpoint \"%s\".",
                    arn);
  endpoint_config *cfg = ctl_find_config(c, cfgname);
  if (!cfg)
    return api_fail(e, 400, "ValidationException", "Could not find endpoint configuration \"%s\".",
                    cfgname);
  endpoint *ep = berth_xcalloc(1, sizeof *ep);
  snprintf(ep->name, sizeof ep->name, "%s", name);
  snprintf(ep->config_name, sizeof ep->config_name, "%s", cfgname);
  ep->status = ENDPOINT_CREATING;
  ep->created = ep->modified = ctl_now();
  ep->cfg = *cfg;
  ep->cfg.next = NULL;
  ep->cfg.doc = json_incref(cfg->doc);
  json_t *tags = json_object_get(req, "Tags");
  if (json_array_size(tags)) ep->tags = json_incref(tags);
  if (ctl_save_endpoint(c, ep)) {
    json_decref(ep->cfg.doc);
    json_decref(ep->tags);
    free(ep);
    return api_fail(e, 500, "InternalFailure", "could not commit the endpoint to the store");
  }
  ep->next = c->endpoints;
  c->endpoints = ep;
  ctl_kick(c);
  *resp = json_pack("{s:s}", "EndpointArn", arn);
  return 0;
}

static int count_instances(ctl *c, const endpoint *ep, const char *vname, int running_only) {
  int n = 0;
  for (instance *in = c->instances; in; in = in->next)
    if (strcmp(in->endpoint, ep->name) == 0 && strcmp(in->variant, vname) == 0 &&
        (!running_only || in->state == INSTANCE_RUNNING))
      n++;
  return n;
}

/* DeployedImages of a variant: each Image its inference components run
 * (from the IC or its Model), once. Berth runs an Image as named, so the
 * resolved image is the specified one. */
static json_t *variant_images(ctl *c, const endpoint *ep, const char *vname) {
  json_t *out = json_array();
  for (ic *x = c->ics; x; x = x->next) {
    if (strcmp(x->endpoint, ep->name) != 0 || strcmp(x->variant, vname) != 0) continue;
    json_t *spec = json_object_get(x->doc, "Specification");
    const char *image = json_string_value(json_object_get(json_object_get(spec, "Container"),
                                                          "Image"));
    const char *model = json_string_value(json_object_get(spec, "ModelName"));
    if (!image && model)
      image = json_string_value(json_object_get(
          json_object_get(ctl_find_model(c, model), "PrimaryContainer"), "Image"));
    if (!image) continue;
    size_t i;
    json_t *have;
    int dup = 0;
    json_array_foreach(out, i, have)
      dup |= strcmp(json_string_value(json_object_get(have, "SpecifiedImage")), image) == 0;
    if (!dup)
      json_array_append_new(out, json_pack("{s:s,s:s,s:f}", "SpecifiedImage", image,
                                           "ResolvedImage", image, "ResolutionTime", x->created));
  }
  return out;
}

/* VariantStatus: what the variant is doing now ([] while it simply
 * serves), as SageMaker lists it. */
static json_t *variant_status(const endpoint *ep, int current, int desired) {
  const char *status = ep->status == ENDPOINT_CREATING ? "Creating"
                     : ep->status == ENDPOINT_UPDATING ? "Updating"
                     : ep->status == ENDPOINT_DELETING ? "Deleting"
                     : current != desired ? "Updating" : NULL;
  if (!status) return json_array();
  char msg[160];
  snprintf(msg, sizeof msg, "%d of %d instances in service", current, desired);
  return json_pack("[{s:s,s:s,s:f}]", "Status", status, "StatusMessage", msg, "StartTime",
                   ep->modified);
}

/* InstancePools of a variant as DescribeEndpoint shows them: each pool's
 * type and its running instances, in the config's order. */
static json_t *instance_pools(ctl *c, const endpoint *ep, const variant *v) {
  json_t *out = json_array();
  for (int k = 0; k < v->n_pools; k++) {
    int n = 0;
    for (instance *in = c->instances; in; in = in->next)
      n += strcmp(in->endpoint, ep->name) == 0 && strcmp(in->variant, v->name) == 0 &&
           in->state == INSTANCE_RUNNING && in->type &&
           strcmp(in->type->name, v->pools[k].instance_type) == 0;
    json_array_append_new(out, json_pack("{s:s,s:i}", "InstanceType", v->pools[k].instance_type,
                                         "CurrentInstanceCount", n));
  }
  return out;
}

static int describe_endpoint(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *name;
  if (valid_string(req, "EndpointName", "EndpointName", 1, 63, &name, e)) return -1;
  endpoint *ep = ctl_find_endpoint(c, name);
  if (!ep) return api_fail(e, 400, "ValidationException", "Could not find endpoint \"%s\".", name);
  char arn[256];
  ctl_arn(c, "endpoint", ep->name, arn, sizeof arn);
  json_t *out = json_pack("{s:s,s:s,s:s,s:s,s:f,s:f}", "EndpointName", ep->name, "EndpointArn",
                          arn, "EndpointConfigName", ep->config_name, "EndpointStatus", endpoint_status_name(ep->status),
                          "CreationTime", ep->created, "LastModifiedTime", ep->modified);
  if (ep->failure[0]) json_object_set_new(out, "FailureReason", json_string(ep->failure));
  json_t *pvs = json_array();
  json_t *cfg_pvs = json_object_get(ep->cfg.doc, "ProductionVariants");
  for (int i = 0; i < ep->cfg.n_variants; i++) {
    const variant *v = &ep->cfg.variants[i];
    int current = count_instances(c, ep, v->name, 1);
    int desired = ic_desired_instances(c, ep, v);
    json_t *src = json_array_get(cfg_pvs, (size_t)i);
    json_t *w = json_object_get(src, "InitialVariantWeight");
    double weight = json_is_number(w) ? json_number_value(w) : 1.0;
    json_t *pv = json_pack("{s:s,s:f,s:f,s:i,s:i,s:s}", "VariantName", v->name,
                           "CurrentWeight", weight, "DesiredWeight", weight,
                           "CurrentInstanceCount", current, "DesiredInstanceCount", desired,
                           "InstanceType", v->instance_type);
    json_object_set_new(pv, "DeployedImages", variant_images(c, ep, v->name));
    if (v->n_pools > 0) json_object_set_new(pv, "InstancePools", instance_pools(c, ep, v));
    json_t *vs = variant_status(ep, current, desired);
    /* A launch that keeps failing (no capacity in any pool, or past
     * VariantInstanceProvisionTimeoutInSeconds) is the variant's reason. */
    json_t *vs0 = json_array_get(vs, 0);
    if (!vs0 && ep->launch_failing_since[i] > 0 && ep->launch_failure[0]) {
      /* Trying to add an instance: the variant is being updated. */
      char msg[160];
      snprintf(msg, sizeof msg, "%d of %d instances in service", current, desired);
      json_array_append_new(vs, json_pack("{s:s,s:s,s:f}", "Status", "Updating", "StatusMessage",
                                          msg, "StartTime",
                                          ctl_now() - (ctl_clock() - ep->launch_failing_since[i])));
      vs0 = json_array_get(vs, 0);
    }
    if (vs0 && ep->launch_failing_since[i] > 0 && ep->launch_failure[0]) {
      char msg[768];
      snprintf(msg, sizeof msg, "%s: %.600s",
               json_string_value(json_object_get(vs0, "StatusMessage")), ep->launch_failure);
      json_object_set_new(vs0, "StatusMessage", json_string(msg));
    }
    json_object_set_new(pv, "VariantStatus", vs);
    json_t *mis = json_object_get(src, "ManagedInstanceScaling");
    if (mis) json_object_set(pv, "ManagedInstanceScaling", mis);
    json_t *rc = json_object_get(src, "RoutingConfig");
    if (rc) json_object_set(pv, "RoutingConfig", rc);
    json_array_append_new(pvs, pv);
  }
  json_object_set_new(out, "ProductionVariants", pvs);
  endpoint_update_describe(ep, out);
  *resp = out;
  return 0;
}

static int delete_endpoint(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *name;
  if (valid_string(req, "EndpointName", "EndpointName", 1, 63, &name, e)) return -1;
  endpoint *ep = ctl_find_endpoint(c, name);
  if (!ep) return api_fail(e, 400, "ValidationException", "Could not find endpoint \"%s\".", name);
  char names[512] = "";
  size_t len = 0;
  int n = 0;
  for (ic *x = c->ics; x; x = x->next) {
    if (strcmp(x->endpoint, name) != 0) continue;
    if (len < sizeof names)
      len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", n ? ", " : "", x->name);
    n++;
  }
  if (n)
    return api_fail(e, 400, "ResourceInUse",
                    "Endpoint \"%s\" still has %d inference component%s (%s): delete them first "
                    "(DeleteInferenceComponent), then delete the endpoint",
                    name, n, n == 1 ? "" : "s", names);
  if (ep->status != ENDPOINT_DELETING) {
    ep->status = ENDPOINT_DELETING;
    ep->modified = ctl_now();
    if (ctl_save_endpoint(c, ep))
      return api_fail(e, 500, "InternalFailure", "could not commit the deletion to the store");
  }
  ctl_kick(c);
  *resp = json_object();
  return 0;
}

static int list_endpoints(ctl *c, json_t *req, json_t **resp, api_error *e) {
  json_t *items = json_array();
  for (endpoint *ep = c->endpoints; ep; ep = ep->next) {
    char arn[256];
    ctl_arn(c, "endpoint", ep->name, arn, sizeof arn);
    json_array_append_new(items, json_pack("{s:s,s:s,s:f,s:f,s:s}", "EndpointName", ep->name,
                                           "EndpointArn", arn, "CreationTime", ep->created,
                                           "LastModifiedTime", ep->modified, "EndpointStatus",
                                           endpoint_status_name(ep->status)));
  }
  return list_page(req, items, "EndpointName", "EndpointStatus", "Endpoints", resp, e);
}

/* ---- Models (for ICs that name a ModelName) ----
 * DeleteModel succeeds while inference components use the model, as on
 * SageMaker (it "deletes only the model entry"): they keep running, and
 * scaling, on the model as it was. Its document stays in c->models (and the
 * store) marked "Deleted" until no IC names it, so agents still get it;
 * every API call treats it as gone. */

static json_t *live_model(ctl *c, const char *name) {
  json_t *doc = ctl_find_model(c, name);
  return doc && !json_is_true(json_object_get(doc, "Deleted")) ? doc : NULL;
}

static int model_in_use(ctl *c, const char *name) {
  for (ic *x = c->ics; x; x = x->next) {
    const char *m = json_string_value(
        json_object_get(json_object_get(x->doc, "Specification"), "ModelName"));
    if (m && strcmp(m, name) == 0) return 1;
  }
  return 0;
}

/* Forgets deleted models no IC names any more. */
static void sweep_models(ctl *c) {
  const char *k;
  json_t *doc;
  void *tmp;
  json_object_foreach_safe(c->models, tmp, k, doc) {
    if (!json_is_true(json_object_get(doc, "Deleted")) || model_in_use(c, k)) continue;
    if (store_delete(c->db, "model", k) == 0) json_object_del(c->models, k);
  }
}

static int create_model(ctl *c, json_t *req, json_t **resp, api_error *e) {
  static const char *const modes[] = {"SingleModel", "MultiModel", NULL};
  const char *name, *s;
  json_t *pc, *env;
  if (valid_name(req, "ModelName", "ModelName", 1, &name, e)) return -1;
  if (valid_role_arn(req, "ExecutionRoleArn", "ExecutionRoleArn", e) ||
      tags_check(req, "Tags", "Tags", e))
    return -1;
  if (valid_object(req, "PrimaryContainer", "PrimaryContainer", 1, &pc, e) ||
      valid_string(pc, "Image", "PrimaryContainer.Image", 1, 255, &s, e) ||
      valid_url(pc, "ModelDataUrl", "PrimaryContainer.ModelDataUrl", e) ||
      valid_name(pc, "ContainerHostname", "PrimaryContainer.ContainerHostname", 0, &s, e) ||
      valid_enum(pc, "Mode", "PrimaryContainer.Mode", 0, modes, "SingleModel", &s, e) ||
      valid_object(pc, "Environment", "PrimaryContainer.Environment", 0, &env, e) ||
      model_check_environment(env, "PrimaryContainer.Environment", e) ||
      model_check_image(c, json_string_value(json_object_get(pc, "Image")),
                        "PrimaryContainer.Image", e))
    return -1;
  char arn[256];
  ctl_arn(c, "model", name, arn, sizeof arn);
  if (live_model(c, name))
    return api_fail(e, 400, "ValidationException", "Cannot create already existing model \"%s\".",
                    arn);
  json_t *doc = json_deep_copy(req);
  json_object_set_new(doc, "ModelArn", json_string(arn));
  json_object_set_new(doc, "CreationTime", json_real(ctl_now()));
  int rc = store_put(c->db, "model", name, doc);
  if (rc) {
    json_decref(doc);
    return api_fail(e, 500, "InternalFailure", "could not commit the model to the store");
  }
  json_object_set_new(c->models, name, doc);
  *resp = json_pack("{s:s}", "ModelArn", arn);
  return 0;
}

static int describe_model(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *name;
  if (valid_string(req, "ModelName", "ModelName", 1, 63, &name, e)) return -1;
  json_t *doc = live_model(c, name);
  if (!doc) return api_fail(e, 400, "ValidationException", "Could not find model \"%s\".", name);
  *resp = doc_without(doc, internal_keys);
  valid_redact_environment(json_object_get(json_object_get(*resp, "PrimaryContainer"),
                                           "Environment"));
  return 0;
}

static int delete_model(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *name;
  if (valid_string(req, "ModelName", "ModelName", 1, 63, &name, e)) return -1;
  json_t *doc = live_model(c, name);
  if (!doc)
    return api_fail(e, 400, "ValidationException", "Could not find model \"%s\".", name);
  if (model_in_use(c, name)) {
    json_t *kept = json_deep_copy(doc);
    json_object_set_new(kept, "Deleted", json_true());
    if (store_put(c->db, "model", name, kept)) {
      json_decref(kept);
      return api_fail(e, 500, "InternalFailure", "could not commit the deletion to the store");
    }
    json_object_set_new(c->models, name, kept);
  } else {
    if (store_delete(c->db, "model", name))
      return api_fail(e, 500, "InternalFailure", "could not commit the deletion to the store");
    json_object_del(c->models, name);
  }
  sweep_models(c);
  *resp = json_object();
  return 0;
}

static int list_models(ctl *c, json_t *req, json_t **resp, api_error *e) {
  json_t *items = json_array();
  const char *k;
  json_t *doc;
  json_object_foreach(c->models, k, doc) {
    if (json_is_true(json_object_get(doc, "Deleted"))) continue;
    json_array_append_new(items, json_pack("{s:s,s:O,s:O}", "ModelName", k, "ModelArn",
                                           json_object_get(doc, "ModelArn"), "CreationTime",
                                           json_object_get(doc, "CreationTime")));
  }
  return list_page(req, items, "ModelName", NULL, "Models", resp, e);
}

/* ---- Inference components ---- */

json_t *api_describe_ic(ctl *c, ic *x) {
  char arn[256], eparn[256];
  ctl_arn(c, "inference-component", x->name, arn, sizeof arn);
  ctl_arn(c, "endpoint", x->endpoint, eparn, sizeof eparn);
  json_t *spec = json_deep_copy(json_object_get(x->doc, "Specification"));
  json_t *container = json_object_get(spec, "Container");
  if (container) {
    const char *image = json_string_value(json_object_get(container, "Image"));
    json_object_set_new(container, "DeployedImage",
                        json_pack("{s:s,s:s,s:f}", "SpecifiedImage", image ? image : "",
                                  "ResolvedImage", image ? image : "", "ResolutionTime",
                                  x->created));
    json_object_del(container, "Image");
    valid_redact_environment(json_object_get(container, "Environment"));
  }
  json_t *out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:{s:i,s:i},s:f,s:f,s:s}",
                          "InferenceComponentName", x->name, "InferenceComponentArn", arn,
                          "EndpointName", x->endpoint, "EndpointArn", eparn, "VariantName",
                          x->variant, "Specification", spec, "RuntimeConfig", "DesiredCopyCount",
                          x->desired, "CurrentCopyCount",
                          ic_ready_copies(x) + copy_sleep_policy_sleeping(x), "CreationTime",
                          x->created, "LastModifiedTime", x->modified,
                          "InferenceComponentStatus", ic_status_name(x->status));
  /* Berth extensions (docs/sleep.md): the policy with its defaults, and
   * how many of the current copies sleep. */
  if (x->sleep.enabled) {
    json_object_set_new(json_object_get(out, "Specification"), "BerthSleepPolicy",
                        copy_sleep_policy_describe(&x->sleep));
    json_object_set_new(json_object_get(out, "RuntimeConfig"), "BerthSleepingCopyCount",
                        json_integer(copy_sleep_policy_sleeping(x)));
  }
  if (x->failure[0]) json_object_set_new(out, "FailureReason", json_string(x->failure));
  else if (json_object_get(x->doc, "UpdateFailureReason"))
    json_object_set(out, "FailureReason", json_object_get(x->doc, "UpdateFailureReason"));
  if (json_object_get(x->doc, "LastDeploymentConfig"))
    json_object_set(out, "LastDeploymentConfig", json_object_get(x->doc, "LastDeploymentConfig"));
  /* A Berth extension (SDKs ignore it): what a starting copy is waiting
   * for, e.g. its Image's pull. */
  for (const copy *cp = x->copies; cp; cp = cp->next)
    if (cp->state == COPY_STARTING && cp->detail[0]) {
      char msg[220];
      snprintf(msg, sizeof msg, "copy %lld: %s", (long long)cp->id, cp->detail);
      json_object_set_new(out, "StatusMessage", json_string(msg));
      break;
    }
  return out;
}

static int create_ic(ctl *c, json_t *req, json_t **resp, api_error *e) {
  ic tmp;
  memset(&tmp, 0, sizeof tmp);
  if (model_parse_ic(c, req, &tmp, 1, e)) return -1;
  char arn[256];
  ctl_arn(c, "inference-component", tmp.name, arn, sizeof arn);
  if (ctl_find_ic(c, tmp.name))
    return api_fail(e, 400, "ValidationException",
                    "Cannot create already existing inference component \"%s\".", arn);
  endpoint *ep = ctl_find_endpoint(c, tmp.endpoint);
  if (ep->status == ENDPOINT_DELETING || ep->status == ENDPOINT_FAILED)
    return api_fail(e, 400, "ValidationException",
                    "Endpoint \"%s\" is %s: inference components can be added to an endpoint "
                    "that is Creating or InService", ep->name, endpoint_status_name(ep->status));
  const char *model = json_string_value(
      json_object_get(json_object_get(req, "Specification"), "ModelName"));
  if (model && !live_model(c, model))
    return api_fail(e, 400, "ValidationException", "Could not find model \"%s\".", model);
  ic *x = berth_xcalloc(1, sizeof *x);
  *x = tmp;
  x->doc = json_deep_copy(req);
  x->created = x->modified = ctl_now();
  x->metrics = metrics_new(ctl_clock());
  x->status = IC_CREATING;
  json_object_set_new(x->doc, "CreationTime", json_real(x->created));
  if (ic_save(c, x)) {
    json_decref(x->doc);
    free(x);
    return api_fail(e, 500, "InternalFailure", "could not commit the inference component");
  }
  x->next = c->ics;
  c->ics = x;
  ctl_kick(c);
  *resp = json_pack("{s:s}", "InferenceComponentArn", arn);
  return 0;
}

static ic *ic_or_fail(ctl *c, json_t *req, api_error *e) {
  const char *name;
  if (valid_string(req, "InferenceComponentName", "InferenceComponentName", 1, 63, &name, e))
    return NULL;
  ic *x = ctl_find_ic(c, name);
  if (!x)
    api_fail(e, 400, "ValidationException", "Could not find inference component \"%s\".", name);
  return x;
}

static int describe_ic(ctl *c, json_t *req, json_t **resp, api_error *e) {
  ic *x = ic_or_fail(c, req, e);
  if (!x) return -1;
  *resp = api_describe_ic(c, x);
  return 0;
}

static int delete_ic(ctl *c, json_t *req, json_t **resp, api_error *e) {
  ic *x = ic_or_fail(c, req, e);
  if (!x) return -1;
  if (adapter_ic_refuse_delete(c, x, e)) return -1; /* its adapters go first */
  if (!x->deleting) {
    x->deleting = 1;
    x->status = IC_DELETING;
    x->modified = ctl_now();
    if (ic_save(c, x))
      return api_fail(e, 500, "InternalFailure", "could not commit the deletion to the store");
  }
  ctl_kick(c);
  *resp = json_object();
  return 0;
}

static int update_ic_runtime_config(ctl *c, json_t *req, json_t **resp, api_error *e) {
  json_t *drc;
  long long n;
  const char *name;
  /* Input constraints first, then existence, as SageMaker orders them. */
  if (valid_string(req, "InferenceComponentName", "InferenceComponentName", 1, 63, &name, e) ||
      valid_object(req, "DesiredRuntimeConfig", "DesiredRuntimeConfig", 1, &drc, e) ||
      valid_int(drc, "CopyCount", "DesiredRuntimeConfig.CopyCount", 1, 0, 10000, 0, &n, e))
    return -1;
  ic *x = ic_or_fail(c, req, e);
  if (!x) return -1;
  if (x->deleting)
    return api_fail(e, 400, "ValidationException",
                    "Inference component \"%s\" is being deleted and cannot be updated", x->name);
  if (x->base[0])
    return api_fail(e, 400, "ValidationException",
                    "Inference component \"%s\" is an adapter of \"%s\": it has no copies of "
                    "its own (scale its base instead)", x->name, x->base);
  if (ic_set_desired(c, x, (int)n, "UpdateInferenceComponentRuntimeConfig"))
    return api_fail(e, 500, "InternalFailure", "could not commit the update to the store");
  char arn[256];
  ctl_arn(c, "inference-component", x->name, arn, sizeof arn);
  *resp = json_pack("{s:s}", "InferenceComponentArn", arn);
  return 0;
}

/* A Failed IC has no copies to keep serving: it takes the new document at
 * once and is created again (a copy that cannot start fails it again). */
static int replace_failed(ctl *c, ic *x, json_t *doc, const sched_need *need) {
  json_t *old = x->doc;
  x->doc = json_incref(doc);
  x->rev++;
  json_object_set_new(x->doc, "Revision", json_integer(x->rev));
  x->need = *need;
  x->failed_sticky = 0;
  x->failure[0] = '\0';
  x->status = IC_CREATING;
  x->modified = ctl_now();
  int rc = ic_save(c, x);
  json_decref(old);
  ctl_kick(c);
  return rc;
}

/* A rolling update of x to doc, committed before it returns 0. */
static int begin_rollout(ctl *c, ic *x, json_t *doc, const sched_need *need, json_t *dc) {
  rollout_begin(x, doc, need, dc);
  int rc = ic_save(c, x);
  if (rc) rollout_undo(x); /* not committed: the IC stays as it was */
  else ctl_kick(c);
  return rc;
}

static int update_ic(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *name;
  json_t *spec, *rc, *dc;
  long long n = 0;
  /* Input constraints first, then existence, as SageMaker orders them. */
  if (valid_name(req, "InferenceComponentName", "InferenceComponentName", 1, &name, e) ||
      valid_object(req, "Specification", "Specification", 0, &spec, e) ||
      valid_object(req, "RuntimeConfig", "RuntimeConfig", 0, &rc, e) ||
      (rc && valid_int(rc, "CopyCount", "RuntimeConfig.CopyCount", 1, 0, 10000, 0, &n, e)) ||
      valid_object(req, "DeploymentConfig", "DeploymentConfig", 0, &dc, e) ||
      rollout_check_config(dc, e))
    return -1;
  if (json_object_get(req, "Specifications"))
    return api_fail(e, 400, "ValidationException",
                    "Specifications (several specifications in one inference component) is not "
                    "supported: give one Specification");
  if (!spec && !rc)
    return api_fail(e, 400, "ValidationException",
                    "UpdateInferenceComponent needs a Specification or a RuntimeConfig (or both): "
                    "the request changes nothing");
  ic *x = ctl_find_ic(c, name);
  if (!x)
    return api_fail(e, 400, "ValidationException", "Could not find inference component \"%s\".",
                    name);
  char arn[256];
  ctl_arn(c, "inference-component", x->name, arn, sizeof arn);
  if (x->deleting || x->rollout || x->status == IC_CREATING)
    return api_fail(e, 400, "ValidationException",
                    "Cannot update in-progress inference component \"%s\": it is %s%s; wait until "
                    "it is InService (or Failed), then update it", arn,
                    ic_status_name(x->status),
                    x->rollout ? (x->rollout->rolling_back ? " (rolling back an update)"
                                                           : " (a rolling update is in progress)")
                               : "");
  endpoint *ep = ctl_find_endpoint(c, x->endpoint);
  if (spec && ep && ep->status == ENDPOINT_UPDATING)
    return api_fail(e, 400, "ValidationException",
                    "Cannot update inference component \"%s\" while its endpoint \"%s\" is "
                    "Updating: wait until the endpoint is InService", arn, x->endpoint);
  if (spec && json_object_get(x->doc, "Specification") &&
      json_object_get(json_object_get(x->doc, "Specification"), "BaseInferenceComponentName"))
    return api_fail(e, 400, "ValidationException",
                    "Inference component \"%s\" is an adapter: its Specification cannot be updated "
                    "in place; create a new adapter and delete this one", arn);
  /* The whole request the IC would have been created with, checked by the
   * same rules as CreateInferenceComponent. */
  json_t *doc = json_deep_copy(x->doc);
  json_object_del(doc, "Rollout");
  if (spec) json_object_set(doc, "Specification", spec);
  if (rc) json_object_set_new(doc, "RuntimeConfig", json_pack("{s:I}", "CopyCount", (json_int_t)n));
  ic tmp;
  memset(&tmp, 0, sizeof tmp);
  if (model_parse_ic(c, doc, &tmp, 1, e)) {
    json_decref(doc);
    return -1;
  }
  const char *model = json_string_value(json_object_get(spec, "ModelName"));
  if (model && !ctl_find_model(c, model)) {
    json_decref(doc);
    return api_fail(e, 400, "ValidationException", "Could not find model \"%s\".", model);
  }
  int err = 0;
  if (rc && !spec) {
    err = ic_set_desired(c, x, (int)n, "UpdateInferenceComponent");
  } else {
    if (rc) x->desired = (int)n;
    x->strategy = tmp.strategy;
    x->sleep = tmp.sleep; /* BerthSleepPolicy (docs/sleep.md) */
    err = x->status == IC_FAILED ? replace_failed(c, x, doc, &tmp.need)
                                 : begin_rollout(c, x, doc, &tmp.need, dc);
  }
  json_decref(doc);
  if (err) return api_fail(e, 500, "InternalFailure", "could not commit the update to the store");
  *resp = json_pack("{s:s}", "InferenceComponentArn", arn);
  return 0;
}

static int list_ics(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *ep_eq, *var_eq;
  if (valid_string(req, "EndpointNameEquals", "EndpointNameEquals", 0, 63, &ep_eq, e) ||
      valid_string(req, "VariantNameEquals", "VariantNameEquals", 0, 63, &var_eq, e))
    return -1;
  json_t *items = json_array();
  for (ic *x = c->ics; x; x = x->next) {
    if (ep_eq && strcmp(ep_eq, x->endpoint) != 0) continue;
    if (var_eq && strcmp(var_eq, x->variant) != 0) continue;
    char arn[256], eparn[256];
    ctl_arn(c, "inference-component", x->name, arn, sizeof arn);
    ctl_arn(c, "endpoint", x->endpoint, eparn, sizeof eparn);
    json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:s}",
                                           "InferenceComponentName", x->name,
                                           "InferenceComponentArn", arn, "EndpointName",
                                           x->endpoint, "EndpointArn", eparn, "VariantName",
                                           x->variant, "CreationTime", x->created,
                                           "LastModifiedTime", x->modified,
                                           "InferenceComponentStatus", ic_status_name(x->status)));
  }
  return list_page(req, items, "InferenceComponentName", "InferenceComponentStatus",
                   "InferenceComponents", resp, e);
}

/* ---- Berth extension: instances and their reservations ---- */

static const char *copy_state_name(copy_state s) {
  static const char *const names[] = {"Pending", "Starting", "Ready", "Draining", "Stopping",
                                      "Restarting", "Sleeping"};
  return names[s];
}

static double percent(int64_t used, int64_t cap) {
  return cap > 0 ? 100.0 * (double)used / (double)cap : 0;
}

static int64_t devices_used_milli(const sched_instance *r) {
  int64_t s = 0;
  for (int d = 0; d < r->n_devices; d++) s += r->dev_milli_used[d];
  return s;
}

static int describe_instances(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *only;
  if (valid_string(req, "EndpointName", "EndpointName", 0, 63, &only, e)) return -1;
  if (only && !ctl_find_endpoint(c, only))
    return api_fail(e, 400, "ValidationException", "Could not find endpoint \"%s\".", only);
  json_t *list = json_array();
  for (instance *in = c->instances; in; in = in->next) {
    if (only && strcmp(in->endpoint, only) != 0) continue;
    const sched_instance *r = &in->res;
    json_t *copies = json_array();
    for (ic *x = c->ics; x; x = x->next)
      for (copy *cp = x->copies; cp; cp = cp->next) {
        if (cp->inst != in) continue;
        json_t *devs = ctl_devices_json(&cp->assign);
        json_array_append_new(copies, json_pack("{s:s,s:I,s:s,s:o}", "InferenceComponentName",
                                                x->name, "CopyId", (json_int_t)cp->id, "State",
                                                copy_state_name(cp->state), "Devices", devs));
      }
    char id[32];
    snprintf(id, sizeof id, "i-%lld", (long long)in->id);
    const char *state = !in->endpoint[0] ? "Free" : in->evacuating ? "Consolidating" : "InService";
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:I,s:I,s:i,s:I},s:{s:I,s:I,s:f,s:I},s:o}",
        "InstanceId", id, "EndpointName", in->endpoint, "VariantName", in->variant,
        "InstanceType", in->type->name, "Provider", in->agent ? "local" : "pool", "Address",
        in->address, "State", state, "Capacity", "CpuMillicores",
        (json_int_t)r->cpu_milli, "MemoryMb", (json_int_t)r->mem_mb, "AcceleratorDevices",
        r->n_devices, "AcceleratorMemoryMb", (json_int_t)r->dev_mem_mb, "Reserved",
        "CpuMillicores", (json_int_t)r->cpu_milli_used, "MemoryMb", (json_int_t)r->mem_mb_used,
        "AcceleratorDevices", (double)devices_used_milli(r) / 1000.0, "AcceleratorMemoryMb",
        (json_int_t)0, "Copies", copies);
    int64_t dev_mem = 0;
    for (int d = 0; d < r->n_devices; d++) dev_mem += r->dev_mem_mb_used[d];
    json_object_set_new(json_object_get(o, "Reserved"), "AcceleratorMemoryMb",
                        json_integer(dev_mem));
    /* Physical device indices of its host; a copy's Devices index into it
     * ([] when the devices are simulated). */
    json_t *phys = json_array();
    for (int d = 0; d < in->n_host_devices; d++)
      json_array_append_new(phys, json_integer(in->host_devices[d]));
    json_object_set_new(o, "AcceleratorDevices", phys);
    /* What runs container Images there ("podman 4.3.1"; "none"). */
    json_object_set_new(o, "ContainerRuntime", json_string(in->container_runtime));
    /* The catalog's on-demand price (the console's cost per hour). */
    json_object_set_new(o, "PricePerHour", json_real(in->type->price_per_hour));
    json_array_append_new(list, o);
  }
  json_t *eps = json_array();
  for (endpoint *ep = c->endpoints; ep; ep = ep->next) {
    if (only && strcmp(ep->name, only) != 0) continue;
    int64_t cpu = 0, cpu_used = 0, mem = 0, mem_used = 0, dev = 0, dev_used = 0;
    for (instance *in = c->instances; in; in = in->next) {
      if (strcmp(in->endpoint, ep->name) != 0) continue;
      cpu += in->res.cpu_milli;
      cpu_used += in->res.cpu_milli_used;
      mem += in->res.mem_mb;
      mem_used += in->res.mem_mb_used;
      dev += (int64_t)in->res.n_devices * 1000;
      dev_used += devices_used_milli(&in->res);
    }
    json_array_append_new(eps, json_pack("{s:s,s:f,s:f,s:f}", "EndpointName", ep->name,
                                         "CPUReservation", percent(cpu_used, cpu),
                                         "MemoryReservation", percent(mem_used, mem),
                                         "GPUReservation", percent(dev_used, dev)));
  }
  *resp = json_pack("{s:o,s:o}", "Instances", list, "Endpoints", eps);
  return 0;
}

static const api_operation operations[] = {
  {"CreateEndpointConfig", create_endpoint_config},
  {"DescribeEndpointConfig", describe_endpoint_config},
  {"DeleteEndpointConfig", delete_endpoint_config},
  {"ListEndpointConfigs", list_endpoint_configs},
  {"CreateEndpoint", create_endpoint},
  {"DescribeEndpoint", describe_endpoint},
  {"DeleteEndpoint", delete_endpoint},
  {"ListEndpoints", list_endpoints},
  {"UpdateEndpoint", endpoint_update_call},
  {"CreateModel", create_model},
  {"DescribeModel", describe_model},
  {"DeleteModel", delete_model},
  {"ListModels", list_models},
  {"CreateInferenceComponent", create_ic},
  {"DescribeInferenceComponent", describe_ic},
  {"DeleteInferenceComponent", delete_ic},
  {"ListInferenceComponents", list_ics},
  {"UpdateInferenceComponentRuntimeConfig", update_ic_runtime_config},
  {"UpdateInferenceComponent", update_ic},
  {"AddTags", tags_add},
  {"ListTags", tags_list},
  {"DeleteTags", tags_delete},
};

int api_sagemaker(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e) {
  return api_dispatch(operations, sizeof operations / sizeof operations[0], "SageMaker", c, op,
                      req, resp, e);
}

/* ---- HTTP ---- */

static void respond_json_as(berth_http_req *req, ctl *c, int status, json_t *body,
                            const char *error_type, const char *content_type,
                            const char *query_error) {
  char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
  char reqid[40];
  snprintf(reqid, sizeof reqid, "%08llx-berth-%012llx", (unsigned long long)req->start_ms,
           (unsigned long long)++c->request_seq);
  berth_http_header h[4] = {{"content-type", content_type},
                            {"x-amzn-requestid", reqid},
                            {"x-amzn-errortype", error_type},
                            {"x-amzn-query-error", query_error}};
  size_t nh = error_type ? (query_error ? 4 : 3) : 2;
  berth_http_respond(req, status, h, nh, text, strlen(text));
  free(text);
}

static void respond_json(berth_http_req *req, ctl *c, int status, json_t *body,
                         const char *error_type) {
  respond_json_as(req, c, status, body, error_type, "application/x-amz-json-1.1", NULL);
}

static void respond_error(berth_http_req *req, ctl *c, const api_error *e) {
  json_t *body = json_pack("{s:s,s:s}", "__type", e->type, "message", e->message);
  respond_json(req, c, e->status, body, e->type);
  json_decref(body);
}

void api_format_error(int status, const char *message, void *body, const char **content_type,
                      const char **error_type, void *ud) {
  (void)ud;
  const char *type = status == 413 ? "ValidationException"
                   : status == 503 ? "ServiceUnavailable"
                   : status >= 500 ? "InternalFailure" : "SerializationException";
  json_t *j = json_pack("{s:s,s:s}", "__type", type, "message", message);
  char *text = json_dumps(j, JSON_COMPACT);
  berth_buf_appends(body, text);
  free(text);
  json_decref(j);
  *content_type = "application/x-amz-json-1.1";
  *error_type = type;
}

/* An answer held until the store has committed what its call changed. */
typedef struct held_answer {
  berth_http_req *req;          /* NULL once the client is gone */
  ctl *c;
  int rc;
  json_t *resp;
  api_error e;
  int commit_rc;
  int cloudwatch;               /* answer in CloudWatch's JSON 1.0 shape */
} held_answer;

/* A CloudWatch answer: JSON 1.0, errors with their query code. */
static void respond_cloudwatch(berth_http_req *req, ctl *c, int rc, json_t *resp,
                               const api_error *e) {
  if (!rc) {
    respond_json_as(req, c, 200, resp, NULL, "application/x-amz-json-1.0", NULL);
    return;
  }
  json_t *err = json_pack("{s:s,s:s}", "__type", e->type, "message", e->message);
  respond_json_as(req, c, e->status, err, e->type, "application/x-amz-json-1.0",
                  cloudwatch_query_error(e));
  json_decref(err);
}

static void on_held_client_gone(berth_http_req *req) {
  held_answer *h = req->user;
  h->req = NULL;
}

static void answer_held(void *ud) {
  held_answer *h = ud;
  int rc = h->commit_rc;
  if (h->req) {
    h->req->on_abort = NULL;
    if (rc) {
      api_error e = {0};
      api_fail(&e, 500, "InternalFailure",
               "the change was made but could not be committed to the state store (%s); "
               "it is lost when berthd restarts: see berthd's log", berth_err_name(rc));
      if (h->cloudwatch) {
        snprintf(e.type, sizeof e.type, "InternalServiceFault");
        respond_cloudwatch(h->req, h->c, -1, NULL, &e);
      } else {
        respond_error(h->req, h->c, &e);
      }
    } else if (h->cloudwatch) {
      respond_cloudwatch(h->req, h->c, h->rc, h->resp, &h->e);
    } else if (h->rc) {
      respond_error(h->req, h->c, &h->e);
    } else {
      respond_json(h->req, h->c, 200, h->resp, NULL);
    }
  }
  json_decref(h->resp);
  free(h);
}

/* Committed: answered once the router serves the change too, so a client
 * that changed something and then invokes finds it routed. */
static void on_committed(void *ud, int rc) {
  held_answer *h = ud;
  h->commit_rc = rc;
  routing_when_seen(h->c, answer_held, h);
}

static held_answer *answer_after_commit(berth_http_req *req, ctl *c, int rc, json_t *resp,
                                        const api_error *e) {
  held_answer *h = berth_xcalloc(1, sizeof *h);
  h->req = req;
  h->c = c;
  h->rc = rc;
  h->resp = resp;
  h->e = *e;
  req->user = h;
  req->on_abort = on_held_client_gone;
  store_sync(c->db, on_committed, h);
  return h;
}

/* The services on the control port: their x-amz-target prefix, SigV4
 * signing name, IAM action prefix, and whether errors carry query-protocol
 * codes (CloudWatch). */
typedef struct service {
  const char *prefix, *signing_name, *action_prefix;
  int query;
} service;

static const service services[] = {
  {"SageMaker.", "sagemaker", "sagemaker", 0},
  {"AnyScaleFrontendService.", "application-autoscaling", "application-autoscaling", 0},
  {"GraniteServiceVersion20100801.", "monitoring", "cloudwatch", 1},
  {"Logs_20140328.", "logs", "logs", 0},
  {"Berth.", "sagemaker", "berth", 0},
};

static const service *service_of(const char *target) {
  for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
    if (strncmp(target, services[i].prefix, strlen(services[i].prefix)) == 0) return &services[i];
  return NULL;
}

/* Whether who may make this call: on every resource it names, as IAM
 * names them (the inference component, endpoint, endpoint config and model
 * fields, Application Auto Scaling's ResourceId), or on "*" for calls that
 * act on none in particular (List*, CloudWatch, Berth's own), whatever
 * fields their body holds: a field the operation ignores must not choose
 * what is checked. */
static int permitted(ctl *c, const service *svc, const char *op, const auth_key *who,
                     json_t *body, api_error *e) {
  char action[200], arn[400];
  snprintf(action, sizeof action, "%s:%.150s", svc->action_prefix, op);
  /* A key may always mint its own bearer tokens (as STS GetSessionToken
   * needs no permission): a token does no more than its key (tokens.h). */
  if (strcmp(action, "berth:CreateToken") == 0) return 0;
  if (svc->query || strcmp(svc->action_prefix, "berth") == 0 || strncmp(op, "List", 4) == 0)
    return auth_permit(c, who, action, "*", svc->query, e);
  static const char *const keys[][2] = {{"InferenceComponentName", "inference-component"},
                                        {"EndpointName", "endpoint"},
                                        {"EndpointConfigName", "endpoint-config"},
                                        {"ModelName", "model"}};
  int named = 0;
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *name = json_string_value(json_object_get(body, keys[i][0]));
    if (!name) continue;
    named = 1;
    ctl_arn(c, keys[i][1], name, arn, sizeof arn);
    if (auth_permit(c, who, action, arn, svc->query, e)) return -1;
  }
  /* The tag operations name their resource by ARN. */
  const char *rarn = json_string_value(json_object_get(body, "ResourceArn"));
  if (rarn && strcmp(svc->action_prefix, "sagemaker") == 0) {
    named = 1;
    if (auth_permit(c, who, action, rarn, svc->query, e)) return -1;
  }
  const char *rid = json_string_value(json_object_get(body, "ResourceId"));
  if (rid) {
    /* inference-component/NAME or endpoint/NAME/variant/V; anything else
     * names no resource Berth has and is checked as "*". */
    const char *slash = strchr(rid, '/');
    char kind[32], name[NAME_MAX_LEN + 1];
    snprintf(kind, sizeof kind, "%.*s", slash ? (int)(slash - rid) : 0, rid);
    if (slash && (strcmp(kind, "inference-component") == 0 || strcmp(kind, "endpoint") == 0)) {
      snprintf(name, sizeof name, "%.*s", (int)strcspn(slash + 1, "/"), slash + 1);
      ctl_arn(c, kind, name, arn, sizeof arn);
    } else {
      snprintf(arn, sizeof arn, "*");
    }
    named = 1;
    if (auth_permit(c, who, action, arn, svc->query, e)) return -1;
  }
  return named ? 0 : auth_permit(c, who, action, "*", svc->query, e);
}

static void respond_auth_error(berth_http_req *req, ctl *c, const service *svc,
                               const api_error *e) {
  berth_log(BERTH_LOG_DEBUG, "refused %s from %s: %s", req->path, req->peer, e->type);
  json_t *body = json_pack("{s:s,s:s}", "__type", e->type, "message", e->message);
  respond_json_as(req, c, e->status, body, e->type,
                  svc->query ? "application/x-amz-json-1.0" : "application/x-amz-json-1.1",
                  svc->query ? auth_query_error(e) : NULL);
  json_decref(body);
}

/* GET /metrics: signed (SigV4, signing name monitoring) or HTTP Basic with
 * an access key id and its secret (what Prometheus' basic_auth sends), by a
 * key allowed cloudwatch:GetMetricData. */
static int metrics_refused(berth_http_req *req, ctl *c) {
  const service *svc = service_of("GraniteServiceVersion20100801.");
  api_error e = {0};
  const auth_key *who = NULL;
  const char *authz = berth_http_req_header(req, "authorization");
  if (authz && strncmp(authz, "Basic ", 6) == 0) {
    unsigned char plain[300];
    size_t n = strlen(authz + 6);
    int len = n < 400 ? EVP_DecodeBlock(plain, (const unsigned char *)authz + 6, (int)n) : -1;
    if (len > 0) {
      plain[len] = '\0';
      char *colon = strchr((char *)plain, ':');
      if (colon) {
        *colon = '\0';
        who = auth_basic(c, (const char *)plain, colon + 1);
      }
    }
    berth_secret_wipe(plain, sizeof plain);
    if (!who && !c->auth_off) {
      api_fail(&e, 403, "InvalidClientTokenId", "the access key id or secret in the Basic "
               "Authorization header is not one of this Berth's keys");
      respond_auth_error(req, c, svc, &e);
      return 1;
    }
  }
  if ((!who && auth_verify(c, req, svc->signing_name, 1, &who, &e)) ||
      auth_permit(c, who, "cloudwatch:GetMetricData", "*", 1, &e)) {
    respond_auth_error(req, c, svc, &e);
    return 1;
  }
  return 0;
}

/* The agent and router protocols' routes. */
static int is_internal(const berth_http_req *req) {
  return strncmp(req->path, "/agent/", 7) == 0 || strncmp(req->path, "/router/", 8) == 0;
}

/* Serves an agent or router route; 0 when req is not one. */
static int serve_internal(ctl *c, berth_http_req *req) {
  if (strcmp(req->method, "POST") == 0 && strcmp(req->path, "/agent/v1/sync") == 0)
    pool_on_sync(c, req);
  else if (strcmp(req->method, "POST") == 0 && strcmp(req->path, "/agent/v1/logs") == 0)
    log_intake_on_request(c, req); /* a pool agent's copy logs */
  else if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/router/v1/snapshot") == 0)
    routing_on_snapshot(c, req);
  else if (strcmp(req->method, "POST") == 0 && strcmp(req->path, "/router/v1/report") == 0)
    routing_on_report(c, req);
  else
    return 0;
  return 1;
}

/* A controller on a shared store leads only while its lease is surely its
 * own (leader.h); otherwise it holds no state to answer from. */
static int standby(const ctl *c) {
  return c->leader && !(c->leads && leader_current(c->leader));
}

/* GET /healthz: 200 while the process serves ("ok", or "standby");
 * GET /healthz/leader: 200 on the leading controller only, for a load
 * balancer in front of several. */
static int health(berth_http_req *req, const ctl *c) {
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) return 0;
  int leads = !standby(c);
  berth_http_header h[1] = {{"content-type", "text/plain"}};
  if (strcmp(req->path, "/healthz") == 0 || strcmp(req->path, "/ping") == 0)
    berth_http_respond(req, 200, h, 1, leads ? "ok\n" : "standby\n", leads ? 3 : 8);
  else if (strcmp(req->path, "/healthz/leader") == 0)
    berth_http_respond(req, leads ? 200 : 503, h, 1, leads ? "leader\n" : "standby\n",
                       leads ? 7 : 8);
  else
    return 0;
  return 1;
}

/* A standby's answer to everything else: 503 ServiceUnavailable, which the
 * AWS SDKs retry, naming the leader (also in x-berth-leader, which agents
 * and routers follow). */
static void refuse_as_standby(berth_http_req *req, ctl *c) {
  char url[256];
  leader_url(c->leader, url, sizeof url);
  char msg[512];
  snprintf(msg, sizeof msg, "this controller is a standby%s%s; retry, or send to the leader",
           url[0] ? ": the leader is at " : " and no controller leads yet", url);
  json_t *body = json_pack("{s:s,s:s}", "__type", "ServiceUnavailable", "message", msg);
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  berth_http_header h[3] = {{"content-type", "application/x-amz-json-1.1"},
                            {"retry-after", "1"}, {"x-berth-leader", url}};
  berth_http_respond(req, 503, h, url[0] ? 3 : 2, text, strlen(text));
  free(text);
}

void api_on_agent_request(berth_http_req *req, void *ud) {
  ctl *c = ud;
  if (health(req, c)) return;
  if (standby(c)) {
    refuse_as_standby(req, c);
    return;
  }
  if (serve_internal(c, req)) return;
  berth_http_header h[1] = {{"content-type", "application/json"}};
  static const char msg[] = "{\"message\":\"this is the agent listener (--agent-listen): "
                            "it serves /agent/v1/sync and /router/v1/*; the control API is on "
                            "--control-listen\"}";
  berth_http_respond(req, 404, h, 1, msg, sizeof msg - 1);
}

void api_on_request(berth_http_req *req, void *ud) {
  ctl *c = ud;
  api_error e = {0};
  if (health(req, c)) return;
  if (standby(c)) {
    char to[256];
    leader_url(c->leader, to, sizeof to);
    /* The control API and the console go on to the leader; agents and
     * routers are told where it is (they keep talking to it), and a
     * standby's /metrics would be the leader's under another name. */
    if (is_internal(req) || strcmp(req->path, "/metrics") == 0 ||
        forward_to_leader(c, req, to) != 0)
      refuse_as_standby(req, c);
    return;
  }
  if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/metrics") == 0) {
    if (metrics_refused(req, c)) return;
    berth_buf page;
    berth_buf_init(&page, 16u << 20);
    prometheus_render(c, &page);
    berth_http_header h[1] = {{"content-type", "text/plain; version=0.0.4; charset=utf-8"}};
    berth_http_respond(req, 200, h, 1, page.data ? page.data : "", page.len);
    berth_buf_free(&page);
    return;
  }
  if (console_serve(c, req)) return;
  if (c->agent_listener ? is_internal(req) : serve_internal(c, req)) {
    if (c->agent_listener) {
      berth_http_header h[1] = {{"content-type", "application/json"}};
      static const char msg[] = "{\"message\":\"agents and routers use --agent-listen\"}";
      berth_http_respond(req, 404, h, 1, msg, sizeof msg - 1);
    }
    return;
  }
  if (strcmp(req->method, "POST") != 0 || strcmp(req->path, "/") != 0) {
    api_fail(&e, 404, "UnknownOperationException",
             "%s %s is not a Berth control API route: send POST / with an x-amz-target header",
             req->method, req->path);
    respond_error(req, c, &e);
    return;
  }
  const char *target = berth_http_req_header(req, "x-amz-target");
  if (!target) {
    api_fail(&e, 400, "UnknownOperationException",
             "missing x-amz-target header (expected SageMaker.<Operation>)");
    respond_error(req, c, &e);
    return;
  }
  const service *svc = service_of(target);
  if (!svc) {
    api_fail(&e, 400, "UnknownOperationException",
             "x-amz-target '%.100s' names no service Berth serves (SageMaker.*, "
             "AnyScaleFrontendService.*, GraniteServiceVersion20100801.*, Logs_20140328.*, "
             "Berth.*)", target);
    respond_error(req, c, &e);
    return;
  }
  const char *op = target + strlen(svc->prefix);
  const auth_key *who;
  /* The web console's calls carry its session cookie instead (console.h). */
  int by_console = console_auth(c, req, &who, &e);
  if (by_console < 0 ||
      (by_console == 1 && auth_verify(c, req, svc->signing_name, svc->query, &who, &e))) {
    respond_auth_error(req, c, svc, &e);
    return;
  }
  json_error_t jerr;
  json_t *body = req->body_len ? json_loadb(req->body, req->body_len, 0, &jerr) : json_object();
  if (!body) {
    api_fail(&e, 400, "SerializationException", "the request body is not valid JSON: %s at "
             "line %d column %d", jerr.text, jerr.line, jerr.column);
    respond_error(req, c, &e);
    return;
  }
  if (permitted(c, svc, op, who, body, &e)) {
    json_decref(body);
    respond_auth_error(req, c, svc, &e);
    return;
  }
  json_t *resp = NULL;
  int rc;
  uint64_t writes_before = store_writes(c->db);
  if (strncmp(target, "SageMaker.", 10) == 0)
    rc = api_sagemaker(c, target + 10, body, &resp, &e);
  else if (strcmp(target, "Berth.DescribeInstances") == 0)
    rc = json_is_object(body) ? describe_instances(c, body, &resp, &e)
                              : api_fail(&e, 400, "SerializationException",
                                         "the request body must be a JSON object");
  else if (strcmp(target, "Berth.RevokeAgent") == 0)
    rc = json_is_object(body) ? pool_revoke_call(c, body, &resp, &e)
                              : api_fail(&e, 400, "SerializationException",
                                         "the request body must be a JSON object");
  else if (strcmp(target, "Berth.CreateToken") == 0)
    rc = json_is_object(body) ? tokens_create_call(c, who->name, who->id, who->secret, body,
                                                   &resp, &e)
                              : api_fail(&e, 400, "SerializationException",
                                         "the request body must be a JSON object");
  else if (strncmp(target, "Berth.", 6) == 0 && (rc = keys_call(c, op, body, &resp, &e)) != 1)
    ;
  else if (strncmp(target, "AnyScaleFrontendService.", 24) == 0)
    rc = aas_call(c, target + 24, body, &resp, &e);
  else if (strncmp(target, "Logs_20140328.", 14) == 0)
    rc = logs_call(c, target + 14, body, &resp, &e);
  else if (strncmp(target, "GraniteServiceVersion20100801.", 30) == 0) {
    /* Alarms first: alarms.c reads metrics through cloudwatch.c. */
    rc = alarms_call(c, target + 30, body, &resp, &e);
    if (rc == 1) rc = cloudwatch_call(c, target + 30, body, &resp, &e);
    json_decref(body);
    if (store_writes(c->db) != writes_before) {
      /* An alarm changed: answered once it is durable. */
      answer_after_commit(req, c, rc, resp, &e)->cloudwatch = 1;
      return;
    }
    respond_cloudwatch(req, c, rc, resp, &e);
    json_decref(resp);
    return;
  } else
    rc = api_fail(&e, 400, "UnknownOperationException",
                  "Berth.%.100s is not an operation of Berth's own API (DescribeInstances, "
                  "RevokeAgent, CreateAccessKey, ListAccessKeys, DeleteAccessKey, "
                  "CreateToken)", op);
  json_decref(body);
  if (store_writes(c->db) != writes_before) {
    ctl_kick(c); /* agents and routers hear of it now */
    /* Durable before acknowledged: answer once the change is committed. */
    answer_after_commit(req, c, rc, resp, &e);
    return;
  }
  if (rc) {
    respond_error(req, c, &e);
    return;
  }
  respond_json(req, c, 200, resp, NULL);
  json_decref(resp);
}

/* model: validation and parsing of endpoint configs and inference
 * components, shared by the API and by loading state at start-up. */
#include "model.h"
#include "copy_sleep_policy.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "adapter_ic.h"
#include "container.h"
#include "instance_enum.h"
#include "tags.h"

/* POWER_OF_TWO_CHOICES is an extension (a new value, no changed meaning). */
static const char *const routing_values[] = {"LEAST_OUTSTANDING_REQUESTS", "RANDOM",
                                             "PREFIX_AWARE", "POWER_OF_TWO_CHOICES", NULL};
static const char *const status_values[] = {"ENABLED", "DISABLED", NULL};
static const char *const scale_in_values[] = {"IDLE_RELEASE", "CONSOLIDATION", NULL};
static const char *const placement_values[] = {"SPREAD", "BINPACK", NULL};

/* RoutingConfig.PrefixAwareRoutingConfig: required with PREFIX_AWARE (both
 * members too: SageMaker names no defaults), refused with any other
 * strategy, as SageMaker documents it. path: the RoutingConfig's. */
static int parse_prefix_aware(json_t *rc, const char *path, variant *v, api_error *e) {
  char p3[256], p4[320];
  json_t *pa;
  long long n;
  int prefix = v->routing == BERTH_ROUTE_PREFIX_AWARE;
  snprintf(p3, sizeof p3, "%s.PrefixAwareRoutingConfig", path);
  if (valid_object(rc, "PrefixAwareRoutingConfig", p3, prefix, &pa, e)) return -1;
  if (!prefix) {
    if (pa)
      return api_fail(e, 400, "ValidationException",
                      "%s may be specified only when %s.RoutingStrategy is PREFIX_AWARE (it is "
                      "%s): remove it or set RoutingStrategy to PREFIX_AWARE",
                      p3, path, json_string_value(json_object_get(rc, "RoutingStrategy")));
    return 0;
  }
  snprintf(p4, sizeof p4, "%s.PrefixLength", p3);
  if (valid_int(pa, "PrefixLength", p4, 1, 1024, 65536, 0, &n, e)) return -1;
  v->prefix.length = (uint32_t)n;
  snprintf(p4, sizeof p4, "%s.ConcurrencyThreshold", p3);
  if (valid_int(pa, "ConcurrencyThreshold", p4, 1, 1, 1024, 0, &n, e)) return -1;
  v->prefix.threshold = (uint32_t)n;
  return 0;
}

/* An instance type a variant names at path: SageMaker's enum or the
 * catalog's; an enum type runs only when the catalog says what it has. */
static int check_instance_type(ctl *c, const char *itype, const char *path, api_error *e) {
  if (!berth_catalog_find(&c->catalog, itype) && instance_enum_has(itype))
    return api_fail(e, 400, "ValidationException",
                    "Value '%s' at '%s' is a SageMaker instance type that Berth's catalog %s "
                    "does not describe (cores, memory, accelerators): add it there, or use "
                    "one it has (for example ml.m5.xlarge, ml.g5.2xlarge or local)",
                    itype, path, berth_catalog_default_path());
  if (!berth_catalog_find(&c->catalog, itype))
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                    "constraint: Member must satisfy enum value set: [ml.t2.medium, "
                    "ml.m5.xlarge, ml.g5.2xlarge, ... (the service model's %s)] or be an "
                    "instance type of the catalog %s (for example ml.m5.xlarge, "
                    "ml.g5.2xlarge or local)",
                    itype, path, "ProductionVariantInstanceType", berth_catalog_default_path());
  return 0;
}

/* InstanceType, or InstancePools (1..5 {InstanceType, Priority 1..5}, each
 * type and each priority once; not both with InstanceType). With pools,
 * v->instance_type is the Priority 1 pool's type (the lowest Priority
 * number), so code that needs one type of the variant has one. */
static int parse_instance_types(ctl *c, json_t *pv, const char *path, variant *v,
                                api_error *e) {
  char p2[192], p3[256];
  const char *itype;
  json_t *pools;
  snprintf(p2, sizeof p2, "%s.InstancePools", path);
  if (valid_array(pv, "InstancePools", p2, 0, 1, MAX_INSTANCE_POOLS, &pools, e)) return -1;
  if (!pools) {
    json_t *it = json_object_get(pv, "InstanceType");
    if (!it || json_is_null(it))
      return api_fail(e, 400, "ValidationException",
                      "1 validation error detected: Value null at '%s.InstanceType' failed to "
                      "satisfy constraint: Member must not be null (give InstanceType, or "
                      "InstancePools: Berth has no serverless variants)", path);
    snprintf(p2, sizeof p2, "%s.InstanceType", path);
    if (valid_string(pv, "InstanceType", p2, 1, 63, &itype, e)) return -1;
    if (check_instance_type(c, itype, p2, e)) return -1;
    snprintf(v->instance_type, sizeof v->instance_type, "%s", itype);
    return 0;
  }
  json_t *it = json_object_get(pv, "InstanceType");
  if (it && !json_is_null(it))
    return api_fail(e, 400, "ValidationException",
                    "%s.InstanceType and %s.InstancePools were both given: a variant names "
                    "its instance type either way, not both (remove InstanceType)", path, path);
  size_t i;
  json_t *ip;
  int best = 0;
  json_array_foreach(pools, i, ip) {
    snprintf(p3, sizeof p3, "%s.%zu", p2, i + 1);
    if (!json_is_object(ip))
      return api_fail(e, 400, "ValidationException",
                      "1 validation error detected: Value at '%s' failed to satisfy "
                      "constraint: Member must be a structure", p3);
    char p4[320];
    snprintf(p4, sizeof p4, "%s.InstanceType", p3);
    if (valid_string(ip, "InstanceType", p4, 1, 63, &itype, e)) return -1;
    if (check_instance_type(c, itype, p4, e)) return -1;
    long long prio;
    snprintf(p4, sizeof p4, "%s.Priority", p3);
    if (valid_int(ip, "Priority", p4, 1, 1, MAX_INSTANCE_POOLS, 0, &prio, e)) return -1;
    if (json_object_get(ip, "ModelNameOverride"))
      return api_fail(e, 400, "ValidationException",
                      "%s.ModelNameOverride is not supported by Berth: every pool of a variant "
                      "runs the variant's inference components as they are (remove it)", p3);
    for (int k = 0; k < v->n_pools; k++) {
      if (strcmp(v->pools[k].instance_type, itype) == 0)
        return api_fail(e, 400, "ValidationException",
                        "InstanceType '%s' appears more than once in %s: each instance pool "
                        "of a variant must have its own instance type", itype, p2);
      if (v->pools[k].priority == (int)prio)
        return api_fail(e, 400, "ValidationException",
                        "Priority %lld appears more than once in %s: each instance pool of a "
                        "variant must have its own priority (1 highest)", prio, p2);
    }
    variant_pool *vp = &v->pools[v->n_pools++];
    snprintf(vp->instance_type, sizeof vp->instance_type, "%s", itype);
    vp->priority = (int)prio;
    if (vp->priority < v->pools[best].priority) best = v->n_pools - 1;
  }
  memcpy(v->instance_type, v->pools[best].instance_type, sizeof v->instance_type);
  return 0;
}

int model_parse_config(ctl *c, json_t *req, endpoint_config *cfg, api_error *e) {
  const char *name;
  json_t *pvs;
  if (valid_name(req, "EndpointConfigName", "EndpointConfigName", 1, &name, e)) return -1;
  if (valid_array(req, "ProductionVariants", "ProductionVariants", 1, 1, 10, &pvs, e)) return -1;
  if (tags_check(req, "Tags", "Tags", e) ||
      valid_role_arn(req, "ExecutionRoleArn", "ExecutionRoleArn", e) ||
      valid_kms_key(req, "KmsKeyId", "KmsKeyId", e))
    return -1;
  snprintf(cfg->name, sizeof cfg->name, "%s", name);
  cfg->n_variants = 0;
  size_t i;
  json_t *pv;
  json_array_foreach(pvs, i, pv) {
    char path[128], p2[192];
    snprintf(path, sizeof path, "ProductionVariants.%zu", i + 1);
    if (!json_is_object(pv))
      return api_fail(e, 400, "ValidationException",
                      "1 validation error detected: Value at '%s' failed to satisfy "
                      "constraint: Member must be a structure", path);
    variant *v = &cfg->variants[cfg->n_variants];
    memset(v, 0, sizeof *v);
    const char *vname, *s;
    long long n;
    snprintf(p2, sizeof p2, "%s.VariantName", path);
    if (valid_name(pv, "VariantName", p2, 1, &vname, e)) return -1;
    for (int k = 0; k < cfg->n_variants; k++)
      if (strcmp(cfg->variants[k].name, vname) == 0)
        return api_fail(e, 400, "ValidationException",
                        "VariantName '%s' appears more than once in ProductionVariants: "
                        "variant names must be unique within an endpoint config", vname);
    snprintf(v->name, sizeof v->name, "%s", vname);
    if (parse_instance_types(c, pv, path, v, e)) return -1;
    snprintf(p2, sizeof p2, "%s.InitialInstanceCount", path);
    if (valid_int(pv, "InitialInstanceCount", p2, 1, 1, 1000, 1, &n, e)) return -1;
    v->initial_instances = (int)n;
    snprintf(p2, sizeof p2, "%s.InitialVariantWeight", path);
    double w;
    if (valid_number(pv, "InitialVariantWeight", p2, 0, 0, 1e6, 1, &w, e)) return -1;
    snprintf(p2, sizeof p2, "%s.VolumeSizeInGB", path);
    if (valid_int(pv, "VolumeSizeInGB", p2, 0, 1, 512, 0, &n, e)) return -1;
    snprintf(p2, sizeof p2, "%s.VariantInstanceProvisionTimeoutInSeconds", path);
    if (valid_int(pv, "VariantInstanceProvisionTimeoutInSeconds", p2, 0, 300, 3600, 0, &n, e))
      return -1;
    v->provision_timeout_s = (int)n;
    snprintf(p2, sizeof p2, "%s.ModelName", path);
    if (valid_name(pv, "ModelName", p2, 0, &s, e)) return -1;
    snprintf(p2, sizeof p2, "%s.ModelDataDownloadTimeoutInSeconds", path);
    if (valid_int(pv, "ModelDataDownloadTimeoutInSeconds", p2, 0, 60, 3600, 600, &n, e)) return -1;
    snprintf(p2, sizeof p2, "%s.ContainerStartupHealthCheckTimeoutInSeconds", path);
    if (valid_int(pv, "ContainerStartupHealthCheckTimeoutInSeconds", p2, 0, 60, 3600, 600, &n, e))
      return -1;
    json_t *mis, *rc;
    snprintf(p2, sizeof p2, "%s.ManagedInstanceScaling", path);
    if (valid_object(pv, "ManagedInstanceScaling", p2, 0, &mis, e)) return -1;
    v->min_instances = v->initial_instances;
    v->max_instances = v->initial_instances;
    if (mis) {
      char p3[256];
      snprintf(p3, sizeof p3, "%s.Status", p2);
      if (valid_enum(mis, "Status", p3, 0, status_values, "DISABLED", &s, e)) return -1;
      v->managed_scaling = strcmp(s, "ENABLED") == 0;
      long long mn, mx;
      snprintf(p3, sizeof p3, "%s.MinInstanceCount", p2);
      if (valid_int(mis, "MinInstanceCount", p3, 0, 0, 1000, v->initial_instances, &mn, e)) return -1;
      snprintf(p3, sizeof p3, "%s.MaxInstanceCount", p2);
      if (valid_int(mis, "MaxInstanceCount", p3, 0, 1, 1000, v->initial_instances, &mx, e)) return -1;
      if (mn > mx)
        return api_fail(e, 400, "ValidationException",
                        "%s.MinInstanceCount (%lld) must be less than or equal to "
                        "MaxInstanceCount (%lld)", p2, mn, mx);
      json_t *sip;
      snprintf(p3, sizeof p3, "%s.ScaleInPolicy", p2);
      if (valid_object(mis, "ScaleInPolicy", p3, 0, &sip, e)) return -1;
      v->max_step = 1;
      v->cooldown_min = 20;
      if (sip) {
        char p4[320];
        snprintf(p4, sizeof p4, "%s.Strategy", p3);
        if (valid_enum(sip, "Strategy", p4, 1, scale_in_values, "IDLE_RELEASE", &s, e)) return -1;
        v->consolidation = strcmp(s, "CONSOLIDATION") == 0;
        snprintf(p4, sizeof p4, "%s.MaximumStepSize", p3);
        if (valid_int(sip, "MaximumStepSize", p4, 0, 1, 100, 1, &n, e)) return -1;
        v->max_step = (int)n;
        snprintf(p4, sizeof p4, "%s.CooldownInMinutes", p3);
        if (valid_int(sip, "CooldownInMinutes", p4, 0, 5, 1440, 20, &n, e)) return -1;
        v->cooldown_min = (int)n;
      }
      v->min_instances = (int)mn;
      v->max_instances = (int)mx;
    }
    snprintf(p2, sizeof p2, "%s.RoutingConfig", path);
    if (valid_object(pv, "RoutingConfig", p2, 0, &rc, e)) return -1;
    v->routing = BERTH_ROUTE_RANDOM;
    if (rc) {
      char p3[256];
      snprintf(p3, sizeof p3, "%s.RoutingStrategy", p2);
      if (valid_enum(rc, "RoutingStrategy", p3, 1, routing_values, NULL, &s, e)) return -1;
      if (strcmp(s, "LEAST_OUTSTANDING_REQUESTS") == 0) v->routing = BERTH_ROUTE_LEAST_OUTSTANDING;
      if (strcmp(s, "POWER_OF_TWO_CHOICES") == 0) v->routing = BERTH_ROUTE_P2C;
      if (strcmp(s, "PREFIX_AWARE") == 0) v->routing = BERTH_ROUTE_PREFIX_AWARE;
      if (parse_prefix_aware(rc, p2, v, e)) return -1;
    }
    cfg->n_variants++;
  }
  return 0;
}

int model_parse_need(json_t *crr, sched_need *need, api_error *e) {
  const char *p = "Specification.ComputeResourceRequirements";
  char path[128];
  double cpus, devices, min_mem, max_mem, dev_mem;
  memset(need, 0, sizeof *need);
  snprintf(path, sizeof path, "%s.NumberOfCpuCoresRequired", p);
  if (valid_number(crr, "NumberOfCpuCoresRequired", path, 0, 0.25, 4096, 0, &cpus, e)) return -1;
  snprintf(path, sizeof path, "%s.MinMemoryRequiredInMb", p);
  if (valid_number(crr, "MinMemoryRequiredInMb", path, 1, 128, 1e8, 0, &min_mem, e)) return -1;
  snprintf(path, sizeof path, "%s.MaxMemoryRequiredInMb", p);
  if (valid_number(crr, "MaxMemoryRequiredInMb", path, 0, 128, 1e8, min_mem, &max_mem, e)) return -1;
  if (max_mem < min_mem)
    return api_fail(e, 400, "ValidationException",
                    "%s.MaxMemoryRequiredInMb (%g) must be greater than or equal to "
                    "MinMemoryRequiredInMb (%g)", p, max_mem, min_mem);
  snprintf(path, sizeof path, "%s.NumberOfAcceleratorDevicesRequired", p);
  /* Extension: a share below 1 lets small models share a device. */
  if (valid_number(crr, "NumberOfAcceleratorDevicesRequired", path, 0, 0.01, SCHED_MAX_DEVICES,
                   0, &devices, e))
    return -1;
  if (devices > 1 && floor(devices) != devices)
    return api_fail(e, 400, "ValidationException",
                    "1 validation error detected: Value '%g' at '%s' failed to satisfy "
                    "constraint: Member must be a whole number of devices, or a share "
                    "below 1 (Berth extension)", devices, path);
  snprintf(path, sizeof path, "%s.AcceleratorMemoryRequiredInMb", p);
  if (valid_number(crr, "AcceleratorMemoryRequiredInMb", path, 0, 0, 1e8, 0, &dev_mem, e))
    return -1;
  need->cpu_milli = (int64_t)llround(cpus * 1000);
  need->mem_mb = (int64_t)ceil(min_mem);
  need->dev_milli = (int32_t)llround(devices * 1000);
  need->dev_mem_mb = (int64_t)ceil(dev_mem);
  return 0;
}

int model_check_environment(json_t *env, const char *field, api_error *e) {
  if (!env) return 0;
  if (json_object_size(env) > 100)
    return api_fail(e, 400, "ValidationException", "%s has %zu entries: at most 100 are allowed",
                    field, json_object_size(env));
  const char *k;
  json_t *val;
  json_object_foreach(env, k, val) {
    /* SageMaker's own pattern; it also keeps a name from being a pattern
     * for the container engine ("AWS_*"). */
    size_t len = strlen(k);
    if (len == 0 || len > 1024 || (k[0] >= '0' && k[0] <= '9') ||
        k[strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")])
      return api_fail(e, 400, "ValidationException",
                      "1 validation error detected: Value '%.200s' at '%s' failed to satisfy "
                      "constraint: Map keys must satisfy constraint: [Member must have length "
                      "less than or equal to 1024, Member must satisfy regular expression "
                      "pattern: [a-zA-Z_][a-zA-Z0-9_]*]", k, field);
    if (!json_is_string(val))
      return api_fail(e, 400, "ValidationException",
                      "1 validation error detected: Value at '%s.%s' failed to satisfy "
                      "constraint: Member must be a string", field, k);
    if (json_string_length(val) > 1024)
      return api_fail(e, 400, "ValidationException",
                      "1 validation error detected: Value at '%s.%s' failed to satisfy "
                      "constraint: Map value must have length less than or equal to 1024 "
                      "(it has %zu)", field, k, json_string_length(val));
  }
  return 0;
}

int model_check_image(ctl *c, const char *image, const char *field, api_error *e) {
  if (image && container_is_image(image)) {
    char why[600];
    if (container_reference_check(image, why, sizeof why) != 0)
      return api_fail(e, 400, "ValidationException", "%s: %s", field, why);
    return 0;
  }
  if (!image || strcmp(image, "berth-model") == 0 || image[0] != '/') return 0;
  char program[PATH_MAX], resolved[PATH_MAX];
  int rc = copy_policy_program(image, program, sizeof program);
  if (rc == -EINVAL)
    return api_fail(e, 400, "ValidationException",
                    "%s: the program of Image '%s' must be a literal absolute path ($VAR is "
                    "expanded only in its arguments)", field, image);
  if (rc)
    return api_fail(e, 400, "ValidationException", "%s: the program of Image '%s' is too long",
                    field, image);
  if (copy_policy_check(&c->policy, program, resolved, sizeof resolved) == 0) return 0;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", resolved);
  char *slash = strrchr(dir, '/');
  if (slash) slash[slash == dir] = '\0';
  char via[PATH_MAX + 32] = "";
  if (strcmp(program, resolved) != 0)
    snprintf(via, sizeof via, " (which is '%s')", resolved);
  return api_fail(e, 400, "ValidationException",
                  "%s: Image program '%s'%s is not under a directory berthd allows "
                  "(--allow-exec DIR); start berthd with --allow-exec %s to run it", field,
                  program, via, dir);
}

int model_parse_ic(ctl *c, json_t *req, ic *out, int check_endpoint, api_error *e) {
  const char *name, *epname, *vname, *s;
  json_t *spec, *container, *crr, *rt, *sp, *sc;
  long long n;
  if (valid_name(req, "InferenceComponentName", "InferenceComponentName", 1, &name, e)) return -1;
  if (valid_name(req, "EndpointName", "EndpointName", 1, &epname, e)) return -1;
  /* An adapter (LoRA) has a shape of its own: no copies, no resources. */
  if (adapter_ic_is(req)) return adapter_ic_parse(c, req, out, check_endpoint, e);
  if (valid_name(req, "VariantName", "VariantName", 1, &vname, e)) return -1;
  if (valid_object(req, "Specification", "Specification", 1, &spec, e)) return -1;
  if (valid_object(req, "RuntimeConfig", "RuntimeConfig", 1, &rt, e)) return -1;
  if (valid_int(rt, "CopyCount", "RuntimeConfig.CopyCount", 1, 0, 10000, 1, &n, e)) return -1;
  if (tags_check(req, "Tags", "Tags", e)) return -1;
  if (valid_object(spec, "Container", "Specification.Container", 0, &container, e)) return -1;
  if (valid_name(spec, "ModelName", "Specification.ModelName", 0, &s, e)) return -1;
  if (!container && !s)
    return api_fail(e, 400, "ValidationException",
                    "Specification must name a Container (with an Image) or a ModelName");
  if (container) {
    if (valid_string(container, "Image", "Specification.Container.Image", !s, 255, &s, e)) return -1;
    if (check_endpoint && model_check_image(c, s, "Specification.Container.Image", e)) return -1;
    if (valid_url(container, "ArtifactUrl", "Specification.Container.ArtifactUrl", e)) return -1;
    json_t *env;
    if (valid_object(container, "Environment", "Specification.Container.Environment", 0, &env, e))
      return -1;
    if (model_check_environment(env, "Specification.Container.Environment", e)) return -1;
  }
  if (valid_object(spec, "ComputeResourceRequirements", "Specification.ComputeResourceRequirements",
                   1, &crr, e))
    return -1;
  if (model_parse_need(crr, &out->need, e)) return -1;
  long long t;
  if (valid_object(spec, "StartupParameters", "Specification.StartupParameters", 0, &sp, e)) return -1;
  if (valid_int(sp, "ModelDataDownloadTimeoutInSeconds",
                "Specification.StartupParameters.ModelDataDownloadTimeoutInSeconds", 0, 60, 3600,
                600, &t, e))
    return -1;
  if (valid_int(sp, "ContainerStartupHealthCheckTimeoutInSeconds",
                "Specification.StartupParameters.ContainerStartupHealthCheckTimeoutInSeconds", 0,
                60, 3600, 600, &t, e))
    return -1;
  out->startup_timeout_s = (int)t;
  if (valid_object(req, "SchedulingConfig", "SchedulingConfig", 0, &sc, e)) return -1;
  if (!sc) valid_object(spec, "SchedulingConfig", "Specification.SchedulingConfig", 0, &sc, e);
  if (valid_enum(sc, "PlacementStrategy", "SchedulingConfig.PlacementStrategy", sc != NULL,
                 placement_values, "SPREAD", &s, e))
    return -1;
  out->strategy = strcmp(s, "BINPACK") == 0 ? SCHED_BINPACK : SCHED_SPREAD;
  /* A Berth extension: idle copies sleep (docs/sleep.md). */
  if (copy_sleep_policy_parse(spec, &out->sleep, e)) return -1;
  if (check_endpoint) {
    endpoint *ep = ctl_find_endpoint(c, epname);
    if (!ep)
      return api_fail(e, 400, "ValidationException", "Could not find endpoint \"%s\".", epname);
    if (!ctl_endpoint_variant(ep, vname))
      return api_fail(e, 400, "ValidationException",
                      "Could not find variant \"%s\" on endpoint \"%s\": its endpoint config "
                      "\"%s\" has no such ProductionVariant", vname, epname, ep->config_name);
  }
  snprintf(out->name, sizeof out->name, "%s", name);
  snprintf(out->endpoint, sizeof out->endpoint, "%s", epname);
  snprintf(out->variant, sizeof out->variant, "%s", vname);
  out->desired = (int)n;
  return 0;
}

/* cmd_deploy: `berth deploy` and `berth scale`, the commands that place
 * inference component copies and wait for them.
 *
 * deploy creates the endpoint (and its config "<EP>-config") when it does not
 * exist yet, waits for it to be InService because an inference component
 * needs a running endpoint, creates the inference component and, unless
 * --no-wait, waits for it. One deadline (--wait-timeout) covers all waiting. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "wait.h"

#define MAX_COUNT 10000L
#define DEFAULT_WAIT_S 600L

static const char deploy_usage[] =
  "usage: berth deploy IC --endpoint EP [flags]\n"
  "\n"
  "Creates inference component IC on endpoint EP and waits until it is\n"
  "InService. Creates EP (and endpoint config EP-config) first if it does not\n"
  "exist.\n"
  "\n"
  "endpoint (used only when EP is created):\n"
  "  --instance-type T      instance type (default ml.m5.xlarge)\n"
  "  --instance-count N     initial instances (default 1)\n"
  "  --min-instances N      with --max-instances: enable managed instance scaling\n"
  "  --max-instances N\n"
  "  --routing R            RANDOM, LEAST_OUTSTANDING_REQUESTS or POWER_OF_TWO_CHOICES\n"
  "inference component:\n"
  "  --image IMG            container image (default berth-model)\n"
  "  --artifact URL         model artifact URL\n"
  "  --env K=V              container environment variable (repeatable)\n"
  "  --cpus F               CPU cores per copy (default 1, at least 0.25)\n"
  "  --memory MB            memory per copy in MiB (default 1024, at least 128)\n"
  "  --accelerators N       accelerator devices per copy\n"
  "  --copies N             copies to run (default 1)\n"
  "waiting:\n"
  "  --wait-timeout S       give up after S seconds (default 600)\n"
  "  --no-wait              return once the inference component is accepted\n";

static const char scale_usage[] =
  "usage: berth scale IC N [--wait] [--wait-timeout S]\n"
  "\n"
  "Sets the desired copy count of inference component IC to N.\n"
  "\n"
  "  --wait             wait until IC is InService with N copies\n"
  "  --wait-timeout S   give up waiting after S seconds (default 600)\n";

typedef struct deploy_opts {
  const char *ic, *endpoint;
  const char *instance_type;
  long instance_count;
  long min_instances, max_instances;  /* -1: not given */
  const char *routing;
  const char *image, *artifact;
  json_t *env;  /* object */
  double cpus;
  long memory_mb;
  long accelerators;  /* -1: not given */
  long copies;
  long wait_timeout;
  bool no_wait;
  bool endpoint_flags;  /* an endpoint-shaping flag was given */
} deploy_opts;

static void parse_deploy(deploy_opts *o, int argc, char **argv) {
  const char *v;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (berth__args_is_help(a)) {
      fputs(deploy_usage, stdout);
      exit(BERTH_EXIT_OK);
    } else if (berth__args_value(argc, argv, &i, "--endpoint", &v)) {
      o->endpoint = v;
    } else if (berth__args_value(argc, argv, &i, "--instance-type", &v)) {
      if (!*v) berth__usage_error("--instance-type: empty value");
      o->instance_type = v;
      o->endpoint_flags = true;
    } else if (berth__args_value(argc, argv, &i, "--instance-count", &v)) {
      o->instance_count = berth__args_long("--instance-count", v, 1, MAX_COUNT);
      o->endpoint_flags = true;
    } else if (berth__args_value(argc, argv, &i, "--min-instances", &v)) {
      o->min_instances = berth__args_long("--min-instances", v, 0, MAX_COUNT);
      o->endpoint_flags = true;
    } else if (berth__args_value(argc, argv, &i, "--max-instances", &v)) {
      o->max_instances = berth__args_long("--max-instances", v, 1, MAX_COUNT);
      o->endpoint_flags = true;
    } else if (berth__args_value(argc, argv, &i, "--routing", &v)) {
      if (strcmp(v, "RANDOM") != 0 && strcmp(v, "LEAST_OUTSTANDING_REQUESTS") != 0 &&
          strcmp(v, "POWER_OF_TWO_CHOICES") != 0)
        berth__usage_error("--routing: '%s' is not RANDOM, LEAST_OUTSTANDING_REQUESTS or "
                           "POWER_OF_TWO_CHOICES", v);
      o->routing = v;
      o->endpoint_flags = true;
    } else if (berth__args_value(argc, argv, &i, "--image", &v)) {
      if (!*v) berth__usage_error("--image: empty value");
      o->image = v;
    } else if (berth__args_value(argc, argv, &i, "--artifact", &v)) {
      o->artifact = v;
    } else if (berth__args_value(argc, argv, &i, "--env", &v)) {
      const char *eq = strchr(v, '=');
      if (!eq || eq == v) berth__usage_error("--env: '%s' is not KEY=VALUE", v);
      char key[256];
      if ((size_t)(eq - v) >= sizeof key) berth__usage_error("--env: key too long in '%s'", v);
      snprintf(key, sizeof key, "%.*s", (int)(eq - v), v);
      json_object_set_new(o->env, key, json_string(eq + 1));
    } else if (berth__args_value(argc, argv, &i, "--cpus", &v)) {
      o->cpus = berth__args_double("--cpus", v, 0.25, 4096);
    } else if (berth__args_value(argc, argv, &i, "--memory", &v)) {
      o->memory_mb = berth__args_long("--memory", v, 128, 16L * 1024 * 1024);
    } else if (berth__args_value(argc, argv, &i, "--accelerators", &v)) {
      o->accelerators = berth__args_long("--accelerators", v, 1, 1024);
    } else if (berth__args_value(argc, argv, &i, "--copies", &v)) {
      o->copies = berth__args_long("--copies", v, 0, MAX_COUNT);
    } else if (berth__args_value(argc, argv, &i, "--wait-timeout", &v)) {
      o->wait_timeout = berth__args_long("--wait-timeout", v, 1, 7L * 24 * 3600);
    } else if (strcmp(a, "--no-wait") == 0) {
      o->no_wait = true;
    } else if (a[0] == '-' || o->ic) {
      berth__args_unknown(a);
    } else {
      o->ic = a;
    }
  }
  if (!o->ic) berth__usage_error("missing inference component name");
  if (!o->endpoint) berth__usage_error("missing --endpoint EP");
  if ((o->min_instances < 0) != (o->max_instances < 0))
    berth__usage_error("--min-instances and --max-instances go together");
  if (o->min_instances > o->max_instances)
    berth__usage_error("--min-instances %ld is above --max-instances %ld",
                       o->min_instances, o->max_instances);
}

static json_t *endpoint_config_request(const deploy_opts *o, const char *config) {
  json_t *variant = json_pack("{s:s, s:I, s:s}", "VariantName", "AllTraffic",
                              "InitialInstanceCount", (json_int_t)o->instance_count,
                              "InstanceType", o->instance_type);
  if (o->min_instances >= 0)
    json_object_set_new(variant, "ManagedInstanceScaling",
                        json_pack("{s:s, s:I, s:I}", "Status", "ENABLED",
                                  "MinInstanceCount", (json_int_t)o->min_instances,
                                  "MaxInstanceCount", (json_int_t)o->max_instances));
  if (o->routing)
    json_object_set_new(variant, "RoutingConfig",
                        json_pack("{s:s}", "RoutingStrategy", o->routing));
  return json_pack("{s:s, s:[o]}", "EndpointConfigName", config,
                   "ProductionVariants", variant);
}

static json_t *ic_request(const deploy_opts *o) {
  json_t *container = json_pack("{s:s}", "Image", o->image);
  if (o->artifact) json_object_set_new(container, "ArtifactUrl", json_string(o->artifact));
  if (json_object_size(o->env)) json_object_set(container, "Environment", o->env);
  json_t *compute = json_pack("{s:f, s:I}", "NumberOfCpuCoresRequired", o->cpus,
                              "MinMemoryRequiredInMb", (json_int_t)o->memory_mb);
  if (o->accelerators > 0)
    json_object_set_new(compute, "NumberOfAcceleratorDevicesRequired",
                        json_integer(o->accelerators));
  return json_pack("{s:s, s:s, s:s, s:{s:o, s:o}, s:{s:I}}",
                   "InferenceComponentName", o->ic, "EndpointName", o->endpoint,
                   "VariantName", "AllTraffic",
                   "Specification", "Container", container,
                   "ComputeResourceRequirements", compute,
                   "RuntimeConfig", "CopyCount", (json_int_t)o->copies);
}

/* Calls `op` with `req` (stolen); prints the error and returns -1 on failure.
 * On success the response is dropped. */
static int call(berth_cli *cli, const char *op, json_t *req, berth_cli_error *err) {
  json_t *resp = NULL;
  int rc = berth__control_call(cli, op, req, &resp, err);
  json_decref(req);
  json_decref(resp);
  return rc;
}

/* Creates the endpoint and its config when the endpoint does not exist. */
static int ensure_endpoint(berth_cli *cli, const deploy_opts *o) {
  berth_cli_error err;
  json_t *ep = NULL;
  json_t *req = json_pack("{s:s}", "EndpointName", o->endpoint);
  int rc = berth__control_call(cli, "DescribeEndpoint", req, &ep, &err);
  json_decref(req);
  if (rc == 0) {
    if (o->endpoint_flags)
      fprintf(stderr, "berth: note: endpoint %s exists; its instance settings are "
              "left as they are\n", o->endpoint);
    json_decref(ep);
    return 0;
  }
  if (!berth__error_not_found(&err)) {
    berth__error_print(&err);
    return -1;
  }

  char config[160];
  snprintf(config, sizeof config, "%s-config", o->endpoint);
  if (call(cli, "CreateEndpointConfig", endpoint_config_request(o, config), &err) != 0) {
    /* A config left behind by an earlier endpoint is reused as it is. */
    if (!strstr(err.message, "already exist")) {
      berth__error_print(&err);
      return -1;
    }
    fprintf(stderr, "berth: note: reusing existing endpoint config %s\n", config);
  }
  if (call(cli, "CreateEndpoint",
           json_pack("{s:s, s:s}", "EndpointName", o->endpoint, "EndpointConfigName", config),
           &err) != 0) {
    berth__error_print(&err);
    return -1;
  }
  printf("creating endpoint %s (config %s: %ld x %s)\n", o->endpoint, config,
         o->instance_count, o->instance_type);
  fflush(stdout);
  return 0;
}

int berth__cmd_deploy(berth_cli *cli, int argc, char **argv) {
  deploy_opts o = {
    .instance_type = "ml.m5.xlarge", .instance_count = 1,
    .min_instances = -1, .max_instances = -1,
    .image = "berth-model", .env = json_object(),
    .cpus = 1, .memory_mb = 1024, .accelerators = -1, .copies = 1,
    .wait_timeout = DEFAULT_WAIT_S,
  };
  int exit_code = BERTH_EXIT_FAIL;
  berth_cli_error err;
  json_t *final = NULL;

  parse_deploy(&o, argc, argv);
  double start = berth__now();
  double deadline = start + (double)o.wait_timeout;

  if (ensure_endpoint(cli, &o) != 0) goto out;
  if (berth__wait_endpoint(cli, o.endpoint, start, deadline) != 0) goto out;
  if (call(cli, "CreateInferenceComponent", ic_request(&o), &err) != 0) {
    berth__error_print(&err);
    goto out;
  }
  if (o.no_wait) {
    printf("creating %s on endpoint %s with %ld cop%s (follow it with 'berth ics "
           "--endpoint %s')\n", o.ic, o.endpoint, o.copies, o.copies == 1 ? "y" : "ies",
           o.endpoint);
    exit_code = BERTH_EXIT_OK;
    goto out;
  }
  if (berth__wait_ic(cli, o.ic, "deploying", -1, start, deadline, &final) != 0) goto out;
  double copies = berth__json_num(json_object_get(final, "RuntimeConfig"),
                                  "CurrentCopyCount", 0);
  printf("%s is InService with %.0f cop%s on endpoint %s\n", o.ic, copies,
         copies == 1 ? "y" : "ies", o.endpoint);
  exit_code = BERTH_EXIT_OK;
out:
  json_decref(final);
  json_decref(o.env);
  return exit_code;
}

int berth__cmd_scale(berth_cli *cli, int argc, char **argv) {
  const char *ic = NULL, *count_arg = NULL, *v;
  long wait_timeout = DEFAULT_WAIT_S;
  bool wait = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (berth__args_is_help(a)) {
      fputs(scale_usage, stdout);
      return BERTH_EXIT_OK;
    } else if (strcmp(a, "--wait") == 0) {
      wait = true;
    } else if (berth__args_value(argc, argv, &i, "--wait-timeout", &v)) {
      wait_timeout = berth__args_long("--wait-timeout", v, 1, 7L * 24 * 3600);
    } else if (a[0] == '-' && !(a[1] >= '0' && a[1] <= '9')) {
      berth__args_unknown(a);
    } else if (!ic) {
      ic = a;
    } else if (!count_arg) {
      count_arg = a;
    } else {
      berth__args_unknown(a);
    }
  }
  if (!ic) berth__usage_error("missing inference component name");
  if (!count_arg) berth__usage_error("missing copy count N");
  long copies = berth__args_long("copy count", count_arg, 0, MAX_COUNT);

  berth_cli_error err;
  double start = berth__now();
  json_t *req = json_pack("{s:s, s:{s:I}}", "InferenceComponentName", ic,
                          "DesiredRuntimeConfig", "CopyCount", (json_int_t)copies);
  if (call(cli, "UpdateInferenceComponentRuntimeConfig", req, &err) != 0) {
    berth__error_print(&err);
    return BERTH_EXIT_FAIL;
  }
  printf("%s: desired copies set to %ld\n", ic, copies);
  fflush(stdout);
  if (!wait) return BERTH_EXIT_OK;
  if (berth__wait_ic(cli, ic, "scaling", copies, start, start + (double)wait_timeout,
                     NULL) != 0)
    return BERTH_EXIT_FAIL;
  printf("%s is InService with %ld cop%s\n", ic, copies, copies == 1 ? "y" : "ies");
  return BERTH_EXIT_OK;
}

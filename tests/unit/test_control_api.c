/* The SageMaker control operations driven directly (no HTTP): validation
 * messages name the field, the value and the rule; objects persist in the
 * store and load back; lists filter, sort and page. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "check.h"
#include "reconcile.h"
#include "store.h"

static ctl c;

static json_t *call(const char *op, const char *body, api_error *e) {
  json_error_t jerr;
  json_t *req = json_loads(body, 0, &jerr);
  if (!req) {
    fprintf(stderr, "bad test JSON: %s: %s\n", body, jerr.text);
    exit(2);
  }
  json_t *resp = NULL;
  memset(e, 0, sizeof *e);
  int rc = api_sagemaker(&c, op, req, &resp, e);
  json_decref(req);
  return rc ? NULL : resp;
}

/* Each bad request must fail with a message containing every fragment. */
static void expect_invalid(const char *op, const char *body, const char *frag1, const char *frag2) {
  api_error e;
  json_t *r = call(op, body, &e);
  CHECK(r == NULL);
  json_decref(r);
  CHECK_STR(e.type, "ValidationException");
  if (!strstr(e.message, frag1) || (frag2 && !strstr(e.message, frag2))) {
    fprintf(stderr, "  message was: %s\n", e.message);
    CHECK(!"message names the field and value");
  }
}

static void init_ctl(const char *dir) {
  memset(&c, 0, sizeof c);
  c.loop = uv_default_loop();
  c.loop->data = &c;
  snprintf(c.data_dir, sizeof c.data_dir, "%s", dir);
  snprintf(c.region, sizeof c.region, "us-east-1");
  snprintf(c.account, sizeof c.account, "000000000000");
  char err[256];
  CHECK_INT(berth_catalog_load(NULL, &c.catalog, err, sizeof err), 0);
  CHECK_INT(store_open(c.loop, NULL, dir, &c.db, err, sizeof err), 0);
  CHECK_INT(ctl_load(&c), 0);
  uv_timer_init(c.loop, &c.tick);
  uv_timer_init(c.loop, &c.kick);
  c.kick.data = c.tick.data = &c;
}

#define CFG(name, extra)                                                               \
  "{\"EndpointConfigName\":\"" name "\",\"ProductionVariants\":[{\"VariantName\":"      \
  "\"AllTraffic\",\"InstanceType\":\"ml.m5.xlarge\",\"InitialInstanceCount\":1" extra "}]}"

int main(void) {
  /* The decision clock reads like wall time and never goes back. */
  double t0 = ctl_clock(), w0 = ctl_now();
  CHECK(t0 > w0 - 2 && t0 < w0 + 2);
  double prev = t0;
  for (int i = 0; i < 100000; i++) {
    double t = ctl_clock();
    CHECK(t >= prev);
    if (t < prev) break;
    prev = t;
  }
  char dir[] = "/tmp/berth-test-api.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  init_ctl(dir);
  api_error e;

  expect_invalid("CreateEndpointConfig", CFG("-x", ""), "'-x'", "EndpointConfigName");
  expect_invalid("CreateEndpointConfig", CFG("bad_name!", ""), "regular expression", "bad_name!");
  expect_invalid("CreateEndpointConfig",
                 CFG("a123456789012345678901234567890123456789012345678901234567890123", ""),
                 "length less than or equal to 63", NULL);
  expect_invalid("CreateEndpointConfig",
                 "{\"EndpointConfigName\":\"x\",\"ProductionVariants\":[{\"VariantName\":\"v\","
                 "\"InstanceType\":\"ml.m5.xlarge\",\"InitialInstanceCount\":0}]}",
                 "ProductionVariants.1.InitialInstanceCount", "greater than or equal to 1");
  expect_invalid("CreateEndpointConfig",
                 "{\"EndpointConfigName\":\"x\",\"ProductionVariants\":[{\"VariantName\":\"v\","
                 "\"InstanceType\":\"ml.nope\",\"InitialInstanceCount\":1}]}",
                 "'ml.nope'", "InstanceType");
  expect_invalid("CreateEndpointConfig", "{\"EndpointConfigName\":\"x\",\"ProductionVariants\":[]}",
                 "ProductionVariants", "length greater than or equal to 1");
  expect_invalid("CreateEndpointConfig", CFG("x", ",\"RoutingConfig\":{\"RoutingStrategy\":\"FASTEST\"}"),
                 "'FASTEST'", "LEAST_OUTSTANDING_REQUESTS");
  expect_invalid("CreateEndpointConfig", CFG("x", ",\"ContainerStartupHealthCheckTimeoutInSeconds\":59"),
                 "ContainerStartupHealthCheckTimeoutInSeconds", "60");
  expect_invalid("CreateEndpointConfig", "{\"ProductionVariants\":[]}", "EndpointConfigName",
                 "must not be null");

  json_t *r = call("CreateEndpointConfig", CFG("cfg", ",\"ManagedInstanceScaling\":{\"Status\":"
                   "\"ENABLED\",\"MinInstanceCount\":1,\"MaxInstanceCount\":3}"), &e);
  CHECK(r != NULL);
  CHECK_STR(json_string_value(json_object_get(r, "EndpointConfigArn")),
            "arn:aws:sagemaker:us-east-1:000000000000:endpoint-config/cfg");
  json_decref(r);
  r = call("CreateEndpointConfig", CFG("cfg", ""), &e);
  CHECK(r == NULL);
  CHECK(strstr(e.message, "already existing") != NULL);

  expect_invalid("CreateEndpoint", "{\"EndpointName\":\"ep\",\"EndpointConfigName\":\"nope\"}",
                 "Could not find endpoint configuration", "nope");
  r = call("CreateEndpoint", "{\"EndpointName\":\"ep\",\"EndpointConfigName\":\"cfg\"}", &e);
  CHECK(r != NULL);
  json_decref(r);

#define IC(name, crr, copies)                                                            \
  "{\"InferenceComponentName\":\"" name "\",\"EndpointName\":\"ep\",\"VariantName\":"      \
  "\"AllTraffic\",\"Specification\":{\"Container\":{\"Image\":\"berth-model\"},"         \
  "\"ComputeResourceRequirements\":" crr "},\"RuntimeConfig\":{\"CopyCount\":" copies "}}"
  expect_invalid("CreateInferenceComponent",
                 IC("a", "{\"NumberOfCpuCoresRequired\":0.1,\"MinMemoryRequiredInMb\":256}", "1"),
                 "NumberOfCpuCoresRequired", "0.25");
  expect_invalid("CreateInferenceComponent",
                 IC("a", "{\"NumberOfCpuCoresRequired\":1,\"MinMemoryRequiredInMb\":64}", "1"),
                 "MinMemoryRequiredInMb", "'64'");
  expect_invalid("CreateInferenceComponent", IC("a", "{\"NumberOfCpuCoresRequired\":1}", "1"),
                 "MinMemoryRequiredInMb", "must not be null");
  expect_invalid("CreateInferenceComponent",
                 IC("a", "{\"NumberOfCpuCoresRequired\":1,\"MinMemoryRequiredInMb\":256}", "-1"),
                 "RuntimeConfig.CopyCount", "'-1'");
  expect_invalid("CreateInferenceComponent",
                 IC("a-", "{\"NumberOfCpuCoresRequired\":1,\"MinMemoryRequiredInMb\":256}", "1"),
                 "InferenceComponentName", "'a-'");
  expect_invalid("CreateInferenceComponent",
                 IC("a_b", "{\"NumberOfCpuCoresRequired\":1,\"MinMemoryRequiredInMb\":256}", "1"),
                 "InferenceComponentName", "[a-zA-Z0-9])?$");

  const char *names[] = {"gamma", "alpha", "beta"};
  for (int i = 0; i < 3; i++) {
    char body[1024];
    snprintf(body, sizeof body,
             "{\"InferenceComponentName\":\"%s\",\"EndpointName\":\"ep\",\"VariantName\":"
             "\"AllTraffic\",\"Specification\":{\"Container\":{\"Image\":\"berth-model\"},"
             "\"ComputeResourceRequirements\":{\"NumberOfCpuCoresRequired\":1,"
             "\"MinMemoryRequiredInMb\":256}},\"RuntimeConfig\":{\"CopyCount\":1}}",
             names[i]);
    r = call("CreateInferenceComponent", body, &e);
    CHECK(r != NULL);
    json_decref(r);
  }
  /* Delete refused while ICs are on the endpoint, naming them. */
  r = call("DeleteEndpoint", "{\"EndpointName\":\"ep\"}", &e);
  CHECK(r == NULL);
  CHECK_STR(e.type, "ResourceInUse");
  CHECK(strstr(e.message, "alpha") != NULL);

  /* Sorted by name ascending, one per page. */
  r = call("ListInferenceComponents", "{\"SortBy\":\"Name\",\"SortOrder\":\"Ascending\","
           "\"MaxResults\":2}", &e);
  CHECK(r != NULL);
  json_t *items = json_object_get(r, "InferenceComponents");
  CHECK_INT(json_array_size(items), 2);
  CHECK_STR(json_string_value(json_object_get(json_array_get(items, 0), "InferenceComponentName")),
            "alpha");
  const char *token = json_string_value(json_object_get(r, "NextToken"));
  CHECK(token != NULL);
  char body[256];
  snprintf(body, sizeof body, "{\"SortBy\":\"Name\",\"SortOrder\":\"Ascending\",\"MaxResults\":2,"
           "\"NextToken\":\"%s\"}", token ? token : "");
  json_decref(r);
  r = call("ListInferenceComponents", body, &e);
  CHECK(r != NULL);
  items = json_object_get(r, "InferenceComponents");
  CHECK_INT(json_array_size(items), 1);
  CHECK_STR(json_string_value(json_object_get(json_array_get(items, 0), "InferenceComponentName")),
            "gamma");
  CHECK(json_object_get(r, "NextToken") == NULL);
  json_decref(r);
  r = call("ListInferenceComponents", "{\"NameContains\":\"et\"}", &e);
  CHECK_INT(json_array_size(json_object_get(r, "InferenceComponents")), 1);
  json_decref(r);
  expect_invalid("ListInferenceComponents", "{\"MaxResults\":0}", "MaxResults", "'0'");
  expect_invalid("ListInferenceComponents", "{\"MaxResults\":101}", "MaxResults", "100");

  r = call("UpdateInferenceComponentRuntimeConfig",
           "{\"InferenceComponentName\":\"beta\",\"DesiredRuntimeConfig\":{\"CopyCount\":3}}", &e);
  CHECK(r != NULL);
  json_decref(r);
  r = call("DescribeInferenceComponent", "{\"InferenceComponentName\":\"nope\"}", &e);
  CHECK(r == NULL);
  CHECK(strstr(e.message, "Could not find inference component") != NULL);
  r = call("NoSuchOperation", "{}", &e);
  CHECK(r == NULL);
  CHECK_STR(e.type, "UnknownOperationException");

  /* Everything acknowledged is in the store: a fresh load sees it. */
  double created = ctl_find_ic(&c, "beta")->created;
  store_close(c.db);
  ctl_free_state(&c);
  init_ctl(dir);
  ic *beta = ctl_find_ic(&c, "beta");
  CHECK(beta != NULL);
  if (beta) {
    CHECK_INT(beta->desired, 3);
    CHECK(beta->created == created);
  }
  CHECK(ctl_find_endpoint(&c, "ep") != NULL);
  CHECK(ctl_find_config(&c, "cfg") != NULL);
  CHECK_INT(ctl_find_config(&c, "cfg")->variants[0].max_instances, 3);
  store_close(c.db);
  ctl_free_state(&c);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_INT(system(cmd), 0);
  CHECK_DONE();
}

/* Unit tests for berth-sim's own modules: the event heap, the random
 * draws, scenario validation, and whole small simulations with properties
 * that must hold whatever the numbers (every request accounted for, the same
 * run twice gives the same result, nothing beats the fluid lower bound,
 * Berth holds where SageMaker fails, a lightly loaded copy serves at the
 * service time). Needs src/berth-sim (see docs/sim.md for the build). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "berth/catalog.h"
#include "check.h"
#include "demand.h"
#include "heap.h"
#include "rng.h"
#include "scenario.h"
#include "sim.h"

#ifndef BERTH_SOURCE_DIR
#define BERTH_SOURCE_DIR "."
#endif

static berth_catalog cat;

static void test_heap(void) {
  event_heap h;
  heap_init(&h, 100000);
  rng r;
  rng_seed(&r, 1, 0);
  int pushed = 0;
  for (int i = 0; i < 50000; i++) pushed += heap_push(&h, floor(rng_u01(&r) * 1000), (int32_t)(i % 3), i) == 0;
  CHECK_INT(pushed, 50000);
  sim_event prev = {-1, 0, 0}, e;
  int n = 0, ordered = 1;
  while (heap_pop(&h, &e)) {
    if (e.t < prev.t || (e.t == prev.t && (e.kind < prev.kind || (e.kind == prev.kind && e.id < prev.id))))
      ordered = 0;
    prev = e;
    n++;
  }
  CHECK(ordered);
  CHECK_INT(n, 50000);
  heap_free(&h);
  heap_init(&h, 2);
  CHECK_INT(heap_push(&h, 1, 0, 0), 0);
  CHECK_INT(heap_push(&h, 2, 0, 0), 0);
  CHECK_INT(heap_push(&h, 3, 0, 0), -ENOBUFS);
  heap_free(&h);
}

static void test_rng(void) {
  rng a, b;
  rng_seed(&a, 42, 7);
  rng_seed(&b, 42, 7);
  int same = 1;
  for (int i = 0; i < 1000; i++) same &= rng_next(&a) == rng_next(&b);
  CHECK(same);
  double sg = 0, sl = 0, se = 0;
  int n = 200000;
  for (int i = 0; i < n; i++) {
    sg += rng_gamma(&a, 0.44);
    sl += rng_lognormal_mc(&a, 500, 1.0);
    se += rng_exp(&a);
  }
  CHECK(fabs(sg / n - 0.44) < 0.01);
  CHECK(fabs(sl / n - 500) < 10);
  CHECK(fabs(se / n - 1) < 0.01);
  zipf z;
  zipf_init(&z, 10, 1.0);
  size_t count0 = 0;
  for (int i = 0; i < n; i++) count0 += zipf_draw(&z, &a) == 0;
  CHECK(fabs((double)count0 / n - zipf_weight(0, 10, 1.0)) < 0.01);
  zipf_free(&z);
}

static const char *write_tmp(const char *json) {
  static char path[256];
  snprintf(path, sizeof path, "/tmp/berth-test-sim-%d.json", (int)getpid());
  FILE *f = fopen(path, "w");
  if (!f) return NULL;
  fputs(json, f);
  fclose(f);
  return path;
}

static int load(const char *json, scenario *s, char *err, size_t errsz) {
  const char *p = write_tmp(json);
  if (!p) return -EIO;
  int rc = scenario_load(p, &cat, s, err, errsz);
  unlink(p);
  return rc;
}

static void test_scenario_errors(void) {
  scenario s;
  char err[1024];
  CHECK(load("{\"instance_types\":[\"ml.g5.2xlarge\"],\"models\":[{\"name\":\"a\",\"scalling\":{}}]}", &s, err,
             sizeof err) == -EINVAL);
  CHECK(strstr(err, "scalling") != NULL);
  CHECK(load("{\"instance_types\":[\"ml.nope\"],\"models\":[{\"name\":\"a\"}]}", &s, err, sizeof err) == -EINVAL);
  CHECK(strstr(err, "ml.nope") != NULL);
  CHECK(load("{\"instance_types\":[\"ml.g5.2xlarge\"],\"models\":[{\"name\":\"a\",\"copy\":{\"accelerators\":2}}]}",
             &s, err, sizeof err) == -EINVAL);
  CHECK(strstr(err, "does not fit") != NULL);
  CHECK(load("{\"instance_types\":[\"ml.g5.2xlarge\"],\"models\":[{\"name\":\"m\",\"count\":3}]}", &s, err,
             sizeof err) == 0);
  CHECK_INT(s.n_models, 3);
  CHECK_STR(s.models[2].name, "m-002");
  scenario_free(&s);
}

/* Two models, each busy one hour of two, scale to zero allowed. */
static const char *ALTERNATING =
    "{\"name\":\"alt\",\"duration_hours\":2,\"seed\":3,\"instance_types\":[\"ml.g5.2xlarge\"],"
    "\"endpoint\":{\"instance_start_s\":120,\"hold_max_requests\":4096,\"hold_timeout_s\":900,"
    "\"managed_instance_scaling\":{\"scale_in\":\"CONSOLIDATION\",\"max_step\":10,\"cooldown_minutes\":5}},"
    "\"model_defaults\":{\"copy\":{\"cpu_cores\":4,\"memory_mb\":16384,\"accelerators\":1},"
    "\"scaling\":{\"min_copies\":0,\"max_copies\":6,\"target\":6},"
    "\"traffic\":{\"rate_per_s\":1}},"
    "\"models\":[{\"name\":\"a\",\"traffic\":{\"active_hours\":[[0,1]]}},"
    "{\"name\":\"b\",\"traffic\":{\"active_hours\":[[1,2]]}}]}";

static void test_alternating(void) {
  scenario s;
  sim_demand d;
  char err[1024];
  sim_result r[3], again;
  if (load(ALTERNATING, &s, err, sizeof err)) {
    CHECK_FAIL_("%s", err);
    return;
  }
  CHECK_INT(demand_compute(&s, &d, err, sizeof err), 0);
  CHECK(d.requests > 5000);
  for (int p = 0; p < 3; p++) {
    CHECK_INT(sim_run(&s, &d, (sim_policy)p, &r[p], err, sizeof err), 0);
    CHECK_INT(r[p].requests, d.requests);
    CHECK_INT(r[p].ok + r[p].failed, r[p].requests);
    CHECK(r[p].cost >= d.fluid_cost * 0.999);
    CHECK(r[p].in_slo <= r[p].ok);
  }
  CHECK_INT(r[POLICY_DEDICATED].failed, 0);
  CHECK_INT(r[POLICY_BERTH].failed, 0);
  CHECK(r[POLICY_BERTH].cold_starts >= 1);
  CHECK(r[POLICY_BERTH].held > 0);
  CHECK(r[POLICY_SAGEMAKER].failed_no_capacity > 0);
  CHECK(r[POLICY_BERTH].cost < r[POLICY_DEDICATED].cost);
  /* the same input gives the same run */
  CHECK_INT(sim_run(&s, &d, POLICY_BERTH, &again, err, sizeof err), 0);
  CHECK(again.cost == r[POLICY_BERTH].cost);
  CHECK_INT(again.in_slo, r[POLICY_BERTH].in_slo);
  CHECK_INT(again.events, r[POLICY_BERTH].events);
  sim_result_free(&again);
  for (int p = 0; p < 3; p++) sim_result_free(&r[p]);
  demand_free(&d);
  scenario_free(&s);
}

/* A copy far from its concurrency limit serves at the service time: with
 * fixed token counts every latency is the same. */
static void test_light_load(void) {
  scenario s;
  sim_demand d;
  sim_result r;
  char err[1024];
  const char *json =
      "{\"duration_hours\":1,\"instance_types\":[\"ml.g5.2xlarge\"],"
      "\"model_defaults\":{\"copy\":{\"accelerators\":1},\"scaling\":{\"min_copies\":1,\"target\":6},"
      "\"service\":{\"overhead_s\":0.1,\"prefill_tokens_per_s\":1000,\"decode_tokens_per_s\":10,"
      "\"max_concurrency\":64},"
      "\"traffic\":{\"rate_per_s\":0.5,\"input_tokens\":{\"mean\":100,\"cv\":0},"
      "\"output_tokens\":{\"mean\":20,\"cv\":0}}},"
      "\"models\":[{\"name\":\"m\"}]}";
  if (load(json, &s, err, sizeof err)) {
    CHECK_FAIL_("%s", err);
    return;
  }
  CHECK_INT(demand_compute(&s, &d, err, sizeof err), 0);
  CHECK_INT(sim_run(&s, &d, POLICY_DEDICATED, &r, err, sizeof err), 0);
  double want = 0.1 + 0.1 + 2.0;
  CHECK(fabs(r.latency_mean - want) < 1e-6);
  CHECK(fabs(r.p50 - want) / want < 0.01);
  CHECK_INT(r.failed, 0);
  CHECK_INT(r.in_slo, r.requests);
  /* one always-on instance for the hour */
  CHECK(fabs(r.instance_hours - 1.0) < 1e-9);
  sim_result_free(&r);
  demand_free(&d);
  scenario_free(&s);
}

/* Four models that need a quarter of a device each: Berth puts their copies
 * on one device, SageMaker (whole devices only) needs four. */
static void test_device_shares(void) {
  scenario s;
  sim_demand d;
  sim_result r[3];
  char err[1024];
  const char *json =
      "{\"duration_hours\":1,\"instance_types\":[\"ml.g5.2xlarge\"],"
      "\"endpoint\":{\"instance_start_s\":60},"
      "\"model_defaults\":{\"copy\":{\"cpu_cores\":1,\"memory_mb\":2048,\"accelerators\":0.25,"
      "\"accelerator_memory_mb\":4096},\"scaling\":{\"min_copies\":1,\"max_copies\":4,\"target\":3},"
      "\"service\":{\"max_concurrency\":4},\"traffic\":{\"rate_per_s\":0.05}},"
      "\"models\":[{\"name\":\"m\",\"count\":4}]}";
  if (load(json, &s, err, sizeof err)) {
    CHECK_FAIL_("%s", err);
    return;
  }
  CHECK_INT(demand_compute(&s, &d, err, sizeof err), 0);
  for (int p = 0; p < 3; p++) CHECK_INT(sim_run(&s, &d, (sim_policy)p, &r[p], err, sizeof err), 0);
  CHECK_INT(r[POLICY_BERTH].peak_instances, 1);
  CHECK_INT(r[POLICY_SAGEMAKER].peak_instances, 4);
  CHECK_INT(r[POLICY_DEDICATED].peak_instances, 4);
  for (size_t m = 0; m < s.n_models; m++) CHECK_INT(r[POLICY_SAGEMAKER].models[m].peak_copies, 1);
  /* the scenario itself is left as it was */
  CHECK_INT(s.models[0].need.dev_milli, 250);
  for (int p = 0; p < 3; p++) sim_result_free(&r[p]);
  demand_free(&d);
  scenario_free(&s);
}

int main(void) {
  char err[512];
  if (berth_catalog_load(BERTH_SOURCE_DIR "/share/berth/instance-types.json", &cat, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  test_heap();
  test_rng();
  test_scenario_errors();
  test_device_shares();
  test_alternating();
  test_light_load();
  berth_catalog_free(&cat);
  CHECK_DONE();
}

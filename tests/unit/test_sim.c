/* Unit tests for berth-sim's own modules: the event heap, the random
 * draws, scenario validation, and whole small simulations with properties
 * that must hold whatever the numbers (every request accounted for, the same
 * run twice gives the same result, nothing beats the fluid lower bound,
 * Berth holds where SageMaker fails, a lightly loaded copy serves at the
 * service time), and the fair yardsticks (the host's reserve, the batching
 * slowdown, the fluid bound over a mix of types, dedicated sized to its SLO,
 * SageMaker's type). Needs src/berth-sim (see docs/sim.md for the build). */
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
#include "report.h"
#include "sim.h"
#include "yardstick.h"

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
      "\"max_concurrency\":64,\"batch_slowdown\":0},"
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

/* The host's reserve: a copy as large as the instance does not fit it, a
 * small one still does, declared test types keep their whole size. */
static void test_host_reserve(void) {
  long cpu, mem;
  berth_catalog_host_reserve(4, 16384, &cpu, &mem);
  CHECK_INT(cpu, 0);
  CHECK_INT(mem, 2663);    /* 1024 + 819.2 + 819.2 MiB, rounded up */
  berth_catalog_host_reserve(48, 196608, &cpu, &mem);
  CHECK_INT(mem, 10855);   /* ... + 6% of 112 GiB + 2% of 64 GiB */
  const berth_instance_type *g5 = berth_catalog_find(&cat, "ml.g5.xlarge");
  const berth_instance_type *m5 = berth_catalog_find(&cat, "ml.m5.xlarge");
  const berth_instance_type *small = berth_catalog_find(&cat, "berth.small");
  CHECK(g5 && m5 && small);
  if (!g5 || !m5 || !small) return;
  sched_instance in = sched_capacity(g5);
  CHECK_INT(in.cpu_milli, 4000);
  CHECK_INT(in.mem_mb, 16384 - 2663);
  sched_need big = {.cpu_milli = 4000, .mem_mb = 16384, .dev_milli = 1000, .dev_mem_mb = 20480};
  CHECK(!sched_fits_empty(&in, &big));
  sched_need one = {.cpu_milli = 1000, .mem_mb = 1024};
  sched_instance m = sched_capacity(m5);
  CHECK(sched_fits_empty(&m, &one));
  sched_instance sm = sched_capacity(small);
  CHECK_INT(sm.cpu_milli, 2000);
  CHECK_INT(sm.mem_mb, 4096);
  /* a declared reserve is read, and one as large as the instance refused */
  static const struct { const char *reserve; int rc; } decl[] = {
      {"{\"cpu_milli\":500,\"memory_mib\":1000}", 0},
      {"{\"cpu_milli\":0,\"memory_mib\":4096}", -EINVAL},
  };
  for (size_t i = 0; i < 2; i++) {
    char json[512];
    snprintf(json, sizeof json, "{\"instance_types\":[{\"name\":\"x\",\"vcpus\":2,\"memory_mib\":4096,"
             "\"price_per_hour\":1,\"host_reserve\":%s}]}", decl[i].reserve);
    const char *p = write_tmp(json);
    berth_catalog c2;
    char e2[512];
    CHECK_INT(berth_catalog_load(p, &c2, e2, sizeof e2), decl[i].rc);
    if (p) unlink(p);
    if (decl[i].rc == 0) {
      sched_instance x = sched_capacity(&c2.types[0]);
      CHECK_INT(x.cpu_milli, 1500);
      CHECK_INT(x.mem_mb, 3096);
      berth_catalog_free(&c2);
    } else {
      CHECK(strstr(e2, "host_reserve.memory_mib") != NULL);
    }
  }
  scenario s;
  char err[1024];
  CHECK(load("{\"instance_types\":[\"ml.g5.xlarge\"],\"models\":[{\"name\":\"a\",\"copy\":{\"cpu_cores\":4,"
             "\"memory_mb\":16384,\"accelerators\":1}}]}", &s, err, sizeof err) == -EINVAL);
  CHECK(strstr(err, "host's reserve") != NULL);
}

/* Decode slows with the batch: the formula, and on a busy copy every
 * request takes longer than alone. */
static void test_batching(void) {
  scn_model m;
  memset(&m, 0, sizeof m);
  m.overhead_s = 0.5;
  m.prefill_tps = 1000;
  m.decode_tps = 10;
  m.batch_slowdown = 0.04;
  CHECK(fabs(scn_service_time_at(&m, 100, 100, 1) - 10.6) < 1e-9);
  CHECK(fabs(scn_service_time_at(&m, 100, 100, 6) - (0.6 + 10 * 1.2)) < 1e-9);
  CHECK(fabs(scn_service_time(&m, 100, 100) - 10.6) < 1e-9);
  scenario s;
  sim_demand d;
  sim_result r[2];
  char err[1024];
  for (int slow = 0; slow < 2; slow++) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"duration_hours\":1,\"instance_types\":[\"ml.g5.2xlarge\"],"
             "\"model_defaults\":{\"copy\":{\"accelerators\":1},\"scaling\":{\"min_copies\":1,\"target\":6},"
             "\"service\":{\"overhead_s\":0.1,\"prefill_tokens_per_s\":1000,\"decode_tokens_per_s\":10,"
             "\"max_concurrency\":64,\"batch_slowdown\":%s},"
             "\"traffic\":{\"rate_per_s\":2,\"input_tokens\":{\"mean\":100,\"cv\":0},"
             "\"output_tokens\":{\"mean\":20,\"cv\":0}}},"
             "\"models\":[{\"name\":\"m\"}]}", slow ? "0.05" : "0");
    if (load(json, &s, err, sizeof err)) {
      CHECK_FAIL_("%s", err);
      return;
    }
    CHECK_INT(demand_compute(&s, &d, err, sizeof err), 0);
    CHECK_INT(sim_run(&s, &d, POLICY_DEDICATED, &r[slow], err, sizeof err), 0);
    demand_free(&d);
    scenario_free(&s);
  }
  CHECK(fabs(r[0].latency_mean - 2.2) < 1e-6);
  /* about 4.4 in flight: decode ~1.17x slower on average, more than 5% */
  CHECK(r[1].latency_mean > 2.2 * 1.05);
  CHECK(r[1].latency_mean < 2.2 * 1.5);
  for (int i = 0; i < 2; i++) sim_result_free(&r[i]);
}

/* The fluid bound is the cheapest mix of the listed types, and a copy
 * counts only on the types it fits. */
static void test_fluid_mix(void) {
  static const struct { const char *mb; double want; } cases[] = {
      {"16384", 1.515},      /* one ml.g5.2xlarge, cheaper than a quarter ml.g5.12xlarge */
      {"30000", 7.09 / 4},   /* over ml.g5.2xlarge's 29,122 MiB allocatable: only on the 12xlarge */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"duration_hours\":1,\"instance_types\":[\"ml.g5.12xlarge\",\"ml.g5.2xlarge\"],"
             "\"model_defaults\":{\"copy\":{\"cpu_cores\":4,\"memory_mb\":%s,\"accelerators\":1},"
             "\"scaling\":{\"min_copies\":1,\"target\":6},\"service\":{\"overhead_s\":0.01,"
             "\"decode_tokens_per_s\":1000},\"traffic\":{\"rate_per_s\":0.01}},"
             "\"models\":[{\"name\":\"m\"}]}", cases[i].mb);
    scenario s;
    sim_demand d;
    char err[1024];
    if (load(json, &s, err, sizeof err)) {
      CHECK_FAIL_("%s", err);
      return;
    }
    CHECK_INT(demand_compute(&s, &d, err, sizeof err), 0);
    CHECK(fabs(d.fluid_cost - cases[i].want) < 1e-6);
    sim_result r;
    CHECK_INT(sim_run(&s, &d, POLICY_DEDICATED, &r, err, sizeof err), 0);
    CHECK(r.cost >= d.fluid_cost - 1e-9);
    sim_result_free(&r);
    demand_free(&d);
    scenario_free(&s);
  }
}

/* Dedicated in hindsight: the fewest copies at 99.9% within SLO (one copy
 * fewer misses it), and SageMaker's type by price per accelerator. */
static void test_yardsticks(void) {
  const char *json =
      "{\"duration_hours\":2,\"seed\":5,\"instance_types\":[\"ml.g5.12xlarge\",\"ml.g5.xlarge\",\"ml.g5.2xlarge\"],"
      "\"model_defaults\":{\"copy\":{\"cpu_cores\":4,\"memory_mb\":16384,\"accelerators\":1},"
      "\"scaling\":{\"min_copies\":1,\"max_copies\":16,\"target\":2},"
      "\"service\":{\"overhead_s\":0.05,\"decode_tokens_per_s\":30,\"max_concurrency\":4},"
      "\"slo\":{\"latency_s\":2,\"per_output_token_s\":0.04},"
      "\"traffic\":{\"rate_per_s\":1,\"interarrival_cv\":1.5,\"output_tokens\":{\"mean\":100,\"cv\":0.5}}},"
      "\"models\":[{\"name\":\"m\"}]}";
  scenario s;
  sim_demand d;
  char err[1024];
  if (load(json, &s, err, sizeof err)) {
    CHECK_FAIL_("%s", err);
    return;
  }
  CHECK_INT(sagemaker_choose_type(&s), 2);   /* ml.g5.xlarge is too small after the reserve */
  CHECK_INT(demand_compute(&s, &d, err, sizeof err), 0);
  CHECK_INT(yardstick_size_dedicated(&s, &d, err, sizeof err), 0);
  int n = s.models[0].dedicated_copies;
  CHECK(n >= 1);
  sim_result r;
  CHECK_INT(sim_run(&s, &d, POLICY_DEDICATED, &r, err, sizeof err), 0);
  CHECK((double)r.in_slo >= 0.999 * (double)r.requests);
  CHECK_INT(r.models[0].peak_copies, n);
  sim_result_free(&r);
  if (n > 1) {
    s.models[0].dedicated_copies = n - 1;
    CHECK_INT(sim_run(&s, &d, POLICY_DEDICATED, &r, err, sizeof err), 0);
    CHECK((double)r.in_slo < 0.999 * (double)r.requests);
    sim_result_free(&r);
  }
  demand_free(&d);
  scenario_free(&s);
  const char *pinned =
      "{\"instance_types\":[\"ml.g5.2xlarge\",\"ml.g5.12xlarge\"],\"sagemaker\":{\"instance_type\":\"ml.g5.12xlarge\"},"
      "\"models\":[{\"name\":\"a\",\"copy\":{\"accelerators\":1}}]}";
  if (load(pinned, &s, err, sizeof err)) {
    CHECK_FAIL_("%s", err);
    return;
  }
  CHECK_INT(sagemaker_choose_type(&s), 1);
  scenario_free(&s);
}

/* In the SVG a model keeps one colour in every panel, although the two
 * models trade places between the policies' panels. */
static void test_svg_colours(void) {
  scenario s;
  sim_demand d;
  sim_result r[3];
  char err[1024];
  /* a: two copies always; b: busy the second hour only. Dedicated holds
   * more of b all day, sagemaker more of a. */
  const char *json =
      "{\"duration_hours\":2,\"seed\":3,\"instance_types\":[\"ml.g5.2xlarge\"],"
      "\"endpoint\":{\"instance_start_s\":120,\"hold_max_requests\":4096,\"hold_timeout_s\":900},"
      "\"model_defaults\":{\"copy\":{\"cpu_cores\":4,\"memory_mb\":16384,\"accelerators\":1},"
      "\"scaling\":{\"min_copies\":0,\"max_copies\":6,\"target\":6}},"
      "\"models\":[{\"name\":\"a\",\"scaling\":{\"min_copies\":2},\"traffic\":{\"rate_per_s\":0.2}},"
      "{\"name\":\"b\",\"traffic\":{\"rate_per_s\":2.5,\"active_hours\":[[1,2]]}}]}";
  if (load(json, &s, err, sizeof err)) {
    CHECK_FAIL_("%s", err);
    return;
  }
  CHECK_INT(demand_compute(&s, &d, err, sizeof err), 0);
  for (int p = 0; p < 3; p++) CHECK_INT(sim_run(&s, &d, (sim_policy)p, &r[p], err, sizeof err), 0);
  double share[3][2] = {{0}};
  for (int p = 0; p < 3; p++)
    for (size_t k = 0; k < r[p].n_samples; k++)
      for (int m = 0; m < 2; m++) share[p][m] += r[p].ts_share[k * 2 + (size_t)m];
  /* the premise: the ranking differs between panels */
  CHECK(share[POLICY_DEDICATED][1] > share[POLICY_DEDICATED][0]);
  CHECK(share[POLICY_SAGEMAKER][0] > share[POLICY_SAGEMAKER][1]);
  char path[256];
  snprintf(path, sizeof path, "/tmp/berth-test-sim-%d.svg", (int)getpid());
  CHECK_INT(report_svg(path, &s, &d, r, 3, err, sizeof err), 0);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  char line[4096], colour[2][16] = {"", ""};
  int seen = 0, same = 1;
  while (f && fgets(line, sizeof line, f)) {
    const char *fill = strstr(line, "height=\"10\" fill=\"");
    if (!fill) continue;
    for (int m = 0; m < 2; m++) {
      char name[80];
      snprintf(name, sizeof name, ">%s</text>", s.models[m].name);
      if (!strstr(line, name)) continue;
      char c[16];
      snprintf(c, sizeof c, "%.7s", fill + strlen("height=\"10\" fill=\""));
      if (!colour[m][0]) snprintf(colour[m], sizeof colour[m], "%s", c);
      else if (strcmp(colour[m], c) != 0) same = 0;
      seen++;
    }
  }
  if (f) fclose(f);
  unlink(path);
  CHECK_INT(seen, 6);   /* two models in three panels */
  CHECK(same);
  CHECK(strcmp(colour[0], colour[1]) != 0);
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
  test_host_reserve();
  test_batching();
  test_fluid_mix();
  test_yardsticks();
  test_svg_colours();
  berth_catalog_free(&cat);
  CHECK_DONE();
}

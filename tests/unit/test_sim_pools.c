/* Unit tests for instance pools in berth-sim: the berth policy's shared
 * endpoint launches any listed type through fleet_decide (docs/fleet.md,
 * "Instance pools"). On a scenario listing ml.g5.12xlarge (the endpoint's,
 * $7.09/h for 4 GPUs) and ml.g5.xlarge ($1.41/h for 1), one-GPU copies go on
 * ml.g5.xlarge at a lower cost than with endpoint.instance_pools false, with
 * no failed request; the pinned run launches only the endpoint's type; the
 * sagemaker and dedicated policies are not changed by the switch; a
 * malformed instance_pools is refused by name. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "sim_check.h"


#define SCENARIO(POOLS)                                                                          \
  "{\"name\":\"pools\",\"duration_hours\":1,\"seed\":5,"                                        \
  "\"instance_types\":[\"ml.g5.12xlarge\",\"ml.g5.xlarge\"],"                                  \
  "\"endpoint\":{\"instance_type\":\"ml.g5.12xlarge\",\"instance_start_s\":120" POOLS "},"      \
  "\"model_defaults\":{\"copy\":{\"cpu_cores\":2,\"memory_mb\":8192,\"accelerators\":1},"       \
  "\"scaling\":{\"min_copies\":1,\"max_copies\":4,\"target\":4},"                               \
  "\"traffic\":{\"rate_per_s\":0.5}},"                                                          \
  "\"models\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}]}"


static void test_berth_uses_cheaper_pool(void) {
  scenario s_pools, s_pinned;
  sim_result pools, pinned;
  if (sim_check_run(SCENARIO(""), POLICY_BERTH, &pools, &s_pools)) return;
  if (sim_check_run(SCENARIO(",\"instance_pools\":false"), POLICY_BERTH, &pinned, &s_pinned)) return;
  CHECK_INT(s_pools.berth_pools, 1);
  CHECK_INT(s_pinned.berth_pools, 0);
  CHECK_INT(pools.failed, 0);
  CHECK_INT(pinned.failed, 0);
  CHECK(pools.launches_by_type[1] > 0);             /* ml.g5.xlarge */
  CHECK_INT(pinned.launches_by_type[1], 0);
  CHECK(pinned.launches_by_type[0] > 0);
  CHECK(pools.cost < pinned.cost);
  printf("pools: $%.2f (%llu xlarge, %llu 12xlarge launches) against $%.2f pinned\n", pools.cost,
         (unsigned long long)pools.launches_by_type[1], (unsigned long long)pools.launches_by_type[0],
         pinned.cost);
  sim_result_free(&pools);
  sim_result_free(&pinned);
  scenario_free(&s_pools);
  scenario_free(&s_pinned);
}

static void test_other_policies_unchanged(void) {
  for (int p = 0; p < 3; p++) {
    if (p == POLICY_BERTH) continue;
    scenario a, b;
    sim_result ra, rb;
    if (sim_check_run(SCENARIO(""), (sim_policy)p, &ra, &a)) return;
    if (sim_check_run(SCENARIO(",\"instance_pools\":false"), (sim_policy)p, &rb, &b)) return;
    CHECK(ra.cost == rb.cost);
    CHECK_INT(ra.instance_launches, rb.instance_launches);
    sim_result_free(&ra);
    sim_result_free(&rb);
    scenario_free(&a);
    scenario_free(&b);
  }
}

static void test_bad_instance_pools(void) {
  scenario s;
  char err[1024];
  CHECK_INT(sim_check_load(SCENARIO(",\"instance_pools\":\"yes\""), &s, err, sizeof err), -EINVAL);
  CHECK(strstr(err, "endpoint.instance_pools") != NULL);
}

int main(void) {
  char err[512];
  if (berth_catalog_load(BERTH_SOURCE_DIR "/share/berth/instance-types.json", &sim_check_catalog, err, sizeof err)) {
    fprintf(stderr, "catalog: %s\n", err);
    return 1;
  }
  test_berth_uses_cheaper_pool();
  test_other_policies_unchanged();
  test_bad_instance_pools();
  berth_catalog_free(&sim_check_catalog);
  CHECK_DONE();
}

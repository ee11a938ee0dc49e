/* Unit tests for sleeping copies in berth-sim (berthd's BerthSleepPolicy,
 * lib/sleep.c; docs/sim.md). Two CPU models of 8 cores per copy, each kept
 * at one copy at least, on ml.m5.4xlarge (16 vCPU: two awake copies): "a"
 * is busy for its first three minutes only, "b" from minute 15 on, at a
 * rate that needs two copies. Awake, a's idle copy holds half the instance,
 * so b's second copy needs a second instance; with sleep on, a's copy
 * sleeps on its memory alone and b's second copy takes its cores: one
 * instance all hour, for less, with no failed request and hours asleep
 * reported. A request to a's sleeping copy wakes it in wake_s, not a cold
 * start. The sagemaker policy ignores sleep; a bad sleep field is refused
 * by name. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "sim_check.h"


#define SCENARIO(SLEEP, A_HOURS, B_HOURS)                                                            \
  "{\"name\":\"sleep\",\"duration_hours\":1,\"seed\":3,"                                          \
  "\"instance_types\":[\"ml.m5.4xlarge\"],"                                                       \
  "\"endpoint\":{\"instance_type\":\"ml.m5.4xlarge\",\"instance_start_s\":60,"                    \
  "\"managed_instance_scaling\":{\"scale_in\":\"IDLE_RELEASE\",\"cooldown_minutes\":1}},"        \
  "\"model_defaults\":{\"copy\":{\"cpu_cores\":8,\"memory_mb\":8192},"                            \
  "\"service\":{\"overhead_s\":0.2,\"max_concurrency\":4},"                                       \
  "\"startup\":{\"artifact_load_s\":60,\"health_check_s\":10},"                                   \
  "\"scaling\":{\"min_copies\":1,\"max_copies\":2,\"target\":3}" SLEEP ","                         \
  "\"traffic\":{\"inactive_factor\":0,"                                                           \
  "\"input_tokens\":{\"mean\":100,\"cv\":0},\"output_tokens\":{\"mean\":20,\"cv\":0}}},"             \
  "\"models\":[{\"name\":\"a\",\"traffic\":{\"rate_per_s\":0.5,\"active_hours\":[" A_HOURS "]}},"   \
  "{\"name\":\"b\",\"traffic\":{\"rate_per_s\":8,\"active_hours\":[" B_HOURS "]}}]}"
#define SLEEP_ON ",\"sleep\":{\"after_idle_s\":60,\"wake_s\":1}"


static void test_sleep_frees_cores(void) {
  scenario s_on, s_off;
  sim_result on, off;
  if (sim_check_run(SCENARIO(SLEEP_ON, "[0,0.05]", "[0.25,1]"), POLICY_BERTH, &on, &s_on)) return;
  if (sim_check_run(SCENARIO("", "[0,0.05]", "[0.25,1]"), POLICY_BERTH, &off, &s_off)) return;
  CHECK_INT(s_on.models[0].sleep.enabled, 1);
  CHECK_INT(s_off.models[0].sleep.enabled, 0);
  CHECK_INT(on.failed, 0);
  CHECK_INT(off.failed, 0);
  CHECK(on.sleep_copy_hours > 0.8);     /* a, idle from minute 3 */
  CHECK_INT(off.sleep_copy_hours == 0, 1);
  CHECK_INT(on.peak_instances, 1);
  CHECK_INT(off.peak_instances, 2);
  CHECK(on.cost < off.cost);
  printf("sleep on: $%.3f (%.2f instance-hours, peak %d, %.2f copy-hours asleep); off: $%.3f "
         "(%.2f instance-hours, peak %d)\n", on.cost, on.instance_hours, on.peak_instances,
         on.sleep_copy_hours, off.cost, off.instance_hours, off.peak_instances);
  sim_result_free(&on);
  sim_result_free(&off);
  scenario_free(&s_on);
  scenario_free(&s_off);
}

/* a busy again at minute 40, after b's spell: its sleeping copy wakes in a
 * second where it slept. */
static void test_request_wakes_sleeper(void) {
  scenario s;
  sim_result r;
  if (sim_check_run(SCENARIO(SLEEP_ON, "[0,0.05],[0.67,0.7]", "[0.25,0.4]"), POLICY_BERTH, &r, &s)) return;
  CHECK_INT(r.failed, 0);
  CHECK(r.sleep_wakes >= 1);
  CHECK(r.cold_wait_max > 0 && r.cold_wait_max <= 1.0 + 1e-6);
  printf("woken %llu times, the longest wait %.2f s\n", (unsigned long long)r.sleep_wakes,
         r.cold_wait_max);
  sim_result_free(&r);
  scenario_free(&s);
}

/* a busy again while b's two copies hold its cores: it cannot wake in
 * place, so it stops and a new copy starts (a cold start on a new
 * instance), and no request fails. */
static void test_taken_sleeper_starts_anew(void) {
  scenario s;
  sim_result r;
  if (sim_check_run(SCENARIO(SLEEP_ON, "[0,0.05],[0.67,0.7]", "[0.25,1]"), POLICY_BERTH, &r, &s)) return;
  CHECK_INT(r.failed, 0);
  CHECK(r.cold_wait_max > 60);
  CHECK_INT(r.peak_instances, 2);
  sim_result_free(&r);
  scenario_free(&s);
}

static void test_sagemaker_ignores_sleep(void) {
  scenario s;
  sim_result r;
  if (sim_check_run(SCENARIO(",\"sleep\":{}", "[0,0.05]", "[0.25,1]"), POLICY_SAGEMAKER, &r, &s)) return;
  CHECK_INT(r.sleep_wakes, 0);
  CHECK_INT(r.sleep_copy_hours == 0, 1);
  sim_result_free(&r);
  scenario_free(&s);
}

static void test_bad_sleep_refused(void) {
  scenario s;
  char err[1024] = "";
  CHECK(sim_check_load(SCENARIO(",\"sleep\":{\"after_idle_s\":0}", "[0,1]", "[0,1]"), &s, err, sizeof err) != 0);
  CHECK(strstr(err, "sleep") != NULL && strstr(err, "after_idle_s") != NULL);
  CHECK(sim_check_load(SCENARIO(",\"sleep\":{\"nap\":1}", "[0,1]", "[0,1]"), &s, err, sizeof err) != 0);
  CHECK(strstr(err, "nap") != NULL);
  CHECK(sim_check_load(SCENARIO(",\"sleep\":{\"enabled\":\"yes\"}", "[0,1]", "[0,1]"), &s, err, sizeof err) != 0);
  CHECK(strstr(err, "enabled") != NULL);
}

int main(void) {
  char err[512];
  CHECK_INT(berth_catalog_load(NULL, &sim_check_catalog, err, sizeof err), 0);
  test_sleep_frees_cores();
  test_request_wakes_sleeper();
  test_taken_sleeper_starts_anew();
  test_sagemaker_ignores_sleep();
  test_bad_sleep_refused();
  berth_catalog_free(&sim_check_catalog);
  CHECK_DONE();
}

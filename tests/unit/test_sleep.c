/* Unit tests for sleep: the idle and asleep timers' decisions (table), the
 * reservation a sleeping copy keeps, and whether it can wake in place when
 * others took its CPU or its device share meanwhile. */
#include "berth/sleep.h"

#include "check.h"

typedef struct {
  const char *what;
  berth_sleep_policy p;
  int asleep;
  double since, now;
  int may_stop;
  berth_sleep_action want;
} decide_case;

static const decide_case cases[] = {
  {"no policy: never sleeps", {0, 2, 10}, 0, 0, 1000, 1, BERTH_SLEEP_KEEP},
  {"idle shorter than the limit: stays ready", {1, 2, 10}, 0, 100, 101.9, 1, BERTH_SLEEP_KEEP},
  {"idle for the limit: sleeps", {1, 2, 10}, 0, 100, 102, 1, BERTH_SLEEP_SLEEP},
  {"asleep shorter than the limit: sleeps on", {1, 2, 10}, 1, 100, 109, 1, BERTH_SLEEP_KEEP},
  {"asleep for the limit: stops", {1, 2, 10}, 1, 100, 110, 1, BERTH_SLEEP_STOP},
  {"asleep for long, at its minimum: sleeps on", {1, 2, 10}, 1, 100, 1e6, 0, BERTH_SLEEP_KEEP},
  {"stop 0: never stops", {1, 2, 0}, 1, 100, 1e6, 1, BERTH_SLEEP_KEEP},
};

static void test_decide(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const decide_case *k = &cases[i];
    berth_sleep_action got = berth_sleep_decide(&k->p, k->asleep, k->since, k->now, k->may_stop);
    if (got != k->want) fprintf(stderr, "case \"%s\"\n", k->what);
    CHECK_INT(got, k->want);
  }
  CHECK_INT(berth_sleep_decide(NULL, 0, 0, 1e9, 1), BERTH_SLEEP_KEEP);
}

static void test_need(void) {
  sched_need full = {2500, 4096, 500, 8000};
  sched_need s = berth_sleep_need(&full);
  CHECK_INT(s.mem_mb, 4096);
  CHECK_INT(s.cpu_milli, 0);
  CHECK_INT(s.dev_milli, 0);
  CHECK_INT(s.dev_mem_mb, 0);
  CHECK(sched_need_valid(&s));
}

/* A copy of half a device sleeps; another copy takes the CPU or the
 * device's other half, or more: can it wake where it is? */
static void test_wake_fits(void) {
  sched_instance inst = {0};
  inst.cpu_milli = 4000;
  inst.mem_mb = 16384;
  inst.n_devices = 1;
  inst.dev_mem_mb = 24000;
  inst.accepting = 1;
  sched_need need = {2000, 4096, 500, 10000};
  sched_assignment a = {0, 1, {0}, 500};
  sched_reserve(&inst, &need, &a);
  /* It sleeps: only its memory stays taken. */
  sched_release(&inst, &need, &a);
  sched_need asleep = berth_sleep_need(&need);
  sched_assignment none = {0, 0, {0}, 0};
  sched_reserve(&inst, &asleep, &none);
  CHECK_INT(inst.mem_mb_used, 4096);
  CHECK_INT(inst.cpu_milli_used, 0);
  CHECK_INT(inst.dev_milli_used[0], 0);
  CHECK(berth_sleep_wake_fits(&inst, &need, &a));

  /* Another half-device copy of 2 cores moved in: still room. */
  sched_need other = {2000, 4096, 500, 10000};
  sched_reserve(&inst, &other, &a);
  CHECK(berth_sleep_wake_fits(&inst, &need, &a));
  /* One more core is taken: no CPU for it. */
  sched_need core = {1000, 128, 0, 0};
  sched_reserve(&inst, &core, &none);
  CHECK(!berth_sleep_wake_fits(&inst, &need, &a));
  sched_release(&inst, &core, &none);
  /* Its device's share is taken: no room on its own device. */
  sched_need tenth = {0, 128, 100, 1000};
  sched_reserve(&inst, &tenth, &a);
  CHECK(!berth_sleep_wake_fits(&inst, &need, &a));
  sched_release(&inst, &tenth, &a);
  /* Its device's memory is taken. */
  inst.dev_mem_mb_used[0] += 5000;
  CHECK(!berth_sleep_wake_fits(&inst, &need, &a));
  inst.dev_mem_mb_used[0] -= 5000;
  CHECK(berth_sleep_wake_fits(&inst, &need, &a));
  /* A device index the instance lacks never fits. */
  sched_assignment bad = {0, 1, {3}, 500};
  CHECK(!berth_sleep_wake_fits(&inst, &need, &bad));
}

int main(void) {
  test_decide();
  test_need();
  test_wake_fits();
  CHECK_DONE();
}

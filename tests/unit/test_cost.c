/* test_cost: lib/cost, each copy's share of its instance's price. */
#include <math.h>

#include "berth/cost.h"
#include "check.h"

static sched_instance g5_12xlarge(void) {
  sched_instance in = {0};
  in.cpu_milli = 48000;
  in.mem_mb = 196608;
  in.n_devices = 4;
  in.dev_mem_mb = 24576;
  in.accepting = 1;
  return in;
}

static void test_weight(void) {
  sched_instance in = g5_12xlarge();
  sched_need gpu = {4000, 32768, 1000, 0};     /* one of four A10Gs dominates */
  CHECK(fabs(cost_weight(&in, &gpu) - 0.25) < 1e-12);
  sched_need quarter = {1000, 8192, 250, 0};   /* a quarter of one device */
  CHECK(fabs(cost_weight(&in, &quarter) - 0.0625) < 1e-12);
  sched_need mem = {1000, 98304, 0, 0};        /* memory dominates */
  CHECK(fabs(cost_weight(&in, &mem) - 0.5) < 1e-12);
  sched_need vram = {1000, 1024, 1000, 24576}; /* a whole device's memory */
  CHECK(fabs(cost_weight(&in, &vram) - 0.25) < 1e-12);
  sched_need huge = {96000, 1, 0, 0};
  CHECK(fabs(cost_weight(&in, &huge) - 1) < 1e-12);
}

int main(void) {
  test_weight();
  CHECK_DONE();
}

/* sleep: see berth/sleep.h. */
#include "berth/sleep.h"

berth_sleep_action berth_sleep_decide(const berth_sleep_policy *p, int asleep, double since,
                                      double now, int may_stop) {
  if (!p || !p->enabled) return BERTH_SLEEP_KEEP;
  if (!asleep) return now - since >= p->sleep_after_idle_s ? BERTH_SLEEP_SLEEP : BERTH_SLEEP_KEEP;
  if (p->stop_after_sleep_s > 0 && may_stop && now - since >= p->stop_after_sleep_s)
    return BERTH_SLEEP_STOP;
  return BERTH_SLEEP_KEEP;
}

sched_need berth_sleep_need(const sched_need *need) {
  sched_need n = {0};
  n.mem_mb = need->mem_mb;
  return n;
}

static sched_assignment no_devices(const sched_assignment *a) {
  sched_assignment none = *a;
  none.n_devices = 0;
  return none;
}

void berth_sleep_reserve(sched_instance *inst, const sched_need *need, const sched_assignment *a) {
  sched_need asleep = berth_sleep_need(need);
  sched_assignment none = no_devices(a);
  sched_release(inst, need, a);
  sched_reserve(inst, &asleep, &none);
}

void berth_sleep_unreserve(sched_instance *inst, const sched_need *need,
                           const sched_assignment *a) {
  sched_need asleep = berth_sleep_need(need);
  sched_assignment none = no_devices(a);
  sched_release(inst, &asleep, &none);
  sched_reserve(inst, need, a);
}

int berth_sleep_wake_fits(const sched_instance *inst, const sched_need *need,
                          const sched_assignment *a) {
  if (inst->cpu_milli_used + need->cpu_milli > inst->cpu_milli) return 0;
  for (int j = 0; j < a->n_devices; j++) {
    int d = a->devices[j];
    if (d < 0 || d >= inst->n_devices) return 0;
    if (inst->dev_milli_used[d] + a->dev_milli_each > 1000) return 0;
    if (need->dev_milli > 0 && need->dev_mem_mb > 0 &&
        inst->dev_mem_mb_used[d] + need->dev_mem_mb > inst->dev_mem_mb)
      return 0;
  }
  return 1;
}

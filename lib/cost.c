/* cost: see cost.h. */
#include "berth/cost.h"

static double frac(double used, double cap) {
  return cap > 0 ? used / cap : 0;
}

double cost_weight(const sched_instance *cap, const sched_need *need) {
  double w = frac((double)need->cpu_milli, (double)cap->cpu_milli);
  double x = frac((double)need->mem_mb, (double)cap->mem_mb);
  if (x > w) w = x;
  if (need->dev_milli > 0 && cap->n_devices > 0) {
    x = frac((double)need->dev_milli, 1000.0 * cap->n_devices);
    if (x > w) w = x;
    int devs = need->dev_milli >= 1000 ? need->dev_milli / 1000 : 1;
    x = frac((double)need->dev_mem_mb * devs, (double)cap->dev_mem_mb * cap->n_devices);
    if (x > w) w = x;
  }
  return w > 1 ? 1 : w;
}

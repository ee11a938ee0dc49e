/* usage: see usage.h.
 *
 * DESIGN: normalised figures are ratios of sums over the ready copies with
 * a fresh reading (copies of one IC reserve the same, so this is also the
 * mean of the copies' own ratios): CPU is cores busy over cores reserved
 * (a copy that reserves no cores counts one), memory MiB resident over
 * MinMemoryRequiredInMb (one MiB when unset), GPU the mean busy percent of
 * the copies' devices, GPU memory MiB in use over the devices' memory the
 * copies reserve (their share of each device's memory when they name no
 * MinAcceleratorMemoryRequiredInMb ... the scheduler's dev_mem_mb). */
#include "usage.h"

#include <math.h>
#include <string.h>

#include "berth/cost.h"

static double number(json_t *o, const char *key, double max) {
  double v = json_number_value(json_object_get(o, key));
  return isfinite(v) && v > 0 ? fmin(v, max) : 0;
}

void usage_copy_report(copy *cp, json_t *rep, double now) {
  json_t *u = json_object_get(rep, "usage");
  if (!json_is_object(u)) return;
  copy_usage *cu = &cp->usage;
  cu->has = 1;
  cu->cpu_cores = number(u, "cpu_cores", 1e5);
  cu->memory_mb = number(u, "memory_mb", 1e9);
  cu->has_gpu = json_object_get(u, "gpu_percent") != NULL;
  cu->gpu_percent = number(u, "gpu_percent", 100);
  cu->gpu_memory_mb = number(u, "gpu_memory_mb", 1e9);
  cu->at_s = now;
}

static int fresh(const copy *cp, double now) {
  return cp->state == COPY_READY && cp->usage.has && now - cp->usage.at_s <= USAGE_STALE_S;
}

static double reserved_cores(const copy *cp) {
  return cp->need.cpu_milli > 0 ? (double)cp->need.cpu_milli / 1000.0 : 1.0;
}

static double reserved_mb(const copy *cp) {
  return cp->need.mem_mb > 0 ? (double)cp->need.mem_mb : 1.0;
}

/* The GPU memory cp reserves: per device times its devices. */
static double reserved_gpu_mb(const copy *cp) {
  double per = (double)cp->need.dev_mem_mb;
  if (per <= 0 && cp->inst) {
    double share = cp->assign.dev_milli_each > 0 && cp->assign.dev_milli_each < 1000
                       ? cp->assign.dev_milli_each / 1000.0
                       : 1.0;
    per = (double)cp->inst->res.dev_mem_mb * share;
  }
  return per * cp->assign.n_devices;
}

int usage_copy_normalized(const copy *cp, double now, double *cpu, double *mem, double *gpu,
                          double *gpu_mem) {
  if (!fresh(cp, now)) return 0;
  *cpu = 100.0 * cp->usage.cpu_cores / reserved_cores(cp);
  *mem = 100.0 * cp->usage.memory_mb / reserved_mb(cp);
  *gpu = *gpu_mem = -1;
  if (cp->usage.has_gpu) {
    *gpu = cp->usage.gpu_percent;
    double r = reserved_gpu_mb(cp);
    if (r > 0) *gpu_mem = 100.0 * cp->usage.gpu_memory_mb / r;
  }
  return 1;
}

void usage_sample(ctl *c, const ic *x, double now, metrics_usage *out) {
  memset(out, 0, sizeof *out);
  double cores = 0, mb = 0, gpu_mb = 0;
  int n_gpu = 0;
  for (const copy *cp = x->copies; cp; cp = cp->next) {
    if (!fresh(cp, now)) continue;
    out->has = 1;
    out->cpu_used += cp->usage.cpu_cores;
    out->mem_used_mb += cp->usage.memory_mb;
    cores += reserved_cores(cp);
    mb += reserved_mb(cp);
    if (cp->usage.has_gpu && cp->assign.n_devices > 0) {
      double share = cp->assign.dev_milli_each > 0 && cp->assign.dev_milli_each < 1000
                         ? cp->assign.dev_milli_each / 1000.0
                         : 1.0;
      out->has_gpu = 1;
      out->gpu_norm += cp->usage.gpu_percent;
      out->gpu_used += cp->usage.gpu_percent / 100.0 * cp->assign.n_devices * share;
      out->gpu_mem_used_mb += cp->usage.gpu_memory_mb;
      gpu_mb += reserved_gpu_mb(cp);
      n_gpu++;
    }
  }
  if (out->has) {
    out->cpu_norm = 100.0 * out->cpu_used / cores;
    out->mem_norm = 100.0 * out->mem_used_mb / mb;
  }
  if (n_gpu) {
    out->gpu_norm /= n_gpu;
    out->gpu_mem_norm = gpu_mb > 0 ? 100.0 * out->gpu_mem_used_mb / gpu_mb : 0;
  }
  for (const instance *in = c->instances; in; in = in->next) {
    if (in->state != INSTANCE_RUNNING || strcmp(in->endpoint, x->endpoint) != 0 ||
        strcmp(in->variant, x->variant) != 0)
      continue;
    out->instances++;
    out->cap_cpu += (double)in->res.cpu_milli / 1000.0;
    out->cap_mem_mb += (double)in->res.mem_mb;
    out->cap_gpu += in->res.n_devices;
    out->cap_gpu_mem_mb += (double)in->res.n_devices * (double)in->res.dev_mem_mb;
  }
}

/* Placed copies hold an instance's resources whatever their state. */
static int on_instance(const copy *cp, const instance *in) {
  return cp->inst == in && in->state == INSTANCE_RUNNING && in->type;
}

double usage_cost_per_hour(const ctl *c, const ic *x) {
  double cost = 0;
  for (const copy *cp = x->copies; cp; cp = cp->next) {
    const instance *in = cp->inst;
    if (!in || !on_instance(cp, in)) continue;
    double mine = cost_weight(&in->res, &cp->need), all = 0;
    for (const ic *y = c->ics; y; y = y->next)
      for (const copy *o = y->copies; o; o = o->next)
        if (on_instance(o, in)) all += cost_weight(&in->res, &o->need);
    if (all > 0) cost += in->type->price_per_hour * mine / all;
  }
  return cost;
}

/* agent_devices: see agent_devices.h. */
#include "agent_devices.h"

#include <stdio.h>
#include <string.h>

#include "berth/devices.h"

int agent_devices_setup(instance *self, const char *flag, char *msg, size_t msgsz) {
  const berth_instance_type *t = self->type;
  berth_devices h;
  char err[256];
  if (berth_devices_probe(&h, err, sizeof err) < 0) {
    snprintf(msg, msgsz, "%s", err);
    return -1;
  }
  const char *src = berth_devices_source_name(h.source);
  self->n_host_devices = 0;
  if (t->accelerators == 0) {
    if (flag) {
      snprintf(msg, msgsz, "--devices %s: instance type %s has no accelerators; leave "
               "--devices out or choose a type that has them", flag, t->name);
      return -1;
    }
    snprintf(msg, msgsz, "instance type %s: no accelerators", t->name);
    return 0;
  }
  int idx[SCHED_MAX_DEVICES], n = 0;
  if (flag) {
    n = berth_devices_parse(flag, idx, SCHED_MAX_DEVICES, err, sizeof err);
    if (n < 0) {
      snprintf(msg, msgsz, "--devices: %s", err);
      return -1;
    }
    if (n != t->accelerators) {
      snprintf(msg, msgsz, "--devices %s names %d devices, but instance type %s has %d: "
               "name exactly %d", flag, n, t->name, t->accelerators, t->accelerators);
      return -1;
    }
    for (int i = 0; i < n; i++)
      if (h.n > 0 && !berth_devices_find(&h, idx[i])) {
        snprintf(msg, msgsz, "--devices %s: this host has no device %d (it has %d, from %s)",
                 flag, idx[i], h.n, src);
        return -1;
      }
  } else if (h.n > 0) {
    if (h.n < t->accelerators) {
      snprintf(msg, msgsz, "instance type %s has %d accelerator devices, but this host has "
               "only %d (from %s): choose a type with at most %d", t->name, t->accelerators,
               h.n, src, h.n);
      return -1;
    }
    n = t->accelerators;
    for (int i = 0; i < n; i++) idx[i] = h.dev[i].index;
  } else {
    snprintf(msg, msgsz, "instance type %s: %d simulated accelerator devices (this host has "
             "none: no NVML, nothing declared in BERTH_LOCAL_ACCELERATORS)", t->name,
             t->accelerators);
    return 0;
  }
  long smallest = 0;
  for (int i = 0; i < n; i++) {
    self->host_devices[i] = idx[i];
    const berth_gpu *g = berth_devices_find(&h, idx[i]);
    if (g && (smallest == 0 || g->memory_mib < smallest)) smallest = g->memory_mib;
  }
  self->n_host_devices = n;
  /* A copy may use no more memory per device than the device has. */
  if (smallest > 0 && smallest < self->res.dev_mem_mb) self->res.dev_mem_mb = smallest;
  char list[SCHED_MAX_DEVICES * 4];
  berth_devices_format(idx, n, list, sizeof list);
  const berth_gpu *first = berth_devices_find(&h, idx[0]);
  snprintf(msg, msgsz, "instance type %s: accelerator devices %s of this host (%s%s%s), %lld "
           "MiB each for copies%s", t->name, list, h.n ? src : "--devices, unchecked",
           first && first->name[0] ? ", " : "", first ? first->name : "",
           (long long)self->res.dev_mem_mb,
           !flag && h.n > n ? "; pass --devices to choose others" : "");
  return 0;
}

int agent_device(const copy *cp, int logical) {
  const instance *in = cp->inst;
  if (in && logical >= 0 && logical < in->n_host_devices) return in->host_devices[logical];
  return logical;
}

static char *slot(agent_device_env *out, const char *name) {
  out->name[out->n] = name;
  return out->value[out->n++];
}

void agent_devices_env(const copy *cp, agent_device_env *out) {
  out->n = 0;
  const instance *in = cp->inst;
  const sched_assignment *a = &cp->assign;
  if (!in || in->type->accelerators == 0 || a->n_devices == 0) return;
  int phys[SCHED_MAX_DEVICES];
  for (int i = 0; i < a->n_devices; i++) phys[i] = agent_device(cp, a->devices[i]);
  int neuron = strcmp(in->type->accelerator_kind, "neuron") == 0;
  berth_devices_format(phys, a->n_devices, slot(out, neuron ? "NEURON_RT_VISIBLE_CORES"
                                                             : "CUDA_VISIBLE_DEVICES"),
                       sizeof out->value[0]);
  /* CUDA numbers devices fastest first unless told otherwise; NVML's
   * indices (and nvidia-smi's) are in PCI bus order. */
  if (!neuron && in->n_host_devices > 0)
    snprintf(slot(out, "CUDA_DEVICE_ORDER"), sizeof out->value[0], "PCI_BUS_ID");
  int64_t mem = in->res.dev_mem_mb;
  if (a->dev_milli_each < 1000) {
    snprintf(slot(out, "BERTH_ACCELERATOR_SHARE"), sizeof out->value[0], "%.3f",
             a->dev_milli_each / 1000.0);
    /* Its reserved memory when the IC names one, else its share of the
     * device's: what the scheduler keeps free for it. */
    int64_t reserved = cp->need.dev_mem_mb;
    mem = reserved > 0 ? reserved : mem * a->dev_milli_each / 1000;
  }
  snprintf(slot(out, "BERTH_ACCELERATOR_MEMORY_MB"), sizeof out->value[0], "%lld",
           (long long)mem);
}

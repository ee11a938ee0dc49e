/* agent_devices: the physical accelerators an agent's copies use.
 *
 * The controller places copies on logical device indices 0..N-1 of their
 * instance (sched.h); the agent holds the instance's physical devices
 * (instance.host_devices: --devices, or this host's first N) and maps
 * logical i to host_devices[i] for everything a copy is told: the
 * process path's environment here, and the container path's device
 * flags (CDI nvidia.com/gpu=N names NVML's index N). A host with no
 * devices (no NVML, nothing declared) keeps logical indices. */
#ifndef BERTHD_AGENT_DEVICES_H
#define BERTHD_AGENT_DEVICES_H

#include <stddef.h>

#include "ctl.h"

/* Chooses this agent's devices for self (whose type and res are set):
 * the --devices list flag (NULL: not given) or, when the host has
 * devices, its first ones; fills self->host_devices and lowers
 * self->res.dev_mem_mb to the smallest chosen device's memory. Returns 0
 * with a line for the log in msg, or -1 with the reason in msg (the
 * agent does not start). Blocks in NVML: call before the loop runs. */
int agent_devices_setup(instance *self, const char *flag, char *msg, size_t msgsz);

/* The physical device index of cp's logical device `logical` (the
 * logical index itself when its instance has no physical devices). */
int agent_device(const copy *cp, int logical);

/* What a copy's server is told about its devices, as environment
 * variables (name[i]=value[i]): CUDA_VISIBLE_DEVICES (or
 * NEURON_RT_VISIBLE_CORES), CUDA_DEVICE_ORDER=PCI_BUS_ID for physical
 * NVIDIA devices, BERTH_ACCELERATOR_SHARE for a share of one device and
 * BERTH_ACCELERATOR_MEMORY_MB (the MiB of each device it may use). n is
 * 0 for a copy without devices. */
#define AGENT_DEVICE_ENV_MAX 4
typedef struct agent_device_env {
  int n;
  const char *name[AGENT_DEVICE_ENV_MAX];
  char value[AGENT_DEVICE_ENV_MAX][SCHED_MAX_DEVICES * 4];
} agent_device_env;
void agent_devices_env(const copy *cp, agent_device_env *out);

#endif

/* copy_usage: what each copy of this agent uses, measured when the agent
 * reports (each sync): CPU (cores busy on average since the last reading)
 * and resident memory, from the copy's cgroup when it has one (v2:
 * cpu.stat usage_usec and memory.current; v1: memory.usage_in_bytes, CPU
 * from /proc), else from /proc over the copy's process tree (its shim and
 * everything under it: utime + stime, RSS). GPU busy percent and memory
 * through NVML for copies with devices (agent_devices), when NVML loads.
 * The figures land in cp->usage; the sync sends them (copy_usage_json). */
#ifndef BERTHD_COPY_USAGE_H
#define BERTHD_COPY_USAGE_H

#include <jansson.h>

#include "ctl.h"

/* Measures every copy of c (c->ics) now (seconds, any steady clock). */
void copy_usage_measure(ctl *c, double now);
/* {"cpu_cores", "memory_mb"[, "gpu_percent", "gpu_memory_mb"]}, or NULL
 * when cp has no reading yet. */
json_t *copy_usage_json(const copy *cp);
/* Releases NVML (the agent stops). */
void copy_usage_close(void);

#endif

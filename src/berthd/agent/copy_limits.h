/* copy_limits: what an agent enforces of each copy's resources, and how:
 * whole cores (ceil(NumberOfCpuCoresRequired)) pinned and
 * MaxMemoryRequiredInMb as a hard memory limit, in a cgroup of the copy
 * (cgroup.h) where the host allows, else CPU affinity and RLIMIT_AS in the
 * shim, said once at agent start. The shim applies them (copy_shim.c);
 * this module decides them, hands them to the shim as flags, names an
 * OOM kill in the copy's failure and removes groups a killed shim left.
 *
 * DESIGN: cores are picked for a copy when its shim starts, from the
 * cores online and in the agent's own affinity: the fewest of this
 * agent's copies first (distinct while cores remain), then the fewest of
 * other agents' copies on the host (read from their cpusets under
 * berth/), then the lowest number. The choice lives in cp->cpus (the
 * container path hands the same to --cpuset-cpus) and in the agent's
 * state file, so a restarted agent counts adopted copies too. */
#ifndef BERTHD_COPY_LIMITS_H
#define BERTHD_COPY_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "ctl.h"

typedef struct copy_limits copy_limits;

/* Finds how copies can be limited on this host and says so in the log
 * (a warning when cgroups cannot be used, with why). c->agent_id names
 * this agent's groups (berth/AGENT_ID). Call once at agent start, before
 * copies are adopted. */
void copy_limits_setup(ctl *c);
/* The cores for cp (ceil of its IC's NumberOfCpuCoresRequired) as a CPU
 * list ("2", "0-1"), counting every other copy of this agent with cores
 * (c->ics). "" when the IC asks for no cores or nothing is set up. 0 or
 * -ENOSPC. */
int copy_limits_pick_cpus(ctl *c, const copy *cp, char *out, size_t outsz);
/* MaxMemoryRequiredInMb of the IC's ComputeResourceRequirements (MiB,
 * rounded up); 0 when unset. */
int64_t copy_limits_memory_max_mb(const copy *cp);

/* Storage for the flags copy_limits_shim_args adds; lives until spawn. */
typedef struct copy_limits_args {
  char cgroup[200];
  char memory[24];
} copy_limits_args;
#define COPY_LIMITS_MAX_ARGS 6
/* Appends the shim's flags for cp's limits to argv (at most
 * COPY_LIMITS_MAX_ARGS: --cgroup NAME, --cpus cp->cpus (picked before,
 * copy_limits_pick_cpus), --memory-max MB; strings in a). How many it
 * added. For process copies: a container's engine applies its own. */
int copy_limits_shim_args(ctl *c, copy *cp, copy_limits_args *a, char **argv);
/* The cgroup path ("/berth/AGENT/copy-ID") a container copy's engine puts
 * the container under, where the shim sets its limits: 1, or 0 when this
 * agent has no cgroups. */
int copy_limits_cgroup_parent(const ctl *c, const copy *cp, char *out, size_t outsz);
struct cgroup_copy;
/* Fills g with cp's groups (as its shim made them): 1, or 0 when this
 * agent has no cgroups. */
int copy_limits_cgroup_of(const ctl *c, const copy *cp, struct cgroup_copy *g);
/* cp's shim exited (cp->pid is 0 now). When the exit file says the kernel
 * OOM-killed in the copy's cgroup, what (the exit as "was killed by signal
 * 9") is rewritten to say so with the limit. Groups of this agent whose
 * copy no longer runs (a shim killed before it could remove them) are
 * emptied and removed, retried on a timer while busy. */
void copy_limits_exited(ctl *c, copy *cp, int sig, char *what, size_t whatsz);
/* The agent stops: removes its berth/AGENT_ID groups when no copy is left
 * in them (copies that outlive it keep theirs for the next agent). */
void copy_limits_close(ctl *c);

#endif

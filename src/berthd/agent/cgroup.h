/* cgroup: one copy's control groups on this host, through the cgroup
 * filesystem: find the layout, make a copy's groups with its cpuset and
 * memory limit, join them (between fork and exec), read how often the
 * kernel OOM-killed in them, kill what is left and remove them. Also the
 * CPU list syntax ("0-2,5") and the pure choice of whole cores.
 *
 * DESIGN: cgroup v2 (one hierarchy at ROOT, controllers handed down through
 * cgroup.subtree_control) or v1 (ROOT/cpuset and ROOT/memory, each its own
 * hierarchy; the hybrid layout whose ROOT/unified holds no controller, as
 * on Debian 12 hosts, is v1). A copy's groups are
 * ROOT[/cpuset|/memory]/berth/AGENT/copy-ID, at the top of the hierarchy
 * as podman (libpod_parent) and docker's cgroupfs driver place theirs, so
 * every agent of the host sees the cores the others pinned. The shim that
 * owns a copy stays outside its groups: it outlives an OOM kill of the
 * server, reads the count and removes the groups. ROOT is /sys/fs/cgroup
 * unless BERTH_CGROUP_ROOT names another (tests use it to take cgroups
 * away). No daemon header is included: the shim uses this alone. */
#ifndef BERTHD_CGROUP_H
#define BERTHD_CGROUP_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#define CGROUP_PATH_MAX 600

typedef enum { CGROUP_NONE = 0, CGROUP_V1 = 1, CGROUP_V2 = 2 } cgroup_version;

/* A copy's groups: one directory (v2) or two (v1: cpuset, memory). The
 * paths are made once so that joining needs no formatting. */
typedef struct cgroup_copy {
  cgroup_version version;
  int n;
  char dir[2][CGROUP_PATH_MAX];
  char procs[2][CGROUP_PATH_MAX + 16];
  char memory_dir[CGROUP_PATH_MAX];   /* where memory files are */
} cgroup_copy;

/* $BERTH_CGROUP_ROOT or /sys/fs/cgroup. */
const char *cgroup_root(void);
/* The layout under root; CGROUP_NONE with why filled when neither v2 with
 * cpuset and memory nor v1 cpuset and memory hierarchies are there. */
cgroup_version cgroup_detect(const char *root, char *why, size_t whysz);
/* Makes berth/AGENT in every hierarchy needed, ready for copies (v1: its
 * cpuset.cpus and cpuset.mems from the parent; v2: cpuset and memory
 * enabled down to it). 0, or a negative errno with why filled. */
int cgroup_base_make(cgroup_version v, const char *root, const char *agent, char *why,
                     size_t whysz);
/* Fills g's paths for the groups "berth/AGENT/copy-ID" (name); makes
 * nothing. */
void cgroup_copy_init(cgroup_copy *g, cgroup_version v, const char *root, const char *name);
/* Makes g's groups (they may exist: a restart reuses them) and sets the
 * copy's limits: cpuset.cpus = cpus (the parent's when NULL or ""), memory
 * limit memory_max_mb MiB with no swap (none when 0), OOM kill on, not
 * pausing. 0, or a negative errno with why filled. */
int cgroup_copy_make(cgroup_copy *g, const char *cpus, int64_t memory_max_mb, char *why,
                     size_t whysz);
/* Moves the calling process into g (writes "0" to each cgroup.procs).
 * Async-signal-safe: for the child between fork and exec. 0 or -errno. */
int cgroup_copy_join(const cgroup_copy *g);
/* How many processes of g the kernel OOM-killed (memory.oom_control or
 * memory.events "oom_kill"); 0 when unknown. */
int cgroup_copy_oom_kills(const cgroup_copy *g);
/* v1: whether the copy's memory use ever reached its limit. The kernel
 * counts an OOM kill in the group of the killed process only, which for a
 * container is the engine's group below the copy's, gone with the
 * container; v2's memory.events counts below (cgroup_copy_oom_kills). */
int cgroup_copy_limit_reached(const cgroup_copy *g);
/* SIGKILLs every process in g; how many it signalled. */
int cgroup_copy_kill(const cgroup_copy *g);
/* Whether any process is still in g. */
int cgroup_copy_populated(const cgroup_copy *g);
/* Freezes (frozen 1) or thaws (0) every process in the copy's group:
 * cgroup v2's cgroup.freeze, so the group keeps its memory and uses no
 * CPU (a sleeping copy, docs/sleep.md). 0, -ENOTSUP on cgroup v1 (Berth
 * makes no freezer group there) or -errno. */
int cgroup_copy_freeze(const cgroup_copy *g, int frozen);
/* Removes g's directories (and the empty groups an engine made below
 * them): 0 (also when they were gone), -EBUSY while a
 * process is still in them, or another negative errno. */
int cgroup_copy_remove(const cgroup_copy *g);

/* "0-2,5" into set: 0, or -EINVAL (bad syntax, or a CPU past the set). */
int cgroup_cpus_parse(const char *list, cpu_set_t *set);
/* set as a list with ranges ("0-2,5"; "" for none): 0, or -ENOSPC. */
int cgroup_cpus_format(const cpu_set_t *set, char *out, size_t outsz);
/* Chooses need whole cores of allowed into out: the fewest own copies
 * first (own[cpu]: this agent's copies pinned there), then the fewest
 * other agents' copies (other[cpu]), then the lowest number. All of
 * allowed when need is more. Pure. How many it chose. */
int cgroup_cpus_pick(const cpu_set_t *allowed, const int *own, const int *other, int need,
                     cpu_set_t *out);

#endif

/* copy_limits: see copy_limits.h. */
#include "copy_limits.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/log.h"
#include "agent_state.h"
#include "cgroup.h"

#define SWEEP_INTERVAL_MS 200
#define SWEEP_ROUNDS 150 /* 30 s: a process in D state may take that long to die */

struct copy_limits {
  cgroup_version version;       /* CGROUP_NONE: affinity and RLIMIT_AS */
  char root[256];
  char agent[64];
  cpu_set_t allowed;            /* online and in our own affinity */
  uv_timer_t sweep;
  int sweep_rounds;             /* left before giving up on a busy group */
};

/* The cores online on this host (/sys/devices/system/cpu/online) that our
 * affinity allows. */
static void allowed_cpus(cpu_set_t *out) {
  cpu_set_t mine, online;
  char text[1024] = "";
  if (sched_getaffinity(0, sizeof mine, &mine) != 0) CPU_ZERO(&mine);
  FILE *f = fopen("/sys/devices/system/cpu/online", "re");
  if (f) {
    if (!fgets(text, sizeof text, f)) text[0] = '\0';
    fclose(f);
  }
  if (!text[0] || cgroup_cpus_parse(text, &online) != 0) online = mine;
  CPU_AND(out, &mine, &online);
}

void copy_limits_setup(ctl *c) {
  copy_limits *l = berth_xcalloc(1, sizeof *l);
  c->limits = l;
  snprintf(l->root, sizeof l->root, "%s", cgroup_root());
  snprintf(l->agent, sizeof l->agent, "%s", c->agent_id[0] ? c->agent_id : "agent");
  allowed_cpus(&l->allowed);
  uv_timer_init(c->loop, &l->sweep);
  l->sweep.data = c;
  uv_unref((uv_handle_t *)&l->sweep); /* never keeps the agent's loop alive */
  char why[1200] = "";
  cgroup_version v = cgroup_detect(l->root, why, sizeof why);
  if (v != CGROUP_NONE && geteuid() != 0) {
    snprintf(why, sizeof why, "not running as root (uid %u): cannot make groups under %s",
             (unsigned)geteuid(), l->root);
    v = CGROUP_NONE;
  }
  if (v != CGROUP_NONE && cgroup_base_make(v, l->root, l->agent, why, sizeof why) != 0)
    v = CGROUP_NONE;
  l->version = v;
  char cpus[256];
  cgroup_cpus_format(&l->allowed, cpus, sizeof cpus);
  if (v == CGROUP_V2)
    berth_log(BERTH_LOG_INFO, "copies run in cgroup v2 groups %s/berth/%s/copy-ID: whole cores "
              "of %s pinned (cpuset), MaxMemoryRequiredInMb enforced (memory.max, no swap)",
              l->root, l->agent, cpus);
  else if (v == CGROUP_V1)
    berth_log(BERTH_LOG_INFO, "copies run in cgroup v1 groups %s/{cpuset,memory}/berth/%s/"
              "copy-ID: whole cores of %s pinned (cpuset), MaxMemoryRequiredInMb enforced "
              "(memory.limit_in_bytes, no swap)", l->root, l->agent, cpus);
  else
    berth_log(BERTH_LOG_WARN, "copies' resources are not enforced with cgroups (%s): their "
              "cores (of %s) are pinned with CPU affinity, which a server may change, and "
              "MaxMemoryRequiredInMb is an address-space limit (RLIMIT_AS), which counts "
              "memory mapped but not used, so a server that maps much more than it touches "
              "fails to start under it; run the agent as root with a writable cgroup "
              "filesystem to enforce both", why, cpus);
}

/* Adds 1 to load[cpu] for each core of list. */
static void count_cores(const char *list, int *load) {
  cpu_set_t set;
  if (!list[0] || cgroup_cpus_parse(list, &set) != 0) return;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET((size_t)cpu, &set)) load[cpu]++;
}

/* The cores other agents' running copies on this host are pinned to, from
 * their cpusets (berth/OTHER/copy-ID with a process in it). */
static void count_other_agents(const copy_limits *l, int *load) {
  char base[CGROUP_PATH_MAX];
  snprintf(base, sizeof base, "%s%s/berth", l->root, l->version == CGROUP_V1 ? "/cpuset" : "");
  DIR *d = opendir(base);
  struct dirent *a;
  while (d && (a = readdir(d))) {
    if (a->d_name[0] == '.' || strcmp(a->d_name, l->agent) == 0) continue;
    char dir[CGROUP_PATH_MAX + 300];
    snprintf(dir, sizeof dir, "%s/%s", base, a->d_name);
    DIR *cd = opendir(dir);
    struct dirent *e;
    while (cd && (e = readdir(cd))) {
      if (strncmp(e->d_name, "copy-", 5) != 0) continue;
      char path[CGROUP_PATH_MAX + 600], text[1024];
      snprintf(path, sizeof path, "%s/%s/cgroup.procs", dir, e->d_name);
      FILE *f = fopen(path, "re");
      int busy = f && fscanf(f, "%*d") != EOF;
      if (f) fclose(f);
      if (!busy) continue;
      snprintf(path, sizeof path, "%s/%s/cpuset.cpus", dir, e->d_name);
      f = fopen(path, "re");
      if (f && fgets(text, sizeof text, f)) {
        text[strcspn(text, "\n")] = '\0';
        count_cores(text, load);
      }
      if (f) fclose(f);
    }
    if (cd) closedir(cd);
  }
  if (d) closedir(d);
}

int copy_limits_pick_cpus(ctl *c, const copy *cp, char *out, size_t outsz) {
  out[0] = '\0';
  copy_limits *l = c->limits;
  int64_t milli = cp->need.cpu_milli;
  if (!l || milli <= 0) return 0;
  int need = (int)((milli + 999) / 1000);
  static int own[CPU_SETSIZE], other[CPU_SETSIZE];
  memset(own, 0, sizeof own);
  memset(other, 0, sizeof other);
  for (ic *x = c->ics; x; x = x->next)
    for (copy *o = x->copies; o; o = o->next)
      if (o != cp && !o->dead) count_cores(o->cpus, own);
  if (l->version != CGROUP_NONE) count_other_agents(l, other);
  cpu_set_t chosen;
  cgroup_cpus_pick(&l->allowed, own, other, need, &chosen);
  return cgroup_cpus_format(&chosen, out, outsz);
}

int64_t copy_limits_memory_max_mb(const copy *cp) {
  json_t *crr = json_object_get(json_object_get(copy_doc(cp), "Specification"),
                                "ComputeResourceRequirements");
  json_t *v = json_object_get(crr, "MaxMemoryRequiredInMb");
  if (!json_is_number(v) || json_number_value(v) <= 0) return 0;
  return (int64_t)ceil(json_number_value(v));
}

int copy_limits_cgroup_parent(const ctl *c, const copy *cp, char *out, size_t outsz) {
  const copy_limits *l = c->limits;
  if (!l || l->version == CGROUP_NONE) return 0;
  snprintf(out, outsz, "/berth/%s/copy-%lld", l->agent, (long long)cp->id);
  return 1;
}

int copy_limits_cgroup_of(const ctl *c, const copy *cp, cgroup_copy *g) {
  const copy_limits *l = c->limits;
  if (!l || l->version == CGROUP_NONE) return 0;
  char name[200];
  snprintf(name, sizeof name, "berth/%s/copy-%lld", l->agent, (long long)cp->id);
  cgroup_copy_init(g, l->version, l->root, name);
  return 1;
}

int copy_limits_shim_args(ctl *c, copy *cp, copy_limits_args *a, char **argv) {
  copy_limits *l = c->limits;
  int n = 0;
  if (!l) return 0;
  if (l->version != CGROUP_NONE) {
    snprintf(a->cgroup, sizeof a->cgroup, "berth/%s/copy-%lld", l->agent, (long long)cp->id);
    argv[n++] = "--cgroup";
    argv[n++] = a->cgroup;
  }
  if (cp->cpus[0]) {
    argv[n++] = "--cpus";
    argv[n++] = cp->cpus;
  }
  int64_t mb = copy_limits_memory_max_mb(cp);
  if (mb > 0) {
    snprintf(a->memory, sizeof a->memory, "%lld", (long long)mb);
    argv[n++] = "--memory-max";
    argv[n++] = a->memory;
  }
  return n;
}

static int copy_runs(ctl *c, int64_t id) {
  for (ic *x = c->ics; x; x = x->next)
    for (copy *o = x->copies; o; o = o->next)
      if (o->id == id && o->pid && !o->dead) return 1;
  return 0;
}

/* Empties and removes this agent's groups whose copy runs no shim; 1
 * while some are still busy. */
static int sweep(ctl *c) {
  copy_limits *l = c->limits;
  char base[CGROUP_PATH_MAX];
  /* v1: the cpuset hierarchy lists them (both are made together). */
  snprintf(base, sizeof base, "%s%s/berth/%s", l->root, l->version == CGROUP_V1 ? "/cpuset" : "",
           l->agent);
  int busy = 0;
  DIR *d = opendir(base);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char *end;
    if (strncmp(e->d_name, "copy-", 5) != 0) continue;
    long long id = strtoll(e->d_name + 5, &end, 10);
    if (*end || end == e->d_name + 5 || copy_runs(c, id)) continue;
    char name[400];
    snprintf(name, sizeof name, "berth/%s/%s", l->agent, e->d_name);
    cgroup_copy g;
    cgroup_copy_init(&g, l->version, l->root, name);
    cgroup_copy_kill(&g);
    int rc = cgroup_copy_remove(&g);
    if (rc == -EBUSY) busy = 1;
    else if (rc)
      berth_log(BERTH_LOG_WARN, "cannot remove copy %lld's cgroup %s: %s", id, g.dir[0],
                strerror(-rc));
  }
  if (d) closedir(d);
  return busy;
}

static void on_sweep(uv_timer_t *t) {
  ctl *c = t->data;
  copy_limits *l = c->limits;
  if (!sweep(c)) {
    uv_timer_stop(t);
    return;
  }
  if (--l->sweep_rounds <= 0) {
    uv_timer_stop(t);
    berth_log(BERTH_LOG_WARN, "a stopped copy's cgroup under %s/berth/%s still holds processes "
              "after %d s; left in place", l->root, l->agent, SWEEP_ROUNDS * SWEEP_INTERVAL_MS / 1000);
  }
}

void copy_limits_exited(ctl *c, copy *cp, int sig, char *what, size_t whatsz) {
  copy_exit e;
  if (copy_exit_read(c, cp->id, &e) == 0 && e.oom_kills > 0) {
    char limit[96];
    /* A container's limit is the engine's: the shim did not set one. */
    long long mb = e.memory_max_mb ? e.memory_max_mb : copy_limits_memory_max_mb(cp);
    snprintf(limit, sizeof limit, "MaxMemoryRequiredInMb (%lld MiB: raise it, or make the "
             "server use less)", mb);
    if (sig == SIGKILL)
      snprintf(what, whatsz, "was killed for exceeding its memory limit of %s", limit);
    else {
      char was[128];
      snprintf(was, sizeof was, "%s", what);
      snprintf(what, whatsz, "%s after the kernel killed %d of its processes for exceeding its "
               "memory limit of %s", was, e.oom_kills, limit);
    }
  }
  copy_limits *l = c->limits;
  if (!l || l->version == CGROUP_NONE) return;
  if (sweep(c)) {
    l->sweep_rounds = SWEEP_ROUNDS;
    uv_timer_start(&l->sweep, on_sweep, SWEEP_INTERVAL_MS, SWEEP_INTERVAL_MS);
  }
}

void copy_limits_close(ctl *c) {
  copy_limits *l = c->limits;
  if (!l || l->version == CGROUP_NONE) return;
  char dir[CGROUP_PATH_MAX];
  for (int i = 0; i < (l->version == CGROUP_V1 ? 2 : 1); i++) {
    snprintf(dir, sizeof dir, "%s%s/berth/%s", l->root,
             l->version == CGROUP_V2 ? "" : i ? "/memory" : "/cpuset", l->agent);
    rmdir(dir); /* EBUSY while a copy's group is in it: it stays */
  }
}

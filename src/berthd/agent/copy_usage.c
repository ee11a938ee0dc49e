/* copy_usage: see copy_usage.h.
 *
 * DESIGN: one pass over /proc per measurement serves every copy: each
 * process's parent, CPU ticks and RSS go into a bounded table
 * (MAX_PROCS; past it the rest of the host is not counted), then each
 * copy's tree is the closure of its shim's pid over parents. A copy's CPU
 * figure is the difference of its CPU seconds between two readings over
 * the time between them, so the first reading of a copy has memory only. */
#include "copy_usage.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_devices.h"
#include "berth/nvml.h"
#include "cgroup.h"
#include "copy_limits.h"

#define MAX_PROCS 65536

typedef struct proc_row {
  int pid, ppid;
  double cpu_s, rss_mb;
  int in_tree;
} proc_row;

static int read_text(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  size_t n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = '\0';
  return (int)n;
}

/* Reads /proc/PID/stat of every process into rows (at most max). */
static size_t scan_proc(proc_row *rows, size_t max) {
  DIR *d = opendir("/proc");
  if (!d) return 0;
  double tick = (double)sysconf(_SC_CLK_TCK), page_mb = (double)sysconf(_SC_PAGESIZE) / 1048576.0;
  if (tick <= 0) tick = 100;
  size_t n = 0;
  struct dirent *e;
  while (n < max && (e = readdir(d))) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    char path[300], text[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    if (read_text(path, text, sizeof text) <= 0) continue;
    /* The name may hold spaces and parentheses: fields start after the last ')'. */
    char *p = strrchr(text, ')');
    if (!p) continue;
    char state;
    int ppid;
    unsigned long long utime, stime;
    long long rss;
    if (sscanf(p + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                      "%*d %*d %*u %*u %lld", &state, &ppid, &utime, &stime, &rss) != 5)
      continue;
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0) continue;
    rows[n++] = (proc_row){(int)pid, ppid, (double)(utime + stime) / tick,
                           rss > 0 ? (double)rss * page_mb : 0, 0};
  }
  closedir(d);
  return n;
}

/* CPU seconds and RSS of root and every process under it. */
static int tree_usage(proc_row *rows, size_t n, int root, double *cpu_s, double *rss_mb) {
  int found = 0;
  for (size_t i = 0; i < n; i++) {
    rows[i].in_tree = rows[i].pid == root;
    found |= rows[i].in_tree;
  }
  if (!found) return -1;
  for (int changed = 1; changed;) {
    changed = 0;
    for (size_t i = 0; i < n; i++) {
      if (rows[i].in_tree) continue;
      for (size_t k = 0; k < n; k++)
        if (rows[k].in_tree && rows[k].pid == rows[i].ppid) {
          rows[i].in_tree = changed = 1;
          break;
        }
    }
  }
  *cpu_s = *rss_mb = 0;
  for (size_t i = 0; i < n; i++)
    if (rows[i].in_tree) {
      *cpu_s += rows[i].cpu_s;
      *rss_mb += rows[i].rss_mb;
    }
  return 0;
}

/* From cp's cgroup: CPU seconds (v2) and memory; -1 for what it lacks. */
static void cgroup_usage(const ctl *c, const copy *cp, double *cpu_s, double *mem_mb) {
  cgroup_copy g;
  *cpu_s = *mem_mb = -1;
  if (!copy_limits_cgroup_of(c, cp, &g)) return;
  char path[CGROUP_PATH_MAX + 40], text[4096];
  if (g.version == CGROUP_V2) {
    snprintf(path, sizeof path, "%s/cpu.stat", g.dir[0]);
    if (read_text(path, text, sizeof text) > 0) {
      char *p = strstr(text, "usage_usec ");
      if (p) *cpu_s = strtod(p + 11, NULL) / 1e6;
    }
  }
  snprintf(path, sizeof path, "%s/%s", g.memory_dir,
           g.version == CGROUP_V2 ? "memory.current" : "memory.usage_in_bytes");
  if (read_text(path, text, sizeof text) > 0) *mem_mb = strtod(text, NULL) / 1048576.0;
}

/* ---- GPUs ---- */

static berth_nvml *nvml;
static int nvml_tried;

static void gpu_usage(const copy *cp, copy_usage *u) {
  u->has_gpu = 0;
  if (cp->assign.n_devices <= 0) return;
  if (!nvml_tried) {
    nvml_tried = 1;
    nvml = berth_nvml_open();
  }
  if (!nvml) return;
  double busy = 0, mem = 0;
  int n = 0;
  for (int i = 0; i < cp->assign.n_devices; i++) {
    berth_gpu_usage g;
    int dev = agent_device(cp, cp->assign.devices[i]);
    if (dev < 0 || berth_nvml_usage(nvml, dev, &g) != 0) continue;
    busy += g.busy_percent;
    /* Its share of the device's memory in use: a shared device is split
     * by the shares reserved on it. */
    double share = cp->assign.dev_milli_each > 0 && cp->assign.dev_milli_each < 1000
                       ? cp->assign.dev_milli_each / 1000.0
                       : 1.0;
    mem += (double)g.memory_used_mib * share;
    n++;
  }
  if (!n) return;
  u->has_gpu = 1;
  u->gpu_percent = busy / n;
  u->gpu_memory_mb = mem;
}

void copy_usage_measure(ctl *c, double now) {
  proc_row *rows = NULL;
  size_t n = 0;
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next) {
      copy_usage *u = &cp->usage;
      if (cp->pid <= 0) {
        u->has = u->has_gpu = 0;
        u->at_s = 0;
        continue;
      }
      double cpu_s, mem_mb, tree_cpu = -1, tree_mem = -1;
      cgroup_usage(c, cp, &cpu_s, &mem_mb);
      if (cpu_s < 0 || mem_mb < 0) {
        if (!rows) {
          rows = berth_xcalloc(MAX_PROCS, sizeof *rows);
          n = scan_proc(rows, MAX_PROCS);
        }
        if (tree_usage(rows, n, cp->pid, &tree_cpu, &tree_mem) == 0) {
          if (cpu_s < 0) cpu_s = tree_cpu;
          if (mem_mb < 0) mem_mb = tree_mem;
        }
      }
      if (cpu_s < 0 || mem_mb < 0) {
        u->has = 0;
        continue;
      }
      /* A reading at least half a second after the last gives a rate. */
      if (u->at_s > 0 && now - u->at_s >= 0.5 && cpu_s >= u->cpu_s) {
        u->cpu_cores = (cpu_s - u->cpu_s) / (now - u->at_s);
        u->has = 1;
      } else if (u->at_s > 0 && now - u->at_s < 0.5) {
        u->memory_mb = mem_mb;
        continue; /* too soon: keep the last rate and its base */
      }
      u->memory_mb = mem_mb;
      u->cpu_s = cpu_s;
      u->at_s = now;
      gpu_usage(cp, u);
    }
  free(rows);
}

json_t *copy_usage_json(const copy *cp) {
  const copy_usage *u = &cp->usage;
  if (!u->has) return NULL;
  json_t *j = json_pack("{s:f,s:f}", "cpu_cores", u->cpu_cores, "memory_mb", u->memory_mb);
  if (u->has_gpu) {
    json_object_set_new(j, "gpu_percent", json_real(u->gpu_percent));
    json_object_set_new(j, "gpu_memory_mb", json_real(u->gpu_memory_mb));
  }
  return j;
}

void copy_usage_close(void) {
  berth_nvml_close(nvml);
  nvml = NULL;
  nvml_tried = 0;
}

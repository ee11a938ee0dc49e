/* cgroup: see cgroup.h. */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *cgroup_root(void) {
  const char *r = getenv("BERTH_CGROUP_ROOT");
  return r && r[0] ? r : "/sys/fs/cgroup";
}

/* Writes s to path (one write, as the cgroup files expect). 0 or -errno. */
static int put(const char *path, const char *s) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t len = strlen(s);
  ssize_t n = write(fd, s, len);
  int err = n < 0 ? -errno : (size_t)n == len ? 0 : -EIO;
  close(fd);
  return err;
}

/* The file's text, without the trailing newline. Its length or -errno. */
static int get(const char *path, char *buf, size_t bufsz) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = read(fd, buf, bufsz - 1);
  int err = n < 0 ? -errno : 0;
  close(fd);
  if (err) return err;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) n--;
  buf[n] = '\0';
  return (int)n;
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Whether the word w is in the blank-separated list s. */
static int has_word(const char *s, const char *w) {
  size_t wl = strlen(w);
  for (const char *p = s; (p = strstr(p, w)); p += wl)
    if ((p == s || p[-1] == ' ') && (p[wl] == '\0' || p[wl] == ' ' || p[wl] == '\n')) return 1;
  return 0;
}

cgroup_version cgroup_detect(const char *root, char *why, size_t whysz) {
  char path[CGROUP_PATH_MAX], text[512];
  snprintf(path, sizeof path, "%s/cgroup.controllers", root);
  if (get(path, text, sizeof text) >= 0) {
    if (has_word(text, "cpuset") && has_word(text, "memory")) return CGROUP_V2;
    snprintf(why, whysz, "the cgroup v2 hierarchy at %s offers \"%s\", not both cpuset and "
             "memory", root, text);
    return CGROUP_NONE;
  }
  static const char *const need[] = {"cpuset/cpuset.cpus", "memory/memory.limit_in_bytes"};
  for (size_t i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", root, need[i]);
    if (!exists(path)) {
      snprintf(why, whysz, "no cgroup v2 hierarchy (%s/cgroup.controllers) and no cgroup v1 "
               "%.6s hierarchy (%s)", root, need[i], path);
      return CGROUP_NONE;
    }
  }
  return CGROUP_V1;
}

static int fail(char *why, size_t whysz, int err, const char *what, const char *path) {
  snprintf(why, whysz, "%s %s: %s", what, path, strerror(-err));
  return err;
}

static int make_dir(const char *path, char *why, size_t whysz) {
  if (mkdir(path, 0755) == 0 || errno == EEXIST) return 0;
  return fail(why, whysz, -errno, "mkdir", path);
}

/* v1 cpuset: a group takes no task until its cpuset.cpus and cpuset.mems
 * are set; an empty one gets its parent's. */
static int inherit_cpuset(const char *dir, const char *file, char *why, size_t whysz) {
  char path[CGROUP_PATH_MAX + 32], parent[CGROUP_PATH_MAX + 32], text[1024];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  if (get(path, text, sizeof text) > 0) return 0;
  snprintf(parent, sizeof parent, "%s", dir);
  char *slash = strrchr(parent, '/');
  if (!slash) return -EINVAL;
  snprintf(slash, sizeof parent - (size_t)(slash - parent), "/%s", file);
  int rc = get(parent, text, sizeof text);
  if (rc < 0) return fail(why, whysz, rc, "read", parent);
  rc = put(path, text);
  return rc ? fail(why, whysz, rc, "write", path) : 0;
}

/* v2: cpuset and memory for the children of dir. */
static int enable_v2(const char *dir, char *why, size_t whysz) {
  char path[CGROUP_PATH_MAX + 32], text[512];
  snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir);
  if (get(path, text, sizeof text) >= 0 && has_word(text, "cpuset") && has_word(text, "memory"))
    return 0;
  int rc = put(path, "+cpuset +memory");
  return rc ? fail(why, whysz, rc, "write +cpuset +memory to", path) : 0;
}

int cgroup_base_make(cgroup_version v, const char *root, const char *agent, char *why,
                     size_t whysz) {
  char dir[CGROUP_PATH_MAX];
  int rc;
  if (v == CGROUP_V2) {
    if ((rc = enable_v2(root, why, whysz))) return rc;
    snprintf(dir, sizeof dir, "%s/berth", root);
    if ((rc = make_dir(dir, why, whysz)) || (rc = enable_v2(dir, why, whysz))) return rc;
    snprintf(dir, sizeof dir, "%s/berth/%s", root, agent);
    if ((rc = make_dir(dir, why, whysz)) || (rc = enable_v2(dir, why, whysz))) return rc;
    return 0;
  }
  if (v != CGROUP_V1) return -EINVAL;
  static const char *const ctrls[] = {"cpuset", "memory"};
  for (int i = 0; i < 2; i++)
    for (int depth = 0; depth < 2; depth++) {
      if (depth == 0)
        snprintf(dir, sizeof dir, "%s/%s/berth", root, ctrls[i]);
      else
        snprintf(dir, sizeof dir, "%s/%s/berth/%s", root, ctrls[i], agent);
      if ((rc = make_dir(dir, why, whysz))) return rc;
      if (i == 0 && ((rc = inherit_cpuset(dir, "cpuset.cpus", why, whysz)) ||
                     (rc = inherit_cpuset(dir, "cpuset.mems", why, whysz))))
        return rc;
    }
  return 0;
}

void cgroup_copy_init(cgroup_copy *g, cgroup_version v, const char *root, const char *name) {
  memset(g, 0, sizeof *g);
  g->version = v;
  if (v == CGROUP_V2) {
    g->n = 1;
    snprintf(g->dir[0], sizeof g->dir[0], "%s/%s", root, name);
  } else if (v == CGROUP_V1) {
    g->n = 2;
    snprintf(g->dir[0], sizeof g->dir[0], "%s/cpuset/%s", root, name);
    snprintf(g->dir[1], sizeof g->dir[1], "%s/memory/%s", root, name);
  }
  for (int i = 0; i < g->n; i++)
    snprintf(g->procs[i], sizeof g->procs[i], "%s/cgroup.procs", g->dir[i]);
  snprintf(g->memory_dir, sizeof g->memory_dir, "%s", g->dir[g->n > 1 ? 1 : 0]);
}

/* Writes s to dir/file; optional files (memsw without swap accounting,
 * swappiness where the kernel dropped it) may be absent. */
static int set(const char *dir, const char *file, const char *s, int optional, char *why,
               size_t whysz) {
  char path[CGROUP_PATH_MAX + 40];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int rc = put(path, s);
  if (rc == 0 || (optional && (rc == -ENOENT || rc == -EINVAL || rc == -EACCES))) return 0;
  snprintf(why, whysz, "write %s to %s: %s", s, path, strerror(-rc));
  return rc;
}

int cgroup_copy_make(cgroup_copy *g, const char *cpus, int64_t memory_max_mb, char *why,
                     size_t whysz) {
  char bytes[32];
  int rc;
  for (int i = 0; i < g->n; i++)
    if ((rc = make_dir(g->dir[i], why, whysz))) return rc;
  int pinned = cpus && cpus[0];
  if (memory_max_mb > 0) snprintf(bytes, sizeof bytes, "%lld", (long long)memory_max_mb << 20);
  if (g->version == CGROUP_V2) {
    const char *d = g->dir[0];
    if (pinned && (rc = set(d, "cpuset.cpus", cpus, 0, why, whysz))) return rc;
    if ((rc = set(d, "memory.max", memory_max_mb > 0 ? bytes : "max", 0, why, whysz)))
      return rc;
    /* Over its limit a copy is killed, not swapped out... */
    if ((rc = set(d, "memory.swap.max", memory_max_mb > 0 ? "0" : "max", 1, why, whysz)))
      return rc;
    /* ...and as a whole: a model server half killed serves nobody. */
    return set(d, "memory.oom.group", "1", 1, why, whysz);
  }
  if ((rc = inherit_cpuset(g->dir[0], "cpuset.mems", why, whysz))) return rc;
  if (pinned) {
    if ((rc = set(g->dir[0], "cpuset.cpus", cpus, 0, why, whysz))) return rc;
  } else if ((rc = inherit_cpuset(g->dir[0], "cpuset.cpus", why, whysz))) {
    return rc;
  }
  const char *m = g->dir[1];
  /* memsw may not be below the limit: lift it first (a reused group may
   * hold an old, lower one), then set both. */
  if ((rc = set(m, "memory.memsw.limit_in_bytes", "-1", 1, why, whysz))) return rc;
  if ((rc = set(m, "memory.limit_in_bytes", memory_max_mb > 0 ? bytes : "-1", 0, why, whysz)))
    return rc;
  if (memory_max_mb > 0 &&
      (rc = set(m, "memory.memsw.limit_in_bytes", bytes, 1, why, whysz)))
    return rc;
  if ((rc = set(m, "memory.swappiness", "0", 1, why, whysz))) return rc;
  /* oom_kill_disable 0: the kernel kills in the group rather than
   * pausing it at the limit (a paused copy looks alive and answers
   * nothing). */
  return set(m, "memory.oom_control", "0", 1, why, whysz);
}

int cgroup_copy_join(const cgroup_copy *g) {
  for (int i = 0; i < g->n; i++) {
    int fd = open(g->procs[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = write(fd, "0", 1);
    int err = n == 1 ? 0 : n < 0 ? -errno : -EIO;
    close(fd);
    if (err) return err;
  }
  return 0;
}

int cgroup_copy_oom_kills(const cgroup_copy *g) {
  char path[CGROUP_PATH_MAX + 32], text[2048];
  snprintf(path, sizeof path, "%s/%s", g->memory_dir,
           g->version == CGROUP_V2 ? "memory.events" : "memory.oom_control");
  if (g->n == 0 || get(path, text, sizeof text) < 0) return 0;
  for (char *p = text; (p = strstr(p, "oom_kill ")); p++) {
    if (p != text && p[-1] != '\n') continue;
    char *end;
    long n = strtol(p + 9, &end, 10);
    if (end != p + 9 && n > 0 && n < 1000000) return (int)n;
    return 0;
  }
  return 0;
}

/* Calls fn for each pid in g's cgroup.procs files; how many it saw. */
static int each_pid(const cgroup_copy *g, void (*fn)(int pid)) {
  int count = 0;
  for (int i = 0; i < g->n; i++) {
    FILE *f = fopen(g->procs[i], "re");
    if (!f) continue;
    long pid;
    while (fscanf(f, "%ld", &pid) == 1)
      if (pid > 0 && pid < 1L << 22) {
        if (fn) fn((int)pid);
        count++;
      }
    fclose(f);
  }
  return count;
}

static void kill_pid(int pid) {
  kill(pid, SIGKILL);
}

int cgroup_copy_kill(const cgroup_copy *g) {
  return each_pid(g, kill_pid);
}

int cgroup_copy_populated(const cgroup_copy *g) {
  return each_pid(g, NULL) > 0;
}

int cgroup_copy_freeze(const cgroup_copy *g, int frozen) {
  if (g->version != CGROUP_V2) return -ENOTSUP;
  char path[CGROUP_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/cgroup.freeze", g->dir[0]);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = write(fd, frozen ? "1" : "0", 1) == 1 ? 0 : -errno;
  close(fd);
  return rc;
}

/* Removes the groups below dir, deepest first: a container engine makes
 * its own under a copy's (podman: the container's and conmon's). */
static void remove_below(const char *dir, int depth) {
  DIR *d = depth < 4 ? opendir(dir) : NULL;
  if (!d) return;
  struct dirent *e;
  char sub[CGROUP_PATH_MAX + 256];
  while ((e = readdir(d)))
    if (e->d_type == DT_DIR && e->d_name[0] != '.') {
      int n = snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
      if (n < 0 || (size_t)n >= sizeof sub) continue; /* cut: another group's name */
      remove_below(sub, depth + 1);
      rmdir(sub);
    }
  closedir(d);
}

int cgroup_copy_remove(const cgroup_copy *g) {
  int first = 0;
  for (int i = 0; i < g->n; i++) {
    remove_below(g->dir[i], 0);
    if (rmdir(g->dir[i]) != 0 && errno != ENOENT && !first) first = -errno;
  }
  return first;
}

int cgroup_copy_limit_reached(const cgroup_copy *g) {
  if (g->n == 0 || g->version != CGROUP_V1) return 0;
  char path[CGROUP_PATH_MAX + 32], text[64];
  snprintf(path, sizeof path, "%s/memory.max_usage_in_bytes", g->memory_dir);
  if (get(path, text, sizeof text) < 0) return 0;
  long long max_usage = strtoll(text, NULL, 10);
  snprintf(path, sizeof path, "%s/memory.limit_in_bytes", g->memory_dir);
  if (get(path, text, sizeof text) < 0) return 0;
  long long limit = strtoll(text, NULL, 10);
  return limit > 0 && max_usage >= limit;
}

/* ---- CPU lists ---- */

int cgroup_cpus_parse(const char *list, cpu_set_t *set) {
  CPU_ZERO(set);
  const char *p = list;
  while (*p == ' ' || *p == '\n') p++;
  if (!*p) return 0;
  for (;;) {
    char *end;
    long a = strtol(p, &end, 10), b = a;
    if (end == p || a < 0 || a >= CPU_SETSIZE) return -EINVAL;
    p = end;
    if (*p == '-') {
      b = strtol(p + 1, &end, 10);
      if (end == p + 1 || b < a || b >= CPU_SETSIZE) return -EINVAL;
      p = end;
    }
    for (long cpu = a; cpu <= b; cpu++) CPU_SET((size_t)cpu, set);
    if (*p == ',') {
      p++;
      continue;
    }
    while (*p == ' ' || *p == '\n') p++;
    return *p ? -EINVAL : 0;
  }
}

int cgroup_cpus_format(const cpu_set_t *set, char *out, size_t outsz) {
  size_t len = 0;
  out[0] = '\0';
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET((size_t)cpu, set)) continue;
    int last = cpu;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET((size_t)last + 1, set)) last++;
    int n = last == cpu ? snprintf(out + len, outsz - len, "%s%d", len ? "," : "", cpu)
                        : snprintf(out + len, outsz - len, "%s%d-%d", len ? "," : "", cpu, last);
    if (n < 0 || (size_t)n >= outsz - len) {
      out[0] = '\0';
      return -ENOSPC;
    }
    len += (size_t)n;
    cpu = last;
  }
  return 0;
}

int cgroup_cpus_pick(const cpu_set_t *allowed, const int *own, const int *other, int need,
                     cpu_set_t *out) {
  CPU_ZERO(out);
  int chosen = 0;
  while (chosen < need) {
    int best = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
      if (!CPU_ISSET((size_t)cpu, allowed) || CPU_ISSET((size_t)cpu, out)) continue;
      if (best < 0 || own[cpu] < own[best] ||
          (own[cpu] == own[best] && other[cpu] < other[best]))
        best = cpu;
    }
    if (best < 0) break; /* every allowed core is taken: all of them */
    CPU_SET((size_t)best, out);
    chosen++;
  }
  return chosen;
}

/* container: see container.h.
 *
 * DESIGN: podman runs rootful with host networking, so a server binds the
 * copy's port from SAGEMAKER_BIND_TO_PORT exactly as a process copy does
 * and the router reaches it on loopback; an image that can only listen on
 * a fixed port gets its own network with that port published instead. The
 * copy's environment reaches the container by name only (`--env NAME`:
 * the engine reads the value from its own environment, the shim's), so
 * values such as tokens never appear on a command line, and the agent's
 * own environment is not passed in. Containers are not removed by the
 * engine on exit (no --rm): the agent removes them itself, which also
 * covers a podman that was killed before its container stopped. */
#include "container.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/log.h"

static int find_in_path(const char *prog, char *out, size_t n) {
  if (strchr(prog, '/')) {
    if (access(prog, X_OK) != 0) return -ENOENT;
    snprintf(out, n, "%s", prog);
    return 0;
  }
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
  for (const char *p = path; *p;) {
    const char *e = strchr(p, ':');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char cand[512];
    if (len && len < 400) {
      snprintf(cand, sizeof cand, "%.*s/%s", (int)len, p, prog);
      if (access(cand, X_OK) == 0 && strlen(cand) < n) {
        memcpy(out, cand, strlen(cand) + 1);
        return 0;
      }
    }
    p += len + (e ? 1 : 0);
    if (!e) break;
  }
  return -ENOENT;
}

/* Whether a directory holds a CDI spec that names NVIDIA's GPUs. */
static int cdi_in(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *ent;
  int found = 0;
  while (!found && (ent = readdir(d))) {
    if (!strstr(ent->d_name, ".yaml") && !strstr(ent->d_name, ".json")) continue;
    char path[1024], chunk[4096];
    snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t n = fread(chunk, 1, sizeof chunk - 1, f);
    fclose(f);
    chunk[n] = '\0';
    found = strstr(chunk, "nvidia.com/gpu") != NULL;
  }
  closedir(d);
  return found;
}

int container_detect(container_engine *e) {
  memset(e, 0, sizeof *e);
  const char *want = getenv("BERTH_CONTAINER_ENGINE");
  if (want && *want) {
    if (strcmp(want, "none") == 0) return -ENOENT;
    if (find_in_path(want, e->path, sizeof e->path) != 0) {
      berth_log(BERTH_LOG_WARN, "BERTH_CONTAINER_ENGINE=%s is not an executable: container "
                "images cannot run on this instance", want);
      return -ENOENT;
    }
  } else if (find_in_path("podman", e->path, sizeof e->path) != 0 &&
             find_in_path("docker", e->path, sizeof e->path) != 0) {
    return -ENOENT;
  }
  if (strchr(e->path, '\'')) {
    /* It is quoted into shell commands below. */
    berth_log(BERTH_LOG_WARN, "container engine path '%s' contains a quote: not used", e->path);
    e->path[0] = '\0';
    return -ENOENT;
  }
  const char *base = strrchr(e->path, '/');
  base = base ? base + 1 : e->path;
  snprintf(e->name, sizeof e->name, "%s", strstr(base, "docker") ? "docker" : "podman");
  /* At agent start, before the loop runs: a short blocking call. */
  char cmd[400];
  snprintf(cmd, sizeof cmd, "'%s' version --format '{{.Client.Version}}' 2>/dev/null", e->path);
  FILE *p = popen(cmd, "r");
  if (p) {
    if (!fgets(e->version, sizeof e->version, p)) e->version[0] = '\0';
    e->version[strcspn(e->version, "\r\n")] = '\0';
    pclose(p);
  }
  /* crun fails on a hybrid (v1) cgroup layout such as Debian 12's; runc
   * works on both. */
  char runc[256];
  struct stat st;
  e->runc = strcmp(e->name, "podman") == 0 && find_in_path("runc", runc, sizeof runc) == 0 &&
            stat("/sys/fs/cgroup/cgroup.controllers", &st) != 0;
  e->cdi = cdi_in("/etc/cdi") || cdi_in("/var/run/cdi");
  snprintf(cmd, sizeof cmd, "'%s' info --format '%s' 2>/dev/null", e->path,
           strcmp(e->name, "docker") == 0 ? "{{.CgroupDriver}}" : "{{.Host.CgroupManager}}");
  p = popen(cmd, "r");
  if (p) {
    char manager[64] = "";
    if (fgets(manager, sizeof manager, p)) e->cgroupfs = strncmp(manager, "cgroupfs", 8) == 0;
    pclose(p);
  }
  return 0;
}

void container_describe(const container_engine *e, char *out, size_t n) {
  if (!e->path[0])
    snprintf(out, n, "none");
  else
    snprintf(out, n, "%s%s%s", e->name, e->version[0] ? " " : "", e->version);
}

int container_is_image(const char *image) {
  return image && *image && image[0] != '/' && strcmp(image, "berth-model") != 0 &&
         !strchr(image, ' ') && !strchr(image, '\t');
}

int container_reference_check(const char *image, char *why, size_t n) {
  size_t len = strlen(image);
  if (len == 0 || len > 255) {
    snprintf(why, n, "Image '%.300s' must be 1 to 255 characters", image);
    return -EINVAL;
  }
  int first_ok = (image[0] >= 'a' && image[0] <= 'z') || (image[0] >= 'A' && image[0] <= 'Z') ||
                 (image[0] >= '0' && image[0] <= '9');
  const char *bad = image + strspn(image, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789._-/:@");
  if (!first_ok || *bad || strstr(image, "//") || strstr(image, "..")) {
    snprintf(why, n, "Image '%s' is not a container image reference: it must be "
             "[REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], start with a letter or digit and use only "
             "letters, digits and . _ - / : @ (for example docker.io/vllm/vllm-openai:v0.7.3)",
             image);
    return -EINVAL;
  }
  return 0;
}

void container_name(const ctl *c, int64_t copy_id, char *out, size_t n) {
  snprintf(out, n, "berth-%s-%lld", c->agent_id[0] ? c->agent_id : "local", (long long)copy_id);
}

typedef struct {
  char **argv;
  int n, max;
  char *buf;
  size_t used, len;
  int full;
} arglist;

static void add(arglist *a, const char *fmt, ...) {
  if (a->full || a->n >= a->max - 1) {
    a->full = 1;
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(a->buf + a->used, a->len - a->used, fmt, ap);
  va_end(ap);
  if (w < 0 || (size_t)w >= a->len - a->used) {
    a->full = 1;
    return;
  }
  a->argv[a->n++] = a->buf + a->used;
  a->used += (size_t)w + 1;
}

/* The hard limit of one resource for the container, within what the
 * agent itself may have. */
static unsigned long container_ulimit(int resource, unsigned long cap) {
  struct rlimit r;
  if (getrlimit(resource, &r) == 0 && r.rlim_max != RLIM_INFINITY && r.rlim_max < cap)
    return (unsigned long)r.rlim_max;
  return cap;
}

static void add_devices(arglist *a, const container_engine *e, const container_spec *s) {
  if (s->n_devices <= 0) return;
  if (s->neuron) {
    for (int i = 0; i < s->n_devices; i++) add(a, "--device=/dev/neuron%d", s->devices[i]);
    return;
  }
  if (strcmp(e->name, "docker") == 0) {
    char list[256] = "";
    size_t len = 0;
    for (int i = 0; i < s->n_devices && len < sizeof list; i++)
      len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", i ? "," : "", s->devices[i]);
    add(a, "--gpus=\"device=%s\"", list);
    return;
  }
  if (e->cdi) {
    for (int i = 0; i < s->n_devices; i++) add(a, "--device=nvidia.com/gpu=%d", s->devices[i]);
    return;
  }
  /* No CDI spec: the device nodes themselves, and the driver's shared
   * ones where they exist. */
  for (int i = 0; i < s->n_devices; i++) add(a, "--device=/dev/nvidia%d", s->devices[i]);
  static const char *const shared[] = {"/dev/nvidiactl", "/dev/nvidia-uvm",
                                       "/dev/nvidia-uvm-tools"};
  for (size_t i = 0; i < sizeof shared / sizeof *shared; i++)
    if (access(shared[i], F_OK) == 0) add(a, "--device=%s", shared[i]);
}

int container_command(const container_engine *e, const container_spec *s, char **argv, int max,
                      char *buf, size_t len) {
  arglist a = {.argv = argv, .max = max, .buf = buf, .len = len};
  add(&a, "%s", e->path);
  if (e->runc) add(&a, "--runtime=runc");
  add(&a, "run");
  add(&a, "--name=%s", s->name);
  if (strcmp(e->name, "podman") == 0) add(&a, "--replace");
  for (int i = 0; i < 4; i++)
    if (s->labels[i][0]) add(&a, "--label=%s=%s", s->labels[i][0], s->labels[i][1]);
  if (s->container_port > 0) {
    add(&a, "--publish=%s:%d:%d", s->bind_host, s->port, s->container_port);
  } else {
    add(&a, "--network=host");
  }
  /* Set explicitly: podman 4.3 otherwise applies limits its runtime may
   * refuse. */
  add(&a, "--ulimit=nofile=%lu:%lu", container_ulimit(RLIMIT_NOFILE, 65536),
      container_ulimit(RLIMIT_NOFILE, 65536));
  /* Some hosts refuse more processes than there are pids. */
  unsigned long nproc = 65536;
  FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
  if (f) {
    unsigned long pids;
    if (fscanf(f, "%lu", &pids) == 1 && pids > 0 && pids < nproc) nproc = pids;
    fclose(f);
  }
  nproc = container_ulimit(RLIMIT_NPROC, nproc);
  add(&a, "--ulimit=nproc=%lu:%lu", nproc, nproc);
  add(&a, "--security-opt=no-new-privileges");
  if (s->cgroup_parent) {
    /* The shim made the group with the copy's cpuset and memory limit
     * and reads the kernel's OOM kills there: podman 4.3 on cgroup v1
     * does not report them (State.OOMKilled stays false). */
    add(&a, "--cgroup-parent=%s", s->cgroup_parent);
  } else if (s->cpus && *s->cpus) {
    add(&a, "--cpuset-cpus=%s", s->cpus);
  }
  if (!s->cgroup_parent && s->memory_mb > 0) {
    add(&a, "--memory=%ldm", s->memory_mb);
    add(&a, "--memory-swap=%ldm", s->memory_mb); /* no swap beyond it */
  }
  add_devices(&a, e, s);
  if (s->model_dir && *s->model_dir) add(&a, "--volume=%s:/opt/ml/model:ro", s->model_dir);
  add(&a, "--env=SM_MODEL_DIR=/opt/ml/model");
  if (s->n_devices > 0 && !s->neuron) {
    /* Inside, the devices it was given are the only ones, numbered from 0. */
    char list[256] = "";
    size_t l = 0;
    for (int i = 0; i < s->n_devices && l < sizeof list; i++)
      l += (size_t)snprintf(list + l, sizeof list - l, "%s%d", i ? "," : "", i);
    add(&a, "--env=CUDA_VISIBLE_DEVICES=%s", list);
  }
  for (char *const *n = s->env_names; n && *n; n++) add(&a, "--env=%s", *n);
  if (s->shm_size) add(&a, "--shm-size=%s", s->shm_size);
  if (s->entrypoint) add(&a, "--entrypoint=%s", s->entrypoint);
  /* Nothing after this is the engine's option, whatever it looks like. */
  add(&a, "--");
  add(&a, "%s", s->image);
  if (s->args)
    for (char *const *p = s->args; *p; p++) add(&a, "%s", *p);
  else
    add(&a, "serve");
  if (a.full) return -E2BIG;
  argv[a.n] = NULL;
  return a.n;
}

static void on_remove_closed(uv_handle_t *h) { free(h); }

static void on_remove_exit(uv_process_t *p, int64_t status, int sig) {
  (void)status;
  (void)sig;
  uv_close((uv_handle_t *)p, on_remove_closed);
}

void container_remove(ctl *c, const char *name) {
  if (!c->engine.path[0] || !name[0]) return;
  char *args[9];
  int n = 0;
  args[n++] = c->engine.path;
  args[n++] = "rm";
  args[n++] = "--force";
  args[n++] = "--volumes"; /* an image's VOLUMEs are the container's */
  if (strcmp(c->engine.name, "podman") == 0) args[n++] = "--ignore";
  args[n++] = (char *)name;
  args[n] = NULL;
  uv_process_t *p = berth_xcalloc(1, sizeof *p);
  uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}, {.flags = UV_IGNORE},
                                   {.flags = UV_IGNORE}};
  uv_process_options_t o = {.exit_cb = on_remove_exit, .file = c->engine.path, .args = args,
                            .stdio = stdio, .stdio_count = 3};
  int rc = uv_spawn(c->loop, p, &o);
  if (rc) {
    berth_log(BERTH_LOG_WARN, "could not remove container %s: %s", name, uv_strerror(rc));
    uv_close((uv_handle_t *)p, on_remove_closed); /* initialized even so */
  }
}

static int owned(ctl *c, const char *name) {
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next)
      if (!cp->dead && strcmp(cp->container, name) == 0) return 1;
  return 0;
}

void container_sweep(ctl *c) {
  if (!c->engine.path[0] || !c->agent_id[0]) return;
  /* It goes into a shell command: only the characters agent ids have. */
  if (c->agent_id[strspn(c->agent_id, "abcdefghijklmnopqrstuvwxyz0123456789-")] ||
      strchr(c->engine.path, '\'')) {
    berth_log(BERTH_LOG_WARN, "agent id '%s' or engine path '%s' has characters this agent does "
              "not pass to a shell: containers it left are not removed", c->agent_id,
              c->engine.path);
    return;
  }
  char cmd[600];
  snprintf(cmd, sizeof cmd, "'%s' ps --all --filter label=berth.agent=%s --format '{{.Names}}' "
           "2>/dev/null", c->engine.path, c->agent_id);
  /* At agent start, before the loop runs. */
  FILE *p = popen(cmd, "r");
  if (!p) return;
  char line[256];
  while (fgets(line, sizeof line, p)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0] || owned(c, line)) continue;
    berth_log(BERTH_LOG_INFO, "removing container %s: no copy of this agent owns it", line);
    container_remove(c, line);
  }
  pclose(p);
}

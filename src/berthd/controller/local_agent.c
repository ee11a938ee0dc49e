/* local_agent: see local_agent.h. */
#include "local_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "berth/devices.h"
#include "berth/log.h"
#include "berth/secret.h"
#include "pool.h"
#include "store.h"

extern char **environ;

struct local_agent {
  local_agent *next;
  ctl *c;
  instance *inst;               /* NULL once released: then it only stops */
  int64_t id;
  char type[64];
  char token[65];
  char dir[1100];               /* its --data-dir */
  int pid;
  uv_process_t *proc;           /* when this controller started it */
  uv_poll_t *watch;             /* its pidfd, when adopted */
  int pidfd;
  uv_timer_t *timer;            /* restart backoff */
  int restarts;
  uint64_t started_ms;
  int open_handles;
};

static void start(local_agent *a);

static void maybe_free(local_agent *a) {
  if (a->inst || a->pid || a->open_handles) return;
  for (local_agent **pp = &a->c->local_agents; *pp; pp = &(*pp)->next)
    if (*pp == a) {
      *pp = a->next;
      break;
    }
  free(a);
}

static void on_closed(uv_handle_t *h) {
  local_agent *a = h->data;
  free(h);
  a->open_handles--;
  maybe_free(a);
}

static void close_h(local_agent *a, uv_handle_t *h) {
  h->data = a;
  uv_close(h, on_closed);
}

static void instance_key(int64_t id, char *out, size_t outsz) {
  snprintf(out, outsz, "i-%lld", (long long)id);
}

static void save(local_agent *a) {
  instance *in = a->inst;
  if (!in) return;
  json_t *doc = json_pack("{s:I,s:s,s:s,s:s,s:s,s:i,s:f}", "Id", (json_int_t)in->id, "Endpoint",
                          in->endpoint, "Variant", in->variant, "InstanceType", a->type, "Token",
                          a->token, "AgentPid", a->pid, "CreationTime", in->created);
  /* Its physical devices, so that a restarted controller keeps them. */
  json_t *devs = json_array();
  for (int i = 0; i < in->n_host_devices; i++)
    json_array_append_new(devs, json_integer(in->host_devices[i]));
  json_object_set_new(doc, "Devices", devs);
  char key[32];
  instance_key(in->id, key, sizeof key);
  if (store_put(a->c->db, "instance", key, doc) != 0)
    berth_log(BERTH_LOG_WARN, "instance %lld: cannot record it (store queue full)",
              (long long)in->id);
  json_decref(doc);
}

static void on_restart_timer(uv_timer_t *t) {
  local_agent *a = t->data;
  if (a->inst && !a->c->shutting_down) start(a);
}

/* Its agent is gone: start another (it adopts the copies). */
static void agent_gone(local_agent *a, const char *how) {
  a->pid = 0;
  if (!a->inst || a->c->shutting_down) {
    maybe_free(a);
    return;
  }
  uint64_t ran = uv_now(a->c->loop) - a->started_ms;
  if (ran > 60000) a->restarts = 0; /* it had been fine for a while */
  uint64_t delay = LOCAL_AGENT_BACKOFF_MIN_MS;
  for (int i = 0; i < a->restarts && delay < LOCAL_AGENT_BACKOFF_MAX_MS; i++) delay *= 2;
  if (delay > LOCAL_AGENT_BACKOFF_MAX_MS) delay = LOCAL_AGENT_BACKOFF_MAX_MS;
  a->restarts++;
  berth_log(BERTH_LOG_WARN, "instance %lld: its agent %s; starting it again in %llu ms (its "
            "copies keep running)", (long long)a->id, how, (unsigned long long)delay);
  if (!a->timer) {
    a->timer = berth_xcalloc(1, sizeof *a->timer);
    uv_timer_init(a->c->loop, a->timer);
    a->timer->data = a;
    a->open_handles++;
  }
  uv_timer_start(a->timer, on_restart_timer, delay, 0);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  local_agent *a = p->data;
  a->proc = NULL;
  close_h(a, (uv_handle_t *)p);
  char how[64];
  if (sig)
    snprintf(how, sizeof how, "was killed by signal %d", sig);
  else
    snprintf(how, sizeof how, "exited with status %lld", (long long)status);
  agent_gone(a, how);
}

static void on_adopted_exit(uv_poll_t *w, int status, int events) {
  (void)status;
  (void)events;
  local_agent *a = w->data;
  a->watch = NULL;
  close_h(a, (uv_handle_t *)w);
  close(a->pidfd);
  agent_gone(a, "exited");
}

/* 1: pid is this instance's agent, joined to this control URL with this
 * controller's --allow-exec and --copy-user; 2: it is this instance's
 * agent joined elsewhere or with another copy policy; 0: it is not. */
static int is_our_agent(const local_agent *a, int pid) {
  char cmd[16384];
  const copy_policy *p = &a->c->policy;
  size_t n = ctl_read_cmdline(pid, cmd, sizeof cmd);
  int dir = 0, join = 0, role = 0, allowed = 0, artifacts = 0, same_policy = 1;
  const char *user = "", *devices = "";
  char want_devices[SCHED_MAX_DEVICES * 4] = "";
  if (a->inst)
    berth_devices_format(a->inst->host_devices, a->inst->n_host_devices, want_devices,
                         sizeof want_devices);
  for (size_t i = 0; i < n; i += strlen(cmd + i) + 1) {
    const char *arg = cmd + i, *val = i + strlen(arg) + 1 < n ? arg + strlen(arg) + 1 : "";
    if (strcmp(arg, "agent") == 0) role = 1;
    if (strcmp(arg, "--data-dir") == 0 && strcmp(val, a->dir) == 0) dir = 1;
    if (strcmp(arg, "--join") == 0 && strcmp(val, a->c->control_url) == 0) join = 1;
    if (strcmp(arg, "--allow-exec") == 0 &&
        (allowed >= p->n_allow || strcmp(val, p->allow[allowed++]) != 0))
      same_policy = 0;
    if (strcmp(arg, "--allow-artifact-dir") == 0 &&
        (artifacts >= p->n_artifact || strcmp(val, p->artifact[artifacts++]) != 0))
      same_policy = 0;
    if (strcmp(arg, "--copy-user") == 0) user = val;
    if (strcmp(arg, "--devices") == 0) devices = val;
  }
  /* Another device set counts as another policy: it must not keep devices
   * this instance no longer holds. */
  if (allowed != p->n_allow || artifacts != p->n_artifact || strcmp(user, p->user) != 0 || strcmp(devices, want_devices) != 0)
    same_policy = 0;
  return role && dir ? (join && same_policy ? 1 : 2) : 0;
}

static int adopt(local_agent *a, int pid) {
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return -errno;
  a->pid = pid;
  a->pidfd = fd;
  a->watch = berth_xcalloc(1, sizeof *a->watch);
  uv_poll_init(a->c->loop, a->watch, fd);
  a->watch->data = a;
  a->open_handles++;
  uv_poll_start(a->watch, UV_READABLE, on_adopted_exit);
  a->started_ms = uv_now(a->c->loop);
  berth_log(BERTH_LOG_INFO, "instance %lld: its agent (pid %d) still runs: adopted",
            (long long)a->id, pid);
  return 0;
}

static void start(local_agent *a) {
  ctl *c = a->c;
  char parent[1100];
  snprintf(parent, sizeof parent, "%.1000s/instances", c->data_dir);
  mkdir(parent, 0700);
  mkdir(a->dir, 0700);
  char **env = NULL;
  size_t n = 0;
  for (char **e = environ; *e; e++) n++;
  env = berth_xcalloc(n + 2, sizeof *env);
  n = 0;
  for (char **e = environ; *e; e++)
    if (strncmp(*e, "BERTH_AGENT_TOKEN=", 18) != 0) env[n++] = *e;
  char tok[100];
  snprintf(tok, sizeof tok, "BERTH_AGENT_TOKEN=%s", a->token); /* not in ps */
  env[n++] = tok;
  char *fixed[] = {c->self_exe, "agent", "--join", c->control_url, "--instance-type", a->type,
                   "--data-dir", a->dir, "--shared-dir", c->data_dir, "--advertise", "127.0.0.1",
                   "--bind-host", "127.0.0.1", "--log-level", c->log_level[0] ? c->log_level : "info"};
  /* Our copy policy is the agent's: it checks every Image again at launch. */
  size_t nfixed = sizeof fixed / sizeof *fixed, k = nfixed;
  /* Room for the optional flags below (11 words) and the NULL. */
  char **argv = berth_xcalloc(nfixed + 2 * (size_t)c->policy.n_allow +
                                  2 * (size_t)c->policy.n_artifact + 14, sizeof *argv);
  memcpy(argv, fixed, sizeof fixed);
  for (int i = 0; i < c->policy.n_allow; i++) {
    argv[k++] = "--allow-exec";
    argv[k++] = c->policy.allow[i];
  }
  for (int i = 0; i < c->policy.n_artifact; i++) {
    argv[k++] = "--allow-artifact-dir";
    argv[k++] = c->policy.artifact[i];
  }
  if (c->policy.user[0]) {
    argv[k++] = "--copy-user";
    argv[k++] = c->policy.user;
  }
  /* Our own address on this host: plain HTTP there never leaves it. */
  if (strncmp(c->control_url, "http://127.", 11) != 0) argv[k++] = "--insecure";
  char devices[SCHED_MAX_DEVICES * 4];
  if (a->inst && a->inst->n_host_devices > 0) {
    berth_devices_format(a->inst->host_devices, a->inst->n_host_devices, devices,
                         sizeof devices);
    argv[k++] = "--devices";
    argv[k++] = devices;
  }
  char interval[32];
  if (c->health_interval_s > 0) {
    snprintf(interval, sizeof interval, "%g", c->health_interval_s);
    argv[k++] = "--health-interval";
    argv[k++] = interval;
  }
  char cache_mb[32];
  if (c->artifact_cache_mb > 0) {
    snprintf(cache_mb, sizeof cache_mb, "%g", c->artifact_cache_mb);
    argv[k++] = "--artifact-cache-mb";
    argv[k++] = cache_mb;
  }
  char retention_mb[32];
  if (c->log_retention_mb > 0) {
    snprintf(retention_mb, sizeof retention_mb, "%lld", (long long)c->log_retention_mb);
    argv[k++] = "--log-retention-mb";
    argv[k++] = retention_mb;
  }
  uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                   {.flags = UV_INHERIT_FD, .data.fd = 1},
                                   {.flags = UV_INHERIT_FD, .data.fd = 2}};
  uv_process_options_t o = {0};
  o.exit_cb = on_exit_cb;
  o.file = c->self_exe;
  o.args = argv;
  o.env = env;
  o.stdio = stdio;
  o.stdio_count = 3;
  /* Its own session: it outlives this controller, whose successor adopts
   * it. */
  o.flags = UV_PROCESS_DETACHED;
  a->proc = berth_xcalloc(1, sizeof *a->proc);
  a->proc->data = a;
  int rc = uv_spawn(c->loop, a->proc, &o);
  free(env);
  free(argv);
  a->open_handles++;
  if (rc) {
    close_h(a, (uv_handle_t *)a->proc);
    a->proc = NULL;
    char how[160];
    snprintf(how, sizeof how, "could not be started (%s)", uv_strerror(rc));
    agent_gone(a, how);
    return;
  }
  a->pid = a->proc->pid;
  a->started_ms = uv_now(c->loop);
  berth_log(BERTH_LOG_INFO, "instance %lld (%s): agent started (pid %d)", (long long)a->id,
            a->type, a->pid);
  save(a);
}

static local_agent *agent_new(ctl *c, instance *in, const char *token) {
  local_agent *a = berth_xcalloc(1, sizeof *a);
  a->c = c;
  a->inst = in;
  a->id = in->id;
  a->pidfd = -1;
  snprintf(a->type, sizeof a->type, "%s", in->type->name);
  snprintf(a->token, sizeof a->token, "%s", token);
  snprintf(in->token, sizeof in->token, "%s", token);
  snprintf(a->dir, sizeof a->dir, "%.1000s/instances/i-%lld", c->data_dir, (long long)in->id);
  in->agent = a;
  in->remote = 1; /* reached and driven through its agent, like a pool instance */
  snprintf(in->address, sizeof in->address, "127.0.0.1");
  a->next = c->local_agents;
  c->local_agents = a;
  return a;
}

static void new_token(char *out, size_t outsz) {
  if (berth_secret_random(out, outsz - 1 < 64 ? outsz - 1 : 64, BERTH_HEX_DIGITS))
    abort(); /* no randomness */
}

static instance *instance_alloc(ctl *c, int64_t id, const char *ep, const char *variant_name,
                                const berth_instance_type *t) {
  instance *in = berth_xcalloc(1, sizeof *in);
  in->id = id;
  snprintf(in->endpoint, sizeof in->endpoint, "%s", ep);
  snprintf(in->variant, sizeof in->variant, "%s", variant_name);
  in->type = t;
  in->res = sched_capacity(t);
  instance **pp = &c->instances;
  while (*pp) pp = &(*pp)->next;
  *pp = in;
  return in;
}

/* The smallest memory among the host devices idx (MiB); 0 when unknown. */
static long smallest_device_mib(const ctl *c, const int *idx, int n) {
  long smallest = 0;
  if (!c->host_devices) return 0;
  for (int i = 0; i < n; i++) {
    const berth_gpu *g = berth_devices_find(c->host_devices, idx[i]);
    if (g && (smallest == 0 || g->memory_mib < smallest)) smallest = g->memory_mib;
  }
  return smallest;
}

/* A copy may use no more memory per device than the device really has. */
static void clamp_device_memory(const ctl *c, instance *in) {
  long real = smallest_device_mib(c, in->host_devices, in->n_host_devices);
  if (real > 0 && real < in->res.dev_mem_mb) in->res.dev_mem_mb = real;
}

/* Marks in taken[] (indexed like c->host_devices->dev) the devices local
 * instances hold, skipping `except`. */
static void devices_taken(const ctl *c, const instance *except, unsigned char *taken) {
  const berth_devices *h = c->host_devices;
  memset(taken, 0, BERTH_MAX_HOST_DEVICES);
  for (const instance *in = c->instances; in; in = in->next) {
    if (!in->agent || in == except) continue; /* a pool instance's are another host's */
    for (int i = 0; i < in->n_host_devices; i++)
      for (int k = 0; k < h->n; k++)
        if (h->dev[k].index == in->host_devices[i]) taken[k] = 1;
  }
}

/* Says why an instance of type t cannot have its devices: the type, how
 * many it needs, which are free and who holds the others. */
static void no_devices_reason(const ctl *c, const berth_instance_type *t,
                              const unsigned char *taken, char *why, size_t whysz) {
  const berth_devices *h = c->host_devices;
  char free_list[BERTH_MAX_HOST_DEVICES * 4] = "", held[600] = "";
  int free_idx[BERTH_MAX_HOST_DEVICES], n_free = 0;
  for (int k = 0; k < h->n; k++)
    if (!taken[k]) free_idx[n_free++] = h->dev[k].index;
  berth_devices_format(free_idx, n_free, free_list, sizeof free_list);
  size_t len = 0;
  for (const instance *in = c->instances; in && len < sizeof held; in = in->next) {
    if (!in->agent || in->n_host_devices == 0) continue;
    char list[SCHED_MAX_DEVICES * 4];
    berth_devices_format(in->host_devices, in->n_host_devices, list, sizeof list);
    int w = snprintf(held + len, sizeof held - len, "%si-%lld (%s) has %s", len ? "; " : "",
                     (long long)in->id, in->endpoint, list);
    if (w < 0) break;
    len += (size_t)w;
  }
  snprintf(why, whysz, "Instance type %s needs %d accelerator devices of this host, but only %d "
           "of its %d (from %s) are free (free: %s; %s). Delete an endpoint that holds devices, "
           "or use an instance type with fewer.", t->name, t->accelerators, n_free, h->n,
           berth_devices_source_name(h->source), n_free ? free_list : "none",
           held[0] ? held : "no instance holds any");
}

instance *local_agent_launch(ctl *c, const char *ep, const char *variant_name,
                             const berth_instance_type *t, char *why, size_t whysz) {
  /* Devices first: an instance that cannot have them is never created. */
  int devs[SCHED_MAX_DEVICES], n_devs = 0;
  const berth_devices *h = c->host_devices;
  if (h && h->n > 0 && t->accelerators > 0) {
    unsigned char taken[BERTH_MAX_HOST_DEVICES];
    devices_taken(c, NULL, taken);
    if (berth_devices_pick(h, taken, t->accelerators, devs) != 0) {
      no_devices_reason(c, t, taken, why, whysz);
      return NULL;
    }
    n_devs = t->accelerators;
  }
  instance *in = instance_alloc(c, ++c->next_instance_id, ep, variant_name, t);
  in->created = ctl_now();
  memcpy(in->host_devices, devs, sizeof devs);
  in->n_host_devices = n_devs;
  clamp_device_memory(c, in);
  char token[65];
  new_token(token, sizeof token);
  local_agent *a = agent_new(c, in, token);
  save(a);
  if (c->control_url[0]) start(a);
  return in;
}

void local_agent_release(ctl *c, instance *in) {
  local_agent *a = in->agent;
  for (instance **pp = &c->instances; *pp; pp = &(*pp)->next)
    if (*pp == in) {
      *pp = in->next;
      break;
    }
  char key[32];
  instance_key(in->id, key, sizeof key);
  store_delete(c->db, "instance", key);
  pool_forget_instance(c, in);
  free(in);
  if (!a) return;
  a->inst = NULL;
  if (a->timer) uv_timer_stop(a->timer);
  if (a->pid) kill(a->pid, SIGTERM); /* it stops what it runs and exits */
  maybe_free(a);
}

static int load_one(const char *name, json_t *doc, void *ud) {
  ctl *c = ud;
  const char *type = json_string_value(json_object_get(doc, "InstanceType"));
  const char *token = json_string_value(json_object_get(doc, "Token"));
  const berth_instance_type *t = type ? berth_catalog_find(&c->catalog, type) : NULL;
  if (!t || !token) {
    berth_log(BERTH_LOG_WARN, "instance %s no longer loads (type %s not in the catalog)", name,
              type ? type : "(none)");
    return 0;
  }
  int64_t id = (int64_t)json_integer_value(json_object_get(doc, "Id"));
  instance *in = instance_alloc(c, id, json_string_value(json_object_get(doc, "Endpoint")) ?: "",
                                json_string_value(json_object_get(doc, "Variant")) ?: "", t);
  in->created = json_number_value(json_object_get(doc, "CreationTime"));
  if (id > c->next_instance_id) c->next_instance_id = id;
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(doc, "Devices"), i, d) {
    int idx = (int)json_integer_value(d);
    if (in->n_host_devices == SCHED_MAX_DEVICES) break;
    if (!berth_devices_find(c->host_devices, idx))
      berth_log(BERTH_LOG_WARN, "instance %s: its device %d is not among this host's %d "
                "(from %s) any more; it keeps it", name, idx,
                c->host_devices->n, berth_devices_source_name(c->host_devices->source));
    in->host_devices[in->n_host_devices++] = idx;
  }
  clamp_device_memory(c, in);
  local_agent *a = agent_new(c, in, token);
  a->pid = (int)json_integer_value(json_object_get(doc, "AgentPid")); /* checked at start */
  return 0;
}

int local_agent_load(ctl *c) {
  char err[256];
  c->host_devices = berth_xcalloc(1, sizeof *c->host_devices);
  if (berth_devices_probe(c->host_devices, err, sizeof err) < 0) {
    berth_log(BERTH_LOG_ERROR, "%s", err);
    return -1;
  }
  const berth_devices *h = c->host_devices;
  if (h->n > 0)
    berth_log(BERTH_LOG_INFO, "this host has %d accelerator devices (from %s): local instances "
              "get their own", h->n, berth_devices_source_name(h->source));
  int rc = store_each(c->db, "instance", load_one, c);
  if (rc || h->n == 0) return rc;
  /* Instances recorded before they had devices get theirs now (first free). */
  for (instance *in = c->instances; in; in = in->next) {
    if (!in->agent || in->n_host_devices > 0 || in->type->accelerators == 0) continue;
    unsigned char taken[BERTH_MAX_HOST_DEVICES];
    devices_taken(c, in, taken);
    if (berth_devices_pick(h, taken, in->type->accelerators, in->host_devices) == 0) {
      in->n_host_devices = in->type->accelerators;
      clamp_device_memory(c, in);
      save(in->agent);
    } else {
      char why[1024];
      no_devices_reason(c, in->type, taken, why, sizeof why);
      berth_log(BERTH_LOG_WARN, "instance %lld keeps logical device indices: %s",
                (long long)in->id, why);
    }
  }
  return 0;
}

void local_agent_start_all(ctl *c) {
  for (local_agent *a = c->local_agents; a; a = a->next) {
    if (!a->inst || a->proc || a->watch) continue;
    int pid = a->pid;
    a->pid = 0;
    if (pid > 0 && is_our_agent(a, pid) == 1 && adopt(a, pid) == 0) continue;
    if (pid > 0 && is_our_agent(a, pid) == 2) {
      /* This instance's agent from a start on another control URL or with
       * another copy policy: replace it (killing an agent leaves its copies
       * running; the new one adopts them). */
      berth_log(BERTH_LOG_INFO, "instance %lld: replacing its agent (pid %d), joined to another "
                "control URL or with other --allow-exec/--copy-user", (long long)a->id, pid);
      kill(pid, SIGKILL);
    }
    start(a);
  }
}

void local_agent_stop_all(ctl *c) {
  for (local_agent *a = c->local_agents; a; a = a->next) {
    if (a->timer) uv_timer_stop(a->timer);
    if (a->pid) kill(a->pid, SIGTERM);
  }
}

int local_agents_running(const ctl *c) {
  int n = 0;
  for (const local_agent *a = c->local_agents; a; a = a->next) n += a->pid != 0;
  return n;
}

void local_agent_free_all(ctl *c) {
  free(c->host_devices);
  c->host_devices = NULL;
  while (c->local_agents) {
    local_agent *a = c->local_agents;
    c->local_agents = a->next;
    free(a);
  }
}

/* supervisor: runs and restarts the controller and router roles (see
 * supervisor.h). */
#include "supervisor.h"

#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include "berth/buf.h"
#include "berth/log.h"
#include "berth/secret.h"

#define BACKOFF_MAX_MS 30000
#define HEALTHY_RUN_MS 60000

extern char **environ;

typedef struct child {
  const char *role;             /* "controller" or "router" */
  uint64_t backoff_first_ms;
  uv_process_t proc;
  int running;                  /* alive */
  int ready;                    /* it said so on the ready pipe */
  int ever_ready;
  uv_pipe_t ready_pipe;
  int ready_pipe_open;
  uint64_t started_ms;
  uint64_t backoff_ms;
  uv_timer_t restart;
} child;

enum { CONTROLLER, ROUTER, N_CHILDREN };

static struct {
  uv_loop_t *loop;
  const char *self_exe;
  int argc;
  char **argv;
  char controller_url[128];
  char token_env[100];          /* BERTH_ROUTER_TOKEN=... */
  child kids[N_CHILDREN];
  int stopping;                 /* a signal (or a failed start) asked us to stop */
  int exit_status;
  int start_failed;             /* a child failed before it was ever ready */
  uv_signal_t sigterm, sigint, sighup;
} sv;

static void start_child(child *k);

static void on_ready_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)h;
  (void)suggested;
  static char buf[64];
  *b = uv_buf_init(buf, sizeof buf);
}

static void close_ready_pipe(child *k) {
  if (!k->ready_pipe_open) return;
  k->ready_pipe_open = 0;
  uv_close((uv_handle_t *)&k->ready_pipe, NULL);
}

static void on_ready_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  child *k = s->data;
  if (n > 0 && !k->ready) {
    k->ready = k->ever_ready = 1;
    berth_log(BERTH_LOG_INFO, "%s (pid %d) is ready", k->role, k->proc.pid);
    /* The router follows a ready controller. */
    child *r = &sv.kids[ROUTER];
    if (k == &sv.kids[CONTROLLER] && !r->running && !uv_is_active((uv_handle_t *)&r->restart) &&
        !sv.stopping)
      start_child(r);
  }
  if (n < 0) close_ready_pipe(k);
}

static void on_restart(uv_timer_t *t) {
  child *k = t->data;
  if (!sv.stopping) start_child(k);
}

static void close_all(void) {
  for (int i = 0; i < N_CHILDREN; i++) {
    uv_timer_stop(&sv.kids[i].restart);
    if (!uv_is_closing((uv_handle_t *)&sv.kids[i].restart))
      uv_close((uv_handle_t *)&sv.kids[i].restart, NULL);
  }
  if (!uv_is_closing((uv_handle_t *)&sv.sigterm)) uv_close((uv_handle_t *)&sv.sigterm, NULL);
  if (!uv_is_closing((uv_handle_t *)&sv.sigint)) uv_close((uv_handle_t *)&sv.sigint, NULL);
  if (!uv_is_closing((uv_handle_t *)&sv.sighup)) uv_close((uv_handle_t *)&sv.sighup, NULL);
}

/* While stopping: the router goes first, then the controller; the loop
 * ends once neither runs. */
static void stop_next(int signum) {
  child *r = &sv.kids[ROUTER], *c = &sv.kids[CONTROLLER];
  if (r->running) {
    uv_process_kill(&r->proc, signum);
    return;
  }
  if (c->running) {
    uv_process_kill(&c->proc, signum);
    return;
  }
  close_all();
}

static void on_child_exit(uv_process_t *p, int64_t status, int sig) {
  child *k = p->data;
  k->running = 0;
  close_ready_pipe(k);
  uv_close((uv_handle_t *)p, NULL);
  int code = sig ? 128 + sig : (int)status;
  /* A start-up failure's status is what berthd up exits with, whatever the
   * other child's exit when it is stopped because of it. */
  if (!sv.start_failed && (k == &sv.kids[CONTROLLER] || !sv.kids[CONTROLLER].ever_ready))
    sv.exit_status = code;
  if (sv.stopping) {
    stop_next(SIGTERM);
    return;
  }
  if (!k->ready) {
    /* It never served: a start-up failure (it said why) or --help, which a
     * restart will not change. */
    if (sig || (status != 0 && status != 2))
      berth_log(BERTH_LOG_ERROR, "%s exited before it was ready (%s %d): not restarting",
                k->role, sig ? "signal" : "status", sig ? sig : (int)status);
    if (k->ever_ready == 0) {
      sv.exit_status = code;
      sv.start_failed = 1;
      sv.stopping = 1;
      stop_next(SIGTERM);
      return;
    }
  }
  uint64_t ran = uv_now(sv.loop) - k->started_ms;
  if (ran > HEALTHY_RUN_MS) k->backoff_ms = k->backoff_first_ms;
  berth_log(BERTH_LOG_WARN, "%s (pid %d) %s %d after %llu s; restarting it in %llu ms", k->role,
            p->pid, sig ? "was killed by signal" : "exited with status", sig ? sig : (int)status,
            (unsigned long long)(ran / 1000), (unsigned long long)k->backoff_ms);
  uv_timer_start(&k->restart, on_restart, k->backoff_ms, 0);
  k->backoff_ms = k->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : k->backoff_ms * 2;
}

static void start_child(child *k) {
  uv_file fds[2];
  if (uv_pipe(fds, 0, 0) != 0) {
    berth_log(BERTH_LOG_ERROR, "cannot create the ready pipe: %s", strerror(errno));
    uv_timer_start(&k->restart, on_restart, k->backoff_ms, 0);
    return;
  }
  char **args = berth_xcalloc((size_t)sv.argc + 5, sizeof *args);
  size_t a = 0;
  args[a++] = (char *)sv.self_exe;
  args[a++] = (char *)k->role;
  if (k == &sv.kids[ROUTER]) {
    args[a++] = "--controller";
    args[a++] = sv.controller_url;
  }
  for (int i = 0; i < sv.argc; i++) args[a++] = sv.argv[i];
  /* The child's environment: ours plus where to say it is ready, who its
   * supervisor is, and the router token. */
  size_t n = 0;
  while (environ[n]) n++;
  char **env = berth_xcalloc(n + 4, sizeof *env);
  size_t e = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "BERTH_READY_FD=", 15) && strncmp(environ[i], "BERTH_SUPERVISOR_PID=", 21) &&
        strncmp(environ[i], "BERTH_ROUTER_TOKEN=", 19))
      env[e++] = environ[i];
  char ready_fd[40], sup_pid[48];
  snprintf(ready_fd, sizeof ready_fd, "BERTH_READY_FD=3");
  snprintf(sup_pid, sizeof sup_pid, "BERTH_SUPERVISOR_PID=%d", (int)getpid());
  env[e++] = ready_fd;
  env[e++] = sup_pid;
  env[e++] = sv.token_env;
  uv_stdio_container_t stdio[4] = {
    {.flags = UV_INHERIT_FD, .data.fd = 0},
    {.flags = UV_INHERIT_FD, .data.fd = 1},
    {.flags = UV_INHERIT_FD, .data.fd = 2},
    {.flags = UV_INHERIT_FD, .data.fd = fds[1]},
  };
  uv_process_options_t o = {.exit_cb = on_child_exit, .file = sv.self_exe, .args = args,
                            .env = env, .stdio = stdio, .stdio_count = 4};
  k->proc.data = k;
  int rc = uv_spawn(sv.loop, &k->proc, &o);
  close(fds[1]);
  free(args);
  free(env);
  if (rc != 0) {
    close(fds[0]);
    berth_log(BERTH_LOG_ERROR, "cannot start the %s: %s", k->role, uv_strerror(rc));
    uv_close((uv_handle_t *)&k->proc, NULL);
    uv_timer_start(&k->restart, on_restart, k->backoff_ms, 0);
    return;
  }
  k->running = 1;
  k->ready = 0;
  k->started_ms = uv_now(sv.loop);
  uv_pipe_init(sv.loop, &k->ready_pipe, 0);
  uv_pipe_open(&k->ready_pipe, fds[0]);
  k->ready_pipe.data = k;
  k->ready_pipe_open = 1;
  uv_read_start((uv_stream_t *)&k->ready_pipe, on_ready_alloc, on_ready_read);
  berth_log(BERTH_LOG_INFO, "%s started (pid %d)", k->role, k->proc.pid);
}

/* SIGHUP: both roles reload their TLS certificate and key. */
static void on_hup(uv_signal_t *s, int signum) {
  (void)s;
  for (int i = 0; i < N_CHILDREN; i++)
    if (sv.kids[i].running) uv_process_kill(&sv.kids[i].proc, signum);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  if (sv.stopping) {
    /* A second signal: both at once (each then exits at once). */
    for (int i = 0; i < N_CHILDREN; i++)
      if (sv.kids[i].running) uv_process_kill(&sv.kids[i].proc, signum);
    return;
  }
  sv.stopping = 1;
  if (!sv.kids[CONTROLLER].running && !sv.kids[ROUTER].running) sv.exit_status = 0;
  stop_next(signum);
}

/* Where the router reaches the controller: --agent-listen's address, else
 * --control-listen's (a wildcard address is reached on loopback). */
static void controller_url(void) {
  const char *listen = "127.0.0.1:8070", *agents = NULL;
  for (int i = 0; i + 1 < sv.argc; i++) {
    if (strcmp(sv.argv[i], "--control-listen") == 0) listen = sv.argv[i + 1];
    if (strcmp(sv.argv[i], "--agent-listen") == 0) agents = sv.argv[i + 1];
  }
  if (agents) listen = agents;
  const char *colon = strrchr(listen, ':');
  char host[80] = "127.0.0.1";
  if (colon && colon > listen && (size_t)(colon - listen) < sizeof host)
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
  if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0) snprintf(host, sizeof host, "127.0.0.1");
  snprintf(sv.controller_url, sizeof sv.controller_url, "http://%s:%s", host, colon ? colon + 1 : "8070");
}

int supervisor_main(const char *self_exe, int argc, char **argv) {
  berth_log_level level = BERTH_LOG_INFO;
  for (int i = 0; i + 1 < argc; i++)
    if (strcmp(argv[i], "--log-level") == 0) berth_log_parse_level(argv[i + 1], &level);
  berth_log_init("berthd supervisor", level);
  sv.loop = uv_default_loop();
  sv.self_exe = self_exe;
  sv.argc = argc;
  sv.argv = argv;
  controller_url();
  static const char name[] = "BERTH_ROUTER_TOKEN=";
  memcpy(sv.token_env, name, sizeof name - 1);
  if (berth_secret_random(sv.token_env + sizeof name - 1, 48, BERTH_HEX_DIGITS)) {
    fprintf(stderr, "berthd up: cannot make a router token (no randomness)\n");
    return 1;
  }
  const char *roles[N_CHILDREN] = {"controller", "router"};
  const uint64_t first[N_CHILDREN] = {1000, 250};
  for (int i = 0; i < N_CHILDREN; i++) {
    child *k = &sv.kids[i];
    k->role = roles[i];
    k->backoff_first_ms = k->backoff_ms = first[i];
    uv_timer_init(sv.loop, &k->restart);
    k->restart.data = k;
  }
  uv_signal_init(sv.loop, &sv.sigterm);
  uv_signal_init(sv.loop, &sv.sigint);
  uv_signal_start(&sv.sigterm, on_signal, SIGTERM);
  uv_signal_start(&sv.sigint, on_signal, SIGINT);
  uv_signal_init(sv.loop, &sv.sighup);
  uv_signal_start(&sv.sighup, on_hup, SIGHUP);
  start_child(&sv.kids[CONTROLLER]);
  uv_run(sv.loop, UV_RUN_DEFAULT);
  uv_loop_close(sv.loop);
  return sv.exit_status;
}

void supervised_start(void) {
  const char *sup = getenv("BERTH_SUPERVISOR_PID");
  if (!sup) return;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  /* The supervisor may have died before prctl took effect. */
  if (getppid() != (pid_t)strtol(sup, NULL, 10)) _exit(1);
}

void supervised_ready(void) {
  const char *fd = getenv("BERTH_READY_FD");
  if (!fd || !getenv("BERTH_SUPERVISOR_PID")) return;
  int n = (int)strtol(fd, NULL, 10);
  ssize_t w = write(n, "ready\n", 6);
  (void)w;
  close(n);
  /* Copies must not inherit these. */
  unsetenv("BERTH_READY_FD");
  unsetenv("BERTH_SUPERVISOR_PID");
}

/* supervisor: runs and restarts the controller role (see supervisor.h). */
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include "berth/buf.h"
#include "berth/log.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
#define HEALTHY_RUN_MS 60000

extern char **environ;

static struct {
  uv_loop_t *loop;
  const char *self_exe;
  int argc;
  char **argv;
  uv_process_t child;
  int running;                  /* child is alive */
  int ready;                    /* it said so on the ready pipe */
  uv_pipe_t ready_pipe;
  int ready_pipe_open;
  uint64_t started_ms;
  uint64_t backoff_ms;
  int stopping;                 /* a signal asked us to stop */
  int exit_status;
  uv_timer_t restart;
  uv_signal_t sigterm, sigint;
} sv;

static void start_child(void);

static void on_ready_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)h;
  (void)suggested;
  static char buf[64];
  *b = uv_buf_init(buf, sizeof buf);
}

static void close_ready_pipe(void) {
  if (!sv.ready_pipe_open) return;
  sv.ready_pipe_open = 0;
  uv_close((uv_handle_t *)&sv.ready_pipe, NULL);
}

static void on_ready_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)s;
  (void)b;
  if (n > 0 && !sv.ready) {
    sv.ready = 1;
    berth_log(BERTH_LOG_INFO, "controller (pid %d) is ready", sv.child.pid);
  }
  if (n < 0) close_ready_pipe();
}

static void on_restart(uv_timer_t *t) {
  (void)t;
  if (!sv.stopping) start_child();
}

static void on_child_closed(uv_handle_t *h) {
  (void)h;
  if (sv.stopping) {
    uv_close((uv_handle_t *)&sv.restart, NULL);
    uv_close((uv_handle_t *)&sv.sigterm, NULL);
    uv_close((uv_handle_t *)&sv.sigint, NULL);
  }
}

static void on_child_exit(uv_process_t *p, int64_t status, int sig) {
  sv.running = 0;
  close_ready_pipe();
  uv_close((uv_handle_t *)p, on_child_closed);
  sv.exit_status = sig ? 128 + sig : (int)status;
  if (sv.stopping) return; /* the loop ends once the handles are closed */
  if (!sv.ready) {
    /* It never served: a start-up failure (it said why) or --help, which a
     * restart will not change. */
    if (sig || (status != 0 && status != 2))
      berth_log(BERTH_LOG_ERROR, "controller exited before it was ready (%s %d): not restarting",
                sig ? "signal" : "status", sig ? sig : (int)status);
    sv.stopping = 1;
    return;
  }
  uint64_t ran = uv_now(sv.loop) - sv.started_ms;
  if (ran > HEALTHY_RUN_MS) sv.backoff_ms = BACKOFF_FIRST_MS;
  berth_log(BERTH_LOG_WARN, "controller (pid %d) %s %d after %llu s; restarting it in %llu ms",
            p->pid, sig ? "was killed by signal" : "exited with status", sig ? sig : (int)status,
            (unsigned long long)(ran / 1000), (unsigned long long)sv.backoff_ms);
  uv_timer_start(&sv.restart, on_restart, sv.backoff_ms, 0);
  sv.backoff_ms = sv.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : sv.backoff_ms * 2;
}

static void start_child(void) {
  uv_file fds[2];
  if (uv_pipe(fds, 0, 0) != 0) {
    berth_log(BERTH_LOG_ERROR, "cannot create the ready pipe: %s", strerror(errno));
    uv_timer_start(&sv.restart, on_restart, sv.backoff_ms, 0);
    return;
  }
  char **args = berth_xcalloc((size_t)sv.argc + 3, sizeof *args);
  args[0] = (char *)sv.self_exe;
  args[1] = "controller";
  for (int i = 0; i < sv.argc; i++) args[i + 2] = sv.argv[i];
  /* The child's environment: ours plus where to say it is ready and who
   * its supervisor is. */
  size_t n = 0;
  while (environ[n]) n++;
  char **env = berth_xcalloc(n + 3, sizeof *env);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "BERTH_READY_FD=", 15) && strncmp(environ[i], "BERTH_SUPERVISOR_PID=", 21))
      env[k++] = environ[i];
  char ready_fd[40], sup_pid[48];
  snprintf(ready_fd, sizeof ready_fd, "BERTH_READY_FD=3");
  snprintf(sup_pid, sizeof sup_pid, "BERTH_SUPERVISOR_PID=%d", (int)getpid());
  env[k++] = ready_fd;
  env[k++] = sup_pid;
  uv_stdio_container_t stdio[4] = {
    {.flags = UV_INHERIT_FD, .data.fd = 0},
    {.flags = UV_INHERIT_FD, .data.fd = 1},
    {.flags = UV_INHERIT_FD, .data.fd = 2},
    {.flags = UV_INHERIT_FD, .data.fd = fds[1]},
  };
  uv_process_options_t o = {.exit_cb = on_child_exit, .file = sv.self_exe, .args = args,
                            .env = env, .stdio = stdio, .stdio_count = 4};
  int rc = uv_spawn(sv.loop, &sv.child, &o);
  close(fds[1]);
  free(args);
  free(env);
  if (rc != 0) {
    close(fds[0]);
    berth_log(BERTH_LOG_ERROR, "cannot start the controller: %s", uv_strerror(rc));
    uv_close((uv_handle_t *)&sv.child, NULL);
    uv_timer_start(&sv.restart, on_restart, sv.backoff_ms, 0);
    return;
  }
  sv.running = 1;
  sv.ready = 0;
  sv.started_ms = uv_now(sv.loop);
  uv_pipe_init(sv.loop, &sv.ready_pipe, 0);
  uv_pipe_open(&sv.ready_pipe, fds[0]);
  sv.ready_pipe_open = 1;
  uv_read_start((uv_stream_t *)&sv.ready_pipe, on_ready_alloc, on_ready_read);
  berth_log(BERTH_LOG_INFO, "controller started (pid %d)", sv.child.pid);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  sv.stopping = 1;
  if (sv.running) {
    uv_process_kill(&sv.child, signum); /* a second signal makes it exit at once */
    return;
  }
  /* Between restarts: nothing to wait for. */
  uv_timer_stop(&sv.restart);
  uv_close((uv_handle_t *)&sv.restart, NULL);
  uv_close((uv_handle_t *)&sv.sigterm, NULL);
  uv_close((uv_handle_t *)&sv.sigint, NULL);
  sv.exit_status = 0;
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
  sv.backoff_ms = BACKOFF_FIRST_MS;
  uv_timer_init(sv.loop, &sv.restart);
  uv_signal_init(sv.loop, &sv.sigterm);
  uv_signal_init(sv.loop, &sv.sigint);
  uv_signal_start(&sv.sigterm, on_signal, SIGTERM);
  uv_signal_start(&sv.sigint, on_signal, SIGINT);
  start_child();
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

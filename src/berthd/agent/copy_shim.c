/* copy_shim: `berthd copy-exec --copy ID --log FILE --exit-file FILE --
 * PROGRAM ARGS...`, the small process that owns one copy's model server so
 * the copy outlives its agent.
 *
 * DESIGN: the agent starts the shim in a process group of its own; the
 * shim starts the model server in that group and is a child subreaper, so
 * whatever the server leaves behind (even after setsid) comes back to the
 * shim. It writes the server's output, line-prefixed, to the IC's log file
 * (copy_log) and forwards it to its stdout, a pipe the agent reads for
 * failure reasons while it lives; when the agent dies, forwarding stops and
 * the log goes on. When the server exits the shim kills what it left,
 * writes the exit status to the exit file (an adopting agent is not the
 * parent and reads it there) and exits the same way, so a parent agent sees
 * the server's own status. The shim ignores SIGTERM: the agent signals the
 * whole group, and the server decides how to stop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "copy_shim.h"
#include "copy_log.h"

static struct {
  uv_loop_t *loop;
  uv_process_t proc;
  uv_pipe_t out;                /* the server's stdout and stderr */
  uv_pipe_t fwd;                /* our stdout: the agent, while it lives */
  int fwd_open;
  copy_log *log;
  int64_t status;
  int term_signal;
  int exited, out_closed;
  const char *exit_file;
} sh;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char slab[16384];
  buf->base = slab;
  buf->len = sizeof slab;
}

static void finish(void);

static void on_output(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  if (n > 0) {
    copy_log_write(sh.log, buf->base, (size_t)n);
    if (sh.fwd_open) {
      /* Best effort: the agent only keeps a tail. A gone or slow agent
       * never stalls the server. */
      uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
      int rc = uv_try_write((uv_stream_t *)&sh.fwd, &b, 1);
      if (rc < 0 && rc != UV_EAGAIN) {
        sh.fwd_open = 0;
        uv_close((uv_handle_t *)&sh.fwd, NULL);
      }
    }
    return;
  }
  if (n < 0) {
    uv_read_stop(s);
    if (!sh.out_closed) {
      sh.out_closed = 1;
      uv_close((uv_handle_t *)s, NULL);
    }
    finish();
  }
}

/* Kills and reaps every process the server left (they were reparented to
 * us, the subreaper), until we have no child left. */
static void reap_leftovers(void) {
  for (int round = 0; round < 50; round++) {
    int any = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    char path[300], stat[512];
    while (d && (e = readdir(d))) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
      FILE *f = fopen(path, "r");
      if (!f) continue;
      size_t n = fread(stat, 1, sizeof stat - 1, f);
      fclose(f);
      stat[n] = '\0';
      char *rp = strrchr(stat, ')');
      int ppid = 0;
      if (rp && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == getpid()) {
        kill(atoi(e->d_name), SIGKILL);
        any = 1;
      }
    }
    if (d) closedir(d);
    while (waitpid(-1, NULL, WNOHANG) > 0) any = 1;
    if (!any && waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD) return;
    usleep(20000);
  }
}

static void on_log_closed_exit(void) {
  if (sh.exit_file) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", sh.exit_file);
    FILE *f = fopen(tmp, "w");
    if (f) {
      fprintf(f, "%lld %d\n", (long long)sh.status, sh.term_signal);
      fclose(f);
      rename(tmp, sh.exit_file);
    }
  }
  if (sh.term_signal) {
    signal(sh.term_signal, SIG_DFL);
    raise(sh.term_signal);
  }
  _exit((int)(sh.status & 0xff));
}

/* Once the server has exited and its output has ended (or leftovers that
 * hold the pipe are killed), the shim ends. */
static void finish(void) {
  if (!sh.exited) return;
  if (!sh.out_closed) {
    /* Something the server left may hold the pipe: it ends with them. */
    reap_leftovers();
    return; /* the pipe's EOF calls us again */
  }
  reap_leftovers();
  copy_log_close(sh.log);
  sh.log = NULL;
  uv_stop(sh.loop);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  sh.status = status;
  sh.term_signal = sig;
  sh.exited = 1;
  uv_close((uv_handle_t *)p, NULL);
  finish();
}

static void on_ignored_signal(uv_signal_t *s, int signum) {
  (void)s;
  (void)signum;
}

int copy_shim_main(int argc, char **argv) {
  const char *log_path = NULL;
  int64_t copy_id = 0;
  int i = 0;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (i + 1 >= argc) break;
    if (strcmp(argv[i], "--copy") == 0) copy_id = strtoll(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--log") == 0) log_path = argv[++i];
    else if (strcmp(argv[i], "--exit-file") == 0) sh.exit_file = argv[++i];
  }
  if (i + 1 >= argc) {
    fprintf(stderr, "usage: berthd copy-exec [--copy ID] [--log FILE] [--exit-file FILE] -- "
            "PROGRAM [ARGS...]\n");
    return 2;
  }
  char **args = argv + i + 1;
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  sh.loop = uv_default_loop();
  if (sh.exit_file) unlink(sh.exit_file);
  if (log_path) sh.log = copy_log_open(sh.loop, log_path, copy_id);
  uv_signal_t sigs[3];
  int ignored[3] = {SIGTERM, SIGINT, SIGHUP};
  for (int k = 0; k < 3; k++) {
    uv_signal_init(sh.loop, &sigs[k]);
    uv_signal_start(&sigs[k], on_ignored_signal, ignored[k]);
    uv_unref((uv_handle_t *)&sigs[k]);
  }
  if (uv_pipe_init(sh.loop, &sh.fwd, 0) == 0 && uv_pipe_open(&sh.fwd, 1) == 0) sh.fwd_open = 1;
  /* One pipe for stdout and stderr so the log keeps their order. */
  uv_file fds[2];
  if (uv_pipe(fds, 0, 0)) return 1;
  uv_pipe_init(sh.loop, &sh.out, 0);
  uv_pipe_open(&sh.out, fds[0]);
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = fds[1];
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = fds[1];
  uv_process_options_t o = {0};
  o.exit_cb = on_exit_cb;
  o.file = args[0];
  o.args = args;
  o.stdio = stdio;
  o.stdio_count = 3;
  int rc = uv_spawn(sh.loop, &sh.proc, &o);
  close(fds[1]);
  if (rc) {
    char msg[1200];
    int len = snprintf(msg, sizeof msg, "berthd copy-exec: cannot execute %s: %s\n", args[0],
                       uv_strerror(rc));
    copy_log_write(sh.log, msg, (size_t)len);
    if (write(2, msg, (size_t)len) < 0) { /* nothing more to tell */ }
    sh.status = 127;
    sh.exited = sh.out_closed = 1;
    uv_close((uv_handle_t *)&sh.proc, NULL);
    uv_close((uv_handle_t *)&sh.out, NULL);
    finish();
  } else {
    uv_read_start((uv_stream_t *)&sh.out, on_alloc, on_output);
  }
  uv_run(sh.loop, UV_RUN_DEFAULT);
  /* Let the log's last writes reach the disk. */
  for (int k = 0; k < 3; k++) uv_close((uv_handle_t *)&sigs[k], NULL);
  if (sh.fwd_open) uv_close((uv_handle_t *)&sh.fwd, NULL);
  uv_run(sh.loop, UV_RUN_DEFAULT);
  on_log_closed_exit();
  return 0;
}

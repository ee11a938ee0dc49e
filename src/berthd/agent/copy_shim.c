/* copy_shim: `berthd copy-exec --copy ID --log IC_LOG_DIR --instance NAME
 * [--log-retention-mb N] --exit-file FILE [--exec FILE] [--cwd DIR]
 * [--user USER] -- PROGRAM ARGS...`, the small process that owns one
 * copy's model server so the copy outlives its agent.
 *
 * DESIGN: the agent starts the shim in a process group of its own; the
 * shim starts the model server in that group and is a child subreaper, so
 * whatever the server leaves behind (even after setsid) comes back to the
 * shim. It writes the server's output, each line with its time, instance
 * and copy, to the copy's stream in the IC's log directory (copy_log) and forwards it to its stdout, a pipe the agent reads for
 * failure reasons while it lives; when the agent dies, forwarding stops and
 * the log goes on. When the server exits the shim kills what it left,
 * writes the exit status to the exit file (an adopting agent is not the
 * parent and reads it there) and exits the same way, so a parent agent sees
 * the server's own status. The shim ignores SIGTERM: the agent signals the
 * whole group, and the server decides how to stop.
 *
 * Run as root, the shim never runs the server as root: it opens the program
 * (--exec, the file the agent checked against --allow-exec) first, then the
 * child drops to --user (setgroups(0), setgid, setuid, each checked) and
 * executes the open file (fexecve), so the directories above the program
 * need not be open to that user. The shim itself stays root to write the
 * log and the exit file.
 *
 * Limits (copy_limits.h decides them): with --cgroup NAME the shim makes
 * the copy's groups (cgroup.h) with --cpus and --memory-max, the child
 * joins them before it drops privileges and executes, so every process of
 * the copy is in them; the shim itself stays outside, so an OOM kill
 * never takes it. After the server's group is reaped it kills what is
 * left in the groups, reads the kernel's OOM kill count into the exit
 * file and removes them. Without --cgroup, --cpus becomes the child's CPU
 * affinity and --memory-max its RLIMIT_AS. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "copy_shim.h"
#include "copy_log.h"
#include "cgroup.h"

extern char **environ;

static struct {
  uv_loop_t *loop;
  uv_signal_t chld;             /* the server's exit */
  int pid;                      /* the server's */
  uv_pipe_t out;                /* the server's stdout and stderr */
  uv_pipe_t fwd;                /* our stdout: the agent, while it lives */
  int fwd_open;
  copy_log *log;
  int64_t status;
  int term_signal;
  int exited, out_closed;
  const char *exit_file;
  const char *container;        /* PROGRAM is the engine running this one */
  const char *engine;
  int in_cgroup;                /* g holds the copy */
  cgroup_copy g;
  int pinned;                   /* no cgroup: affinity to cpus */
  cpu_set_t cpus;
  int64_t memory_max_mb;        /* 0: no limit */
  int oom_kills;                /* the kernel's, in g, once the copy ended */
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
      fprintf(f, "%lld %d %d %lld\n", (long long)sh.status, sh.term_signal, sh.oom_kills,
              (long long)sh.memory_max_mb);
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

/* Empties the copy's groups (what left our subreaping, and the rare
 * process someone else moved in), notes the OOM kills and removes them. */
static void release_cgroup(void) {
  if (!sh.in_cgroup) return;
  sh.in_cgroup = 0;
  for (int round = 0; round < 250; round++) {
    if (cgroup_copy_kill(&sh.g) == 0) break;
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    usleep(20000);
  }
  int kills = cgroup_copy_oom_kills(&sh.g);
  /* A container killed with SIGKILL (the engine exits 137) at its limit. */
  if (!kills && sh.container && sh.status == 137 && cgroup_copy_limit_reached(&sh.g)) kills = 1;
  if (kills > sh.oom_kills) sh.oom_kills = kills;
  int rc = -EBUSY;
  for (int round = 0; round < 250 && rc == -EBUSY; round++) {
    rc = cgroup_copy_remove(&sh.g);
    if (rc == -EBUSY) usleep(20000);
  }
  if (rc) {
    char msg[CGROUP_PATH_MAX + 200];
    int len = snprintf(msg, sizeof msg, "berthd copy-exec: cannot remove cgroup %s: %s\n",
                       sh.g.dir[0], strerror(-rc));
    if (len >= (int)sizeof msg) len = (int)sizeof msg - 1;
    copy_log_write(sh.log, msg, (size_t)len);
  }
}

/* The engine has exited: whether the kernel killed the container for its
 * memory limit (the engine's exit status alone cannot say), then the
 * container goes. Blocking is fine here: the shim is about to end. */
static void container_ended(void) {
  if (!sh.container) return;
  int fds[2];
  if (pipe(fds) != 0) return;
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(fds[1], 1);
    dup2(null, 2);
    close(fds[0]);
    execl(sh.engine, sh.engine, "inspect", "--format", "{{.State.OOMKilled}}", sh.container,
          (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  char out[32] = "";
  ssize_t n = pid > 0 ? read(fds[0], out, sizeof out - 1) : -1;
  close(fds[0]);
  if (pid > 0)
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
  if (n > 0 && strncmp(out, "true", 4) == 0) sh.oom_kills = 1;
  pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execl(sh.engine, sh.engine, "rm", "--force", "--volumes", sh.container, (char *)NULL);
    _exit(127);
  }
  if (pid > 0)
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
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
  container_ended(); /* before its groups go: they hold the container's */
  release_cgroup();
  copy_log_close(sh.log);
  sh.log = NULL;
  uv_stop(sh.loop);
}

static void on_sigchld(uv_signal_t *s, int signum) {
  (void)signum;
  int st;
  if (sh.exited || waitpid(sh.pid, &st, WNOHANG) != sh.pid) return; /* not the server */
  uv_signal_stop(s);
  sh.status = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
  sh.term_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
  sh.exited = 1;
  finish();
}

/* Where the child failed, reported through its error pipe. */
enum { STAGE_SETGROUPS = 1, STAGE_SETGID, STAGE_SETUID, STAGE_REGAIN, STAGE_EXEC,
       STAGE_CGROUP, STAGE_AFFINITY, STAGE_RLIMIT };
static const char *const stage_names[] = {"", "setgroups", "setgid", "setuid",
                                          "setuid(0) succeeded after dropping to", "exec",
                                          "joining its cgroup", "sched_setaffinity(--cpus)",
                                          "setrlimit(RLIMIT_AS, --memory-max)"};

/* The child between fork and exec: async-signal-safe calls only (the
 * loop's thread pool may have threads). */
static void child(int prog_fd, int out_fd, int err_fd, const struct passwd *pw, uid_t uid,
                  gid_t gid, const char *cwd, char **args) {
  int report[2] = {0, 0};
  struct sigaction dfl = {.sa_handler = SIG_DFL};
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);
  int null = open("/dev/null", O_RDONLY);
  if (null >= 0 && null != 0) {
    dup2(null, 0);
    close(null);
  }
  dup2(out_fd, 1);
  dup2(out_fd, 2);
  if (out_fd > 2) close(out_fd);
  /* Limits first, as root: the copy user may not move itself. A
   * container engine stays outside: the container itself goes under the
   * copy's groups (--cgroup-parent, container.h). */
  if (sh.container) {
  } else if (sh.in_cgroup) {
    int rc = cgroup_copy_join(&sh.g);
    if (rc) {
      report[0] = STAGE_CGROUP;
      errno = -rc;
      goto fail;
    }
  } else {
    if (sh.pinned && sched_setaffinity(0, sizeof sh.cpus, &sh.cpus) != 0) {
      report[0] = STAGE_AFFINITY;
      goto fail;
    }
    struct rlimit as = {(rlim_t)sh.memory_max_mb << 20, (rlim_t)sh.memory_max_mb << 20};
    if (sh.memory_max_mb > 0 && setrlimit(RLIMIT_AS, &as) != 0) {
      report[0] = STAGE_RLIMIT;
      goto fail;
    }
  }
  if (pw) {
    if (setgroups(0, NULL) != 0) {
      report[0] = STAGE_SETGROUPS;
    } else if (setgid(gid) != 0) {
      report[0] = STAGE_SETGID;
    } else if (setuid(uid) != 0) {
      report[0] = STAGE_SETUID;
    } else if (setuid(0) == 0) {
      report[0] = STAGE_REGAIN;
      errno = EPERM;
    }
    if (report[0]) goto fail;
  }
  if (!cwd || !cwd[0] || chdir(cwd) != 0) {
    if (chdir("/") != 0) { /* "/" is always there; nothing better to do */ }
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  fexecve(prog_fd, args, environ);
  report[0] = STAGE_EXEC;
fail:
  report[1] = errno;
  if (write(err_fd, report, sizeof report) < 0) { /* the parent sees a short read */ }
  _exit(127);
}

/* Starts the server: program opened here (as root, when we are), args as
 * given, output to out_fd. 0, or -1 with why filled. */
static int spawn_server(const char *program, const char *user, const char *cwd, char **args,
                        int out_fd, char *why, size_t whysz) {
  struct passwd *pw = NULL;
  /* A container engine runs rootful; the container's user is the
   * image's (container.h). */
  if (geteuid() == 0 && !sh.container) {
    pw = user ? getpwnam(user) : NULL;
    if (!pw || pw->pw_uid == 0) {
      if (!user)
        snprintf(why, whysz, "refusing to run %s as root: no --user to run it as", args[0]);
      else
        snprintf(why, whysz, "refusing to run %s as root: --user %s %s", args[0], user,
                 pw ? "is root" : "is no user here");
      return -1;
    }
  }
  int fd = open(program, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, whysz, "cannot execute %s: %s", program, strerror(errno));
    return -1;
  }
  /* A script's interpreter opens it through /dev/fd: it must stay open. */
  char magic[2];
  if (pread(fd, magic, 2, 0) == 2 && magic[0] == '#' && magic[1] == '!')
    fcntl(fd, F_SETFD, 0);
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) != 0) {
    snprintf(why, whysz, "cannot execute %s: pipe: %s", program, strerror(errno));
    close(fd);
    return -1;
  }
  uid_t uid = pw ? pw->pw_uid : 0;
  gid_t gid = pw ? pw->pw_gid : 0;
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  int pid = fork();
  if (pid == 0) child(fd, out_fd, ep[1], pw, uid, gid, cwd, args);
  int fork_errno = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(ep[1]);
  close(fd);
  if (pid < 0) {
    close(ep[0]);
    snprintf(why, whysz, "cannot execute %s: fork: %s", program, strerror(fork_errno));
    return -1;
  }
  int report[2];
  ssize_t n;
  do n = read(ep[0], report, sizeof report);
  while (n < 0 && errno == EINTR);
  close(ep[0]);
  if (n != (ssize_t)sizeof report) {
    sh.pid = pid; /* it runs the program now; on_sigchld sees it exit */
    return 0;
  }
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
  if (report[0] == STAGE_EXEC)
    snprintf(why, whysz, "cannot execute %s: %s", args[0], strerror(report[1]));
  else if (report[0] >= STAGE_CGROUP)
    snprintf(why, whysz, "cannot run %s: %s%s%s: %s", args[0], stage_names[report[0]],
             report[0] == STAGE_CGROUP ? " " : "", report[0] == STAGE_CGROUP ? sh.g.dir[0] : "",
             strerror(report[1]));
  else
    snprintf(why, whysz, "cannot run %s as user %s: %s %s", args[0], user, stage_names[report[0]],
             strerror(report[1]));
  return -1;
}

static void on_ignored_signal(uv_signal_t *s, int signum) {
  (void)s;
  (void)signum;
}

int copy_shim_main(int argc, char **argv) {
  const char *log_path = NULL, *program = NULL, *cwd = NULL, *user = NULL;
  const char *cgroup = NULL, *cpus = NULL, *memory_max = NULL;
  const char *instance = "i-0", *retention = NULL;
  int64_t copy_id = 0;
  int i = 0;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (i + 1 >= argc) break;
    if (strcmp(argv[i], "--copy") == 0) copy_id = strtoll(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--log") == 0) log_path = argv[++i];
    else if (strcmp(argv[i], "--exit-file") == 0) sh.exit_file = argv[++i];
    else if (strcmp(argv[i], "--exec") == 0) program = argv[++i];
    else if (strcmp(argv[i], "--cwd") == 0) cwd = argv[++i];
    else if (strcmp(argv[i], "--user") == 0) user = argv[++i];
    else if (strcmp(argv[i], "--container") == 0) sh.container = argv[++i];
    else if (strcmp(argv[i], "--cgroup") == 0) cgroup = argv[++i];
    else if (strcmp(argv[i], "--cpus") == 0) cpus = argv[++i];
    else if (strcmp(argv[i], "--memory-max") == 0) memory_max = argv[++i];
    else if (strcmp(argv[i], "--instance") == 0) instance = argv[++i];
    else if (strcmp(argv[i], "--log-retention-mb") == 0) retention = argv[++i];
  }
  if (i + 1 >= argc) {
    fprintf(stderr, "usage: berthd copy-exec [--copy ID] [--log IC_LOG_DIR] [--instance NAME] "
            "[--log-retention-mb N] [--exit-file FILE] [--exec FILE] [--cwd DIR] [--user USER | --container NAME] [--cgroup NAME] [--cpus LIST] "
            "[--memory-max MB] -- PROGRAM [ARGS...]\n");
    return 2;
  }
  if (cpus && cgroup_cpus_parse(cpus, &sh.cpus) != 0) {
    fprintf(stderr, "berthd copy-exec: --cpus '%s' must be a CPU list such as 0-1,3\n", cpus);
    return 2;
  }
  sh.pinned = cpus && cpus[0];
  if (memory_max) {
    char *end;
    long long mb = strtoll(memory_max, &end, 10);
    if (end == memory_max || *end || mb < 1 || mb > (1LL << 30)) {
      fprintf(stderr, "berthd copy-exec: --memory-max '%s' must be MiB from 1 to 2^30\n",
              memory_max);
      return 2;
    }
    sh.memory_max_mb = mb;
  }
  uint64_t retention_bytes = (uint64_t)COPY_SHIM_LOG_RETENTION_MB << 20;
  if (retention) {
    char *end;
    long long mb = strtoll(retention, &end, 10);
    if (end == retention || *end || mb < 1 || mb > (1LL << 30)) {
      fprintf(stderr, "berthd copy-exec: --log-retention-mb '%s' must be MiB from 1 to 2^30\n",
              retention);
      return 2;
    }
    retention_bytes = (uint64_t)mb << 20;
  }
  char **args = argv + i + 1;
  if (!program) program = args[0];
  sh.engine = program;
  struct passwd *pw = user && geteuid() == 0 ? getpwnam(user) : NULL;
  if (pw) {
    /* Its own home, not ours. */
    setenv("HOME", pw->pw_dir, 1);
    setenv("USER", pw->pw_name, 1);
    setenv("LOGNAME", pw->pw_name, 1);
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  sh.loop = uv_default_loop();
  if (sh.exit_file) unlink(sh.exit_file);
  if (log_path) sh.log = copy_log_open(sh.loop, log_path, instance, copy_id, retention_bytes);
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
  /* Watching for the exit before the fork: an early exit is not missed. */
  uv_signal_init(sh.loop, &sh.chld);
  uv_signal_start(&sh.chld, on_sigchld, SIGCHLD);
  char why[2400];
  int rc = 0;
  if (cgroup) {
    char cwhy[CGROUP_PATH_MAX + 200];
    cgroup_version v = cgroup_detect(cgroup_root(), cwhy, sizeof cwhy);
    cgroup_copy_init(&sh.g, v, cgroup_root(), cgroup);
    if (v == CGROUP_NONE || cgroup_copy_make(&sh.g, cpus, sh.memory_max_mb, cwhy, sizeof cwhy)) {
      snprintf(why, sizeof why, "cannot make the copy's cgroup %s: %s", cgroup, cwhy);
      cgroup_copy_remove(&sh.g);
      rc = -1;
    } else {
      sh.in_cgroup = 1;
    }
  }
  if (rc == 0) rc = spawn_server(program, user, cwd, args, fds[1], why, sizeof why);
  close(fds[1]);
  if (rc) {
    char msg[2500];
    int len = snprintf(msg, sizeof msg, "berthd copy-exec: %s\n", why);
    if (len >= (int)sizeof msg) len = (int)sizeof msg - 1;
    copy_log_write(sh.log, msg, (size_t)len);
    if (write(2, msg, (size_t)len) < 0) { /* nothing more to tell */ }
    sh.status = 127;
    sh.exited = sh.out_closed = 1;
    uv_signal_stop(&sh.chld);
    uv_close((uv_handle_t *)&sh.out, NULL);
    finish();
  } else {
    uv_read_start((uv_stream_t *)&sh.out, on_alloc, on_output);
  }
  uv_run(sh.loop, UV_RUN_DEFAULT);
  /* Let the log's last writes reach the disk. */
  for (int k = 0; k < 3; k++) uv_close((uv_handle_t *)&sigs[k], NULL);
  uv_close((uv_handle_t *)&sh.chld, NULL);
  if (sh.fwd_open) uv_close((uv_handle_t *)&sh.fwd, NULL);
  uv_run(sh.loop, UV_RUN_DEFAULT);
  on_log_closed_exit();
  return 0;
}

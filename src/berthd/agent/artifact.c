/* artifact: local artifact cache. Copies of one IC that start together
 * share one extraction (waiters queue on the job).
 *
 * DESIGN: each waiter may carry its own deadline (artifact_limit: the
 * copy's ModelDataDownloadTimeoutInSeconds). One timer per job fires at the
 * earliest one; a waiter past its deadline is answered with -ETIMEDOUT and
 * leaves the job, and when no waiter is left the tar child is killed (its
 * decompressor dies on the broken pipe) and the half-unpacked directory is
 * removed by an `rm -rf` child, so neither the kill nor the removal blocks
 * the loop. A killed job leaves the list at once: the next request for the
 * same artifact starts a fresh extraction into a directory of its own.
 *
 * When copies run as another user (copy_policy.h), tar keeps no owners
 * from the archive and a `chmod -R` child then makes the tree readable
 * (not writable) for everyone, since an archive may carry 0600 files the
 * copy user could not read. */
#include "berth/log.h"
#include "artifact.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct waiter {
  struct waiter *next;
  artifact_cb cb;
  void *ud;
  uint64_t deadline_ms;         /* loop time; 0: no limit */
  int limit_s;                  /* the limit it came from, for the message */
} waiter;

typedef struct artifact_job {
  struct artifact_job *next;
  ctl *c;
  char dir[1200];
  char tmp[1300];
  char source[1100];
  waiter *waiters;
  uv_process_t proc;            /* tar, then chmod (fixing) */
  uv_timer_t timer;             /* the earliest waiter deadline */
  int open_handles;             /* proc and timer until closed; freed at 0 */
  int fixing;                   /* proc is the chmod that follows tar */
  int killed;                   /* every waiter timed out: tar was killed */
} artifact_job;

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static uint64_t fnv1a(const char *s, uint64_t h) {
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

/* Takes the job out of the list: later requests do not join it. */
static void unlist(artifact_job *job) {
  for (artifact_job **pp = &job->c->artifact_jobs; *pp; pp = &(*pp)->next)
    if (*pp == job) {
      *pp = job->next;
      break;
    }
}

static void finish(artifact_job *job, int err, const char *why) {
  unlist(job);
  waiter *w = job->waiters;
  job->waiters = NULL;
  while (w) {
    waiter *next = w->next;
    w->cb(w->ud, err, job->dir, why);
    free(w);
    w = next;
  }
}

static void on_job_closed(uv_handle_t *h) {
  artifact_job *job = h->data;
  if (--job->open_handles == 0) free(job);
}

static void close_job(artifact_job *job) {
  uv_close((uv_handle_t *)&job->proc, on_job_closed);
  uv_close((uv_handle_t *)&job->timer, on_job_closed);
}

static void on_free_closed(uv_handle_t *h) {
  free(h);
}

static void on_rm_exit(uv_process_t *p, int64_t status, int sig) {
  (void)status;
  (void)sig;
  uv_close((uv_handle_t *)p, on_free_closed);
}

/* Runs a system tool (args[0], found on PATH) with no input, its output
 * dropped and its errors on berthd's stderr. */
static int spawn_tool(uv_loop_t *loop, uv_process_t *p, char **args, uv_exit_cb on_exit) {
  uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}, {.flags = UV_IGNORE},
                                   {.flags = UV_INHERIT_FD, .data.fd = 2}};
  uv_process_options_t o = {.exit_cb = on_exit, .file = args[0], .args = args,
                            .stdio = stdio, .stdio_count = 3};
  return uv_spawn(loop, p, &o);
}

/* Removes what a failed or killed extraction left in dir, off the loop. */
static void remove_later(ctl *c, const char *dir) {
  uv_process_t *p = berth_xcalloc(1, sizeof *p);
  char *args[] = {"rm", "-rf", "--", (char *)dir, NULL};
  int rc = spawn_tool(c->loop, p, args, on_rm_exit);
  if (rc) {
    berth_log(BERTH_LOG_ERROR, "cannot run rm to remove %s: %s", dir, uv_strerror(rc));
    uv_close((uv_handle_t *)p, on_free_closed);
  }
}

static void on_tar_exit(uv_process_t *p, int64_t status, int sig);

static void on_proc_reused(uv_handle_t *h) {
  artifact_job *job = h->data;
  if (job->killed) {
    /* Every waiter gave up while tar's handle closed. */
    remove_later(job->c, job->tmp);
    job->open_handles--; /* the process handle */
    uv_close((uv_handle_t *)&job->timer, on_job_closed);
    return;
  }
  char *args[] = {"chmod", "-R", "u+rwX,go+rX,go-w", "--", job->tmp, NULL};
  job->proc.data = job;
  int rc = spawn_tool(job->c->loop, &job->proc, args, on_tar_exit);
  if (rc) {
    berth_log(BERTH_LOG_WARN, "cannot run chmod to make %s readable for copies: %s", job->tmp,
              uv_strerror(rc));
    job->proc.data = job;
    on_tar_exit(&job->proc, 0, 0); /* the artifact as unpacked */
  }
}

static void on_tar_exit(uv_process_t *p, int64_t status, int sig) {
  artifact_job *job = p->data;
  char why[1600] = "";
  int err = 0;
  if (!job->fixing && !job->killed && status == 0 && !sig && job->c->policy.user[0]) {
    /* The same handle runs chmod once closed; the timer stays armed. */
    job->fixing = 1;
    uv_close((uv_handle_t *)p, on_proc_reused);
    return;
  }
  uv_timer_stop(&job->timer);
  if (job->killed) {
    err = -ETIMEDOUT; /* its waiters have had their answer */
  } else if ((status != 0 || sig) && !job->fixing) {
    snprintf(why, sizeof why, "unpacking %s with tar failed (exit status %lld); is it a valid "
             "archive?", job->source, (long long)status);
    err = -EIO;
  } else if ((status != 0 || sig) && job->fixing) {
    snprintf(why, sizeof why, "making the unpacked %s readable for copies (user %s) with chmod "
             "failed (exit status %lld)", job->source, job->c->policy.user, (long long)status);
    err = -EIO;
  } else if (rename(job->tmp, job->dir) != 0) {
    if (errno == ENOTEMPTY || errno == EEXIST) {
      remove_later(job->c, job->tmp); /* unpacked by another job meanwhile */
    } else {
      snprintf(why, sizeof why, "cannot move the unpacked artifact into %s: %s", job->dir,
               strerror(errno));
      err = -errno;
    }
  }
  if (err) remove_later(job->c, job->tmp);
  if (!job->killed) finish(job, err, why);
  close_job(job);
}

/* Arms the job's timer at its earliest waiter deadline (or stops it). */
static void arm(artifact_job *job);

static void on_deadline(uv_timer_t *t) {
  artifact_job *job = t->data;
  uint64_t now = uv_now(job->c->loop);
  waiter *expired = NULL;
  for (waiter **pp = &job->waiters; *pp;) {
    waiter *w = *pp;
    if (w->deadline_ms && w->deadline_ms <= now) {
      *pp = w->next;
      w->next = expired;
      expired = w;
    } else {
      pp = &w->next;
    }
  }
  if (!job->waiters) {
    /* Nobody wants it any more: stop the extraction. */
    unlist(job);
    job->killed = 1;
    if (!uv_is_closing((uv_handle_t *)&job->proc)) uv_process_kill(&job->proc, SIGKILL);
  } else {
    arm(job);
  }
  /* Answer after the job is settled: a callback may ask for the artifact
   * again, which then starts afresh. */
  while (expired) {
    waiter *next = expired->next;
    char why[1600];
    snprintf(why, sizeof why, "unpacking %s did not finish within "
             "ModelDataDownloadTimeoutInSeconds (%d s), so it was stopped: raise "
             "ModelDataDownloadTimeoutInSeconds (at most 3600) or use a smaller artifact",
             job->source, expired->limit_s);
    expired->cb(expired->ud, -ETIMEDOUT, NULL, why);
    free(expired);
    expired = next;
  }
}

static void arm(artifact_job *job) {
  uint64_t first = 0;
  for (waiter *w = job->waiters; w; w = w->next)
    if (w->deadline_ms && (!first || w->deadline_ms < first)) first = w->deadline_ms;
  if (!first) {
    uv_timer_stop(&job->timer);
    return;
  }
  uint64_t now = uv_now(job->c->loop);
  uv_timer_start(&job->timer, on_deadline, first > now ? first - now : 0, 0);
}

int artifact_limit(ctl *c, void *ud, int limit_s) {
  if (limit_s <= 0) return 0;
  for (artifact_job *job = c->artifact_jobs; job; job = job->next)
    for (waiter *w = job->waiters; w; w = w->next)
      if (w->ud == ud) {
        w->limit_s = limit_s;
        w->deadline_ms = uv_now(c->loop) + (uint64_t)limit_s * 1000;
        arm(job);
        return 1;
      }
  return 0;
}

void artifact_prepare(ctl *c, const char *url, artifact_cb cb, void *ud) {
  char path[1100], why[1600];
  struct stat st;
  if (!url || !*url) {
    snprintf(path, sizeof path, "%s/artifacts/empty", c->shared_dir);
    mkdir(path, 0755);
    cb(ud, 0, path, NULL);
    return;
  }
  if (strncmp(url, "file://", 7) == 0) {
    snprintf(path, sizeof path, "%s", url + 7);
  } else if (strncmp(url, "s3://", 5) == 0) {
    const char *root = getenv("BERTH_S3_ROOT");
    if (!root) {
      snprintf(why, sizeof why, "ArtifactUrl %s is in S3, which this Berth cannot reach: set "
               "BERTH_S3_ROOT to a directory that mirrors your buckets (s3://bucket/key is read "
               "from $BERTH_S3_ROOT/bucket/key), or use a file:// URL", url);
      cb(ud, -ENOENT, NULL, why);
      return;
    }
    snprintf(path, sizeof path, "%s/%s", root, url + 5);
  } else if (url[0] == '/') {
    snprintf(path, sizeof path, "%s", url);
  } else {
    snprintf(why, sizeof why, "ArtifactUrl %s is not a local path, file:// or s3:// URL", url);
    cb(ud, -EINVAL, NULL, why);
    return;
  }
  if (stat(path, &st) != 0) {
    snprintf(why, sizeof why, "ArtifactUrl %s: %s is not readable: %s", url, path,
             strerror(errno));
    cb(ud, -errno, NULL, why);
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    cb(ud, 0, path, NULL);
    return;
  }
  if (!S_ISREG(st.st_mode) ||
      !(ends_with(path, ".tar.gz") || ends_with(path, ".tgz") || ends_with(path, ".tar"))) {
    snprintf(why, sizeof why, "ArtifactUrl %s must be a directory or a .tar.gz, .tgz or .tar "
             "archive", url);
    cb(ud, -EINVAL, NULL, why);
    return;
  }
  /* The cache key covers the file's identity and version. */
  char key[64];
  uint64_t h = fnv1a(path, 14695981039346656037ULL);
  char meta[64];
  snprintf(meta, sizeof meta, "%lld:%lld", (long long)st.st_size, (long long)st.st_mtime);
  h = fnv1a(meta, h);
  snprintf(key, sizeof key, "%016llx", (unsigned long long)h);
  char dir[1200];
  snprintf(dir, sizeof dir, "%s/artifacts/%s", c->shared_dir, key);
  if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
    cb(ud, 0, dir, NULL);
    return;
  }
  waiter *w = berth_xcalloc(1, sizeof *w);
  w->cb = cb;
  w->ud = ud;
  for (artifact_job *job = c->artifact_jobs; job; job = job->next)
    if (strcmp(job->dir, dir) == 0) {
      w->next = job->waiters;
      job->waiters = w;
      return;
    }
  artifact_job *job = berth_xcalloc(1, sizeof *job);
  job->c = c;
  job->waiters = w;
  snprintf(job->dir, sizeof job->dir, "%s", dir);
  /* A directory of its own: a killed job's tar may still be dying. */
  snprintf(job->tmp, sizeof job->tmp, "%s.tmp-XXXXXX", dir);
  snprintf(job->source, sizeof job->source, "%s", path);
  if (!mkdtemp(job->tmp)) {
    int e = errno;
    snprintf(why, sizeof why, "cannot make a directory beside %.1000s to unpack %.400s into: %s",
             dir, path, strerror(e));
    free(job);
    w->next = NULL;
    cb(ud, -e, NULL, why);
    free(w);
    return;
  }
  chmod(job->tmp, 0755);
  /* As root, tar would keep the archive's owners: files another local user
   * could change under the copies. */
  char *args[] = {"tar", "-xf", job->source, "-C", job->tmp,
                  c->policy.user[0] ? "--no-same-owner" : NULL, NULL};
  job->proc.data = job;
  uv_timer_init(c->loop, &job->timer);
  job->timer.data = job;
  job->open_handles = 2;
  job->next = c->artifact_jobs;
  c->artifact_jobs = job;
  int rc = spawn_tool(c->loop, &job->proc, args, on_tar_exit);
  if (rc) {
    snprintf(why, sizeof why, "cannot run tar to unpack %s: %s", path, uv_strerror(rc));
    remove_later(c, job->tmp);
    finish(job, rc, why);
    close_job(job);
  }
}

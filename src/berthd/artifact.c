/* artifact: local artifact cache. Copies of one IC that start together
 * share one extraction (waiters queue on the job). */
#include "artifact.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct waiter {
  struct waiter *next;
  artifact_cb cb;
  void *ud;
} waiter;

typedef struct artifact_job {
  struct artifact_job *next;
  ctl *c;
  char dir[1200];
  char tmp[1300];
  char source[1100];
  waiter *waiters;
  uv_process_t proc;
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

static void finish(artifact_job *job, int err, const char *why) {
  ctl *c = job->c;
  for (artifact_job **pp = &c->artifact_jobs; *pp; pp = &(*pp)->next)
    if (*pp == job) {
      *pp = job->next;
      break;
    }
  waiter *w = job->waiters;
  while (w) {
    waiter *next = w->next;
    w->cb(w->ud, err, job->dir, why);
    free(w);
    w = next;
  }
}

static void on_job_closed(uv_handle_t *h) {
  free(h->data);
}

static void on_tar_exit(uv_process_t *p, int64_t status, int sig) {
  artifact_job *job = p->data;
  char why[1600] = "";
  int err = 0;
  if (status != 0 || sig) {
    snprintf(why, sizeof why, "unpacking %s with tar failed (exit status %lld); is it a valid "
             "archive?", job->source, (long long)status);
    err = -EIO;
  } else if (rename(job->tmp, job->dir) != 0 && errno != ENOTEMPTY && errno != EEXIST) {
    snprintf(why, sizeof why, "cannot move the unpacked artifact into %s: %s", job->dir,
             strerror(errno));
    err = -errno;
  }
  finish(job, err, why);
  uv_close((uv_handle_t *)p, on_job_closed);
}

void artifact_prepare(ctl *c, const char *url, artifact_cb cb, void *ud) {
  char path[1100], why[1600];
  struct stat st;
  if (!url || !*url) {
    snprintf(path, sizeof path, "%s/artifacts/empty", c->data_dir);
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
  snprintf(dir, sizeof dir, "%s/artifacts/%s", c->data_dir, key);
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
  snprintf(job->tmp, sizeof job->tmp, "%s.tmp-%d", dir, (int)getpid());
  snprintf(job->source, sizeof job->source, "%s", path);
  mkdir(job->tmp, 0755);
  char *args[] = {"tar", "-xf", job->source, "-C", job->tmp, NULL};
  uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}, {.flags = UV_IGNORE},
                                   {.flags = UV_INHERIT_FD, .data.fd = 2}};
  uv_process_options_t o = {0};
  o.exit_cb = on_tar_exit;
  o.file = "tar";
  o.args = args;
  o.stdio = stdio;
  o.stdio_count = 3;
  job->proc.data = job;
  job->next = c->artifact_jobs;
  c->artifact_jobs = job;
  int rc = uv_spawn(c->loop, &job->proc, &o);
  if (rc) {
    snprintf(why, sizeof why, "cannot run tar to unpack %s: %s", path, uv_strerror(rc));
    finish(job, rc, why);
    uv_close((uv_handle_t *)&job->proc, on_job_closed);
  }
}

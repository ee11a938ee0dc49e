/* artifact: see artifact.h.
 *
 * DESIGN: the work that blocks (HTTP, S3, unpacking) runs in a
 * `berthd artifact-fetch` child per job; the loop only spawns it, reads
 * its one-line answers from a pipe and waits for its exit. Copies that
 * start together with the same URL share one job (waiters queue on it).
 * Each waiter may carry its own deadline (artifact_limit: the copy's
 * ModelDataDownloadTimeoutInSeconds). One timer per job fires at the
 * earliest one; a waiter past its deadline is answered with -ETIMEDOUT
 * and leaves the job, and when no waiter is left the child is killed. A
 * killed job leaves the list at once: the next request for the same
 * artifact starts afresh; what a killed caching child had already put into
 * the cache is listed unheld once it exits, so the bound still covers it. Whatever a job leaves in its work directory is
 * removed by an `rm -rf` child once it has exited, so neither the kill nor
 * the removal blocks the loop.
 *
 * The cache: each entry is CACHE/KEY (KEY from the URL and its version,
 * chosen by the child, which also answers from an existing entry after one
 * HEAD or list), with CACHE/KEY.json beside it giving its size. refs
 * counts the copies that hold it. Eviction (least recently used first,
 * only entries no copy holds) runs when no job is in flight, since a
 * running child may be about to answer from the entry; an evicted entry
 * is renamed away first so no later job can see it half removed.
 *
 * When copies run as another user (copy_policy.h) the child makes the
 * tree readable (not writable) for everyone (--readable), since an archive
 * may carry 0600 files the copy user could not read. */
#include "berth/log.h"
#include "artifact.h"
#include "artifact_fetch.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

extern char **environ;

typedef struct waiter {
  struct waiter *next;
  artifact_cb cb;
  void *ud;
  uint64_t deadline_ms;         /* loop time; 0: no limit */
  int limit_s;                  /* the limit it came from, for the message */
} waiter;

typedef struct entry {
  struct entry *next;
  char dir[1200];
  uint64_t bytes;
  uint64_t used_ms;             /* wall clock of its last hold or release */
  int refs;                     /* copies that hold it */
  int own;                      /* a copy's own directory (EnableCaching false) */
} entry;

struct artifact_cache {
  char root[1100];
  uint64_t max_bytes;
  char ca_file[1024];
  entry *entries;
  int jobs;                     /* children running */
  int warned_full;              /* said once that held artifacts exceed the bound */
};

typedef struct artifact_job {
  struct artifact_job *next;
  ctl *c;
  char url[2100];
  int caching;
  int remote;                   /* downloads (for the timeout's wording) */
  char work[1200];              /* the child's, removed after it */
  char dest[1200];              /* caching 0: the copy's own directory */
  waiter *waiters;
  uv_process_t proc;
  uv_pipe_t out;
  uv_timer_t timer;             /* the earliest waiter deadline */
  int open_handles;             /* proc, out, timer until closed; freed at 0 */
  int exited, eof, killed;
  int64_t status;
  int sig;
  char line[LINE_MAX_BYTES];    /* the line being read */
  size_t line_len;
  char answer[LINE_MAX_BYTES];  /* the last "ready"/"error" line */
  char progress[64];            /* "DONE of TOTAL bytes" from the last progress line */
} artifact_job;

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_free_closed(uv_handle_t *h) {
  free(h);
}

static void on_rm_exit(uv_process_t *p, int64_t status, int sig) {
  (void)status;
  (void)sig;
  uv_close((uv_handle_t *)p, on_free_closed);
}

/* Removes dir (a tree) off the loop. */
static void remove_later(ctl *c, const char *dir) {
  uv_process_t *p = berth_xcalloc(1, sizeof *p);
  char *args[] = {"rm", "-rf", "--", (char *)dir, NULL};
  uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}, {.flags = UV_IGNORE},
                                   {.flags = UV_INHERIT_FD, .data.fd = 2}};
  uv_process_options_t o = {.exit_cb = on_rm_exit, .file = args[0], .args = args,
                            .stdio = stdio, .stdio_count = 3};
  int rc = uv_spawn(c->loop, p, &o);
  if (rc) {
    berth_log(BERTH_LOG_ERROR, "cannot run rm to remove %s: %s", dir, uv_strerror(rc));
    uv_close((uv_handle_t *)p, on_free_closed);
  }
}

/* ---- the cache's entries ---- */

static entry *entry_find(struct artifact_cache *ac, const char *dir) {
  for (entry *e = ac->entries; e; e = e->next)
    if (strcmp(e->dir, dir) == 0) return e;
  return NULL;
}

static entry *entry_add(struct artifact_cache *ac, const char *dir, uint64_t bytes, int own) {
  entry *e = entry_find(ac, dir);
  if (!e) {
    e = berth_xcalloc(1, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s", dir);
    e->own = own;
    e->next = ac->entries;
    ac->entries = e;
  }
  if (bytes) e->bytes = bytes;
  e->used_ms = wall_ms();
  return e;
}

static void entry_drop(struct artifact_cache *ac, entry *gone) {
  for (entry **pp = &ac->entries; *pp; pp = &(*pp)->next)
    if (*pp == gone) {
      *pp = gone->next;
      free(gone);
      return;
    }
}

/* Least recently used entries no copy holds go until the rest fit. */
static void evict(ctl *c) {
  struct artifact_cache *ac = c->artifact_cache;
  if (!ac || ac->jobs > 0) return;
  uint64_t total = 0, held = 0;
  for (entry *e = ac->entries; e; e = e->next)
    if (!e->own) {
      total += e->bytes;
      if (e->refs) held += e->bytes;
    }
  while (total > ac->max_bytes) {
    entry *lru = NULL;
    for (entry *e = ac->entries; e; e = e->next)
      if (!e->own && e->refs == 0 && (!lru || e->used_ms < lru->used_ms)) lru = e;
    if (!lru) {
      if (!ac->warned_full)
        berth_log(BERTH_LOG_WARN, "the artifacts copies hold take %llu MB, more than "
                  "--artifact-cache-mb %llu: nothing is evicted while a copy uses it",
                  (unsigned long long)(held >> 20), (unsigned long long)(ac->max_bytes >> 20));
      ac->warned_full = 1;
      return;
    }
    char gone[1300], json[1300];
    snprintf(gone, sizeof gone, "%s.evict-%llu", lru->dir, (unsigned long long)wall_ms());
    snprintf(json, sizeof json, "%s.json", lru->dir);
    berth_log(BERTH_LOG_INFO, "artifact cache: evicting %s (%llu MB, unused)", lru->dir,
              (unsigned long long)(lru->bytes >> 20));
    unlink(json);
    if (rename(lru->dir, gone) == 0)
      remove_later(c, gone);
    else
      berth_log(BERTH_LOG_WARN, "cannot evict %s: %s", lru->dir, strerror(errno));
    total -= lru->bytes;
    entry_drop(ac, lru);
  }
  ac->warned_full = 0;
}

/* A cache entry's name: the 32 hex digits of its KEY. */
static int is_key(const char *n) {
  size_t i = 0;
  for (; n[i]; i++)
    if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f'))) return 0;
  return i == 32;
}

/* Lists the directories in the cache root that are not listed yet, with
 * the size and last use their KEY.json records. at_start (artifact_open):
 * everything a previous agent left, its copy-* directories too, and its
 * unfinished fetches and evictions are removed. Later (a killed job): only
 * KEY entries, since a running job's fetch.tmp-* and copy-* are its own. */
static int scan_cache(ctl *c, int at_start) {
  struct artifact_cache *ac = c->artifact_cache;
  DIR *d = opendir(ac->root);
  if (!d) return -errno;
  struct dirent *de;
  char path[1400];
  while ((de = readdir(d))) {
    const char *n = de->d_name;
    if (n[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", ac->root, n);
    if (!at_start && (!is_key(n) || entry_find(ac, path))) continue;
    if (strstr(n, ".tmp-") || strstr(n, ".evict-")) {
      remove_later(c, path); /* a fetch or an eviction a previous agent left */
      continue;
    }
    struct stat st;
    if (strstr(n, ".json") || stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    char json[1500];
    snprintf(json, sizeof json, "%s.json", path);
    entry *e = entry_add(ac, path, artifact_recorded_bytes(json), strncmp(n, "copy-", 5) == 0);
    struct stat js;
    e->used_ms = stat(json, &js) == 0 ? (uint64_t)js.st_mtime * 1000 : (uint64_t)st.st_mtime * 1000;
  }
  closedir(d);
  return 0;
}

int artifact_open(ctl *c, const char *dir, double max_mb, const char *ca_file) {
  size_t len = strlen(dir);
  struct artifact_cache *ac = berth_xcalloc(1, sizeof *ac);
  if (len >= sizeof ac->root) {
    free(ac);
    return -ENAMETOOLONG; /* a cut path would be another directory */
  }
  memcpy(ac->root, dir, len + 1);
  ac->max_bytes = (uint64_t)((max_mb > 0 ? max_mb : ARTIFACT_CACHE_DEFAULT_MB) * 1048576.0);
  if (ca_file) snprintf(ac->ca_file, sizeof ac->ca_file, "%s", ca_file);
  c->artifact_cache = ac;
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -errno;
  return scan_cache(c, 1);
}

void artifact_close(ctl *c) {
  struct artifact_cache *ac = c->artifact_cache;
  if (!ac) return;
  while (ac->entries) {
    entry *e = ac->entries;
    ac->entries = e->next;
    free(e);
  }
  free(ac);
  c->artifact_cache = NULL;
}

static struct artifact_cache *cache_of(ctl *c) {
  if (!c->artifact_cache) {
    /* Not opened by agent_main (a test driving the agent directly). */
    char dir[1200];
    snprintf(dir, sizeof dir, "%.1100s/artifacts/cache", c->shared_dir);
    artifact_open(c, dir, 0, NULL);
  }
  return c->artifact_cache;
}

void artifact_hold(ctl *c, const char *dir) {
  if (!c->artifact_cache || !dir || !*dir) return;
  entry *e = entry_find(c->artifact_cache, dir);
  if (e) {
    e->refs++;
    e->used_ms = wall_ms();
  }
}

void artifact_release(ctl *c, const char *dir) {
  if (!c->artifact_cache || !dir || !*dir) return;
  entry *e = entry_find(c->artifact_cache, dir);
  if (!e) return;
  if (e->refs > 0) e->refs--;
  e->used_ms = wall_ms();
  char json[1300];
  snprintf(json, sizeof json, "%s.json", e->dir);
  utimensat(AT_FDCWD, json, NULL, 0); /* the order of use survives a restart */
  if (e->own && e->refs == 0) {
    remove_later(c, e->dir);
    entry_drop(c->artifact_cache, e);
  }
  evict(c);
}

void artifact_settle(ctl *c) {
  struct artifact_cache *ac = c->artifact_cache;
  if (!ac) return;
  entry *next;
  for (entry *e = ac->entries; e; e = next) {
    next = e->next;
    if (e->own && e->refs == 0) {
      remove_later(c, e->dir);
      entry_drop(ac, e);
    }
  }
  evict(c);
}

/* ---- jobs ---- */

/* Takes the job out of the list: later requests do not join it. */
static void unlist(artifact_job *job) {
  for (artifact_job **pp = &job->c->artifact_jobs; *pp; pp = &(*pp)->next)
    if (*pp == job) {
      *pp = job->next;
      break;
    }
}

static void on_job_closed(uv_handle_t *h) {
  artifact_job *job = h->data;
  if (--job->open_handles == 0) free(job);
}

static void close_job(artifact_job *job) {
  if (!uv_is_closing((uv_handle_t *)&job->proc)) uv_close((uv_handle_t *)&job->proc, on_job_closed);
  if (!uv_is_closing((uv_handle_t *)&job->out)) uv_close((uv_handle_t *)&job->out, on_job_closed);
  if (!uv_is_closing((uv_handle_t *)&job->timer)) uv_close((uv_handle_t *)&job->timer, on_job_closed);
}

/* Answers every waiter: the entry (held once per waiter) or the reason. */
static void finish(artifact_job *job, int err, const char *dir, uint64_t bytes, const char *why) {
  unlist(job);
  struct artifact_cache *ac = job->c->artifact_cache;
  waiter *w = job->waiters;
  job->waiters = NULL;
  entry *e = err ? NULL : entry_add(ac, dir, bytes, !job->caching);
  while (w) {
    waiter *next = w->next;
    if (e) e->refs++;
    w->cb(w->ud, err, dir, why);
    free(w);
    w = next;
  }
}

/* The child has exited and its output is read: the answer. */
static void job_done(artifact_job *job) {
  ctl *c = job->c;
  uv_timer_stop(&job->timer);
  c->artifact_cache->jobs--;
  remove_later(c, job->work);
  if (job->killed) {
    /* Its waiters have had their answer. A caching child may have put its
     * result into the cache before the kill (answered or not): list what
     * it left, unheld, so the bound still counts and evicts it. */
    if (!job->caching) remove_later(c, job->dest);
    else scan_cache(c, 0);
    close_job(job);
    evict(c);
    return;
  }
  char why[LINE_MAX_BYTES + 200], dir[1300] = "";
  unsigned long long bytes = 0;
  int err = 0, from_cache = 0;
  if (job->status == 0 && !job->sig &&
      artifact_fetch_parse_ready(job->answer, dir, sizeof dir, &bytes, &from_cache) == 0) {
    why[0] = '\0';
    berth_log(BERTH_LOG_INFO, "artifact %s: %s (%llu bytes, %s)", job->url, dir, bytes,
              from_cache ? "from the cache" : "fetched");
  } else if (strncmp(job->answer, "error ", 6) == 0) {
    snprintf(why, sizeof why, "%s", job->answer + 6);
    err = -EIO;
  } else {
    snprintf(why, sizeof why, "fetching %s failed: berthd artifact-fetch %s %lld without an "
             "answer", job->url, job->sig ? "was killed by signal" : "exited with status",
             job->sig ? (long long)job->sig : (long long)job->status);
    err = -EIO;
  }
  if (err && !job->caching) remove_later(c, job->dest);
  finish(job, err, err ? NULL : dir, bytes, err ? why : NULL);
  close_job(job);
  evict(c);
}

static void on_fetch_exit(uv_process_t *p, int64_t status, int sig) {
  artifact_job *job = p->data;
  job->exited = 1;
  job->status = status;
  job->sig = sig;
  if (job->eof) job_done(job);
}

static void take_line(artifact_job *job) {
  job->line[job->line_len] = '\0';
  if (strncmp(job->line, "progress ", 9) == 0) {
    unsigned long long done = 0, total = 0;
    if (sscanf(job->line + 9, "%llu %llu", &done, &total) >= 1) {
      if (total)
        snprintf(job->progress, sizeof job->progress, "%llu of %llu bytes", done, total);
      else
        snprintf(job->progress, sizeof job->progress, "%llu bytes", done);
    }
  } else if (job->line_len) {
    snprintf(job->answer, sizeof job->answer, "%s", job->line);
  }
  job->line_len = 0;
}

static void on_out_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char chunk[4096]; /* one read at a time on this loop */
  buf->base = chunk;
  buf->len = sizeof chunk;
}

static void on_out(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  artifact_job *job = s->data;
  if (n < 0) {
    if (job->line_len) take_line(job);
    uv_read_stop(s);
    job->eof = 1;
    if (job->exited) job_done(job);
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    char ch = buf->base[i];
    if (ch == '\n') {
      take_line(job);
    } else if (job->line_len < sizeof job->line - 1) {
      job->line[job->line_len++] = ch; /* a longer line is cut, not grown */
    }
  }
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
  char reached[96] = "";
  if (job->progress[0]) snprintf(reached, sizeof reached, " (%s received)", job->progress);
  if (!job->waiters) {
    /* Nobody wants it any more: stop the fetch. */
    unlist(job);
    job->killed = 1;
    if (!job->exited) uv_process_kill(&job->proc, SIGKILL);
  } else {
    arm(job);
  }
  /* Answer after the job is settled: a callback may ask for the artifact
   * again, which then starts afresh. */
  while (expired) {
    waiter *next = expired->next;
    char why[2600];
    snprintf(why, sizeof why, "%s %s did not finish within ModelDataDownloadTimeoutInSeconds "
             "(%d s)%s, so it was stopped: raise ModelDataDownloadTimeoutInSeconds (at most "
             "3600) or use a smaller artifact", job->remote ? "downloading" : "unpacking",
             job->url, expired->limit_s, reached);
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

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Starts the child for job; 0 or a libuv error (with why). */
static int spawn_fetch(ctl *c, artifact_job *job, char *why, size_t whysz) {
  struct artifact_cache *ac = c->artifact_cache;
  char *args[16];
  int n = 0;
  args[n++] = c->self_exe;
  args[n++] = "artifact-fetch";
  args[n++] = "--url";
  args[n++] = job->url;
  args[n++] = "--work";
  args[n++] = job->work;
  args[n++] = job->caching ? "--cache" : "--dest";
  args[n++] = job->caching ? ac->root : job->dest;
  if (ac->ca_file[0]) {
    args[n++] = "--ca-file";
    args[n++] = ac->ca_file;
  }
  if (c->policy.user[0]) args[n++] = "--readable";
  args[n] = NULL;
  uv_pipe_init(c->loop, &job->out, 0);
  job->out.data = job;
  uv_timer_init(c->loop, &job->timer);
  job->timer.data = job;
  job->proc.data = job;
  job->open_handles = 3;
  uv_stdio_container_t stdio[3] = {
      {.flags = UV_IGNORE},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&job->out},
      {.flags = UV_INHERIT_FD, .data.fd = 2}};
  /* The agent's whole environment, explicitly: the AWS_* credentials,
   * region, endpoint and CA bundle are for this child, while copies get
   * an environment without the credentials (spawn_copy). */
  uv_process_options_t o = {.exit_cb = on_fetch_exit, .file = c->self_exe, .args = args,
                            .env = environ, .stdio = stdio, .stdio_count = 3};
  int rc = uv_spawn(c->loop, &job->proc, &o);
  if (rc) {
    snprintf(why, whysz, "cannot run berthd artifact-fetch for %s: %s", job->url, uv_strerror(rc));
    return rc;
  }
  uv_read_start((uv_stream_t *)&job->out, on_out_alloc, on_out);
  ac->jobs++;
  return 0;
}

void artifact_prepare(ctl *c, const char *url, int caching, artifact_cb cb, void *ud) {
  char path[1100], why[2400];
  struct stat st;
  struct artifact_cache *ac = cache_of(c);
  if (!url || !*url) {
    snprintf(path, sizeof path, "%.1000s/artifacts/empty", c->shared_dir);
    mkdir(path, 0755);
    cb(ud, 0, path, NULL);
    return;
  }
  int remote = strncmp(url, "s3://", 5) == 0 || strncmp(url, "https://", 8) == 0 ||
               strncmp(url, "http://", 7) == 0;
  if (!remote) {
    if (strncmp(url, "file://", 7) == 0)
      snprintf(path, sizeof path, "%s", url + 7);
    else if (url[0] == '/')
      snprintf(path, sizeof path, "%s", url);
    else {
      snprintf(why, sizeof why, "ArtifactUrl %.2000s is not an s3://, https://, http:// or "
               "file:// URL or an absolute path", url);
      cb(ud, -EINVAL, NULL, why);
      return;
    }
    if (stat(path, &st) != 0) {
      int e = errno;
      snprintf(why, sizeof why, "ArtifactUrl %.1000s: %.1000s is not readable: %s", url, path,
               strerror(e));
      cb(ud, -e, NULL, why);
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      cb(ud, 0, path, NULL); /* used where it is: nothing to cache */
      return;
    }
    if (!S_ISREG(st.st_mode) ||
        !(ends_with(path, ".tar.gz") || ends_with(path, ".tgz") || ends_with(path, ".tar"))) {
      snprintf(why, sizeof why, "ArtifactUrl %.2000s must be a directory or a .tar.gz, .tgz or "
               ".tar archive", url);
      cb(ud, -EINVAL, NULL, why);
      return;
    }
  }
  waiter *w = berth_xcalloc(1, sizeof *w);
  w->cb = cb;
  w->ud = ud;
  if (caching)
    for (artifact_job *job = c->artifact_jobs; job; job = job->next)
      if (job->caching && strcmp(job->url, url) == 0) {
        w->next = job->waiters;
        job->waiters = w;
        return;
      }
  artifact_job *job = berth_xcalloc(1, sizeof *job);
  job->c = c;
  job->waiters = w;
  job->caching = caching;
  job->remote = remote;
  snprintf(job->url, sizeof job->url, "%s", url);
  /* A directory of its own: a killed job's child may still be dying. */
  snprintf(job->work, sizeof job->work, "%.1100s/fetch.tmp-XXXXXX", ac->root);
  snprintf(job->dest, sizeof job->dest, "%.1100s/copy-XXXXXX", ac->root);
  if (!mkdtemp(job->work) || (!caching && !mkdtemp(job->dest))) {
    int e = errno;
    snprintf(why, sizeof why, "cannot make a directory in the artifact cache %s to fetch "
             "%.1000s into: %s", ac->root, url, strerror(e));
    if (job->work[strlen(job->work) - 1] != 'X') rmdir(job->work);
    free(job);
    free(w);
    cb(ud, -e, NULL, why);
    return;
  }
  chmod(job->work, 0700);
  if (!caching) chmod(job->dest, 0755);
  job->next = c->artifact_jobs;
  c->artifact_jobs = job;
  int rc = spawn_fetch(c, job, why, sizeof why);
  if (rc) {
    remove_later(c, job->work);
    if (!caching) remove_later(c, job->dest);
    job->exited = job->eof = 1;
    unlist(job);
    waiter *x = job->waiters;
    job->waiters = NULL;
    uv_close((uv_handle_t *)&job->out, on_job_closed);
    uv_close((uv_handle_t *)&job->timer, on_job_closed);
    uv_close((uv_handle_t *)&job->proc, on_job_closed);
    x->cb(x->ud, rc, NULL, why);
    free(x);
  }
}

/* image_pull: see image_pull.h.
 *
 * DESIGN: one job per Image being made present, with its waiting copies.
 * A job runs one engine process at a time (the check, then the pull); its
 * process and output pipe are allocated per stage and freed in their close
 * callbacks, and the job is freed once it has answered its waiters and its
 * last handle is closed (open_handles == 0). Output is split into lines in
 * a fixed buffer: the latest line is the progress, the last "Error: " line
 * the reason, and neither grows with what the engine prints. */
#include "image_pull.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/log.h"

typedef struct pull_waiter {
  struct pull_waiter *next;
  image_pull_cb cb;
  void *ud;
} pull_waiter;

struct image_pull_job {
  struct image_pull_job *next;
  ctl *c;
  char image[512];
  pull_waiter *waiters;
  uv_process_t *proc;
  uv_pipe_t *out;
  uv_timer_t timer;
  int open_handles;             /* timer, and proc and out while a stage runs */
  int pulling;                  /* stage 2: the pull (stage 1: the check) */
  int exited, out_done;
  int64_t status;
  int timed_out, limit_s;
  int answered;
  char line[256];               /* the latest progress line */
  char error[600];              /* the engine's last "Error: " line */
  char partial[600];            /* the line being read */
  size_t partial_len;
};

static void on_closed(uv_handle_t *h);

static void maybe_free(image_pull_job *j) {
  if (j->answered && j->open_handles == 0) free(j);
}

static void on_closed(uv_handle_t *h) {
  image_pull_job *j = h->data;
  if ((void *)h != (void *)&j->timer) free(h);
  j->open_handles--;
  maybe_free(j);
}

static void answer(image_pull_job *j, int err, const char *why) {
  for (image_pull_job **pp = &j->c->image_pulls; *pp; pp = &(*pp)->next)
    if (*pp == j) {
      *pp = j->next;
      break;
    }
  j->answered = 1;
  uv_timer_stop(&j->timer);
  uv_close((uv_handle_t *)&j->timer, on_closed);
  pull_waiter *w = j->waiters;
  j->waiters = NULL;
  while (w) {
    pull_waiter *next = w->next;
    w->cb(w->ud, err, why);
    free(w);
    w = next;
  }
  maybe_free(j);
}

static void take_line(image_pull_job *j) {
  j->partial[j->partial_len] = '\0';
  j->partial_len = 0;
  char *s = j->partial;
  while (*s == ' ' || *s == '\t') s++;
  if (!*s) return;
  if (strncmp(s, "Error: ", 7) == 0) snprintf(j->error, sizeof j->error, "%s", s + 7);
  /* The image id podman prints last is no progress worth showing. */
  if (j->pulling) {
    snprintf(j->line, sizeof j->line, "%.*s", (int)sizeof j->line - 1, s);
    berth_log(BERTH_LOG_INFO, "pulling %s: %s", j->image, s);
    ctl_kick(j->c); /* the controller hears of the progress */
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char slab[8192];
  buf->base = slab;
  buf->len = sizeof slab;
}

static void stage_maybe_done(image_pull_job *j);

static void on_output(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  image_pull_job *j = s->data;
  for (ssize_t i = 0; i < n; i++) {
    char ch = buf->base[i];
    if (ch == '\n' || ch == '\r') {
      take_line(j);
    } else if (j->partial_len < sizeof j->partial - 1) {
      j->partial[j->partial_len++] = ch;
    }
  }
  if (n < 0) {
    if (j->partial_len) take_line(j);
    uv_read_stop(s);
    j->out_done = 1;
    stage_maybe_done(j);
  }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  image_pull_job *j = p->data;
  j->exited = 1;
  j->status = sig ? 128 + sig : status;
  stage_maybe_done(j);
}

static int start_stage(image_pull_job *j) {
  const container_engine *e = &j->c->engine;
  char *check[] = {(char *)e->path, "image", "inspect", "--format", "{{.Id}}", j->image, NULL};
  char *pull[] = {(char *)e->path, "pull", j->image, NULL};
  j->exited = j->out_done = 0;
  j->out = berth_xcalloc(1, sizeof *j->out);
  uv_pipe_init(j->c->loop, j->out, 0);
  j->out->data = j;
  j->open_handles++;
  /* One pipe for stdout and stderr: progress and errors in order. */
  uv_file fds[2];
  int rc = uv_pipe(fds, 0, 0);
  if (rc) {
    uv_close((uv_handle_t *)j->out, on_closed);
    j->out = NULL;
    return rc;
  }
  uv_pipe_open(j->out, fds[0]);
  j->proc = berth_xcalloc(1, sizeof *j->proc);
  j->proc->data = j;
  uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                   {.flags = UV_INHERIT_FD, .data.fd = fds[1]},
                                   {.flags = UV_INHERIT_FD, .data.fd = fds[1]}};
  uv_process_options_t o = {.exit_cb = on_exit_cb, .file = e->path,
                            .args = j->pulling ? pull : check, .stdio = stdio,
                            .stdio_count = 3};
  rc = uv_spawn(j->c->loop, j->proc, &o);
  close(fds[1]);
  j->open_handles++; /* the process handle: closed even when spawn failed */
  if (rc) {
    uv_close((uv_handle_t *)j->proc, on_closed);
    j->proc = NULL;
    uv_close((uv_handle_t *)j->out, on_closed);
    j->out = NULL;
    return rc;
  }
  uv_read_start((uv_stream_t *)j->out, on_alloc, on_output);
  return 0;
}

static void stage_maybe_done(image_pull_job *j) {
  if (!j->exited || !j->out_done || j->answered) return;
  uv_close((uv_handle_t *)j->proc, on_closed);
  uv_close((uv_handle_t *)j->out, on_closed);
  j->proc = NULL;
  j->out = NULL;
  char why[1200];
  if (j->timed_out) {
    snprintf(why, sizeof why, "the pull of Image \"%s\" did not finish within "
             "ModelDataDownloadTimeoutInSeconds (%d s)%s%s", j->image, j->limit_s,
             j->line[0] ? "; last progress: " : "", j->line);
    answer(j, -ETIMEDOUT, why);
    return;
  }
  if (j->status == 0) {
    if (j->pulling) berth_log(BERTH_LOG_INFO, "pulled %s", j->image);
    answer(j, 0, NULL);
    return;
  }
  if (!j->pulling) {
    /* Not here: pull it. */
    j->pulling = 1;
    j->error[0] = '\0';
    berth_log(BERTH_LOG_INFO, "pulling %s with %s", j->image, j->c->engine.name);
    int rc = start_stage(j);
    if (rc == 0) return;
    snprintf(why, sizeof why, "could not pull Image \"%s\": cannot run %s: %s", j->image,
             j->c->engine.path, uv_strerror(rc));
    answer(j, -EIO, why);
    return;
  }
  snprintf(why, sizeof why, "could not pull Image \"%s\" (%s: %s)", j->image, j->c->engine.name,
           j->error[0] ? j->error : "it exited without saying why");
  answer(j, -EIO, why);
}

static void on_deadline(uv_timer_t *t) {
  image_pull_job *j = t->data;
  j->timed_out = 1;
  if (j->proc && !j->exited) uv_process_kill(j->proc, SIGKILL);
}

void image_pull(ctl *c, const char *image, int limit_s, image_pull_cb cb, void *ud) {
  image_pull_job *j;
  for (j = c->image_pulls; j; j = j->next)
    if (strcmp(j->image, image) == 0) break;
  pull_waiter *w = berth_xcalloc(1, sizeof *w);
  w->cb = cb;
  w->ud = ud;
  if (j) {
    w->next = j->waiters;
    j->waiters = w;
    return;
  }
  j = berth_xcalloc(1, sizeof *j);
  j->c = c;
  snprintf(j->image, sizeof j->image, "%s", image);
  j->waiters = w;
  j->limit_s = limit_s;
  uv_timer_init(c->loop, &j->timer);
  j->timer.data = j;
  j->open_handles++;
  if (limit_s > 0) uv_timer_start(&j->timer, on_deadline, (uint64_t)limit_s * 1000, 0);
  j->next = c->image_pulls;
  c->image_pulls = j;
  int rc = start_stage(j);
  if (rc) {
    char why[800];
    snprintf(why, sizeof why, "cannot check for Image \"%s\": cannot run %s: %s", image,
             c->engine.path, uv_strerror(rc));
    answer(j, -EIO, why);
  }
}

int image_pull_cancel(ctl *c, void *ud) {
  for (image_pull_job *j = c->image_pulls; j; j = j->next)
    for (pull_waiter **pp = &j->waiters; *pp; pp = &(*pp)->next)
      if ((*pp)->ud == ud) {
        pull_waiter *w = *pp;
        *pp = w->next;
        free(w);
        if (!j->waiters) {
          /* Nobody waits: it stops, and answers no one; a later copy of
           * the Image starts a pull of its own. */
          for (image_pull_job **lp = &c->image_pulls; *lp; lp = &(*lp)->next)
            if (*lp == j) {
              *lp = j->next;
              break;
            }
          j->timed_out = 1;
          if (j->proc && !j->exited) uv_process_kill(j->proc, SIGKILL);
        }
        return 1;
      }
  return 0;
}

const char *image_pull_progress(const ctl *c, const void *ud) {
  for (const image_pull_job *j = c->image_pulls; j; j = j->next)
    for (const pull_waiter *w = j->waiters; w; w = w->next)
      if (w->ud == ud) return j->pulling ? (j->line[0] ? j->line : "pulling") : NULL;
  return NULL;
}

/* copy_log: bounded, off-loop, rotated log streams for copies (see
 * copy_log.h). */
#include "copy_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/log.h"
#include "berth/log_store.h"

struct copy_log {
  uv_loop_t *loop;
  uv_file fd;                   /* the current segment; -1 when none */
  char dir[1024];
  char instance[48];
  char stream[BERTH_LOG_STREAM_MAX];
  char path[1200];              /* the current segment's */
  int64_t copy_id;
  uint64_t bound, segment_max;
  uint64_t seg_start, seg_bytes; /* stream offset, bytes written or in flight */
  int line_start;               /* the next byte starts a line */
  size_t line_len;              /* bytes of the line being queued */
  berth_buf queued;             /* waiting for the write in flight */
  berth_buf writing;            /* the write in flight points into it */
  uv_fs_t req;
  int busy;                     /* a uv_fs_write or uv_fs_close is in flight */
  int closing;
  uint64_t dropped, dropped_unreported;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_write(copy_log *l);

/* Opens the segment at stream offset start (appending to what is there). */
static int open_segment(copy_log *l, uint64_t start) {
  if (berth_log_segment_path(l->dir, l->stream, start, l->path, sizeof l->path)) return -1;
  int fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    berth_log(BERTH_LOG_ERROR, "cannot open the log file %s: %s", l->path, strerror(errno));
    return -1;
  }
  struct stat st;
  uint64_t size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
  l->fd = fd;
  l->seg_start = start;
  l->seg_bytes = size;
  return 0;
}

/* Starts the next segment where this one ends, then keeps the IC's logs
 * under its bound. */
static void roll(copy_log *l) {
  uint64_t next = l->seg_start + l->seg_bytes;
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
  if (open_segment(l, next) == 0)
    berth_log_sweep(l->dir, l->bound, l->segment_max, now_ms(), l->path);
}

static void on_closed(uv_fs_t *req) {
  copy_log *l = req->data;
  uv_fs_req_cleanup(req);
  berth_buf_free(&l->queued);
  berth_buf_free(&l->writing);
  free(l);
}

static void on_written(uv_fs_t *req) {
  copy_log *l = req->data;
  uv_fs_req_cleanup(req);
  l->busy = 0;
  berth_buf_reset(&l->writing);
  start_write(l);
}

/* How much of the queue's head fits in room and ends at a line end (all
 * of it when it fits whole). */
static size_t fitting(const berth_buf *q, size_t room) {
  if (q->len <= room) return q->len;
  for (size_t n = room; n > 0; n--)
    if (q->data[n - 1] == '\n') return n;
  return 0;
}

/* Starts the next write, or the close once everything is written. */
static void start_write(copy_log *l) {
  if (l->busy) return;
  if (l->dropped_unreported && l->queued.len + 160 <= COPY_LOG_MAX_PENDING) {
    char prefix[128];
    berth_log_prefix(prefix, sizeof prefix, now_ms(), l->instance, l->copy_id);
    berth_buf_printf(&l->queued, "%s%s[berthd: %llu bytes of output dropped: the log file "
                     "could not keep up]\n", l->line_start ? "" : "\n", prefix,
                     (unsigned long long)l->dropped_unreported);
    l->dropped_unreported = 0;
    l->line_start = 1;
    l->line_len = 0;
  }
  l->req.data = l;
  if (l->queued.len) {
    struct stat st;
    /* Retention (another copy's sweep) deleted our segment: a new one. */
    if (l->fd >= 0 && fstat(l->fd, &st) == 0 && st.st_nlink == 0) roll(l);
    size_t room = l->seg_bytes < l->segment_max ? (size_t)(l->segment_max - l->seg_bytes) : 0;
    size_t n = fitting(&l->queued, room);
    if (n == 0 || l->fd < 0) {
      roll(l);
      n = fitting(&l->queued, (size_t)l->segment_max);
      if (n == 0) n = l->queued.len < l->segment_max ? l->queued.len : (size_t)l->segment_max;
    }
    if (l->fd >= 0) {
      berth_buf_append(&l->writing, l->queued.data, n);
      berth_buf_consume(&l->queued, n);
      l->seg_bytes += n;
      uv_buf_t b = uv_buf_init(l->writing.data, (unsigned)l->writing.len);
      if (uv_fs_write(l->loop, &l->req, l->fd, &b, 1, -1, on_written) == 0) {
        l->busy = 1;
        return;
      }
      berth_buf_reset(&l->writing);
    } else {
      berth_buf_reset(&l->queued); /* nowhere to write it */
    }
  }
  if (l->closing && l->fd >= 0 && uv_fs_close(l->loop, &l->req, l->fd, on_closed) == 0) {
    l->busy = 1;
    l->fd = -1;
  }
}

copy_log *copy_log_open(uv_loop_t *loop, const char *dir, const char *instance,
                        int64_t copy_id, uint64_t bound) {
  copy_log *l = berth_xcalloc(1, sizeof *l);
  l->loop = loop;
  l->fd = -1;
  l->copy_id = copy_id;
  l->bound = bound;
  l->segment_max = berth_log_segment_max(bound);
  l->line_start = 1;
  snprintf(l->dir, sizeof l->dir, "%s", dir);
  snprintf(l->instance, sizeof l->instance, "%s", instance);
  berth_log_stream_name(instance, copy_id, l->stream, sizeof l->stream);
  berth_buf_init(&l->queued, 0);
  berth_buf_init(&l->writing, 0);
  /* Opening is a few quick calls at copy start, kept synchronous so output
   * from the first moment has somewhere to go. The parent (logs/) may be
   * new too. */
  char parent[1024];
  snprintf(parent, sizeof parent, "%s", dir);
  char *slash = strrchr(parent, '/');
  if (slash) {
    *slash = '\0';
    mkdir(parent, 0755);
  }
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    berth_log(BERTH_LOG_ERROR, "cannot make the log directory %s: %s", dir, strerror(errno));
    goto fail;
  }
  /* A restarted copy continues its stream. */
  berth_log_segment *v;
  size_t n;
  uint64_t start = 0, size = 0;
  if (berth_log_list(dir, &v, &n) == 0) {
    for (size_t i = 0; i < n; i++)
      if (strcmp(v[i].stream, l->stream) == 0) {
        start = v[i].start;
        size = v[i].size;
      }
    free(v);
  }
  if (open_segment(l, size >= l->segment_max ? start + size : start)) goto fail;
  if (l->seg_bytes) {
    /* A line the last run left unfinished ends here. */
    char last;
    if (pread(l->fd, &last, 1, (off_t)l->seg_bytes - 1) == 1 && last != '\n')
      berth_buf_append(&l->queued, "\n", 1);
  }
  berth_log_sweep(dir, bound, l->segment_max, now_ms(), l->path);
  return l;
fail:
  berth_buf_free(&l->queued);
  berth_buf_free(&l->writing);
  free(l);
  return NULL;
}

void copy_log_write(copy_log *l, const char *data, size_t len) {
  if (!l || l->closing) return;
  char prefix[128];
  size_t plen = 0;
  for (size_t i = 0; i < len;) {
    const char *nl = memchr(data + i, '\n', len - i);
    size_t n = nl ? (size_t)(nl - (data + i)) + 1 : len - i;
    int broken = 0;
    if (l->line_len + n > BERTH_LOG_EVENT_MAX) {
      /* Too long a line: it goes on as a new line. */
      n = BERTH_LOG_EVENT_MAX - l->line_len;
      broken = 1;
    }
    if (l->queued.len + sizeof prefix + n + 1 > COPY_LOG_MAX_PENDING) {
      l->dropped += len - i;
      l->dropped_unreported += len - i;
      break;
    }
    if (l->line_start) {
      if (!plen) plen = berth_log_prefix(prefix, sizeof prefix, now_ms(), l->instance,
                                         l->copy_id);
      berth_buf_append(&l->queued, prefix, plen);
    }
    berth_buf_append(&l->queued, data + i, n);
    if (broken) berth_buf_append(&l->queued, "\n", 1);
    l->line_start = nl != NULL || broken;
    l->line_len = l->line_start ? 0 : l->line_len + n;
    i += n;
  }
  start_write(l);
}

uint64_t copy_log_dropped(const copy_log *l) {
  return l ? l->dropped : 0;
}

void copy_log_close(copy_log *l) {
  if (!l || l->closing) return;
  l->closing = 1;
  start_write(l);
  if (!l->busy) {
    /* Nothing could be started: close here rather than leak the file. */
    if (l->fd >= 0) close(l->fd);
    berth_buf_free(&l->queued);
    berth_buf_free(&l->writing);
    free(l);
  }
}

/* copy_log: bounded, off-loop log files for copies (see copy_log.h). */
#include "copy_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/log.h"

struct copy_log {
  uv_loop_t *loop;
  uv_file fd;
  int64_t copy_id;
  int line_start;               /* the next byte starts a line */
  berth_buf queued;             /* waiting for the write in flight */
  berth_buf writing;            /* the write in flight points into it */
  uv_fs_t req;
  int busy;                     /* a uv_fs_write or uv_fs_close is in flight */
  int closing;
  uint64_t dropped, dropped_unreported;
};

static void start_write(copy_log *l);

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

/* Starts the next write, or the close once everything is written. */
static void start_write(copy_log *l) {
  if (l->busy) return;
  if (l->dropped_unreported && l->queued.len + 96 <= COPY_LOG_MAX_PENDING) {
    berth_buf_printf(&l->queued, "[copy %lld] [berthd: %llu bytes of output dropped: the log "
                     "file could not keep up]\n", (long long)l->copy_id,
                     (unsigned long long)l->dropped_unreported);
    l->dropped_unreported = 0;
  }
  l->req.data = l;
  if (l->queued.len) {
    /* Swap: new output goes on queueing while this is written. */
    berth_buf t = l->writing;
    l->writing = l->queued;
    l->queued = t;
    uv_buf_t b = uv_buf_init(l->writing.data, (unsigned)l->writing.len);
    if (uv_fs_write(l->loop, &l->req, l->fd, &b, 1, -1, on_written) == 0) {
      l->busy = 1;
      return;
    }
    berth_buf_reset(&l->writing);
  }
  if (l->closing && uv_fs_close(l->loop, &l->req, l->fd, on_closed) == 0) l->busy = 1;
}

copy_log *copy_log_open(uv_loop_t *loop, const char *path, int64_t copy_id) {
  /* Opening is one quick call at copy start, kept synchronous so output
   * from the first moment has somewhere to go. */
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    berth_log(BERTH_LOG_ERROR, "cannot open the log file %s: %s", path, strerror(errno));
    return NULL;
  }
  copy_log *l = berth_xcalloc(1, sizeof *l);
  l->loop = loop;
  l->fd = fd;
  l->copy_id = copy_id;
  l->line_start = 1;
  berth_buf_init(&l->queued, 0);
  berth_buf_init(&l->writing, 0);
  return l;
}

void copy_log_write(copy_log *l, const char *data, size_t len) {
  if (!l || l->closing) return;
  for (size_t i = 0; i < len;) {
    const char *nl = memchr(data + i, '\n', len - i);
    size_t n = nl ? (size_t)(nl - (data + i)) + 1 : len - i;
    if (l->queued.len + 32 + n > COPY_LOG_MAX_PENDING) {
      l->dropped += len - i;
      l->dropped_unreported += len - i;
      break;
    }
    if (l->line_start) berth_buf_printf(&l->queued, "[copy %lld] ", (long long)l->copy_id);
    berth_buf_append(&l->queued, data + i, n);
    l->line_start = nl != NULL;
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
    close(l->fd);
    berth_buf_free(&l->queued);
    berth_buf_free(&l->writing);
    free(l);
  }
}

/* log_intake: a pool agent's copy logs into this controller's store (see
 * log_intake.h). */
#include "log_intake.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "berth/log.h"
#include "berth/log_store.h"
#include "longpoll.h"
#include "pool.h"
#include "valid.h"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(berth_http_req *req, int status, const char *fmt, const char *a, const char *b) {
  char msg[600];
  snprintf(msg, sizeof msg, fmt, a, b);
  longpoll_reply(req, status, json_pack("{s:s}", "message", msg));
}

/* How much of data (len bytes) fits in room and ends at a line end. */
static size_t fitting(const char *data, size_t len, size_t room) {
  if (len <= room) return len;
  for (size_t n = room; n > 0; n--)
    if (data[n - 1] == '\n') return n;
  return 0;
}

/* Appends data to the segment starting at seg_start (holding *seg_size
 * bytes), rolling at line ends as the shim does and sweeping the IC's
 * directory at each new segment. 0, or a negative errno. */
static int append(const char *dir, const char *stream, uint64_t seg_start, uint64_t seg_size,
                  const char *data, size_t len, uint64_t bound) {
  uint64_t segment_max = berth_log_segment_max(bound);
  char path[1400];
  int fd = -1, fresh = 0, rc = 0;
  while (len > 0) {
    size_t room = seg_size < segment_max ? (size_t)(segment_max - seg_size) : 0;
    size_t n = fitting(data, len, room);
    if (n == 0 || fd < 0) {
      if (n == 0) { /* full: the next segment starts where this one ends */
        seg_start += seg_size;
        seg_size = 0;
        fresh = 1;
        n = fitting(data, len, (size_t)segment_max);
        if (n == 0) n = len < segment_max ? len : (size_t)segment_max;
      }
      if (fd >= 0) close(fd);
      if (berth_log_segment_path(dir, stream, seg_start, path, sizeof path)) return -ENAMETOOLONG;
      fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0) return -errno;
      if (fresh || seg_size == 0) berth_log_sweep(dir, bound, segment_max, now_ms(), path);
      fresh = 0;
    }
    size_t done = 0;
    while (done < n) {
      ssize_t w = write(fd, data + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        rc = w < 0 ? -errno : -EIO;
        goto out;
      }
      done += (size_t)w;
    }
    data += n;
    len -= n;
    seg_size += n;
  }
out:
  if (fd >= 0) close(fd);
  return rc;
}

static int parse_offset(const char *s, uint64_t *out) {
  if (!s || !*s || strlen(s) > 16) return -1;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  *out = v;
  return 0;
}

void log_intake_on_request(ctl *c, berth_http_req *req) {
  instance *in = pool_sender(c, req);
  if (!in) {
    fail(req, 401, "agent token refused: wrong or missing token%s%s", "", "");
    return;
  }
  if (in->agent) {
    fail(req, 400, "instance %s is local: its copies write this controller's log store "
         "already%s", in->agent_id, "");
    return;
  }
  const char *ic_name = berth_http_req_header(req, "x-berth-ic");
  const char *stream = berth_http_req_header(req, "x-berth-stream");
  const char *start_s = berth_http_req_header(req, "x-berth-start");
  const char *gap_s = berth_http_req_header(req, "x-berth-gap");
  if (!ic_name || !valid_is_name(ic_name)) {
    fail(req, 400, "x-berth-ic '%.100s' is not an inference component name (1-63 letters, "
         "digits and '-')%s", ic_name ? ic_name : "", "");
    return;
  }
  if (!ctl_find_ic(c, ic_name)) {
    fail(req, 404, "x-berth-ic '%s': no inference component of that name on this "
         "controller%s", ic_name, "");
    return;
  }
  char own[40];
  snprintf(own, sizeof own, "i-%lld/", (long long)in->id);
  if (!stream || !berth_log_stream_valid(stream) || strncmp(stream, own, strlen(own)) != 0) {
    fail(req, 400, "x-berth-stream '%.100s' must be a stream of this agent's instance, "
         "%scopy-N", stream ? stream : "", own);
    return;
  }
  uint64_t start;
  if (parse_offset(start_s, &start)) {
    fail(req, 400, "x-berth-start '%.40s' must be a byte offset (a whole number, at most 16 "
         "digits)%s", start_s ? start_s : "", "");
    return;
  }
  int gap = gap_s && strcmp(gap_s, "1") == 0;
  if (gap_s && !gap && strcmp(gap_s, "0") != 0) {
    fail(req, 400, "x-berth-gap '%.40s' must be 0 or 1%s", gap_s, "");
    return;
  }
  size_t len = req->body_len;
  if (len > LOG_INTAKE_BATCH_MAX) {
    fail(req, 413, "a log batch is at most 262144 bytes%s%s", "", "");
    return;
  }
  if (len == 0 || req->body[len - 1] != '\n') {
    fail(req, 400, "a log batch must be whole lines (end with a newline)%s%s", "", "");
    return;
  }
  char dir[1200];
  snprintf(dir, sizeof dir, "%.1000s/logs", c->shared_dir);
  mkdir(dir, 0755);
  snprintf(dir, sizeof dir, "%.1000s/logs/%s", c->shared_dir, ic_name);
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    int err = errno;
    berth_log(BERTH_LOG_ERROR, "cannot make the log directory %s: %s", dir, strerror(err));
    fail(req, 503, "cannot make the log directory: %s%s", strerror(err), "");
    return;
  }
  /* Where the stream ends here: its newest segment's end. */
  berth_log_segment *v;
  size_t n;
  uint64_t seg_start = 0, seg_size = 0, end = 0;
  int have = 0;
  if (berth_log_list(dir, &v, &n) == 0) {
    for (size_t i = 0; i < n; i++)
      if (strcmp(v[i].stream, stream) == 0) {
        seg_start = v[i].start;
        seg_size = v[i].size;
        have = 1;
      }
    free(v);
  }
  end = seg_start + seg_size;
  if (start > end && !gap) {
    char msg[300];
    snprintf(msg, sizeof msg, "x-berth-start %llu is past the end of stream %s here (%llu): "
             "resend from %llu, or mark the batch x-berth-gap: 1 if those bytes are gone",
             (unsigned long long)start, stream, (unsigned long long)end,
             (unsigned long long)end);
    longpoll_reply(req, 409, json_pack("{s:s,s:I}", "message", msg, "end", (json_int_t)end));
    return;
  }
  if (start + len <= end) { /* already stored: a resend */
    longpoll_reply(req, 200, json_pack("{s:I}", "end", (json_int_t)end));
    return;
  }
  const char *data = req->body;
  if (start < end) { /* the part not stored yet */
    data += end - start;
    len -= (size_t)(end - start);
  } else if (start > end || !have) {
    seg_start = start; /* a gap, or a new stream: a segment of its own */
    seg_size = 0;
  }
  uint64_t bound = (uint64_t)(c->log_retention_mb > 0 ? c->log_retention_mb
                                                      : LOG_INTAKE_DEFAULT_MB) << 20;
  int rc = append(dir, stream, seg_start, seg_size, data, len, bound);
  if (rc) {
    berth_log(BERTH_LOG_ERROR, "cannot store a log batch of %s %s: %s", ic_name, stream,
              strerror(-rc));
    fail(req, 503, "cannot store the batch: %s; retry%s", strerror(-rc), "");
    return;
  }
  longpoll_reply(req, 200, json_pack("{s:I}", "end", (json_int_t)(start + req->body_len)));
}

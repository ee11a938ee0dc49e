/* log_ship: a pool agent's copy logs to its controller (see log_ship.h). */
#include "log_ship.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/log.h"
#include "berth/log_store.h"

typedef struct shipped {
  char ic[64];
  char stream[BERTH_LOG_STREAM_MAX];
  uint64_t offset;      /* the stream's bytes before it are at the controller */
  uint64_t tried;       /* scans since it last went: the longest waiting goes first */
  int seen;             /* found in the last scan */
} shipped;

struct log_ship {
  uv_loop_t *loop;
  log_ship_target t;
  char logs_dir[1100];
  char state_path[1100];
  int enabled;
  int64_t instance_id;
  uv_timer_t timer;
  uv_work_t work;
  int busy;             /* a scan or a batch is in flight */
  int dirty;            /* offsets changed since saved */
  shipped *v;
  size_t n;
  /* The scan's pick, sent by the loop. */
  int picked;           /* index into v, or -1 */
  uint64_t start;
  int gap;
  berth_buf batch;
  /* The answer. */
  int status;
  berth_buf answer;
  int warned;           /* refusals logged once each run */
};

static shipped *find(log_ship *s, const char *ic, const char *stream) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i].ic, ic) == 0 && strcmp(s->v[i].stream, stream) == 0) return &s->v[i];
  return NULL;
}

static shipped *add(log_ship *s, const char *ic, const char *stream, uint64_t offset) {
  if (s->n >= LOG_SHIP_STREAMS_MAX) return NULL;
  shipped *e = &s->v[s->n++];
  memset(e, 0, sizeof *e);
  snprintf(e->ic, sizeof e->ic, "%s", ic);
  snprintf(e->stream, sizeof e->stream, "%s", stream);
  e->offset = offset;
  return e;
}

/* {"IC": {"i-3/copy-7": offset, ...}, ...} */
static void load(log_ship *s) {
  json_t *j = json_load_file(s->state_path, 0, NULL);
  const char *ic, *stream;
  json_t *streams, *off;
  json_object_foreach(j, ic, streams) {
    json_object_foreach(streams, stream, off) {
      if (strlen(ic) < 64 && berth_log_stream_valid(stream) && json_is_integer(off) &&
          json_integer_value(off) >= 0)
        add(s, ic, stream, (uint64_t)json_integer_value(off));
    }
  }
  json_decref(j);
}

/* Runs in the scan (off the loop). A lost save costs a resend, which the
 * controller skips. */
static void save(log_ship *s) {
  json_t *j = json_object();
  for (size_t i = 0; i < s->n; i++) {
    json_t *streams = json_object_get(j, s->v[i].ic);
    if (!streams) json_object_set_new(j, s->v[i].ic, streams = json_object());
    json_object_set_new(streams, s->v[i].stream, json_integer((json_int_t)s->v[i].offset));
  }
  char tmp[1200];
  snprintf(tmp, sizeof tmp, "%s.tmp", s->state_path);
  if (json_dump_file(j, tmp, JSON_COMPACT) == 0 && rename(tmp, s->state_path) == 0)
    s->dirty = 0;
  json_decref(j);
}

static int name_ok(const char *name) {
  if (!name[0] || strlen(name) > 63) return 0;
  for (const char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '-'))
      return 0;
  return 1;
}

/* Reads stream bytes [from, from + LOG_SHIP_BATCH_MAX) from its contiguous
 * segments (segs, n of them, sorted) into out, cut after the last newline. */
static void read_batch(const char *dir, const berth_log_segment *segs, size_t n, uint64_t from,
                       berth_buf *out) {
  uint64_t at = from;
  for (size_t i = 0; i < n && out->len < LOG_SHIP_BATCH_MAX; i++) {
    const berth_log_segment *g = &segs[i];
    if (g->start + g->size <= at) continue;
    if (g->start > at) break; /* retention between list and read */
    char path[1400];
    if (berth_log_segment_path(dir, g->stream, g->start, path, sizeof path)) break;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;
    size_t want = LOG_SHIP_BATCH_MAX - out->len;
    if (g->start + g->size - at < want) want = (size_t)(g->start + g->size - at);
    char chunk[65536];
    size_t got = 0;
    while (got < want) {
      size_t ask = want - got < sizeof chunk ? want - got : sizeof chunk;
      ssize_t r = pread(fd, chunk, ask, (off_t)(at - g->start + got));
      if (r <= 0) break;
      berth_buf_append(out, chunk, (size_t)r);
      got += (size_t)r;
    }
    close(fd);
    at += got;
    if (got < want) break;
  }
  size_t keep = out->len;
  while (keep > 0 && out->data[keep - 1] != '\n') keep--;
  out->len = keep; /* a line still being written goes next time */
}

/* The scan (thread pool): saves offsets, finds this instance's streams,
 * picks the one that waited longest among those with news, reads its
 * batch. */
static void on_scan(uv_work_t *w) {
  log_ship *s = w->data;
  if (s->dirty) save(s);
  s->picked = -1;
  berth_buf_reset(&s->batch);
  for (size_t i = 0; i < s->n; i++) s->v[i].seen = 0;
  char own[40];
  snprintf(own, sizeof own, "i-%lld/", (long long)s->instance_id);
  DIR *d = opendir(s->logs_dir);
  struct dirent *de;
  char pick_dir[1400] = "";
  uint64_t best = 0;
  int best_gap = 0;
  uint64_t best_start = 0;
  while (d && (de = readdir(d))) {
    if (!name_ok(de->d_name)) continue;
    char dir[1400]; /* logs_dir, "/", a name of up to 255 */
    snprintf(dir, sizeof dir, "%s/%s", s->logs_dir, de->d_name);
    berth_log_segment *v;
    size_t n;
    if (berth_log_list(dir, &v, &n)) continue;
    for (size_t i = 0; i < n;) {
      size_t j = i;
      while (j < n && strcmp(v[j].stream, v[i].stream) == 0) j++;
      if (strncmp(v[i].stream, own, strlen(own)) == 0) {
        uint64_t begin = v[i].start, end = v[j - 1].start + v[j - 1].size;
        shipped *e = find(s, de->d_name, v[i].stream);
        if (!e) e = add(s, de->d_name, v[i].stream, 0);
        if (e) {
          e->seen = 1;
          uint64_t from = e->offset;
          int gap = 0;
          /* Our retention dropped bytes never shipped (or, past the end,
           * the stream was started again): go on from what is left. */
          if (from < begin || from > end) {
            gap = from != begin;
            from = begin;
          }
          if (from < end) {
            e->tried++;
            if (e->tried > best) {
              best = e->tried;
              s->picked = (int)(e - s->v);
              best_start = from;
              best_gap = gap;
              snprintf(pick_dir, sizeof pick_dir, "%s", dir);
            }
          }
        }
      }
      i = j;
    }
    free(v);
  }
  if (d) closedir(d);
  /* Streams whose files are all gone. */
  for (size_t i = 0; i < s->n;)
    if (!s->v[i].seen && (int)i != s->picked) {
      if (s->picked == (int)(s->n - 1)) s->picked = (int)i;
      s->v[i] = s->v[--s->n];
      s->dirty = 1;
    } else {
      i++;
    }
  if (s->picked < 0) return;
  shipped *e = &s->v[s->picked];
  berth_log_segment *v;
  size_t n;
  if (berth_log_list(pick_dir, &v, &n) == 0) {
    size_t i = 0;
    while (i < n && strcmp(v[i].stream, e->stream) != 0) i++;
    size_t j = i;
    while (j < n && strcmp(v[j].stream, e->stream) == 0) j++;
    read_batch(pick_dir, v + i, j - i, best_start, &s->batch);
    free(v);
  }
  s->start = best_start;
  s->gap = best_gap;
  if (s->batch.len == 0) s->picked = -1; /* only a line being written */
}

static void scan_soon(log_ship *s, uint64_t ms);

static void on_head(berth_http_call *call, int status, const berth_http_header *h, size_t n,
                    void *ud) {
  (void)call;
  (void)h;
  (void)n;
  ((log_ship *)ud)->status = status;
}

static void on_body(berth_http_call *call, const char *data, size_t len, void *ud) {
  (void)call;
  berth_buf_append(&((log_ship *)ud)->answer, data, len);
}

static void on_sent(berth_http_call *call, int err, void *ud) {
  (void)call;
  log_ship *s = ud;
  s->busy = 0;
  shipped *e = s->picked >= 0 && (size_t)s->picked < s->n ? &s->v[s->picked] : NULL;
  json_t *a = err ? NULL : json_loadb(s->answer.data ? s->answer.data : "", s->answer.len, 0,
                                      NULL);
  json_t *end = json_object_get(a, "end");
  if (!e || err || s->status >= 500 || s->status == 401 || s->status == 0) {
    /* Unreachable or busy: the sync says so; the same batch goes again. */
    scan_soon(s, LOG_SHIP_INTERVAL_MS * 4);
  } else if (s->status == 200) {
    e->offset = s->start + s->batch.len;
    e->tried = 0;
    s->dirty = 1;
    scan_soon(s, 0); /* maybe more */
  } else if (s->status == 409 && json_is_integer(end)) {
    /* The controller has less than we thought (its logs were removed):
     * resend from its end, or from our oldest byte as a gap. */
    e->offset = (uint64_t)json_integer_value(end);
    s->dirty = 1;
    scan_soon(s, 0);
  } else {
    /* Refused for good (its IC is gone, ...): these lines stay here only. */
    if (s->warned++ < 10)
      berth_log(BERTH_LOG_WARN, "the controller refused %s %s's logs from offset %llu (%d): "
                "%.*s; they stay on this host only", e->ic, e->stream,
                (unsigned long long)s->start, s->status, (int)s->answer.len,
                s->answer.data ? s->answer.data : "");
    e->offset = s->start + s->batch.len;
    e->tried = 0;
    s->dirty = 1;
    scan_soon(s, LOG_SHIP_INTERVAL_MS);
  }
  json_decref(a);
}

static const berth_http_call_cb ship_cb = {on_head, on_body, on_sent};

static void on_scanned(uv_work_t *w, int status) {
  log_ship *s = w->data;
  if (status || s->picked < 0) {
    s->busy = 0;
    scan_soon(s, LOG_SHIP_INTERVAL_MS);
    return;
  }
  shipped *e = &s->v[s->picked];
  char start[24];
  snprintf(start, sizeof start, "%llu", (unsigned long long)s->start);
  berth_http_header h[6] = {{"content-type", "application/octet-stream"},
                            {"authorization", s->t.auth_header},
                            {"x-berth-ic", e->ic},
                            {"x-berth-stream", e->stream},
                            {"x-berth-start", start},
                            {"x-berth-gap", s->gap ? "1" : "0"}};
  berth_http_request_opts o = {.host = s->t.host, .port = *s->t.port, .method = "POST",
                               .target = "/agent/v1/logs", .headers = h, .n_headers = 6,
                               .body = s->batch.data, .body_len = s->batch.len,
                               .borrow_body = 1, .timeout_ms = 10000, .tls = *s->t.tls,
                               .tls_name = s->t.tls_name};
  s->status = 0;
  berth_buf_reset(&s->answer);
  if (berth_http_request(s->t.client, &o, &ship_cb, s, NULL) != 0) {
    s->busy = 0;
    scan_soon(s, LOG_SHIP_INTERVAL_MS * 4);
  }
}

static void on_timer(uv_timer_t *t) {
  log_ship *s = t->data;
  if (s->busy || !s->enabled || s->instance_id <= 0) return;
  s->busy = 1;
  s->work.data = s;
  if (uv_queue_work(s->loop, &s->work, on_scan, on_scanned) != 0) {
    s->busy = 0;
    scan_soon(s, LOG_SHIP_INTERVAL_MS);
  }
}

static void scan_soon(log_ship *s, uint64_t ms) {
  if (s->enabled) uv_timer_start(&s->timer, on_timer, ms, LOG_SHIP_INTERVAL_MS);
}

log_ship *log_ship_new(uv_loop_t *loop, const char *shared_dir, const char *data_dir,
                       const log_ship_target *t) {
  log_ship *s = berth_xcalloc(1, sizeof *s);
  s->loop = loop;
  s->t = *t;
  s->picked = -1;
  snprintf(s->logs_dir, sizeof s->logs_dir, "%.1000s/logs", shared_dir);
  snprintf(s->state_path, sizeof s->state_path, "%.1000s/log-shipped.json", data_dir);
  s->v = berth_xcalloc(LOG_SHIP_STREAMS_MAX, sizeof *s->v);
  berth_buf_init(&s->batch, LOG_SHIP_BATCH_MAX + 65536);
  berth_buf_init(&s->answer, 65536);
  uv_timer_init(loop, &s->timer);
  s->timer.data = s;
  load(s);
  return s;
}

void log_ship_set(log_ship *s, int enabled, int64_t instance_id) {
  if (!s) return;
  if (instance_id != s->instance_id) s->instance_id = instance_id;
  if (enabled && !s->enabled) {
    s->enabled = 1;
    berth_log(BERTH_LOG_INFO, "shipping this instance's copy logs to the controller "
              "(%zu streams resumed from %s)", s->n, s->state_path);
    scan_soon(s, 0);
  } else if (!enabled && s->enabled) {
    s->enabled = 0;
    uv_timer_stop(&s->timer);
  }
}

/* Unit tests for copy_log: lines carry time, instance and copy across split
 * writes, output reaches the stream's segment off the loop, a burst past the
 * pending bound is dropped and reported, close flushes before the file is
 * closed, an over-long line is broken, a restarted copy continues its
 * stream, and rotation keeps an IC's segments under its bound. */
#include "copy_log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/log_store.h"
#include "check.h"

/* The stream's segments, in order, as one text. */
static char *slurp_stream(const char *dir, const char *stream, size_t *len, size_t *segments) {
  berth_log_segment *v;
  size_t n;
  berth_buf b;
  berth_buf_init(&b, 0);
  *segments = 0;
  if (berth_log_list(dir, &v, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      if (strcmp(v[i].stream, stream) != 0) continue;
      char path[1200];
      berth_log_segment_path(dir, stream, v[i].start, path, sizeof path);
      FILE *f = fopen(path, "rb");
      if (!f) continue;
      (*segments)++;
      char chunk[65536];
      size_t got;
      while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) berth_buf_append(&b, chunk, got);
      fclose(f);
    }
    free(v);
  }
  berth_buf_append(&b, "", 0);
  return berth_buf_steal(&b, len);
}

static uint64_t dir_bytes(const char *dir) {
  berth_log_segment *v;
  size_t n;
  uint64_t total = 0;
  if (berth_log_list(dir, &v, &n) == 0) {
    for (size_t i = 0; i < n; i++) total += v[i].size;
    free(v);
  }
  return total;
}

int main(void) {
  uv_loop_t *loop = uv_default_loop();
  char root[] = "/tmp/berth-test-copylog-XXXXXX";
  CHECK(mkdtemp(root) != NULL);
  char dir[128];
  snprintf(dir, sizeof dir, "%s/logs/ic", root); /* both levels are made */

  copy_log *l = copy_log_open(loop, dir, "i-3", 7, 64u << 20);
  CHECK(l != NULL);
  copy_log_write(l, "hel", 3);
  copy_log_write(l, "lo\nwor", 6);
  copy_log_write(l, "ld\n", 3);
  uv_run(loop, UV_RUN_DEFAULT);
  size_t len, segs;
  char *text = slurp_stream(dir, "i-3/copy-7", &len, &segs);
  CHECK_INT((long long)segs, 1);
  CHECK(text && strstr(text, "Z [i-3 copy 7] hello\n"));
  CHECK(text && strstr(text, "Z [i-3 copy 7] world\n"));
  int64_t ts;
  size_t at;
  berth_log_parse_line(text, strcspn(text, "\n"), -1, &ts, &at);
  CHECK(ts > 1700000000000LL);
  CHECK_INT((long long)strcspn(text + at, "\n"), 5); /* "hello" */
  free(text);

  /* 3 MiB at once, faster than any write completes: the bound holds. */
  size_t burst = 3u << 20;
  char *big = malloc(burst);
  memset(big, 'x', burst);
  for (size_t i = 99; i < burst; i += 100) big[i] = '\n';
  copy_log_write(l, big, burst);
  CHECK(copy_log_dropped(l) > 0);
  CHECK(copy_log_dropped(l) < burst);
  copy_log_write(l, "after\n", 6);
  copy_log_close(l); /* flushes, then closes and frees itself */
  uv_run(loop, UV_RUN_DEFAULT);
  text = slurp_stream(dir, "i-3/copy-7", &len, &segs);
  CHECK(text && len < 64 + 2 * (COPY_LOG_MAX_PENDING + (1u << 16)));
  CHECK(text && strstr(text, "bytes of output dropped: the log file could not keep up]"));
  CHECK(text && strstr(text, "[i-3 copy 7] after\n"));
  free(text);

  /* Restarted: the same stream goes on, an unfinished line ended first;
   * a line past BERTH_LOG_EVENT_MAX is broken. */
  l = copy_log_open(loop, dir, "i-3", 7, 64u << 20);
  CHECK(l != NULL);
  copy_log_write(l, big, BERTH_LOG_EVENT_MAX + 50); /* 'x' and newlines */
  memset(big, 'y', BERTH_LOG_EVENT_MAX + 10);
  copy_log_write(l, big, BERTH_LOG_EVENT_MAX + 10);
  copy_log_write(l, "\nagain\n", 7);
  copy_log_close(l);
  uv_run(loop, UV_RUN_DEFAULT);
  text = slurp_stream(dir, "i-3/copy-7", &len, &segs);
  CHECK(text && strstr(text, "[i-3 copy 7] after\n"));
  CHECK(text && strstr(text, "[i-3 copy 7] again\n"));
  size_t longest = 0;
  for (char *p = text; p && *p;) {
    size_t n = strcspn(p, "\n");
    if (n > longest) longest = n;
    p += n + (p[n] == '\n');
  }
  CHECK(longest <= BERTH_LOG_EVENT_MAX + 64);
  free(text);

  /* Rotation: 1 MiB for the IC, two copies printing 4 MiB each. */
  char dir2[128];
  snprintf(dir2, sizeof dir2, "%s/logs/busy", root);
  copy_log *a = copy_log_open(loop, dir2, "i-1", 1, 1u << 20);
  copy_log *b = copy_log_open(loop, dir2, "i-2", 2, 1u << 20);
  CHECK(a && b);
  memset(big, 'z', 1000);
  big[999] = '\n';
  uint64_t most = 0;
  for (int round = 0; round < 4096; round++) {
    copy_log_write(a, big, 1000);
    copy_log_write(b, big, 1000);
    if (round % 16 == 0) uv_run(loop, UV_RUN_NOWAIT);
    uint64_t now = dir_bytes(dir2);
    if (now > most) most = now;
  }
  copy_log_close(a);
  copy_log_close(b);
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(most <= (1u << 20));
  CHECK(dir_bytes(dir2) <= (1u << 20));
  text = slurp_stream(dir2, "i-1/copy-1", &len, &segs);
  CHECK(segs >= 2);
  CHECK(len > 100000);
  free(text);
  /* What is left of a stream is its newest part, contiguous. */
  berth_log_segment *v;
  size_t n;
  CHECK_INT(berth_log_list(dir2, &v, &n), 0);
  for (size_t i = 1; i < n; i++)
    if (strcmp(v[i].stream, v[i - 1].stream) == 0)
      CHECK(v[i].start == v[i - 1].start + v[i - 1].size);
  free(v);
  free(big);

  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  CHECK_INT(system(cmd), 0);
  CHECK_INT(uv_loop_close(loop), 0);
  CHECK_DONE();
}

/* Unit tests for copy_log: lines are prefixed across split writes, output
 * reaches the file off the loop, a burst past the bound is dropped and
 * reported in the file, and close flushes before the file is closed. */
#include "copy_log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/buf.h"
#include "check.h"

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  berth_buf b;
  berth_buf_init(&b, 0);
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) berth_buf_append(&b, chunk, n);
  fclose(f);
  berth_buf_append(&b, "", 0);
  return berth_buf_steal(&b, len);
}

int main(void) {
  uv_loop_t *loop = uv_default_loop();
  char dir[] = "/tmp/berth-test-copylog-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[128];
  snprintf(path, sizeof path, "%s/ic.log", dir);

  copy_log *l = copy_log_open(loop, path, 7);
  CHECK(l != NULL);
  copy_log_write(l, "hel", 3);
  copy_log_write(l, "lo\nwor", 6);
  copy_log_write(l, "ld\n", 3);
  uv_run(loop, UV_RUN_DEFAULT);
  size_t len;
  char *text = slurp(path, &len);
  CHECK_STR(text, "[copy 7] hello\n[copy 7] world\n");
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
  text = slurp(path, &len);
  CHECK(text && len < 32 + (COPY_LOG_MAX_PENDING + (1u << 16)));
  CHECK(text && strstr(text, "bytes of output dropped: the log file could not keep up]"));
  CHECK(text && strstr(text, "[copy 7] after\n"));
  free(text);
  free(big);

  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_INT(system(cmd), 0);
  CHECK_INT(uv_loop_close(loop), 0);
  CHECK_DONE();
}

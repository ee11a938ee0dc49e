/* access_log: one line per invocation (see access_log.h). */
#include "access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Process-wide like the daemon's own log: set once before threads start. */
static int log_fd = -1;
static atomic_uint_fast64_t dropped;

int access_log_open(const char *path) {
  if (strcmp(path, "-") == 0) {
    log_fd = 1;
    return 0;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return -errno;
  log_fd = fd;
  return 0;
}

int access_log_enabled(void) {
  return log_fd >= 0;
}

void access_log_request(const char *endpoint, const char *ic, int64_t copy_id, int status,
                        int model_status, double model_ms, double overhead_ms, size_t bytes_in,
                        long long bytes_out, const char *request_id) {
  if (log_fd < 0) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char copy[24] = "-", out[24] = "-", line[600];
  if (copy_id >= 0) snprintf(copy, sizeof copy, "%lld", (long long)copy_id);
  if (bytes_out >= 0) snprintf(out, sizeof out, "%lld", bytes_out);
  int n = snprintf(line, sizeof line,
                   "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ endpoint=%.63s ic=%.63s copy=%s "
                   "status=%d model_status=%d model_ms=%.3f overhead_ms=%.3f bytes_in=%zu "
                   "bytes_out=%s request_id=%.63s\n",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, ts.tv_nsec / 1000000, endpoint, ic, copy, status, model_status,
                   model_ms, overhead_ms, bytes_in, out, request_id);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) n = (int)sizeof line - 1;
  if (write(log_fd, line, (size_t)n) != n) atomic_fetch_add(&dropped, 1);
}

uint64_t access_log_dropped(void) {
  return atomic_load(&dropped);
}

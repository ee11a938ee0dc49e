/* log: leveled log lines on stderr (see log.h). The process-wide level is
 * the one piece of global state here, as for syslog: every module of a
 * process logs through it. */
#include "berth/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *program = "berth";
static berth_log_level threshold = BERTH_LOG_INFO;
static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void berth_log_init(const char *name, berth_log_level level) {
  program = name;
  threshold = level;
}

int berth_log_parse_level(const char *name, berth_log_level *out) {
  static const char *const lower[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcmp(name, lower[i]) == 0) {
      *out = (berth_log_level)i;
      return 0;
    }
  return -EINVAL;
}

int berth_log_setup(const char *name, const char *level_name, const char *who) {
  berth_log_level level;
  if (berth_log_parse_level(level_name, &level)) {
    fprintf(stderr, "%s: --log-level '%s' must be error, warn, info or debug\n", who, level_name);
    return -EINVAL;
  }
  berth_log_init(name, level);
  return 0;
}

void berth_log(berth_log_level level, const char *fmt, ...) {
  if (level > threshold) return;
  char line[BERTH_LOG_LINE_MAX + 64];
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, (int)(tv.tv_usec / 1000), names[level], program);
  if (n < 0) return;
  size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + len, sizeof line - len - 1, fmt, ap);
  va_end(ap);
  if (m < 0) return;
  if ((size_t)m >= sizeof line - len - 1) {
    len = sizeof line - 5;
    memcpy(line + len - 3, "...", 3);
  } else {
    len += (size_t)m;
  }
  while (len && line[len - 1] == '\n') len--;
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w; /* nowhere to report a failed log write */
}

const char *berth_err_name(int rc) {
  static __thread char text[128];
  if (rc >= 0) return "OK";
  const char *name = strerrorname_np(-rc);
  snprintf(text, sizeof text, "%s (%s)", name ? name : "E?", strerror(-rc));
  return text;
}

/* log: one leveled logging function for a process (Redis's serverLog).
 *
 * A line is "TIME LEVEL PROGRAM: MESSAGE", TIME in UTC with milliseconds,
 * written with one write(2) so lines of processes sharing a stream never
 * interleave; a message longer than BERTH_LOG_LINE_MAX is cut, marked
 * "...". Messages below the level set by berth_log_init are dropped. */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

#define BERTH_LOG_LINE_MAX 4096

typedef enum {
  BERTH_LOG_ERROR = 0, /* something failed that an operator must look at */
  BERTH_LOG_WARN = 1,  /* a model or peer misbehaved; Berth recovers */
  BERTH_LOG_INFO = 2,  /* lifecycle: copies, instances, ICs, endpoints */
  BERTH_LOG_DEBUG = 3
} berth_log_level;

/* program: the name lines carry ("berthd", "berthd agent"); kept, not
 * copied. Until called: "berth" at INFO. */
void berth_log_init(const char *program, berth_log_level level);
/* "error", "warn", "info" or "debug": 0, or -EINVAL for anything else. */
int berth_log_parse_level(const char *name, berth_log_level *out);
/* Parses level_name and initialises the log; on a bad name prints
 * "<who>: --log-level '<name>' must be error, warn, info or debug" to
 * stderr and returns -EINVAL. */
int berth_log_setup(const char *program, const char *level_name, const char *who);
/* Errors are negative errno codes (as libuv's are on Unix): this names one
 * for a message, "ENOBUFS (No buffer space available)"; rc >= 0 is "OK".
 * The text lives in a static buffer per thread. */
const char *berth_err_name(int rc);
/* A trailing newline in the message is dropped (one line per call). */
void berth_log(berth_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

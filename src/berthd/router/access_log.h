/* access_log: the router's access log (`--access-log FILE|-`), one line per
 * answered invocation (docs/logs.md has the format):
 *
 *   2026-12-02T00:04:37.123Z endpoint=ep ic=talker copy=7 status=200
 *   model_status=200 model_ms=1.234 overhead_ms=0.120 bytes_in=12
 *   bytes_out=34 request_id=...
 *
 * DESIGN: each line is one write(2) on an O_APPEND descriptor, so the
 * router's threads never interleave within a line and need no lock; a line
 * is small and a local file's write lands in the page cache, so it runs on
 * the router's loop. A write that fails or would block (stdout read too
 * slowly) drops the line and counts it: the access log never stalls
 * requests. */
#ifndef BERTHD_ACCESS_LOG_H
#define BERTHD_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

/* Opens path for appending ("-": stdout), for the whole process; call once
 * before the router's threads start. 0, or a negative errno. */
int access_log_open(const char *path);
/* Whether a log is open (callers skip gathering the figures otherwise). */
int access_log_enabled(void);
/* One answered request. copy_id < 0: no copy took it; bytes_out: the
 * model's answer body, < 0 when not known ("-"). */
void access_log_request(const char *endpoint, const char *ic, int64_t copy_id, int status,
                        int model_status, double model_ms, double overhead_ms, size_t bytes_in,
                        long long bytes_out, const char *request_id);
/* Lines dropped because the write failed. */
uint64_t access_log_dropped(void);

#endif

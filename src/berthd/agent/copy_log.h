/* copy_log: a copy's output, line-prefixed with "[copy N] ", appended to its
 * IC's log file.
 *
 * DESIGN: the file stays open for the copy's life and every write runs on
 * libuv's thread pool (uv_fs_write), one at a time, so a slow disk never
 * stalls the loop. Output waiting for the disk is bounded by
 * COPY_LOG_MAX_PENDING; past it output is dropped and a line saying how
 * much is written once the disk catches up. The log owns itself: after
 * copy_log_close it flushes what is queued, closes the file and frees
 * itself, so its owner may go away at once. */
#ifndef BERTHD_COPY_LOG_H
#define BERTHD_COPY_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define COPY_LOG_MAX_PENDING (1u << 20)

typedef struct copy_log copy_log;

/* Opens path for appending (created 0644). NULL when it cannot be opened
 * (logged once; the copy then runs without a log file). */
copy_log *copy_log_open(uv_loop_t *loop, const char *path, int64_t copy_id);
void copy_log_write(copy_log *l, const char *data, size_t len);
/* Bytes dropped so far because the disk fell behind. */
uint64_t copy_log_dropped(const copy_log *l);
void copy_log_close(copy_log *l);

#endif

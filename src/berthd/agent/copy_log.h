/* copy_log: a copy's output as one log stream of its IC (log_store.h):
 * every line prefixed with its time, instance and copy, written to
 * size-rotated segments under the IC's log directory, the IC's segments
 * kept under a bound (--log-retention-mb; docs/logs.md).
 *
 * DESIGN: writes run on libuv's thread pool (uv_fs_write), one at a time,
 * so a slow disk never stalls the loop. Output waiting for the disk is
 * bounded by COPY_LOG_MAX_PENDING; past it output is dropped and a line
 * saying how much is written once the disk catches up. A write never
 * crosses a segment's size, and segments roll at a line end. Rolling (close,
 * open, the retention sweep over the IC's directory) is a few quick
 * syscalls on the loop: it happens once a segment, in the shim, whose loop
 * has nothing else waiting. The log owns itself: after copy_log_close it
 * flushes what is queued, closes the file and frees itself, so its owner
 * may go away at once. */
#ifndef BERTHD_COPY_LOG_H
#define BERTHD_COPY_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define COPY_LOG_MAX_PENDING (1u << 20)

typedef struct copy_log copy_log;

/* Opens copy copy_id's stream on instance (its name, "i-3") in dir (the
 * IC's log directory, made if missing), continuing its newest segment.
 * bound: the IC's retention in bytes. NULL when it cannot be opened
 * (logged once; the copy then runs without a log). */
copy_log *copy_log_open(uv_loop_t *loop, const char *dir, const char *instance,
                        int64_t copy_id, uint64_t bound);
void copy_log_write(copy_log *l, const char *data, size_t len);
/* Bytes dropped so far because the disk fell behind. */
uint64_t copy_log_dropped(const copy_log *l);
void copy_log_close(copy_log *l);

#endif

/* log_store: how an inference component's copy logs lie on disk, shared by
 * the writer (the copy shim, through copy_log) and the readers (the
 * CloudWatch Logs API). docs/logs.md explains the choices.
 *
 * DESIGN: an IC's logs are one directory, DIR/logs/<IC>/. Each copy is a
 * stream ("i-3/copy-7") stored as segments named
 * "<instance>_copy-<N>.<start>.log", where <start> is the stream's byte
 * offset at the segment's first byte (16 digits). Segments of one stream are
 * contiguous, so a byte offset names a position in the stream for good:
 * rotation never renames, it starts a new segment, and retention deletes
 * whole segments, oldest written first, across the IC's streams. Every
 * segment begins at a line start. A line is
 * "2026-12-01T23:51:36.123Z [i-3 copy 7] text\n". */
#ifndef BERTH_LOG_STORE_H
#define BERTH_LOG_STORE_H

#include <stddef.h>
#include <stdint.h>

#define BERTH_LOG_STREAM_MAX 96
/* A longer line is broken (the writer inserts a newline): every event fits
 * a read and CloudWatch's event size. */
#define BERTH_LOG_EVENT_MAX 8192
/* Segments listed in one directory at most; past it the rest are ignored
 * (retention keeps far fewer). */
#define BERTH_LOG_SEGMENTS_MAX 65536

typedef struct berth_log_segment {
  char stream[BERTH_LOG_STREAM_MAX]; /* "i-3/copy-7" */
  uint64_t start;                    /* stream offset of its first byte */
  uint64_t size;
  int64_t mtime_ms;                  /* its last write */
} berth_log_segment;

/* "i-3/copy-7" for instance "i-3" and copy 7. */
void berth_log_stream_name(const char *instance, int64_t copy_id, char *out, size_t outsz);
/* The segment file's path for stream at offset start, under dir. 0, or
 * -ENAMETOOLONG. */
int berth_log_segment_path(const char *dir, const char *stream, uint64_t start, char *out,
                           size_t outsz);
/* Whether name is a stream name this store writes (instance/copy-N). */
int berth_log_stream_valid(const char *name);

/* Lists dir's segments sorted by stream, then start: *out (malloc'd, the
 * caller frees) and *n. 0, or a negative errno (-ENOENT: no directory). */
int berth_log_list(const char *dir, berth_log_segment **out, size_t *n);

/* Retention: deletes whole segments of dir, least recently written first,
 * until their total plus room for every stream still being written (one
 * segment_max each for the streams written in the last minute, at least
 * one), plus one more segment, is at most bound bytes: each writer sweeps
 * when it rolls, so between sweeps the others grow by at most a segment
 * each, and a reader summing file sizes while a writer rolls stays under
 * the bound too. Never deletes keep
 * (the writer's own, may be NULL); a writer whose segment another deleted
 * sees it unlinked and rolls. Returns the bytes left. */
uint64_t berth_log_sweep(const char *dir, uint64_t bound, uint64_t segment_max, int64_t now_ms,
                         const char *keep);
/* The segment size a writer rolls at for an IC bound: a sixteenth of it,
 * at least 16 KiB, so retention drops a small part at a time. */
uint64_t berth_log_segment_max(uint64_t bound);

/* Writes a line's prefix for now_ms (epoch ms) into out; its length. out
 * must hold 64 + strlen(instance) bytes. */
size_t berth_log_prefix(char *out, size_t outsz, int64_t now_ms, const char *instance,
                        int64_t copy_id);
/* Parses a line (without its newline): its timestamp (epoch ms) and where
 * its text begins. A line without a prefix (not written by the store) has
 * timestamp fallback_ms and text at 0. */
void berth_log_parse_line(const char *line, size_t len, int64_t fallback_ms, int64_t *ts_ms,
                          size_t *text_at);

#endif

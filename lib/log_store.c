/* log_store: copy log segments on disk (see log_store.h). */
#include "berth/log_store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void berth_log_stream_name(const char *instance, int64_t copy_id, char *out, size_t outsz) {
  snprintf(out, outsz, "%.40s/copy-%lld", instance, (long long)copy_id);
}

/* Files replace the stream's '/' with '_' (instances are "i-N"). */
int berth_log_segment_path(const char *dir, const char *stream, uint64_t start, char *out,
                           size_t outsz) {
  char base[BERTH_LOG_STREAM_MAX];
  snprintf(base, sizeof base, "%s", stream);
  char *slash = strchr(base, '/');
  if (slash) *slash = '_';
  int n = snprintf(out, outsz, "%s/%s.%016llu.log", dir, base, (unsigned long long)start);
  return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

int berth_log_stream_valid(const char *name) {
  const char *slash = strchr(name, '/');
  if (!slash || slash == name || (size_t)(slash - name) > 40) return 0;
  for (const char *p = name; p < slash; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '-'))
      return 0;
  if (strncmp(slash + 1, "copy-", 5) != 0 || !slash[6]) return 0;
  for (const char *p = slash + 6; *p; p++)
    if (*p < '0' || *p > '9' || p - (slash + 6) > 18) return 0;
  return 1;
}

/* "i-3_copy-7.0000000000000123.log" -> stream "i-3/copy-7", start 123. */
static int parse_name(const char *name, berth_log_segment *s) {
  size_t len = strlen(name);
  if (len < 4 + 17 + 1 || strcmp(name + len - 4, ".log") != 0) return -1;
  const char *digits = name + len - 4 - 16;
  if (digits[-1] != '.') return -1;
  uint64_t start = 0;
  for (int i = 0; i < 16; i++) {
    if (digits[i] < '0' || digits[i] > '9') return -1;
    start = start * 10 + (uint64_t)(digits[i] - '0');
  }
  size_t base = (size_t)(digits - 1 - name);
  if (base == 0 || base >= sizeof s->stream) return -1;
  memcpy(s->stream, name, base);
  s->stream[base] = '\0';
  char *us = strchr(s->stream, '_');
  if (!us) return -1;
  *us = '/';
  if (!berth_log_stream_valid(s->stream)) return -1;
  s->start = start;
  return 0;
}

static int by_stream_start(const void *a, const void *b) {
  const berth_log_segment *x = a, *y = b;
  int r = strcmp(x->stream, y->stream);
  if (r) return r;
  return x->start < y->start ? -1 : x->start > y->start;
}

int berth_log_list(const char *dir, berth_log_segment **out, size_t *n) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return -errno;
  size_t cap = 16, len = 0;
  berth_log_segment *v = malloc(cap * sizeof *v);
  if (!v) {
    closedir(d);
    return -ENOMEM;
  }
  struct dirent *e;
  while ((e = readdir(d)) && len < BERTH_LOG_SEGMENTS_MAX) {
    berth_log_segment s;
    if (parse_name(e->d_name, &s)) continue;
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    s.size = (uint64_t)st.st_size;
    s.mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (len == cap) {
      berth_log_segment *w = realloc(v, 2 * cap * sizeof *v);
      if (!w) break;
      v = w;
      cap *= 2;
    }
    v[len++] = s;
  }
  closedir(d);
  qsort(v, len, sizeof *v, by_stream_start);
  *out = v;
  *n = len;
  return 0;
}

static int by_mtime(const void *a, const void *b) {
  const berth_log_segment *x = a, *y = b;
  if (x->mtime_ms != y->mtime_ms) return x->mtime_ms < y->mtime_ms ? -1 : 1;
  return by_stream_start(a, b);
}

uint64_t berth_log_sweep(const char *dir, uint64_t bound, uint64_t segment_max, int64_t now_ms,
                         const char *keep) {
  berth_log_segment *v;
  size_t n;
  if (berth_log_list(dir, &v, &n)) return 0;
  uint64_t total = 0, live = 0;
  for (size_t i = 0; i < n; i++) {
    total += v[i].size;
    /* Sorted by stream: count each stream once, at its newest segment. */
    int last_of_stream = i + 1 == n || strcmp(v[i].stream, v[i + 1].stream) != 0;
    if (last_of_stream && v[i].mtime_ms > now_ms - 60000) live++;
  }
  /* One more segment of slack: an outside reader summing the files while a
   * writer rolls may count a deleted segment and its successor together. */
  uint64_t reserve = ((live ? live : 1) + 1) * segment_max;
  if (reserve > bound) reserve = bound;
  qsort(v, n, sizeof *v, by_mtime);
  for (size_t i = 0; i < n && total + reserve > bound; i++) {
    char path[4200];
    if (berth_log_segment_path(dir, v[i].stream, v[i].start, path, sizeof path)) continue;
    if (keep && strcmp(path, keep) == 0) continue;
    if (unlink(path) == 0 || errno == ENOENT) total -= v[i].size;
  }
  free(v);
  return total;
}

uint64_t berth_log_segment_max(uint64_t bound) {
  uint64_t s = bound / 16;
  return s < 16384 ? 16384 : s;
}

size_t berth_log_prefix(char *out, size_t outsz, int64_t now_ms, const char *instance,
                        int64_t copy_id) {
  time_t secs = (time_t)(now_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  int n = snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ [%.40s copy %lld] ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, (int)(now_ms % 1000), instance, (long long)copy_id);
  if (n < 0) return 0;
  return (size_t)n < outsz ? (size_t)n : outsz - 1;
}

static int digits(const char *p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (p[i] - '0');
  }
  *out = v;
  return 0;
}

void berth_log_parse_line(const char *line, size_t len, int64_t fallback_ms, int64_t *ts_ms,
                          size_t *text_at) {
  *ts_ms = fallback_ms;
  *text_at = 0;
  /* 2026-12-01T23:51:36.123Z [ */
  if (len < 27 || line[4] != '-' || line[7] != '-' || line[10] != 'T' || line[13] != ':' ||
      line[16] != ':' || line[19] != '.' || line[23] != 'Z' || line[24] != ' ' ||
      line[25] != '[')
    return;
  int y, mo, d, h, mi, s, ms;
  if (digits(line, 4, &y) || digits(line + 5, 2, &mo) || digits(line + 8, 2, &d) ||
      digits(line + 11, 2, &h) || digits(line + 14, 2, &mi) || digits(line + 17, 2, &s) ||
      digits(line + 20, 3, &ms))
    return;
  const char *close = memchr(line + 26, ']', len - 26);
  if (!close) return;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                  .tm_min = mi, .tm_sec = s};
  *ts_ms = (int64_t)timegm(&tm) * 1000 + ms;
  size_t at = (size_t)(close - line) + 1;
  if (at < len && line[at] == ' ') at++;
  *text_at = at;
}

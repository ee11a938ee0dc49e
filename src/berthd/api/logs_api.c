/* logs_api: CloudWatch Logs reads over the copy log segments (see
 * logs_api.h).
 *
 * DESIGN: a stream's position is its byte offset (log_store.h), so tokens
 * are plain offsets that survive rotation: "f/<offset>" reads on from
 * there, "b/<offset>" reads back from there (GetLogEvents' forward and
 * backward tokens; when nothing new is there the same token comes back,
 * which is how the SDK and `aws logs` know to stop). Retention may delete
 * what a token points into: reading then starts at the oldest byte left.
 * FilterLogEvents searches the selected streams in name order; its token
 * is "<stream index>/<offset>" where the last call stopped (at its limit or
 * after LOGS_SCAN_MAX bytes), and each answer is sorted by time. */
#include "logs_api.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/log_store.h"

static int bad(api_error *e, const char *fmt, const char *a, const char *b) {
  return api_fail(e, 400, "InvalidParameterException", fmt, a, b);
}

/* A valid_* refusal, as Logs names it. */
static int relabel(api_error *e) {
  snprintf(e->type, sizeof e->type, "InvalidParameterException");
  return -1;
}

static int get_bool(json_t *req, const char *key, int dflt, int *out, api_error *e) {
  json_t *v = json_object_get(req, key);
  *out = dflt;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v))
    return bad(e, "%s%s must be true or false", key, "");
  *out = json_is_true(v);
  return 0;
}

/* startTime/endTime: epoch milliseconds. */
static int get_ms(json_t *req, const char *key, int64_t dflt, int64_t *out, api_error *e) {
  long long v;
  if (valid_int(req, key, key, 0, 0, 1LL << 53, dflt, &v, e)) return relabel(e);
  *out = v;
  return 0;
}

/* The IC a group name (or identifier: the name or its ARN) names, checked
 * as an IC name so it is safe as a path; -1 with e filled. */
static int group_ic(json_t *req, char *ic_name, size_t icsz, api_error *e) {
  const char *name = json_string_value(json_object_get(req, "logGroupName"));
  const char *id = json_string_value(json_object_get(req, "logGroupIdentifier"));
  if (!name && id) {
    const char *lg = strstr(id, ":log-group:");
    name = lg ? lg + 11 : id;
  }
  if (!name)
    return bad(e, "1 validation error detected: Value null at 'logGroupName' failed to satisfy "
               "constraint: Member must not be null%s%s", "", "");
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s", name);
  size_t len = strlen(tmp);
  if (len >= 2 && strcmp(tmp + len - 2, ":*") == 0) tmp[len - 2] = '\0';
  size_t plen = strlen(LOGS_GROUP_PREFIX);
  if (strncmp(tmp, LOGS_GROUP_PREFIX, plen) != 0 || !valid_is_name(tmp + plen))
    return api_fail(e, 400, "ResourceNotFoundException",
                    "The specified log group does not exist: '%.300s' (Berth's log groups are "
                    LOGS_GROUP_PREFIX "<inference component name>)", tmp);
  snprintf(ic_name, icsz, "%.63s", tmp + plen); /* valid_is_name: at most 63 */
  return 0;
}

static void group_dir(ctl *c, const char *ic_name, char *out, size_t outsz) {
  snprintf(out, outsz, "%.1000s/logs/%s", c->shared_dir, ic_name);
}

static int group_exists(ctl *c, const char *ic_name) {
  char dir[1200];
  struct stat st;
  group_dir(c, ic_name, dir, sizeof dir);
  return ctl_find_ic(c, ic_name) != NULL || (stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
}

static json_t *group_json(ctl *c, const char *ic_name) {
  char dir[1200], name[200], arn[400];
  group_dir(c, ic_name, dir, sizeof dir);
  snprintf(name, sizeof name, LOGS_GROUP_PREFIX "%s", ic_name);
  snprintf(arn, sizeof arn, "arn:aws:logs:%s:%s:log-group:%s", c->region, c->account, name);
  ic *x = ctl_find_ic(c, ic_name);
  struct stat st;
  double created = x ? x->created * 1000 : stat(dir, &st) == 0 ? (double)st.st_mtime * 1000 : 0;
  berth_log_segment *v;
  size_t n;
  uint64_t bytes = 0;
  if (berth_log_list(dir, &v, &n) == 0) {
    for (size_t i = 0; i < n; i++) bytes += v[i].size;
    free(v);
  }
  char star[410];
  snprintf(star, sizeof star, "%s:*", arn);
  return json_pack("{s:s,s:I,s:i,s:s,s:s,s:I,s:s}", "logGroupName", name, "creationTime",
                   (json_int_t)created, "metricFilterCount", 0, "arn", star, "logGroupArn", arn,
                   "storedBytes", (json_int_t)bytes, "logGroupClass", "STANDARD");
}

static int by_string(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Groups: ICs this controller has, and log directories left by ICs since
 * deleted (their logs stay until retention or an operator removes them). */
static int describe_log_groups(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *prefix, *token;
  long long limit;
  if (valid_string(req, "logGroupNamePrefix", "logGroupNamePrefix", 0, 512, &prefix, e) ||
      valid_int(req, "limit", "limit", 0, 1, 50, 50, &limit, e) ||
      valid_string(req, "nextToken", "nextToken", 0, 512, &token, e))
    return relabel(e);
  size_t cap = 64, n = 0;
  char **names = berth_xcalloc(cap, sizeof *names);
  for (ic *x = c->ics; x; x = x->next) {
    if (n == cap) names = berth_xrealloc(names, (cap *= 2) * sizeof *names);
    names[n++] = berth_xstrdup(x->name);
  }
  char logs[1100];
  snprintf(logs, sizeof logs, "%.1000s/logs", c->shared_dir);
  DIR *d = opendir(logs);
  struct dirent *de;
  while (d && (de = readdir(d)) && n < 100000) {
    if (!valid_is_name(de->d_name) || ctl_find_ic(c, de->d_name)) continue;
    char p[1400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", logs, de->d_name);
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (n == cap) names = berth_xrealloc(names, (cap *= 2) * sizeof *names);
    names[n++] = berth_xstrdup(de->d_name);
  }
  if (d) closedir(d);
  qsort(names, n, sizeof *names, by_string);
  json_t *groups = json_array();
  const char *next = NULL;
  size_t plen = strlen(LOGS_GROUP_PREFIX);
  for (size_t i = 0; i < n; i++) {
    char full[200];
    snprintf(full, sizeof full, LOGS_GROUP_PREFIX "%s", names[i]);
    if (prefix && strncmp(full, prefix, strlen(prefix)) != 0) continue;
    if (token && strcmp(names[i], token) < 0) continue; /* the token: the next name */
    if (json_array_size(groups) == (size_t)limit) {
      next = names[i];
      break;
    }
    json_array_append_new(groups, group_json(c, full + plen));
  }
  *resp = json_pack("{s:o}", "logGroups", groups);
  if (next) json_object_set_new(*resp, "nextToken", json_string(next));
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return 0;
}

/* One stream: its segments (a run of the directory's sorted list). */
typedef struct stream_view {
  const berth_log_segment *seg;
  size_t n;
} stream_view;

static uint64_t stream_begin(const stream_view *s) { return s->seg[0].start; }
static uint64_t stream_end(const stream_view *s) {
  return s->seg[s->n - 1].start + s->seg[s->n - 1].size;
}

/* Splits the sorted segments into streams; *out malloc'd. */
static size_t streams_of(const berth_log_segment *v, size_t n, stream_view **out) {
  stream_view *s = berth_xcalloc(n ? n : 1, sizeof *s);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k && strcmp(s[k - 1].seg[0].stream, v[i].stream) == 0) {
      s[k - 1].n++;
    } else {
      s[k].seg = &v[i];
      s[k].n = 1;
      k++;
    }
  }
  *out = s;
  return k;
}

/* Reads [from, to) of a stream (clamped to what is left) into out; the
 * offset it really started at. */
static uint64_t read_range(const char *dir, const stream_view *s, uint64_t from, uint64_t to,
                           berth_buf *out) {
  if (from < stream_begin(s)) from = stream_begin(s);
  if (to > stream_end(s)) to = stream_end(s);
  uint64_t at = from;
  for (size_t i = 0; i < s->n && at < to; i++) {
    const berth_log_segment *g = &s->seg[i];
    if (g->start + g->size <= at) continue;
    if (g->start > at) break; /* a gap (retention racing us): stop at it */
    char path[1400];
    if (berth_log_segment_path(dir, g->stream, g->start, path, sizeof path)) break;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;
    uint64_t want = (to < g->start + g->size ? to : g->start + g->size) - at;
    size_t base = out->len;
    if (berth_buf_append(out, NULL, 0) != 0) {
      close(fd);
      break;
    }
    char chunk[65536];
    uint64_t got = 0;
    while (got < want) {
      size_t ask = want - got < sizeof chunk ? (size_t)(want - got) : sizeof chunk;
      ssize_t r = pread(fd, chunk, ask, (off_t)(at - g->start + got));
      if (r <= 0) break;
      berth_buf_append(out, chunk, (size_t)r);
      got += (uint64_t)r;
    }
    close(fd);
    (void)base;
    at += got;
    if (got < want) break;
  }
  return from;
}

/* A segment start (where lines begin) at or before offset, in s. */
static int is_segment_start(const stream_view *s, uint64_t off) {
  for (size_t i = 0; i < s->n; i++)
    if (s->seg[i].start == off) return 1;
  return 0;
}

/* The first segment that may hold events at or after start_ms (a
 * segment's mtime is its last event's time or later). */
static uint64_t seek_time(const stream_view *s, int64_t start_ms) {
  for (size_t i = 0; i < s->n; i++)
    if (s->seg[i].mtime_ms >= start_ms) return s->seg[i].start;
  return stream_end(s);
}

static const stream_view *find_stream(stream_view *s, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(s[i].seg[0].stream, name) == 0) return &s[i];
  return NULL;
}

/* Opens a group's streams; -1 with e filled when the group is unknown. */
static int open_group(ctl *c, json_t *req, char *ic_name, char *dir, size_t dirsz,
                      berth_log_segment **v, size_t *n, api_error *e) {
  if (group_ic(req, ic_name, NAME_MAX_LEN + 1, e)) return -1;
  if (!group_exists(c, ic_name))
    return api_fail(e, 400, "ResourceNotFoundException", "The specified log group does not "
                    "exist: " LOGS_GROUP_PREFIX "%s", ic_name);
  group_dir(c, ic_name, dir, dirsz);
  if (berth_log_list(dir, v, n)) {
    *v = NULL;
    *n = 0;
  }
  return 0;
}

static int64_t first_event_ms(const char *dir, const stream_view *s) {
  berth_buf b;
  berth_buf_init(&b, 0);
  read_range(dir, s, stream_begin(s), stream_begin(s) + 64, &b);
  int64_t ts;
  size_t at;
  berth_log_parse_line(b.data ? b.data : "", b.len, s->seg[0].mtime_ms, &ts, &at);
  berth_buf_free(&b);
  return ts;
}

static int stream_desc_by_time;
static int by_last_event(const void *a, const void *b) {
  const stream_view *x = a, *y = b;
  int64_t tx = x->seg[x->n - 1].mtime_ms, ty = y->seg[y->n - 1].mtime_ms;
  int r = tx < ty ? -1 : tx > ty;
  if (!r) r = strcmp(x->seg[0].stream, y->seg[0].stream);
  return stream_desc_by_time ? -r : r;
}

static int describe_log_streams(ctl *c, json_t *req, json_t **resp, api_error *e) {
  static const char *const orders[] = {"LogStreamName", "LastEventTime", NULL};
  const char *order, *prefix, *token;
  long long limit;
  int descending;
  if (valid_enum(req, "orderBy", "orderBy", 0, orders, "LogStreamName", &order, e) ||
      valid_string(req, "logStreamNamePrefix", "logStreamNamePrefix", 0, 512, &prefix, e) ||
      valid_int(req, "limit", "limit", 0, 1, 50, 50, &limit, e) ||
      valid_string(req, "nextToken", "nextToken", 0, 64, &token, e))
    return relabel(e);
  if (get_bool(req, "descending", 0, &descending, e)) return -1;
  if (prefix && strcmp(order, "LastEventTime") == 0)
    return bad(e, "Cannot order by LastEventTime with a logStreamNamePrefix.%s%s", "", "");
  char dir[1200], ic_name[NAME_MAX_LEN + 1];
  berth_log_segment *v;
  size_t n;
  if (open_group(c, req, ic_name, dir, sizeof dir, &v, &n, e)) return -1;
  stream_view *s;
  size_t ns = streams_of(v, n, &s);
  stream_desc_by_time = descending;
  if (strcmp(order, "LastEventTime") == 0) {
    qsort(s, ns, sizeof *s, by_last_event);
  } else if (descending) {
    for (size_t i = 0; i < ns / 2; i++) {
      stream_view t = s[i];
      s[i] = s[ns - 1 - i];
      s[ns - 1 - i] = t;
    }
  }
  size_t start = 0;
  if (token) {
    char *end;
    unsigned long long k = strtoull(token, &end, 10);
    if (*end || end == token || k > ns) {
      free(s);
      free(v);
      return bad(e, "The specified nextToken is invalid: '%.64s'%s", token, "");
    }
    start = (size_t)k;
  }
  json_t *out = json_array();
  size_t i = start, taken = 0;
  for (; i < ns && taken < (size_t)limit; i++) {
    const stream_view *x = &s[i];
    if (prefix && strncmp(x->seg[0].stream, prefix, strlen(prefix)) != 0) continue;
    uint64_t bytes = 0;
    for (size_t k = 0; k < x->n; k++) bytes += x->seg[k].size;
    int64_t first = first_event_ms(dir, x), last = x->seg[x->n - 1].mtime_ms;
    char arn[600];
    snprintf(arn, sizeof arn, "arn:aws:logs:%s:%s:log-group:" LOGS_GROUP_PREFIX
             "%s:log-stream:%s", c->region, c->account, ic_name, x->seg[0].stream);
    json_array_append_new(out, json_pack("{s:s,s:I,s:I,s:I,s:I,s:s,s:I}", "logStreamName",
                                         x->seg[0].stream, "creationTime", (json_int_t)first,
                                         "firstEventTimestamp", (json_int_t)first,
                                         "lastEventTimestamp", (json_int_t)last,
                                         "lastIngestionTime", (json_int_t)last, "arn", arn,
                                         "storedBytes", (json_int_t)bytes));
    taken++;
  }
  *resp = json_pack("{s:o}", "logStreams", out);
  if (i < ns) {
    char next[32];
    snprintf(next, sizeof next, "%zu", i);
    json_object_set_new(*resp, "nextToken", json_string(next));
  }
  free(s);
  free(v);
  return 0;
}

/* One line of a read buffer: [off, off + len) of the stream, newline not
 * counted. */
typedef struct line_ref {
  uint64_t off;
  size_t at, len;
} line_ref;

/* The complete lines of buf (read from stream offset base); *out
 * malloc'd. skip_partial: the first bytes may be a line's tail. */
static size_t lines_of(const berth_buf *buf, uint64_t base, int skip_partial, line_ref **out) {
  size_t cap = 256, n = 0, i = 0;
  line_ref *v = berth_xcalloc(cap, sizeof *v);
  if (skip_partial) {
    const char *nl = buf->len ? memchr(buf->data, '\n', buf->len) : NULL;
    i = nl ? (size_t)(nl - buf->data) + 1 : buf->len;
  }
  while (i < buf->len) {
    const char *nl = memchr(buf->data + i, '\n', buf->len - i);
    if (!nl) break;
    size_t len = (size_t)(nl - (buf->data + i));
    if (n == cap) v = berth_xrealloc(v, (cap *= 2) * sizeof *v);
    v[n++] = (line_ref){base + i, i, len};
    i += len + 1;
  }
  *out = v;
  return n;
}

static json_t *event_json(const berth_buf *buf, const line_ref *l, int64_t mtime,
                          const char *stream) {
  int64_t ts;
  size_t at;
  berth_log_parse_line(buf->data + l->at, l->len, mtime, &ts, &at);
  json_t *ev = json_pack("{s:I,s:s%,s:I}", "timestamp", (json_int_t)ts, "message",
                         buf->data + l->at + at, l->len - at, "ingestionTime", (json_int_t)ts);
  if (!ev) /* not UTF-8: shown with replacement marks rather than lost */
    ev = json_pack("{s:I,s:s,s:I}", "timestamp", (json_int_t)ts, "message",
                   "[berthd: this line is not valid UTF-8]", "ingestionTime", (json_int_t)ts);
  if (stream) {
    char id[160];
    snprintf(id, sizeof id, "%s:%llu", stream, (unsigned long long)l->off);
    json_object_set_new(ev, "logStreamName", json_string(stream));
    json_object_set_new(ev, "eventId", json_string(id));
  }
  return ev;
}

static int64_t line_time(const berth_buf *buf, const line_ref *l, int64_t dflt) {
  int64_t ts;
  size_t at;
  berth_log_parse_line(buf->data + l->at, l->len, dflt, &ts, &at);
  return ts;
}

static int parse_token(const char *t, char *dir, uint64_t *off) {
  if (!t || (t[0] != 'f' && t[0] != 'b') || t[1] != '/') return -1;
  char *end;
  unsigned long long v = strtoull(t + 2, &end, 10);
  if (*end || end == t + 2) return -1;
  *dir = t[0];
  *off = v;
  return 0;
}

static int get_log_events(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *stream_name, *token;
  long long limit;
  int64_t start_ms, end_ms;
  int from_head;
  if (valid_string(req, "logStreamName", "logStreamName", 1, 512, &stream_name, e) ||
      valid_int(req, "limit", "limit", 0, 1, 10000, 10000, &limit, e) ||
      valid_string(req, "nextToken", "nextToken", 0, 64, &token, e))
    return relabel(e);
  if (get_ms(req, "startTime", 0, &start_ms, e) || get_ms(req, "endTime", 1LL << 53, &end_ms, e) ||
      get_bool(req, "startFromHead", 0, &from_head, e))
    return -1;
  char tdir = 0;
  uint64_t toff = 0;
  if (token && parse_token(token, &tdir, &toff))
    return bad(e, "The specified nextToken is invalid: '%.64s' (GetLogEvents returns f/N and "
               "b/N)%s", token, "");
  char dir[1200], ic_name[NAME_MAX_LEN + 1];
  berth_log_segment *v;
  size_t n;
  if (open_group(c, req, ic_name, dir, sizeof dir, &v, &n, e)) return -1;
  stream_view *s;
  size_t ns = streams_of(v, n, &s);
  const stream_view *st = find_stream(s, ns, stream_name);
  if (!st) {
    free(s);
    free(v);
    return api_fail(e, 400, "ResourceNotFoundException", "The specified log stream does not "
                    "exist: '%.200s' (streams are <instance>/copy-<N>: DescribeLogStreams "
                    "lists them)", stream_name);
  }
  int forward = token ? tdir == 'f' : from_head;
  int64_t mtime = st->seg[st->n - 1].mtime_ms;
  berth_buf buf;
  berth_buf_init(&buf, 0);
  json_t *events = json_array();
  uint64_t fwd, back;
  if (forward) {
    uint64_t pos = token ? toff : start_ms > 0 ? seek_time(st, start_ms) : stream_begin(st);
    if (pos > stream_end(st)) pos = stream_end(st);
    uint64_t from = read_range(dir, st, pos, pos + LOGS_READ_MAX, &buf);
    line_ref *l;
    size_t nl = lines_of(&buf, from, 0, &l);
    fwd = from;
    back = from;
    int first = 1;
    for (size_t i = 0; i < nl && json_array_size(events) < (size_t)limit; i++) {
      int64_t ts = line_time(&buf, &l[i], mtime);
      if (ts >= end_ms) break;
      fwd = l[i].off + l[i].len + 1;
      if (ts < start_ms) continue;
      if (first) back = l[i].off;
      first = 0;
      json_array_append_new(events, event_json(&buf, &l[i], mtime, NULL));
    }
    if (!token || fwd == from) fwd = fwd > pos ? fwd : pos;
    free(l);
  } else {
    uint64_t end = token ? toff : stream_end(st);
    if (end > stream_end(st)) end = stream_end(st);
    uint64_t want = end > LOGS_READ_MAX ? end - LOGS_READ_MAX : 0;
    uint64_t from = read_range(dir, st, want, end, &buf);
    line_ref *l;
    size_t nl = lines_of(&buf, from, !is_segment_start(st, from), &l);
    size_t keep_from = nl, kept = 0;
    for (size_t i = nl; i-- > 0 && kept < (size_t)limit;) {
      int64_t ts = line_time(&buf, &l[i], mtime);
      if (ts < start_ms || ts >= end_ms) continue;
      keep_from = i;
      kept++;
    }
    back = end;
    fwd = end;
    int first = 1;
    for (size_t i = keep_from; i < nl; i++) {
      int64_t ts = line_time(&buf, &l[i], mtime);
      if (ts < start_ms || ts >= end_ms) continue;
      if (first) back = l[i].off;
      first = 0;
      fwd = l[i].off + l[i].len + 1;
      json_array_append_new(events, event_json(&buf, &l[i], mtime, NULL));
    }
    /* Nothing earlier: the backward token comes back unchanged. */
    if (first && token) back = toff;
    free(l);
  }
  char ft[40], bt[40];
  snprintf(ft, sizeof ft, "f/%020llu", (unsigned long long)fwd);
  snprintf(bt, sizeof bt, "b/%020llu", (unsigned long long)back);
  *resp = json_pack("{s:o,s:s,s:s}", "events", events, "nextForwardToken", ft,
                    "nextBackwardToken", bt);
  berth_buf_free(&buf);
  free(s);
  free(v);
  return 0;
}

/* ---- filter patterns: plain terms ---- */

#define PATTERN_TERMS_MAX 32

typedef struct pattern {
  char text[1100];              /* the terms, each NUL-ended */
  const char *all[PATTERN_TERMS_MAX], *none[PATTERN_TERMS_MAX], *any[PATTERN_TERMS_MAX];
  int n_all, n_none, n_any;
} pattern;

/* Terms separated by spaces, "quoted phrases"; every term must appear,
 * -term must not, and of ?terms at least one (CloudWatch's term syntax). */
static int pattern_parse(const char *src, pattern *p, api_error *e) {
  memset(p, 0, sizeof *p);
  if (!src) return 0;
  const char *s = src;
  while (*s == ' ') s++;
  if (*s == '{' || *s == '[')
    return bad(e, "filterPattern '%.200s' is a JSON or space-delimited pattern; Berth matches "
               "plain terms and \"quoted phrases\" only (every term must appear; ?term: any "
               "of; -term: none of)%s", src, "");
  char *w = p->text;
  char *wend = p->text + sizeof p->text - 1;
  while (*s) {
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) break;
    char kind = 0;
    if ((*s == '-' || *s == '?') && s[1] && s[1] != ' ') kind = *s++;
    const char *term = w;
    if (*s == '"') {
      s++;
      while (*s && *s != '"' && w < wend) {
        if (*s == '\\' && s[1]) s++;
        *w++ = *s++;
      }
      if (*s != '"')
        return bad(e, "filterPattern '%.200s' has a quoted phrase without its closing "
                   "quote%s", src, "");
      s++;
    } else {
      while (*s && *s != ' ' && *s != '\t' && w < wend) *w++ = *s++;
    }
    if (w >= wend) return bad(e, "filterPattern '%.200s' is too long%s", src, "");
    *w++ = '\0';
    if (!term[0]) continue;
    int *count = kind == '-' ? &p->n_none : kind == '?' ? &p->n_any : &p->n_all;
    const char **list = kind == '-' ? p->none : kind == '?' ? p->any : p->all;
    if (*count == PATTERN_TERMS_MAX)
      return bad(e, "filterPattern '%.200s' has more than 32 terms of a kind%s", src, "");
    list[(*count)++] = term;
  }
  return 0;
}

static int contains(const char *hay, size_t n, const char *needle) {
  return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static int pattern_match(const pattern *p, const char *text, size_t n) {
  for (int i = 0; i < p->n_all; i++)
    if (!contains(text, n, p->all[i])) return 0;
  for (int i = 0; i < p->n_none; i++)
    if (contains(text, n, p->none[i])) return 0;
  if (!p->n_any) return 1;
  for (int i = 0; i < p->n_any; i++)
    if (contains(text, n, p->any[i])) return 1;
  return 0;
}

typedef struct found {
  json_t *ev;
  json_int_t ts;
  size_t seq;                   /* found order: equal times keep it */
} found;

static int by_timestamp(const void *a, const void *b) {
  const found *x = a, *y = b;
  if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int filter_log_events(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *prefix, *token, *pat_src;
  json_t *names;
  long long limit;
  int64_t start_ms, end_ms;
  if (valid_string(req, "logStreamNamePrefix", "logStreamNamePrefix", 0, 512, &prefix, e) ||
      valid_array(req, "logStreamNames", "logStreamNames", 0, 1, 100, &names, e) ||
      valid_string(req, "filterPattern", "filterPattern", 0, 1024, &pat_src, e) ||
      valid_int(req, "limit", "limit", 0, 1, 10000, 10000, &limit, e) ||
      valid_string(req, "nextToken", "nextToken", 0, 64, &token, e))
    return relabel(e);
  if (get_ms(req, "startTime", 0, &start_ms, e) || get_ms(req, "endTime", 1LL << 53, &end_ms, e))
    return -1;
  if (prefix && names)
    return bad(e, "logStreamNames and logStreamNamePrefix cannot both be given%s%s", "", "");
  pattern pat;
  if (pattern_parse(pat_src, &pat, e)) return -1;
  size_t tk_stream = 0;
  uint64_t tk_off = 0;
  if (token) {
    unsigned long long a, b;
    char tail;
    if (sscanf(token, "%llu/%llu%c", &a, &b, &tail) != 2)
      return bad(e, "The specified nextToken is invalid: '%.64s'%s", token, "");
    tk_stream = (size_t)a;
    tk_off = b;
  }
  char dir[1200], ic_name[NAME_MAX_LEN + 1];
  berth_log_segment *v;
  size_t n;
  if (open_group(c, req, ic_name, dir, sizeof dir, &v, &n, e)) return -1;
  stream_view *s;
  size_t ns = streams_of(v, n, &s);
  json_t *events = json_array();
  json_t *searched = json_array();
  berth_buf buf;
  berth_buf_init(&buf, 0);
  uint64_t scanned = 0;
  int stopped = 0;
  size_t stop_stream = 0;
  uint64_t stop_off = 0;
  for (size_t i = tk_stream; i < ns && !stopped; i++) {
    const stream_view *st = &s[i];
    const char *name = st->seg[0].stream;
    if (prefix && strncmp(name, prefix, strlen(prefix)) != 0) continue;
    if (names) {
      int listed = 0;
      size_t k;
      json_t *it;
      json_array_foreach(names, k, it) listed |= json_is_string(it) &&
                                                strcmp(json_string_value(it), name) == 0;
      if (!listed) continue;
    }
    int64_t mtime = st->seg[st->n - 1].mtime_ms;
    uint64_t pos = token && i == tk_stream ? tk_off
                 : start_ms > 0 ? seek_time(st, start_ms) : stream_begin(st);
    int done = 0;
    while (!done && !stopped) {
      if (pos >= stream_end(st)) break;
      if (scanned >= LOGS_SCAN_MAX) {
        stopped = 1;
        stop_stream = i;
        stop_off = pos;
        break;
      }
      berth_buf_reset(&buf);
      uint64_t from = read_range(dir, st, pos, pos + LOGS_READ_MAX, &buf);
      scanned += buf.len;
      line_ref *l;
      size_t nl = lines_of(&buf, from, 0, &l);
      if (!nl) {
        free(l);
        break;
      }
      for (size_t k = 0; k < nl; k++) {
        int64_t ts;
        size_t at;
        berth_log_parse_line(buf.data + l[k].at, l[k].len, mtime, &ts, &at);
        pos = l[k].off + l[k].len + 1;
        if (ts >= end_ms) {
          done = 1;
          break;
        }
        if (ts < start_ms || !pattern_match(&pat, buf.data + l[k].at + at, l[k].len - at))
          continue;
        json_array_append_new(events, event_json(&buf, &l[k], mtime, name));
        if (json_array_size(events) == (size_t)limit) {
          stopped = 1;
          stop_stream = i;
          stop_off = pos;
          break;
        }
      }
      free(l);
    }
    json_array_append_new(searched, json_pack("{s:s,s:b}", "logStreamName", name,
                                              "searchedCompletely", !stopped));
  }
  size_t ne = json_array_size(events);
  found *arr = berth_xcalloc(ne ? ne : 1, sizeof *arr);
  for (size_t i = 0; i < ne; i++) {
    arr[i].ev = json_array_get(events, i);
    arr[i].ts = json_integer_value(json_object_get(arr[i].ev, "timestamp"));
    arr[i].seq = i;
  }
  qsort(arr, ne, sizeof *arr, by_timestamp);
  json_t *sorted = json_array();
  for (size_t i = 0; i < ne; i++) json_array_append(sorted, arr[i].ev);
  free(arr);
  json_decref(events);
  *resp = json_pack("{s:o,s:o}", "events", sorted, "searchedLogStreams", searched);
  if (stopped) {
    char next[64];
    snprintf(next, sizeof next, "%zu/%llu", stop_stream, (unsigned long long)stop_off);
    json_object_set_new(*resp, "nextToken", json_string(next));
  }
  berth_buf_free(&buf);
  free(s);
  free(v);
  return 0;
}

static const api_operation operations[] = {
  {"DescribeLogGroups", describe_log_groups},
  {"DescribeLogStreams", describe_log_streams},
  {"GetLogEvents", get_log_events},
  {"FilterLogEvents", filter_log_events},
};

int logs_call(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e) {
  int rc = api_dispatch(operations, sizeof operations / sizeof operations[0], "Logs_20140328", c,
                        op, req, resp, e);
  if (rc && strcmp(e->type, "ValidationException") == 0) relabel(e);
  return rc;
}

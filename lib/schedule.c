/* schedule: see schedule.h. */
#include "berth/schedule.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MINUTE 60
#define DAY 86400

int64_t berth_days_from_civil(int64_t y, unsigned m, unsigned d) {
  /* H. Hinnant's days_from_civil. */
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void berth_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int fail(char *err, size_t errsz, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errsz, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errsz, fmt, ap);
  va_end(ap);
  return -1;
}

/* A number of at most `digits` digits at *p; advances *p. */
static int number(const char **p, int digits, long *out) {
  const char *s = *p;
  long v = 0;
  int n = 0;
  while (isdigit((unsigned char)*s) && n < digits) {
    v = v * 10 + (*s++ - '0');
    n++;
  }
  if (n == 0) return -1;
  *p = s;
  *out = v;
  return 0;
}

static int parse_at(const char *body, size_t len, berth_schedule *s, char *err, size_t errsz) {
  long y, mo, d, h, mi, se;
  const char *p = body;
  if (len != 19 || number(&p, 4, &y) || *p++ != '-' || number(&p, 2, &mo) || *p++ != '-' ||
      number(&p, 2, &d) || *p++ != 'T' || number(&p, 2, &h) || *p++ != ':' ||
      number(&p, 2, &mi) || *p++ != ':' || number(&p, 2, &se) || p != body + len)
    return fail(err, errsz, "at(...) takes a time as yyyy-mm-ddThh:mm:ss, e.g. "
                "at(2025-06-01T12:00:00)");
  int64_t days = berth_days_from_civil(y, (unsigned)mo, (unsigned)d);
  int64_t cy;
  unsigned cm, cd;
  berth_civil_from_days(days, &cy, &cm, &cd);
  if (mo < 1 || mo > 12 || cy != y || cm != (unsigned)mo || cd != (unsigned)d || h > 23 ||
      mi > 59 || se > 59)
    return fail(err, errsz, "at(%.*s) is not a valid date and time", (int)len, body);
  s->kind = BERTH_SCHEDULE_AT;
  s->at_local = days * DAY + h * 3600 + mi * 60 + se;
  return 0;
}

static int parse_rate(const char *body, size_t len, berth_schedule *s, char *err, size_t errsz) {
  char buf[64];
  if (len >= sizeof buf) return fail(err, errsz, "rate(...) is too long");
  memcpy(buf, body, len);
  buf[len] = '\0';
  char *end;
  errno = 0;
  long long n = strtoll(buf, &end, 10);
  if (end == buf || errno || n < 1 || n > 1000000 || *end != ' ')
    return fail(err, errsz, "rate(%s): the value must be a positive whole number followed by "
                "a unit, e.g. rate(5 minutes)", buf);
  const char *unit = end + 1;
  static const struct { const char *one, *many; int64_t s; } units[] = {
    {"minute", "minutes", MINUTE}, {"hour", "hours", 3600}, {"day", "days", DAY}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(unit, n == 1 ? units[i].one : units[i].many) == 0) {
      s->kind = BERTH_SCHEDULE_RATE;
      s->rate_s = n * units[i].s;
      return 0;
    }
    if (strcmp(unit, n == 1 ? units[i].many : units[i].one) == 0)
      return fail(err, errsz, "rate(%s): use '%s' with the value %lld", buf,
                  n == 1 ? units[i].one : units[i].many, n);
  }
  return fail(err, errsz, "rate(%s): the unit must be minute(s), hour(s) or day(s)", buf);
}

typedef struct field {
  const char *name;
  int lo, hi;
  const char *const *names;     /* names for lo.. (JAN, SUN), or NULL */
} field;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static int value(const field *f, const char **p, long *out) {
  if (f->names && isalpha((unsigned char)**p)) {
    for (int i = 0; f->names[i]; i++)
      if (strncasecmp(*p, f->names[i], 3) == 0) {
        *p += 3;
        *out = f->lo + i;
        return 0;
      }
    return -1;
  }
  return number(p, 4, out);
}

/* One cron field (text of length len) into bits (bit v - base). */
static int parse_field(const field *f, const char *text, size_t len, int base, uint64_t *bits,
                       int *any, const char *expr, char *err, size_t errsz) {
  char buf[128];
  if (len >= sizeof buf) return fail(err, errsz, "%s: the %s field is too long", expr, f->name);
  memcpy(buf, text, len);
  buf[len] = '\0';
  *any = 0;
  if (strcmp(buf, "?") == 0) {
    *any = 1;
    for (int v = f->lo; v <= f->hi; v++) bits[(v - base) / 64] |= 1ULL << ((v - base) % 64);
    return 0;
  }
  if (strpbrk(buf, "LW#"))
    return fail(err, errsz, "%s: the %s field '%s' uses L, W or #, which Berth does not "
                "support: use numbers, ranges (a-b), lists (a,b), steps (*/n), * or ?",
                expr, f->name, buf);
  const char *p = buf;
  for (;;) {
    long a = f->lo, b = f->hi, step = 1;
    int star = *p == '*';
    if (star) {
      p++;
    } else {
      if (value(f, &p, &a)) goto bad;
      b = a;
      if (*p == '-') {
        p++;
        if (value(f, &p, &b)) goto bad;
      }
    }
    if (*p == '/') {
      p++;
      if (number(&p, 4, &step) || step < 1) goto bad;
      if (!star && b == a) b = f->hi; /* "5/15": from 5 on */
    }
    if (a < f->lo || b > f->hi || a > b)
      return fail(err, errsz, "%s: the %s field '%s' is out of range %d-%d", expr, f->name, buf,
                  f->lo, f->hi);
    for (long v = a; v <= b; v += step)
      bits[(v - base) / 64] |= 1ULL << ((v - base) % 64);
    if (*p == '\0') return 0;
    if (*p++ != ',') goto bad;
  }
bad:
  return fail(err, errsz, "%s: the %s field '%s' is not a number, range, list, step, * or ?",
              expr, f->name, buf);
}

static int parse_cron(const char *body, size_t len, berth_schedule *s, char *err, size_t errsz) {
  static const field fields[6] = {
    {"minutes", 0, 59, NULL}, {"hours", 0, 23, NULL}, {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, month_names}, {"day-of-week", 1, 7, day_names},
    {"year", BERTH_SCHEDULE_MIN_YEAR, BERTH_SCHEDULE_MAX_YEAR, NULL}};
  char expr[160];
  snprintf(expr, sizeof expr, "cron(%.*s)", (int)(len < 120 ? len : 120), body);
  const char *start[6];
  size_t flen[6];
  int n = 0;
  const char *p = body, *end = body + len;
  while (p < end) {
    while (p < end && *p == ' ') p++;
    if (p == end) break;
    if (n == 6) return fail(err, errsz, "%s has more than 6 fields", expr);
    start[n] = p;
    while (p < end && *p != ' ') p++;
    flen[n] = (size_t)(p - start[n]);
    n++;
  }
  if (n != 6)
    return fail(err, errsz, "%s has %d fields: cron takes 6 (minutes hours day-of-month month "
                "day-of-week year), e.g. cron(0 8 * * ? *)", expr, n);
  memset(s, 0, sizeof *s);
  uint64_t bits[4];
  int any = 0;
  uint64_t *outs[6] = {&s->minutes, NULL, NULL, NULL, NULL, NULL};
  for (int i = 0; i < 6; i++) {
    memset(bits, 0, sizeof bits);
    int base = i == 5 ? BERTH_SCHEDULE_MIN_YEAR : 0;
    if (parse_field(&fields[i], start[i], flen[i], base, bits, &any, expr, err, errsz)) return -1;
    if (any && i != 2 && i != 4)
      return fail(err, errsz, "%s: ? is allowed only in day-of-month or day-of-week", expr);
    switch (i) {
    case 0: *outs[0] = bits[0]; break;
    case 1: s->hours = (uint32_t)bits[0]; break;
    case 2: s->days = (uint32_t)bits[0]; s->any_day = any; break;
    case 3: s->months = (uint32_t)bits[0]; break;
    case 4: s->weekdays = (uint32_t)bits[0]; s->any_weekday = any; break;
    default: memcpy(s->years, bits, sizeof bits); break;
    }
  }
  if (s->any_day == s->any_weekday)
    return fail(err, errsz, "%s: exactly one of day-of-month and day-of-week must be ?, e.g. "
                "cron(0 8 * * ? *) or cron(0 8 ? * MON-FRI *)", expr);
  s->kind = BERTH_SCHEDULE_CRON;
  return 0;
}

int berth_schedule_parse(const char *expr, berth_schedule *s, char *err, size_t errsz) {
  memset(s, 0, sizeof *s);
  size_t len = strlen(expr);
  static const struct {
    const char *prefix;
    int (*parse)(const char *, size_t, berth_schedule *, char *, size_t);
  } kinds[] = {{"at(", parse_at}, {"rate(", parse_rate}, {"cron(", parse_cron}};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    size_t pl = strlen(kinds[i].prefix);
    if (strncmp(expr, kinds[i].prefix, pl) != 0) continue;
    if (len < pl + 1 || expr[len - 1] != ')')
      return fail(err, errsz, "'%.64s' must end with ')'", expr);
    return kinds[i].parse(expr + pl, len - pl - 1, s, err, errsz);
  }
  return fail(err, errsz, "'%.64s' is not at(yyyy-mm-ddThh:mm:ss), rate(N unit) or "
              "cron(minutes hours day-of-month month day-of-week year)", expr);
}

/* UTC time of local civil time `local`, or -1 when the zone skips it. */
static int to_utc(const berth_tz *tz, int64_t local, int64_t *out) {
  /* Two rounds settle on the offset in force at the result. */
  int64_t u = local - berth_tz_offset(tz, local);
  u = local - berth_tz_offset(tz, u);
  if (u + berth_tz_offset(tz, u) != local) return -1;
  /* A repeated hour: the earlier of the two. */
  int64_t earlier = local - berth_tz_offset(tz, u - 3600);
  if (earlier < u && earlier + berth_tz_offset(tz, earlier) == local) u = earlier;
  *out = u;
  return 0;
}

static int bit(uint64_t v, int i) { return (int)((v >> i) & 1); }

static int day_matches(const berth_schedule *s, int64_t days) {
  int64_t y;
  unsigned m, d;
  berth_civil_from_days(days, &y, &m, &d);
  if (y < BERTH_SCHEDULE_MIN_YEAR || y > BERTH_SCHEDULE_MAX_YEAR) return 0;
  int yi = (int)(y - BERTH_SCHEDULE_MIN_YEAR);
  if (!bit(s->years[yi / 64], yi % 64) || !bit(s->months, (int)m)) return 0;
  int weekday = (int)(((days + 4) % 7 + 7) % 7) + 1; /* 1970-01-01 was a Thursday */
  return s->any_day ? bit(s->weekdays, weekday) : bit(s->days, (int)d);
}

static int cron_next(const berth_schedule *s, const berth_tz *tz, int64_t after, int64_t *out) {
  int64_t local = after + berth_tz_offset(tz, after);
  /* Minutes are the resolution: start at the next whole local minute. Go
   * back a day so a local time that maps after `after` across a zone
   * change is not missed; the result is checked against `after`. */
  int64_t from = (local / MINUTE + 1) * MINUTE - DAY;
  int64_t day = from >= 0 ? from / DAY : (from - DAY + 1) / DAY;
  int64_t last = berth_days_from_civil(BERTH_SCHEDULE_MAX_YEAR, 12, 31);
  for (; day <= last; day++) {
    if (!day_matches(s, day)) continue;
    for (int h = 0; h < 24; h++) {
      if (!bit(s->hours, h)) continue;
      for (int mi = 0; mi < 60; mi++) {
        if (!bit(s->minutes, mi)) continue;
        int64_t l = day * DAY + h * 3600 + mi * MINUTE, u;
        if (l < from || to_utc(tz, l, &u) || u <= after) continue;
        *out = u;
        return 0;
      }
    }
  }
  return -1;
}

int berth_schedule_next(const berth_schedule *s, const berth_tz *tz, int64_t start,
                        int64_t after, int64_t *out) {
  switch (s->kind) {
  case BERTH_SCHEDULE_AT: {
    int64_t u;
    if (to_utc(tz, s->at_local, &u)) u = s->at_local - berth_tz_offset(tz, s->at_local);
    if (u <= after) return -1;
    *out = u;
    return 0;
  }
  case BERTH_SCHEDULE_RATE: {
    if (after < start) {
      *out = start;
      return 0;
    }
    *out = start + ((after - start) / s->rate_s + 1) * s->rate_s;
    return 0;
  }
  case BERTH_SCHEDULE_CRON:
    return cron_next(s, tz, after, out);
  }
  return -1;
}

/* Unit tests for schedule and tzfile: table-driven parses (good and bad
 * expressions, each bad one naming its problem), next firing times for at,
 * rate and cron in UTC and in zones read from the system's tzdata
 * (America/New_York across both daylight-saving changes, Asia/Kolkata),
 * then a property test: for random cron expressions the next time matches
 * the expression and no minute between `after` and it does. */
#include "berth/schedule.h"
#include "berth/tzfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int64_t utc(int y, unsigned mo, unsigned d, int h, int mi) {
  return berth_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static int load_zone(const char *name, berth_tz *tz) {
  char path[256];
  snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  unsigned char buf[65536];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  return berth_tz_parse(buf, n, tz);
}

static void test_parse(void) {
  static const char *const good[] = {
    "at(2030-01-02T03:04:05)", "rate(1 minute)", "rate(5 minutes)", "rate(1 hour)",
    "rate(2 days)", "cron(55 11 * * ? *)", "cron(0 8 ? * MON-FRI *)", "cron(*/15 * * * ? *)",
    "cron(0,30 9-17 1,15 JAN-jun ? 2025-2030)", "cron(5/10 * ? * 1 *)",
  };
  static const struct { const char *expr, *says; } bad[] = {
    {"at(2030-02-30T00:00:00)", "not a valid date"},
    {"at(2030-01-02 03:04:05)", "yyyy-mm-ddThh:mm:ss"},
    {"rate(0 minutes)", "positive whole number"},
    {"rate(1 minutes)", "use 'minute'"},
    {"rate(5 minute)", "use 'minutes'"},
    {"rate(5 weeks)", "minute(s), hour(s) or day(s)"},
    {"cron(0 8 * * *)", "has 5 fields"},
    {"cron(61 8 * * ? *)", "minutes field '61' is out of range 0-59"},
    {"cron(0 8 * * * *)", "exactly one of day-of-month and day-of-week"},
    {"cron(0 8 ? * ? *)", "exactly one of"},
    {"cron(0 8 L * ? *)", "L, W or #"},
    {"cron(0 8 ? * 2#1 *)", "L, W or #"},
    {"cron(0 8 * FOO ? *)", "month field 'FOO'"},
    {"cron(0 8 * * ? 1969)", "out of range 1970-2199"},
    {"cron(0 ? * * ? *)", "? is allowed only"},
    {"every day", "is not at("},
    {"rate(5 minutes", "must end with ')'"},
  };
  berth_schedule s;
  char err[256];
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    int rc = berth_schedule_parse(good[i], &s, err, sizeof err);
    if (rc) fprintf(stderr, "%s: %s\n", good[i], err);
    CHECK_INT(rc, 0);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    CHECK_INT(berth_schedule_parse(bad[i].expr, &s, err, sizeof err), -1);
    if (!strstr(err, bad[i].says)) fprintf(stderr, "%s: got '%s'\n", bad[i].expr, err);
    CHECK(strstr(err, bad[i].says) != NULL);
  }
}

static void test_next_utc(void) {
  berth_tz z;
  berth_tz_utc(&z);
  berth_schedule s;
  char err[256];
  int64_t t;
  CHECK_INT(berth_schedule_parse("at(2030-01-02T03:04:05)", &s, err, sizeof err), 0);
  CHECK_INT(berth_schedule_next(&s, &z, 0, utc(2030, 1, 1, 0, 0), &t), 0);
  CHECK_INT(t, utc(2030, 1, 2, 3, 4) + 5);
  CHECK_INT(berth_schedule_next(&s, &z, 0, t, &t), -1); /* once */

  CHECK_INT(berth_schedule_parse("rate(5 minutes)", &s, err, sizeof err), 0);
  int64_t start = utc(2030, 1, 1, 0, 0);
  CHECK_INT(berth_schedule_next(&s, &z, start, start - 10, &t), 0);
  CHECK_INT(t, start);
  CHECK_INT(berth_schedule_next(&s, &z, start, start, &t), 0);
  CHECK_INT(t, start + 300);
  CHECK_INT(berth_schedule_next(&s, &z, start, start + 301, &t), 0);
  CHECK_INT(t, start + 600);

  CHECK_INT(berth_schedule_parse("cron(55 11 * * ? *)", &s, err, sizeof err), 0);
  CHECK_INT(berth_schedule_next(&s, &z, 0, utc(2030, 1, 1, 11, 55), &t), 0);
  CHECK_INT(t, utc(2030, 1, 2, 11, 55));
  /* Weekdays: 2030-01-05 is a Saturday, so MON-FRI goes to Monday the 7th. */
  CHECK_INT(berth_schedule_parse("cron(0 8 ? * MON-FRI *)", &s, err, sizeof err), 0);
  CHECK_INT(berth_schedule_next(&s, &z, 0, utc(2030, 1, 4, 9, 0), &t), 0);
  CHECK_INT(t, utc(2030, 1, 7, 8, 0));
  /* Steps and lists; the 31st skips short months. */
  CHECK_INT(berth_schedule_parse("cron(*/20 * 31 * ? *)", &s, err, sizeof err), 0);
  CHECK_INT(berth_schedule_next(&s, &z, 0, utc(2030, 4, 1, 0, 0), &t), 0);
  CHECK_INT(t, utc(2030, 5, 31, 0, 0));
  CHECK_INT(berth_schedule_next(&s, &z, 0, t, &t), 0);
  CHECK_INT(t, utc(2030, 5, 31, 0, 20));
  /* Years run out. */
  CHECK_INT(berth_schedule_parse("cron(0 0 1 1 ? 2030)", &s, err, sizeof err), 0);
  CHECK_INT(berth_schedule_next(&s, &z, 0, utc(2030, 1, 1, 0, 0), &t), -1);
}

static void test_zones(void) {
  berth_tz ny, kol;
  if (load_zone("America/New_York", &ny) || load_zone("Asia/Kolkata", &kol)) {
    fprintf(stderr, "test_schedule: no tzdata in /usr/share/zoneinfo (install tzdata)\n");
    CHECK(0);
    return;
  }
  /* EST is UTC-5, EDT UTC-4; 2030: DST from March 10, to November 3. */
  CHECK_INT(berth_tz_offset(&ny, utc(2030, 1, 15, 12, 0)), -5 * 3600);
  CHECK_INT(berth_tz_offset(&ny, utc(2030, 7, 15, 12, 0)), -4 * 3600);
  CHECK_INT(berth_tz_offset(&kol, utc(2030, 7, 15, 12, 0)), 5 * 3600 + 1800);
  berth_schedule s;
  char err[256];
  int64_t t;
  CHECK_INT(berth_schedule_parse("cron(0 9 * * ? *)", &s, err, sizeof err), 0);
  CHECK_INT(berth_schedule_next(&s, &ny, 0, utc(2030, 1, 15, 0, 0), &t), 0);
  CHECK_INT(t, utc(2030, 1, 15, 14, 0));
  CHECK_INT(berth_schedule_next(&s, &ny, 0, utc(2030, 7, 15, 0, 0), &t), 0);
  CHECK_INT(t, utc(2030, 7, 15, 13, 0));
  /* 02:30 does not exist on 2030-03-10 in New York: that day is skipped. */
  CHECK_INT(berth_schedule_parse("cron(30 2 * * ? *)", &s, err, sizeof err), 0);
  CHECK_INT(berth_schedule_next(&s, &ny, 0, utc(2030, 3, 9, 12, 0), &t), 0);
  CHECK_INT(t, utc(2030, 3, 11, 6, 30));
  /* 01:30 happens twice on 2030-11-03: the first (EDT, 05:30 UTC). */
  CHECK_INT(berth_schedule_parse("cron(30 1 * * ? *)", &s, err, sizeof err), 0);
  CHECK_INT(berth_schedule_next(&s, &ny, 0, utc(2030, 11, 2, 12, 0), &t), 0);
  CHECK_INT(t, utc(2030, 11, 3, 5, 30));
  CHECK_INT(berth_schedule_parse("at(2030-07-15T09:00:00)", &s, err, sizeof err), 0);
  CHECK_INT(berth_schedule_next(&s, &kol, 0, 0, &t), 0);
  CHECK_INT(t, utc(2030, 7, 15, 3, 30));
  /* Garbage is not a zone. */
  berth_tz bad;
  CHECK(berth_tz_parse((const unsigned char *)"TZif2 not really", 16, &bad) < 0);
  berth_tz_free(&ny);
  berth_tz_free(&kol);
}

static int matches(const berth_schedule *s, int64_t t) {
  int64_t days = t / 86400, y;
  unsigned m, d;
  berth_civil_from_days(days, &y, &m, &d);
  int wd = (int)((days + 4) % 7) + 1, h = (int)(t % 86400 / 3600), mi = (int)(t % 3600 / 60);
  int yi = (int)(y - 1970);
  return (s->minutes >> mi & 1) && (s->hours >> h & 1) && (s->months >> m & 1) &&
         (s->years[yi / 64] >> (yi % 64) & 1) &&
         (s->any_day ? (s->weekdays >> wd & 1) : (s->days >> d & 1));
}

static void test_property(void) {
  uint64_t rng = 12345;
  berth_tz z;
  berth_tz_utc(&z);
  for (int i = 0; i < 300; i++) {
    char expr[128];
    int step = (int)(check_random(&rng) % 30) + 1, hour = (int)(check_random(&rng) % 24);
    int dom = (int)(check_random(&rng) % 31) + 1, wd = (int)(check_random(&rng) % 7) + 1;
    if (check_random(&rng) % 2)
      snprintf(expr, sizeof expr, "cron(*/%d %d-23 %d * ? *)", step, hour, dom);
    else
      snprintf(expr, sizeof expr, "cron(%d %d ? * %d,%d 2030-2040)", step, hour, wd,
               (wd % 7) + 1);
    berth_schedule s;
    char err[256];
    CHECK_INT(berth_schedule_parse(expr, &s, err, sizeof err), 0);
    int64_t after = utc(2030, 1, 1, 0, 0) + (int64_t)(check_random(&rng) % (86400 * 400));
    int64_t t;
    CHECK_INT(berth_schedule_next(&s, &z, 0, after, &t), 0);
    CHECK(t > after && t % 60 == 0 && matches(&s, t));
    /* Nothing earlier matches (checked minute by minute up to 2 days). */
    for (int64_t m = (after / 60 + 1) * 60; m < t && m < after + 2 * 86400; m += 60)
      if (matches(&s, m)) {
        fprintf(stderr, "%s after %lld: %lld matches before %lld\n", expr, (long long)after,
                (long long)m, (long long)t);
        CHECK(0);
        break;
      }
  }
}

int main(void) {
  test_parse();
  test_next_utc();
  test_zones();
  test_property();
  CHECK_DONE();
}

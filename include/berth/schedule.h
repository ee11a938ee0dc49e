/* schedule: Application Auto Scaling schedule expressions and when they
 * fire next.
 *
 *   at(yyyy-mm-ddThh:mm:ss)     once, in the action's time zone
 *   rate(N unit)                every N minute(s) / hour(s) / day(s),
 *                               counted from a start time
 *   cron(min hour dom month dow year)
 *                               the six-field AWS form: lists (,), ranges
 *                               (-), steps (/), *, and ? in exactly one of
 *                               day-of-month and day-of-week; months 1-12
 *                               or JAN-DEC, weekdays 1-7 (1 = Sunday) or
 *                               SUN-SAT, years 1970-2199. L, W and # are
 *                               refused with a message saying so.
 *
 * Pure: times are UTC epoch seconds in and out; the zone comes as a
 * berth_tz (tzfile.h). A local time that a daylight-saving change skips
 * does not fire; one that repeats fires at its first occurrence. */
#ifndef BERTH_SCHEDULE_H
#define BERTH_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "berth/tzfile.h"

#define BERTH_SCHEDULE_MIN_YEAR 1970
#define BERTH_SCHEDULE_MAX_YEAR 2199

typedef enum {
  BERTH_SCHEDULE_AT = 0,
  BERTH_SCHEDULE_RATE = 1,
  BERTH_SCHEDULE_CRON = 2
} berth_schedule_kind;

typedef struct berth_schedule {
  berth_schedule_kind kind;
  int64_t at_local;             /* at: the local civil time, as seconds since
                                   1970-01-01T00:00:00 in that zone */
  int64_t rate_s;               /* rate: the period */
  /* cron: bit i set when value i matches */
  uint64_t minutes;             /* 0-59 */
  uint32_t hours;               /* 0-23 */
  uint32_t days;                /* 1-31 */
  uint32_t months;              /* 1-12 */
  uint32_t weekdays;            /* 1-7, 1 = Sunday */
  uint64_t years[4];            /* year - 1970, 0-229 */
  int any_day, any_weekday;     /* the field was ? */
} berth_schedule;

/* Parses expr; 0, or -1 with err saying which part is wrong and what is
 * accepted ("cron(...): the minutes field '61' is out of range 0-59"). */
int berth_schedule_parse(const char *expr, berth_schedule *s, char *err, size_t errsz);

/* The first time the schedule fires strictly after `after` (UTC seconds):
 * rate times are start + k x period (k >= 0). 0 with *out set, or -1 when
 * it never fires again (an `at` in the past, a cron whose years are over). */
int berth_schedule_next(const berth_schedule *s, const berth_tz *tz, int64_t start,
                        int64_t after, int64_t *out);

/* Days since 1970-01-01 of a civil date, and back (proleptic Gregorian). */
int64_t berth_days_from_civil(int64_t y, unsigned m, unsigned d);
void berth_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif

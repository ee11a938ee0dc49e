/* tzfile: UTC offsets from a TZif time zone file (RFC 8536), the format of
 * the system's tzdata (/usr/share/zoneinfo/Area/City).
 *
 * Pure: the caller reads the file and passes its bytes; no TZ environment,
 * no tzset, so a zone is looked up without touching process-wide state.
 * Times past the last transition keep the last transition's offset (the
 * file's POSIX footer rule is not read): Debian's "fat" files list
 * transitions through 2037. */
#ifndef BERTH_TZFILE_H
#define BERTH_TZFILE_H

#include <stddef.h>
#include <stdint.h>

#define BERTH_TZ_MAX_TRANSITIONS 4096

typedef struct berth_tz {
  size_t n;                     /* transitions */
  int64_t *at;                  /* UTC seconds of each transition, ascending */
  int32_t *offset;              /* seconds east of UTC from at[i] on */
  int32_t offset_before;        /* before at[0] (the file's first type) */
} berth_tz;

/* A zone that is always UTC (n = 0): needs no free. */
void berth_tz_utc(berth_tz *tz);
/* Parses a TZif file (version 1, 2, 3 or 4; the 64-bit block when there is
 * one). 0, or -EINVAL for what is not TZif or is truncated, -E2BIG past
 * BERTH_TZ_MAX_TRANSITIONS. tz owns its arrays: berth_tz_free. */
int berth_tz_parse(const unsigned char *data, size_t len, berth_tz *tz);
void berth_tz_free(berth_tz *tz);
/* The zone's offset from UTC (seconds east) at UTC time t. */
int32_t berth_tz_offset(const berth_tz *tz, int64_t t);

#endif

/* tzfile: see tzfile.h. */
#include "berth/tzfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HEADER 44

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) {
  return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct counts {
  uint32_t isut, isstd, leap, time, type, chars;
} counts;

static int header(const unsigned char *p, size_t len, counts *k) {
  if (len < HEADER || memcmp(p, "TZif", 4) != 0) return -EINVAL;
  k->isut = be32(p + 20);
  k->isstd = be32(p + 24);
  k->leap = be32(p + 28);
  k->time = be32(p + 32);
  k->type = be32(p + 36);
  k->chars = be32(p + 40);
  return 0;
}

/* Bytes of a data block after its header, with times of `tsz` bytes. */
static size_t block_size(const counts *k, size_t tsz) {
  return (size_t)k->time * tsz + k->time + (size_t)k->type * 6 + k->chars +
         (size_t)k->leap * (tsz + 4) + k->isstd + k->isut;
}

void berth_tz_utc(berth_tz *tz) {
  memset(tz, 0, sizeof *tz);
}

int berth_tz_parse(const unsigned char *data, size_t len, berth_tz *tz) {
  counts k;
  berth_tz_utc(tz);
  if (header(data, len, &k)) return -EINVAL;
  size_t tsz = 4;
  const unsigned char *p = data + HEADER;
  if (data[4] >= '2') {
    /* Skip the 32-bit block: the 64-bit one follows with its own header. */
    size_t skip = block_size(&k, 4);
    if (len - HEADER < skip) return -EINVAL;
    p += skip;
    if (header(p, len - (size_t)(p - data), &k)) return -EINVAL;
    p += HEADER;
    tsz = 8;
  }
  if (k.time > BERTH_TZ_MAX_TRANSITIONS) return -E2BIG;
  if (k.type == 0 || k.type > 256) return -EINVAL;
  if ((size_t)(data + len - p) < block_size(&k, tsz)) return -EINVAL;
  const unsigned char *times = p, *idx = p + (size_t)k.time * tsz, *types = idx + k.time;
  /* RFC 8536 3.2: before the first transition, local time is type 0. */
  tz->offset_before = (int32_t)be32(types);
  if (k.time == 0) return 0;
  tz->at = malloc(k.time * sizeof *tz->at);
  tz->offset = malloc(k.time * sizeof *tz->offset);
  if (!tz->at || !tz->offset) {
    berth_tz_free(tz);
    return -ENOMEM;
  }
  for (uint32_t i = 0; i < k.time; i++) {
    if (idx[i] >= k.type) {
      berth_tz_free(tz);
      return -EINVAL;
    }
    tz->at[i] = tsz == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
    tz->offset[i] = (int32_t)be32(types + 6 * (size_t)idx[i]);
  }
  tz->n = k.time;
  return 0;
}

void berth_tz_free(berth_tz *tz) {
  free(tz->at);
  free(tz->offset);
  berth_tz_utc(tz);
}

int32_t berth_tz_offset(const berth_tz *tz, int64_t t) {
  if (tz->n == 0 || t < tz->at[0]) return tz->offset_before;
  size_t lo = 0, hi = tz->n; /* the last transition at or before t */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (tz->at[mid] <= t) lo = mid;
    else hi = mid;
  }
  return tz->offset[lo];
}

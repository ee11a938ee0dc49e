/* devices: see berth/devices.h. */
#include "berth/devices.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DECLARED_MAX 16                 /* = SCHED_MAX_DEVICES, as the catalog */
#define DECLARED_DEFAULT_MEM_MIB 16384

static void set_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errsz, const char *fmt, ...) {
  if (!err || errsz == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errsz, fmt, ap);
  va_end(ap);
}

/* Environment variable var as a whole number in [min, max]: 1 and *out
 * set, 0 when unset, -EINVAL with a message naming it. */
static int env_long(const char *var, long min, long max, long *out, char *err, size_t errsz) {
  const char *s = getenv(var);
  if (!s) return 0;
  char *end;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || x < min || x > max) {
    set_err(err, errsz, "environment variable %s=\"%s\": must be a whole number from %ld to %ld",
            var, s, min, max);
    return -EINVAL;
  }
  *out = x;
  return 1;
}

int berth_devices_probe(berth_devices *out, char *err, size_t errsz) {
  memset(out, 0, sizeof *out);
  long n = 0, mem = DECLARED_DEFAULT_MEM_MIB;
  int rc = env_long("BERTH_LOCAL_ACCELERATORS", 0, DECLARED_MAX, &n, err, errsz);
  if (rc < 0) return rc;
  if (rc > 0) {
    /* Declared devices win over NVML, so a GPU host can also pretend. */
    if (env_long("BERTH_LOCAL_ACCELERATOR_MEMORY_MIB", 1, 1L << 30, &mem, err, errsz) < 0)
      return -EINVAL;
    out->source = BERTH_DEVICES_DECLARED;
    out->n = (int)n;
    for (int i = 0; i < out->n; i++) {
      out->dev[i].index = i;
      out->dev[i].memory_mib = mem;
    }
    return 0;
  }
  int g = berth_nvml_list(out->dev, BERTH_MAX_HOST_DEVICES);
  if (g > 0) {
    out->source = BERTH_DEVICES_NVML;
    out->n = g;
  }
  return 0;
}

const char *berth_devices_source_name(berth_devices_source s) {
  switch (s) {
  case BERTH_DEVICES_DECLARED: return "BERTH_LOCAL_ACCELERATORS";
  case BERTH_DEVICES_NVML: return "NVML";
  case BERTH_DEVICES_NONE: break;
  }
  return "nothing (simulated)";
}

const berth_gpu *berth_devices_find(const berth_devices *d, int idx) {
  for (int i = 0; i < d->n; i++)
    if (d->dev[i].index == idx) return &d->dev[i];
  return NULL;
}

int berth_devices_parse(const char *list, int *out, int max, char *err, size_t errsz) {
  int n = 0;
  const char *p = list;
  if (!*p) goto bad;
  for (;;) {
    if (*p < '0' || *p > '9') goto bad; /* strtol would take " -1" */
    char *end;
    errno = 0;
    long x = strtol(p, &end, 10);
    if (errno || x >= BERTH_MAX_HOST_DEVICES) goto bad;
    for (int i = 0; i < n; i++)
      if (out[i] == (int)x) {
        set_err(err, errsz, "device list \"%s\" names device %ld twice", list, x);
        return -EINVAL;
      }
    if (n == max) {
      set_err(err, errsz, "device list \"%s\" names more than %d devices", list, max);
      return -EINVAL;
    }
    out[n++] = (int)x;
    if (*end == '\0') return n;
    if (*end != ',') goto bad;
    p = end + 1;
  }
bad:
  set_err(err, errsz, "device list \"%s\" must be device indices from 0 to %d separated by "
          "commas, like 4,5,6,7", list, BERTH_MAX_HOST_DEVICES - 1);
  return -EINVAL;
}

void berth_devices_format(const int *idx, int n, char *out, size_t outsz) {
  if (outsz == 0) return;
  out[0] = '\0';
  size_t len = 0;
  for (int i = 0; i < n && len < outsz; i++) {
    int w = snprintf(out + len, outsz - len, "%s%d", i ? "," : "", idx[i]);
    if (w < 0) break;
    len += (size_t)w;
  }
}

int berth_devices_pick(const berth_devices *host, const unsigned char *taken, int need, int *out) {
  int free_n = 0;
  for (int k = 0; k < host->n; k++) free_n += !taken[k];
  if (need < 0 || free_n < need) return -ENOSPC;
  int got = 0;
  for (int k = 0; k < host->n && got < need; k++)
    if (!taken[k]) out[got++] = host->dev[k].index;
  return 0;
}

/* devices: this host's accelerator devices and how instances share them.
 *
 * The host's devices are the ones declared by BERTH_LOCAL_ACCELERATORS (a
 * count, each of BERTH_LOCAL_ACCELERATOR_MEMORY_MIB, default 16384: for
 * machines without a GPU, and tests), else NVML's GPUs. A host with
 * neither has none: accelerator instance types are then simulated (their
 * copies get logical indices 0..N-1 of their instance, nothing physical).
 * The rest is pure: parsing and formatting device lists and choosing the
 * free devices a new instance takes. */
#ifndef BERTH_DEVICES_H
#define BERTH_DEVICES_H

#include <stddef.h>

#include "berth/nvml.h"

#define BERTH_MAX_HOST_DEVICES BERTH_NVML_MAX_DEVICES

typedef enum {
  BERTH_DEVICES_NONE = 0,     /* neither declared nor NVML: simulated */
  BERTH_DEVICES_DECLARED,     /* BERTH_LOCAL_ACCELERATORS */
  BERTH_DEVICES_NVML
} berth_devices_source;

typedef struct berth_devices {
  int n;
  berth_gpu dev[BERTH_MAX_HOST_DEVICES]; /* index = the physical index */
  berth_devices_source source;
} berth_devices;

/* Fills out with this host's devices (see above). Returns 0, or -EINVAL
 * with a message naming the variable when a declaration is malformed. */
int berth_devices_probe(berth_devices *out, char *err, size_t errsz);
/* Where the devices came from, for messages: "BERTH_LOCAL_ACCELERATORS",
 * "NVML" or "nothing (simulated)". */
const char *berth_devices_source_name(berth_devices_source s);
/* The device with physical index idx, or NULL. */
const berth_gpu *berth_devices_find(const berth_devices *d, int idx);

/* Parses "4,5,6,7" (distinct whole numbers 0..BERTH_MAX_HOST_DEVICES-1)
 * into out. Returns the count (>= 1), or -EINVAL with a message in err
 * that quotes the list. */
int berth_devices_parse(const char *list, int *out, int max, char *err, size_t errsz);
/* Writes idx as "4,5,6,7" (for flags and environment variables); "" when
 * n is 0. Truncates at outsz. */
void berth_devices_format(const int *idx, int n, char *out, size_t outsz);

/* Chooses need devices among host's that taken[k] (k indexing host->dev)
 * does not mark: the first free ones, in host order, so a host's devices
 * fill from index 0 and a restarted controller that picks again picks the
 * same. Fills out with their physical indices and returns 0, or -ENOSPC
 * (out untouched) when fewer than need are free. */
int berth_devices_pick(const berth_devices *host, const unsigned char *taken, int need, int *out);

#endif

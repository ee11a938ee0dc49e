/* sched: placement of inference-component copies onto instances.
 *
 * Pure: state in, decision out. No I/O, no clock, no globals, so the daemon,
 * the unit tests and berth-sim run the same code. Deterministic: the same
 * input gives the same answer (ties break on the lower instance index).
 *
 * Resources are vectors: CPU millicores, memory MiB, accelerator devices
 * and accelerator memory. Devices are tracked one by one in milli-devices
 * (1000 = a whole device) so that copies needing a fraction of a device
 * (an extension to SageMaker's whole-device rule) can share one. */
#ifndef BERTH_SCHED_H
#define BERTH_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "berth/catalog.h"

#define SCHED_MAX_DEVICES 16

typedef enum { SCHED_SPREAD = 0, SCHED_BINPACK = 1 } sched_strategy;

typedef struct sched_instance {
  /* capacity */
  int64_t cpu_milli;
  int64_t mem_mb;
  int n_devices;                 /* 0..SCHED_MAX_DEVICES */
  int64_t dev_mem_mb;            /* per device */
  /* reserved so far */
  int64_t cpu_milli_used;
  int64_t mem_mb_used;
  int32_t dev_milli_used[SCHED_MAX_DEVICES];
  int64_t dev_mem_mb_used[SCHED_MAX_DEVICES];
  int accepting;                 /* 0: draining, lost or starting: never chosen */
} sched_instance;

typedef struct sched_need {
  int64_t cpu_milli;
  int64_t mem_mb;
  int32_t dev_milli;             /* 0; 1..999 = a share of one device;
                                    a multiple of 1000 = whole devices */
  int64_t dev_mem_mb;            /* per device used; 0 = no requirement */
} sched_need;

typedef struct sched_assignment {
  int instance;                  /* index into the instance array */
  int n_devices;
  int devices[SCHED_MAX_DEVICES];/* device indices, ascending */
  int32_t dev_milli_each;        /* share taken on each listed device */
} sched_assignment;

/* Chooses an instance for one copy. same_ic[i] is how many copies of the same
 * inference component instance i already holds (NULL = none anywhere).
 * SPREAD prefers the instances holding the fewest copies of this IC, then
 * best fit; BINPACK prefers best fit (the instance left fullest).
 * Returns 0 and fills *out, or -ENOSPC when no accepting instance fits. */
int sched_place(const sched_instance *insts, size_t n, const uint32_t *same_ic,
                const sched_need *need, sched_strategy strategy,
                sched_assignment *out);

/* Details of the rules above, for callers that need them exactly:
 * - A whole-device need takes devices with no share used (and enough device
 *   memory free), lowest indices first. A fractional need takes the one device
 *   with the most share already used that still has room for it (packing
 *   shares so that whole devices stay free); ties go to the lower index.
 * - dev_mem_mb counts only when dev_milli > 0.
 * - "Best fit" is the instance whose dominant-resource utilization after the
 *   placement (the largest of used/capacity over CPU, memory, device shares
 *   and device memory, devices summed per instance) is highest.
 * - A need with a negative field, or with dev_milli above 1000 and not a
 *   multiple of 1000, is malformed: sched_place returns -EINVAL.
 * sched_need_valid returns 1 when need is well formed, else 0. */
/* An empty instance of type t: its capacity, nothing reserved, accepting. */
sched_instance sched_capacity(const berth_instance_type *t);

int sched_need_valid(const sched_need *need);

/* Whether need fits on inst at all (capacity, not current use). */
int sched_fits_empty(const sched_instance *inst, const sched_need *need);

/* Applies / undoes an assignment's reservation on its instance. */
void sched_reserve(sched_instance *inst, const sched_need *need,
                   const sched_assignment *a);
void sched_release(sched_instance *inst, const sched_need *need,
                   const sched_assignment *a);

/* Places many copies at once, reserving as it goes (insts is updated).
 * Copy c needs needs[c] and belongs to inference component ic_of_copy[c]
 * (< n_ics). Copies are placed largest dominant demand first (relative to
 * the largest accepting instance), then by need (CPU, memory, dev_milli,
 * dev_mem_mb ascending), then by IC, then by copy index, so the result
 * depends on the input only. out[c] gets copy c's assignment, or
 * instance -1 when it did not fit (or its need is malformed). SPREAD counts
 * only the copies placed by this call. The result is the same as calling
 * sched_place and sched_reserve copy by copy in that order; runs in about
 * O(needs * n + copies * log n), where needs counts the distinct needs.
 * Allocates scratch memory (aborting on out-of-memory), nothing else.
 * Returns the number of copies placed, or -EINVAL for bad arguments. */
int sched_place_all(sched_instance *insts, size_t n, const sched_need *needs,
                    const uint32_t *ic_of_copy, size_t n_copies, size_t n_ics,
                    sched_strategy strategy, sched_assignment *out);

#endif

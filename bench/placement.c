/* bench_placement: how fast and how tightly sched_place_all packs.
 *
 * Places 10,000 copies of 500 inference components onto 1,000 empty
 * instances with BINPACK and reports, per workload: decision time (median of
 * 5 runs), instances used (holding at least one copy), the lower bound
 * (max over resources of ceil(total demand / per-instance capacity)), and the
 * same figures for FIRST-FIT, the named baseline: each copy in the given
 * order (IC by IC, as they are created) on the lowest-numbered instance with
 * room, with the same device rules as sched.
 *
 * Workloads (seeded, so every run and every machine sees the same input):
 *  - mixed on ml.g5.12xlarge-like instances (48 vCPU, 196608 MiB,
 *    4 GPUs x 24576 MiB): CPU-only small/medium/large, whole-GPU 1/2/4,
 *    and fractional 0.25/0.5 GPU with accelerator memory;
 *  - cpu on ml.m5.4xlarge-like instances (16 vCPU, 65536 MiB).
 * Usage: bench_placement [seed]   (README.md beside this file). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/sched.h"

#define N_ICS 500
#define N_COPIES 10000
#define N_INSTANCES 1000
#define RUNS 5

/* splitmix64: small, seeded, the same everywhere. */
static uint64_t rng_state;
static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static int64_t rng_range(int64_t lo, int64_t hi) { /* inclusive */
  return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}

/* One kind of IC: ranges for what one copy needs, and how common it is. */
typedef struct ic_kind {
  const char *name;
  int weight;                    /* share of the 500 ICs */
  int64_t cpu_lo, cpu_hi;        /* millicores, in steps of 250 */
  int64_t mem_lo, mem_hi;        /* MiB, in steps of 512 */
  int32_t dev_milli;
  int64_t dev_mem_lo, dev_mem_hi;/* MiB per device, in steps of 1024 */
} ic_kind;

static const ic_kind mixed_kinds[] = {
  {"cpu-small", 30, 500, 1000, 1024, 2048, 0, 0, 0},
  {"cpu-medium", 18, 2000, 6000, 4096, 8192, 0, 0, 0},
  {"cpu-large", 9, 8000, 16000, 16384, 32768, 0, 0, 0},
  {"gpu-1", 9, 2000, 8000, 8192, 32768, 1000, 12288, 24576},
  {"gpu-2", 3, 4000, 16000, 16384, 65536, 2000, 16384, 24576},
  {"gpu-4", 1, 8000, 24000, 32768, 131072, 4000, 20480, 24576},
  {"gpu-0.25", 16, 1000, 2000, 2048, 8192, 250, 4096, 6144},
  {"gpu-0.5", 14, 1000, 4000, 4096, 16384, 500, 8192, 12288},
};

static const ic_kind cpu_kinds[] = {
  {"small", 47, 250, 1000, 512, 2048, 0, 0, 0},
  {"medium", 30, 500, 1500, 2048, 8192, 0, 0, 0},
  {"large", 8, 2000, 4000, 8192, 16384, 0, 0, 0},
  {"memory-heavy", 12, 500, 1000, 8192, 16384, 0, 0, 0},
  {"compute-heavy", 3, 4000, 8000, 2048, 4096, 0, 0, 0},
};

typedef struct workload {
  const char *name;
  const ic_kind *kinds;
  size_t n_kinds;
  sched_instance type;           /* every instance is one of these */
  sched_need needs[N_COPIES];
  uint32_t ic_of_copy[N_COPIES];
  size_t n_copies;
} workload;

static int64_t step_range(int64_t lo, int64_t hi, int64_t step) {
  return lo + rng_range(0, (hi - lo) / step) * step;
}

/* 500 ICs drawn from the kinds by weight; every IC gets one copy, the rest
 * go to ICs with probability proportional to a per-IC popularity (1..16),
 * so a few ICs have many copies and most have few. */
static void workload_make(workload *w, uint64_t seed) {
  rng_state = seed;
  int total_weight = 0;
  for (size_t k = 0; k < w->n_kinds; k++) total_weight += w->kinds[k].weight;
  static sched_need ic_need[N_ICS];
  static int popularity[N_ICS];
  static uint32_t copies[N_ICS];
  int pop_sum = 0;
  for (int i = 0; i < N_ICS; i++) {
    int r = (int)rng_range(0, total_weight - 1);
    size_t k = 0;
    while (r >= w->kinds[k].weight) r -= w->kinds[k++].weight;
    const ic_kind *kd = &w->kinds[k];
    sched_need nd;
    nd.cpu_milli = step_range(kd->cpu_lo, kd->cpu_hi, 250);
    nd.mem_mb = step_range(kd->mem_lo, kd->mem_hi, 512);
    nd.dev_milli = kd->dev_milli;
    nd.dev_mem_mb = kd->dev_milli ? step_range(kd->dev_mem_lo, kd->dev_mem_hi, 1024) : 0;
    ic_need[i] = nd;
    int p = 1 << rng_range(0, 4);
    popularity[i] = p;
    pop_sum += p;
    copies[i] = 1;
  }
  for (int c = N_ICS; c < N_COPIES; c++) {
    int r = (int)rng_range(0, pop_sum - 1), i = 0;
    while (r >= popularity[i]) r -= popularity[i++];
    copies[i]++;
  }
  w->n_copies = 0;
  for (int i = 0; i < N_ICS; i++)
    for (uint32_t k = 0; k < copies[i]; k++) {
      w->needs[w->n_copies] = ic_need[i];
      w->ic_of_copy[w->n_copies++] = (uint32_t)i;
    }
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* max over resources of ceil(total demand / per-instance capacity). Device
 * shares count in milli-devices; device memory counts per device used. */
static int64_t lower_bound(const workload *w, int64_t per[4]) {
  int64_t cpu = 0, mem = 0, dev = 0, dev_mem = 0;
  for (size_t c = 0; c < w->n_copies; c++) {
    const sched_need *nd = &w->needs[c];
    cpu += nd->cpu_milli;
    mem += nd->mem_mb;
    dev += nd->dev_milli;
    int used = nd->dev_milli >= 1000 ? nd->dev_milli / 1000 : (nd->dev_milli ? 1 : 0);
    dev_mem += nd->dev_mem_mb * used;
  }
  const sched_instance *t = &w->type;
  per[0] = ceil_div(cpu, t->cpu_milli);
  per[1] = ceil_div(mem, t->mem_mb);
  per[2] = t->n_devices ? ceil_div(dev, (int64_t)t->n_devices * 1000) : 0;
  per[3] = t->n_devices ? ceil_div(dev_mem, (int64_t)t->n_devices * t->dev_mem_mb) : 0;
  int64_t lb = 0;
  for (int k = 0; k < 4; k++)
    if (per[k] > lb) lb = per[k];
  return lb;
}

static void fleet_reset(sched_instance *f, const sched_instance *type) {
  for (size_t i = 0; i < N_INSTANCES; i++) f[i] = *type;
}

static size_t instances_used(const sched_instance *f) {
  size_t used = 0;
  for (size_t i = 0; i < N_INSTANCES; i++) {
    int any = f[i].cpu_milli_used || f[i].mem_mb_used;
    for (int d = 0; d < f[i].n_devices; d++) any |= f[i].dev_milli_used[d] != 0;
    used += any != 0;
  }
  return used;
}

/* Capacity never exceeded anywhere: the benchmark refuses to report a
 * result that is wrong. */
static int fleet_ok(const sched_instance *f) {
  for (size_t i = 0; i < N_INSTANCES; i++) {
    const sched_instance *in = &f[i];
    if (in->cpu_milli_used > in->cpu_milli || in->mem_mb_used > in->mem_mb) return 0;
    for (int d = 0; d < in->n_devices; d++)
      if (in->dev_milli_used[d] > 1000 || in->dev_mem_mb_used[d] > in->dev_mem_mb) return 0;
  }
  return 1;
}

/* FIRST-FIT, the baseline: each copy in the given order on the lowest
 * numbered instance where it fits (sched_place on that one instance picks
 * the devices, so both placers follow the same device rules). */
static int first_fit_place_all(sched_instance *f, size_t n, const sched_need *needs,
                               size_t n_copies) {
  int placed = 0;
  for (size_t c = 0; c < n_copies; c++) {
    for (size_t i = 0; i < n; i++) {
      sched_assignment a;
      if (sched_place(&f[i], 1, NULL, &needs[c], SCHED_BINPACK, &a) != 0) continue;
      a.instance = (int)i;
      sched_reserve(&f[i], &needs[c], &a);
      placed++;
      break;
    }
  }
  return placed;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct result {
  int placed;
  size_t used;
  double ms;                     /* median */
} result;

static sched_instance fleet[N_INSTANCES];
static sched_assignment assignments[N_COPIES];

static int run_berth(const workload *w, result *r) {
  double ms[RUNS];
  for (int k = 0; k < RUNS; k++) {
    fleet_reset(fleet, &w->type);
    double t0 = now_ms();
    r->placed = sched_place_all(fleet, N_INSTANCES, w->needs, w->ic_of_copy, w->n_copies,
                                N_ICS, SCHED_BINPACK, assignments);
    ms[k] = now_ms() - t0;
    if (r->placed < 0 || !fleet_ok(fleet)) return -1;
  }
  qsort(ms, RUNS, sizeof ms[0], cmp_double);
  r->ms = ms[RUNS / 2];
  r->used = instances_used(fleet);
  return 0;
}

static int run_first_fit(const workload *w, result *r) {
  double ms[RUNS];
  for (int k = 0; k < RUNS; k++) {
    fleet_reset(fleet, &w->type);
    double t0 = now_ms();
    r->placed = first_fit_place_all(fleet, N_INSTANCES, w->needs, w->n_copies);
    ms[k] = now_ms() - t0;
    if (!fleet_ok(fleet)) return -1;
  }
  qsort(ms, RUNS, sizeof ms[0], cmp_double);
  r->ms = ms[RUNS / 2];
  r->used = instances_used(fleet);
  return 0;
}

static workload workloads[2];

int main(int argc, char **argv) {
  uint64_t seed = 1;
  if (argc > 1) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(argv[1], &end, 10);
    if (errno || *end || end == argv[1]) {
      fprintf(stderr, "bench_placement: seed must be a decimal number, got \"%s\"\n", argv[1]);
      return 2;
    }
    seed = v;
  }

  sched_instance g5 = {0};
  g5.cpu_milli = 48000;
  g5.mem_mb = 196608;
  g5.n_devices = 4;
  g5.dev_mem_mb = 24576;
  g5.accepting = 1;
  sched_instance m5 = {0};
  m5.cpu_milli = 16000;
  m5.mem_mb = 65536;
  m5.accepting = 1;

  workloads[0].name = "mixed/g5.12xl";
  workloads[0].kinds = mixed_kinds;
  workloads[0].n_kinds = sizeof mixed_kinds / sizeof mixed_kinds[0];
  workloads[0].type = g5;
  workloads[1].name = "cpu/m5.4xl";
  workloads[1].kinds = cpu_kinds;
  workloads[1].n_kinds = sizeof cpu_kinds / sizeof cpu_kinds[0];
  workloads[1].type = m5;

  printf("bench_placement: %d copies of %d ICs onto %d empty instances, BINPACK, seed %llu,"
         " median of %d runs\n\n",
         N_COPIES, N_ICS, N_INSTANCES, (unsigned long long)seed, RUNS);
  printf("%-14s %7s %9s %6s %6s %6s | %9s %6s %6s %6s | %9s\n", "workload", "copies",
         "berth ms", "used", "bound", "ratio", "ff ms", "placed", "used", "ratio",
         "time b/ff");
  int rc = 0;
  char bounds[2][160];
  for (size_t k = 0; k < sizeof workloads / sizeof workloads[0]; k++) {
    workload *w = &workloads[k];
    workload_make(w, seed + k);
    int64_t per[4];
    int64_t lb = lower_bound(w, per);
    snprintf(bounds[k], sizeof bounds[k],
             "%s: bound per resource: cpu %lld, memory %lld, devices %lld, device memory %lld",
             w->name, (long long)per[0], (long long)per[1], (long long)per[2], (long long)per[3]);
    result b, ff;
    if (run_berth(w, &b) || run_first_fit(w, &ff)) {
      fprintf(stderr, "bench_placement: %s: a placement over-committed an instance\n", w->name);
      return 1;
    }
    printf("%-14s %7d %9.2f %6zu %6lld %6.3f | %9.2f %6d %6zu %6.3f | %9.3f\n", w->name,
           b.placed, b.ms, b.used, (long long)lb, (double)b.used / (double)lb, ff.ms, ff.placed,
           ff.used, (double)ff.used / (double)lb, b.ms / ff.ms);
    if ((size_t)b.placed != w->n_copies) rc = 1;
  }
  printf("\n");
  for (size_t k = 0; k < sizeof workloads / sizeof workloads[0]; k++) printf("%s\n", bounds[k]);
  printf("used = instances holding at least one copy; bound = max over resources of\n"
         "ceil(total demand / per-instance capacity); ff = first-fit in the given order.\n");
  return rc;
}

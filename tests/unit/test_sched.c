/* Unit tests for sched: table-driven cases for each rule, then property tests
 * over many seeded random fleets (never over-committed, SPREAD spreads,
 * deterministic, batch == copy by copy), and the batch placer's speed. */
#include "berth/sched.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"

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

static sched_instance inst_make(int64_t cpu, int64_t mem, int ndev, int64_t dev_mem) {
  sched_instance in;
  memset(&in, 0, sizeof in);
  in.cpu_milli = cpu;
  in.mem_mb = mem;
  in.n_devices = ndev;
  in.dev_mem_mb = dev_mem;
  in.accepting = 1;
  return in;
}

static sched_need need_make(int64_t cpu, int64_t mem, int32_t dev, int64_t dev_mem) {
  sched_need nd = {cpu, mem, dev, dev_mem};
  return nd;
}

/* ---- table-driven cases ---- */

typedef struct place_case {
  const char *name;
  sched_strategy strategy;
  sched_need need;
  int rc;                 /* expected return */
  int instance;           /* expected instance when rc == 0 */
  int n_devices;
  int devices[4];
} place_case;

/* Fleet for the table: 0 small CPU box, 1 half-used CPU box, 2 GPU box with
 * device 1 a quarter used, 3 draining big box, 4 bigger GPU box holding one
 * copy of the IC under test. */
static void table_fleet(sched_instance f[5], uint32_t same[5]) {
  f[0] = inst_make(2000, 4096, 0, 0);
  f[1] = inst_make(8000, 32768, 0, 0);
  f[1].cpu_milli_used = 4000;
  f[1].mem_mb_used = 16384;
  f[2] = inst_make(8000, 32768, 4, 16384);
  f[2].dev_milli_used[1] = 250;
  f[2].dev_mem_mb_used[1] = 4096;
  f[3] = inst_make(64000, 262144, 8, 81920);
  f[3].accepting = 0;
  f[4] = inst_make(16000, 32768, 2, 16384);
  for (int i = 0; i < 5; i++) same[i] = 0;
  same[4] = 1;
}

static const place_case place_cases[] = {
  /* BINPACK: the fullest after placement. 0 ends at 1500/2000 CPU = 0.75,
   * 1 at 5500/8000 = 0.69: 0. With 1000m, 0 ends at 0.5 and 1 at 0.625: 1. */
  {"binpack fullest after", SCHED_BINPACK, {1500, 1024, 0, 0}, 0, 0, 0, {0}},
  {"binpack small cpu", SCHED_BINPACK, {1000, 1024, 0, 0}, 0, 1, 0, {0}},
  /* 0 cannot hold 3000m; 1 ends at 7000/8000. */
  {"binpack skips too small", SCHED_BINPACK, {3000, 1024, 0, 0}, 0, 1, 0, {0}},
  /* SPREAD: 4 holds a copy already, others do not; among 0,1,2 best fit is 1. */
  {"spread avoids holder", SCHED_SPREAD, {1000, 1024, 0, 0}, 0, 1, 0, {0}},
  /* Only 4 is big enough for 9000m: SPREAD still places there. */
  {"spread falls back to holder", SCHED_SPREAD, {9000, 1024, 0, 0}, 0, 4, 0, {0}},
  /* Only GPU boxes fit a device; SPREAD avoids 4, so 2. */
  {"spread gpu", SCHED_SPREAD, {1000, 1024, 1000, 8192}, 0, 2, 1, {0}},
  /* BINPACK: 4 ends 1/2 devices used, 2 ends (250+1000)/4000: 4 wins. */
  {"binpack gpu", SCHED_BINPACK, {1000, 1024, 1000, 8192}, 0, 4, 1, {0}},
  /* Whole devices on 2 skip the shared device 1. */
  {"whole devices skip shared", SCHED_SPREAD, {1000, 1024, 3000, 0}, 0, 2, 3, {0, 2, 3}},
  /* A share packs onto the device already used (1), not a free one. */
  {"share packs", SCHED_SPREAD, {500, 512, 250, 2048}, 0, 2, 1, {1}},
  /* Device memory: 1 has 12288 free, so 14000 goes to free device 0. */
  {"share needs device memory", SCHED_SPREAD, {500, 512, 250, 14000}, 0, 2, 1, {0}},
  /* Only the draining box has 8 devices: nothing fits. */
  {"draining never chosen", SCHED_BINPACK, {1000, 1024, 8000, 0}, -ENOSPC, 0, 0, {0}},
  {"too much cpu", SCHED_SPREAD, {17000, 1024, 0, 0}, -ENOSPC, 0, 0, {0}},
  {"device memory too big", SCHED_SPREAD, {1000, 1024, 1000, 20000}, -ENOSPC, 0, 0, {0}},
  {"malformed share", SCHED_SPREAD, {1000, 1024, 1500, 0}, -EINVAL, 0, 0, {0}},
  {"negative cpu", SCHED_SPREAD, {-1, 1024, 0, 0}, -EINVAL, 0, 0, {0}},
};

static void test_table(void) {
  for (size_t k = 0; k < sizeof place_cases / sizeof place_cases[0]; k++) {
    const place_case *pc = &place_cases[k];
    sched_instance f[5];
    uint32_t same[5];
    table_fleet(f, same);
    sched_assignment a;
    int rc = sched_place(f, 5, same, &pc->need, pc->strategy, &a);
    if (rc != pc->rc) fprintf(stderr, "case: %s\n", pc->name);
    CHECK_INT(rc, pc->rc);
    if (rc != 0 || pc->rc != 0) continue;
    if (a.instance != pc->instance) fprintf(stderr, "case: %s\n", pc->name);
    CHECK_INT(a.instance, pc->instance);
    CHECK_INT(a.n_devices, pc->n_devices);
    for (int j = 0; j < pc->n_devices && j < a.n_devices; j++)
      CHECK_INT(a.devices[j], pc->devices[j]);
  }
}

/* Four quarter-device copies share one device; the fifth opens another. */
static void test_fractional_sharing(void) {
  sched_instance in = inst_make(16000, 65536, 2, 16384);
  sched_need q = need_make(100, 100, 250, 4096);
  for (int k = 0; k < 4; k++) {
    sched_assignment a;
    CHECK_INT(sched_place(&in, 1, NULL, &q, SCHED_BINPACK, &a), 0);
    CHECK_INT(a.n_devices, 1);
    CHECK_INT(a.devices[0], 0);
    CHECK_INT(a.dev_milli_each, 250);
    sched_reserve(&in, &q, &a);
  }
  CHECK_INT(in.dev_milli_used[0], 1000);
  CHECK_INT(in.dev_mem_mb_used[0], 16384);
  sched_assignment a;
  CHECK_INT(sched_place(&in, 1, NULL, &q, SCHED_BINPACK, &a), 0);
  CHECK_INT(a.devices[0], 1);
  sched_reserve(&in, &q, &a);
  /* Device 1 is shared now, so a whole-device copy has none left. */
  sched_need whole = need_make(100, 100, 1000, 0);
  CHECK_INT(sched_place(&in, 1, NULL, &whole, SCHED_BINPACK, &a), -ENOSPC);
  /* Releasing the share frees device 1 for it again. */
  sched_assignment rel = {0, 1, {1}, 250};
  sched_release(&in, &q, &rel);
  CHECK_INT(in.dev_milli_used[1], 0);
  CHECK_INT(sched_place(&in, 1, NULL, &whole, SCHED_BINPACK, &a), 0);
  CHECK_INT(a.devices[0], 1);
}

/* Whole-device copies take distinct devices until none are left. */
static void test_whole_devices_distinct(void) {
  sched_instance in = inst_make(96000, 1 << 20, 8, 40960);
  sched_need two = need_make(1000, 1024, 2000, 30000);
  int seen[8] = {0};
  for (int k = 0; k < 4; k++) {
    sched_assignment a;
    CHECK_INT(sched_place(&in, 1, NULL, &two, SCHED_SPREAD, &a), 0);
    CHECK_INT(a.n_devices, 2);
    CHECK(a.devices[0] < a.devices[1]);
    CHECK_INT(a.dev_milli_each, 1000);
    for (int j = 0; j < a.n_devices; j++) seen[a.devices[j]]++;
    sched_reserve(&in, &two, &a);
  }
  for (int d = 0; d < 8; d++) CHECK_INT(seen[d], 1);
  sched_assignment a;
  CHECK_INT(sched_place(&in, 1, NULL, &two, SCHED_SPREAD, &a), -ENOSPC);
}

static void test_edges(void) {
  sched_assignment a;
  sched_need small = need_make(1, 1, 0, 0);
  CHECK_INT(sched_place(NULL, 0, NULL, &small, SCHED_SPREAD, &a), -ENOSPC);

  sched_instance off = inst_make(8000, 8192, 0, 0);
  off.accepting = 0;
  CHECK_INT(sched_place(&off, 1, NULL, &small, SCHED_SPREAD, &a), -ENOSPC);
  CHECK(sched_fits_empty(&off, &small)); /* capacity only */

  sched_instance gpu = inst_make(8000, 8192, 1, 16384);
  CHECK(sched_fits_empty(&gpu, &(sched_need){8000, 8192, 1000, 16384}));
  CHECK(!sched_fits_empty(&gpu, &(sched_need){8000, 8192, 2000, 0}));
  CHECK(!sched_fits_empty(&gpu, &(sched_need){8000, 8192, 500, 16385}));
  CHECK(!sched_fits_empty(&gpu, &(sched_need){8001, 1, 0, 0}));
  CHECK(sched_need_valid(&(sched_need){0, 0, 3000, 0}));
  CHECK(!sched_need_valid(&(sched_need){0, 0, 1001, 0}));

  /* Exactly full fits; one more does not. */
  sched_instance box = inst_make(2000, 2048, 0, 0);
  sched_need half = need_make(1000, 1024, 0, 0);
  for (int k = 0; k < 2; k++) {
    CHECK_INT(sched_place(&box, 1, NULL, &half, SCHED_BINPACK, &a), 0);
    sched_reserve(&box, &half, &a);
  }
  CHECK_INT(sched_place(&box, 1, NULL, &half, SCHED_BINPACK, &a), -ENOSPC);

  /* Ties go to the lower index. */
  sched_instance twins[3] = {inst_make(4000, 4096, 0, 0), inst_make(4000, 4096, 0, 0),
                             inst_make(4000, 4096, 0, 0)};
  twins[0].accepting = 0;
  CHECK_INT(sched_place(twins, 3, NULL, &half, SCHED_BINPACK, &a), 0);
  CHECK_INT(a.instance, 1);

  /* Batch: bad IC index is refused; empty input places nothing. */
  uint32_t ic = 5;
  CHECK_INT(sched_place_all(twins, 3, &half, &ic, 1, 2, SCHED_SPREAD, &a), -EINVAL);
  CHECK_INT(sched_place_all(twins, 3, NULL, NULL, 0, 0, SCHED_SPREAD, NULL), 0);
}

/* ---- properties over random fleets ---- */

static void random_fleet(sched_instance *f, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int64_t cpu = rng_range(1, 48) * 2000;
    int64_t mem = rng_range(1, 64) * 4096;
    int ndev = (int)(rng_next() % 3 == 0 ? rng_range(1, 8) : 0);
    int64_t dev_mem = rng_range(1, 10) * 8192;
    f[i] = inst_make(cpu, mem, ndev, dev_mem);
    f[i].accepting = rng_next() % 8 != 0;
    if (rng_next() % 4 == 0) { /* some already in use */
      f[i].cpu_milli_used = rng_range(0, cpu);
      f[i].mem_mb_used = rng_range(0, mem);
      for (int d = 0; d < ndev; d++)
        if (rng_next() % 2) {
          f[i].dev_milli_used[d] = (int32_t)rng_range(0, 4) * 250;
          f[i].dev_mem_mb_used[d] = f[i].dev_milli_used[d] ? rng_range(0, dev_mem) : 0;
        }
    }
  }
}

static sched_need random_need(void) {
  static const int32_t devs[] = {0, 0, 0, 250, 333, 500, 1000, 1000, 2000, 4000};
  sched_need nd;
  nd.cpu_milli = rng_range(1, 16) * 250;
  nd.mem_mb = rng_range(1, 64) * 512;
  nd.dev_milli = devs[rng_next() % (sizeof devs / sizeof devs[0])];
  nd.dev_mem_mb = nd.dev_milli ? rng_range(0, 8) * 4096 : 0;
  return nd;
}

static int overcommitted(const sched_instance *in) {
  if (in->cpu_milli_used > in->cpu_milli || in->mem_mb_used > in->mem_mb) return 1;
  for (int d = 0; d < in->n_devices; d++)
    if (in->dev_milli_used[d] > 1000 || in->dev_mem_mb_used[d] > in->dev_mem_mb) return 1;
  return 0;
}

static int assignment_ok(const sched_instance *in, const sched_need *nd,
                         const sched_assignment *a) {
  int want = nd->dev_milli >= 1000 ? nd->dev_milli / 1000 : nd->dev_milli > 0;
  if (a->n_devices != want) return 0;
  if (want && a->dev_milli_each != (nd->dev_milli >= 1000 ? 1000 : nd->dev_milli)) return 0;
  for (int j = 0; j < a->n_devices; j++) {
    if (a->devices[j] < 0 || a->devices[j] >= in->n_devices) return 0;
    if (j && a->devices[j] <= a->devices[j - 1]) return 0;
  }
  return 1;
}

#define FLEET_MAX 40
#define COPIES_MAX 200
#define ICS 6

/* One random trial, copy by copy: returns the assignments in out. */
static void trial_sequential(uint64_t seed, sched_strategy strategy,
                             sched_assignment out[COPIES_MAX], int rcs[COPIES_MAX],
                             int check_props) {
  rng_state = seed;
  size_t n = (size_t)rng_range(1, FLEET_MAX);
  sched_instance f[FLEET_MAX];
  random_fleet(f, n);
  sched_need ic_need[ICS];
  for (int k = 0; k < ICS; k++) ic_need[k] = random_need();
  uint32_t same[ICS][FLEET_MAX];
  memset(same, 0, sizeof same);
  int pre_over[FLEET_MAX];
  for (size_t i = 0; i < n; i++) pre_over[i] = overcommitted(&f[i]);

  for (int c = 0; c < COPIES_MAX; c++) {
    int ic = (int)(rng_next() % ICS);
    sched_need *nd = &ic_need[ic];
    rcs[c] = sched_place(f, n, same[ic], nd, strategy, &out[c]);
    if (rcs[c] != 0) {
      if (check_props) { /* -ENOSPC: truly nothing fits */
        CHECK_INT(rcs[c], -ENOSPC);
        for (size_t i = 0; i < n; i++) {
          sched_assignment tmp;
          CHECK(!f[i].accepting || sched_place(&f[i], 1, NULL, nd, strategy, &tmp) != 0);
        }
      }
      continue;
    }
    size_t at = (size_t)out[c].instance;
    if (check_props) {
      CHECK(at < n);
      CHECK(f[at].accepting);
      CHECK(assignment_ok(&f[at], nd, &out[c]));
      if (strategy == SCHED_SPREAD) {
        /* No fitting accepting instance holds fewer copies of this IC. */
        for (size_t i = 0; i < n; i++) {
          sched_assignment tmp;
          if (same[ic][i] < same[ic][at] && f[i].accepting)
            CHECK(sched_place(&f[i], 1, NULL, nd, strategy, &tmp) != 0);
        }
      }
    }
    sched_reserve(&f[at], nd, &out[c]);
    same[ic][at]++;
    if (check_props)
      for (size_t i = 0; i < n; i++)
        if (!pre_over[i] && overcommitted(&f[i])) {
          CHECK_FAIL_("seed %llu: instance %zu over-committed",
                      (unsigned long long)seed, i);
          return;
        }
  }
}

static void test_properties(void) {
  static sched_assignment a1[COPIES_MAX], a2[COPIES_MAX];
  static int r1[COPIES_MAX], r2[COPIES_MAX];
  int before = check_failures;
  for (uint64_t seed = 1; seed <= 300 && check_failures == before; seed++) {
    for (int s = 0; s < 2; s++) {
      sched_strategy st = s ? SCHED_BINPACK : SCHED_SPREAD;
      trial_sequential(seed, st, a1, r1, 1);
      trial_sequential(seed, st, a2, r2, 0);
      CHECK_MEM(r1, sizeof r1, r2, sizeof r2);
      CHECK_MEM(a1, sizeof a1, a2, sizeof a2); /* deterministic */
    }
  }
}

/* The batch order as documented in sched.h, rebuilt here independently. */
typedef struct ord { double dom; const sched_need *need; uint32_t ic, copy; } ord;
static int cmp64(int64_t a, int64_t b) { return (a > b) - (a < b); }
static int ord_cmp(const void *pa, const void *pb) {
  const ord *a = pa, *b = pb;
  if (a->dom != b->dom) return a->dom > b->dom ? -1 : 1;
  int r = cmp64(a->need->cpu_milli, b->need->cpu_milli);
  if (!r) r = cmp64(a->need->mem_mb, b->need->mem_mb);
  if (!r) r = cmp64(a->need->dev_milli, b->need->dev_milli);
  if (!r) r = cmp64(a->need->dev_mem_mb, b->need->dev_mem_mb);
  if (!r) r = cmp64(a->ic, b->ic);
  if (!r) r = cmp64(a->copy, b->copy);
  return r;
}
static double dmax(double a, double b) { return a > b ? a : b; }

/* sched_place_all equals sched_place + sched_reserve in the documented order. */
static void test_batch_matches_sequential(void) {
  static sched_need needs[COPIES_MAX];
  static uint32_t ics[COPIES_MAX];
  static sched_assignment got[COPIES_MAX], want[COPIES_MAX];
  static ord order[COPIES_MAX];
  int before = check_failures;
  for (uint64_t seed = 1000; seed < 1300 && check_failures == before; seed++) {
    for (int s = 0; s < 2; s++) {
      sched_strategy st = s ? SCHED_BINPACK : SCHED_SPREAD;
      rng_state = seed;
      size_t n = (size_t)rng_range(1, FLEET_MAX);
      sched_instance f[FLEET_MAX], g[FLEET_MAX];
      random_fleet(f, n);
      memcpy(g, f, sizeof f);
      sched_need ic_need[ICS];
      for (int k = 0; k < ICS; k++) ic_need[k] = random_need();
      size_t nc = (size_t)rng_range(1, COPIES_MAX);
      for (size_t c = 0; c < nc; c++) {
        ics[c] = (uint32_t)(rng_next() % ICS);
        /* mostly the IC's need, sometimes a copy-specific one */
        needs[c] = rng_next() % 5 ? ic_need[ics[c]] : random_need();
      }
      int placed = sched_place_all(f, n, needs, ics, nc, ICS, st, got);

      double mc = 1, mm = 1, md = 1, mdm = 1;
      for (size_t i = 0; i < n; i++) {
        if (!g[i].accepting) continue;
        mc = dmax(mc, (double)g[i].cpu_milli);
        mm = dmax(mm, (double)g[i].mem_mb);
        md = dmax(md, (double)g[i].n_devices * 1000);
        mdm = dmax(mdm, (double)g[i].dev_mem_mb);
      }
      for (size_t c = 0; c < nc; c++) {
        const sched_need *nd = &needs[c];
        double d = dmax(dmax((double)nd->cpu_milli / mc, (double)nd->mem_mb / mm),
                        dmax(nd->dev_milli / md,
                             nd->dev_milli ? (double)nd->dev_mem_mb / mdm : 0));
        order[c] = (ord){d, nd, ics[c], (uint32_t)c};
      }
      qsort(order, nc, sizeof order[0], ord_cmp);
      uint32_t same[ICS][FLEET_MAX];
      memset(same, 0, sizeof same);
      int want_placed = 0;
      for (size_t k = 0; k < nc; k++) {
        uint32_t c = order[k].copy;
        memset(&want[c], 0, sizeof want[c]);
        want[c].instance = -1;
        sched_assignment a;
        if (sched_place(g, n, same[ics[c]], &needs[c], st, &a) != 0) continue;
        want[c] = a;
        sched_reserve(&g[a.instance], &needs[c], &a);
        same[ics[c]][a.instance]++;
        want_placed++;
      }
      CHECK_INT(placed, want_placed);
      CHECK_MEM(got, nc * sizeof got[0], want, nc * sizeof want[0]);
      CHECK_MEM(f, n * sizeof f[0], g, n * sizeof g[0]);
      for (size_t i = 0; i < n; i++)
        if (!overcommitted(&g[i]) && overcommitted(&f[i]))
          CHECK_FAIL_("seed %llu: instance %zu over-committed", (unsigned long long)seed, i);
    }
  }
}

/* Speed of the batch placer on 10,000 copies onto 1,000 instances. Printed,
 * never gated on (STYLE.md): times depend on the machine. */
static void bench_one(sched_strategy st, int n_ics, int n_shapes, const char *label) {
  enum { N = 1000, C = 10000 };
  sched_instance *f = calloc(N, sizeof *f);
  sched_need *needs = calloc(C, sizeof *needs);
  uint32_t *ics = calloc(C, sizeof *ics);
  sched_need *ic_need = calloc((size_t)n_ics, sizeof *ic_need);
  sched_assignment *out = calloc(C, sizeof *out);
  if (!f || !needs || !ics || !ic_need || !out) abort();
  rng_state = 42;
  for (int i = 0; i < N; i++) /* ml.g5.12xlarge-like: 48 vCPU, 192 GiB, 4 GPUs */
    f[i] = inst_make(48000, 196608, 4, 24576);
  for (int k = 0; k < n_ics; k++) {
    /* n_shapes distinct needs; ICs beyond that reuse them */
    ic_need[k] = k < n_shapes ? random_need() : ic_need[k % n_shapes];
    if (ic_need[k].dev_mem_mb > 24576) ic_need[k].dev_mem_mb = 24576;
  }
  for (int c = 0; c < C; c++) {
    ics[c] = (uint32_t)(c < n_ics ? c : (int)(rng_next() % (uint64_t)n_ics));
    needs[c] = ic_need[ics[c]];
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int placed = sched_place_all(f, N, needs, ics, C, (size_t)n_ics, st, out);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  printf("sched_place_all %s, %s: %d of %d copies on %d instances in %.2f ms\n",
         st == SCHED_SPREAD ? "SPREAD" : "BINPACK", label, placed, C, N, ms);
  CHECK(placed > 0);
  for (int i = 0; i < N; i++) CHECK(!overcommitted(&f[i]));
  free(out);
  free(ic_need);
  free(ics);
  free(needs);
  free(f);
}

static void bench_place_all(void) {
  bench_one(SCHED_SPREAD, 200, 200, "200 ICs");
  bench_one(SCHED_BINPACK, 200, 200, "200 ICs");
  bench_one(SCHED_SPREAD, 10000, 50, "10000 ICs of 50 shapes");
  bench_one(SCHED_BINPACK, 10000, 50, "10000 ICs of 50 shapes");
  /* Worst case for the tournament tree: every copy a different need. */
  bench_one(SCHED_SPREAD, 10000, 10000, "10000 distinct needs");
  bench_one(SCHED_BINPACK, 10000, 10000, "10000 distinct needs");
}

int main(void) {
  test_table();
  test_fractional_sharing();
  test_whole_devices_distinct();
  test_edges();
  test_properties();
  test_batch_matches_sequential();
  bench_place_all();
  CHECK_DONE();
}

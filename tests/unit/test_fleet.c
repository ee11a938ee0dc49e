/* Unit tests for fleet: table-driven cases for scale-out (exactly enough
 * instances, MaxInstanceCount, copies that never fit, MinInstanceCount),
 * IDLE_RELEASE (idle for the cooldown, oldest first, MaximumStepSize, never
 * below the minimum, never while growing, cooldown between scale-ins) and
 * CONSOLIDATION (least used instance whose copies fit elsewhere), then a
 * property test over seeded random fleets: what fleet_decide chooses to
 * evacuate can be moved, all of it together, without overcommitting any
 * remaining instance; releases and evacuations keep every rule; the answer
 * is deterministic. Instance pools: the cheapest type or mix for the
 * pending copies (ties by priority), fallback past unavailable types,
 * launch order, CONSOLIDATION replacing an instance by a cheaper type, and
 * a property test that the choice costs no more than any one type alone. */
#include "berth/fleet.h"

#include <stdlib.h>

#include "check.h"

/* ml.m5.large: 2 vCPU, 8 GiB. */
#define CPU_2 2000
#define MEM_8G 8192

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

static sched_instance res_make(int64_t cpu, int64_t mem) {
  sched_instance r;
  memset(&r, 0, sizeof r);
  r.cpu_milli = cpu;
  r.mem_mb = mem;
  r.accepting = 1;
  return r;
}

static sched_need need_make(int64_t cpu, int64_t mem) {
  sched_need nd = {cpu, mem, 0, 0};
  return nd;
}

/* A fleet under construction: instances of one type, the copies on them,
 * pending copies. Reservations follow the copies placed with put(). */
#define MAXI 16
#define MAXC 128
typedef struct fleet {
  fleet_instance inst[MAXI];
  size_t n;
  fleet_copy copies[MAXC];
  size_t nc;
  sched_need pending[MAXC];
  sched_strategy pstrat[MAXC];
  size_t np;
  sched_instance tmpl;
  double now, last_scale_in;
} fleet;

static void fleet_init(fleet *f, int64_t cpu, int64_t mem) {
  memset(f, 0, sizeof *f);
  f->tmpl = res_make(cpu, mem);
  f->now = 1000;
}

/* Adds an empty instance that became idle at idle_since. */
static size_t add_instance(fleet *f, double idle_since) {
  size_t i = f->n++;
  f->inst[i].res = f->tmpl;
  f->inst[i].res.accepting = 1;
  f->inst[i].idle_since = idle_since;
  return i;
}

/* Places a copy of IC ic needing cpu/mem on instance i. */
static void put(fleet *f, size_t i, int64_t cpu, int64_t mem, int ic) {
  fleet_copy *c = &f->copies[f->nc++];
  c->instance = i;
  c->need = need_make(cpu, mem);
  c->strategy = SCHED_BINPACK;
  c->ic = ic;
  f->inst[i].res.cpu_milli_used += cpu;
  f->inst[i].res.mem_mb_used += mem;
  f->inst[i].copies++;
  f->inst[i].idle_since = 0;
}

static void add_pending(fleet *f, int64_t cpu, int64_t mem, int count) {
  for (int k = 0; k < count; k++) {
    f->pending[f->np] = need_make(cpu, mem);
    f->pstrat[f->np++] = SCHED_BINPACK;
  }
}

static void decide(const fleet *f, const fleet_policy *p, fleet_actions *a) {
  fleet_input in;
  memset(&in, 0, sizeof in);
  in.instances = f->inst;
  in.n_instances = f->n;
  in.copies = f->copies;
  in.n_copies = f->nc;
  in.pending = f->pending;
  in.pending_strategy = f->pstrat;
  in.n_pending = f->np;
  in.template_instance = f->tmpl;
  in.now = f->now;
  in.last_scale_in = f->last_scale_in;
  fleet_decide(p, &in, a);
}

static fleet_policy policy(int min, int max, fleet_scale_in strategy, int step, double cooldown) {
  fleet_policy p = {1, min, max, strategy, step, cooldown};
  return p;
}

/* ---- scale-out ---- */

typedef struct out_case {
  const char *name;
  int full_instances;      /* instances already there, each full */
  int min, max;
  int64_t cpu;             /* per pending copy */
  int64_t mem;
  int pending;
  int add, blocked, never;
} out_case;

static const out_case out_cases[] = {
  /* 1-CPU copies on 2-vCPU instances: two per instance. */
  {"1 pending, 1 instance", 1, 1, 3, 1000, 256, 1, 1, 0, 0},
  {"2 pending, 1 instance", 1, 1, 3, 1000, 256, 2, 1, 0, 0},
  {"3 pending, 2 instances", 1, 1, 4, 1000, 256, 3, 2, 0, 0},
  {"4 pending, 2 instances", 1, 1, 4, 1000, 256, 4, 2, 0, 0},
  {"5 pending, 3 instances", 0, 0, 8, 1000, 256, 5, 3, 0, 0},
  /* Memory bound: 3 GiB copies, two per 8 GiB instance. */
  {"memory bound", 1, 1, 8, 250, 3072, 5, 3, 0, 0},
  /* Room for one more instance (2 of 3): adds it, 2 copies fit, 3 do not. */
  {"capped by max", 2, 1, 3, 1000, 256, 5, 1, 3, 0},
  {"at max", 3, 1, 3, 1000, 256, 1, 0, 1, 0},
  /* Never fits: more CPU or memory than an empty instance has. */
  {"too much cpu", 1, 1, 3, 3000, 256, 2, 0, 0, 2},
  {"too much memory", 1, 1, 3, 500, 9000, 1, 0, 0, 1},
};

static void test_scale_out_table(void) {
  for (size_t k = 0; k < sizeof out_cases / sizeof out_cases[0]; k++) {
    const out_case *c = &out_cases[k];
    fleet f;
    fleet_init(&f, CPU_2, MEM_8G);
    for (int i = 0; i < c->full_instances; i++) {
      size_t x = add_instance(&f, 0);
      put(&f, x, 1000, 256, 0);
      put(&f, x, 1000, 256, 0);
    }
    add_pending(&f, c->cpu, c->mem, c->pending);
    fleet_policy p = policy(c->min, c->max, FLEET_IDLE_RELEASE, 1, 60);
    fleet_actions a;
    decide(&f, &p, &a);
    if (a.add != c->add || a.pending_blocked != c->blocked || a.never_fits != c->never)
      fprintf(stderr, "case \"%s\": add %d blocked %d never_fits %d\n", c->name, a.add,
              a.pending_blocked, a.never_fits);
    CHECK_INT(a.add, c->add);
    CHECK_INT(a.pending_blocked, c->blocked);
    CHECK_INT(a.never_fits, c->never);
    CHECK(c->full_instances + a.add <= c->max);
    CHECK_INT(a.n_release, 0);
    CHECK_INT(a.n_evacuate, 0);
  }
}

static void test_scale_out_mixed(void) {
  fleet f;
  fleet_init(&f, CPU_2, MEM_8G);
  size_t x = add_instance(&f, 0);
  put(&f, x, 2000, 256, 0);
  /* 1500 + 500 fill one instance, so do the next two: 2 instances. */
  add_pending(&f, 1500, 256, 1);
  add_pending(&f, 500, 256, 1);
  add_pending(&f, 1500, 256, 1);
  add_pending(&f, 500, 256, 1);
  /* One that never fits changes nothing but never_fits. */
  add_pending(&f, 4000, 256, 1);
  fleet_policy p = policy(1, 10, FLEET_IDLE_RELEASE, 1, 60);
  fleet_actions a;
  decide(&f, &p, &a);
  CHECK_INT(a.add, 2);
  CHECK_INT(a.never_fits, 1);
  CHECK_INT(a.pending_blocked, 0);

  /* Only copies that never fit: nothing to add, nothing released either. */
  fleet g;
  fleet_init(&g, CPU_2, MEM_8G);
  add_instance(&g, 0);
  add_instance(&g, 0);
  add_pending(&g, 2500, 256, 3);
  g.now = 1e6;
  decide(&g, &p, &a);
  CHECK_INT(a.add, 0);
  CHECK_INT(a.never_fits, 3);
  CHECK_INT(a.n_release, 0);
}

static void test_min_instances(void) {
  fleet f;
  fleet_policy p;
  fleet_actions a;
  /* No instances, nothing pending: MinInstanceCount. */
  fleet_init(&f, CPU_2, MEM_8G);
  p = policy(2, 4, FLEET_IDLE_RELEASE, 1, 60);
  decide(&f, &p, &a);
  CHECK_INT(a.add, 2);
  CHECK_INT(a.pending_blocked, 0);
  /* Pending copies use the minimum's instances first: 3 copies need 2. */
  add_pending(&f, 1000, 256, 3);
  decide(&f, &p, &a);
  CHECK_INT(a.add, 2);
  /* 5 copies need 3 instances: one more than the minimum. */
  add_pending(&f, 1000, 256, 2);
  decide(&f, &p, &a);
  CHECK_INT(a.add, 3);
  /* Below the minimum with an idle instance: grow, never release. */
  fleet_init(&f, CPU_2, MEM_8G);
  add_instance(&f, 1);
  f.now = 1e6;
  p = policy(2, 4, FLEET_IDLE_RELEASE, 1, 60);
  decide(&f, &p, &a);
  CHECK_INT(a.add, 1);
  CHECK_INT(a.n_release, 0);
  /* Not managed: nothing at all. */
  p.managed = 0;
  add_pending(&f, 1000, 256, 3);
  decide(&f, &p, &a);
  CHECK_INT(a.add, 0);
  CHECK_INT(a.n_release, 0);
  CHECK_INT(a.n_evacuate, 0);
}

/* ---- IDLE_RELEASE ---- */

static void test_idle_release(void) {
  fleet f;
  fleet_actions a;
  fleet_policy p = policy(1, 5, FLEET_IDLE_RELEASE, 1, 100);
  /* 0 busy, 1 idle since 950 (not long enough at 1000), 2 idle since 850,
   * 3 idle since 800 (the oldest). */
  fleet_init(&f, CPU_2, MEM_8G);
  size_t busy = add_instance(&f, 0);
  put(&f, busy, 1000, 256, 0);
  add_instance(&f, 950);
  add_instance(&f, 850);
  add_instance(&f, 800);
  f.now = 1000;
  decide(&f, &p, &a);
  CHECK_INT(a.add, 0);
  CHECK_INT(a.n_release, 1);
  CHECK_INT(a.release[0], 3);
  CHECK_INT(a.n_evacuate, 0);
  /* Step 3: every instance idle for the cooldown, oldest first; 1 is not. */
  p.max_step = 3;
  decide(&f, &p, &a);
  CHECK_INT(a.n_release, 2);
  CHECK_INT(a.release[0], 3);
  CHECK_INT(a.release[1], 2);
  /* Idle for exactly the cooldown counts; a moment less does not. */
  fleet g;
  fleet_init(&g, CPU_2, MEM_8G);
  put(&g, add_instance(&g, 0), 500, 256, 0);
  add_instance(&g, 900);
  g.now = 1000;
  p = policy(1, 5, FLEET_IDLE_RELEASE, 1, 100);
  decide(&g, &p, &a);
  CHECK_INT(a.n_release, 1);
  CHECK_INT(a.release[0], 1);
  g.now = 999.5;
  decide(&g, &p, &a);
  CHECK_INT(a.n_release, 0);
  /* Ties on idle_since: the lower index. */
  fleet_init(&g, CPU_2, MEM_8G);
  put(&g, add_instance(&g, 0), 500, 256, 0);
  add_instance(&g, 500);
  add_instance(&g, 500);
  g.now = 1000;
  decide(&g, &p, &a);
  CHECK_INT(a.n_release, 1);
  CHECK_INT(a.release[0], 1);
}

static void test_idle_release_never_below_min(void) {
  fleet f;
  fleet_actions a;
  /* Four idle instances, minimum 2, step 10: two released, the oldest. */
  fleet_init(&f, CPU_2, MEM_8G);
  add_instance(&f, 40);
  add_instance(&f, 10);
  add_instance(&f, 30);
  add_instance(&f, 20);
  f.now = 1000;
  fleet_policy p = policy(2, 5, FLEET_IDLE_RELEASE, 10, 100);
  decide(&f, &p, &a);
  CHECK_INT(a.n_release, 2);
  CHECK_INT(a.release[0], 1);
  CHECK_INT(a.release[1], 3);
  /* At the minimum: nothing. Minimum 0: all four. */
  p.min_instances = 4;
  decide(&f, &p, &a);
  CHECK_INT(a.n_release, 0);
  p.min_instances = 0;
  decide(&f, &p, &a);
  CHECK_INT(a.n_release, 4);
}

static void test_idle_release_not_while_growing(void) {
  fleet f;
  fleet_actions a;
  fleet_policy p = policy(1, 5, FLEET_IDLE_RELEASE, 2, 100);
  fleet_init(&f, CPU_2, MEM_8G);
  size_t x = add_instance(&f, 0);
  put(&f, x, 2000, 256, 0);
  add_instance(&f, 1);
  add_instance(&f, 2);
  f.now = 1000;
  decide(&f, &p, &a);
  CHECK_INT(a.n_release, 2);
  /* A pending copy (an instance is added for it): nothing released. */
  add_pending(&f, 1500, 256, 1);
  decide(&f, &p, &a);
  CHECK_INT(a.n_release, 0);
  CHECK_INT(a.n_evacuate, 0);
  /* A pending copy blocked at MaxInstanceCount: still no release. */
  p.max_instances = 3;
  decide(&f, &p, &a);
  CHECK_INT(a.add, 0);
  CHECK(a.pending_blocked > 0);
  CHECK_INT(a.n_release, 0);
  /* CONSOLIDATION neither. */
  p.strategy = FLEET_CONSOLIDATION;
  decide(&f, &p, &a);
  CHECK_INT(a.n_release, 0);
  CHECK_INT(a.n_evacuate, 0);
}

static void test_scale_in_cooldown(void) {
  fleet f;
  fleet_actions a;
  fleet_policy p = policy(1, 5, FLEET_IDLE_RELEASE, 1, 100);
  fleet_init(&f, CPU_2, MEM_8G);
  put(&f, add_instance(&f, 0), 1000, 256, 0);
  add_instance(&f, 10);
  f.now = 1000;
  f.last_scale_in = 950; /* 50 s ago */
  decide(&f, &p, &a);
  CHECK_INT(a.n_release, 0);
  f.last_scale_in = 900; /* 100 s ago: the cooldown has passed */
  decide(&f, &p, &a);
  CHECK_INT(a.n_release, 1);
  f.last_scale_in = 0; /* never */
  decide(&f, &p, &a);
  CHECK_INT(a.n_release, 1);
  /* The cooldown holds consolidation back too. */
  fleet g;
  fleet_init(&g, CPU_2, MEM_8G);
  put(&g, add_instance(&g, 0), 1000, 256, 0);
  put(&g, add_instance(&g, 0), 500, 256, 1);
  g.now = 1000;
  g.last_scale_in = 990;
  p.strategy = FLEET_CONSOLIDATION;
  decide(&g, &p, &a);
  CHECK_INT(a.n_evacuate, 0);
  g.last_scale_in = 800;
  decide(&g, &p, &a);
  CHECK_INT(a.n_evacuate, 1);
  CHECK_INT(a.evacuate[0], 1);
}

/* ---- CONSOLIDATION ---- */

static void test_consolidation(void) {
  fleet f;
  fleet_actions a;
  fleet_policy p = policy(1, 5, FLEET_CONSOLIDATION, 1, 100);
  /* 4-vCPU instances: 0 at 3000, 1 at 1000 (least used), 2 at 2000. */
  fleet_init(&f, 4000, 16384);
  size_t i0 = add_instance(&f, 0), i1 = add_instance(&f, 0), i2 = add_instance(&f, 0);
  for (int k = 0; k < 3; k++) put(&f, i0, 1000, 256, 0);
  put(&f, i1, 1000, 256, 1);
  put(&f, i2, 1000, 256, 2);
  put(&f, i2, 1000, 256, 2);
  decide(&f, &p, &a);
  CHECK_INT(a.n_release, 0);
  CHECK_INT(a.n_evacuate, 1);
  CHECK_INT(a.evacuate[0], 1);
  /* IDLE_RELEASE never evacuates. */
  p.strategy = FLEET_IDLE_RELEASE;
  decide(&f, &p, &a);
  CHECK_INT(a.n_evacuate, 0);
  p.strategy = FLEET_CONSOLIDATION;
  /* At the minimum: nothing. */
  p.min_instances = 3;
  decide(&f, &p, &a);
  CHECK_INT(a.n_evacuate, 0);
  p.min_instances = 1;
  /* An instance idle for the cooldown is released instead. */
  add_instance(&f, 1);
  decide(&f, &p, &a);
  CHECK_INT(a.n_release, 1);
  CHECK_INT(a.release[0], 3);
  CHECK_INT(a.n_evacuate, 0);
}

static void test_consolidation_only_what_fits(void) {
  fleet f;
  fleet_actions a;
  fleet_policy p = policy(1, 5, FLEET_CONSOLIDATION, 1, 100);
  /* 0: one 1500 copy (least used, 0.375) fits on neither 1 nor 2 (1000
   * free each); 1: one 3000 copy fits on neither; 2: three 1000 copies fit
   * on 0 (two) and 1 (one). So 2 goes, though the most used. */
  fleet_init(&f, 4000, 16384);
  size_t i0 = add_instance(&f, 0), i1 = add_instance(&f, 0), i2 = add_instance(&f, 0);
  put(&f, i0, 1500, 256, 0);
  put(&f, i1, 3000, 256, 1);
  for (int k = 0; k < 3; k++) put(&f, i2, 1000, 256, 2);
  decide(&f, &p, &a);
  CHECK_INT(a.n_evacuate, 1);
  CHECK_INT(a.evacuate[0], 2);
  /* Memory decides too: CPU has room either way, memory does not. */
  fleet m;
  fleet_init(&m, CPU_2, MEM_8G);
  put(&m, add_instance(&m, 0), 500, 6000, 0);
  put(&m, add_instance(&m, 0), 500, 4096, 1);
  decide(&m, &p, &a);
  CHECK_INT(a.n_evacuate, 0);
  /* Two instances, each with a copy too big for the other's room. */
  fleet g;
  fleet_init(&g, CPU_2, MEM_8G);
  put(&g, add_instance(&g, 0), 1500, 256, 0);
  put(&g, add_instance(&g, 0), 1000, 256, 1);
  decide(&g, &p, &a);
  CHECK_INT(a.n_evacuate, 0);
  /* A destination that is not accepting (starting, draining) is no room:
   * 0 holds 1500, 1 holds 500 (least used), 2 is full. 1's copy fits only
   * on 0, so once 0 stops accepting, 1 stays. */
  fleet h;
  fleet_init(&h, CPU_2, MEM_8G);
  put(&h, add_instance(&h, 0), 1500, 256, 0);
  put(&h, add_instance(&h, 0), 500, 256, 1);
  put(&h, add_instance(&h, 0), 2000, 256, 2);
  decide(&h, &p, &a);
  CHECK_INT(a.n_evacuate, 1);
  CHECK_INT(a.evacuate[0], 1);
  h.inst[0].res.accepting = 0;
  decide(&h, &p, &a);
  for (size_t k = 0; k < a.n_evacuate; k++) CHECK(a.evacuate[k] != 1);
  /* Nor is an instance already being evacuated. */
  h.inst[0].evacuating = 1;
  decide(&h, &p, &a);
  CHECK_INT(a.n_evacuate, 0);
}

/* Moves every copy of the chosen instances, in the order given, onto the
 * instances that stay (accepting, not evacuating, not chosen), first fit as
 * sched places them. Returns 1 when all of them fit. */
static int joint_move_fits(const fleet *f, const size_t *chosen, size_t n_chosen,
                           int largest_first) {
  sched_instance sim[MAXI];
  for (size_t i = 0; i < f->n; i++) {
    sim[i] = f->inst[i].res;
    if (f->inst[i].evacuating) sim[i].accepting = 0;
  }
  for (size_t k = 0; k < n_chosen; k++) sim[chosen[k]].accepting = 0;
  const fleet_copy *order[MAXC];
  size_t no = 0;
  for (size_t k = 0; k < n_chosen; k++)
    for (size_t c = 0; c < f->nc; c++)
      if (f->copies[c].instance == chosen[k]) order[no++] = &f->copies[c];
  if (largest_first) /* insertion sort by CPU, then memory, descending */
    for (size_t i = 1; i < no; i++)
      for (size_t j = i; j > 0; j--) {
        const sched_need *x = &order[j - 1]->need, *y = &order[j]->need;
        if (x->cpu_milli > y->cpu_milli ||
            (x->cpu_milli == y->cpu_milli && x->mem_mb >= y->mem_mb))
          break;
        const fleet_copy *t = order[j - 1];
        order[j - 1] = order[j];
        order[j] = t;
      }
  for (size_t k = 0; k < no; k++) {
    sched_assignment as;
    if (sched_place(sim, f->n, NULL, &order[k]->need, SCHED_BINPACK, &as) != 0) return 0;
    sched_reserve(&sim[as.instance], &order[k]->need, &as);
    if (sim[as.instance].cpu_milli_used > sim[as.instance].cpu_milli ||
        sim[as.instance].mem_mb_used > sim[as.instance].mem_mb)
      return 0;
  }
  return 1;
}

/* With MaximumStepSize 3, several instances may be chosen in one decision;
 * their copies then move together. 0, 1, 2 hold one 1000 copy each, 3 is full:
 * either of 0 and 1 fits on the others, but not both (only 2 has room, for
 * one copy). At most one may be evacuated. */
static void test_consolidation_step_jointly(void) {
  fleet f;
  fleet_actions a;
  fleet_policy p = policy(1, 5, FLEET_CONSOLIDATION, 3, 100);
  fleet_init(&f, CPU_2, MEM_8G);
  for (int k = 0; k < 3; k++) put(&f, add_instance(&f, 0), 1000, 256, k);
  size_t full = add_instance(&f, 0);
  put(&f, full, 1000, 256, 3);
  put(&f, full, 1000, 256, 3);
  decide(&f, &p, &a);
  if (a.n_evacuate > 1)
    fprintf(stderr, "step 3 evacuates %zu instances (%zu, %zu) whose copies cannot all "
            "move: 2 copies, room for 1\n", a.n_evacuate, a.evacuate[0], a.evacuate[1]);
  CHECK_INT(a.n_evacuate, 1);
  CHECK(joint_move_fits(&f, a.evacuate, a.n_evacuate, 0));
  /* 3-vCPU instances: 3 has room for one more, so two of 0, 1, 2 may go
   * (their two copies fill 3 and the one left), not all three. One is
   * enough to pass: MaximumStepSize is a maximum. */
  fleet_init(&f, 3000, MEM_8G);
  for (int k = 0; k < 3; k++) put(&f, add_instance(&f, 0), 1000, 256, k);
  full = add_instance(&f, 0);
  put(&f, full, 1000, 256, 3);
  put(&f, full, 1000, 256, 3);
  decide(&f, &p, &a);
  CHECK(a.n_evacuate >= 1 && a.n_evacuate <= 2);
  CHECK(joint_move_fits(&f, a.evacuate, a.n_evacuate, 0));
}

/* ---- properties over random fleets ---- */

static void random_fleet(fleet *f, fleet_policy *p) {
  static const int64_t cpus[] = {250, 500, 1000, 1000, 1500, 2000};
  static const int64_t mems[] = {256, 512, 1024, 2048, 4096};
  int64_t cap_cpu = rng_range(1, 4) * 2000;
  fleet_init(f, cap_cpu, cap_cpu * 4);
  f->now = 10000;
  size_t n = (size_t)rng_range(1, 10);
  for (size_t i = 0; i < n; i++) {
    size_t x = add_instance(f, (double)rng_range(9000, 10000));
    if (rng_range(0, 9) == 0) {
      f->inst[x].evacuating = 1;
      f->inst[x].res.accepting = 0;
    } else if (rng_range(0, 14) == 0) {
      f->inst[x].res.accepting = 0; /* starting */
    }
    int want = (int)rng_range(0, 5);
    for (int k = 0; k < want && f->nc < MAXC; k++) {
      int64_t cpu = cpus[rng_range(0, 5)], mem = mems[rng_range(0, 4)];
      sched_instance *r = &f->inst[x].res;
      if (r->cpu_milli_used + cpu > r->cpu_milli || r->mem_mb_used + mem > r->mem_mb) continue;
      put(f, x, cpu, mem, (int)rng_range(0, 3));
    }
    if (f->inst[x].copies == 0) f->inst[x].idle_since = (double)rng_range(9000, 10000);
  }
  if (rng_range(0, 3) == 0) add_pending(f, cpus[rng_range(0, 5)], mems[rng_range(0, 4)],
                                        (int)rng_range(1, 4));
  f->last_scale_in = rng_range(0, 2) == 0 ? (double)rng_range(9000, 10000) : 0;
  *p = policy((int)rng_range(0, 3), (int)rng_range(1, 12),
              rng_range(0, 2) ? FLEET_CONSOLIDATION : FLEET_IDLE_RELEASE,
              (int)rng_range(1, 4), (double)rng_range(0, 600));
}

static void test_properties(void) {
  const int trials = 20000;
  int evacuated = 0, released = 0, added = 0, multi = 0, bad_joint = 0;
  for (int t = 0; t < trials; t++) {
    rng_state = 0xf1ee7ULL + (uint64_t)t;
    fleet f;
    fleet_policy p;
    random_fleet(&f, &p);
    fleet_actions a, b;
    decide(&f, &p, &a);
    decide(&f, &p, &b);
    CHECK(memcmp(&a, &b, sizeof a) == 0); /* deterministic */
    int n = (int)f.n;
    added += a.add > 0;
    released += a.n_release > 0;
    evacuated += a.n_evacuate > 0;
    multi += a.n_evacuate > 1;
    /* Growing: within MaxInstanceCount (or up to the minimum). */
    int ceiling = p.max_instances > p.min_instances ? p.max_instances : p.min_instances;
    if (a.add > 0) CHECK(n + a.add <= (n > ceiling ? n : ceiling));
    if (a.add > 0 || f.np > 0) {
      CHECK_INT(a.n_release, 0);
      CHECK_INT(a.n_evacuate, 0);
    }
    if (f.last_scale_in > 0 && f.now - f.last_scale_in < p.cooldown_s) {
      CHECK_INT(a.n_release, 0);
      CHECK_INT(a.n_evacuate, 0);
    }
    CHECK((int)(a.n_release + a.n_evacuate) <= p.max_step);
    if (a.n_release || a.n_evacuate)
      CHECK(n - (int)(a.n_release + a.n_evacuate) >= p.min_instances);
    if (p.strategy == FLEET_IDLE_RELEASE) CHECK_INT(a.n_evacuate, 0);
    for (size_t k = 0; k < a.n_release; k++) {
      const fleet_instance *x = &f.inst[a.release[k]];
      CHECK(a.release[k] < f.n);
      CHECK_INT(x->copies, 0);
      CHECK(f.now - x->idle_since >= p.cooldown_s);
      for (size_t j = 0; j < k; j++) CHECK(a.release[j] != a.release[k]);
      /* Oldest idle first: nothing left idle longer than what was taken. */
      for (size_t i = 0; i < f.n; i++) {
        int taken = 0;
        for (size_t j = 0; j < a.n_release; j++) taken |= a.release[j] == i;
        if (!taken && f.inst[i].copies == 0 && f.now - f.inst[i].idle_since >= p.cooldown_s)
          CHECK(f.inst[i].idle_since >= x->idle_since);
      }
    }
    for (size_t k = 0; k < a.n_evacuate; k++) {
      const fleet_instance *x = &f.inst[a.evacuate[k]];
      CHECK(a.evacuate[k] < f.n);
      CHECK(x->copies > 0);
      CHECK(!x->evacuating);
      for (size_t j = 0; j < k; j++) CHECK(a.evacuate[j] != a.evacuate[k]);
    }
    /* The heart of it: what is evacuated can move, all of it together. */
    if (a.n_evacuate > 0 && !joint_move_fits(&f, a.evacuate, a.n_evacuate, 0) &&
        !joint_move_fits(&f, a.evacuate, a.n_evacuate, 1)) {
      if (bad_joint++ < 3)
        fprintf(stderr, "trial %d: evacuating %zu instance(s) (first %zu) overcommits the "
                "rest (%zu instances, step %d)\n", t, a.n_evacuate, a.evacuate[0], f.n,
                p.max_step);
    }
  }
  CHECK_INT(bad_joint, 0);
  /* The generator reaches every branch. */
  CHECK(added > trials / 50);
  CHECK(released > trials / 50);
  CHECK(evacuated > trials / 50);
  CHECK(multi > 0);
  printf("properties: %d fleets, %d grew, %d released, %d evacuated (%d more than one), "
         "%d overcommitting evacuations\n", trials, added, released, evacuated, multi, bad_joint);
}

/* ---- instance pools ---- */

/* Three CPU-only types: small (4 cores, 16 GiB, $1.00), mid (8, 32 GiB,
 * $2.50, priority 1) and big (16, 64 GiB, $3.00). */
enum { T_SMALL = 0, T_MID = 1, T_BIG = 2 };
static void pool_types(fleet_type *t) {
  memset(t, 0, 3 * sizeof *t);
  t[T_SMALL] = (fleet_type){res_make(4000, 16384), 1.00, 2, 0};
  t[T_MID] = (fleet_type){res_make(8000, 32768), 2.50, 1, 0};
  t[T_BIG] = (fleet_type){res_make(16000, 65536), 3.00, 3, 0};
}

static void decide_pools(const fleet *f, const fleet_policy *p, const fleet_type *types,
                         size_t n_types, fleet_actions *a) {
  fleet_input in;
  memset(&in, 0, sizeof in);
  in.instances = f->inst;
  in.n_instances = f->n;
  in.copies = f->copies;
  in.n_copies = f->nc;
  in.pending = f->pending;
  in.pending_strategy = f->pstrat;
  in.n_pending = f->np;
  in.types = types;
  in.n_types = n_types;
  in.now = f->now;
  in.last_scale_in = f->last_scale_in;
  fleet_decide(p, &in, a);
}

static double plan_cost(const fleet_actions *a, const fleet_type *t) {
  double c = 0;
  for (int k = 0; k < a->add && k < 64; k++) c += t[a->add_type[k]].price_per_hour;
  return c;
}

static void test_pools_cheapest_type(void) {
  fleet_type t[3];
  pool_types(t);
  fleet_policy p = policy(0, 10, FLEET_IDLE_RELEASE, 1, 600);
  fleet f;
  fleet_actions a;
  /* One 2-core, 8000-MiB copy: the small type holds it for $1. */
  fleet_init(&f, 0, 0);
  add_pending(&f, 2000, 8000, 1);
  decide_pools(&f, &p, t, 3, &a);
  CHECK_INT(a.add, 1);
  CHECK_INT(a.add_type[0], T_SMALL);
  /* Eight of them: four small ($4) or one big ($3). */
  fleet_init(&f, 0, 0);
  add_pending(&f, 2000, 8000, 8);
  decide_pools(&f, &p, t, 3, &a);
  CHECK_INT(a.add, 1);
  CHECK_INT(a.add_type[0], T_BIG);
  CHECK_INT(a.pending_blocked, 0);
  /* Nine: one big holds eight, the ninth takes a small ($4 in all, not two
   * bigs for $6 nor five smalls for $5). */
  fleet_init(&f, 0, 0);
  add_pending(&f, 2000, 8000, 9);
  decide_pools(&f, &p, t, 3, &a);
  CHECK_INT(a.add, 2);
  CHECK(plan_cost(&a, t) < 4.0 + 1e-9);
  CHECK((a.add_type[0] == T_BIG && a.add_type[1] == T_SMALL) ||
        (a.add_type[0] == T_SMALL && a.add_type[1] == T_BIG));
  /* A 10-core copy fits only big: big it is, and never_fits stays 0. */
  fleet_init(&f, 0, 0);
  add_pending(&f, 10000, 40000, 1);
  decide_pools(&f, &p, t, 3, &a);
  CHECK_INT(a.add, 1);
  CHECK_INT(a.add_type[0], T_BIG);
  CHECK_INT(a.never_fits, 0);
  /* A 20-core copy fits none. */
  add_pending(&f, 20000, 1000, 1);
  decide_pools(&f, &p, t, 3, &a);
  CHECK_INT(a.never_fits, 1);
  CHECK_INT(a.add, 1);
}

static void test_pools_priority_and_fallback(void) {
  fleet_type t[3];
  pool_types(t);
  fleet_policy p = policy(0, 10, FLEET_IDLE_RELEASE, 1, 600);
  fleet f;
  fleet_actions a;
  /* Same price and size: the higher priority wins, whatever the order. */
  fleet_type twin[2] = {{res_make(4000, 16384), 1.0, 2, 0}, {res_make(4000, 16384), 1.0, 1, 0}};
  fleet_init(&f, 0, 0);
  add_pending(&f, 2000, 8000, 1);
  decide_pools(&f, &p, twin, 2, &a);
  CHECK_INT(a.add, 1);
  CHECK_INT(a.add_type[0], 1);
  /* Small has no capacity: the next cheapest that fits (mid, $2.50). */
  t[T_SMALL].unavailable = 1;
  decide_pools(&f, &p, t, 3, &a);
  CHECK_INT(a.add, 1);
  CHECK_INT(a.add_type[0], T_MID);
  /* None has capacity: nothing to add, the copy fits no available type. */
  t[T_MID].unavailable = t[T_BIG].unavailable = 1;
  decide_pools(&f, &p, t, 3, &a);
  CHECK_INT(a.add, 0);
  CHECK_INT(a.never_fits, 1);
  /* Launch order for instances no copy decides: priority, then price. */
  pool_types(t);
  int order[3];
  fleet_type_order(t, 3, order);
  CHECK_INT(order[0], T_MID);
  CHECK_INT(order[1], T_SMALL);
  CHECK_INT(order[2], T_BIG);
  t[T_MID].unavailable = 1;
  fleet_type_order(t, 3, order);
  CHECK_INT(order[0], T_SMALL);
  CHECK_INT(order[2], T_MID);
  /* MinInstanceCount with nothing pending: the first in launch order. */
  pool_types(t);
  fleet_init(&f, 0, 0);
  fleet_policy pmin = policy(2, 10, FLEET_IDLE_RELEASE, 1, 600);
  decide_pools(&f, &pmin, t, 3, &a);
  CHECK_INT(a.add, 2);
  CHECK_INT(a.add_type[0], T_MID);
  CHECK_INT(a.add_type[1], T_MID);
  /* MaxInstanceCount 1 and nine copies: the one instance that holds the
   * most (big), one copy blocked. */
  fleet_policy p1 = policy(0, 1, FLEET_IDLE_RELEASE, 1, 600);
  fleet_init(&f, 0, 0);
  add_pending(&f, 2000, 8000, 9);
  decide_pools(&f, &p1, t, 3, &a);
  CHECK_INT(a.add, 1);
  CHECK_INT(a.add_type[0], T_BIG);
  CHECK_INT(a.pending_blocked, 1);
}

static void test_pools_consolidation_replaces(void) {
  fleet_type t[3];
  pool_types(t);
  fleet f;
  fleet_actions a;
  /* A big instance holding one small copy: a small one holds it for less. */
  fleet_init(&f, 16000, 65536);
  size_t i = add_instance(&f, 0);
  f.inst[i].type = T_BIG;
  put(&f, i, 2000, 8000, 0);
  fleet_policy pc = policy(0, 10, FLEET_CONSOLIDATION, 1, 600);
  decide_pools(&f, &pc, t, 3, &a);
  CHECK_INT((int)a.n_evacuate, 0);
  CHECK_INT((int)a.n_replace, 1);
  CHECK_INT((int)a.replace[0], (int)i);
  CHECK_INT(a.replace_type[0], T_SMALL);
  /* IDLE_RELEASE never replaces. */
  fleet_policy pi = policy(0, 10, FLEET_IDLE_RELEASE, 1, 600);
  decide_pools(&f, &pi, t, 3, &a);
  CHECK_INT((int)a.n_replace, 0);
  /* Within the cooldown after a scale-in: nothing. */
  f.last_scale_in = f.now - 10;
  decide_pools(&f, &pc, t, 3, &a);
  CHECK_INT((int)a.n_replace, 0);
  f.last_scale_in = 0;
  /* Six copies need the big one (small and mid hold two and four). */
  put(&f, i, 2000, 8000, 0);
  put(&f, i, 2000, 8000, 0);
  put(&f, i, 2000, 8000, 0);
  put(&f, i, 2000, 8000, 0);
  put(&f, i, 2000, 8000, 0);
  decide_pools(&f, &pc, t, 3, &a);
  CHECK_INT((int)a.n_replace, 0);
  /* An instance already being evacuated: one move at a time. */
  fleet_init(&f, 16000, 65536);
  i = add_instance(&f, 0);
  f.inst[i].type = T_BIG;
  put(&f, i, 2000, 8000, 0);
  size_t j = add_instance(&f, 0);
  f.inst[j].type = T_BIG;
  f.inst[j].evacuating = 1;
  put(&f, j, 2000, 8000, 1);
  decide_pools(&f, &pc, t, 3, &a);
  CHECK_INT((int)a.n_replace, 0);
}

/* IDLE_RELEASE with pools: the dearest idle instance goes first. */
static void test_pools_release_dearest(void) {
  fleet_type t[3];
  pool_types(t);
  fleet f;
  fleet_init(&f, 4000, 16384);
  size_t a0 = add_instance(&f, 100); /* small, idle longest */
  f.inst[a0].type = T_SMALL;
  size_t a1 = add_instance(&f, 200); /* big */
  f.inst[a1].type = T_BIG;
  fleet_actions a;
  fleet_policy p = policy(0, 10, FLEET_IDLE_RELEASE, 1, 600);
  decide_pools(&f, &p, t, 3, &a);
  CHECK_INT((int)a.n_release, 1);
  CHECK_INT((int)a.release[0], (int)a1);
  /* Without pools: the oldest idle, as always. */
  decide(&f, &p, &a);
  CHECK_INT((int)a.n_release, 1);
  CHECK_INT((int)a.release[0], (int)a0);
}

/* Random pending sets: the choice never costs more than the cheapest
 * single type that places as many copies, and never leaves more copies
 * without room than the best single type. */
static void test_pools_properties(void) {
  fleet_type t[3];
  pool_types(t);
  fleet_policy p = policy(0, 40, FLEET_IDLE_RELEASE, 1, 600);
  rng_state = 15;
  int mixes = 0;
  for (int trial = 0; trial < 300; trial++) {
    fleet f;
    fleet_init(&f, 0, 0);
    int n = (int)rng_range(1, 30);
    for (int k = 0; k < n; k++)
      add_pending(&f, rng_range(1, 12) * 500, rng_range(1, 40) * 1000, 1);
    fleet_actions a;
    decide_pools(&f, &p, t, 3, &a);
    double cost = plan_cost(&a, t);
    int unplaced = a.pending_blocked + a.never_fits;
    int kinds = 0;
    for (int ty = 0; ty < 3; ty++) {
      fleet_actions b;
      decide_pools(&f, &p, &t[ty], 1, &b);
      double c1 = b.add * t[ty].price_per_hour;
      int u1 = b.pending_blocked + b.never_fits;
      CHECK(unplaced <= u1);
      if (u1 == unplaced) CHECK(cost <= c1 + 1e-9);
    }
    int seen[3] = {0, 0, 0};
    for (int k = 0; k < a.add && k < 64; k++) seen[a.add_type[k]] = 1;
    kinds = seen[0] + seen[1] + seen[2];
    mixes += kinds > 1;
    fleet_actions again;
    decide_pools(&f, &p, t, 3, &again);
    CHECK_INT(again.add, a.add);
    CHECK_MEM(again.add_type, sizeof again.add_type, a.add_type, sizeof a.add_type);
  }
  CHECK(mixes > 0);
  printf("pools: 300 pending sets, %d chose a mix of types\n", mixes);
}

int main(void) {
  test_scale_out_table();
  test_scale_out_mixed();
  test_min_instances();
  test_idle_release();
  test_idle_release_never_below_min();
  test_idle_release_not_while_growing();
  test_scale_in_cooldown();
  test_consolidation();
  test_consolidation_only_what_fits();
  test_consolidation_step_jointly();
  test_properties();
  test_pools_cheapest_type();
  test_pools_priority_and_fallback();
  test_pools_consolidation_replaces();
  test_pools_release_dearest();
  test_pools_properties();
  CHECK_DONE();
}

/* Unit tests for converge: table-driven plans and moves, then properties
 * over seeded random copy sets (the plan reaches the desired count exactly
 * when it can, never stops a copy that does not count, and gives up ready
 * copies last). */
#include "berth/converge.h"

#include "check.h"

#define P CONVERGE_PENDING
#define B CONVERGE_BACKOFF
#define S CONVERGE_STARTING
#define R CONVERGE_READY
#define D CONVERGE_DRAINING
#define K CONVERGE_KEEP
#define X CONVERGE_STOP
#define U CONVERGE_UNMOVE

typedef struct {
  const char *what;
  int desired;
  size_t n;
  converge_copy copies[6];
  int want_add;
  converge_action want[6];
} plan_case;

static const plan_case plans[] = {
  {"short by one: add", 3, 2, {{R, 0}, {R, 0}}, 1, {K, K}},
  {"one too many: the newest ready goes", 1, 2, {{R, 0}, {R, 0}}, 0, {K, X}},
  {"pending, then crashed, then starting, before ready", 1, 4,
   {{R, 0}, {S, 0}, {B, 0}, {P, 0}}, 0, {K, X, X, X}},
  {"crashed before starting", 2, 3, {{R, 0}, {S, 0}, {B, 0}}, 0, {K, K, X}},
  {"to zero: all that count stop, draining ones are left", 0, 3, {{R, 0}, {D, 0}, {S, 0}}, 0,
   {X, K, X}},
  {"a moving copy does not count", 2, 3, {{R, 1}, {R, 0}, {P, 0}}, 0, {K, K, K}},
  {"a moving copy is never the victim", 1, 3, {{R, 1}, {R, 0}, {R, 0}}, 0, {K, K, X}},
  {"moving copies are replaced", 2, 2, {{R, 1}, {R, 1}}, 2, {K, K}},
  {"nothing to do", 0, 0, {{R, 0}}, 0, {K}},
};

typedef struct {
  const char *what;
  int desired, unplaced;
  size_t n;
  converge_copy copies[4];
  int want_unmoved;
  converge_action want[4];
} moves_case;

static const moves_case moves[] = {
  {"the replacement serves: the moving copy drains", 1, 0, 2, {{R, 1}, {R, 0}}, 0, {X, K}},
  {"the replacement is starting: wait", 1, 0, 2, {{R, 1}, {S, 0}}, 0, {K, K}},
  {"no room for the replacement: call the move off", 1, 1, 2, {{R, 1}, {P, 0}}, 1, {U, K}},
  {"a draining moving copy is left alone", 1, 0, 2, {{D, 1}, {R, 0}}, 0, {K, K}},
  {"two moving, one replacement ready of two", 2, 0, 3, {{R, 1}, {R, 1}, {R, 0}}, 0, {K, K, K}},
};

static uint64_t rng_state = 7;
static uint64_t rng_next(void) { return check_random(&rng_state); }

int main(void) {
  converge_action act[16];
  for (size_t k = 0; k < sizeof plans / sizeof plans[0]; k++) {
    const plan_case *t = &plans[k];
    int add = converge_plan(t->copies, t->n, t->desired, act);
    int ok = add == t->want_add;
    for (size_t i = 0; i < t->n; i++) ok = ok && act[i] == t->want[i];
    if (!ok) {
      CHECK_INT(add, t->want_add);
      fprintf(stderr, "  plan case: %s\n", t->what);
      for (size_t i = 0; i < t->n; i++) CHECK_INT(act[i], t->want[i]);
    }
    CHECK(ok);
  }
  for (size_t k = 0; k < sizeof moves / sizeof moves[0]; k++) {
    const moves_case *t = &moves[k];
    int unmoved = converge_moves(t->copies, t->n, t->desired, t->unplaced, act);
    int ok = unmoved == t->want_unmoved;
    for (size_t i = 0; i < t->n; i++) ok = ok && act[i] == t->want[i];
    if (!ok) {
      CHECK_INT(unmoved, t->want_unmoved);
      fprintf(stderr, "  moves case: %s\n", t->what);
      for (size_t i = 0; i < t->n; i++) CHECK_INT(act[i], t->want[i]);
    }
    CHECK(ok);
  }
  /* Properties. */
  static const converge_state states[] = {P, B, S, R, D, CONVERGE_STOPPING};
  for (int round = 0; round < 20000; round++) {
    converge_copy cs[16];
    size_t n = rng_next() % 16;
    int active = 0;
    for (size_t i = 0; i < n; i++) {
      cs[i].state = states[rng_next() % 6];
      cs[i].moving = rng_next() % 4 == 0;
      active += converge_counts(&cs[i]);
    }
    int desired = (int)(rng_next() % 12);
    int add = converge_plan(cs, n, desired, act);
    int stops = 0, ready_stopped = 0, other_kept = 0;
    for (size_t i = 0; i < n; i++) {
      if (act[i] == X) {
        stops++;
        CHECK(converge_counts(&cs[i]));
        ready_stopped += cs[i].state == R;
      } else if (converge_counts(&cs[i]) && cs[i].state != R) {
        other_kept++;
      }
    }
    CHECK_INT(active - stops + add, desired);
    CHECK(add == 0 || stops == 0);
    /* Ready copies go only when nothing else that counts is left. */
    CHECK(ready_stopped == 0 || other_kept == 0);
  }
  CHECK_DONE();
}

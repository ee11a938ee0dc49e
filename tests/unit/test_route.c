/* Unit tests for route: table-driven cases for each strategy, then
 * properties over seeded random loads and masks (a skipped target is never
 * chosen, the least loaded always wins LEAST_OUTSTANDING, ties share, the
 * choice is a function of its inputs). */
#include "berth/route.h"

#include "check.h"

static uint64_t rng_state = 42;
static uint64_t rng_next(void) { return check_random(&rng_state); }

static const berth_route_strategy all[] = {BERTH_ROUTE_RANDOM, BERTH_ROUTE_LEAST_OUTSTANDING,
                                           BERTH_ROUTE_P2C};

typedef struct {
  const char *what;
  size_t n;
  uint32_t load[4];
  unsigned char skip[4];
  int want;            /* the only possible answer, for every strategy */
} forced_case;

static const forced_case forced[] = {
  {"no targets", 0, {0}, {0}, -1},
  {"all skipped", 3, {0, 1, 2}, {1, 1, 1}, -1},
  {"one target", 1, {7}, {0}, 0},
  {"one not skipped", 4, {0, 0, 9, 0}, {1, 1, 0, 1}, 2},
  {"the failed copy is never retried", 2, {0, 5}, {1, 0}, 1},
};

int main(void) {
  for (size_t k = 0; k < sizeof forced / sizeof forced[0]; k++)
    for (size_t s = 0; s < 3; s++)
      for (int r = 0; r < 50; r++) {
        int got = berth_route_choose(all[s], forced[k].load, forced[k].skip, forced[k].n, rng_next());
        if (got != forced[k].want) {
          CHECK_INT(got, forced[k].want);
          fprintf(stderr, "  case: %s, strategy %d\n", forced[k].what, (int)all[s]);
          break;
        }
      }

  /* LEAST_OUTSTANDING: the least loaded; equal ones share about equally. */
  {
    uint32_t load[4] = {3, 1, 1, 2};
    int hits[4] = {0};
    for (int r = 0; r < 4000; r++) hits[berth_route_choose(BERTH_ROUTE_LEAST_OUTSTANDING, load, NULL, 4, rng_next())]++;
    CHECK_INT(hits[0] + hits[3], 0);
    CHECK(hits[1] > 1700 && hits[2] > 1700);
  }
  /* P2C: with two targets the less loaded always wins; the most loaded of
   * several can only lose; the least loaded wins most. */
  {
    uint32_t two[2] = {4, 2};
    for (int r = 0; r < 200; r++) CHECK_INT(berth_route_choose(BERTH_ROUTE_P2C, two, NULL, 2, rng_next()), 1);
    uint32_t load[3] = {0, 5, 9};
    int hits[3] = {0};
    for (int r = 0; r < 3000; r++) hits[berth_route_choose(BERTH_ROUTE_P2C, load, NULL, 3, rng_next())]++;
    CHECK_INT(hits[2], 0);
    CHECK(hits[0] > 1800 && hits[0] < 2200); /* 2 of the 3 pairs hold it */
  }
  /* RANDOM: uniform over what is not skipped, whatever the loads. */
  {
    uint32_t load[4] = {0, 100, 0, 50};
    unsigned char skip[4] = {0, 0, 1, 0};
    int hits[4] = {0};
    for (int r = 0; r < 6000; r++) hits[berth_route_choose(BERTH_ROUTE_RANDOM, load, skip, 4, rng_next())]++;
    CHECK_INT(hits[2], 0);
    for (int i = 0; i < 4; i++)
      if (i != 2) CHECK(hits[i] > 1800 && hits[i] < 2200);
  }
  /* Properties over random inputs. */
  for (int round = 0; round < 20000; round++) {
    uint32_t load[16];
    unsigned char skip[16];
    size_t n = 1 + rng_next() % 16;
    size_t open = 0;
    uint32_t least = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
      load[i] = (uint32_t)(rng_next() % 6);
      skip[i] = rng_next() % 3 == 0;
      if (!skip[i]) {
        open++;
        if (load[i] < least) least = load[i];
      }
    }
    berth_route_strategy st = all[rng_next() % 3];
    uint64_t rnd = rng_next();
    int got = berth_route_choose(st, load, skip, n, rnd);
    CHECK_INT(berth_route_choose(st, load, skip, n, rnd), got);
    if (!open) {
      CHECK_INT(got, -1);
      continue;
    }
    CHECK(got >= 0 && (size_t)got < n && !skip[got]);
    if (st == BERTH_ROUTE_LEAST_OUTSTANDING) CHECK_INT(load[got], least);
  }
  CHECK_DONE();
}

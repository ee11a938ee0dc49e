/* route: routing choice among copies (see route.h). */
#include "berth/route.h"

/* The next draw from a splitmix64 sequence seeded by the caller's value. */
static uint64_t draw(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* The index of the k-th target not skipped. */
static int nth_open(const unsigned char *skip, size_t n, size_t k) {
  for (size_t i = 0; i < n; i++)
    if (!(skip && skip[i]) && k-- == 0) return (int)i;
  return -1;
}

int berth_route_choose(berth_route_strategy strategy, const uint32_t *load,
                       const unsigned char *skip, size_t n, uint64_t rnd) {
  size_t open = 0;
  for (size_t i = 0; i < n; i++) open += !(skip && skip[i]);
  if (open == 0) return -1;
  if (open == 1) return nth_open(skip, n, 0);
  uint64_t st = rnd;
  switch (strategy) {
  case BERTH_ROUTE_RANDOM:
    return nth_open(skip, n, (size_t)(draw(&st) % open));
  case BERTH_ROUTE_P2C: {
    size_t a = (size_t)(draw(&st) % open), b = (size_t)(draw(&st) % (open - 1));
    if (b >= a) b++;
    int i = nth_open(skip, n, a), j = nth_open(skip, n, b);
    return load[i] <= load[j] ? i : j;
  }
  case BERTH_ROUTE_LEAST_OUTSTANDING:
  default: {
    /* Reservoir choice among the least loaded, so equal copies share. */
    int best = -1;
    uint64_t ties = 0;
    for (size_t i = 0; i < n; i++) {
      if (skip && skip[i]) continue;
      if (best < 0 || load[i] < load[best]) {
        best = (int)i;
        ties = 1;
      } else if (load[i] == load[best] && draw(&st) % ++ties == 0) {
        best = (int)i;
      }
    }
    return best;
  }
  }
}

/* route: the routing choice of one request among the copies of an
 * inference component, shared by the router and berth-sim.
 *
 * A selector over plain arrays (h2o's balancer): the targets' loads and a
 * mask of those already tried, never a request or a socket. Pure: the
 * caller passes the randomness, so a seeded simulation and a unit test
 * replay the same choices. */
#ifndef BERTH_ROUTE_H
#define BERTH_ROUTE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  BERTH_ROUTE_RANDOM = 0,             /* SageMaker's RANDOM: uniform */
  BERTH_ROUTE_LEAST_OUTSTANDING = 1,  /* LEAST_OUTSTANDING_REQUESTS: fewest in
                                         flight, ties at random */
  BERTH_ROUTE_P2C = 2,                /* extension: the less loaded of two
                                         picked at random */
  BERTH_ROUTE_PREFIX_AWARE = 3        /* PREFIX_AWARE: decided by prefix.h,
                                         which needs the request's body;
                                         here it is LEAST_OUTSTANDING */
} berth_route_strategy;

/* Picks one of n targets. load[i]: requests in flight at target i (or
 * queued for it). skip (may be NULL): non-zero for targets that must not be
 * chosen (already tried, out of rotation). rnd: a random 64-bit value; the
 * draws a strategy needs are derived from it. Returns the index, or -1 when
 * every target is skipped (or n is 0). */
int berth_route_choose(berth_route_strategy strategy, const uint32_t *load,
                       const unsigned char *skip, size_t n, uint64_t rnd);

#endif

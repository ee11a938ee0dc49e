/* router_pick: which ready copy of an IC gets a request: by its variant's
 * strategy (lib/route), or PREFIX_AWARE's pick (lib/prefix). */
#ifndef BERTHD_ROUTER_PICK_H
#define BERTHD_ROUTER_PICK_H

#include "ctl.h"

/* A choice considers an IC's first ROUTER_MAX_CHOICE copies. */
#define ROUTER_MAX_CHOICE 256

/* Whether cp may get a new request: ready, healthy, not the copy with id
 * exclude (-1: none). */
int router_routable(const copy *cp, int64_t exclude);
/* A routable copy of x by strategy; rnd is a random number. NULL when none
 * is. */
copy *router_choose(ic *x, berth_route_strategy strategy, uint64_t rnd, int64_t exclude);
/* A routable copy of x for a request with this body: the copy that served
 * its prefix last while it has fewer than cfg->threshold requests in
 * flight, else the least loaded. Records the choice in x's prefix table
 * (made here on first use, one per IC name for all router threads). NULL
 * when no copy is routable. */
copy *router_prefix_choose(ic *x, const berth_prefix_config *cfg, const char *body, size_t len,
                           uint64_t rnd, int64_t exclude);
/* The IC named left the routing state: its prefix table goes. */
void router_prefix_forget(const char *icname);

#endif

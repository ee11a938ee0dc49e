/* router_pick: see router_pick.h. */
#include "router_pick.h"

int router_routable(const copy *cp, int64_t exclude) {
  return cp->state == COPY_READY && !cp->unhealthy && cp->id != exclude;
}

/* What a choice sees: the IC's first ROUTER_MAX_CHOICE copies. */
typedef struct candidates {
  copy *cp[ROUTER_MAX_CHOICE];
  int64_t id[ROUTER_MAX_CHOICE];
  uint32_t load[ROUTER_MAX_CHOICE];
  unsigned char skip[ROUTER_MAX_CHOICE];
  size_t n;
} candidates;

static void collect(ic *x, int64_t exclude, candidates *k) {
  k->n = 0;
  for (copy *cp = x->copies; cp && k->n < ROUTER_MAX_CHOICE; cp = cp->next, k->n++) {
    k->cp[k->n] = cp;
    k->id[k->n] = cp->id;
    k->load[k->n] = cp->inflight;
    k->skip[k->n] = !router_routable(cp, exclude);
  }
}

copy *router_choose(ic *x, berth_route_strategy strategy, uint64_t rnd, int64_t exclude) {
  candidates k;
  collect(x, exclude, &k);
  int i = berth_route_choose(strategy, k.load, k.skip, k.n, rnd);
  return i < 0 ? NULL : k.cp[i];
}

/* The prefix table is per IC, in the router's memory only: after a router
 * restart prefixes are learned again (the first request of each goes to
 * the least loaded copy), which costs a cache miss, never a wrong answer. */
copy *router_prefix_choose(ic *x, const berth_prefix_config *cfg, const char *body, size_t len,
                           uint64_t rnd, int64_t exclude) {
  candidates k;
  collect(x, exclude, &k);
  if (!x->prefixes) x->prefixes = berth_prefix_table_new(BERTH_PREFIX_ENTRIES);
  uint64_t key = berth_prefix_key(body, len, cfg->length);
  int i = berth_prefix_choose(x->prefixes, cfg, key, k.id, k.load, k.skip, k.n, rnd, NULL);
  return i < 0 ? NULL : k.cp[i];
}

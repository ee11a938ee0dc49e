/* router_pick: see router_pick.h. */
#include "router_pick.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared_count.h"

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
    k->load[k->n] = cp->load ? shared_count_get(cp->load) : cp->inflight;
    k->skip[k->n] = !router_routable(cp, exclude);
  }
}

copy *router_choose(ic *x, berth_route_strategy strategy, uint64_t rnd, int64_t exclude) {
  candidates k;
  collect(x, exclude, &k);
  int i = berth_route_choose(strategy, k.load, k.skip, k.n, rnd);
  return i < 0 ? NULL : k.cp[i];
}

/* The prefix tables, one per IC name, in the router's memory only and
 * shared by its threads (a prefix learned on one is known on all): after a
 * router restart prefixes are learned again (the first request of each goes
 * to the least loaded copy), which costs a cache miss, never a wrong answer.
 * Found by name under the lock on every choice, so an IC that leaves one
 * thread's mirror earlier than another's never leaves a pointer behind. */
typedef struct prefix_share {
  char ic[NAME_MAX_LEN + 1];
  berth_prefix_table *t;
  struct prefix_share *next;
} prefix_share;

static pthread_mutex_t prefix_lock = PTHREAD_MUTEX_INITIALIZER;
static prefix_share *prefix_tables;

static berth_prefix_table *prefix_table(const char *icname) {
  prefix_share *s = prefix_tables;
  while (s && strcmp(s->ic, icname) != 0) s = s->next;
  if (!s) {
    s = berth_xcalloc(1, sizeof *s);
    snprintf(s->ic, sizeof s->ic, "%s", icname);
    s->t = berth_prefix_table_new(BERTH_PREFIX_ENTRIES);
    s->next = prefix_tables;
    prefix_tables = s;
  }
  return s->t;
}

copy *router_prefix_choose(ic *x, const berth_prefix_config *cfg, const char *body, size_t len,
                           uint64_t rnd, int64_t exclude) {
  candidates k;
  collect(x, exclude, &k);
  uint64_t key = berth_prefix_key(body, len, cfg->length);
  pthread_mutex_lock(&prefix_lock);
  int i = berth_prefix_choose(prefix_table(x->name), cfg, key, k.id, k.load, k.skip, k.n, rnd,
                              NULL);
  pthread_mutex_unlock(&prefix_lock);
  return i < 0 ? NULL : k.cp[i];
}

void router_prefix_forget(const char *icname) {
  pthread_mutex_lock(&prefix_lock);
  for (prefix_share **pp = &prefix_tables; *pp; pp = &(*pp)->next) {
    prefix_share *s = *pp;
    if (strcmp(s->ic, icname) != 0) continue;
    *pp = s->next;
    berth_prefix_table_free(s->t);
    free(s);
    break;
  }
  pthread_mutex_unlock(&prefix_lock);
}

/* prefix: PREFIX_AWARE routing, the choice shared by the router and
 * berth-sim (and bench/prefix).
 *
 * Requests whose first PrefixLength bytes are equal go to the copy that
 * served that prefix last, so a model server's prompt (KV) cache keeps
 * serving them, unless that copy already has ConcurrencyThreshold requests
 * in flight; then, and for a prefix not seen before, the least loaded copy
 * (berth_route_choose LEAST_OUTSTANDING). The choice is recorded.
 *
 * DESIGN: one bounded table per inference component, from a 64-bit hash of
 * the prefix to the id of the copy that served it last. It is 4-way set
 * associative, least recently used out within a set: a fixed size (no
 * growth, whatever the clients send), O(1) per request, and close to an
 * exact LRU for a table of thousands of entries. A hash collision only
 * sends a request to another prefix's copy, which is still a valid choice.
 * Copies are named by stable ids, not by index, so copies coming and going
 * never misdirect; a remembered copy that is gone simply no longer matches.
 * Pure: no clock (recency is a counter of choices) and the caller passes
 * the randomness. */
#ifndef BERTH_PREFIX_H
#define BERTH_PREFIX_H

#include <stddef.h>
#include <stdint.h>

#define BERTH_PREFIX_ENTRIES 4096 /* the router's table per IC */
#define BERTH_PREFIX_WAYS 4

/* A variant's PrefixAwareRoutingConfig. (public) */
typedef struct berth_prefix_config {
  uint32_t length;    /* PrefixLength: bytes of the body that form the key
                         (1024..65536; a shorter body: all of it) */
  uint32_t threshold; /* ConcurrencyThreshold: the remembered copy is used
                         while fewer requests than this are in flight at it
                         (1..1024) */
} berth_prefix_config;

typedef struct berth_prefix_table berth_prefix_table; /* private */

/* A table of at least `entries` entries (rounded up to a power of two, at
 * least BERTH_PREFIX_WAYS). Aborts when out of memory; free with
 * berth_prefix_table_free (NULL is fine). */
berth_prefix_table *berth_prefix_table_new(size_t entries);
void berth_prefix_table_free(berth_prefix_table *t);

/* The key of a request body: a hash of its first min(len, prefix_length)
 * bytes (body may be NULL when len is 0). Fast (8 bytes per step on four
 * independent lanes); not a cryptographic hash. */
uint64_t berth_prefix_key(const void *body, size_t len, uint32_t prefix_length);

/* The copy that served key last, or -1 when the table does not hold it.
 * Changes nothing. */
int64_t berth_prefix_lookup(const berth_prefix_table *t, uint64_t key);

/* Picks one of n targets for a request with this key and records it as the
 * key's copy. ids[i]: the stable id of target i (a copy id); load[i]: its
 * requests in flight; skip (may be NULL): non-zero for targets that must not
 * be chosen (not ready, already tried). rnd breaks LEAST_OUTSTANDING's ties.
 * *hit (may be NULL) is set to 1 when the choice is the key's remembered
 * copy, else 0. Returns the index, or -1 when every target is skipped (then
 * nothing is recorded). */
int berth_prefix_choose(berth_prefix_table *t, const berth_prefix_config *cfg, uint64_t key,
                        const int64_t *ids, const uint32_t *load, const unsigned char *skip,
                        size_t n, uint64_t rnd, int *hit);

#endif

/* prefix: PREFIX_AWARE routing's table and choice (see prefix.h). */
#include "berth/prefix.h"

#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "berth/route.h"

typedef struct entry {
  uint64_t key;
  int64_t id;     /* the copy that served key last */
  uint64_t used;  /* the table's clock when it was last chosen; 0: empty */
} entry;

struct berth_prefix_table {
  entry *e;
  size_t sets;    /* a power of two; each holds BERTH_PREFIX_WAYS entries */
  uint64_t clock; /* counts choices: recency without a wall clock */
};

berth_prefix_table *berth_prefix_table_new(size_t entries) {
  size_t sets = 1;
  while (sets * BERTH_PREFIX_WAYS < entries) sets <<= 1;
  berth_prefix_table *t = berth_xcalloc(1, sizeof *t);
  t->e = berth_xcalloc(sets * BERTH_PREFIX_WAYS, sizeof *t->e);
  t->sets = sets;
  return t;
}

void berth_prefix_table_free(berth_prefix_table *t) {
  if (!t) return;
  free(t->e);
  free(t);
}

#define K1 0x9E3779B97F4A7C15ULL
#define K2 0xBF58476D1CE4E5B9ULL
#define K3 0x94D049BB133111EBULL

static uint64_t word(const unsigned char *p) {
  uint64_t w;
  memcpy(&w, p, sizeof w);
  return w;
}

/* One lane's step: xor in a word, multiply, fold the high bits down. */
static uint64_t step(uint64_t h, uint64_t w) {
  h = (h ^ w) * K2;
  return h ^ (h >> 31);
}

/* splitmix64's finalizer: every input bit reaches every output bit. */
static uint64_t finish(uint64_t z) {
  z = (z ^ (z >> 30)) * K2;
  z = (z ^ (z >> 27)) * K3;
  return z ^ (z >> 31);
}

uint64_t berth_prefix_key(const void *body, size_t len, uint32_t prefix_length) {
  const unsigned char *p = body;
  size_t n = len < prefix_length ? len : prefix_length;
  /* Four lanes over 32-byte stripes, so the multiplies overlap: a 64 KiB
   * prefix costs a few microseconds. */
  uint64_t a = K1 ^ n, b = K2 ^ n, c = K3 ^ n, d = K1 + K3 + n;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a = step(a, word(p + i));
    b = step(b, word(p + i + 8));
    c = step(c, word(p + i + 16));
    d = step(d, word(p + i + 24));
  }
  for (; i + 8 <= n; i += 8) a = step(a, word(p + i));
  if (i < n) {
    unsigned char tail[8] = {0};
    memcpy(tail, p + i, n - i);
    b = step(b, word(tail));
  }
  return finish(a ^ finish(b ^ finish(c ^ finish(d))));
}

static entry *set_of(const berth_prefix_table *t, uint64_t key) {
  return &t->e[(size_t)(key & (t->sets - 1)) * BERTH_PREFIX_WAYS];
}

int64_t berth_prefix_lookup(const berth_prefix_table *t, uint64_t key) {
  const entry *s = set_of(t, key);
  for (int w = 0; w < BERTH_PREFIX_WAYS; w++)
    if (s[w].used && s[w].key == key) return s[w].id;
  return -1;
}

/* Remembers id for key: its own entry if present, else an empty one, else
 * the set's least recently chosen. */
static void record(berth_prefix_table *t, uint64_t key, int64_t id) {
  entry *s = set_of(t, key), *victim = &s[0];
  for (int w = 0; w < BERTH_PREFIX_WAYS; w++) {
    if (s[w].used && s[w].key == key) {
      victim = &s[w];
      break;
    }
    if (s[w].used < victim->used) victim = &s[w];
  }
  victim->key = key;
  victim->id = id;
  victim->used = ++t->clock;
}

int berth_prefix_choose(berth_prefix_table *t, const berth_prefix_config *cfg, uint64_t key,
                        const int64_t *ids, const uint32_t *load, const unsigned char *skip,
                        size_t n, uint64_t rnd, int *hit) {
  if (hit) *hit = 0;
  int pick = -1;
  int64_t last = berth_prefix_lookup(t, key);
  if (last >= 0)
    for (size_t i = 0; i < n; i++)
      /* SageMaker: once in-flight requests at the prefix's copy reach the
       * threshold, the request goes to a copy with more room. */
      if (ids[i] == last && !(skip && skip[i]) && load[i] < cfg->threshold) {
        pick = (int)i;
        if (hit) *hit = 1;
        break;
      }
  if (pick < 0) pick = berth_route_choose(BERTH_ROUTE_LEAST_OUTSTANDING, load, skip, n, rnd);
  if (pick >= 0) record(t, key, ids[pick]);
  return pick;
}

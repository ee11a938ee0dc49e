/* Unit tests for prefix: the key covers exactly the first PrefixLength
 * bytes; table-driven choices (remembered copy, threshold, skip, gone
 * copy); the table stays bounded and evicts the least recently chosen; and
 * properties over seeded random loads and masks (a skipped target is never
 * chosen, a miss is the least loaded, the choice is recorded). */
#include "berth/prefix.h"

#include <stdlib.h>

#include "check.h"

static uint64_t rng_state = 7;
static uint64_t rng_next(void) { return check_random(&rng_state); }

static void test_key(void) {
  static unsigned char a[70000], b[70000];
  for (size_t i = 0; i < sizeof a; i++) a[i] = b[i] = (unsigned char)rng_next();
  /* Equal prefixes, different tails: the same key. */
  b[2000] ^= 1;
  CHECK(berth_prefix_key(a, sizeof a, 2000) == berth_prefix_key(b, sizeof b, 2000));
  CHECK(berth_prefix_key(a, sizeof a, 2001) != berth_prefix_key(b, sizeof b, 2001));
  /* A difference at any position inside the prefix changes it: every
   * lane, the 8-byte words past the stripes and the tail bytes. */
  for (size_t pos = 0; pos < 1031; pos++) {
    memcpy(b, a, 1031);
    b[pos] ^= 0x40;
    if (berth_prefix_key(a, sizeof a, 1031) == berth_prefix_key(b, sizeof b, 1031)) {
      CHECK_FAIL_("a change at byte %zu left the key as it was", pos);
      break;
    }
  }
  /* A shorter body: all of it, and its length counts ("ab" vs "ab\0"). */
  CHECK(berth_prefix_key(a, 100, 65536) == berth_prefix_key(a, 100, 1024));
  CHECK(berth_prefix_key(a, 100, 65536) != berth_prefix_key(a, 99, 65536));
  unsigned char z[2] = {0, 0};
  CHECK(berth_prefix_key(z, 1, 1024) != berth_prefix_key(z, 2, 1024));
  CHECK(berth_prefix_key(NULL, 0, 1024) == berth_prefix_key(a, 0, 1024));
  /* The same for any alignment of the body in memory. */
  memcpy(b + 3, a, 5000);
  CHECK(berth_prefix_key(a, 5000, 4096) == berth_prefix_key(b + 3, 5000, 4096));
}

typedef struct {
  const char *what;
  size_t n;
  int64_t ids[4];
  uint32_t load[4];
  unsigned char skip[4];
  uint32_t threshold;
  int64_t remembered;  /* the key's copy before the choice (-1: none) */
  int want;            /* the only right index */
  int want_hit;
} choice_case;

static const choice_case cases[] = {
  {"unknown prefix: the least loaded", 3, {10, 11, 12}, {2, 0, 1}, {0}, 4, -1, 1, 0},
  {"known: its copy although busier", 3, {10, 11, 12}, {3, 0, 1}, {0}, 4, 10, 0, 1},
  {"known, at the threshold: the least loaded", 3, {10, 11, 12}, {4, 0, 1}, {0}, 4, 10, 1, 0},
  {"known, just under it", 3, {10, 11, 12}, {3, 0, 1}, {0}, 4, 10, 0, 1},
  {"threshold 1: only while idle", 2, {10, 11}, {1, 2}, {0}, 1, 10, 0, 0},
  {"threshold 1, remembered copy idle", 2, {10, 11}, {0, 0}, {0}, 1, 11, 1, 1},
  {"known copy skipped (tried): elsewhere", 3, {10, 11, 12}, {0, 5, 3}, {1, 0, 0}, 9, 10, 2, 0},
  {"known copy gone: the least loaded", 2, {20, 21}, {1, 0}, {0}, 9, 10, 1, 0},
  {"known copy at another index", 4, {30, 31, 32, 33}, {0, 0, 7, 0}, {0}, 8, 32, 2, 1},
  {"all skipped", 2, {10, 11}, {0, 0}, {1, 1}, 9, 10, -1, 0},
  {"no copies", 0, {0}, {0}, {0}, 9, 10, -1, 0},
};

static void test_cases(void) {
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const choice_case *cc = &cases[k];
    berth_prefix_config cfg = {1024, cc->threshold};
    berth_prefix_table *t = berth_prefix_table_new(64);
    uint64_t key = rng_next();
    if (cc->remembered >= 0) {
      /* Teach the table: the only target is the remembered copy. */
      int64_t id = cc->remembered;
      uint32_t zero = 0;
      CHECK_INT(berth_prefix_choose(t, &cfg, key, &id, &zero, NULL, 1, 0, NULL), 0);
    }
    CHECK_INT(berth_prefix_lookup(t, key), cc->remembered);
    int hit = -1;
    int got = berth_prefix_choose(t, &cfg, key, cc->ids, cc->load, cc->skip, cc->n, rng_next(), &hit);
    if (got != cc->want || hit != cc->want_hit)
      fprintf(stderr, "  case: %s\n", cc->what);
    CHECK_INT(got, cc->want);
    CHECK_INT(hit, cc->want_hit);
    /* The choice is recorded; nothing is when there was none. */
    CHECK_INT(berth_prefix_lookup(t, key), got >= 0 ? cc->ids[got] : cc->remembered);
    berth_prefix_table_free(t);
  }
}

/* Fills a table far past its size: it never holds more than its entries,
 * a key just chosen is always held, and a set evicts its least recently
 * chosen key first. */
static void test_bounded(void) {
  berth_prefix_config cfg = {1024, 8};
  berth_prefix_table *t = berth_prefix_table_new(BERTH_PREFIX_ENTRIES);
  int64_t ids[2] = {1, 2};
  uint32_t load[2] = {0, 0};
  enum { KEYS = 40000 };
  uint64_t *keys = malloc(KEYS * sizeof *keys);
  CHECK(keys != NULL);
  if (!keys) return;
  for (int i = 0; i < KEYS; i++) {
    keys[i] = rng_next();
    CHECK(berth_prefix_choose(t, &cfg, keys[i], ids, load, NULL, 2, rng_next(), NULL) >= 0);
    CHECK(berth_prefix_lookup(t, keys[i]) >= 1);
  }
  int held = 0;
  for (int i = 0; i < KEYS; i++) held += berth_prefix_lookup(t, keys[i]) >= 0;
  CHECK(held <= BERTH_PREFIX_ENTRIES);
  CHECK(held > BERTH_PREFIX_ENTRIES * 3 / 4); /* the sets fill evenly */
  /* The most recent 1000 are (nearly) all held: LRU, not random. */
  int recent = 0;
  for (int i = KEYS - 1000; i < KEYS; i++) recent += berth_prefix_lookup(t, keys[i]) >= 0;
  CHECK(recent >= 990);
  free(keys);
  berth_prefix_table_free(t);

  /* One set of BERTH_PREFIX_WAYS (a 4-entry table): touching key 0 again
   * keeps it, so the fifth key evicts key 1, the least recently chosen. */
  t = berth_prefix_table_new(1);
  uint64_t k[5] = {100, 200, 300, 400, 500};
  for (int i = 0; i < 4; i++) berth_prefix_choose(t, &cfg, k[i], ids, load, NULL, 2, 0, NULL);
  berth_prefix_choose(t, &cfg, k[0], ids, load, NULL, 2, 0, NULL);
  berth_prefix_choose(t, &cfg, k[4], ids, load, NULL, 2, 0, NULL);
  CHECK(berth_prefix_lookup(t, k[0]) >= 0);
  CHECK_INT(berth_prefix_lookup(t, k[1]), -1);
  for (int i = 2; i < 5; i++) CHECK(berth_prefix_lookup(t, k[i]) >= 0);
  berth_prefix_table_free(t);
}

/* Properties over random inputs. */
static void test_properties(void) {
  berth_prefix_table *t = berth_prefix_table_new(256);
  for (int r = 0; r < 20000; r++) {
    size_t n = 1 + rng_next() % 6;
    int64_t ids[6];
    uint32_t load[6];
    unsigned char skip[6];
    int open = 0;
    for (size_t i = 0; i < n; i++) {
      ids[i] = (int64_t)(rng_next() % 8);  /* may repeat across rounds */
      for (size_t j = 0; j < i; j++)
        if (ids[j] == ids[i]) ids[i] = 8 + (int64_t)i; /* distinct within one */
      load[i] = (uint32_t)(rng_next() % 5);
      skip[i] = rng_next() % 4 == 0;
      open += !skip[i];
    }
    berth_prefix_config cfg = {1024, 1 + (uint32_t)(rng_next() % 4)};
    uint64_t key = rng_next() % 64; /* few keys: many hits */
    int64_t before = berth_prefix_lookup(t, key);
    int hit;
    int got = berth_prefix_choose(t, &cfg, key, ids, load, skip, n, rng_next(), &hit);
    if (!open) {
      CHECK_INT(got, -1);
      CHECK_INT(berth_prefix_lookup(t, key), before);
      continue;
    }
    CHECK(got >= 0 && (size_t)got < n && !skip[got]);
    CHECK_INT(berth_prefix_lookup(t, key), ids[got]);
    if (hit) {
      CHECK_INT(ids[got], before);
      CHECK(load[got] < cfg.threshold);
    } else {
      /* A miss is the least loaded open copy. */
      for (size_t i = 0; i < n; i++)
        if (!skip[i]) CHECK(load[got] <= load[i]);
      /* and a miss was due: no open remembered copy under the threshold. */
      for (size_t i = 0; i < n; i++)
        if (ids[i] == before && !skip[i]) CHECK(load[i] >= cfg.threshold);
    }
  }
  berth_prefix_table_free(t);
  berth_prefix_table_free(NULL);
}

int main(void) {
  test_key();
  test_cases();
  test_bounded();
  test_properties();
  CHECK_DONE();
}

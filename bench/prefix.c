/* bench_prefix: PREFIX_AWARE routing (lib/prefix) against
 * LEAST_OUTSTANDING_REQUESTS (lib/route), the named baseline, on the same
 * shared-prefix workload.
 *
 * Workload (seeded splitmix64, so every run sees the same requests): USERS
 * chat users at once, each holding a conversation of TURNS turns and then
 * starting a new one. Every request body is real JSON in the chat shape,
 * {"messages":[system, user, assistant, ..., user]}: a SYSTEM_BYTES system
 * prompt that every conversation shares, then the conversation's growing
 * history. A user sends a turn, waits for its answer (exponential service
 * time, mean 1 s), thinks (exponential, mean 2 s) and sends the next: a
 * closed loop, so requests overlap at the copies as they would in service.
 * Service times do not depend on the copy or on a hit, so both strategies
 * see exactly the same arrivals, and the only difference is the choice.
 *
 * Printed per strategy (and for PREFIX_AWARE per PrefixLength and
 * ConcurrencyThreshold):
 *  - prefix hit: the fraction of requests sent to a copy that had served a
 *    request with the same first PrefixLength bytes before (the copy holds
 *    that prefix in its cache);
 *  - history hit: the fraction of follow-up turns sent to the copy that
 *    served the conversation's previous turn (the copy holds the whole
 *    history, the longest reusable prefix);
 *  - spread: the busiest copy's requests over the mean per copy, and the
 *    most requests in flight at one copy at any time;
 *  - ns/choice: decision time, hashing included.
 * Usage: bench_prefix [seed]   (README.md beside this file). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/prefix.h"
#include "berth/route.h"

#define COPIES 6
#define USERS 96
#define TURNS 8
#define REQUESTS 30000
#define SYSTEM_BYTES 4000
#define MAX_BODY (SYSTEM_BYTES + TURNS * 2600 + 256)

static uint64_t rng_state;
static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static double rng_unit(void) { return (double)(rng_next() >> 11) / 9007199254740992.0; }
static double rng_exp(double mean) {
  double u = rng_unit();
  return -mean * log(u > 0 ? u : 1e-12);
}

/* Appends len bytes of word-like text (lowercase words, spaces). */
static size_t text(char *p, size_t len) {
  for (size_t i = 0; i < len; i++) {
    uint64_t r = rng_next();
    p[i] = r % 6 == 0 ? ' ' : (char)('a' + (r >> 8) % 26);
  }
  return len;
}

typedef struct user {
  char body[MAX_BODY];
  size_t len;          /* the history so far, without the closing "]}" */
  int turn;            /* turns sent in this conversation */
  int last_copy;       /* the copy that served its previous turn (-1) */
  int copy;            /* the copy serving the request in flight */
} user;

/* Starts a new conversation: the shared system prompt, no turns yet. */
static void conversation(user *u, const char *system) {
  u->len = (size_t)snprintf(u->body, MAX_BODY,
                            "{\"messages\":[{\"role\":\"system\",\"content\":\"%s\"}", system);
  u->turn = 0;
  u->last_copy = -1;
}

static void message(user *u, const char *role, size_t n) {
  u->len += (size_t)snprintf(u->body + u->len, MAX_BODY - u->len,
                             ",{\"role\":\"%s\",\"content\":\"", role);
  u->len += text(u->body + u->len, n);
  u->body[u->len++] = '"';
  u->body[u->len++] = '}';
}

/* Events: a user sends its next turn, or its answer completes. */
typedef struct event {
  double t;
  int user;
  int done;            /* 1: completion; 0: send */
} event;

typedef struct heap {
  event e[USERS];  /* each user has one event pending */
  int n;
} heap;

static void push(heap *h, event ev) {
  int i = h->n++;
  while (i > 0 && h->e[(i - 1) / 2].t > ev.t) {
    h->e[i] = h->e[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h->e[i] = ev;
}

static event pop(heap *h) {
  event top = h->e[0], last = h->e[--h->n];
  int i = 0;
  for (;;) {
    int k = 2 * i + 1;
    if (k >= h->n) break;
    if (k + 1 < h->n && h->e[k + 1].t < h->e[k].t) k++;
    if (h->e[k].t >= last.t) break;
    h->e[i] = h->e[k];
    i = k;
  }
  h->e[i] = last;
  return top;
}

/* Which copies have served a key: an open-addressing set of key -> copy
 * bitmask, big enough for every key of a run. */
#define SEEN_SLOTS (1u << 17)
typedef struct seen {
  uint64_t key[SEEN_SLOTS];
  uint32_t mask[SEEN_SLOTS];
} seen;

static uint32_t *seen_at(seen *s, uint64_t key) {
  uint32_t i = (uint32_t)key & (SEEN_SLOTS - 1);
  while (s->mask[i] && s->key[i] != key) i = (i + 1) & (SEEN_SLOTS - 1);
  s->key[i] = key;
  return &s->mask[i];
}

typedef struct result {
  double prefix_hit, history_hit, spread, ns_per_choice;
  uint32_t peak;
} result;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static user users[USERS];
static seen seen_keys;

/* One run. prefix_aware 0: LEAST_OUTSTANDING_REQUESTS. cfg.length also
 * sets what "the same prefix" means for the prefix-hit figure. */
static result run(uint64_t seed, int prefix_aware, berth_prefix_config cfg) {
  static char system[SYSTEM_BYTES + 1];
  rng_state = seed;
  text(system, SYSTEM_BYTES);
  system[SYSTEM_BYTES] = 0;
  memset(&seen_keys, 0, sizeof seen_keys);
  berth_prefix_table *table = berth_prefix_table_new(BERTH_PREFIX_ENTRIES);
  int64_t ids[COPIES];
  uint32_t load[COPIES] = {0};
  long served[COPIES] = {0};
  for (int i = 0; i < COPIES; i++) ids[i] = 100 + i;
  heap h = {.n = 0};
  for (int i = 0; i < USERS; i++) {
    conversation(&users[i], system);
    push(&h, (event){rng_exp(2.0), i, 0});
  }
  /* The workload draws from its own sequence so the router's randomness
   * (LOR ties) never shifts it. */
  uint64_t route_rng = seed ^ 0x5bd1e995;
  long sent = 0, prefix_hits = 0, follow_ups = 0, history_hits = 0;
  uint32_t peak = 0;
  double choose_ns = 0;
  while (sent < REQUESTS) {
    event ev = pop(&h);
    user *u = &users[ev.user];
    if (ev.done) {
      load[u->copy]--;
      u->last_copy = u->copy;
      message(u, "assistant", 300 + rng_next() % 900);
      if (u->turn == TURNS) conversation(u, system);
      push(&h, (event){ev.t + rng_exp(2.0), ev.user, 0});
      continue;
    }
    message(u, "user", 100 + rng_next() % 500);
    u->turn++;
    memcpy(u->body + u->len, "]}", 2);
    size_t len = u->len + 2;
    uint64_t rnd = route_rng += 0x9e3779b97f4a7c15ULL;
    /* Timed: the decision, PREFIX_AWARE's hashing included. */
    double t0 = now_ns();
    uint64_t key = 0;
    int c;
    if (prefix_aware) {
      key = berth_prefix_key(u->body, len, cfg.length);
      c = berth_prefix_choose(table, &cfg, key, ids, load, NULL, COPIES, rnd, NULL);
    } else {
      c = berth_route_choose(BERTH_ROUTE_LEAST_OUTSTANDING, load, NULL, COPIES, rnd);
    }
    choose_ns += now_ns() - t0;
    if (!prefix_aware) key = berth_prefix_key(u->body, len, cfg.length);
    uint32_t *mask = seen_at(&seen_keys, key);
    prefix_hits += (*mask >> c) & 1;
    *mask |= 1u << c;
    if (u->last_copy >= 0) {
      follow_ups++;
      history_hits += u->last_copy == c;
    }
    u->copy = c;
    served[c]++;
    if (++load[c] > peak) peak = load[c];
    sent++;
    push(&h, (event){ev.t + rng_exp(1.0), ev.user, 1});
  }
  berth_prefix_table_free(table);
  long most = 0;
  for (int i = 0; i < COPIES; i++)
    if (served[i] > most) most = served[i];
  return (result){(double)prefix_hits / (double)sent, (double)history_hits / (double)follow_ups,
                  (double)most * COPIES / (double)sent, choose_ns / (double)sent, peak};
}

static void row(const char *name, berth_prefix_config cfg, result r, const result *lor) {
  printf("%-26s %6u %6u %9.3f %10.3f %7.2f %5u %9.0f", name, cfg.length, cfg.threshold,
         r.prefix_hit, r.history_hit, r.spread, r.peak, r.ns_per_choice);
  if (lor) printf(" %8.2f %8.2f", r.prefix_hit / lor->prefix_hit, r.history_hit / lor->history_hit);
  printf("\n");
}

int main(int argc, char **argv) {
  uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
  printf("bench_prefix: %d copies, %d users, %d turns, %d requests, %d-byte shared system "
         "prompt, seed %llu\n\n", COPIES, USERS, TURNS, REQUESTS, SYSTEM_BYTES,
         (unsigned long long)seed);
  printf("%-26s %6s %6s %9s %10s %7s %5s %9s %8s %8s\n", "strategy", "length", "thresh",
         "prefix-hit", "history-hit", "spread", "peak", "ns/choice", "pfx/LOR", "hist/LOR");
  /* 4096 covers the system prompt and the start of the first user
   * message: SageMaker's advice (shared content plus enough unique content
   * to tell conversations apart). */
  static const berth_prefix_config cfgs[] = {
    {4096, 8}, {4096, 4}, {4096, 16}, {4096, 1024}, {1024, 8}, {65536, 8},
  };
  result lor = run(seed, 0, cfgs[0]);
  row("LEAST_OUTSTANDING_REQUESTS", cfgs[0], lor, NULL);
  int ok = 1;
  for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
    result r = run(seed, 1, cfgs[i]);
    row("PREFIX_AWARE", cfgs[i], r, &lor);
    if (i == 0 && !(r.prefix_hit > lor.prefix_hit && r.history_hit > lor.history_hit)) ok = 0;
  }
  if (!ok) {
    fprintf(stderr, "bench_prefix: PREFIX_AWARE (4096, 8) did not beat LOR's hit rates\n");
    return 1;
  }
  return 0;
}

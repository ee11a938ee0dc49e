/* shared_count: see shared_count.h. */
#include "shared_count.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"

struct shared_count {
  uint32_t value;               /* atomic */
  int refs;                     /* mirrors pointing here (under lock) */
  shared_count *next;
  char key[256];
};

#define BUCKETS 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static shared_count *buckets[BUCKETS]; /* one table per process: its threads share it */

static shared_count **bucket_of(const char *key) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 1099511628211ULL;
  return &buckets[h % BUCKETS];
}

shared_count *shared_count_attach(const char *key) {
  pthread_mutex_lock(&lock);
  shared_count **head = bucket_of(key), *n = *head;
  while (n && strcmp(n->key, key) != 0) n = n->next;
  if (!n) {
    n = berth_xcalloc(1, sizeof *n);
    snprintf(n->key, sizeof n->key, "%s", key);
    n->next = *head;
    *head = n;
  }
  n->refs++;
  pthread_mutex_unlock(&lock);
  return n;
}

void shared_count_release(shared_count *n) {
  pthread_mutex_lock(&lock);
  if (--n->refs == 0) {
    shared_count **pp = bucket_of(n->key);
    while (*pp != n) pp = &(*pp)->next;
    *pp = n->next;
    free(n);
  }
  pthread_mutex_unlock(&lock);
}

uint32_t shared_count_get(const shared_count *n) {
  return __atomic_load_n(&n->value, __ATOMIC_RELAXED);
}

uint32_t shared_count_add(shared_count *n, int delta) {
  return __atomic_add_fetch(&n->value, (uint32_t)delta, __ATOMIC_RELAXED);
}

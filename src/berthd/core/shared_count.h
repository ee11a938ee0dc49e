/* shared_count: counters all of the router's threads share, found by key:
 * the requests outstanding at each copy ("copy/ID") and the requests held
 * for each IC ("ic/NAME").
 *
 * DESIGN: every router thread keeps a mirror of its own (router_sync.h), so
 * one copy or IC has one struct per thread; they point at one counter here,
 * so LEAST_OUTSTANDING_REQUESTS on any thread sees the requests and open
 * streams of all of them, and --wake-queue bounds an IC's held requests on
 * all threads together. A counter lives while some mirror points at it
 * (attach/release under a lock, rare); counting is one atomic add. */
#ifndef BERTHD_SHARED_COUNT_H
#define BERTHD_SHARED_COUNT_H

#include <stdint.h>

typedef struct shared_count shared_count;

/* The counter of key (at most 255 bytes), made at its first attach. */
shared_count *shared_count_attach(const char *key);
/* A mirror's struct is freed: the counter goes with the last. */
void shared_count_release(shared_count *n);
uint32_t shared_count_get(const shared_count *n);
/* Adds delta (+1 or -1); returns the new value. */
uint32_t shared_count_add(shared_count *n, int delta);

#endif

/* router_threads: the router's other threads (`berthd router
 * --router-threads N`, by default one per core).
 *
 * DESIGN: thread 0 is the process's main loop: it talks to the controller
 * (router_sync.h) and serves requests like the rest. Every other thread
 * runs a libuv loop of its own with a mirror of its own (a ctl: endpoints,
 * ICs, copies, keys), its own keep-alive pools to the copies and its own
 * listener on the same port (SO_REUSEPORT: the kernel spreads connections
 * over the threads). It applies each snapshot the main thread applies (the
 * same text), hands its metric deltas, held requests and wakes to the main
 * thread's report, and counts its requests per copy in shared_count.h, which
 * all threads share, so LEAST_OUTSTANDING_REQUESTS is exact across them.
 * Sticky sessions and prefix tables are shared too, under locks. Nothing
 * else crosses threads: a request lives and ends on the thread that
 * accepted its connection. */
#ifndef BERTHD_ROUTER_THREADS_H
#define BERTHD_ROUTER_THREADS_H

#include "ctl.h"

/* Opens c->runtime on port with SO_REUSEPORT (main.c knows the flags and
 * budgets): 0, or -1 after logging why. */
typedef int (*router_listen_fn)(ctl *c, int port);

/* Starts n more threads beside main's (which has its first snapshot and
 * listens on port). Each takes main's settings and listens with listen
 * once it has applied the snapshot. 0, or -1 when a thread cannot start. */
int router_threads_start(ctl *main, int n, int port, router_listen_fn listen);
/* Shutdown, from the main thread: each thread answers its held requests
 * (503), closes its listener and finishes the requests it has. */
void router_threads_stop(void);
/* Threads that have not finished yet. */
int router_threads_running(void);
/* Waits for every thread to end (after router_threads_running is 0). */
void router_threads_join(void);

#endif

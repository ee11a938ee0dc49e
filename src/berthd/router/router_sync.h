/* router_sync: the router process's side of the router protocol
 * (routing.h): it keeps a mirror of the controller's routing state (the
 * endpoints, ICs and copies router.c routes over) from the snapshot long
 * poll, and reports what its requests did every ROUTER_REPORT_MS (at once
 * when a held request needs a copy, or after a new snapshot).
 *
 * DESIGN: the mirror uses the controller's own structures, so router.c is
 * the same code it always was. A copy that leaves the snapshot is unlinked
 * and freed when its last request ends; an IC that leaves it answers its
 * held requests first. While the controller is unreachable the router keeps
 * serving from the last snapshot, and what it could not report is merged
 * back and sent with the next report.
 *
 * The router's other threads (router_threads.h) each keep a mirror of their
 * own: this thread, the one that talks to the controller, passes every
 * snapshot it applies on to them (the same text, so all apply one version)
 * and sends their metric deltas, held counts and wakes with its own, in one
 * report; requests outstanding per copy come from shared_count.h, which counts
 * every thread's. */
#ifndef BERTHD_ROUTER_SYNC_H
#define BERTHD_ROUTER_SYNC_H

#include "berth/tls.h"
#include "ctl.h"

#define ROUTER_REPORT_MS 1000
#define ROUTER_POLL_WAIT_MS 5000
#define ROUTER_RETRY_MS 250
/* --router-threads at most. */
#define ROUTER_MAX_THREADS 64

/* Starts polling the controller at url (http://HOST:PORT) with token;
 * on_first runs once the first snapshot is in (then the router can
 * serve). 0, or -1 when url is not http://HOST:PORT. */
int router_sync_start(ctl *c, const char *url, const char *token, berth_tls_client *tls,
                      void (*on_first)(ctl *c));
/* Shutdown: stops polling and reporting (one last report is sent). */
void router_sync_stop(ctl *c);

/* ---- for the other threads (each call from the thread that owns c) ---- */

/* news is sent (uv_async_send) after every snapshot applied here. */
void router_sync_subscribe(uv_async_t *news);
/* Applies the last snapshot to mirror c if it is newer than *seq (then
 * updates *seq): 1 when it did, 0 when there was none or nothing new. */
int router_sync_take(ctl *c, uint64_t *seq);
/* Hands mirror c's metric deltas and wakes to the next report (a wake is
 * reported at once). Held requests need no handing: shared_count.h counts
 * every thread's. */
void router_sync_contribute(ctl *c);

#endif

/* routing: the controller's side of the router protocol (docs/design.md,
 * "Router protocol"). Routers read a versioned routing snapshot (GET
 * /router/v1/snapshot, a long poll) and report what their requests did
 * (POST /router/v1/report): per-IC metric deltas, requests held, wake-ups,
 * and each copy's requests in flight. Both need the router token.
 *
 * DESIGN: the snapshot is what a router needs and nothing else: endpoints
 * with their variants' routing strategy, and each IC's status, desired
 * count and routable copies (address, port; draining ones flagged, so no
 * new request goes there). Its version counts up whenever its content
 * changes, so a router that already has it is held until something does,
 * and a mutating API call is answered once the router serves the snapshot
 * that holds its change (routing_when_seen). A draining
 * copy is stopped only when a router that serves a snapshot in which it is
 * draining reports no request in flight at it (or when no router has
 * reported for ROUTING_LOST_S: then nobody can route to it). */
#ifndef BERTHD_ROUTING_H
#define BERTHD_ROUTING_H

#include "ctl.h"

#define ROUTING_MAX_WAIT_MS 5000
#define ROUTING_LOST_S 5.0
#define ROUTING_SEEN_WAIT_MS 2000

void routing_on_snapshot(ctl *c, berth_http_req *req);
void routing_on_report(ctl *c, berth_http_req *req);
/* After a reconciliation: held polls whose snapshot changed (or whose wait
 * ran out; all: every one, at shutdown) get it; draining copies that no
 * router uses any more stop. */
void routing_wake(ctl *c, int all);
/* Whether no router can still send a request to a copy that left the
 * snapshot: no router is around, or it serves the current snapshot. */
int routing_router_current(ctl *c);
/* Calls cb(ud) once the router serves the routing snapshot as it is now
 * (at once without a router; after ROUTING_SEEN_WAIT_MS at the latest). */
void routing_when_seen(ctl *c, void (*cb)(void *ud), void *ud);

#endif

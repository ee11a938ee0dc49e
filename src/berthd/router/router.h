/* router: the data plane. InvokeEndpoint requests go to a ready copy of the
 * named inference component, chosen by the endpoint's RoutingConfig. */
#ifndef BERTHD_ROUTER_H
#define BERTHD_ROUTER_H

#include "ctl.h"

#define ROUTER_MAX_BODY 6291456
/* The longest silence from a model while it answers; the total limits are
 * ctl's invocation_timeout_s and stream_timeout_s. */
#define ROUTER_MAX_CUSTOM_ATTRIBUTES 1024

void router_on_request(berth_http_req *req, void *ud);
/* How a request reaches the model server: its path there (static
 * storage), whether the answer is wrapped in the runtime's event stream
 * (InvokeEndpointWithResponseStream), and whether the whole answer is
 * bounded by --stream-timeout rather than --invocation-timeout. */
typedef struct router_target {
  const char *path;
  int event_stream;
  int streams;
} router_target;
/* Sends req (already authorized, its endpoint ep and IC x checked) to a
 * copy of x, holds it while one starts, or answers the error through
 * router.c's error path. Takes req->user and req->on_abort; the body is
 * sent as it is. */
void router_invoke(ctl *c, berth_http_req *req, endpoint *ep, ic *x, const router_target *t);
void router_format_error(int status, const char *message, void *body, const char **content_type,
                         const char **error_type, void *ud);
/* A copy of x became ready: requests held for x go to the ready copies,
 * its fair share of them while more copies start (lib/wake.c). */
void router_copy_ready(ctl *c, ic *x);
/* Once a second: held requests past the wake timeout get 429, and those of
 * an IC being deleted or failed get their error. */
void router_expire_waiting(ctl *c, ic *x);

#endif

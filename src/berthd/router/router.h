/* router: the data plane. InvokeEndpoint requests go to a ready copy of the
 * named inference component, chosen by the endpoint's RoutingConfig. */
#ifndef BERTHD_ROUTER_H
#define BERTHD_ROUTER_H

#include "ctl.h"

#define ROUTER_MAX_BODY 6291456
/* The longest silence from a model while it answers; the total limits are
 * ctl's invocation_timeout_s and stream_timeout_s. */
#define ROUTER_MODEL_TIMEOUT_MS 60000
#define ROUTER_MAX_CUSTOM_ATTRIBUTES 1024
#define ROUTER_MAX_CHOICE 256

void router_on_request(berth_http_req *req, void *ud);
void router_format_error(int status, const char *message, void *body, const char **content_type,
                         const char **error_type, void *ud);
/* Pure choice of a copy among ready, healthy ones other than the copy with
 * id exclude (-1: none); rnd is a random number. NULL when none is. */
copy *router_choose(ic *x, berth_route_strategy strategy, uint64_t rnd, int64_t exclude);
/* A copy of x became ready: requests held for x go to it. */
void router_copy_ready(ctl *c, ic *x);
/* Once a second: held requests past the wake timeout get 429, and those of
 * an IC being deleted or failed get their error. */
void router_expire_waiting(ctl *c, ic *x);

#endif

/* pool: the "pool" instance provider. Agents on other hosts
 * (`berthd agent --join URL --token T --instance-type X`) sync with the
 * controller every second over POST /agent/v1/sync: they report their
 * copies and receive the copies they should run. A joined agent is free
 * capacity until the fleet claims it for an endpoint; released, it is free
 * again. An agent silent for POOL_LOST_S is lost: its copies are placed
 * again elsewhere. */
#ifndef BERTHD_POOL_H
#define BERTHD_POOL_H

#include "ctl.h"

#define POOL_LOST_S 6.0

/* The sync endpoint (control listener), authenticated by the token. */
void pool_on_sync(ctl *c, berth_http_req *req);
/* A free joined instance of this type for the endpoint, or NULL. */
instance *pool_claim(ctl *c, const char *endpoint, const char *variant, const char *type);
/* Back to free capacity (it must hold no copies). */
void pool_release(ctl *c, instance *in);
/* Marks agents that stopped syncing as lost and frees their copies. */
void pool_check_lost(ctl *c);

#endif

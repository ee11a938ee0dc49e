/* pool: the controller's side of the agent protocol, and the "pool"
 * instance provider. Every agent (`berthd agent --join URL --token T
 * --instance-type X`: pool agents on other hosts, and the local
 * provider's agents, local_agent.h) syncs over POST /agent/v1/sync: it
 * reports its copies and receives the copies it should run, as a long poll
 * (docs/design.md, "Agent protocol"). Copies an agent reports that this
 * controller does not know (it restarted) are adopted. A joined pool agent
 * is free capacity until the fleet claims it for an endpoint; released, it
 * is free again. A pool agent silent for POOL_LOST_S is lost: its copies
 * are placed again elsewhere. */
#ifndef BERTHD_POOL_H
#define BERTHD_POOL_H

#include "ctl.h"
#include "valid.h"

#define POOL_LOST_S 6.0
#define POOL_MAX_WAIT_MS 5000   /* the longest a sync is held */

/* The sync endpoint (control listener), authenticated by the token. */
void pool_on_sync(ctl *c, berth_http_req *req);
/* The instance whose agent sent req (its Bearer token: a local agent's, or
 * one issued to a joined pool agent), or NULL. */
instance *pool_sender(ctl *c, berth_http_req *req);
/* A free joined instance of this type for the endpoint, or NULL. */
instance *pool_claim(ctl *c, const char *endpoint, const char *variant, const char *type);
/* Back to free capacity (it must hold no copies). */
void pool_release(ctl *c, instance *in);
/* Marks agents that stopped syncing as lost and frees their copies. */
void pool_check_lost(ctl *c);
/* Answers held syncs whose answer changed or whose wait ran out (all: every
 * one, at shutdown). */
void pool_wake(ctl *c, int all);
/* Gives up on a pool instance (silent, or its agent revoked): its held
 * sync is refused with why, its copies are placed again, it is freed. */
void pool_lose(ctl *c, instance *in, const char *why);
/* Berth.RevokeAgent {InstanceId | AgentId}: the pool agent's token is
 * refused from now on and its instance is lost. */
int pool_revoke_call(ctl *c, json_t *req, json_t **resp, api_error *e);
/* Answers the held sync of an instance that goes away. */
void pool_forget_instance(ctl *c, instance *in);

#endif

/* exec_provider: the "exec" instance provider. Managed instance scaling
 * creates and deletes instances by running the operator's hooks
 * (--instance-create CMD, --instance-delete CMD), e.g. `aws ec2
 * run-instances` with user data that starts `berthd agent --join URL
 * --token TOKEN`. docs/providers.md describes the hooks' contract.
 *
 * DESIGN: a launch makes the instance at once (the fleet sees it, copies
 * are placed on it and start when its agent syncs) and runs the create hook
 * with a one-time join token in its environment. The token admits one
 * agent once, until the join deadline (--instance-join-timeout, counted
 * from the launch); the agent then gets a token of its own (agent_tokens.h)
 * like a pool agent. A create hook that fails, or an instance whose agent
 * has not joined by the deadline, is a failed launch: the instance goes
 * (its copies are placed again), the delete hook runs, and the variant's
 * next launch waits (doubling from EXEC_BACKOFF_MIN_S to EXEC_BACKOFF_MAX_S);
 * meanwhile a launch is refused with the failure as the reason, which
 * managed scaling reports as it does a capacity error. Hooks run as child
 * processes off the loop (uv_spawn), each in its own process group, with a
 * deadline (--instance-hook-timeout) and their output bounded; the join
 * token is cut from any output before it is logged or kept. */
#ifndef BERTHD_EXEC_PROVIDER_H
#define BERTHD_EXEC_PROVIDER_H

#include "ctl.h"

#define EXEC_MAX_INSTANCES 512      /* records (instances and running deletes) */
#define EXEC_OUTPUT_MAX 4096        /* bytes of a hook's output kept */
#define EXEC_BACKOFF_MIN_S 2.0
#define EXEC_BACKOFF_MAX_S 60.0
#define EXEC_DELETE_TRIES 3
#define EXEC_JOIN_TIMEOUT_S 300.0   /* --instance-join-timeout default */
#define EXEC_HOOK_TIMEOUT_S 300.0   /* --instance-hook-timeout default */

typedef struct exec_config {
  const char *create_cmd;       /* run by /bin/sh -c; copied */
  const char *delete_cmd;
  const char *join_url;         /* what agents --join (one URL or a comma
                                   list); NULL: c->control_url */
  double join_timeout_s;
  double hook_timeout_s;
  /* Removes an instance whose launch failed: its held sync is refused, its
   * copies placed again, it is unlinked and freed (pool_lose; pool.h sits
   * above this module). Calls exec_provider_forget on it. */
  void (*lose)(ctl *c, instance *in, const char *why);
} exec_config;

/* Makes c->exec. 0, or -EINVAL (printed) for a missing hook. */
int exec_provider_init(ctl *c, const exec_config *cfg);
void exec_provider_free(ctl *c);

/* Launches an instance of type t for ep/v: the instance (in c->instances,
 * not yet joined) or NULL with why filled (the variant's last launch failed
 * and its retry waits; EXEC_MAX_INSTANCES). why may be NULL. */
instance *exec_provider_launch(ctl *c, const char *ep, const char *variant_name,
                               const berth_instance_type *t, char *why, size_t whysz);
/* Why the next launch for ep/v is refused now ("" when it is not). */
void exec_provider_why(ctl *c, const char *ep, const char *variant_name, char *why, size_t whysz);
/* The launched instance this one-time join token admits, or NULL. */
instance *exec_provider_by_token(ctl *c, const char *token);
/* Its agent synced with the join token: the token is spent and the
 * variant's launch failures are forgiven. */
void exec_provider_joined(ctl *c, instance *in);
/* Scale-in or endpoint deletion: unlinks and frees in (which holds no
 * copies and no held sync) and runs the delete hook. */
void exec_provider_release(ctl *c, instance *in);
/* in is going away by another path (its agent lost or revoked, or the
 * provider's own lose): the delete hook runs unless it already does. The
 * caller frees in. */
void exec_provider_forget(ctl *c, instance *in, const char *why);
/* Loads the records an earlier controller stored (with the rest of the
 * state): joined instances wait for their agents until the join deadline,
 * launches and deletes in progress are deleted. */
int exec_provider_load(ctl *c);
/* A pool agent joined with a token of its own that this controller made no
 * instance for: when an earlier controller's exec provider launched it,
 * in becomes that instance again (its id, its endpoint). */
void exec_provider_adopt(ctl *c, instance *in);
/* Each tick: join deadlines, delete retries, records reaped. */
void exec_provider_check(ctl *c);

#endif

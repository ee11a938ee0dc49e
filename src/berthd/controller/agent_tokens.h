/* agent_tokens: the token each pool agent gets of its own.
 *
 * A pool agent first presents the pool's join token (--agent-token); the
 * controller then issues it a token of its own, in the sync answer, and
 * accepts only that one for this agent id afterwards (an agent that lost
 * it must join under a new id). Only the token's SHA-256 is stored (kind
 * "agent"), so every controller on the store knows the agent and a copy of
 * the store reveals no token. Berth.RevokeAgent marks the record revoked:
 * the agent is refused from then on and its instance is lost. */
#ifndef BERTHD_AGENT_TOKENS_H
#define BERTHD_AGENT_TOKENS_H

#include "ctl.h"

#define AGENT_TOKENS_MAX 10000

/* Loads the records (with the rest of the state). */
int agent_tokens_load(ctl *c);

typedef enum {
  AGENT_UNKNOWN = 0,   /* not an issued token */
  AGENT_ISSUED,        /* the token of *agent_id */
  AGENT_REVOKED        /* the token of a revoked agent */
} agent_token_kind;

/* Whose issued token this is. agent_id gets the id (64 bytes). */
agent_token_kind agent_tokens_check(ctl *c, const char *token, char *agent_id);
/* Whether agent_id holds a token (1), was revoked (2), or neither (0). */
int agent_tokens_state(ctl *c, const char *agent_id);
/* Issues agent_id its token (out: 64 hex digits), queued in the store. 0,
 * -ENOSPC past AGENT_TOKENS_MAX records, or the store's error. */
int agent_tokens_issue(ctl *c, const char *agent_id, char out[65]);
/* Drops agent_id's record: its token was never delivered (the commit
 * failed, or the agent was gone), so the join token may admit it again. */
void agent_tokens_forget(ctl *c, const char *agent_id);
/* Marks agent_id revoked, queued in the store: 0, -ENOENT (it holds no
 * token), or the store's error. */
int agent_tokens_revoke(ctl *c, const char *agent_id);

#endif

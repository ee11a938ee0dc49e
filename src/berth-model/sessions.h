/* sessions: berth-model's stateful sessions, the model side of SageMaker's
 * sticky sessions. X-Amzn-SageMaker-Session-Id: NEW_SESSION opens one (the
 * answer carries X-Amzn-SageMaker-New-Session-Id: <id>; Expires=<UTC>); a
 * request with an open id counts a turn; a body with "close_session": true
 * closes it (the answer carries
 * X-Amzn-SageMaker-Closed-Session-Id). The sessions live in this process:
 * a restart loses them, as a real model server's would. */
#ifndef BERTH_MODEL_SESSIONS_H
#define BERTH_MODEL_SESSIONS_H

#include <stddef.h>

#define MODEL_SESSIONS_MAX 1024  /* open at once; NEW_SESSION past it gets 429 */
#define MODEL_SESSION_ID_LEN 32  /* hex characters */

typedef struct model_session_result {
  const char *header;            /* the answer header to add, or NULL */
  char value[MODEL_SESSION_ID_LEN + 40];
  char id[MODEL_SESSION_ID_LEN + 1]; /* the session, "" without one */
  long turn;                     /* 0 for the opening request, then 1, 2, ... */
} model_session_result;

/* Applies a request's session header (NULL: none) with close asked by its
 * body, ttl_s the lifetime of a new session. Returns 0 with r filled, or an
 * HTTP status (400 unknown or expired id, 429 too many) with msg. */
int model_session_apply(const char *header, int close, long ttl_s, model_session_result *r,
                        char *msg, size_t msgsz);

#endif

/* sessions: sticky sessions as SageMaker defines them ("stateful
 * sessions"). A request with X-Amzn-SageMaker-Session-Id: NEW_SESSION goes
 * to a copy chosen as usual; when the model answers
 * X-Amzn-SageMaker-New-Session-Id: <id>; Expires=<time>, the router keeps
 * id -> that copy, and later requests with that id go to that copy only. An
 * answer with X-Amzn-SageMaker-Closed-Session-Id: <id> ends it.
 *
 * DESIGN: the table lives in the router process only, one per IC, bounded
 * (ROUTER_SESSIONS_PER_IC); a router restart loses it, as SageMaker also
 * loses sessions when an instance goes. Copy ids are never reused, so an
 * entry whose copy is no longer in the IC's list is simply stale: it is
 * found and dropped when it is next used, or evicted when the table is full
 * (expired entries first, then the one that expires soonest). */
#ifndef BERTHD_SESSIONS_H
#define BERTHD_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "ctl.h"
#include "valid.h"

/* SageMaker's SessionId: at most 256 of [a-zA-Z0-9-], starting and ending
 * with a letter or digit, or the word NEW_SESSION. */
#define ROUTER_SESSION_ID_MAX 256
#define ROUTER_SESSION_NEW "NEW_SESSION"
/* Sessions kept per IC; at most about 330 bytes each. */
#define ROUTER_SESSIONS_PER_IC 4096
/* Expiry of a session whose model gave no (readable) Expires. */
#define ROUTER_SESSION_DEFAULT_TTL_S 1200

/* ---- the table (no sockets, no clock: times are epoch seconds) ---- */

typedef struct router_sessions router_sessions;

/* A table that keeps at most per_ic sessions for each IC name. */
router_sessions *router_sessions_new(size_t per_ic);
void router_sessions_free(router_sessions *t);
/* Records (or moves) session id of IC icname to copy_id until expires. A full
 * IC table first drops its expired sessions, then the one that expires
 * soonest. Returns 0, -EINVAL for an id that is not a session id, -ETIME
 * for an expiry not after now. */
int router_sessions_put(router_sessions *t, const char *icname, const char *id, int64_t copy_id,
                        double expires, double now);
/* The copy of icname's session id, or -1 when it is unknown or expired (an
 * expired one is removed). */
int64_t router_sessions_get(router_sessions *t, const char *icname, const char *id, double now);
/* Removes icname's session id when it is on copy_id (any copy: -1). Returns 1
 * when it was there, else 0. */
int router_sessions_remove(router_sessions *t, const char *icname, const char *id, int64_t copy_id);
/* Sessions kept for icname, expired ones included until they are dropped. */
size_t router_sessions_count(router_sessions *t, const char *icname);
/* Forgets every session of icname. */
void router_sessions_drop_ic(router_sessions *t, const char *icname);

/* Forgets the sessions of every IC for which keep(icname, ud) is 0. */
void router_sessions_prune(router_sessions *t, int (*keep)(const char *icname, void *ud),
                          void *ud);

/* Whether s is a session id by SageMaker's rule (NEW_SESSION is not). */
int router_session_id_valid(const char *s);
/* Parses a New-Session-Id value, "<id>; Expires=YYYY-MM-DDTHH:MM:SSZ",
 * into id (ROUTER_SESSION_ID_MAX + 1 bytes) and *expires (epoch s; 0 when
 * the value has no readable Expires). Returns 0, or -EINVAL when the id is
 * not a session id. */
int router_session_parse_new(const char *value, char *id, double *expires);

/* ---- one invocation's session (the router's hooks) ---- */

typedef struct router_session_call {
  char id[ROUTER_SESSION_ID_MAX + 1];  /* the request's SessionId; "" none */
  int is_new;                          /* it is NEW_SESSION */
  int64_t copy_id;                     /* the session's copy; -1: any copy */
  /* What the answer passes back ("" none). */
  char new_session[ROUTER_SESSION_ID_MAX + 40];
  char closed_session[ROUTER_SESSION_ID_MAX + 1];
} router_session_call;

/* Reads req's X-Amzn-SageMaker-Session-Id for IC x (stream: the request is
 * InvokeEndpointWithResponseStream, which cannot create sessions) into s.
 * Returns 0, or -1 with e filled (the caller answers e): a malformed id, a
 * session that is unknown, closed or expired, or one whose copy is gone
 * (ValidationError 400), or one whose copy is there but out of rotation
 * (ServiceUnavailable 503). */
int router_session_begin(ctl *c, ic *x, berth_http_req *req, int stream, router_session_call *s,
                         api_error *e);
/* The copy a request of a known session must go to: its copy when it is
 * ready and healthy and not exclude, else NULL. */
copy *router_session_copy(ic *x, const router_session_call *s, int64_t exclude);
/* Fills e for a request of a known session whose copy went out of
 * rotation between router_session_begin and the send. */
void router_session_gone(ic *x, const router_session_call *s, api_error *e);
/* The head of the answer copy_id gave: a 2xx that creates a session
 * records it, one that closes a session removes it; s keeps the headers to
 * pass back. Other answers change nothing. */
void router_session_answer(ctl *c, ic *x, int64_t copy_id, router_session_call *s, int status,
                           const berth_http_header *h, size_t n);
/* Appends the session headers of a successful answer to out (room for 2
 * needed). Returns how many. */
size_t router_session_headers(const router_session_call *s, berth_http_header *out);

#endif

/* console: the web console on the control port (docs/console.md).
 *
 * Serves the static files built into berthd (console_files.h) under
 * /console/, signs operators in with an access key id and secret (checked
 * as the API checks them) and keeps their sessions: a random 32-byte token
 * in an HttpOnly, SameSite=Strict cookie, remembered here with an expiry.
 * The console's script then calls the ordinary JSON APIs with that cookie
 * and an `X-Berth-Console: 1` header instead of a SigV4 signature;
 * console_auth tells api.c whose key such a request speaks for. Tokens
 * and secrets are never logged. */
#ifndef BERTHD_CONSOLE_H
#define BERTHD_CONSOLE_H

#include "auth.h"
#include "ctl.h"

#define CONSOLE_MAX_SESSIONS 256    /* the oldest is dropped past it */
#define CONSOLE_SESSION_S (12 * 3600) /* a session's life from sign-in */

/* Answers req when it is one of the console's routes (GET /console/...,
 * POST /console/signin, POST /console/signout, GET /console/session):
 * 1 when answered, 0 when req is not the console's. */
int console_serve(ctl *c, berth_http_req *req);

/* For a request to the JSON APIs: 1 when it carries no X-Berth-Console
 * header (the caller checks SigV4 as usual); 0 with *who the signed-in key
 * when it carries the header and a live session cookie; -1 with e filled
 * (403) when it carries the header without a live session. */
int console_auth(ctl *c, const berth_http_req *req, const auth_key **who, api_error *e);

/* Forgets every session (at exit). */
void console_free(ctl *c);

#endif

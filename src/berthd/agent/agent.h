/* agent: runs copies on an instance. Launches the model server with the
 * copy's environment through its shim (`berthd copy-exec`, copy_shim.c,
 * which owns the server's output and exit status), keeps a tail of the
 * output for failure reasons, checks GET /ping until ready, restarts
 * crashed copies with backoff, and stops copies (TERM, then KILL).
 *
 * A copy does not die with its agent: the agent's state file
 * (agent_state.h) lists the running shims, and a restarted agent adopts
 * them after GET /ping answers. On the controller the same calls move
 * copies through their states as agents report them. */
#ifndef BERTHD_AGENT_H
#define BERTHD_AGENT_H

#include "ctl.h"

/* Starts a placed copy (state PENDING with inst set -> STARTING). */
void agent_start(ctl *c, copy *cp);
/* Takes over a copy whose shim (cp->pid, serving cp->port) a previous
 * agent started: watches its exit and checks /ping until ready. 0 or a
 * negative errno (the process is gone). */
int agent_adopt(ctl *c, copy *cp);
/* Drains then stops a copy; when it has exited it is removed from its IC
 * and its reservation released. */
void agent_stop(ctl *c, copy *cp);
/* Releases everything of a copy that is not running (pending/backoff). */
void agent_forget(ctl *c, copy *cp);
/* No router sends this draining (or stopping) copy requests any more: it
 * stops (the controller, routing.c). */
void agent_drained(ctl *c, copy *cp);
/* The router finished a request at this copy: a draining copy may stop. */
void agent_request_done(ctl *c, copy *cp);
/* A sleeping copy is awake and passed GET /ping (copy_sleep.h): ready
 * again, with its periodic health checks. */
void agent_copy_awake(ctl *c, copy *cp);
/* `berthd agent --join URL --token T --instance-type X` (agent_main.c) */
int agent_main(int argc, char **argv);

#endif

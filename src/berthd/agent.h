/* agent: runs copies as child processes on an instance. Launches the model
 * server with the copy's environment, captures its output into the IC's log
 * file (keeping a tail for failure reasons), checks GET /ping until ready,
 * restarts crashed copies with backoff, and stops copies (TERM, then KILL).
 *
 * Processes are started through `berthd copy-exec`, which sets
 * PR_SET_PDEATHSIG so copies die with berthd even after kill -9. */
#ifndef BERTHD_AGENT_H
#define BERTHD_AGENT_H

#include "ctl.h"

/* Starts a placed copy (state PENDING with inst set -> STARTING). */
void agent_start(ctl *c, copy *cp);
/* Drains then stops a copy; when it has exited it is removed from its IC
 * and its reservation released. */
void agent_stop(ctl *c, copy *cp);
/* Releases everything of a copy that is not running (pending/backoff). */
void agent_forget(ctl *c, copy *cp);
/* The router finished a request at this copy: a draining copy may stop. */
void agent_request_done(ctl *c, copy *cp);
/* `berthd agent --join URL --token T --instance-type X` (agent_main.c) */
int agent_main(int argc, char **argv);
/* `berthd copy-exec -- PROGRAM ARGS...` */
int agent_copy_exec_main(int argc, char **argv);

#endif

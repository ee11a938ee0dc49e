/* supervisor: `berthd up`, a small parent (as PostgreSQL's postmaster or
 * nginx's master) that runs the controller (`berthd controller`) and, once
 * the controller is ready, the router (`berthd router --controller URL`),
 * both with the same flags, and restarts either when it dies. The
 * controller starts one agent per local instance itself (local_agent.h).
 *
 * DESIGN: a child says it is ready (it listens) by writing to the pipe in
 * BERTH_READY_FD. A child that exits before it was ready failed to start
 * (bad flags, a port in use): the supervisor stops the other and exits with
 * its status instead of restarting it in a loop. A ready child that dies is
 * restarted after a backoff (the controller 1 s, the router 250 ms,
 * doubling to 30 s; back to the first after a minute of running). The two
 * share a router token made for this start (BERTH_ROUTER_TOKEN). SIGTERM
 * and SIGINT stop the router first (it finishes the requests in flight),
 * then the controller (it stops the agents and their copies); the
 * supervisor exits with the controller's status. Both children die with
 * the supervisor (PR_SET_PDEATHSIG); agents and copies do not, and the next
 * `berthd up` on the data dir adopts them. */
#ifndef BERTHD_SUPERVISOR_H
#define BERTHD_SUPERVISOR_H

/* Runs the controller and the router under supervision; returns the exit
 * status for main. */
int supervisor_main(const char *self_exe, int argc, char **argv);

/* In the child: dies with its supervisor and reports readiness. Call
 * supervised_start early and supervised_ready once it serves; both do
 * nothing when the process is not supervised. */
void supervised_start(void);
void supervised_ready(void);

#endif

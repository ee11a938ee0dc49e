/* supervisor: `berthd up`, a small parent (as PostgreSQL's postmaster) that
 * runs the controller role (`berthd controller`, with the same flags) as a
 * child process and restarts it when it dies.
 *
 * DESIGN: the child says it is ready (it listens on both ports) by writing
 * to the pipe in BERTH_READY_FD. A child that exits before it was ready
 * failed to start (bad flags, a port in use): the supervisor exits with its
 * status instead of restarting it in a loop. A ready child that dies is
 * restarted after a backoff (1 s doubling to 30 s; back to 1 s after a
 * minute of running). SIGTERM and SIGINT are passed to the child and the
 * supervisor exits with the child's status once it has stopped. The child
 * dies with the supervisor (PR_SET_PDEATHSIG), so `kill -9` of `berthd up`
 * leaves nothing running. */
#ifndef BERTHD_SUPERVISOR_H
#define BERTHD_SUPERVISOR_H

/* Runs `self_exe controller ARGS` under supervision; returns the exit
 * status for main. */
int supervisor_main(const char *self_exe, int argc, char **argv);

/* In the child: dies with its supervisor and reports readiness. Call
 * supervised_start early and supervised_ready once it serves; both do
 * nothing when the process is not supervised. */
void supervised_start(void);
void supervised_ready(void);

#endif

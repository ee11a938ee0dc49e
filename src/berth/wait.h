/* wait: polling berthd until an endpoint or inference component reaches a
 * state, with one progress line.
 *
 * On a terminal the progress line is redrawn in place ("\r"); otherwise a
 * line is printed only when the state changes, so logs stay short. Each
 * wait prints its own failure line ("berth: ...") on stderr and returns -1;
 * 0 means the state was reached. Times are CLOCK_MONOTONIC seconds. */
#ifndef BERTH_WAIT_H
#define BERTH_WAIT_H

#include <stddef.h>

#include <jansson.h>

#include "cli.h"

#define BERTH_POLL_INTERVAL_S 0.5

double berth__now(void);

/* Polls DescribeEndpoint until EndpointStatus is InService. Fails when it is
 * Failed (printing FailureReason) or at `deadline`. */
int berth__wait_endpoint(berth_cli *cli, const char *endpoint, double start,
                         double deadline);

/* Polls DescribeInferenceComponent until the IC is InService and, when
 * `copies` >= 0, has exactly that many current copies. `verb` starts the
 * progress line ("deploying"). On success *final (if not NULL) receives the
 * last DescribeInferenceComponent answer, owned by the caller. */
int berth__wait_ic(berth_cli *cli, const char *ic, const char *verb, long copies,
                   double start, double deadline, json_t **final);

/* Polls DescribeInferenceComponent for each of `ics` until every one is
 * gone (the server says it cannot be found). */
int berth__wait_ics_gone(berth_cli *cli, const char *const *ics, size_t n,
                         const char *what, double start, double deadline);

#endif

/* history: the simulator's pre-roll, the demand history a forecast needs
 * before t = 0 (a daemon that has run for a day has yesterday's buckets).
 *
 * For generated traffic, one season of requests is drawn from the same
 * generator (traffic.c) and fed, unbilled and unserved, as the 10-second
 * buckets of [-season, 0): the second season of a two-season draw with the
 * scenario's seed, so the models' popularity ranks are the ones the run
 * uses while every arrival, token count and burst is independent of the
 * season simulated. Each bucket carries the invocations that arrived in it
 * and the request-seconds of service (at a request's service time alone)
 * that fall in it, which is its mean concurrency times ten. A trace has no
 * yesterday: replaying its own day would be hindsight, so trace scenarios
 * get no pre-roll and the forecast learns during the run. docs/forecast.md. */
#ifndef BERTH_SIM_HISTORY_H
#define BERTH_SIM_HISTORY_H

#include <stddef.h>

#include "berth/scale.h"
#include "scenario.h"

/* Called once per model per bucket, in time order per model. */
typedef void (*history_bucket_cb)(void *arg, size_t model, const scale_bucket *b);

/* Feeds the pre-roll of s over a season of season_s seconds to cb. Returns
 * 0 (also for a trace: nothing fed), or a negative errno code with a
 * message in err. */
int history_preroll(const scenario *s, double season_s, history_bucket_cb cb, void *arg,
                    char *err, size_t errsz);

#endif

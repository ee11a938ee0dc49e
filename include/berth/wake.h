/* wake: how requests held while an inference component had no ready copy
 * are released to its copies as they become ready, shared by berthd's
 * router and berth-sim.
 *
 * Pure: counts and times in, a count out. A copy that becomes ready while
 * more of the same wake are still starting takes its fair share of the
 * held backlog, not all of it: the backlog split over itself and the copies
 * still coming. The rest stays held for those copies, but never longer than
 * BERTH_WAKE_RELEASE_WAIT_S after the first release, and everything goes
 * once no copy is coming. */
#ifndef BERTH_WAKE_H
#define BERTH_WAKE_H

#include <stddef.h>

/* The longest a held request is kept back for a copy still starting once
 * another copy of its IC is ready (seconds). */
#define BERTH_WAKE_RELEASE_WAIT_S 30.0

/* How many of the `held` requests (oldest first) to release now. ready_now:
 * copies that just became ready (0 for a periodic check); coming: copies
 * placed and still starting, not counting those; kept_s: how long requests
 * have been kept back while a copy was ready (0 when none were). Returns
 * ceil(held x ready_now / (ready_now + coming)) on a copy becoming ready,
 * all of them when nothing is coming or kept_s has reached
 * BERTH_WAKE_RELEASE_WAIT_S, otherwise none. */
size_t berth_wake_release(size_t held, size_t ready_now, size_t coming, double kept_s);

#endif

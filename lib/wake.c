/* wake: see wake.h. */
#include "berth/wake.h"

size_t berth_wake_release(size_t held, size_t ready_now, size_t coming, double kept_s) {
  if (!held) return 0;
  if (!coming || kept_s >= BERTH_WAKE_RELEASE_WAIT_S) return held;
  if (!ready_now) return 0;
  /* This copy's share of the backlog among itself and those coming:
   * rounded up, so the last copy of the wake never leaves one behind. */
  size_t share = ready_now + coming;
  if (held > ((size_t)-1) / ready_now) return held; /* no overflow: all */
  size_t n = (held * ready_now + share - 1) / share;
  return n < held ? n : held;
}

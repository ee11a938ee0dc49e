/* loop_wait: the unit tests' one loop, and WAIT(cond, ms), which runs it
 * until cond holds or ms pass (evaluating to cond). The test initialises
 * loop and the deadline timer (uv_timer_init(&loop, &deadline)). */
#ifndef BERTH_TEST_LOOP_WAIT_H
#define BERTH_TEST_LOOP_WAIT_H

#include <uv.h>

static uv_loop_t loop;
static int deadline_hit;
static uv_timer_t deadline;

static inline void on_deadline(uv_timer_t *t) {
  (void)t;
  deadline_hit = 1;
}
static inline void deadline_start(uint64_t ms) {
  deadline_hit = 0;
  uv_timer_start(&deadline, on_deadline, ms, 0);
}
static inline void deadline_stop(void) {
  uv_timer_stop(&deadline);
}

#define WAIT(cond, ms)                                                 \
  (deadline_start(ms), ({                                              \
     while (!(cond) && !deadline_hit) uv_run(&loop, UV_RUN_ONCE);      \
     deadline_stop();                                                  \
   }), (cond))

#endif

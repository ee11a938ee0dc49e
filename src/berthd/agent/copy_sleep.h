/* copy_sleep: the agent's side of sleeping copies (docs/sleep.md). Puts a
 * ready copy's model server to sleep through its own API (vLLM's
 * POST /sleep?level=1), or, when the server has none (404, 405 or 501),
 * by freezing the copy's cgroup; wakes it (POST /wake_up, or thawing),
 * checks GET /ping and makes it ready again.
 *
 * The controller decides (copy_sleep_policy.h): its sync answer marks a
 * copy "sleep": true, and the agent follows. A copy that can do neither
 * (no API, no cgroup v2 group) stays ready and is reported "no_sleep", so
 * it is not asked again. While it goes to sleep, sleeps or wakes, the
 * copy is COPY_SLEEPING here and reported "sleeping" ("waking" while it
 * wakes): never "ready" until GET /ping answers 200 after the wake. */
#ifndef BERTHD_COPY_SLEEP_H
#define BERTHD_COPY_SLEEP_H

#include "ctl.h"

enum {
  COPY_SLEEP_NONE = 0,
  COPY_SLEEP_GOING,             /* POST /sleep in flight */
  COPY_SLEEP_ASLEEP,
  COPY_SLEEP_WAKE_NEXT,         /* woken while going to sleep: wakes after */
  COPY_SLEEP_WAKING,            /* POST /wake_up in flight */
  COPY_SLEEP_CHECKING           /* awake: GET /ping until it answers 200 */
};
enum { COPY_SLEEP_VIA_API = 1, COPY_SLEEP_VIA_FREEZE = 2 };

/* A ready copy goes to sleep (its state becomes COPY_SLEEPING at once). */
void copy_sleep_begin(ctl *c, copy *cp);
/* A sleeping copy wakes; it is COPY_READY once GET /ping answers 200. A
 * server that does not wake (POST /wake_up fails, or /ping does not pass
 * within its startup health-check timeout) is killed: it restarts as a
 * crashed copy does. */
void copy_wake_begin(ctl *c, copy *cp);
/* The copy stops or exited: cancels a call in flight and thaws a frozen
 * group, so SIGTERM reaches the server. */
void copy_sleep_forget(ctl *c, copy *cp);
/* A copy a previous agent left frozen (its state file says so): thawed,
 * so it passes its adoption's GET /ping; the controller puts it back to
 * sleep if it should. */
void copy_sleep_thaw_adopted(ctl *c, copy *cp);
/* What the sync report says of cp: "sleeping", "waking" or NULL when it
 * is not COPY_SLEEPING. */
const char *copy_sleep_report(const copy *cp);

#endif

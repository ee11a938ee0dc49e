/* model_sleep: vLLM's sleep mode as berth-model serves it, so Berth's
 * sleeping copies can be tested without a GPU (docs/models.md, "Sleep and
 * wake").
 *
 *   POST /sleep?level=1   (or level=2) asleep at once; answers 200
 *   POST /wake_up         answers 200 once awake, BERTH_MODEL_WAKE_DELAY_MS
 *                         (500) after the first call (weights back on the
 *                         device); at once when awake
 *   GET  /is_sleeping     {"is_sleeping": true|false} (true while waking)
 *
 * While asleep or waking, invocations answer 503; GET /ping still answers
 * 200 (the server is alive, as vLLM's /health is). */
#ifndef BERTH_MODEL_SLEEP_H
#define BERTH_MODEL_SLEEP_H

#include <stdint.h>
#include <uv.h>

#include "berth/http_server.h"

/* At most this many POST /wake_up wait at once; more answer 503. */
#define MODEL_SLEEP_MAX_WAITERS 16

/* Sets up the wake timer on loop; wake_delay_ms from the environment. */
void model_sleep_init(uv_loop_t *loop, uint64_t wake_delay_ms);
/* Answers req when it is one of the routes above; returns 1 then, else 0. */
int model_sleep_route(berth_http_req *req);
/* Whether invocations must be refused (asleep or waking). */
int model_sleep_refusing(void);
/* Closes the timer (shutdown); waiting wake calls are answered 503. */
void model_sleep_close(void);

#endif

/* router_failure: see router_failure.h. */
#include "router_failure.h"

#include <stdio.h>
#include <uv.h>

#include "berth/log.h"

uint64_t router_silence_ms(const ctl *c) {
  uint64_t ms = (uint64_t)(c->invocation_timeout_s * 1000);
  return ms && ms < ROUTER_MODEL_TIMEOUT_MS ? ms : ROUTER_MODEL_TIMEOUT_MS;
}

int router_may_retry(int err, int delivered) {
  return err != 0 && err != UV_ECANCELED && !delivered;
}

void router_copy_refused(copy *cp, int err, int delivered) {
  /* A timeout says nothing about the copy's health (a connect that waits
   * is a busy host); its health check decides. */
  if (!err || delivered || err == UV_ECANCELED || err == UV_ETIMEDOUT) return;
  if (cp->dead || cp->state != COPY_READY || !cp->inst || !cp->inst->remote) return;
  cp->state = COPY_STARTING;
}

void router_try_note(router_try *t, const copy *cp) {
  t->copy_id = cp->id;
  snprintf(t->address, sizeof t->address, "%s",
           cp->inst && cp->inst->remote ? cp->inst->address : "127.0.0.1");
  t->port = cp->port;
}

void router_log_failure(const char *request_id, const char *icname, const router_try *t, int err,
                        int delivered, int retried) {
  if (retried)
    berth_log(BERTH_LOG_WARN,
              "invocation %s of %s: copy %lld at %s:%d failed before the request reached its "
              "model (%s); sent to another copy",
              request_id, icname, (long long)t->copy_id, t->address, t->port, uv_strerror(err));
  else
    berth_log(BERTH_LOG_WARN, "invocation %s of %s failed at copy %lld at %s:%d: %s%s",
              request_id, icname, (long long)t->copy_id, t->address, t->port, uv_strerror(err),
              delivered ? " (its model had the request: not sent again)" : "");
}

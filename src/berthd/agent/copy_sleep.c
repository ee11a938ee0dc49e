/* copy_sleep: see copy_sleep.h.
 *
 * DESIGN: one call at a time per copy (cp->sleep_call: POST /sleep,
 * POST /wake_up, then GET /ping until 200), counted in open_handles like
 * the health check, so a copy that goes away meanwhile is freed only
 * after the call ends. A call's answer applies only while the copy is
 * still in the phase that sent it; anything else (stopped, exited) has
 * cleared the phase already. */
#include "copy_sleep.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent_state.h"
#include "berth/log.h"
#include "cgroup.h"
#include "copy_limits.h"

#define SLEEP_CALL_TIMEOUT_MS 30000   /* POST /sleep: the server offloads its weights */
#define WAKE_CALL_TIMEOUT_MS 120000   /* POST /wake_up: it loads them back */
#define WAKE_PING_TIMEOUT_MS 2000
#define WAKE_PING_EVERY_MS 50

static void on_call_done(berth_http_call *call, int err, void *ud);

static void on_call_head(berth_http_call *call, int status, const berth_http_header *h, size_t n,
                         void *ud) {
  (void)call;
  (void)h;
  (void)n;
  ((copy *)ud)->sleep_status = status;
}

static void on_call_body(berth_http_call *call, const char *d, size_t n, void *ud) {
  (void)call;
  (void)d;
  (void)n;
  (void)ud;
}

static const berth_http_call_cb call_cb = {on_call_head, on_call_body, on_call_done};

static int send_call(ctl *c, copy *cp, const char *method, const char *target,
                     uint64_t timeout_ms) {
  berth_http_request_opts o = {.host = "127.0.0.1", .port = cp->port, .method = method,
                               .target = target, .timeout_ms = timeout_ms};
  cp->sleep_status = 0;
  int rc = berth_http_request(c->client, &o, &call_cb, cp, &cp->sleep_call);
  if (rc == 0) cp->open_handles++;
  return rc;
}

static int freeze(ctl *c, copy *cp, int frozen) {
  cgroup_copy g;
  if (!copy_limits_cgroup_of(c, cp, &g)) return -ENOTSUP;
  int rc = cgroup_copy_freeze(&g, frozen);
  if (rc == 0) cp->frozen = frozen;
  return rc;
}

/* It could not sleep: ready again, never asked again. */
static void cannot_sleep(ctl *c, copy *cp, const char *why) {
  berth_log(BERTH_LOG_INFO, "%s: copy %lld cannot sleep (%s): it stays ready", cp->owner->name,
            (long long)cp->id, why);
  cp->no_sleep = 1;
  cp->sleep_phase = COPY_SLEEP_NONE;
  c->copy_awake(c, cp);
}

static void asleep(ctl *c, copy *cp, int via) {
  cp->sleep_via = via;
  int wake = cp->sleep_phase == COPY_SLEEP_WAKE_NEXT;
  cp->sleep_phase = COPY_SLEEP_ASLEEP;
  berth_log(BERTH_LOG_INFO, "%s: copy %lld asleep (%s)", cp->owner->name, (long long)cp->id,
            via == COPY_SLEEP_VIA_API ? "its server's POST /sleep?level=1" : "its cgroup frozen");
  agent_state_save(c); /* a frozen copy is thawed by the next agent */
  if (wake) {
    copy_wake_begin(c, cp);
    return;
  }
  ctl_kick(c);
}

/* No API: the copy's cgroup is frozen instead, where it has one. */
static void sleep_by_freezing(ctl *c, copy *cp, int status) {
  int rc = freeze(c, cp, 1);
  if (rc == 0) {
    asleep(c, cp, COPY_SLEEP_VIA_FREEZE);
    return;
  }
  char why[200];
  snprintf(why, sizeof why, "its server answered POST /sleep with %d and its cgroup cannot be "
           "frozen: %s", status, rc == -ENOTSUP ? "no cgroup v2 group" : strerror(-rc));
  if (cp->sleep_phase == COPY_SLEEP_WAKE_NEXT) {
    cp->sleep_phase = COPY_SLEEP_NONE;
    c->copy_awake(c, cp);
    return;
  }
  cannot_sleep(c, cp, why);
}

static void wake_failed(ctl *c, copy *cp, const char *why) {
  (void)c;
  berth_log(BERTH_LOG_WARN, "%s: copy %lld did not wake (%s): restarting it", cp->owner->name,
            (long long)cp->id, why);
  cp->sleep_phase = COPY_SLEEP_NONE;
  if (cp->pid) uv_kill(-cp->pid, SIGKILL); /* its exit restarts it */
}

static void ping(ctl *c, copy *cp) {
  if (send_call(c, cp, "GET", "/ping", WAKE_PING_TIMEOUT_MS) != 0)
    wake_failed(c, cp, "GET /ping could not be sent");
}

static void on_ping_again(uv_timer_t *t) {
  copy *cp = t->data;
  if (cp->dead || cp->state != COPY_SLEEPING || cp->sleep_phase != COPY_SLEEP_CHECKING ||
      cp->sleep_call)
    return;
  ping(cp->ctl, cp);
}

static void woken(ctl *c, copy *cp) {
  uint64_t took = uv_now(c->loop) - cp->wake_ms;
  cp->sleep_phase = COPY_SLEEP_NONE;
  cp->sleep_via = 0;
  berth_log(BERTH_LOG_INFO, "%s: copy %lld awake and ready after %llu ms", cp->owner->name,
            (long long)cp->id, (unsigned long long)took);
  c->copy_awake(c, cp);
  agent_state_save(c);
}

static void on_call_done(berth_http_call *call, int err, void *ud) {
  (void)call;
  copy *cp = ud;
  ctl *c = cp->ctl;
  cp->sleep_call = NULL;
  cp->open_handles--;
  if (cp->dead) {
    if (cp->open_handles == 0 && cp->inflight == 0) copy_free(cp);
    return;
  }
  if (cp->state != COPY_SLEEPING) return; /* exited or stopped meanwhile */
  int st = cp->sleep_status;
  int ok = err == 0 && st >= 200 && st < 300;
  switch (cp->sleep_phase) {
  case COPY_SLEEP_GOING:
  case COPY_SLEEP_WAKE_NEXT:
    if (ok) {
      asleep(c, cp, COPY_SLEEP_VIA_API);
    } else if (err == 0 && (st == 404 || st == 405 || st == 501)) {
      sleep_by_freezing(c, cp, st);
    } else {
      char why[160];
      snprintf(why, sizeof why, "POST /sleep?level=1 %s%s", err ? "failed: " : "answered ",
               err ? uv_strerror(err) : "");
      if (!err) snprintf(why + strlen(why), sizeof why - strlen(why), "%d", st);
      /* It may be half asleep: wake and check it; it is not asked again. */
      berth_log(BERTH_LOG_WARN, "%s: copy %lld did not sleep (%s): waking it and keeping it "
                "ready", cp->owner->name, (long long)cp->id, why);
      cp->no_sleep = 1;
      cp->sleep_phase = COPY_SLEEP_ASLEEP;
      cp->sleep_via = COPY_SLEEP_VIA_API;
      copy_wake_begin(c, cp);
    }
    return;
  case COPY_SLEEP_WAKING:
    if (!ok) {
      char why[160];
      if (err)
        snprintf(why, sizeof why, "POST /wake_up failed: %s", uv_strerror(err));
      else
        snprintf(why, sizeof why, "POST /wake_up answered %d", st);
      wake_failed(c, cp, why);
      return;
    }
    cp->sleep_phase = COPY_SLEEP_CHECKING;
    ping(c, cp);
    return;
  case COPY_SLEEP_CHECKING:
    if (ok && st == 200) {
      woken(c, cp);
      return;
    }
    if (uv_now(c->loop) - cp->wake_ms > (uint64_t)cp->owner->startup_timeout_s * 1000) {
      wake_failed(c, cp, "GET /ping did not answer 200 within its "
                         "ContainerStartupHealthCheckTimeoutInSeconds");
      return;
    }
    if (cp->timer) uv_timer_start(cp->timer, on_ping_again, WAKE_PING_EVERY_MS, 0);
    return;
  default:
    return;
  }
}

void copy_sleep_begin(ctl *c, copy *cp) {
  if (cp->state != COPY_READY || cp->no_sleep || cp->sleep_call) return;
  if (cp->ping) berth_http_call_cancel(cp->ping); /* no health check while asleep */
  if (cp->timer) uv_timer_stop(cp->timer);
  cp->state = COPY_SLEEPING;
  cp->sleep_phase = COPY_SLEEP_GOING;
  cp->sleep_via = 0;
  ctl_kick(c); /* reported "sleeping" from now on */
  if (send_call(c, cp, "POST", "/sleep?level=1", SLEEP_CALL_TIMEOUT_MS) != 0)
    sleep_by_freezing(c, cp, 0);
}

void copy_wake_begin(ctl *c, copy *cp) {
  if (cp->state != COPY_SLEEPING) return;
  if (cp->sleep_phase == COPY_SLEEP_GOING) {
    cp->sleep_phase = COPY_SLEEP_WAKE_NEXT; /* after POST /sleep answers */
    return;
  }
  if (cp->sleep_phase != COPY_SLEEP_ASLEEP) return;
  cp->sleep_phase = COPY_SLEEP_WAKING;
  cp->wake_ms = uv_now(c->loop); /* its deadline and log */
  ctl_kick(c);
  if (cp->sleep_via == COPY_SLEEP_VIA_FREEZE) {
    int rc = freeze(c, cp, 0);
    if (rc) {
      char why[160];
      snprintf(why, sizeof why, "its cgroup could not be thawed: %s", strerror(-rc));
      wake_failed(c, cp, why);
      return;
    }
    cp->sleep_phase = COPY_SLEEP_CHECKING;
    agent_state_save(c);
    ping(c, cp);
    return;
  }
  if (send_call(c, cp, "POST", "/wake_up", WAKE_CALL_TIMEOUT_MS) != 0)
    wake_failed(c, cp, "POST /wake_up could not be sent");
}

void copy_sleep_forget(ctl *c, copy *cp) {
  if (cp->sleep_call) berth_http_call_cancel(cp->sleep_call);
  if (cp->sleep_via == COPY_SLEEP_VIA_FREEZE && cp->pid) freeze(c, cp, 0);
  cp->sleep_phase = COPY_SLEEP_NONE;
  cp->sleep_via = 0;
}

const char *copy_sleep_report(const copy *cp) {
  if (cp->state != COPY_SLEEPING) return NULL;
  return cp->sleep_phase == COPY_SLEEP_WAKING || cp->sleep_phase == COPY_SLEEP_CHECKING
             ? "waking" : "sleeping";
}

void copy_sleep_thaw_adopted(ctl *c, copy *cp) {
  int rc = freeze(c, cp, 0);
  if (rc)
    berth_log(BERTH_LOG_WARN, "%s: copy %lld was left frozen and cannot be thawed: %s",
              cp->owner->name, (long long)cp->id, strerror(-rc));
}

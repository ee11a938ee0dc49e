/* copy_sleep_policy: see copy_sleep_policy.h. */
#include "copy_sleep_policy.h"

#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "berth/log.h"
#include "berth/sleep.h"
#include "ic.h"
#include "routing.h"

int copy_sleep_policy_parse(json_t *spec, berth_sleep_policy *out, api_error *e) {
  memset(out, 0, sizeof *out);
  json_t *p;
  if (valid_object(spec, "BerthSleepPolicy", "Specification.BerthSleepPolicy", 0, &p, e))
    return -1;
  if (!p) return 0;
  long long idle, stop;
  if (valid_int(p, "SleepAfterIdleSeconds", "Specification.BerthSleepPolicy.SleepAfterIdleSeconds",
                0, BERTH_SLEEP_AFTER_IDLE_MIN_S, BERTH_SLEEP_AFTER_IDLE_MAX_S,
                BERTH_SLEEP_AFTER_IDLE_DEFAULT_S, &idle, e) ||
      valid_int(p, "StopAfterSleepSeconds", "Specification.BerthSleepPolicy.StopAfterSleepSeconds",
                0, 0, BERTH_STOP_AFTER_SLEEP_MAX_S, BERTH_STOP_AFTER_SLEEP_DEFAULT_S, &stop, e))
    return -1;
  const char *k;
  json_t *v;
  json_object_foreach(p, k, v) {
    if (strcmp(k, "SleepAfterIdleSeconds") != 0 && strcmp(k, "StopAfterSleepSeconds") != 0)
      return api_fail(e, 400, "ValidationException",
                      "Specification.BerthSleepPolicy has no field \"%s\": it takes "
                      "SleepAfterIdleSeconds and StopAfterSleepSeconds", k);
  }
  out->enabled = 1;
  out->sleep_after_idle_s = (double)idle;
  out->stop_after_sleep_s = (double)stop;
  return 0;
}

json_t *copy_sleep_policy_describe(const berth_sleep_policy *p) {
  return json_pack("{s:I,s:I}", "SleepAfterIdleSeconds", (json_int_t)p->sleep_after_idle_s,
                   "StopAfterSleepSeconds", (json_int_t)p->stop_after_sleep_s);
}

int copy_sleep_policy_sleeping(const ic *x) {
  int n = 0;
  for (const copy *cp = x->copies; cp; cp = cp->next) n += cp->state == COPY_SLEEPING;
  return n;
}

int copy_sleep_policy_wants_sleep(const copy *cp) {
  return cp->state == COPY_SLEEPING && cp->sleep_told && !cp->waking;
}

/* The copy holds its memory only from now on. */
static void reserve_asleep(copy *cp) {
  if (!cp->inst || cp->reserved_asleep) return;
  ctl_copy_release(cp);
  sched_need asleep = berth_sleep_need(&cp->need);
  sched_assignment none = cp->assign;
  none.n_devices = 0;
  sched_reserve(&cp->inst->res, &asleep, &none);
  cp->reserved_asleep = 1;
}

/* The copy holds its whole need again (it runs: awake, or restarting). */
static void reserve_awake(copy *cp) {
  if (!cp->inst || !cp->reserved_asleep) return;
  ctl_copy_release(cp);
  sched_reserve(&cp->inst->res, &cp->need, &cp->assign);
}

static void go_to_sleep(ctl *c, copy *cp, double idle_s) {
  cp->state = COPY_SLEEPING;
  cp->sleep_told = 0;
  cp->waking = 0;
  cp->asleep_since = ctl_clock();
  reserve_asleep(cp);
  berth_log(BERTH_LOG_INFO, "%s: copy %lld sleeps: no request for %.0f s "
            "(BerthSleepPolicy.SleepAfterIdleSeconds %.0f); its CPU and accelerator share are "
            "free for other copies", cp->owner->name, (long long)cp->id, idle_s,
            cp->owner->sleep.sleep_after_idle_s);
  ctl_kick(c);
}

static void back_to_ready(ctl *c, copy *cp, const char *how) {
  reserve_awake(cp);
  int was_waking = cp->waking;
  cp->state = COPY_READY;
  cp->waking = 0;
  cp->sleep_told = 0;
  cp->idle_since = ctl_clock();
  if (was_waking)
    berth_log(BERTH_LOG_INFO, "%s: copy %lld %s after %.0f ms", cp->owner->name,
              (long long)cp->id, how, (double)(uv_now(c->loop) - cp->ready_ms));
  else
    berth_log(BERTH_LOG_INFO, "%s: copy %lld %s", cp->owner->name, (long long)cp->id, how);
  cp->ready_ms = uv_now(c->loop);
  ctl_kick(c);
}

/* Whether the IC may lose a copy to StopAfterSleepSeconds: only when it
 * scales (a request wakes it from zero) and above its MinCapacity. */
static int may_stop(const ic *x) {
  return x->scaling && !x->rollout && x->desired > x->scaling->cfg.min_capacity;
}

void copy_sleep_policy_step(ctl *c, ic *x) {
  if (x->deleting || x->failed_sticky || x->base[0]) return;
  double now = ctl_clock();
  int router_current = -1; /* asked once, when a copy waits on it */
  int stopped = 0;
  copy *next;
  for (copy *cp = x->copies; cp; cp = next) {
    next = cp->next;
    if (cp->state == COPY_READY) {
      if (cp->inflight > 0 || cp->unhealthy) {
        cp->idle_since = 0;
        continue;
      }
      if (cp->idle_since == 0) cp->idle_since = now;
      double since = cp->idle_since > x->last_request ? cp->idle_since : x->last_request;
      if (!x->sleep.enabled || cp->no_sleep || cp->moving || x->rollout || !cp->inst) continue;
      if (berth_sleep_decide(&x->sleep, 0, since, now, 0) == BERTH_SLEEP_SLEEP)
        go_to_sleep(c, cp, now - since);
      continue;
    }
    if (cp->state != COPY_SLEEPING) continue;
    /* Out of rotation and nothing in flight there: its agent may act. */
    if (!cp->sleep_told && !cp->waking && cp->inflight == 0 && router_current < 0)
      router_current = routing_router_current(c);
    if (!cp->sleep_told && !cp->waking && cp->inflight == 0 && router_current == 1) {
      cp->sleep_told = 1;
      ctl_kick(c);
    }
    if (cp->waking || stopped) continue;
    if (!x->sleep.enabled) {
      /* The policy was removed (UpdateInferenceComponent): awake again. */
      copy_sleep_policy_wake(c, x);
      return;
    }
    if (berth_sleep_decide(&x->sleep, 1, cp->asleep_since, now, may_stop(x)) ==
        BERTH_SLEEP_STOP) {
      char cause[300];
      snprintf(cause, sizeof cause, "copy %lld asleep for %.0f s "
               "(BerthSleepPolicy.StopAfterSleepSeconds %.0f)", (long long)cp->id,
               now - cp->asleep_since, x->sleep.stop_after_sleep_s);
      /* A scale-in by one: converge stops a sleeping copy first. */
      if (ic_set_desired(c, x, x->desired - 1, cause) == 0) stopped = 1;
    }
  }
}

void copy_sleep_policy_wake(ctl *c, ic *x) {
  copy *next;
  for (copy *cp = x->copies; cp; cp = next) {
    next = cp->next;
    if (cp->state != COPY_SLEEPING || cp->waking) continue;
    if (cp->inst && cp->reserved_asleep &&
        !berth_sleep_wake_fits(&cp->inst->res, &cp->need, &cp->assign)) {
      berth_log(BERTH_LOG_INFO, "%s: copy %lld cannot wake on instance %lld: other copies took "
                "its CPU or accelerator share while it slept; it stops and a new copy starts "
                "instead (a cold start)", x->name, (long long)cp->id, (long long)cp->inst->id);
      agent_stop(c, cp);
      continue;
    }
    if (!cp->sleep_told) {
      /* Its agent was never told: the server is awake and serving. */
      back_to_ready(c, cp, "woken before its agent put it to sleep: ready again");
      continue;
    }
    reserve_awake(cp);
    cp->waking = 1;
    cp->ready_ms = uv_now(c->loop); /* the wake's start, for the log */
    berth_log(BERTH_LOG_INFO, "%s: waking copy %lld (a request is held for it)", x->name,
              (long long)cp->id);
  }
  x->last_request = ctl_clock();
  ctl_kick(c);
}

void copy_sleep_policy_report(ctl *c, copy *cp, json_t *rep) {
  const char *state = json_string_value(json_object_get(rep, "state"));
  if (!state) return;
  if (json_is_true(json_object_get(rep, "no_sleep")) && !cp->no_sleep) {
    cp->no_sleep = 1;
    if (strcmp(state, "ready") == 0) {
      back_to_ready(c, cp, "cannot sleep (its server has no sleep API and it has no cgroup to "
                           "freeze): ready again, and never asked again");
      return;
    }
  }
  if (strcmp(state, "ready") == 0) {
    /* Woken (or woken before its agent was told to sleep): serving. A
     * "ready" otherwise was sent before its agent heard "sleep". */
    if (cp->waking) back_to_ready(c, cp, "awake: ready again");
    return;
  }
  /* "adopting": a restarted agent checks it, then is told to sleep. */
  if (strcmp(state, "sleeping") == 0 || strcmp(state, "waking") == 0 ||
      strcmp(state, "adopting") == 0)
    return;
  /* It crashed while asleep and restarts on its agent: starting again,
   * with its whole reservation. */
  reserve_awake(cp);
  cp->state = strcmp(state, "stopping") == 0 ? COPY_STOPPING : COPY_STARTING;
  cp->waking = 0;
  cp->sleep_told = 0;
  ctl_kick(c);
}

void copy_sleep_policy_adopt_asleep(ctl *c, copy *cp) {
  (void)c;
  cp->state = COPY_SLEEPING;
  cp->sleep_told = 1;
  cp->asleep_since = ctl_clock();
  sched_need asleep = berth_sleep_need(&cp->need);
  sched_assignment none = cp->assign;
  none.n_devices = 0;
  sched_reserve(&cp->inst->res, &asleep, &none);
  cp->reserved_asleep = 1;
}

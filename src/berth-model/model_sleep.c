/* model_sleep: see model_sleep.h. */
#include "model_sleep.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
  uv_loop_t *loop;
  uv_timer_t timer;
  uint64_t wake_delay_ms;
  int asleep;                  /* POST /sleep was the last word */
  int waking;                  /* the wake timer runs */
  int level;
  berth_http_req *waiters[MODEL_SLEEP_MAX_WAITERS];
  int n_waiters;
  int closed;
} st;

static void answer(berth_http_req *req, int status, json_t *o) {
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  berth_http_header h[1] = {{"Content-Type", "application/json"}};
  berth_http_respond(req, status, h, 1, s ? s : "{}", s ? strlen(s) : 2);
  free(s);
}

static void forget_waiter(berth_http_req *req) {
  for (int i = 0; i < st.n_waiters; i++)
    if (st.waiters[i] == req) {
      st.waiters[i] = st.waiters[--st.n_waiters];
      return;
    }
}

static void on_waiter_gone(berth_http_req *req) {
  forget_waiter(req);
}

static void answer_waiters(int status, const char *what) {
  while (st.n_waiters > 0) {
    berth_http_req *req = st.waiters[--st.n_waiters];
    req->on_abort = NULL;
    answer(req, status, json_pack("{s:s}", status == 200 ? "status" : "error", what));
  }
}

static void on_awake(uv_timer_t *t) {
  (void)t;
  st.waking = 0;
  st.asleep = 0;
  fprintf(stderr, "berth-model: awake after %llu ms\n", (unsigned long long)st.wake_delay_ms);
  answer_waiters(200, "awake");
}

void model_sleep_init(uv_loop_t *loop, uint64_t wake_delay_ms) {
  st.loop = loop;
  st.wake_delay_ms = wake_delay_ms;
  uv_timer_init(loop, &st.timer);
}

int model_sleep_refusing(void) {
  return st.asleep || st.waking;
}

/* level=N in the query (vLLM's default is 1). 0 when absent, -1 when bad. */
static int level_of(const char *q) {
  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    if (len > 6 && strncmp(q, "level=", 6) == 0) {
      if (len == 7 && (q[6] == '1' || q[6] == '2')) return q[6] - '0';
      return -1;
    }
    q = amp ? amp + 1 : NULL;
  }
  return 0;
}

static void do_sleep(berth_http_req *req) {
  int level = level_of(req->query);
  if (level < 0) {
    answer(req, 400, json_pack("{s:s}", "error", "level must be 1 (weights kept in host "
                               "memory) or 2 (weights dropped)"));
    return;
  }
  if (st.waking) {
    /* Asleep again before the wake ended: the wake calls learn it. */
    uv_timer_stop(&st.timer);
    st.waking = 0;
    answer_waiters(503, "put back to sleep before it woke");
  }
  if (!st.asleep) fprintf(stderr, "berth-model: asleep (level %d)\n", level ? level : 1);
  st.asleep = 1;
  st.level = level ? level : 1;
  berth_http_respond(req, 200, NULL, 0, "", 0);
}

static void do_wake(berth_http_req *req) {
  if (!st.asleep) {
    berth_http_respond(req, 200, NULL, 0, "", 0);
    return;
  }
  if (st.n_waiters >= MODEL_SLEEP_MAX_WAITERS || st.closed) {
    answer(req, 503, json_pack("{s:s}", "error", "too many POST /wake_up waiting; retry"));
    return;
  }
  st.waiters[st.n_waiters++] = req;
  req->on_abort = on_waiter_gone;
  if (!st.waking) {
    st.waking = 1;
    fprintf(stderr, "berth-model: waking (%llu ms)\n", (unsigned long long)st.wake_delay_ms);
    uv_timer_start(&st.timer, on_awake, st.wake_delay_ms, 0);
  }
}

int model_sleep_route(berth_http_req *req) {
  int post = strcmp(req->method, "POST") == 0;
  if (strcmp(req->path, "/sleep") == 0) {
    if (!post)
      answer(req, 405, json_pack("{s:s}", "error", "use POST for /sleep"));
    else
      do_sleep(req);
    return 1;
  }
  if (strcmp(req->path, "/wake_up") == 0) {
    if (!post)
      answer(req, 405, json_pack("{s:s}", "error", "use POST for /wake_up"));
    else
      do_wake(req);
    return 1;
  }
  if (strcmp(req->path, "/is_sleeping") == 0) {
    if (strcmp(req->method, "GET") != 0)
      answer(req, 405, json_pack("{s:s}", "error", "use GET for /is_sleeping"));
    else
      answer(req, 200, json_pack("{s:b}", "is_sleeping", st.asleep));
    return 1;
  }
  return 0;
}

void model_sleep_close(void) {
  st.closed = 1;
  uv_timer_stop(&st.timer);
  answer_waiters(503, "the server is stopping");
  uv_close((uv_handle_t *)&st.timer, NULL);
}

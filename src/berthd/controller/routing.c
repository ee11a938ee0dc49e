/* routing: see routing.h. */
#include "routing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_ic.h"
#include "agent.h"
#include "auth.h"
#include "longpoll.h"
#include "autoscale.h"
#include "berth/log.h"
#include "berth/secret.h"
#include "metrics.h"

typedef struct routing_waiter {
  struct routing_waiter *next;
  void (*cb)(void *ud);
  void *ud;
  uint64_t seq;                  /* the snapshot it waits for */
  uint64_t until_ms;
} routing_waiter;

static routing_waiter *waiters; /* one controller per process */


static int authorized(ctl *c, berth_http_req *req) {
  const char *auth = berth_http_req_header(req, "authorization");
  if (!c->router_token[0] || !auth || strncmp(auth, "Bearer ", 7) != 0) return 0;
  return berth_secret_equal(c->router_token, auth + 7);
}

static int refuse(ctl *c, berth_http_req *req) {
  if (authorized(c, req)) return 0;
  berth_log(BERTH_LOG_WARN, "refused a router request from %s: wrong or missing router token",
            req->peer);
  longpoll_reply(req, 401, json_pack("{s:s}", "message", "router token refused"));
  return 1;
}

/* The snapshot, with its version (a hash of the rest) set. */
static json_t *snapshot(ctl *c) {
  json_t *eps = json_array();
  for (endpoint *ep = c->endpoints; ep; ep = ep->next) {
    json_t *vs = json_array();
    for (int i = 0; i < ep->cfg.n_variants; i++)
      json_array_append_new(vs, json_pack("{s:s,s:i,s:i,s:i}", "name", ep->cfg.variants[i].name,
                                          "routing", (int)ep->cfg.variants[i].routing,
                                          "prefix_length", (int)ep->cfg.variants[i].prefix.length,
                                          "prefix_threshold",
                                          (int)ep->cfg.variants[i].prefix.threshold));
    json_array_append_new(eps, json_pack("{s:s,s:i,s:o}", "name", ep->name, "status",
                                         (int)ep->status, "variants", vs));
  }
  json_t *ics = json_array();
  for (ic *x = c->ics; x; x = x->next) {
    json_t *copies = json_array();
    int coming = 0, sleeping = 0;
    for (copy *cp = x->copies; cp; cp = cp->next) {
      coming += cp->inst && (cp->state == COPY_STARTING || cp->state == COPY_BACKOFF);
      sleeping += cp->state == COPY_SLEEPING;
      if (!cp->inst || (cp->state != COPY_READY && cp->state != COPY_DRAINING)) continue;
      json_array_append_new(copies, json_pack("{s:I,s:s,s:i,s:b}", "id", (json_int_t)cp->id,
                                              "address", cp->inst->address, "port", cp->port,
                                              "draining", cp->state == COPY_DRAINING));
    }
    json_array_append_new(ics, json_pack("{s:s,s:s,s:s,s:i,s:s,s:i,s:i,s:b,s:b,s:b,s:o}", "name",
                                         x->name, "endpoint", x->endpoint, "variant", x->variant,
                                         "status", (int)x->status, "failure", x->failure,
                                         "desired", x->desired, "coming", coming,
                                         "deleting", x->deleting,
                                         "failed", x->failed_sticky, "wakes", x->scaling != NULL,
                                         "copies", copies));
    /* Copies asleep: a request is held and wakes them (docs/sleep.md). */
    json_object_set_new(json_array_get(ics, json_array_size(ics) - 1), "sleeping",
                        json_integer(sleeping));
    adapter_ic_route(c, x, json_array_get(ics, json_array_size(ics) - 1));
    /* Its creation time: the OpenAI API's model list shows it (openai.c). */
    json_object_set_new(json_array_get(ics, json_array_size(ics) - 1), "created",
                        json_integer((json_int_t)x->created));
  }
  /* The access keys too: routers check the runtime API's signatures
   * themselves, so invocations never wait on the controller. */
  json_t *snap = json_pack("{s:o,s:o,s:o}", "endpoints", eps, "ics", ics, "keys", auth_export(c));
  uint64_t h = longpoll_hash(snap);
  /* Versions count up, from this start's wall time in ms (so they keep
   * counting up across restarts), each time the content changes. */
  if (!c->snapshot_seq) c->snapshot_seq = (uint64_t)(ctl_now() * 1000);
  if (h != c->snapshot_hash) {
    c->snapshot_hash = h;
    c->snapshot_seq++;
  }
  snprintf(c->snapshot_version, sizeof c->snapshot_version, "%llu",
           (unsigned long long)c->snapshot_seq);
  json_object_set_new(snap, "version", json_string(c->snapshot_version));
  return snap;
}

static int router_around(ctl *c) {
  return c->router_seen > 0 && ctl_clock() - c->router_seen <= ROUTING_LOST_S;
}

/* Waiters whose snapshot the router serves (or whose wait ran out). */
static void fire_waiters(ctl *c, int all) {
  uint64_t now = uv_now(c->loop);
  routing_waiter **pp = &waiters;
  while (*pp) {
    routing_waiter *w = *pp;
    if (all || !router_around(c) || now >= w->until_ms ||
        strtoull(c->router_version, NULL, 10) >= w->seq) {
      *pp = w->next;
      w->cb(w->ud);
      free(w);
      continue;
    }
    pp = &w->next;
  }
}

void routing_when_seen(ctl *c, void (*cb)(void *ud), void *ud) {
  json_decref(snapshot(c));
  if (!router_around(c) || strtoull(c->router_version, NULL, 10) >= c->snapshot_seq ||
      c->shutting_down) {
    cb(ud);
    return;
  }
  routing_waiter *w = berth_xcalloc(1, sizeof *w);
  w->cb = cb;
  w->ud = ud;
  w->seq = c->snapshot_seq;
  w->until_ms = uv_now(c->loop) + ROUTING_SEEN_WAIT_MS;
  w->next = waiters;
  waiters = w;
  routing_wake(c, 0); /* the router may be waiting for exactly this */
}

int routing_router_current(ctl *c) {
  if (!router_around(c)) return 1;
  json_decref(snapshot(c)); /* the version as the copies stand now */
  return strcmp(c->router_version, c->snapshot_version) == 0;
}

/* May a draining copy stop: no router can still send it a request. */
static int drained(ctl *c, const copy *cp) {
  if (cp->inflight) return 0;
  if (!router_around(c)) return 1;
  return strcmp(c->router_version, c->snapshot_version) == 0;
}

static void stop_drained(ctl *c) {
  for (ic *x = c->ics; x; x = x->next) {
    copy *next;
    for (copy *cp = x->copies; cp; cp = next) {
      next = cp->next;
      if ((cp->state == COPY_DRAINING || cp->state == COPY_STOPPING) && drained(c, cp))
        agent_drained(c, cp);
    }
  }
}

void routing_wake(ctl *c, int all) {
  json_t *snap = snapshot(c);
  uint64_t now = uv_now(c->loop);
  /* Until agents have reported what survived a restart, the snapshot is
   * not the truth: routers keep serving from theirs. */
  int adopting = ctl_adopting(c);
  longpoll *next;
  for (longpoll *p = c->polls; p; p = next) {
    next = p->next;
    int expired = now >= p->until_ms;
    if (!all && !expired && (adopting || strcmp(p->version, c->snapshot_version) == 0)) continue;
    berth_http_req *req = longpoll_take(p);
    if (adopting && !all)
      longpoll_reply(req, 503, json_pack("{s:s}", "message", "adopting the copies that outlived a restart"));
    else
      longpoll_reply(req, 200, json_incref(snap));
  }
  json_decref(snap);
  stop_drained(c);
  fire_waiters(c, all);
}

/* GET /router/v1/snapshot?version=V&wait_ms=N */
void routing_on_snapshot(ctl *c, berth_http_req *req) {
  if (refuse(c, req)) return;
  char have[32] = "";
  long wait_ms = 0;
  const char *q = req->query;
  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    if (len > 8 && strncmp(q, "version=", 8) == 0 && len - 8 < sizeof have)
      snprintf(have, sizeof have, "%.*s", (int)(len - 8), q + 8);
    if (len > 8 && strncmp(q, "wait_ms=", 8) == 0) wait_ms = strtol(q + 8, NULL, 10);
    q = amp ? amp + 1 : NULL;
  }
  json_t *snap = snapshot(c);
  if (ctl_adopting(c)) {
    wait_ms = ROUTING_MAX_WAIT_MS; /* answered once adoption is over */
  } else if (!have[0] || strcmp(have, c->snapshot_version) != 0 || wait_ms <= 0 ||
             c->shutting_down) {
    longpoll_reply(req, 200, snap);
    return;
  }
  json_decref(snap);
  longpoll_hold(&c->polls, req, NULL, have,
                uv_now(c->loop) + (uint64_t)(wait_ms > ROUTING_MAX_WAIT_MS ? ROUTING_MAX_WAIT_MS
                                                                           : wait_ms));
}

static copy *find_copy(ctl *c, int64_t id) {
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next)
      if (cp->id == id) return cp;
  return NULL;
}

/* POST /router/v1/report {"version", "ics": [{"name", "delta", "waiting",
 * "wake"}], "copies": [[id, in_flight], ...]} */
void routing_on_report(ctl *c, berth_http_req *req) {
  if (refuse(c, req)) return;
  json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
  if (!json_is_object(body)) {
    json_decref(body);
    longpoll_reply(req, 400, json_pack("{s:s}", "message", "a router report is a JSON object"));
    return;
  }
  c->router_seen = ctl_clock();
  snprintf(c->router_version, sizeof c->router_version, "%s",
           json_string_value(json_object_get(body, "version")) ?: "");
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(body, "ics"), i, r) {
    ic *x = metrics_merge_reported(c, r);
    if (!x) continue;
    json_int_t w = json_integer_value(json_object_get(r, "waiting"));
    x->n_waiting = w > 0 && w < 1000000 ? (int)w : 0;
    /* The idle timer of sleeping copies counts from the last request. */
    ic_bucket d;
    metrics_delta_parse(json_object_get(r, "delta"), &d);
    if (d.s.invocations > 0 || x->n_waiting > 0) x->last_request = ctl_clock();
    if (json_is_true(json_object_get(r, "wake"))) {
      autoscale_wake(c, x);
      if (c->wake_sleepers) c->wake_sleepers(c, x); /* its sleeping copies, at once */
    }
  }
  /* Requests in flight per copy: the router's count is the count. */
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next) cp->inflight = 0;
  json_array_foreach(json_object_get(body, "copies"), i, r) {
    copy *cp = find_copy(c, (int64_t)json_integer_value(json_array_get(r, 0)));
    json_int_t n = json_integer_value(json_array_get(r, 1));
    /* A copy serves its IC and its adapters: the router counts each apart. */
    if (cp && n > 0 && n < 1000000) cp->inflight += (uint32_t)n;
  }
  json_decref(body);
  json_decref(snapshot(c)); /* is the router's snapshot the current one? */
  stop_drained(c);
  fire_waiters(c, 0);
  longpoll_reply(req, 200, json_pack("{s:s}", "version", c->snapshot_version));
}

/* router_sync: see router_sync.h. */
#include "router_sync.h"

#include "auth.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"
#include "berth/log.h"
#include "controllers.h"
#include "shared_count.h"
#include "ic.h"
#include "metrics.h"
#include "router.h"
#include "router_pick.h"
#include "sessions.h"

static struct {
  ctl *c;
  controllers controllers;       /* --controller's (controllers.h) */
  berth_tls_client *https_client;
  char leader[256];             /* a standby's x-berth-leader */
  char url[256];                /* the current controller's */
  char host[64];
  int port;
  berth_tls_client *tls;        /* an https controller */
  char tls_name[256];           /* the name its certificate must carry */
  char auth[300];
  char version[32];
  void (*on_first)(ctl *c);
  int have_snapshot;
  int stopping;
  berth_http_call *poll;
  int poll_status;
  berth_buf poll_body;
  uv_timer_t poll_timer, report_timer;
  int reporting;                /* a report is in flight */
  int report_again;             /* news while it was */
  char *report_text;            /* the report in flight */
  int report_status;
  int warned;
  uv_async_t news;              /* a thread contributed (wakes us) */
} rs;

/* What the router's threads share with this one (router_threads.c): the
 * last snapshot, for their mirrors, and what their requests did, for the
 * next report. Each thread owns its mirror; only these cross, under lock. */
static struct {
  pthread_mutex_t lock;
  char *text;                   /* the last snapshot applied here */
  size_t len;
  uint64_t seq;                 /* counts snapshots applied here */
  uv_async_t *subscribers[ROUTER_MAX_THREADS];
  int n_subscribers;
  json_t *inbox;                /* their ICs' entries not yet merged */
} share = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- the mirror ---- */

/* A mirror's hosts are its c->instances: one per copy address. */
static instance *host(ctl *c, const char *address) {
  for (instance *in = c->instances; in; in = in->next)
    if (strcmp(in->address, address) == 0) return in;
  instance *in = berth_xcalloc(1, sizeof *in);
  in->remote = 1;
  snprintf(in->address, sizeof in->address, "%s", address);
  in->next = c->instances;
  c->instances = in;
  return in;
}

static void apply_endpoints(ctl *c, json_t *list) {
  endpoint **pp;
  for (endpoint *ep = c->endpoints; ep; ep = ep->next) ep->mark = 0;
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    const char *name = json_string_value(json_object_get(e, "name"));
    if (!name) continue;
    endpoint *ep = ctl_find_endpoint(c, name);
    if (!ep) {
      ep = berth_xcalloc(1, sizeof *ep);
      snprintf(ep->name, sizeof ep->name, "%s", name);
      ep->next = c->endpoints;
      c->endpoints = ep;
    }
    ep->mark = 1;
    ep->status = (endpoint_status)json_integer_value(json_object_get(e, "status"));
    json_t *vs = json_object_get(e, "variants");
    ep->cfg.n_variants = 0;
    size_t k;
    json_t *v;
    json_array_foreach(vs, k, v) {
      if (ep->cfg.n_variants >= MAX_VARIANTS) break;
      variant *var = &ep->cfg.variants[ep->cfg.n_variants++];
      snprintf(var->name, sizeof var->name, "%s", json_string_value(json_object_get(v, "name")) ?: "");
      var->routing = (berth_route_strategy)json_integer_value(json_object_get(v, "routing"));
      var->prefix.length = (uint32_t)json_integer_value(json_object_get(v, "prefix_length"));
      var->prefix.threshold = (uint32_t)json_integer_value(json_object_get(v, "prefix_threshold"));
    }
  }
  /* Endpoints gone from the snapshot go (requests keep only a copy of
   * their routing strategy). */
  pp = &c->endpoints;
  while (*pp) {
    endpoint *ep = *pp;
    if (!ep->mark) {
      *pp = ep->next;
      free(ep);
      continue;
    }
    pp = &ep->next;
  }
}

static copy *find_in(ic *x, int64_t id) {
  for (copy *cp = x->copies; cp; cp = cp->next)
    if (cp->id == id) return cp;
  return NULL;
}

/* Returns whether x gained a routable copy. */
static int apply_copies(ctl *c, ic *x, json_t *list) {
  int gained = 0;
  size_t i;
  json_t *e;
  for (copy *cp = x->copies; cp; cp = cp->next) cp->mark = 0;
  json_array_foreach(list, i, e) {
    int64_t id = (int64_t)json_integer_value(json_object_get(e, "id"));
    copy *cp = find_in(x, id);
    if (!cp) {
      cp = berth_xcalloc(1, sizeof *cp);
      cp->id = id;
      char key[32];
      snprintf(key, sizeof key, "copy/%lld", (long long)id);
      cp->load = shared_count_attach(key);
      cp->owner = x;
      cp->ctl = c;
      cp->remove_when_stopped = 1;
      copy **pp = &x->copies;
      while (*pp) pp = &(*pp)->next;
      *pp = cp;
    }
    cp->mark = 1;
    cp->inst = host(c, json_string_value(json_object_get(e, "address")) ?: "127.0.0.1");
    cp->port = (int)json_integer_value(json_object_get(e, "port"));
    copy_state was = cp->state;
    /* A copy that refused a connection here comes back with the next
     * answer. */
    cp->state = json_is_true(json_object_get(e, "draining")) ? COPY_DRAINING : COPY_READY;
    if (cp->state == COPY_READY && was != COPY_READY) gained = 1;
  }
  copy *next;
  for (copy *cp = x->copies; cp; cp = next) {
    next = cp->next;
    if (!cp->mark) agent_forget(c, cp); /* freed when its last request ends */
  }
  return gained;
}

static void drop_ic(ctl *c, ic *x) {
  x->deleting = 1;
  router_expire_waiting(c, x); /* held requests get their answer first */
  while (x->copies) agent_forget(c, x->copies);
  router_prefix_forget(x->name);
  ic_unlink(x);
}

static void apply_snapshot(ctl *c, json_t *snap) {
  apply_endpoints(c, json_object_get(snap, "endpoints"));
  auth_import(c, json_object_get(snap, "keys"));
  json_t *list = json_object_get(snap, "ics");
  /* Mark: ICs not in the snapshot go. */
  for (ic *x = c->ics; x; x = x->next) x->mark = 0;
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    const char *name = json_string_value(json_object_get(e, "name"));
    if (!name) continue;
    ic *x = ctl_find_ic(c, name);
    if (!x) {
      x = berth_xcalloc(1, sizeof *x);
      snprintf(x->name, sizeof x->name, "%s", name);
      x->metrics = metrics_new(ctl_clock());
      char key[NAME_MAX_LEN + 4];
      snprintf(key, sizeof key, "ic/%s", name);
      x->held = shared_count_attach(key);
      ic **pp = &c->ics;
      while (*pp) pp = &(*pp)->next;
      *pp = x;
    }
    x->mark = 1;
    snprintf(x->endpoint, sizeof x->endpoint, "%s", json_string_value(json_object_get(e, "endpoint")) ?: "");
    snprintf(x->variant, sizeof x->variant, "%s", json_string_value(json_object_get(e, "variant")) ?: "");
    snprintf(x->failure, sizeof x->failure, "%s", json_string_value(json_object_get(e, "failure")) ?: "");
    x->status = (ic_status)json_integer_value(json_object_get(e, "status"));
    x->desired = (int)json_integer_value(json_object_get(e, "desired"));
    x->deleting = json_is_true(json_object_get(e, "deleting"));
    x->failed_sticky = json_is_true(json_object_get(e, "failed"));
    x->wakes = json_is_true(json_object_get(e, "wakes"));
    x->coming = (int)json_integer_value(json_object_get(e, "coming"));
    x->sleeping = (int)json_integer_value(json_object_get(e, "sleeping"));
    x->created = (double)json_integer_value(json_object_get(e, "created"));
    snprintf(x->base, sizeof x->base, "%s", json_string_value(json_object_get(e, "base")) ?: "");
    if (apply_copies(c, x, json_object_get(e, "copies")) && x->wait_head) router_copy_ready(c, x);
    if (x->wait_head) router_expire_waiting(c, x); /* failed or deleting: answer now */
  }
  ic **pp = &c->ics;
  while (*pp) {
    ic *x = *pp;
    if (!x->mark) {
      *pp = x->next;
      drop_ic(c, x);
      continue;
    }
    pp = &x->next;
  }
}

/* ---- what the threads share ---- */

static void publish(const char *text, size_t len) {
  pthread_mutex_lock(&share.lock);
  free(share.text);
  share.text = berth_xmalloc(len + 1);
  memcpy(share.text, text, len);
  share.text[len] = '\0';
  share.len = len;
  share.seq++;
  for (int i = 0; i < share.n_subscribers; i++) uv_async_send(share.subscribers[i]);
  pthread_mutex_unlock(&share.lock);
}

void router_sync_subscribe(uv_async_t *news) {
  pthread_mutex_lock(&share.lock);
  if (share.n_subscribers < ROUTER_MAX_THREADS) share.subscribers[share.n_subscribers++] = news;
  pthread_mutex_unlock(&share.lock);
}

int router_sync_take(ctl *c, uint64_t *seq) {
  pthread_mutex_lock(&share.lock);
  if (!share.text || share.seq == *seq) {
    pthread_mutex_unlock(&share.lock);
    return 0;
  }
  json_t *snap = json_loadb(share.text, share.len, 0, NULL);
  *seq = share.seq;
  pthread_mutex_unlock(&share.lock);
  if (json_is_object(snap)) apply_snapshot(c, snap);
  json_decref(snap);
  return 1;
}

void router_sync_contribute(ctl *c) {
  json_t *ics = json_array();
  for (ic *x = c->ics; x; x = x->next) {
    ic_bucket d;
    metrics_take(x->metrics, &d);
    json_array_append_new(ics, json_pack("{s:s,s:o,s:b}", "name", x->name, "delta",
                                         metrics_delta_json(&d), "wake", x->wake_pending));
    x->wake_pending = 0;
  }
  pthread_mutex_lock(&share.lock);
  if (!share.inbox) share.inbox = json_array();
  json_array_extend(share.inbox, ics);
  pthread_mutex_unlock(&share.lock);
  json_decref(ics);
  if (rs.c) uv_async_send(&rs.news);
}

/* The threads' deltas into this thread's metrics (one report carries the
 * router's whole traffic); returns whether one wants a copy woken. */
static int merge_contributions(ctl *c) {
  pthread_mutex_lock(&share.lock);
  json_t *inbox = share.inbox;
  share.inbox = NULL;
  pthread_mutex_unlock(&share.lock);
  int wake = 0;
  size_t i;
  json_t *e;
  json_array_foreach(inbox, i, e) {
    ic *x = metrics_merge_reported(c, e);
    if (x && json_is_true(json_object_get(e, "wake"))) wake = x->wake_pending = 1;
  }
  json_decref(inbox);
  return wake;
}

static void report_now(void);

static void on_news(uv_async_t *a) {
  (void)a;
  if (merge_contributions(rs.c)) report_now(); /* a held request wants a copy */
}

/* ---- reports ---- */


static void on_report_head(berth_http_call *call, int status, const berth_http_header *h,
                           size_t n, void *ud) {
  (void)call;
  (void)h;
  (void)n;
  (void)ud;
  rs.report_status = status;
}

static void on_report_body(berth_http_call *call, const char *d, size_t n, void *ud) {
  (void)call;
  (void)d;
  (void)n;
  (void)ud;
}

/* A report that did not arrive: its deltas count again in the next one. */
static void merge_back(ctl *c, const char *text) {
  json_t *r = json_loads(text, 0, NULL);
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(r, "ics"), i, e) {
    ic *x = metrics_merge_reported(c, e);
    if (x && json_is_true(json_object_get(e, "wake"))) x->wake_pending = 1;
  }
  json_decref(r);
}

static void on_report_done(berth_http_call *call, int err, void *ud) {
  (void)call;
  (void)ud;
  rs.reporting = 0;
  if (err || rs.report_status != 200) merge_back(rs.c, rs.report_text);
  free(rs.report_text);
  rs.report_text = NULL;
  if (rs.report_again && !err) report_now();
}

static const berth_http_call_cb report_cb = {on_report_head, on_report_body, on_report_done};

static void report_now(void) {
  ctl *c = rs.c;
  if (rs.reporting) {
    rs.report_again = 1;
    return;
  }
  rs.report_again = 0;
  merge_contributions(c);
  json_t *ics = json_array();
  json_t *copies = json_array();
  for (ic *x = c->ics; x; x = x->next) {
    ic_bucket d;
    metrics_take(x->metrics, &d);
    json_array_append_new(ics, json_pack("{s:s,s:o,s:i,s:b}", "name", x->name, "delta",
                                         metrics_delta_json(&d), "waiting",
                                         (int)(x->held ? shared_count_get(x->held) : 0), "wake",
                                         x->wake_pending));
    x->wake_pending = 0;
    /* Outstanding on every thread (shared_count.h): the controller drains by it. */
    for (copy *cp = x->copies; cp; cp = cp->next) {
      uint32_t n = cp->load ? shared_count_get(cp->load) : cp->inflight;
      if (n) json_array_append_new(copies, json_pack("[I,i]", (json_int_t)cp->id, (int)n));
    }
  }
  json_t *r = json_pack("{s:s,s:o,s:o}", "version", rs.version, "ics", ics, "copies", copies);
  rs.report_text = json_dumps(r, JSON_COMPACT);
  json_decref(r);
  berth_http_header h[2] = {{"content-type", "application/json"}, {"authorization", rs.auth}};
  berth_http_request_opts o = {.host = rs.host, .port = rs.port, .method = "POST",
                               .target = "/router/v1/report", .headers = h, .n_headers = 2,
                               .body = rs.report_text, .body_len = strlen(rs.report_text),
                               .timeout_ms = 5000, .tls = rs.tls, .tls_name = rs.tls_name};
  rs.report_status = 0;
  berth_http_call *call;
  if (berth_http_request(c->client, &o, &report_cb, NULL, &call) == 0) {
    rs.reporting = 1;
  } else {
    merge_back(c, rs.report_text);
    free(rs.report_text);
    rs.report_text = NULL;
  }
}

static void on_report_timer(uv_timer_t *t) {
  (void)t;
  for (ic *x = rs.c->ics; x; x = x->next) router_expire_waiting(rs.c, x);
  report_now();
}

static void on_wake(ctl *c, ic *x) {
  (void)c;
  x->wake_pending = 1;
  report_now();
}

/* ---- the snapshot long poll ---- */

static void poll_now(void);

static void on_poll_timer(uv_timer_t *t) {
  (void)t;
  poll_now();
}

/* A controller a standby named that --controller did not list: followed
 * when the router can reach it as it does the listed ones (https only with
 * the CA it verifies them by). */
static int may_follow(const controller_addr *a) {
  return !a->https || rs.https_client != NULL;
}

/* Polls and reports go to the current controller from now on. */
static void use_controller(void) {
  const controller_addr *a = controllers_current(&rs.controllers);
  snprintf(rs.url, sizeof rs.url, "%s", a->url);
  snprintf(rs.host, sizeof rs.host, "%s", a->host);
  snprintf(rs.tls_name, sizeof rs.tls_name, "%s", a->name);
  rs.port = a->port;
  rs.tls = a->https ? rs.https_client : NULL;
}

static void on_poll_head(berth_http_call *call, int status, const berth_http_header *h, size_t n,
                         void *ud) {
  (void)call;
  (void)ud;
  rs.poll_status = status;
  rs.leader[0] = '\0';
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(h[i].name, "x-berth-leader") == 0)
      snprintf(rs.leader, sizeof rs.leader, "%s", h[i].value);
}

static void on_poll_body(berth_http_call *call, const char *d, size_t n, void *ud) {
  (void)call;
  (void)ud;
  berth_buf_append(&rs.poll_body, d, n);
}

static void on_poll_done(berth_http_call *call, int err, void *ud) {
  (void)call;
  (void)ud;
  rs.poll = NULL;
  if (rs.stopping) return;
  if (err || rs.poll_status != 200) {
    if (!rs.warned)
      berth_log(BERTH_LOG_WARN, "cannot reach the controller at %s (%s): serving from the last "
                "routing snapshot", rs.url, err ? uv_strerror(err) : "refused");
    rs.warned = 1;
    if (rs.poll_status == 401) berth_log(BERTH_LOG_ERROR, "the controller refused our router token");
    int hint = !err && rs.poll_status == 503 && rs.leader[0];
    if ((err || rs.poll_status == 503) && (rs.controllers.n > 1 || hint)) {
      /* Not there, or a standby: the next one (or the leader it named). */
      controllers_next(&rs.controllers, hint ? rs.leader : NULL, may_follow);
      use_controller();
      berth_log(BERTH_LOG_INFO, "trying the controller at %s", rs.url);
    }
    uv_timer_start(&rs.poll_timer, on_poll_timer, ROUTER_RETRY_MS, 0);
    return;
  }
  if (rs.warned) berth_log(BERTH_LOG_INFO, "the controller at %s answers again", rs.url);
  rs.warned = 0;
  json_t *snap = json_loadb(rs.poll_body.data, rs.poll_body.len, 0, NULL);
  if (json_is_object(snap)) {
    const char *v = json_string_value(json_object_get(snap, "version")) ?: "";
    int changed = strcmp(v, rs.version) != 0;
    /* Applied even when unchanged: a copy that refused a connection here
     * comes back into rotation within a poll's wait. */
    apply_snapshot(rs.c, snap);
    publish(rs.poll_body.data, rs.poll_body.len);
    if (changed) {
      snprintf(rs.version, sizeof rs.version, "%s", v);
      report_now(); /* the controller learns we serve it (draining copies may stop) */
    }
    if (!rs.have_snapshot) {
      rs.have_snapshot = 1;
      if (rs.on_first) rs.on_first(rs.c);
    }
  }
  json_decref(snap);
  uv_timer_start(&rs.poll_timer, on_poll_timer, 0, 0);
}

static const berth_http_call_cb poll_cb = {on_poll_head, on_poll_body, on_poll_done};

static void poll_now(void) {
  if (rs.stopping || rs.poll) return;
  char target[128];
  snprintf(target, sizeof target, "/router/v1/snapshot?version=%s&wait_ms=%d", rs.version,
           ROUTER_POLL_WAIT_MS);
  berth_http_header h[1] = {{"authorization", rs.auth}};
  berth_http_request_opts o = {.host = rs.host, .port = rs.port, .method = "GET",
                               .target = target, .headers = h, .n_headers = 1,
                               .timeout_ms = ROUTER_POLL_WAIT_MS + 5000, .tls = rs.tls,
                               .tls_name = rs.tls_name};
  berth_buf_reset(&rs.poll_body);
  rs.poll_status = 0;
  if (berth_http_request(rs.c->client, &o, &poll_cb, NULL, &rs.poll) != 0) {
    rs.poll = NULL;
    uv_timer_start(&rs.poll_timer, on_poll_timer, ROUTER_RETRY_MS, 0);
  }
}

int router_sync_start(ctl *c, const char *url, const char *token, berth_tls_client *tls,
                      void (*on_first)(ctl *c)) {
  char bad[300];
  if (controllers_parse(&rs.controllers, url, bad, sizeof bad) ||
      (controllers_https(&rs.controllers) && !tls))
    return -1;
  rs.https_client = tls;
  use_controller();
  rs.c = c;
  snprintf(rs.auth, sizeof rs.auth, "Bearer %s", token);
  rs.on_first = on_first;
  c->router_mode = 1;
  c->on_wake = on_wake;
  berth_buf_init(&rs.poll_body, 64u << 20);
  /* One table of sticky sessions for all threads (sessions.h). */
  if (!c->sessions) c->sessions = router_sessions_new(ROUTER_SESSIONS_PER_IC);
  uv_async_init(c->loop, &rs.news, on_news);
  uv_timer_init(c->loop, &rs.poll_timer);
  uv_timer_init(c->loop, &rs.report_timer);
  uv_timer_start(&rs.report_timer, on_report_timer, ROUTER_REPORT_MS, ROUTER_REPORT_MS);
  poll_now();
  return 0;
}

void router_sync_stop(ctl *c) {
  (void)c;
  rs.stopping = 1;
  if (rs.poll) berth_http_call_cancel(rs.poll);
  uv_timer_stop(&rs.poll_timer);
  uv_timer_stop(&rs.report_timer);
  report_now();
  uv_close((uv_handle_t *)&rs.news, NULL);
}

/* router_threads: see router_threads.h. */
#include "router_threads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/log.h"
#include "router.h"
#include "router_sync.h"

typedef struct worker {
  int index;                    /* 1..: thread 0 is main's */
  ctl c;                        /* its mirror */
  uv_loop_t loop;
  uv_async_t news;              /* a snapshot, or stop */
  uv_timer_t report;
  uv_thread_t thread;
  uint64_t seq;                 /* the snapshot applied last */
  int port;
  router_listen_fn listen;
  int stop;                     /* atomic: set by main */
  int done;                     /* atomic: its loop has ended */
} worker;

static worker *workers[ROUTER_MAX_THREADS];
static int n_workers;

static void on_wake(ctl *c, ic *x) {
  x->wake_pending = 1;
  router_sync_contribute(c);
}

static void on_report(uv_timer_t *t) {
  worker *w = t->data;
  for (ic *x = w->c.ics; x; x = x->next) router_expire_waiting(&w->c, x);
  router_sync_contribute(&w->c);
}

static void on_closed(void *ud) {
  worker *w = ud;
  router_sync_contribute(&w->c); /* its last deltas */
  uv_timer_stop(&w->report);
  uv_stop(&w->loop);
}

static void on_news(uv_async_t *a) {
  worker *w = a->data;
  ctl *c = &w->c;
  if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
    if (c->shutting_down) return;
    c->shutting_down = 1;
    for (ic *x = c->ics; x; x = x->next) router_expire_waiting(c, x); /* 503: retry */
    if (c->runtime)
      berth_http_server_close(c->runtime, on_closed, w);
    else
      on_closed(w);
    return;
  }
  if (router_sync_take(c, &w->seq) && !c->runtime && !c->shutting_down && w->listen(c, w->port))
    berth_log(BERTH_LOG_WARN, "router thread %d cannot listen: the other threads serve",
              w->index);
}

static void run(void *arg) {
  worker *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  berth_http_client_free(w->c.client); /* its idle connections to copies */
  uv_run(&w->loop, UV_RUN_NOWAIT);
  __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

/* A mirror with main's settings and nothing else of main's but the shared
 * session table. */
static void mirror_init(worker *w, const ctl *m) {
  ctl *c = &w->c;
  c->loop = &w->loop;
  w->loop.data = w;
  c->router_mode = 1;
  c->auth_off = m->auth_off;
  snprintf(c->region, sizeof c->region, "%s", m->region);
  snprintf(c->account, sizeof c->account, "%s", m->account);
  snprintf(c->data_dir, sizeof c->data_dir, "%s", m->data_dir);
  c->invocation_timeout_s = m->invocation_timeout_s;
  c->stream_timeout_s = m->stream_timeout_s;
  c->wake_queue_max = m->wake_queue_max;
  c->wake_timeout_s = m->wake_timeout_s;
  c->body_timeout_s = m->body_timeout_s;
  c->health_interval_s = m->health_interval_s;
  c->sessions = m->sessions;
  /* Request ids come from it: each thread its own sequence. */
  c->random_state = m->random_state ^ uv_hrtime() ^ ((uint64_t)w->index << 56);
  c->on_wake = on_wake;
  c->client = berth_http_client_new(&w->loop, 64);
}

int router_threads_start(ctl *main, int n, int port, router_listen_fn listen) {
  for (int i = 0; i < n && n_workers < ROUTER_MAX_THREADS - 1; i++) {
    worker *w = berth_xcalloc(1, sizeof *w);
    w->index = n_workers + 1;
    w->port = port;
    w->listen = listen;
    uv_loop_init(&w->loop);
    mirror_init(w, main);
    uv_async_init(&w->loop, &w->news, on_news);
    w->news.data = w;
    uv_timer_init(&w->loop, &w->report);
    w->report.data = w;
    uv_timer_start(&w->report, on_report, ROUTER_REPORT_MS, ROUTER_REPORT_MS);
    router_sync_subscribe(&w->news);
    uv_async_send(&w->news); /* the snapshot main has */
    if (uv_thread_create(&w->thread, run, w) != 0) {
      berth_log(BERTH_LOG_ERROR, "cannot start router thread %d", w->index);
      return -1;
    }
    workers[n_workers++] = w;
  }
  return 0;
}

void router_threads_stop(void) {
  for (int i = 0; i < n_workers; i++) {
    __atomic_store_n(&workers[i]->stop, 1, __ATOMIC_RELEASE);
    uv_async_send(&workers[i]->news);
  }
}

int router_threads_running(void) {
  int n = 0;
  for (int i = 0; i < n_workers; i++) n += !__atomic_load_n(&workers[i]->done, __ATOMIC_ACQUIRE);
  return n;
}

void router_threads_join(void) {
  for (int i = 0; i < n_workers; i++) uv_thread_join(&workers[i]->thread);
}

/* sim: one policy, one scenario, on a virtual clock (see sim.h).
 *
 * DESIGN. Every request is simulated: an arrival event, then either a done
 * event on a copy (after any wait in the copy's FIFO queue or, for Berth,
 * in the IC's hold queue while a copy starts) or a failure. Per request the
 * work is two heap operations and an O(1) routing choice (O(copies) for
 * least outstanding), so a day of millions of requests takes seconds.
 *
 * Every 10 seconds a control tick feeds each IC's metric window (lib/window,
 * berthd's own: requests routed, requests refused, the time integral of
 * outstanding requests, ready copies), asks it for the desired copy count, converges copies to it, and runs the fleet decisions. Copies
 * and instances are never reused within a run (ids index growing arrays), so
 * a stale event (a copy cancelled while starting) is recognised by its state.
 * Instances are billed from launch to release, cut at the scenario's end. */
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/buf.h"
#include "berth/cost.h"
#include "berth/scale.h"
#include "berth/window.h"
#include "berth/forecast.h"
#include "berth/sched.h"
#include "berth/converge.h"
#include "berth/fleet.h"
#include "berth/route.h"
#include "berth/wake.h"
#include "heap.h"
#include "history.h"
#include "rng.h"
#include "traffic.h"

#define TICK_S ((double)SCALE_BUCKET_S)
#define MAX_EVENTS ((size_t)1 << 27)
#define MAX_REQS ((size_t)1 << 26)       /* requests in flight or held at once */
#define MAX_COPIES ((size_t)1 << 24)
#define MAX_INSTANCES ((size_t)1 << 22)
#define DRAIN_LIMIT_S 7200.0             /* how long past the end in-flight work may finish */
#define LAT_MIN_S 1e-3
#define LAT_LOG_STEP 0.00995033085       /* log(1.01) */

enum { EV_ARRIVAL, EV_DONE, EV_COPY_READY, EV_INST_READY, EV_TICK };
enum { C_PENDING, C_STARTING, C_READY, C_DRAINING, C_SLEEPING, C_GONE };
enum { I_STARTING, I_RUNNING, I_VACATING, I_GONE };

typedef struct ivec { int32_t *v; size_t n, cap; } ivec;

typedef struct req {
  double arrival, service, limit;
  uint32_t in_tokens, out_tokens;   /* service time is set when service starts */
  int32_t model, next, copy;
} req;

typedef struct copy {
  int32_t model, inst;
  int state;
  int moving;                     /* on an instance being evacuated */
  int32_t active, queued, qhead, qtail;
  int32_t ready_pos, list_pos;
  double since;                   /* became ready, or fell asleep */
  sched_assignment a;
} copy;

typedef struct inst {
  int32_t slot;                   /* index into the live arrays, -1 once gone */
  int32_t type, owner;            /* owner: model for DEDICATED, else -1 */
  int state;
  int32_t n_copies;
  double launched, idle_since;
} inst;

typedef struct ic {
  const scn_model *m;
  scale_config cfg;
  scale_state st;
  scale_window win;             /* what autoscaling reads (lib/window) */
  forecast *fc;                 /* BERTH with the forecast on (docs/forecast.md) */
  double fc_horizon_s;
  int fc_floor;                 /* the forecast's floor at the last closed bucket */
  int desired;
  ivec ready, copies;             /* copy ids: ready to serve; all not gone */
  int32_t hold_head, hold_tail;
  int n_held;
  int outstanding;                /* at copies (active + queued) and held */
  double conc_int, conc_last;
  uint32_t b_inv, b_nocap;
  int waking;
  double wake_t;
  double kept_t;                  /* held requests kept back for copies still
                                     starting since (lib/wake.c), -1: none */
  int n_placed;
  double placed_int, placed_last;
  double last_request;            /* its last arrival (sleeping copies) */
  int n_sleeping;
  double sleep_int, sleep_last;   /* copy-seconds asleep */
  double share;                   /* one copy's dominant share of an endpoint instance */
  int n_moving;                   /* copies marked moving, not yet gone */
  uint64_t fail_pass;
} ic;

typedef struct sim {
  const scenario *s;
  const sim_demand *d;
  sim_policy p;
  sim_result *res;
  double now, end;
  event_heap ev;
  traffic *tr;
  size_t cursor;                  /* into the demand cache */
  sim_request next;
  req *reqs;
  size_t n_reqs;
  int32_t free_req;
  copy *copies;
  size_t n_copies, cap_copies;
  inst *insts;
  size_t n_insts, cap_insts;
  sched_instance *live;
  int32_t *live_id;
  size_t n_live, cap_live;
  ic *ics;
  ivec pending;
  uint64_t pass;
  int placing;                    /* place_pending is running: no re-entry */
  fleet_policy fp;
  double last_scale_in;
  rng route;
  uint32_t *load;                 /* choose_copy's scratch: ready copies' loads */
  size_t cap_load;
  converge_copy *conv;            /* copies_by_age's scratch */
  int32_t *conv_id;
  converge_action *conv_act;
  size_t cap_conv;
  uint32_t *lat_hist;
  double lat_sum, cold_wait_sum;
  uint64_t outstanding;
  size_t next_sample;
  char *err;
  size_t errsz;
  int rc;
} sim;

const char *sim_policy_name(sim_policy p) {
  switch (p) {
  case POLICY_DEDICATED: return "dedicated";
  case POLICY_SAGEMAKER: return "sagemaker";
  case POLICY_BERTH: return "berth";
  }
  return "?";
}

/* ---- small containers ---- */

static void ivec_push(ivec *v, int32_t x) {
  if (v->n == v->cap) {
    v->cap = v->cap ? v->cap * 2 : 8;
    v->v = berth_xrealloc(v->v, v->cap * sizeof *v->v);
  }
  v->v[v->n++] = x;
}

static void set_fail(sim *S, int rc, const char *what) {
  if (!S->rc) {
    S->rc = rc;
    snprintf(S->err, S->errsz, "%s: %s at simulated time %.0f s", S->s->path, what, S->now);
  }
}

static int push_event(sim *S, double t, int kind, int32_t id) {
  int rc = heap_push(&S->ev, t, kind, id);
  if (rc) set_fail(S, rc, "too many pending events (the limit is 2^27)");
  return rc;
}

/* Keeps copy positions in ready/copies lists current on swap-removal. */
static void ready_add(sim *S, int32_t id) {
  ic *c = &S->ics[S->copies[id].model];
  S->copies[id].ready_pos = (int32_t)c->ready.n;
  ivec_push(&c->ready, id);
}

static void ready_remove(sim *S, int32_t id) {
  copy *cp = &S->copies[id];
  ic *c = &S->ics[cp->model];
  if (cp->ready_pos < 0) return;
  int32_t last = c->ready.v[--c->ready.n];
  c->ready.v[cp->ready_pos] = last;
  S->copies[last].ready_pos = cp->ready_pos;
  cp->ready_pos = -1;
}

static void list_remove(sim *S, int32_t id) {
  copy *cp = &S->copies[id];
  ic *c = &S->ics[cp->model];
  int32_t last = c->copies.v[--c->copies.n];
  c->copies.v[cp->list_pos] = last;
  S->copies[last].list_pos = cp->list_pos;
  cp->list_pos = -1;
}

/* ---- accounting ---- */

/* Held requests are not concurrency (lib/scale.c, Waking): the window
 * reads them as arrivals, so only requests at copies are integrated. */
static void conc_update(sim *S, ic *c) {
  c->conc_int += (c->outstanding - c->n_held) * (S->now - c->conc_last);
  c->conc_last = S->now;
}

static void placed_update(sim *S, ic *c, int delta) {
  double t = S->now < S->s->duration_s ? S->now : S->s->duration_s;
  if (t > c->placed_last) c->placed_int += c->n_placed * (t - c->placed_last);
  if (t > c->placed_last) c->placed_last = t;
  c->n_placed += delta;
  sim_model_result *mr = &S->res->models[c - S->ics];
  if (c->n_placed > mr->peak_copies) mr->peak_copies = c->n_placed;
}

static void sleeping_update(sim *S, ic *c, int delta) {
  double t = S->now < S->s->duration_s ? S->now : S->s->duration_s;
  if (t > c->sleep_last) c->sleep_int += c->n_sleeping * (t - c->sleep_last);
  if (t > c->sleep_last) c->sleep_last = t;
  c->n_sleeping += delta;
}

static size_t lat_bin(double lat) {
  if (lat <= LAT_MIN_S) return 0;
  size_t b = 1 + (size_t)(log(lat / LAT_MIN_S) / LAT_LOG_STEP);
  return b < SIM_LAT_BINS ? b : SIM_LAT_BINS - 1;
}

double sim_hist_quantile(const uint32_t *hist, double q) {
  uint64_t total = 0;
  for (size_t i = 0; i < SIM_LAT_BINS; i++) total += hist[i];
  if (!total) return 0;
  double want = q * (double)total;
  uint64_t acc = 0;
  for (size_t i = 0; i < SIM_LAT_BINS; i++) {
    acc += hist[i];
    if ((double)acc >= want && hist[i]) {
      if (i == 0) return LAT_MIN_S;
      return LAT_MIN_S * exp(((double)i - 0.5) * LAT_LOG_STEP);
    }
  }
  return LAT_MIN_S * exp((SIM_LAT_BINS - 1) * LAT_LOG_STEP);
}

/* ---- requests ---- */

static int32_t req_alloc(sim *S) {
  if (S->free_req >= 0) {
    int32_t id = S->free_req;
    S->free_req = S->reqs[id].next;
    return id;
  }
  if (S->n_reqs >= MAX_REQS) {
    set_fail(S, -ENOBUFS, "more than 2^26 requests in flight at once");
    return -1;
  }
  if ((S->n_reqs & (S->n_reqs - 1)) == 0 || S->n_reqs == 0) {
    size_t cap = S->n_reqs ? S->n_reqs * 2 : 1024;
    S->reqs = berth_xrealloc(S->reqs, cap * sizeof *S->reqs);
  }
  return (int32_t)S->n_reqs++;
}

static void req_free(sim *S, int32_t id) {
  S->reqs[id].next = S->free_req;
  S->free_req = id;
}

static void req_start(sim *S, int32_t cid, int32_t rid) {
  copy *cp = &S->copies[cid];
  cp->active++;
  req *r = &S->reqs[rid];
  r->copy = cid;
  /* The batching slowdown at the batch it joins (scn_service_time_at). */
  r->service = scn_service_time_at(S->ics[cp->model].m, r->in_tokens, r->out_tokens, cp->active);
  push_event(S, S->now + r->service, EV_DONE, rid);
}

static void req_to_copy(sim *S, int32_t cid, int32_t rid) {
  copy *cp = &S->copies[cid];
  if (cp->active < S->ics[cp->model].m->max_concurrency) {
    req_start(S, cid, rid);
    return;
  }
  S->reqs[rid].next = -1;
  S->reqs[rid].copy = cid;
  if (cp->qtail >= 0) S->reqs[cp->qtail].next = rid; else cp->qhead = rid;
  cp->qtail = rid;
  cp->queued++;
}

/* The router's choice (lib/route.c) over the IC's ready copies, with
 * active + queued requests as each copy's load. */
static int32_t choose_copy(sim *S, ic *c) {
  size_t n = c->ready.n;
  if (n > S->cap_load) {
    S->cap_load = n * 2;
    S->load = berth_xrealloc(S->load, S->cap_load * sizeof *S->load);
  }
  for (size_t k = 0; k < n; k++) {
    const copy *cp = &S->copies[c->ready.v[k]];
    S->load[k] = (uint32_t)(cp->active + cp->queued);
  }
  int i = berth_route_choose(S->s->routing, S->load, NULL, n, rng_next(&S->route));
  return i < 0 ? -1 : c->ready.v[i];
}

static void record_done(sim *S, ic *c, const req *r) {
  size_t mi = (size_t)(c - S->ics);
  sim_model_result *mr = &S->res->models[mi];
  double lat = S->now - r->arrival;
  size_t b = lat_bin(lat);
  mr->ok++;
  mr->lat_hist[b]++;
  S->lat_hist[b]++;
  S->lat_sum += lat;
  if (lat <= r->limit) mr->in_slo++;
  scale_window_served_one(&c->win, r->service); /* the IC's service times */
}

/* ---- copies and instances ---- */

static int32_t inst_launch(sim *S, int32_t type, int32_t owner, int ready_now) {
  if (S->n_insts >= MAX_INSTANCES) {
    set_fail(S, -ENOBUFS, "more than 2^22 instance launches");
    return -1;
  }
  if (S->n_insts == S->cap_insts) {
    S->cap_insts = S->cap_insts ? S->cap_insts * 2 : 64;
    S->insts = berth_xrealloc(S->insts, S->cap_insts * sizeof *S->insts);
  }
  if (S->n_live == S->cap_live) {
    S->cap_live = S->cap_live ? S->cap_live * 2 : 64;
    S->live = berth_xrealloc(S->live, S->cap_live * sizeof *S->live);
    S->live_id = berth_xrealloc(S->live_id, S->cap_live * sizeof *S->live_id);
  }
  int32_t id = (int32_t)S->n_insts++;
  inst *in = &S->insts[id];
  memset(in, 0, sizeof *in);
  in->type = type;
  in->owner = owner;
  in->launched = S->now;
  in->slot = (int32_t)S->n_live;
  in->state = ready_now ? I_RUNNING : I_STARTING;
  in->idle_since = ready_now ? S->now : -1;
  S->live[S->n_live] = sched_capacity(&S->s->types[type]);
  S->live[S->n_live].accepting = ready_now;
  S->live_id[S->n_live] = id;
  S->n_live++;
  if ((int)S->n_live > S->res->peak_instances) S->res->peak_instances = (int)S->n_live;
  S->res->instance_launches++;
  S->res->launches_by_type[type]++;
  if (!ready_now) push_event(S, S->now + S->s->instance_start_s, EV_INST_READY, id);
  return id;
}

static void inst_terminate(sim *S, int32_t id) {
  inst *in = &S->insts[id];
  if (in->state == I_GONE) return;
  double end = S->now < S->s->duration_s ? S->now : S->s->duration_s;
  double secs = end > in->launched ? end - in->launched : 0;
  S->res->instance_hours += secs / 3600.0;
  S->res->cost += secs / 3600.0 * S->s->types[in->type].price_per_hour;
  int32_t slot = in->slot, last = (int32_t)S->n_live - 1;
  S->live[slot] = S->live[last];
  S->live_id[slot] = S->live_id[last];
  S->insts[S->live_id[slot]].slot = slot;
  S->n_live--;
  in->slot = -1;
  in->state = I_GONE;
}

static void place_pending(sim *S);

static void inst_copy_removed(sim *S, int32_t iid) {
  inst *in = &S->insts[iid];
  if (--in->n_copies > 0) return;
  if (in->state == I_VACATING) {
    /* Consolidated: every copy moved away (berthd's fleet_step does the same). */
    inst_terminate(S, iid);
    S->last_scale_in = S->now;
  } else if (in->state == I_RUNNING) {
    in->idle_since = S->now;
  }
}

static int32_t copy_new(sim *S, int32_t model) {
  if (S->n_copies >= MAX_COPIES) {
    set_fail(S, -ENOBUFS, "more than 2^24 copies started");
    return -1;
  }
  if (S->n_copies == S->cap_copies) {
    S->cap_copies = S->cap_copies ? S->cap_copies * 2 : 256;
    S->copies = berth_xrealloc(S->copies, S->cap_copies * sizeof *S->copies);
  }
  int32_t id = (int32_t)S->n_copies++;
  copy *cp = &S->copies[id];
  memset(cp, 0, sizeof *cp);
  cp->model = model;
  cp->inst = -1;
  cp->state = C_PENDING;
  cp->qhead = cp->qtail = -1;
  cp->ready_pos = -1;
  ic *c = &S->ics[model];
  cp->list_pos = (int32_t)c->copies.n;
  ivec_push(&c->copies, id);
  ivec_push(&S->pending, id);
  return id;
}

/* Reserves a on live slot and makes copy id STARTING there (or READY at once
 * for the warm start). */
static void copy_assign(sim *S, int32_t id, int32_t slot, const sched_assignment *a, int ready_now) {
  copy *cp = &S->copies[id];
  ic *c = &S->ics[cp->model];
  int32_t iid = S->live_id[slot];
  sched_assignment as = *a;
  as.instance = slot;
  sched_reserve(&S->live[slot], &c->m->need, &as);
  cp->a = as;
  cp->inst = iid;
  S->insts[iid].n_copies++;
  S->insts[iid].idle_since = -1;
  placed_update(S, c, +1);
  S->res->copy_starts++;
  if (ready_now) {
    cp->state = C_READY;
    cp->since = S->now;
    ready_add(S, id);
  } else {
    cp->state = C_STARTING;
    push_event(S, S->now + c->m->artifact_load_s + c->m->health_check_s, EV_COPY_READY, id);
  }
}

/* Takes copy id off its instance and out of the model's lists. */
static void copy_remove(sim *S, int32_t id) {
  copy *cp = &S->copies[id];
  ic *c = &S->ics[cp->model];
  ready_remove(S, id);
  if (cp->moving) {
    cp->moving = 0;
    c->n_moving--;
  }
  int asleep = cp->state == C_SLEEPING;
  if (asleep) sleeping_update(S, c, -1);
  cp->state = C_GONE;
  list_remove(S, id);
  if (cp->inst >= 0) {
    inst *in = &S->insts[cp->inst];
    sched_assignment a = cp->a;
    a.instance = in->slot;
    if (asleep) berth_sleep_unreserve(&S->live[in->slot], &c->m->need, &a);
    sched_release(&S->live[in->slot], &c->m->need, &a);
    placed_update(S, c, -1);
    int32_t iid = cp->inst;
    cp->inst = -1;
    inst_copy_removed(S, iid);
    place_pending(S); /* capacity freed */
  }
}

/* A pending or starting copy just stops; a ready one drains: it gets no new
 * requests and goes once the ones it holds are done. */
static void copy_stop(sim *S, int32_t id) {
  copy *cp = &S->copies[id];
  if (cp->state == C_READY) {
    ready_remove(S, id);
    cp->state = C_DRAINING;
    if (cp->active || cp->queued) return;
  }
  copy_remove(S, id);
}

static int copy_active(const copy *cp) {
  return (cp->state == C_PENDING || cp->state == C_STARTING || cp->state == C_READY) && !cp->moving;
}

static int place_one(sim *S, int32_t id, int ready_now) {
  copy *cp = &S->copies[id];
  ic *c = &S->ics[cp->model];
  uint32_t *same = NULL;
  if (c->m->placement == SCHED_SPREAD && S->n_live) {
    same = berth_xcalloc(S->n_live, sizeof *same);
    for (size_t k = 0; k < c->copies.n; k++) {
      const copy *o = &S->copies[c->copies.v[k]];
      if (o->inst >= 0 && copy_active(o)) same[S->insts[o->inst].slot]++;
    }
  }
  sched_assignment a;
  int rc = sched_place(S->live, S->n_live, same, &c->m->need, c->m->placement, &a);
  free(same);
  if (rc) return rc;
  copy_assign(S, id, a.instance, &a, ready_now);
  return 0;
}

/* Places pending copies, oldest first, on accepting instances. A model whose
 * copy did not fit is not tried again in the same pass (same need). */
static void place_pending_as(sim *S, int ready_now) {
  if (S->placing) return;
  S->placing = 1;
  S->pass++;
  size_t w = 0;
  for (size_t i = 0; i < S->pending.n; i++) {
    int32_t id = S->pending.v[i];
    copy *cp = &S->copies[id];
    if (cp->state != C_PENDING) continue;
    ic *c = &S->ics[cp->model];
    if (c->fail_pass == S->pass || place_one(S, id, ready_now)) {
      c->fail_pass = S->pass;
      S->pending.v[w++] = id;
    }
  }
  S->pending.n = w;
  S->placing = 0;
}

static void place_pending(sim *S) {
  if (S->pending.n && S->p != POLICY_DEDICATED) place_pending_as(S, 0);
}

static int model_unplaced(sim *S, const ic *c) {
  for (size_t j = 0; j < c->copies.n; j++)
    if (S->copies[c->copies.v[j]].state == C_PENDING) return 1;
  return 0;
}

/* The model's copies oldest first (ids grow with age) as converge's input,
 * in the scratch arrays conv, conv_id and conv_act. */
static size_t copies_by_age(sim *S, const ic *c) {
  size_t n = c->copies.n;
  if (n > S->cap_conv) {
    S->cap_conv = n * 2;
    S->conv = berth_xrealloc(S->conv, S->cap_conv * sizeof *S->conv);
    S->conv_id = berth_xrealloc(S->conv_id, S->cap_conv * sizeof *S->conv_id);
    S->conv_act = berth_xrealloc(S->conv_act, S->cap_conv * sizeof *S->conv_act);
  }
  for (size_t k = 0; k < n; k++) {
    /* Insertion sort: the list is nearly in order (swap-removal disturbs it). */
    int32_t id = c->copies.v[k];
    size_t at = k;
    while (at > 0 && S->conv_id[at - 1] > id) {
      S->conv_id[at] = S->conv_id[at - 1];
      at--;
    }
    S->conv_id[at] = id;
  }
  static const converge_state state_of[] = {
    [C_PENDING] = CONVERGE_PENDING, [C_STARTING] = CONVERGE_STARTING,
    [C_READY] = CONVERGE_READY, [C_DRAINING] = CONVERGE_DRAINING,
    [C_SLEEPING] = CONVERGE_READY, /* a copy of the IC that serves on the next request */
    [C_GONE] = CONVERGE_STOPPING};
  for (size_t k = 0; k < n; k++) {
    const copy *cp = &S->copies[S->conv_id[k]];
    S->conv[k] = (converge_copy){state_of[cp->state], cp->moving};
  }
  return n;
}

static void reconcile(sim *S, int32_t model);

/* Make before break (lib/converge.c): moving copies stop once their
 * replacements serve, or stay when a replacement found no room. */
static void moves_settle(sim *S, int32_t model) {
  ic *c = &S->ics[model];
  if (!c->n_moving) return;
  size_t n = copies_by_age(S, c);
  int unmoved = converge_moves(S->conv, n, c->desired, model_unplaced(S, c), S->conv_act);
  for (size_t k = 0; k < n; k++) {
    int32_t id = S->conv_id[k];
    copy *cp = &S->copies[id];
    if (S->conv_act[k] == CONVERGE_STOP) {
      copy_stop(S, id);
    } else if (S->conv_act[k] == CONVERGE_UNMOVE) {
      cp->moving = 0;
      c->n_moving--;
      inst *in = &S->insts[cp->inst];
      if (in->state == I_VACATING) {
        in->state = I_RUNNING;
        S->live[in->slot].accepting = 1;
      }
    }
  }
  if (unmoved) reconcile(S, model); /* the copy counts again: drop the surplus */
}

/* Converges a model's copies to its desired count with berthd's plan
 * (lib/converge.c). */
static void reconcile(sim *S, int32_t model) {
  ic *c = &S->ics[model];
  size_t n = copies_by_age(S, c);
  int add = converge_plan(S->conv, n, c->desired, S->conv_act);
  for (size_t k = 0; k < n; k++)
    if (S->conv_act[k] == CONVERGE_STOP) copy_stop(S, S->conv_id[k]);
  for (int k = 0; k < add && !S->rc; k++)
    if (copy_new(S, model) < 0) return;
  if (add) place_pending(S);
  moves_settle(S, model);
}

/* ---- routing, holding, waking ---- */

static void wake_begin(sim *S, ic *c) {
  if (c->waking) return;
  c->waking = 1;
  c->wake_t = S->now;
  S->res->models[c - S->ics].cold_starts++;
}

/* Releases held requests to the ready copies by lib/wake.c's rule (as
 * berthd's router_copy_ready): ready_now copies just became ready, or 0 for
 * the periodic check that sends those kept back too long. */
static void hold_release(sim *S, ic *c, size_t ready_now) {
  if (!c->n_held || !c->ready.n) return;
  size_t coming = 0;
  for (size_t k = 0; k < c->copies.n; k++) {
    int st = S->copies[c->copies.v[k]].state;
    coming += st == C_STARTING || st == C_PENDING;
  }
  double kept = c->kept_t >= 0 ? S->now - c->kept_t : 0;
  size_t n = berth_wake_release((size_t)c->n_held, ready_now, coming, kept);
  for (size_t k = 0; k < n && c->n_held; k++) {
    int32_t rid = c->hold_head;
    c->hold_head = S->reqs[rid].next;
    if (c->hold_head < 0) c->hold_tail = -1;
    conc_update(S, c);          /* from held to at a copy */
    c->n_held--;
    req_to_copy(S, choose_copy(S, c), rid);
  }
  if (!c->n_held) c->kept_t = -1;
  else if (c->kept_t < 0) c->kept_t = S->now;
}

/* berthd's router_expire_waiting: held requests past the wake timeout fail,
 * and those kept back past BERTH_WAKE_RELEASE_WAIT_S go to ready copies. */
static void hold_fail_expired(sim *S, ic *c) {
  while (c->n_held && S->reqs[c->hold_head].arrival + S->s->hold_timeout_s <= S->now) {
    int32_t rid = c->hold_head;
    c->hold_head = S->reqs[rid].next;
    if (c->hold_head < 0) c->hold_tail = -1;
    c->n_held--;
    conc_update(S, c);
    c->outstanding--;
    S->outstanding--;
    S->res->models[c - S->ics].failed_hold_timeout++;
    req_free(S, rid);
  }
  hold_release(S, c, 0);
}

static void copy_ready(sim *S, int32_t id) {
  copy *cp = &S->copies[id];
  if (cp->state != C_STARTING) return;
  ic *c = &S->ics[cp->model];
  cp->state = C_READY;
  cp->since = S->now;
  ready_add(S, id);
  if (c->waking) {
    double w = S->now - c->wake_t;
    sim_model_result *mr = &S->res->models[c - S->ics];
    mr->cold_wait_sum += w;
    if (w > mr->cold_wait_max) mr->cold_wait_max = w;
    c->waking = 0;
  }
  hold_fail_expired(S, c);
  /* Its share of the backlog, not all of it while more copies start. */
  hold_release(S, c, 1);
  moves_settle(S, cp->model);
}

/* ---- sleeping copies: berthd's copy_sleep_policy, through lib/sleep ---- */

/* A ready copy with nothing in flight sleeps where it is: out of rotation,
 * holding its memory only. */
static void copy_sleep(sim *S, int32_t id) {
  copy *cp = &S->copies[id];
  ic *c = &S->ics[cp->model];
  ready_remove(S, id);
  cp->state = C_SLEEPING;
  cp->since = S->now;
  sleeping_update(S, c, +1);
  sched_assignment a = cp->a;
  a.instance = S->insts[cp->inst].slot;
  berth_sleep_reserve(&S->live[a.instance], &c->m->need, &a);
  place_pending(S); /* its CPU and accelerator share are free */
}

/* A request for an IC with no ready copy wakes all its sleepers: each
 * takes its CPU and devices back and is ready after its wake, or, when
 * other copies took them, stops and the IC starts a new copy instead. */
static void wake_sleepers(sim *S, ic *c) {
  int32_t model = (int32_t)(c - S->ics);
  int stopped = 0;
  for (size_t k = 0; k < c->copies.n;) {
    int32_t id = c->copies.v[k];
    copy *cp = &S->copies[id];
    if (cp->state != C_SLEEPING) {
      k++;
      continue;
    }
    sched_assignment a = cp->a;
    a.instance = S->insts[cp->inst].slot;
    sched_instance *in = &S->live[a.instance];
    if (!berth_sleep_wake_fits(in, &c->m->need, &a)) {
      copy_remove(S, id); /* swaps the list: look at k again */
      stopped = 1;
      continue;
    }
    sleeping_update(S, c, -1);
    berth_sleep_unreserve(in, &c->m->need, &a);
    cp->state = C_STARTING;
    S->res->models[model].sleep_wakes++;
    push_event(S, S->now + c->m->sleep_wake_s, EV_COPY_READY, id);
    k++;
  }
  if (stopped) reconcile(S, model);
}

/* Every tick: an idle IC's ready copies sleep; a copy asleep long enough
 * stops, as a scale-in, while the IC is above its minimum. */
static void sleep_tick(sim *S, ic *c) {
  const berth_sleep_policy *p = &c->m->sleep;
  if (!p->enabled || S->p != POLICY_BERTH) return;
  for (size_t k = 0; k < c->copies.n;) {
    int32_t id = c->copies.v[k];
    copy *cp = &S->copies[id];
    k++;
    if (cp->moving) continue;
    if (cp->state == C_READY && !cp->active && !cp->queued) {
      double since = cp->since > c->last_request ? cp->since : c->last_request;
      if (berth_sleep_decide(p, 0, since, S->now, 0) == BERTH_SLEEP_SLEEP) copy_sleep(S, id);
    } else if (cp->state == C_SLEEPING &&
               berth_sleep_decide(p, 1, cp->since, S->now,
                                  c->desired > c->cfg.min_capacity) == BERTH_SLEEP_STOP) {
      c->desired--;
      S->res->scale_actions++;
      copy_remove(S, id);
      k--; /* the list was swapped into k */
    }
  }
}

/* The next request: from the demand pass's cache, or generated again. */
static int next_request(sim *S, sim_request *out) {
  if (S->d->cached) {
    if (S->cursor >= S->d->requests) return 0;
    *out = S->d->cache[S->cursor++];
    return 1;
  }
  return traffic_next(S->tr, out, S->err, S->errsz);
}

static void on_arrival(sim *S) {
  sim_request q = S->next;
  int rc = next_request(S, &S->next);
  if (rc < 0) {
    S->rc = rc;
    return;
  }
  if (rc == 1) push_event(S, S->next.t, EV_ARRIVAL, 0);
  ic *c = &S->ics[q.model];
  sim_model_result *mr = &S->res->models[q.model];
  mr->requests++;
  c->last_request = q.t;
  if (!c->ready.n && c->n_sleeping) wake_sleepers(S, c);
  int can_hold = S->p == POLICY_BERTH && c->n_held < S->s->hold_max;
  if (!c->ready.n && !can_hold) {
    if (S->p == POLICY_BERTH) {
      mr->failed_hold_full++;       /* 429 ModelNotReadyException */
    } else {
      mr->failed_no_capacity++;     /* 400 "no capacity", NoCapacityInvocationFailures */
      c->b_nocap++;
      wake_begin(S, c);
    }
    return;
  }
  int32_t rid = req_alloc(S);
  if (rid < 0) return;
  req *r = &S->reqs[rid];
  r->arrival = q.t;
  r->in_tokens = q.in_tokens;
  r->out_tokens = q.out_tokens;
  r->service = 0;                 /* set by req_start */
  r->limit = scn_slo_limit(c->m, q.out_tokens);
  r->model = q.model;
  r->next = -1;
  r->copy = -1;
  c->b_inv++;
  conc_update(S, c);
  c->outstanding++;
  S->outstanding++;
  if (c->ready.n) {
    req_to_copy(S, choose_copy(S, c), rid);
    return;
  }
  /* Berth: hold while a copy starts; wake the IC if it is at zero
   * (berthd's autoscale_wake: counts as a scale-out for the cooldowns). */
  if (c->hold_tail >= 0) S->reqs[c->hold_tail].next = rid; else c->hold_head = rid;
  c->hold_tail = rid;
  c->n_held++;
  mr->held++;
  wake_begin(S, c);
  if (c->desired == 0) {
    int n = scale_wake(&c->cfg);
    if (n > 0) {
      c->st.last_scale_out = S->now;
      c->desired = n;
      S->res->scale_actions++;
      reconcile(S, q.model);
    }
  }
}

static void on_done(sim *S, int32_t rid) {
  req *r = &S->reqs[rid];
  int32_t cid = r->copy;
  copy *cp = &S->copies[cid];
  ic *c = &S->ics[r->model];
  conc_update(S, c);
  c->outstanding--;
  S->outstanding--;
  record_done(S, c, r);
  req_free(S, rid);
  cp->active--;
  if (cp->queued) {
    int32_t nx = cp->qhead;
    cp->qhead = S->reqs[nx].next;
    if (cp->qhead < 0) cp->qtail = -1;
    cp->queued--;
    req_start(S, cid, nx);
  } else if (cp->state == C_DRAINING && cp->active == 0) {
    copy_remove(S, cid);
  }
}

/* ---- fleet: lib/fleet.c decides, this applies ---- */

/* Pending copies that will fit on instances already starting are not
 * pending for the fleet: berthd's local instances start at once, cloud
 * instances take instance_start_s, and fleet_decide does not know about
 * instances on their way (see docs/sim.md). */
static size_t pending_beyond_starting(sim *S, sched_need *out, sched_strategy *strat) {
  size_t n_start = 0, n = 0;
  for (size_t k = 0; k < S->n_live; k++) n_start += S->insts[S->live_id[k]].state == I_STARTING;
  sched_instance *sim_start = berth_xcalloc(n_start ? n_start : 1, sizeof *sim_start);
  size_t j = 0;
  for (size_t k = 0; k < S->n_live; k++)
    if (S->insts[S->live_id[k]].state == I_STARTING) {
      sim_start[j] = S->live[k];
      sim_start[j++].accepting = 1;
    }
  for (size_t i = 0; i < S->pending.n; i++) {
    const copy *cp = &S->copies[S->pending.v[i]];
    if (cp->state != C_PENDING) continue;
    const sched_need *need = &S->ics[cp->model].m->need;
    sched_assignment a;
    if (n_start && sched_place(sim_start, n_start, NULL, need, SCHED_BINPACK, &a) == 0) {
      sched_reserve(&sim_start[a.instance], need, &a);
      continue;
    }
    out[n] = *need;
    strat[n++] = S->ics[cp->model].m->placement;
  }
  free(sim_start);
  return n;
}

static void evacuate(sim *S, size_t slot) {
  int32_t iid = S->live_id[slot];
  inst *in = &S->insts[iid];
  in->state = I_VACATING;
  S->live[slot].accepting = 0;
  S->res->consolidations++;
  int32_t *models = berth_xmalloc((size_t)(in->n_copies > 0 ? in->n_copies : 1) * sizeof *models);
  size_t nm = 0;
  for (size_t m = 0; m < S->s->n_models; m++) {
    ic *c = &S->ics[m];
    int hit = 0;
    for (size_t j = 0; j < c->copies.n; j++) {
      copy *cp = &S->copies[c->copies.v[j]];
      if (cp->inst == iid && !cp->moving && (cp->state == C_READY || cp->state == C_STARTING)) {
        cp->moving = 1;
        c->n_moving++;
        hit = 1;
      }
    }
    if (hit) models[nm++] = (int32_t)m;
  }
  for (size_t k = 0; k < nm; k++) reconcile(S, models[k]);
  free(models);
}

/* The berth policy's instance pools: the first FLEET_MAX_TYPES listed types
 * (scenario index = pool index), the endpoint's type first in priority, the
 * rest in list order; prices from the scenario. 0 (one type,
 * template_instance) for the other policies or endpoint.instance_pools
 * false. */
static size_t sim_pools(const sim *S, fleet_type *types) {
  const scenario *s = S->s;
  if (S->p != POLICY_BERTH || !s->berth_pools || s->n_types < 2) return 0;
  size_t n = s->n_types < FLEET_MAX_TYPES ? s->n_types : FLEET_MAX_TYPES;
  for (size_t t = 0; t < n; t++) {
    memset(&types[t], 0, sizeof types[t]);
    types[t].empty = sched_capacity(&s->types[t]);
    types[t].price_per_hour = s->types[t].price_per_hour;
    types[t].priority = (int)t == s->endpoint_type ? 1 : (int)t + 2;
  }
  return (size_t)s->endpoint_type < n ? n : 0;
}

static void fleet_tick(sim *S) {
  place_pending(S);
  size_t n = S->n_live, nc = 0;
  size_t cap = S->pending.n ? S->pending.n : 1;
  fleet_instance *fi = berth_xcalloc(n ? n : 1, sizeof *fi);
  sched_need *pend = berth_xmalloc(cap * sizeof *pend);
  sched_strategy *pstrat = berth_xmalloc(cap * sizeof *pstrat);
  size_t np = pending_beyond_starting(S, pend, pstrat);
  for (size_t k = 0; k < n; k++) {
    const inst *in = &S->insts[S->live_id[k]];
    fi[k].res = S->live[k];
    fi[k].copies = in->n_copies;
    /* starting instances are "idle since" they will be up: never released */
    fi[k].idle_since = in->state == I_STARTING ? S->now + S->s->instance_start_s
                     : in->n_copies ? S->now : in->idle_since;
    fi[k].evacuating = in->state == I_VACATING;
    fi[k].type = in->type;
  }
  fleet_type types[FLEET_MAX_TYPES];
  size_t n_types = sim_pools(S, types);
  fleet_copy *fc = NULL;
  if (S->fp.strategy == FLEET_CONSOLIDATION) {
    size_t total = 0;
    for (size_t m = 0; m < S->s->n_models; m++) total += S->ics[m].copies.n;
    fc = berth_xcalloc(total ? total : 1, sizeof *fc);
    for (size_t m = 0; m < S->s->n_models; m++) {
      const ic *c = &S->ics[m];
      for (size_t j = 0; j < c->copies.n; j++) {
        const copy *cp = &S->copies[c->copies.v[j]];
        if (cp->inst < 0) continue;
        fc[nc].instance = (size_t)S->insts[cp->inst].slot;
        fc[nc].need = c->m->need;
        fc[nc].strategy = c->m->placement;
        fc[nc].ic = (int)m;
        nc++;
      }
    }
  }
  fleet_input in = {.instances = fi, .n_instances = n, .copies = fc, .n_copies = nc,
                    .pending = pend, .pending_strategy = pstrat, .n_pending = np,
                    .template_instance = sched_capacity(&S->s->types[S->s->endpoint_type]),
                    .now = S->now, .last_scale_in = S->last_scale_in,
                    .types = n_types ? types : NULL, .n_types = n_types};
  fleet_actions a;
  fleet_decide(&S->fp, &in, &a);
  /* Slots move when instances go: take ids first. */
  int32_t ev_ids[64], rel_ids[64], rep_ids[FLEET_MAX_TYPES];
  for (size_t k = 0; k < a.n_evacuate; k++) ev_ids[k] = S->live_id[a.evacuate[k]];
  for (size_t k = 0; k < a.n_release; k++) rel_ids[k] = S->live_id[a.release[k]];
  for (size_t k = 0; k < a.n_replace; k++) rep_ids[k] = S->live_id[a.replace[k]];
  for (int k = 0; k < a.add && !S->rc; k++)
    inst_launch(S, n_types ? a.add_type[k < 64 ? k : 63] : S->s->endpoint_type, -1, 0);
  /* A cheaper pool holds an instance's copies: launch it, then move them
   * (make before break: the old copies serve until their replacements are
   * ready on the new instance). */
  for (size_t k = 0; k < a.n_replace && !S->rc; k++) {
    if (S->insts[rep_ids[k]].state != I_RUNNING) continue;
    inst_launch(S, a.replace_type[k], -1, 0);
    evacuate(S, (size_t)S->insts[rep_ids[k]].slot);
  }
  if (a.n_replace) S->last_scale_in = S->now;
  for (size_t k = 0; k < a.n_evacuate; k++)
    if (S->insts[ev_ids[k]].state == I_RUNNING) evacuate(S, (size_t)S->insts[ev_ids[k]].slot);
  for (size_t k = 0; k < a.n_release; k++)
    if (S->insts[rel_ids[k]].n_copies == 0) inst_terminate(S, rel_ids[k]);
  if (a.n_release || a.n_evacuate) S->last_scale_in = S->now;
  free(fi);
  free(pend);
  free(pstrat);
  free(fc);
}

/* ---- time series and ticks ---- */

static void sample(sim *S) {
  sim_result *R = S->res;
  size_t k = S->next_sample;
  if (k >= R->n_samples) return;
  size_t nm = S->s->n_models;
  for (size_t m = 0; m < nm; m++) {
    const ic *c = &S->ics[m];
    R->ts_ready[k * nm + m] = (float)c->ready.n;
    R->ts_desired[k * nm + m] = (float)c->desired;
    if (S->p == POLICY_DEDICATED) R->ts_share[k * nm + m] = (float)R->models[m].dedicated_instances;
    else R->ts_share[k * nm + m] = (float)(c->n_placed * c->share);
  }
  float running = 0, starting = 0;
  for (size_t i = 0; i < S->n_live; i++) {
    if (S->insts[S->live_id[i]].state == I_STARTING) starting++; else running++;
  }
  R->ts_instances[k] = running;
  R->ts_starting[k] = starting;
  S->next_sample++;
}

/* berthd's prewarm, on the simulator's clock: feed the closed buckets, score
 * the forecast, floor the decision (lib/forecast.c decides). */
static void forecast_tick(ic *c, int closed, double now, int current, scale_decision *dec) {
  const scale_history *h = &c->win.closed;
  for (size_t k = (size_t)(closed > 0 ? closed : 0); k > 0; k--) {
    if (h->n < k) continue;
    const scale_bucket *b = scale_history_at(h, h->n - k);
    forecast_push(c->fc, b->start, forecast_demand(&c->cfg, b));
  }
  /* The floor changes only when a bucket closes (every tick, at 10 s). */
  if (closed > 0) c->fc_floor = forecast_score(c->fc, now, c->fc_horizon_s);
  int floor = c->fc_floor;
  if (floor > c->cfg.max_capacity) floor = c->cfg.max_capacity;
  forecast_apply(dec, current, floor, "forecast");
}

static void on_preroll_bucket(void *arg, size_t model, const scale_bucket *b) {
  ic *c = &((sim *)arg)->ics[model];
  if (c->fc) forecast_push(c->fc, b->start, forecast_demand(&c->cfg, b));
}

/* Forecasters for the Berth policy, fed the pre-roll (history.c). */
static int forecast_setup(sim *S) {
  const scenario *s = S->s;
  if (S->p != POLICY_BERTH || !s->forecast) return 0;
  S->res->forecast = 1;
  for (size_t m = 0; m < s->n_models; m++) {
    ic *c = &S->ics[m];
    c->fc = berth_xmalloc(sizeof *c->fc);
    if (forecast_init(c->fc, s->forecast_season_s) != 0) {
      snprintf(S->err, S->errsz, "forecast.season_s %g is out of range", s->forecast_season_s);
      return -EINVAL;
    }
    c->fc_horizon_s = s->forecast_horizon_s > 0
                          ? s->forecast_horizon_s
                          : c->m->artifact_load_s + c->m->health_check_s + s->instance_start_s + TICK_S;
  }
  return history_preroll(s, s->forecast_season_s, on_preroll_bucket, S, S->err, S->errsz);
}

static void tick(sim *S) {
  size_t nm = S->s->n_models;
  for (size_t m = 0; m < nm && !S->rc; m++) {
    ic *c = &S->ics[m];
    conc_update(S, c);
    int closed = scale_window_advance(&c->win, S->now, (unsigned)TICK_S, c->b_inv, c->b_nocap,
                                      c->conc_int / TICK_S, (uint32_t)c->ready.n);
    c->b_inv = c->b_nocap = 0;
    c->conc_int = 0;
    if (S->p == POLICY_DEDICATED) continue;
    hold_fail_expired(S, c);
    sleep_tick(S, c);
    scale_decision dec;
    scale_window_decide(&c->win, &c->cfg, &c->st, S->now, c->desired, (uint32_t)c->ready.n, &dec);
    if (c->fc) forecast_tick(c, closed, S->now, c->desired, &dec);
    if (dec.changed) dec.desired = scale_hold_guard(c->desired, dec.desired, (uint32_t)c->n_held);
    if (dec.changed && dec.desired != c->desired) {
      c->desired = dec.desired;
      S->res->scale_actions++;
    }
    reconcile(S, (int32_t)m);   /* berthd reconciles every IC on every pass */
  }
  if (S->p != POLICY_DEDICATED) fleet_tick(S);
  while (S->next_sample < S->res->n_samples && (double)S->next_sample * S->s->sample_s <= S->now + 1e-9)
    sample(S);
  if ((S->now < S->s->duration_s || S->outstanding > 0) && S->now < S->s->duration_s + DRAIN_LIMIT_S)
    push_event(S, S->now + TICK_S, EV_TICK, 0);
}

/* ---- set-up ---- */

static void scale_config_for(const sim *S, const scn_model *m, scale_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->profile = S->p == POLICY_SAGEMAKER ? SCALE_PROFILE_AWS : SCALE_PROFILE_FAST;
  cfg->min_capacity = m->min_copies;
  cfg->max_capacity = m->max_copies;
  cfg->fast_scale_in_window_s = S->s->scale_in_window_s;
  scale_policy *tt = &cfg->policies[cfg->n_policies++];
  tt->type = SCALE_TARGET_TRACKING;
  tt->metric = m->metric;
  tt->target = m->target;
  tt->scale_out_cooldown_s = m->scale_out_cooldown_s;
  tt->scale_in_cooldown_s = m->scale_in_cooldown_s;
  if (S->p == POLICY_BERTH && m->latency_slo_s > 0) {
    tt->slo = 1;
    tt->slo_percentile = m->latency_slo_percentile / 100.0;
    tt->slo_latency_s = m->latency_slo_s;
    tt->slo_batch_slowdown = m->batch_slowdown;
    tt->slo_max_concurrency = m->max_concurrency;
  }
  if (S->p == POLICY_SAGEMAKER && m->min_copies == 0) {
    /* SageMaker's documented scale-from-zero: a step policy on
     * NoCapacityInvocationFailures adds a copy. */
    scale_policy *st = &cfg->policies[cfg->n_policies++];
    st->type = SCALE_STEP;
    st->metric = SCALE_METRIC_NO_CAPACITY_FAILURES;
    st->threshold = 0;
    st->greater = 1;
    st->period_s = 60;
    st->evaluation_periods = 1;
    st->aggregation = SCALE_AGG_SUM;
    st->adjustment = SCALE_ADJ_CHANGE;
    st->cooldown_s = m->scale_out_cooldown_s;
    st->steps[0] = (scale_step){0, INFINITY, 1};
    st->n_steps = 1;
  }
}

/* Copies of need that fit on one empty instance of type t (at most cap). */
static int copies_per_instance(const berth_instance_type *t, const sched_need *need, int cap) {
  sched_instance in = sched_capacity(t);
  int k = 0;
  sched_assignment a;
  while (k < cap && sched_place(&in, 1, NULL, need, SCHED_BINPACK, &a) == 0) {
    sched_reserve(&in, need, &a);
    k++;
  }
  return k;
}

static int peak_copies(const sim *S, size_t m) {
  int peak = 1;
  /* the peak mean over windows of dedicated_peak_window_s (default one
   * minute, CloudWatch's standard period) */
  size_t w = (size_t)(S->s->dedicated_peak_window_s / DEMAND_BUCKET_S);
  if (w < 1) w = 1;
  for (size_t k = 0; k < S->d->n_buckets; k += w) {
    int c = demand_copies(S->s, S->d, m, k, w);
    if (c > peak) peak = c;
  }
  if (peak < S->s->models[m].min_copies) peak = S->s->models[m].min_copies;
  return peak;
}

static void setup_dedicated(sim *S) {
  const scenario *s = S->s;
  for (size_t m = 0; m < s->n_models && !S->rc; m++) {
    ic *c = &S->ics[m];
    int k = c->m->dedicated_copies > 0 ? c->m->dedicated_copies : peak_copies(S, m);
    int best = -1, best_n = 0;
    double best_cost = INFINITY;
    for (size_t t = 0; t < s->n_types; t++) {
      int per = copies_per_instance(&s->types[t], &c->m->need, k);
      if (per <= 0) continue;
      int n = (k + per - 1) / per;
      double cost = n * s->types[t].price_per_hour;
      if (cost < best_cost) {
        best_cost = cost;
        best = (int)t;
        best_n = n;
      }
    }
    sim_model_result *mr = &S->res->models[m];
    mr->dedicated_type = best;
    mr->dedicated_instances = best_n;
    c->desired = k;
    int32_t first = (int32_t)S->n_insts;
    for (int i = 0; i < best_n; i++) inst_launch(S, best, (int32_t)m, 1);
    /* Place on this model's instances only: the others stay closed. */
    for (size_t i = 0; i < S->n_live; i++) S->live[i].accepting = 0;
    for (int i = 0; i < best_n; i++) S->live[S->insts[first + i].slot].accepting = 1;
    for (int j = 0; j < k && !S->rc; j++) {
      int32_t id = copy_new(S, (int32_t)m);
      if (id < 0) break;
      if (place_one(S, id, 1)) {
        set_fail(S, -ENOSPC, "dedicated sizing left a copy without room (a bug)");
        break;
      }
    }
  }
  for (size_t i = 0; i < S->n_live; i++) S->live[i].accepting = 0;
  S->pending.n = 0;
}

static void setup_shared(sim *S) {
  const scenario *s = S->s;
  const scn_fleet_policy *f = S->p == POLICY_BERTH ? &s->fleet_berth : &s->fleet_sagemaker;
  S->fp.managed = 1;
  S->fp.min_instances = s->min_instances;
  S->fp.max_instances = s->max_instances;
  S->fp.strategy = f->scale_in == SCALE_IN_CONSOLIDATION ? FLEET_CONSOLIDATION : FLEET_IDLE_RELEASE;
  S->fp.max_step = f->max_step;
  S->fp.cooldown_s = f->cooldown_s;
  /* Warm start: every model has the copies the first five minutes of its
   * traffic need, already running, on as many running instances as
   * fleet_decide asks for. */
  for (size_t m = 0; m < s->n_models; m++) {
    ic *c = &S->ics[m];
    int want = c->m->min_copies;
    for (size_t k = 0; k < 30; k += 6) {
      int x = demand_copies(s, S->d, m, k, 6);
      if (x > want) want = x;
    }
    c->desired = want;
    for (int j = 0; j < want; j++) copy_new(S, (int32_t)m);
  }
  size_t np = S->pending.n;
  sched_need *needs = berth_xmalloc((np ? np : 1) * sizeof *needs);
  sched_strategy *strat = berth_xmalloc((np ? np : 1) * sizeof *strat);
  for (size_t i = 0; i < np; i++) {
    needs[i] = S->ics[S->copies[S->pending.v[i]].model].m->need;
    strat[i] = S->ics[S->copies[S->pending.v[i]].model].m->placement;
  }
  fleet_input in;
  memset(&in, 0, sizeof in);
  in.pending = needs;
  in.pending_strategy = strat;
  in.n_pending = np;
  in.template_instance = sched_capacity(&s->types[s->endpoint_type]);
  fleet_type types[FLEET_MAX_TYPES];
  in.n_types = sim_pools(S, types);
  if (in.n_types) in.types = types;
  fleet_actions a;
  fleet_decide(&S->fp, &in, &a);
  free(needs);
  free(strat);
  for (int i = 0; i < a.add; i++)
    inst_launch(S, in.n_types ? a.add_type[i < 64 ? i : 63] : s->endpoint_type, -1, 1);
  place_pending_as(S, 1);
}

/* SageMaker gives a copy whole accelerators (NumberOfAcceleratorDevicesRequired
 * >= 1), and a dedicated endpoint gives its model whole instances: for those
 * policies a copy that asks for a share of a device gets the whole device.
 * To stay fair to them it is taken to serve as much more at once (max
 * concurrency and a per-copy target times 1 / share). Returns s when no model
 * asks for a share, else `whole`, whose models the caller frees. */
static const scenario *whole_devices(const scenario *s, sim_policy p, scenario *whole) {
  if (p == POLICY_BERTH) return s;
  size_t m = 0;
  while (m < s->n_models && !(s->models[m].need.dev_milli > 0 && s->models[m].need.dev_milli % 1000))
    m++;
  if (m == s->n_models) return s;
  *whole = *s;
  whole->models = berth_xcalloc(s->n_models, sizeof *whole->models);
  memcpy(whole->models, s->models, s->n_models * sizeof *s->models);
  for (m = 0; m < s->n_models; m++) {
    scn_model *x = &whole->models[m];
    int32_t milli = x->need.dev_milli;
    if (milli <= 0 || milli % 1000 == 0) continue;
    int32_t devs = (milli + 999) / 1000;
    double scale = (double)devs * 1000 / (double)milli;
    x->need.dev_milli = devs * 1000;
    x->max_concurrency = (int)floor(x->max_concurrency * scale + 1e-9);
    /* The same batch spread over a whole device slows it as it slows the
     * shares together: per-request slowdown / scale keeps b * scale requests
     * on the device as fast as b on each share. */
    x->batch_slowdown /= scale;
    if (x->metric == SCALE_METRIC_CONCURRENT_PER_COPY || x->metric == SCALE_METRIC_INVOCATIONS_PER_COPY)
      x->target *= scale;
  }
  return whole;
}

int sim_run(const scenario *s0, const sim_demand *d, sim_policy p, sim_result *R, char *err, size_t errsz) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  scenario whole;
  const scenario *s = whole_devices(s0, p, &whole);
  sim S;
  memset(&S, 0, sizeof S);
  memset(R, 0, sizeof *R);
  S.s = s;
  S.d = d;
  S.p = p;
  S.res = R;
  S.err = err;
  S.errsz = errsz;
  S.free_req = -1;
  heap_init(&S.ev, MAX_EVENTS);
  rng_seed(&S.route, s->seed ^ 0x707e ^ (uint64_t)p, 0);
  R->policy = p;
  R->n_models = s->n_models;
  R->n_samples = (size_t)ceil(s->duration_s / s->sample_s);
  R->models = berth_xcalloc(s->n_models, sizeof *R->models);
  for (size_t m = 0; m < s->n_models; m++) {
    R->models[m].lat_hist = berth_xcalloc(SIM_LAT_BINS, sizeof(uint32_t));
    R->models[m].dedicated_type = -1;
  }
  R->ts_ready = berth_xcalloc(R->n_samples * s->n_models, sizeof(float));
  R->ts_desired = berth_xcalloc(R->n_samples * s->n_models, sizeof(float));
  R->ts_share = berth_xcalloc(R->n_samples * s->n_models, sizeof(float));
  R->ts_instances = berth_xcalloc(R->n_samples, sizeof(float));
  R->ts_starting = berth_xcalloc(R->n_samples, sizeof(float));
  S.lat_hist = berth_xcalloc(SIM_LAT_BINS, sizeof(uint32_t));
  S.ics = berth_xcalloc(s->n_models, sizeof *S.ics);
  const berth_instance_type *et = &s->types[s->endpoint_type];
  for (size_t m = 0; m < s->n_models; m++) {
    ic *c = &S.ics[m];
    c->m = &s->models[m];
    scale_config_for(&S, c->m, &c->cfg);
    scale_state_init(&c->st);
    scale_window_init(&c->win, 0);
    c->hold_head = c->hold_tail = -1;
    c->kept_t = -1;
    sched_instance e = sched_capacity(et);
    sched_assignment a;
    if (sched_place(&e, 1, NULL, &c->m->need, SCHED_BINPACK, &a) == 0)
      c->share = cost_weight(&e, &c->m->need); /* lib/cost, as berthd's cost metric */
  }
  if (p == POLICY_DEDICATED) setup_dedicated(&S); else setup_shared(&S);

  int rc = S.rc;
  if (!rc) rc = forecast_setup(&S);
  if (!rc && !d->cached) rc = traffic_open(&S.tr, s, err, errsz);
  if (rc) goto out;
  rc = next_request(&S, &S.next);
  if (rc < 0) goto out;
  if (rc == 1) push_event(&S, S.next.t, EV_ARRIVAL, 0);
  sample(&S);
  push_event(&S, TICK_S, EV_TICK, 0);
  sim_event e;
  while (!S.rc && heap_pop(&S.ev, &e)) {
    S.now = e.t;
    R->events++;
    switch (e.kind) {
    case EV_ARRIVAL: on_arrival(&S); break;
    case EV_DONE: on_done(&S, e.id); break;
    case EV_COPY_READY: copy_ready(&S, e.id); break;
    case EV_INST_READY:
      if (S.insts[e.id].state == I_STARTING) {
        S.insts[e.id].state = I_RUNNING;
        S.insts[e.id].idle_since = S.now;
        S.live[S.insts[e.id].slot].accepting = 1;
        place_pending(&S);
      }
      break;
    case EV_TICK: tick(&S); break;
    }
  }
  rc = S.rc;
  if (rc) goto out;
  /* Close the books at the end of the scenario. */
  if (S.now < s->duration_s) S.now = s->duration_s;
  for (size_t m = 0; m < s->n_models; m++) {
    placed_update(&S, &S.ics[m], 0);
    sleeping_update(&S, &S.ics[m], 0);
  }
  while (S.n_live) inst_terminate(&S, S.live_id[S.n_live - 1]);
  uint64_t waited_n = 0;
  for (size_t m = 0; m < s->n_models; m++) {
    sim_model_result *mr = &R->models[m];
    ic *c = &S.ics[m];
    mr->failed_hold_timeout += (uint64_t)c->n_held;   /* never served */
    mr->copy_hours = c->placed_int / 3600.0;
    mr->sleep_copy_hours = c->sleep_int / 3600.0;
    R->sleep_copy_hours += mr->sleep_copy_hours;
    R->sleep_wakes += mr->sleep_wakes;
    mr->p50 = sim_hist_quantile(mr->lat_hist, 0.50);
    mr->p99 = sim_hist_quantile(mr->lat_hist, 0.99);
    R->requests += mr->requests;
    R->ok += mr->ok;
    R->in_slo += mr->in_slo;
    R->failed_no_capacity += mr->failed_no_capacity;
    R->failed_hold_full += mr->failed_hold_full;
    R->failed_hold_timeout += mr->failed_hold_timeout;
    R->cold_starts += mr->cold_starts;
    R->held += mr->held;
    S.cold_wait_sum += mr->cold_wait_sum;
    if (mr->cold_wait_max > R->cold_wait_max) R->cold_wait_max = mr->cold_wait_max;
    waited_n += mr->cold_starts;
    if (c->fc) {
      R->forecast_err.n += c->fc->err.n;
      R->forecast_err.abs_err_sum += c->fc->err.abs_err_sum;
      R->forecast_err.actual_sum += c->fc->err.actual_sum;
      R->forecast_err.under += c->fc->err.under;
      R->forecast_err.over += c->fc->err.over;
    }
  }
  R->failed = R->requests - R->ok;
  R->cold_wait_mean = waited_n ? S.cold_wait_sum / (double)waited_n : 0;
  R->p50 = sim_hist_quantile(S.lat_hist, 0.50);
  R->p99 = sim_hist_quantile(S.lat_hist, 0.99);
  R->latency_mean = R->ok ? S.lat_sum / (double)R->ok : 0;
out:
  clock_gettime(CLOCK_MONOTONIC, &t1);
  R->wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  if (s != s0) free(whole.models);
  traffic_close(S.tr);
  heap_free(&S.ev);
  free(S.reqs);
  free(S.copies);
  free(S.insts);
  free(S.live);
  free(S.live_id);
  free(S.pending.v);
  free(S.load);
  free(S.conv);
  free(S.conv_id);
  free(S.conv_act);
  free(S.lat_hist);
  if (S.ics)
    for (size_t m = 0; m < s->n_models; m++) {
      free(S.ics[m].ready.v);
      free(S.ics[m].copies.v);
      free(S.ics[m].fc);
    }
  free(S.ics);
  if (rc) sim_result_free(R);
  return rc;
}

void sim_result_free(sim_result *r) {
  if (r->models)
    for (size_t m = 0; m < r->n_models; m++) free(r->models[m].lat_hist);
  free(r->models);
  free(r->ts_ready);
  free(r->ts_desired);
  free(r->ts_share);
  free(r->ts_instances);
  free(r->ts_starting);
  memset(r, 0, sizeof *r);
}

/* pool: joined agents as instances (controller side of the agent sync). */
#include "berth/log.h"
#include "pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_ic.h"
#include "agent.h"
#include "agent_tokens.h"
#include "copy_sleep_policy.h"
#include "exec_provider.h"
#include "longpoll.h"
#include "berth/secret.h"
#include "ic.h"
#include "rollout.h"
#include "metrics.h"
#include "valid.h"
#include "store.h"
#include "usage.h"


/* Who sends a sync: a local instance's agent (its own token, *local set),
 * a pool agent with the token issued to it (agent_id set), a new pool
 * agent with the pool's join token, the agent of an instance the exec
 * provider launched with its one-time token (*local set), a revoked agent,
 * or no one. */
typedef enum { WHO_NONE, WHO_LOCAL, WHO_ISSUED, WHO_JOIN, WHO_EXEC, WHO_REVOKED } sender;

static sender who(ctl *c, berth_http_req *req, instance **local, char *agent_id) {
  const char *auth = berth_http_req_header(req, "authorization");
  *local = NULL;
  agent_id[0] = '\0';
  if (!auth || strncmp(auth, "Bearer ", 7) != 0) return WHO_NONE;
  const char *given = auth + 7;
  for (instance *in = c->instances; in; in = in->next)
    if (in->agent && berth_secret_equal(in->token, given)) *local = in;
  if (*local) return WHO_LOCAL;
  if (c->pool) {
    agent_token_kind k = agent_tokens_check(c, given, agent_id);
    if (k == AGENT_ISSUED) return WHO_ISSUED;
    if (k == AGENT_REVOKED) return WHO_REVOKED;
  }
  if (c->exec && (*local = exec_provider_by_token(c, given)) != NULL) return WHO_EXEC;
  return c->agent_token[0] && berth_secret_equal(c->agent_token, given) ? WHO_JOIN : WHO_NONE;
}

static int sync_parked(ctl *c, const instance *in);
static instance *find_agent(ctl *c, const char *agent_id);

instance *pool_sender(ctl *c, berth_http_req *req) {
  instance *local;
  char agent_id[64];
  sender s = who(c, req, &local, agent_id);
  if (s == WHO_LOCAL) return local;
  /* WHO_EXEC: not joined yet, so no one's instance. */
  return s == WHO_ISSUED ? find_agent(c, agent_id) : NULL;
}

static instance *find_agent(ctl *c, const char *agent_id) {
  for (instance *in = c->instances; in; in = in->next)
    if (in->remote && strcmp(in->agent_id, agent_id) == 0) return in;
  return NULL;
}

static void reset_reservations(instance *in) {
  in->res.cpu_milli_used = in->res.mem_mb_used = 0;
  memset(in->res.dev_milli_used, 0, sizeof in->res.dev_milli_used);
  memset(in->res.dev_mem_mb_used, 0, sizeof in->res.dev_mem_mb_used);
  in->res.accepting = 1;
  in->evacuating = 0;
  in->idle_since = 0;
}

static void pool_claim_this(ctl *c, instance *in, const char *ep_name, const char *variant_name) {
  (void)c;
  snprintf(in->endpoint, sizeof in->endpoint, "%s", ep_name);
  snprintf(in->variant, sizeof in->variant, "%s", variant_name);
  reset_reservations(in);
  berth_log(BERTH_LOG_INFO, "%s/%s: pool instance %lld (%s at %s) assigned", ep_name, variant_name,
            (long long)in->id, in->type->name, in->address);
}

instance *pool_claim(ctl *c, const char *ep_name, const char *variant_name, const char *type) {
  for (instance *in = c->instances; in; in = in->next) {
    if (!in->remote || in->agent || in->endpoint[0] || strcmp(in->type->name, type) != 0) continue;
    pool_claim_this(c, in, ep_name, variant_name);
    return in;
  }
  /* No free agent: the exec provider launches one (NULL while the
   * variant's launches wait after a failure: exec_provider_why). */
  const berth_instance_type *t = c->exec ? berth_catalog_find(&c->catalog, type) : NULL;
  return t ? exec_provider_launch(c, ep_name, variant_name, t, NULL, 0) : NULL;
}

void pool_release(ctl *c, instance *in) {
  if (in->exec) {
    pool_forget_instance(c, in);
    exec_provider_release(c, in); /* deleted by its hook: unlinked and freed */
    return;
  }
  berth_log(BERTH_LOG_INFO, "%s/%s: pool instance %lld released back to the pool", in->endpoint,
          in->variant, (long long)in->id);
  in->endpoint[0] = in->variant[0] = '\0';
  reset_reservations(in);
}

static copy *find_copy(ctl *c, int64_t id) {
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next)
      if (cp->id == id) return cp;
  return NULL;
}

/* Detaches every copy from a lost instance; each leaves when no request
 * is in flight to it, and its IC places a new one elsewhere. */
static void drop_copies(ctl *c, instance *in) {
  for (ic *x = c->ics; x; x = x->next) {
    copy *next;
    for (copy *cp = x->copies; cp; cp = next) {
      next = cp->next;
      if (cp->inst != in) continue;
      ctl_copy_release(cp);
      cp->inst = NULL;
      cp->state = COPY_STOPPING;
      if (cp->inflight == 0) agent_forget(c, cp);
    }
  }
}

void pool_lose(ctl *c, instance *in, const char *why) {
  if (in->synced || !in->exec) /* else a failed launch, which the exec provider logged */
    berth_log(BERTH_LOG_WARN, "pool instance %lld (agent %s at %s) lost: %s; its copies are "
              "placed again", (long long)in->id, in->agent_id, in->address, why);
  longpoll *next;
  for (longpoll *p = c->parked; p; p = next) {
    next = p->next;
    if (p->key == in) longpoll_reply(longpoll_take(p), 401, json_pack("{s:s}", "message", why));
  }
  drop_copies(c, in);
  if (in->exec) exec_provider_forget(c, in, why); /* its delete hook runs */
  for (instance **pp = &c->instances; *pp; pp = &(*pp)->next)
    if (*pp == in) {
      *pp = in->next;
      break;
    }
  free(in);
  ctl_kick(c);
}

void pool_check_lost(ctl *c) {
  double now = ctl_clock();
  instance *next;
  for (instance *in = c->instances; in; in = next) {
    next = in->next;
    /* A local instance is never lost: its agent is restarted instead. One
     * the exec provider launched waits for its agent's first sync until the
     * join deadline (exec_provider_check). */
    if (in->remote && !in->agent && in->synced && now - in->last_seen > POOL_LOST_S && !sync_parked(c, in)) {
      char why[64];
      snprintf(why, sizeof why, "no sync for %.0f s", now - in->last_seen);
      pool_lose(c, in, why);
    }
  }
}

/* Its host's physical devices, and what they really hold: no copy is
 * placed there that needs more device memory than that. */
static void take_devices(instance *in, json_t *body) {
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(body, "accelerator_devices"), i, d)
    if (in->n_host_devices < SCHED_MAX_DEVICES && in->n_host_devices < in->type->accelerators)
      in->host_devices[in->n_host_devices++] = (int)json_integer_value(d);
  json_int_t real_mb = json_integer_value(json_object_get(body, "accelerator_memory_mb"));
  if (real_mb > 0 && real_mb < in->res.dev_mem_mb) in->res.dev_mem_mb = real_mb;
}

static instance *join(ctl *c, json_t *body, berth_http_req *req, instance *local) {
  const char *agent_id = json_string_value(json_object_get(body, "agent_id"));
  const char *type = json_string_value(json_object_get(body, "instance_type"));
  const char *address = json_string_value(json_object_get(body, "address"));
  if (!agent_id || !type || !address || strlen(agent_id) >= 64 || strlen(address) >= 64) {
    longpoll_reply(req, 400, json_pack("{s:s}", "message",
                              "agent sync needs agent_id, instance_type and address"));
    return NULL;
  }
  if (local && !local->agent) { /* launched by the exec provider: its first sync */
    snprintf(local->agent_id, sizeof local->agent_id, "%s", agent_id);
    snprintf(local->address, sizeof local->address, "%s", address);
    take_devices(local, body);
    exec_provider_joined(c, local);
    return local;
  }
  if (local) {
    if (strcmp(local->agent_id, agent_id) != 0) {
      snprintf(local->agent_id, sizeof local->agent_id, "%s", agent_id);
      berth_log(BERTH_LOG_INFO, "instance %lld: agent %s joined", (long long)local->id, agent_id);
    }
    return local;
  }
  instance *in = find_agent(c, agent_id);
  if (in) return in;
  const berth_instance_type *t = berth_catalog_find(&c->catalog, type);
  if (!t) {
    longpoll_reply(req, 400, json_pack("{s:s}", "message", "unknown instance type: not in the catalog"));
    return NULL;
  }
  in = berth_xcalloc(1, sizeof *in);
  in->id = ++c->next_instance_id;
  in->remote = 1;
  in->type = t;
  snprintf(in->agent_id, sizeof in->agent_id, "%s", agent_id);
  snprintf(in->address, sizeof in->address, "%s", address);
  in->res = sched_capacity(t);
  take_devices(in, body);
  in->created = ctl_now();
  exec_provider_adopt(c, in); /* one the exec provider launched before a restart */
  instance **pp = &c->instances;
  while (*pp) pp = &(*pp)->next;
  *pp = in;
  berth_log(BERTH_LOG_INFO, "agent %s (%s at %s) joined the pool as instance %lld", agent_id,
          type, address, (long long)in->id);
  ctl_kick(c);
  return in;
}

/* A copy the agent runs that this controller does not know: one that ran
 * before the controller restarted. It is taken over when its IC still
 * exists on this instance's endpoint; otherwise the agent stops it (it is
 * not in the answer). */
static void adopt(ctl *c, instance *in, json_t *r) {
  int64_t id = (int64_t)json_integer_value(json_object_get(r, "id"));
  ic *x = ctl_find_ic(c, json_string_value(json_object_get(r, "ic")));
  const char *state = json_string_value(json_object_get(r, "state"));
  if (!x || x->deleting || find_copy(c, id) || !state || strcmp(state, "stopping") == 0) return;
  if (!in->endpoint[0] && !in->agent) pool_claim_this(c, in, x->endpoint, x->variant);
  if (strcmp(in->endpoint, x->endpoint) != 0) return;
  copy *cp = berth_xcalloc(1, sizeof *cp);
  cp->id = id;
  cp->owner = x;
  cp->ctl = c;
  cp->inst = in;
  cp->remove_when_stopped = 1;
  /* The revision it runs, as its agent was told (absent: the current). */
  json_t *rev = json_object_get(r, "rev");
  ic_copy_revision(x, cp, json_is_integer(rev) ? (int)json_integer_value(rev) : x->rev);
  ctl_assignment_parse(r, &cp->assign);
  cp->assign.instance = 0;
  cp->port = (int)json_integer_value(json_object_get(r, "port"));
  cp->state = COPY_STARTING;
  if (strcmp(state, "sleeping") == 0)
    copy_sleep_policy_adopt_asleep(c, cp); /* holds its memory only */
  else
    sched_reserve(&in->res, &cp->need, &cp->assign);
  cp->started_ms = uv_now(c->loop);
  copy **pp = &x->copies;
  while (*pp) pp = &(*pp)->next;
  *pp = cp;
  if (id > c->next_copy_id) c->next_copy_id = id;
  berth_log(BERTH_LOG_INFO, "%s: copy %lld (pid %lld on instance %lld) still runs: adopted",
            x->name, (long long)id, (long long)json_integer_value(json_object_get(r, "pid")),
            (long long)in->id);
}

/* Applies what the agent reports about the copies it runs. */
static void apply_reports(ctl *c, instance *in, json_t *copies, json_t *failures) {
  size_t i;
  json_t *r;
  json_array_foreach(copies, i, r) adopt(c, in, r);
  json_array_foreach(failures, i, r) {
    copy *cp = find_copy(c, (int64_t)json_integer_value(json_object_get(r, "id")));
    const char *msg = json_string_value(json_object_get(r, "message"));
    if (cp && cp->inst == in) {
      if (cp->state == COPY_STARTING) ic_copy_failed(c, cp, msg ? msg : "failed");
      /* The agent has dropped a copy that failed: so do we (its IC places
       * another unless it failed for good). */
      if (cp->inflight == 0)
        agent_forget(c, cp);
      else
        cp->state = COPY_STOPPING;
    }
  }
  for (ic *x = c->ics; x; x = x->next) {
    copy *next;
    for (copy *cp = x->copies; cp; cp = next) {
      next = cp->next;
      if (cp->inst != in) continue;
      json_t *rep = NULL;
      json_array_foreach(copies, i, r)
        if (json_integer_value(json_object_get(r, "id")) == cp->id) rep = r;
      const char *state = json_string_value(json_object_get(rep, "state"));
      usage_copy_report(cp, rep, ctl_clock());
      snprintf(cp->detail, sizeof cp->detail, "%s",
               json_string_value(json_object_get(rep, "detail")) ?: "");
      if (cp->state == COPY_SLEEPING) {
        copy_sleep_policy_report(c, cp, rep); /* asleep, waking or back */
      } else if (cp->state == COPY_STARTING && state && strcmp(state, "ready") == 0) {
        cp->port = (int)json_integer_value(json_object_get(rep, "port"));
        cp->state = COPY_READY;
        cp->ready_ms = uv_now(c->loop);
        berth_log(BERTH_LOG_INFO, "%s: copy %lld ready on %s:%d (%sinstance %lld)", x->name,
                (long long)cp->id, in->address, cp->port, in->agent ? "" : "pool ",
                (long long)in->id);
        /* ModelSetupTime: the agent's measure (artifact, start, /ping) when
         * it sends one, else placement to ready as seen here. */
        json_int_t setup = json_integer_value(json_object_get(rep, "setup_ms"));
        metrics_copy_ready(x->metrics, setup > 0 ? (double)setup
                                                 : (double)(cp->ready_ms - cp->started_ms));
        ctl_kick(c);
      } else if (cp->state == COPY_READY && state && strcmp(state, "ready") != 0 &&
                 strcmp(state, "adopting") != 0) {
        /* "adopting": a restarted agent checks a copy that was serving; it
         * stays in rotation meanwhile. */
        cp->state = COPY_STARTING; /* restarting on its agent */
      } else if (cp->state == COPY_STOPPING && !rep && cp->inflight == 0) {
        agent_forget(c, cp);
      }
    }
  }
}

/* The copies the agent should run: everything placed on it that is not
 * stopping, with what it needs to start it. */
static json_t *wanted(ctl *c, instance *in) {
  json_t *out = json_array();
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next) {
      if (cp->inst != in || cp->state == COPY_STOPPING) continue;
      json_t *devs = ctl_devices_json(&cp->assign);
      /* Its own revision's document: a rolling update runs two. */
      json_t *doc = copy_doc(cp);
      json_t *spec = json_object_get(doc, "Specification");
      const char *model = json_string_value(json_object_get(spec, "ModelName"));
      json_t *w = json_pack("{s:I,s:s,s:s,s:s,s:O,s:i,s:I,s:o,s:i,s:i}", "id", (json_int_t)cp->id,
                            "ic", x->name, "endpoint", x->endpoint, "status", ic_status_name(x->status), "doc",
                            doc, "startup_timeout_s", x->startup_timeout_s, "cpu_milli",
                            (json_int_t)cp->need.cpu_milli, "devices", devs, "dev_milli_each",
                            cp->assign.dev_milli_each, "rev", cp->rev);
      json_object_set_new(w, "download_timeout_s", json_integer(ic_download_timeout_s(c, x)));
      json_object_set_new(w, "dev_mem_mb", json_integer(cp->need.dev_mem_mb));
      /* A copy that cannot start the first time fails (SageMaker's rule)
       * while its IC is created and while a rollout tries a new revision. */
      int fresh = x->status == IC_CREATING ||
                  (x->rollout && !x->rollout->rolling_back && cp->rev == x->rev);
      json_object_set_new(w, "fail_fast", json_boolean(fresh));
      if (copy_sleep_policy_wants_sleep(cp)) json_object_set_new(w, "sleep", json_true());
      if (model && ctl_find_model(c, model))
        json_object_set(w, "model", ctl_find_model(c, model));
      json_array_append_new(out, w);
    }
  return out;
}

/* ---- the long poll ----
 * A sync whose answer equals what the agent last received (same version)
 * is held until the answer changes (pool_wake, after each reconciliation)
 * or the agent's wait_ms runs out. */

/* The answer for in: its copies, with a version that changes when they do. */
static json_t *answer(ctl *c, instance *in) {
  json_t *w = wanted(c, in);
  json_t *adapters = adapter_ic_wanted(c, in); /* what its base copies load */
  char v[32];
  snprintf(v, sizeof v, "%016llx",
           (unsigned long long)(longpoll_hash(w) + 31 * longpoll_hash(adapters)));
  /* A pool agent ships its copies' logs here (log_intake.h); a local one
   * writes this controller's shared dir already. Not in the version: it
   * never changes for an instance. */
  return json_pack("{s:I,s:s,s:o,s:o,s:s,s:b}", "instance_id", (json_int_t)in->id, "endpoint",
                   in->endpoint, "copies", w, "adapters", adapters, "version", v, "ship_logs",
                   in->agent == NULL);
}

static int sync_parked(ctl *c, const instance *in) {
  return longpoll_holds(&c->parked, in);
}

void pool_wake(ctl *c, int all) {
  uint64_t now = uv_now(c->loop);
  longpoll *next;
  for (longpoll *p = c->parked; p; p = next) {
    next = p->next;
    instance *in = p->key;
    json_t *resp = answer(c, in);
    const char *v = json_string_value(json_object_get(resp, "version"));
    if (all || now >= p->until_ms || strcmp(v, p->version) != 0) {
      in->last_seen = ctl_clock();
      longpoll_reply(longpoll_take(p), 200, resp);
    } else {
      json_decref(resp);
    }
  }
}

void pool_forget_instance(ctl *c, instance *in) {
  longpoll *next;
  for (longpoll *p = c->parked; p; p = next) {
    next = p->next;
    if (p->key == in)
      longpoll_reply(longpoll_take(p), 410, json_pack("{s:s}", "message", "this instance was released"));
  }
}

static void refuse(berth_http_req *req, const char *why) {
  berth_log(BERTH_LOG_WARN, "refused agent sync from %s: %s", req->peer, why);
  char msg[300];
  snprintf(msg, sizeof msg, "agent token refused: %s", why);
  longpoll_reply(req, 401, json_pack("{s:s}", "message", msg));
}

/* An answer that carries a newly issued token goes out once the token is
 * committed: an agent never holds a token a restarted controller lacks. */
typedef struct issued_answer {
  berth_http_req *req;          /* NULL once the agent is gone */
  ctl *c;
  json_t *resp;
  char agent_id[64];
} issued_answer;

static void on_issued_gone(berth_http_req *req) {
  ((issued_answer *)req->user)->req = NULL;
}

static void on_issued_committed(void *ud, int rc) {
  issued_answer *a = ud;
  /* Undelivered, the token must not lock its agent out. */
  if (rc || !a->req) agent_tokens_forget(a->c, a->agent_id);
  if (a->req) {
    a->req->on_abort = NULL;
    if (rc) {
      json_decref(a->resp);
      a->resp = json_pack("{s:s}", "message", "the controller could not commit this agent's "
                          "token; retry");
    }
    longpoll_reply(a->req, rc ? 503 : 200, a->resp);
  } else {
    json_decref(a->resp);
  }
  free(a);
}

void pool_on_sync(ctl *c, berth_http_req *req) {
  instance *local;
  char issued_to[64];
  sender s = who(c, req, &local, issued_to);
  if (s == WHO_NONE) {
    refuse(req, c->agent_token[0] || c->instances ? "wrong or missing token"
                : "this controller takes no agents (start it with --agent-token)");
    return;
  }
  if (s == WHO_REVOKED) {
    refuse(req, "this agent was revoked (Berth.RevokeAgent): join again under a new id");
    return;
  }
  json_error_t jerr;
  json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
  if (!json_is_object(body)) {
    json_decref(body);
    longpoll_reply(req, 400, json_pack("{s:s}", "message", "agent sync body is not a JSON object"));
    return;
  }
  const char *claimed = json_string_value(json_object_get(body, "agent_id"));
  char token[65] = "";
  if (s == WHO_ISSUED && (!claimed || strcmp(claimed, issued_to) != 0)) {
    json_decref(body);
    refuse(req, "the token was issued to another agent id");
    return;
  }
  if ((s == WHO_JOIN || s == WHO_EXEC) && claimed) {
    int state = agent_tokens_state(c, claimed);
    if (state) {
      json_decref(body);
      refuse(req, state == 2 ? "this agent was revoked (Berth.RevokeAgent): join again under a "
                               "new id"
                             : "this agent id holds a token of its own: the join token only "
                               "admits new agents");
      return;
    }
  }
  instance *in = join(c, body, req, local);
  if (!in) {
    json_decref(body);
    return;
  }
  in->last_seen = ctl_clock();
  const char *runtime = json_string_value(json_object_get(body, "container_runtime"));
  if (runtime) snprintf(in->container_runtime, sizeof in->container_runtime, "%s", runtime);
  if (!in->synced) {
    in->synced = 1;
    ctl_kick(c); /* maybe the last one the adoption waits for */
  }
  apply_reports(c, in, json_object_get(body, "copies"), json_object_get(body, "failures"));
  adapter_ic_apply_report(c, in, json_object_get(body, "adapters"));
  if ((s == WHO_JOIN || s == WHO_EXEC) && agent_tokens_issue(c, in->agent_id, token) == 0) {
    json_t *resp = answer(c, in);
    json_object_set_new(resp, "agent_token", json_string(token));
    berth_secret_wipe(token, sizeof token);
    berth_log(BERTH_LOG_INFO, "agent %s: issued its own token (the join token no longer admits "
              "it)", in->agent_id);
    issued_answer *a = berth_xcalloc(1, sizeof *a);
    a->req = req;
    a->c = c;
    a->resp = resp;
    snprintf(a->agent_id, sizeof a->agent_id, "%s", in->agent_id);
    req->user = a;
    req->on_abort = on_issued_gone;
    json_decref(body);
    store_sync(c->db, on_issued_committed, a);
    return;
  }
  const char *version = json_string_value(json_object_get(body, "version"));
  json_int_t wait_ms = json_integer_value(json_object_get(body, "wait_ms"));
  json_t *resp = answer(c, in);
  const char *now_v = json_string_value(json_object_get(resp, "version"));
  if (version && wait_ms > 0 && strcmp(version, now_v) == 0 && !c->shutting_down &&
      !sync_parked(c, in)) {
    longpoll_hold(&c->parked, req, in, now_v,
                  uv_now(c->loop) + (uint64_t)(wait_ms > POOL_MAX_WAIT_MS ? POOL_MAX_WAIT_MS
                                                                          : wait_ms));
    json_decref(resp);
    json_decref(body);
    return;
  }
  json_decref(body);
  longpoll_reply(req, 200, resp);
}

int pool_revoke_call(ctl *c, json_t *req, json_t **resp, api_error *e) {
  const char *agent_id = NULL;
  long long id = 0;
  if (valid_string(req, "AgentId", "AgentId", 0, 63, &agent_id, e) ||
      valid_int(req, "InstanceId", "InstanceId", 0, 1, 1LL << 53, 0, &id, e))
    return -1;
  instance *in = NULL;
  for (instance *x = c->instances; x; x = x->next)
    if ((id && x->id == id) || (agent_id && x->remote && strcmp(x->agent_id, agent_id) == 0))
      in = x;
  if (id && !in)
    return api_fail(e, 400, "ValidationException", "InstanceId %lld is no instance of this "
                    "controller", id);
  if (in && in->agent)
    return api_fail(e, 400, "ValidationException", "instance %lld is a local instance: its agent "
                    "is berthd's own (delete its endpoint instead); only pool agents are revoked",
                    (long long)in->id);
  char keep[64];
  snprintf(keep, sizeof keep, "%s", in ? in->agent_id : agent_id ? agent_id : "");
  if (!keep[0])
    return api_fail(e, 400, "ValidationException", "RevokeAgent needs InstanceId or AgentId");
  int rc = agent_tokens_revoke(c, keep);
  if (rc == -ENOENT)
    return api_fail(e, 400, "ValidationException", "agent %s holds no token of its own (it "
                    "never joined this pool)", keep);
  if (rc) return api_fail(e, 503, "ThrottlingException", "the state store is busy; retry");
  if (in) pool_lose(c, in, "its agent was revoked");
  *resp = json_pack("{s:s,s:b}", "AgentId", keep, "Revoked", 1);
  return 0;
}

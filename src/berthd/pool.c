/* pool: joined agents as instances (controller side of the agent sync). */
#include "berth/log.h"
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "ic.h"
#include "metrics.h"
#include "router.h"

static void reply(berth_http_req *req, int status, json_t *body) {
  char *text = json_dumps(body, JSON_COMPACT);
  berth_http_header h[1] = {{"content-type", "application/json"}};
  berth_http_respond(req, status, h, 1, text, strlen(text));
  free(text);
  json_decref(body);
}

static int token_ok(ctl *c, berth_http_req *req) {
  const char *auth = berth_http_req_header(req, "authorization");
  if (!c->agent_token[0] || !auth || strncmp(auth, "Bearer ", 7) != 0) return 0;
  /* Constant-time compare: the token is a secret. */
  const char *given = auth + 7;
  size_t n = strlen(c->agent_token), m = strlen(given);
  unsigned char diff = (unsigned char)(n != m);
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)(c->agent_token[i] ^ (i < m ? given[i] : 0));
  return diff == 0;
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

instance *pool_claim(ctl *c, const char *ep_name, const char *variant_name, const char *type) {
  for (instance *in = c->instances; in; in = in->next) {
    if (!in->remote || in->endpoint[0] || strcmp(in->type->name, type) != 0) continue;
    snprintf(in->endpoint, sizeof in->endpoint, "%s", ep_name);
    snprintf(in->variant, sizeof in->variant, "%s", variant_name);
    reset_reservations(in);
    berth_log(BERTH_LOG_INFO, "%s/%s: pool instance %lld (%s at %s) assigned", ep_name, variant_name,
            (long long)in->id, type, in->address);
    return in;
  }
  return NULL;
}

void pool_release(ctl *c, instance *in) {
  (void)c;
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
      sched_release(&in->res, &x->need, &cp->assign);
      cp->inst = NULL;
      cp->state = COPY_STOPPING;
      if (cp->inflight == 0) agent_forget(c, cp);
    }
  }
}

void pool_check_lost(ctl *c) {
  double now = ctl_clock();
  instance **pp = &c->instances;
  while (*pp) {
    instance *in = *pp;
    if (in->remote && now - in->last_seen > POOL_LOST_S) {
      berth_log(BERTH_LOG_WARN, "pool instance %lld (agent %s at %s) lost: no sync for %.0f s; "
              "its copies are placed again", (long long)in->id, in->agent_id, in->address,
              now - in->last_seen);
      drop_copies(c, in);
      *pp = in->next;
      free(in);
      ctl_kick(c);
      continue;
    }
    pp = &in->next;
  }
}

static instance *join(ctl *c, json_t *body, berth_http_req *req) {
  const char *agent_id = json_string_value(json_object_get(body, "agent_id"));
  const char *type = json_string_value(json_object_get(body, "instance_type"));
  const char *address = json_string_value(json_object_get(body, "address"));
  if (!agent_id || !type || !address || strlen(agent_id) >= 64 || strlen(address) >= 64) {
    reply(req, 400, json_pack("{s:s}", "message",
                              "agent sync needs agent_id, instance_type and address"));
    return NULL;
  }
  instance *in = find_agent(c, agent_id);
  if (in) return in;
  const berth_instance_type *t = berth_catalog_find(&c->catalog, type);
  if (!t) {
    reply(req, 400, json_pack("{s:s}", "message", "unknown instance type: not in the catalog"));
    return NULL;
  }
  in = berth_xcalloc(1, sizeof *in);
  in->id = ++c->next_instance_id;
  in->remote = 1;
  in->type = t;
  snprintf(in->agent_id, sizeof in->agent_id, "%s", agent_id);
  snprintf(in->address, sizeof in->address, "%s", address);
  in->res = ctl_capacity(t);
  in->created = ctl_now();
  instance **pp = &c->instances;
  while (*pp) pp = &(*pp)->next;
  *pp = in;
  berth_log(BERTH_LOG_INFO, "agent %s (%s at %s) joined the pool as instance %lld", agent_id,
          type, address, (long long)in->id);
  ctl_kick(c);
  return in;
}

/* Applies what the agent reports about the copies it runs. */
static void apply_reports(ctl *c, instance *in, json_t *copies, json_t *failures) {
  size_t i;
  json_t *r;
  json_array_foreach(failures, i, r) {
    copy *cp = find_copy(c, (int64_t)json_integer_value(json_object_get(r, "id")));
    const char *msg = json_string_value(json_object_get(r, "message"));
    if (cp && cp->inst == in) {
      if (cp->state == COPY_STARTING) ic_copy_failed(c, cp, msg ? msg : "failed");
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
      if (cp->state == COPY_STARTING && state && strcmp(state, "ready") == 0) {
        cp->port = (int)json_integer_value(json_object_get(rep, "port"));
        cp->state = COPY_READY;
        cp->ready_ms = uv_now(c->loop);
        berth_log(BERTH_LOG_INFO, "%s: copy %lld ready on %s:%d (pool instance %lld)", x->name,
                (long long)cp->id, in->address, cp->port, (long long)in->id);
        metrics_copy_ready(x->metrics, (double)(cp->ready_ms - cp->started_ms));
        router_copy_ready(c, x);
        ctl_kick(c);
      } else if (cp->state == COPY_READY && state && strcmp(state, "ready") != 0) {
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
      json_t *devs = json_array();
      for (int d = 0; d < cp->assign.n_devices; d++)
        json_array_append_new(devs, json_integer(cp->assign.devices[d]));
      json_t *spec = json_object_get(x->doc, "Specification");
      const char *model = json_string_value(json_object_get(spec, "ModelName"));
      json_t *w = json_pack("{s:I,s:s,s:s,s:s,s:O,s:i,s:I,s:o,s:i}", "id", (json_int_t)cp->id,
                            "ic", x->name, "endpoint", x->endpoint, "status", ic_status_name(x->status), "doc",
                            x->doc, "startup_timeout_s", x->startup_timeout_s, "cpu_milli",
                            (json_int_t)x->need.cpu_milli, "devices", devs, "dev_milli_each",
                            cp->assign.dev_milli_each);
      json_object_set_new(w, "download_timeout_s", json_integer(ic_download_timeout_s(c, x)));
      if (model && ctl_find_model(c, model))
        json_object_set(w, "model", ctl_find_model(c, model));
      json_array_append_new(out, w);
    }
  return out;
}

void pool_on_sync(ctl *c, berth_http_req *req) {
  if (!token_ok(c, req)) {
    berth_log(BERTH_LOG_WARN, "refused agent sync from %s: %s", req->peer,
            c->agent_token[0] ? "wrong or missing token" : "this controller takes no agents "
                                                            "(start it with --agent-token)");
    reply(req, 401, json_pack("{s:s}", "message", "agent token refused"));
    return;
  }
  json_error_t jerr;
  json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
  if (!json_is_object(body)) {
    json_decref(body);
    reply(req, 400, json_pack("{s:s}", "message", "agent sync body is not a JSON object"));
    return;
  }
  instance *in = join(c, body, req);
  if (!in) {
    json_decref(body);
    return;
  }
  in->last_seen = ctl_clock();
  apply_reports(c, in, json_object_get(body, "copies"), json_object_get(body, "failures"));
  json_decref(body);
  json_t *resp = json_pack("{s:I,s:s,s:o}", "instance_id", (json_int_t)in->id, "endpoint",
                           in->endpoint, "copies", wanted(c, in));
  reply(req, 200, resp);
}

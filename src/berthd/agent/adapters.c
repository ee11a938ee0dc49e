/* adapters: see adapters.h. */
#include "adapters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact.h"
#include "berth/log.h"

#define LOAD_TIMEOUT_MS 120000  /* max silence of a load or unload call */
#define LOAD_ANSWER_MAX 4096    /* what is kept of the server's answer */

typedef enum { LOAD_FETCHING, LOAD_SENDING, LOAD_LOADED, LOAD_FAILED, LOAD_UNLOADING } load_state;

typedef struct adapter_load {
  struct adapter_load *next;
  ctl *c;
  int64_t copy_id;
  uint64_t ready_ms;            /* the copy's, when this load began */
  char name[NAME_MAX_LEN + 1];
  load_state state;
  char message[600];
  char dir[1024];               /* the artifact directory it holds; "" */
  int fetching;                 /* artifact_prepare's callback is due */
  berth_http_call *call;        /* a load or unload in flight */
  int call_status;
  berth_buf answer;
  int dead;                     /* unlinked: freed once nothing is due */
} adapter_load;

/* One agent per process. */
static struct {
  adapter_load *loads;
  json_t *wanted;               /* the controller's last list */
  uv_timer_t timer;
  int timer_ready;
} st;

static copy *copy_by_id(ctl *c, int64_t id) {
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next)
      if (cp->id == id && !cp->dead) return cp;
  return NULL;
}

static json_t *wanted_for(const char *base, const char *name) {
  size_t i;
  json_t *w;
  json_array_foreach(st.wanted, i, w) {
    const char *b = json_string_value(json_object_get(w, "base"));
    const char *n = json_string_value(json_object_get(w, "name"));
    if (b && n && strcmp(b, base) == 0 && strcmp(n, name) == 0) return w;
  }
  return NULL;
}

/* vLLM's pair of routes instead of /adapters: the base's choice. */
static int vllm_api(const copy *cp) {
  json_t *spec = json_object_get(copy_doc(cp), "Specification");
  json_t *env = json_object_get(json_object_get(spec, "Container"), "Environment");
  const char *api = json_string_value(json_object_get(env, "BERTH_ADAPTER_API"));
  return api && strcmp(api, "vllm") == 0;
}

static void maybe_free(adapter_load *l) {
  if (!l->dead || l->fetching || l->call) return;
  berth_buf_free(&l->answer);
  free(l);
}

/* Unlinks l and lets its artifact go; memory goes when nothing is due. */
static void drop(adapter_load *l) {
  for (adapter_load **pp = &st.loads; *pp; pp = &(*pp)->next)
    if (*pp == l) {
      *pp = l->next;
      break;
    }
  if (l->dir[0]) artifact_release(l->c, l->dir);
  l->dir[0] = '\0';
  l->dead = 1;
  if (l->call) berth_http_call_cancel(l->call); /* on_call_done frees it */
  maybe_free(l);
}

static void on_call_head(berth_http_call *call, int status, const berth_http_header *h, size_t n,
                         void *ud) {
  (void)call;
  (void)h;
  (void)n;
  ((adapter_load *)ud)->call_status = status;
}

static void on_call_body(berth_http_call *call, const char *data, size_t len, void *ud) {
  (void)call;
  adapter_load *l = ud;
  /* Past the bound the rest is not needed: the message is a summary. */
  if (l->answer.len + len <= LOAD_ANSWER_MAX) berth_buf_append(&l->answer, data, len);
}

static void on_call_done(berth_http_call *call, int err, void *ud) {
  (void)call;
  adapter_load *l = ud;
  l->call = NULL;
  if (l->dead) {
    maybe_free(l);
    return;
  }
  ctl *c = l->c;
  const char *what = l->state == LOAD_UNLOADING ? "unload" : "load";
  int ok = err == 0 && l->call_status >= 200 && l->call_status < 300;
  if (l->state == LOAD_UNLOADING) {
    if (!ok)
      berth_log(BERTH_LOG_WARN, "copy %lld: unloading adapter %s failed (status %d): the copy "
                "may keep it until it restarts", (long long)l->copy_id, l->name, l->call_status);
    else
      berth_log(BERTH_LOG_INFO, "copy %lld: adapter %s unloaded", (long long)l->copy_id, l->name);
    drop(l);
    ctl_kick(c);
    return;
  }
  if (ok) {
    l->state = LOAD_LOADED;
    l->message[0] = '\0';
    berth_log(BERTH_LOG_INFO, "copy %lld: adapter %s loaded from %s", (long long)l->copy_id,
              l->name, l->dir);
  } else {
    l->state = LOAD_FAILED;
    if (err)
      snprintf(l->message, sizeof l->message, "the model server did not answer the %s: %s", what,
               uv_strerror(err));
    else
      snprintf(l->message, sizeof l->message, "the model server answered %d: %.*s",
               l->call_status, (int)(l->answer.len > 400 ? 400 : l->answer.len),
               l->answer.data ? l->answer.data : "");
    berth_log(BERTH_LOG_ERROR, "copy %lld: adapter %s: %s", (long long)l->copy_id, l->name,
              l->message);
  }
  berth_buf_reset(&l->answer);
  ctl_kick(c); /* the controller hears it now */
}

static const berth_http_call_cb call_cb = {on_call_head, on_call_body, on_call_done};

/* Sends the load (unload 0) or the unload (1) of l to its copy. */
static void send_call(adapter_load *l, copy *cp, int unload) {
  ctl *c = l->c;
  int vllm = vllm_api(cp);
  char target[128];
  const char *method = "POST";
  json_t *body;
  if (unload && vllm) {
    snprintf(target, sizeof target, "/v1/unload_lora_adapter");
    body = json_pack("{s:s}", "lora_name", l->name);
  } else if (unload) {
    snprintf(target, sizeof target, "/adapters/%s", l->name); /* names are [a-zA-Z0-9-] */
    method = "DELETE";
    body = NULL;
  } else if (vllm) {
    snprintf(target, sizeof target, "/v1/load_lora_adapter");
    body = json_pack("{s:s,s:s}", "lora_name", l->name, "lora_path", l->dir);
  } else {
    snprintf(target, sizeof target, "/adapters");
    /* "src" as SageMaker's container standard names it, "path" the same. */
    body = json_pack("{s:s,s:s,s:s}", "name", l->name, "src", l->dir, "path", l->dir);
  }
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  berth_http_header h[1] = {{"content-type", "application/json"}};
  berth_http_request_opts o = {.host = "127.0.0.1", .port = cp->port, .method = method,
                               .target = target, .headers = h, .n_headers = text ? 1 : 0,
                               .body = text, .body_len = text ? strlen(text) : 0,
                               .timeout_ms = LOAD_TIMEOUT_MS};
  l->state = unload ? LOAD_UNLOADING : LOAD_SENDING;
  l->call_status = 0;
  berth_buf_reset(&l->answer);
  int rc = berth_http_request(c->client, &o, &call_cb, l, &l->call);
  free(text);
  if (rc == 0) return;
  l->call = NULL;
  if (unload) {
    drop(l);
    return;
  }
  l->state = LOAD_FAILED;
  snprintf(l->message, sizeof l->message, "could not send the load to the copy: %s",
           uv_strerror(rc));
  ctl_kick(c);
}

static void on_fetched(void *ud, int err, const char *dir, const char *why) {
  adapter_load *l = ud;
  l->fetching = 0;
  if (l->dead) {
    if (!err) artifact_release(l->c, dir);
    maybe_free(l);
    return;
  }
  if (err) {
    l->state = LOAD_FAILED;
    snprintf(l->message, sizeof l->message, "could not get its ArtifactUrl: %s", why);
    berth_log(BERTH_LOG_ERROR, "copy %lld: adapter %s: %s", (long long)l->copy_id, l->name,
              l->message);
    ctl_kick(l->c);
    return;
  }
  snprintf(l->dir, sizeof l->dir, "%s", dir);
  copy *cp = copy_by_id(l->c, l->copy_id);
  if (cp && cp->state == COPY_READY)
    send_call(l, cp, 0);
  else
    adapters_step(l->c); /* the copy went meanwhile: the step drops it */
}

static void start_load(ctl *c, copy *cp, json_t *w) {
  adapter_load *l = berth_xcalloc(1, sizeof *l);
  l->c = c;
  l->copy_id = cp->id;
  l->ready_ms = cp->ready_ms;
  snprintf(l->name, sizeof l->name, "%s", json_string_value(json_object_get(w, "name")));
  berth_buf_init(&l->answer, LOAD_ANSWER_MAX);
  l->state = LOAD_FETCHING;
  l->next = st.loads;
  st.loads = l;
  l->fetching = 1;
  /* The callback may run before artifact_prepare returns. */
  artifact_prepare(c, json_string_value(json_object_get(w, "artifact_url")),
                   !json_is_false(json_object_get(w, "caching")), on_fetched, l);
}

static void step(ctl *c) {
  /* Loads whose copy is gone or no longer ready go (a server that comes
   * back has none); unwanted ones are unloaded. */
  adapter_load *next;
  for (adapter_load *l = st.loads; l; l = next) {
    next = l->next;
    copy *cp = copy_by_id(c, l->copy_id);
    if (!cp || cp->state != COPY_READY || cp->ready_ms != l->ready_ms) {
      drop(l);
      continue;
    }
    if (l->state == LOAD_UNLOADING || wanted_for(cp->owner->name, l->name)) continue;
    if (l->state == LOAD_LOADED) {
      send_call(l, cp, 1);
    } else {
      drop(l); /* never loaded: nothing to undo (a load in flight is cancelled) */
    }
  }
  /* Every ready copy gets each adapter of its IC. */
  size_t i;
  json_t *w;
  json_array_foreach(st.wanted, i, w) {
    const char *base = json_string_value(json_object_get(w, "base"));
    const char *name = json_string_value(json_object_get(w, "name"));
    ic *x = base && name ? ctl_find_ic(c, base) : NULL;
    for (copy *cp = x ? x->copies : NULL; cp; cp = cp->next) {
      if (cp->dead || cp->state != COPY_READY) continue;
      int have = 0;
      for (adapter_load *l = st.loads; l; l = l->next)
        have |= l->copy_id == cp->id && strcmp(l->name, name) == 0;
      if (!have) start_load(c, cp, w);
    }
  }
}

static void on_step(uv_timer_t *t) {
  step(t->data);
}

void adapters_step(ctl *c) {
  if (!st.timer_ready) {
    uv_timer_init(c->loop, &st.timer);
    st.timer.data = c;
    st.timer_ready = 1;
  }
  uv_timer_start(&st.timer, on_step, 0, 0);
}

void adapters_follow(ctl *c, json_t *wanted) {
  json_decref(st.wanted);
  st.wanted = json_is_array(wanted) ? json_incref(wanted) : json_array();
  adapters_step(c);
}

json_t *adapters_report(ctl *c) {
  (void)c;
  static const char *const names[] = {[LOAD_FETCHING] = "loading", [LOAD_SENDING] = "loading",
                                      [LOAD_LOADED] = "loaded", [LOAD_FAILED] = "failed",
                                      [LOAD_UNLOADING] = "unloading"};
  json_t *out = json_array();
  for (const adapter_load *l = st.loads; l; l = l->next)
    json_array_append_new(out, json_pack("{s:I,s:s,s:s,s:s}", "copy", (json_int_t)l->copy_id,
                                         "adapter", l->name, "state", names[l->state], "message",
                                         l->message));
  return out;
}

/* berth-model: the reference model server. It implements the contract of
 * SageMaker-compatible containers (GET /ping, POST /invocations, chunked
 * streaming) with a fake text generator, so that tests, demos and
 * benchmarks need no real model. Its answers are a deterministic function of
 * (model id, inputs); knobs in the environment make it slow, late, heavy,
 * failing or dead on purpose (see usage()). */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "berth/buf.h"
#include "berth/http_server.h"
#include "faults.h"
#include "model_openai.h"
#include "model_sleep.h"
#include "sessions.h"

#define DEFAULT_TOKENS 8
#define MAX_TOKENS 4096
#define MAX_ADAPTERS 64
#define ADAPTER_NAME_MAX 63

/* An adapter (LoRA) loaded by POST /adapters: its name and the first line
 * of berth-adapter.txt in its directory, which its answers carry. */
typedef struct adapter {
  char name[ADAPTER_NAME_MAX + 1];
  char tag[128];
  const char *via;         /* the route that loaded it: /adapters or vLLM's */
} adapter;

static struct {
  uv_loop_t *loop;
  const char *host;
  int port;
  char model_id[256];
  const char *copy_id;
  uint64_t startup_delay_ms;
  uint64_t ready_at;       /* uv_now after which /ping answers 200 */
  int fail_status;         /* 0: none */
  long session_ttl_s;      /* BERTH_MODEL_SESSION_TTL_S: a new session's life */
  model_faults faults;     /* the environment's failures on purpose (faults.h) */
  long jobs;               /* answers in progress (GET /stats) */
  long aborted;            /* answers whose client went before the end */
  long died;               /* answers cut on purpose (die_after_tokens) */
  uint64_t last_abort_ms;  /* wall-clock ms of the latest client gone (0: none) */
  char *memory;            /* BERTH_MODEL_MEMORY_MB, held until exit */
  berth_http_server *server;
  uv_signal_t sigterm, sigint;
  uv_timer_t ready_timer;
  int stopping;
  adapter adapters[MAX_ADAPTERS];
  int n_adapters;
  int sleep_api;           /* BERTH_MODEL_SLEEP_API=0: no sleep routes (404) */
} cfg;

static const char *const words[] = {
  "the", "model", "berth", "copy", "harbor", "ship", "tide", "anchor",
  "sail", "wave", "quay", "dock", "cargo", "crane", "pilot", "rope",
  "deck", "hull", "mast", "keel", "port", "bay", "reef", "buoy",
  "light", "house", "north", "south", "east", "west", "wind", "storm",
  "calm", "sea", "salt", "fish", "gull", "shell", "sand", "stone",
  "river", "delta", "canal", "lock", "bridge", "ferry", "barge", "tug",
  "chart", "compass", "star", "moon", "sun", "cloud", "rain", "fog",
  "dawn", "dusk", "night", "day", "song", "word", "token", "end",
};
#define N_WORDS (sizeof words / sizeof words[0])

static void usage(FILE *f) {
  fprintf(f,
          "usage: berth-model [serve] [--port N] [--host ADDR]\n"
          "Serves GET /ping and POST /invocations on ADDR (127.0.0.1) and the port from\n"
          "--port, SAGEMAKER_BIND_TO_PORT or BERTH_PORT; also OpenAI's POST\n"
          "/v1/chat/completions and /v1/completions (\"stream\": true: server-sent events).\n"
          "Environment: BERTH_MODEL_ID, BERTH_COPY_ID, BERTH_MODEL_TOKEN_DELAY_MS,\n"
          "BERTH_MODEL_STARTUP_DELAY_MS, BERTH_MODEL_MEMORY_MB, BERTH_MODEL_FAIL_STATUS,\n"
          "BERTH_MODEL_EXIT_AT_START, SM_MODEL_DIR (berth-model.json may set model_id).\n"
          "Failures on purpose: BERTH_MODEL_DIE_AFTER_TOKENS=N (close the connection after\n"
          "N tokens), BERTH_MODEL_STALL_AFTER_TOKENS=N (send nothing more after N tokens);\n"
          "a request's parameters.die_after_tokens, .stall_after_tokens and\n"
          ".token_delay_ms override them. GET /stats: {inflight, aborted, died,\n"
          "last_abort_ms} (answers in progress, clients gone, cut on purpose).\n"
          "Adapters: POST /adapters {\"name\", \"src\" (or \"path\")}, DELETE /adapters/NAME,\n"
          "and vLLM's POST /v1/load_lora_adapter, /v1/unload_lora_adapter; an invocation\n"
          "with X-Amzn-SageMaker-Adapter-Identifier answers as that adapter.\n"
          "Sessions: X-Amzn-SageMaker-Session-Id: NEW_SESSION opens one (for\n"
          "BERTH_MODEL_SESSION_TTL_S, 1200 s); its id counts turns (\"session_turn\");\n"
          "a body with \"close_session\": true closes it.\n"
          "Sleep mode (vLLM's): POST /sleep?level=1, POST /wake_up (answers after\n"
          "BERTH_MODEL_WAKE_DELAY_MS, 500), GET /is_sleeping; asleep, invocations get 503;\n"
          "BERTH_MODEL_SLEEP_API=0 leaves these routes out (a server without them).\n");
}

/* Parses a whole decimal integer in [lo, hi]. */
static int parse_int(const char *s, long lo, long hi, long *out) {
  if (!s || !*s) return -EINVAL;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -ERANGE;
  *out = v;
  return 0;
}

/* An integer knob from the environment; exits 2 with a clear message when
 * it is set but not a number in range. */
static long env_int(const char *name, long lo, long hi, long dflt) {
  const char *s = getenv(name);
  if (!s || !*s) return dflt;
  long v;
  if (parse_int(s, lo, hi, &v) < 0) {
    fprintf(stderr, "berth-model: %s=\"%s\" is not an integer in [%ld, %ld]\n", name, s, lo, hi);
    exit(2);
  }
  return v;
}

/* ---- the fake generator ---- */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* splitmix64: small, fast, and good enough to look random. */
static uint64_t next_rand(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

typedef struct job {
  berth_http_req *req;
  uv_timer_t timer;
  uint64_t rng;
  int n_tokens;
  int done_tokens;
  int stream;
  int finished;          /* answered or aborted: only the timer close is left */
  berth_buf text;        /* generated_text so far */
  berth_buf pending;     /* a stream event refused with -ENOBUFS */
  berth_http_header hdrs[4];
  size_t n_hdrs;
  model_session_result session; /* its sticky session (sessions.h) */
  char model_id[sizeof cfg.model_id + 200]; /* with the adapter's prefix */
  const char *adapter_via; /* a static string; NULL without an adapter */
  model_openai *oa;        /* the OpenAI routes' shapes; NULL for /invocations */
  model_faults faults;     /* failures on purpose (faults.h) */
} job;

static void on_job_closed(uv_handle_t *h) {
  job *j = h->data;
  berth_buf_free(&j->text);
  berth_buf_free(&j->pending);
  free(j->oa);
  free(j);
}

static void job_end(job *j) {
  j->finished = 1;
  cfg.jobs--;
  uv_timer_stop(&j->timer);
  uv_close((uv_handle_t *)&j->timer, on_job_closed);
}

/* Wall-clock milliseconds: GET /stats's times compare with a client's. */
static uint64_t wall_ms(void) {
  uv_timeval64_t tv;
  if (uv_gettimeofday(&tv) != 0) return 0;
  return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void on_job_abort(berth_http_req *req) {
  job *j = req->user;
  j->req = NULL;
  if (j->finished) return;
  cfg.aborted++;
  cfg.last_abort_ms = wall_ms();
  job_end(j);
}

/* die_after_tokens: the connection goes without the rest of the answer. */
static void job_die(job *j) {
  berth_http_req *req = j->req;
  j->req = NULL;
  req->on_abort = NULL;
  req->on_drain = NULL;
  cfg.died++;
  berth_http_stream_abort(req);
  job_end(j);
}

static void respond_json(berth_http_req *req, int status, const berth_http_header *h, size_t n,
                         json_t *obj) {
  char *s = json_dumps(obj, JSON_COMPACT);
  berth_http_header hs[5];
  size_t k = 0;
  hs[k].name = "Content-Type";
  hs[k++].value = "application/json";
  for (size_t i = 0; i < n && k < 5; i++) hs[k++] = h[i];
  berth_http_respond(req, status, hs, k, s, s ? strlen(s) : 0);
  free(s);
  json_decref(obj);
}

static void respond_error(berth_http_req *req, int status, const char *msg) {
  respond_json(req, status, NULL, 0, json_pack("{s:s}", "error", msg));
}

static void job_step(job *j);

static void on_job_timer(uv_timer_t *t) {
  job_step(t->data);
}

static void on_job_drain(berth_http_req *req) {
  job *j = req->user;
  if (j->finished) return;
  int rc = berth_http_stream_write(req, j->pending.data, j->pending.len);
  if (rc == -ENOBUFS) return;
  berth_buf_reset(&j->pending);
  if (rc < 0) return; /* on_abort follows */
  job_step(j);
}

/* Produces the next token (all of them when there is no delay), then
 * answers or streams; re-arms the timer for the next token. */
static void job_step(job *j) {
  while (!j->finished && j->done_tokens < j->n_tokens) {
    if (j->pending.len) return; /* waiting for on_drain */
    if (j->done_tokens == j->faults.stall_after_tokens) return; /* until the client goes */
    if (j->done_tokens == j->faults.die_after_tokens) {
      job_die(j);
      return;
    }
    size_t w = (size_t)(next_rand(&j->rng) % N_WORDS);
    int id = (int)w;
    berth_buf_printf(&j->text, "%s ", words[w]);
    j->done_tokens++;
    if (j->stream) {
      int last = j->done_tokens == j->n_tokens;
      berth_buf ev;
      berth_buf_init(&ev, 0);
      if (j->oa) {
        char text[32];
        snprintf(text, sizeof text, "%s ", words[w]);
        model_openai_chunk(&ev, j->oa, text, j->done_tokens, last);
      } else {
        /* Words and ids need no JSON escaping. */
        berth_buf_printf(&ev, "data:{\"token\":{\"id\":%d,\"text\":\"%s \"},\"generated_text\":",
                         id, words[w]);
        if (last) berth_buf_printf(&ev, "\"%s\"}\n\n", j->text.data);
        else berth_buf_appends(&ev, "null}\n\n");
      }
      int rc = berth_http_stream_write(j->req, ev.data, ev.len);
      if (rc == -ENOBUFS) {
        berth_buf_append(&j->pending, ev.data, ev.len);
        berth_buf_free(&ev);
        return;
      }
      berth_buf_free(&ev);
      if (rc < 0) return; /* connection gone: on_abort ends the job */
    }
    if (j->faults.token_delay_ms && j->done_tokens < j->n_tokens) {
      uv_timer_start(&j->timer, on_job_timer, (uint64_t)j->faults.token_delay_ms, 0);
      return;
    }
  }
  if (j->finished || j->done_tokens < j->n_tokens) return;
  berth_http_req *req = j->req;
  j->req = NULL;
  req->on_abort = NULL;
  req->on_drain = NULL;
  if (j->stream) {
    berth_http_stream_end(req);
  } else {
    json_t *out = j->oa ? model_openai_answer(j->oa, j->text.data ? j->text.data : "",
                                              j->done_tokens, cfg.copy_id)
                        : json_pack("{s:s, s:s, s:s}", "generated_text",
                                    j->text.data ? j->text.data : "", "model_id", j->model_id,
                                    "copy_id", cfg.copy_id);
    if (j->adapter_via) json_object_set_new(out, "adapter_loaded_by", json_string(j->adapter_via));
    if (j->session.id[0]) {
      json_object_set_new(out, "session_id", json_string(j->session.id));
      json_object_set_new(out, "session_turn", json_integer(j->session.turn));
    }
    respond_json(req, 200, j->hdrs, j->n_hdrs, out);
  }
  job_end(j);
}

/* ---- adapters (LoRA) ---- */

static adapter *find_adapter(const char *name) {
  for (int i = 0; i < cfg.n_adapters; i++)
    if (!strcmp(cfg.adapters[i].name, name)) return &cfg.adapters[i];
  return NULL;
}

static int adapter_name_ok(const char *s) {
  size_t n = strlen(s);
  return n >= 1 && n <= ADAPTER_NAME_MAX &&
         !s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")];
}

/* Loads (or reloads) adapter name from dir. Its berth-adapter.txt's first
 * line is its tag; a tag "fail: WHY" refuses the load with WHY (for
 * tests). Answers the request. */
static void load_adapter(berth_http_req *req, const char *name, const char *dir,
                         const char *via) {
  if (!name || !adapter_name_ok(name)) {
    respond_error(req, 400, "the adapter's name must be 1 to 63 of [A-Za-z0-9-_.]");
    return;
  }
  if (!dir || dir[0] != '/') {
    respond_error(req, 400, "the adapter's directory (src, path or lora_path) must be an "
                            "absolute path");
    return;
  }
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/berth-adapter.txt", dir) >= (int)sizeof path) {
    respond_error(req, 400, "the adapter's directory path is too long");
    return;
  }
  char tag[128] = "";
  FILE *f = fopen(path, "r");
  if (!f && errno != ENOENT) {
    char msg[PATH_MAX + 64];
    snprintf(msg, sizeof msg, "cannot read %s: %s", path, strerror(errno));
    respond_error(req, 400, msg);
    return;
  }
  if (f) {
    if (!fgets(tag, sizeof tag, f)) tag[0] = '\0';
    fclose(f);
    tag[strcspn(tag, "\r\n")] = '\0';
  } else if (access(dir, R_OK | X_OK) != 0) {
    char msg[PATH_MAX + 64];
    snprintf(msg, sizeof msg, "adapter directory %s: %s", dir, strerror(errno));
    respond_error(req, 400, msg);
    return;
  }
  if (!strncmp(tag, "fail:", 5)) {
    const char *why = tag + 5 + strspn(tag + 5, " ");
    respond_error(req, 422, why);
    return;
  }
  adapter *a = find_adapter(name);
  if (!a) {
    if (cfg.n_adapters >= MAX_ADAPTERS) {
      respond_error(req, 507, "this server holds 64 adapters already: unload one first");
      return;
    }
    a = &cfg.adapters[cfg.n_adapters++];
  }
  snprintf(a->name, sizeof a->name, "%s", name);
  snprintf(a->tag, sizeof a->tag, "%s", tag);
  a->via = via;
  fprintf(stderr, "berth-model %s: adapter %s loaded from %s (tag \"%s\")\n", cfg.model_id, name,
          dir, tag);
  respond_json(req, 200, NULL, 0, json_pack("{s:s,s:s}", "name", name, "tag", tag));
}

static void unload_adapter(berth_http_req *req, const char *name) {
  adapter *a = name ? find_adapter(name) : NULL;
  if (!a) {
    respond_error(req, 404, "no such adapter is loaded");
    return;
  }
  fprintf(stderr, "berth-model %s: adapter %s unloaded\n", cfg.model_id, a->name);
  *a = cfg.adapters[--cfg.n_adapters];
  respond_json(req, 200, NULL, 0, json_pack("{s:s}", "status", "unloaded"));
}

/* POST /adapters, DELETE /adapters/NAME, GET /adapters, and vLLM's
 * /v1/load_lora_adapter and /v1/unload_lora_adapter. Returns 0 when the
 * path is none of them. */
static int adapter_routes(berth_http_req *req) {
  int vllm_load = !strcmp(req->path, "/v1/load_lora_adapter");
  int vllm_unload = !strcmp(req->path, "/v1/unload_lora_adapter");
  if (!strncmp(req->path, "/adapters/", 10)) {
    if (strcmp(req->method, "DELETE"))
      respond_error(req, 405, "use DELETE for /adapters/NAME");
    else
      unload_adapter(req, req->path + 10);
    return 1;
  }
  if (strcmp(req->path, "/adapters") && !vllm_load && !vllm_unload) return 0;
  if (!strcmp(req->path, "/adapters") && !strcmp(req->method, "GET")) {
    json_t *list = json_array();
    for (int i = 0; i < cfg.n_adapters; i++)
      json_array_append_new(list, json_pack("{s:s,s:s}", "name", cfg.adapters[i].name, "tag",
                                            cfg.adapters[i].tag));
    respond_json(req, 200, NULL, 0, json_pack("{s:o}", "adapters", list));
    return 1;
  }
  if (strcmp(req->method, "POST")) {
    respond_error(req, 405, "use POST (or GET /adapters to list them)");
    return 1;
  }
  json_t *in = json_loadb(req->body, req->body_len, 0, NULL);
  if (!json_is_object(in)) {
    json_decref(in);
    respond_error(req, 400, "the body must be a JSON object");
    return 1;
  }
  if (vllm_unload) {
    unload_adapter(req, json_string_value(json_object_get(in, "lora_name")));
  } else if (vllm_load) {
    load_adapter(req, json_string_value(json_object_get(in, "lora_name")),
                 json_string_value(json_object_get(in, "lora_path")), "/v1/load_lora_adapter");
  } else {
    const char *dir = json_string_value(json_object_get(in, "src"));
    if (!dir) dir = json_string_value(json_object_get(in, "path"));
    load_adapter(req, json_string_value(json_object_get(in, "name")), dir, "/adapters");
  }
  json_decref(in);
  return 1;
}

static void start_job(berth_http_req *req, const char *seed, size_t seed_len, long n_tokens,
                      int stream, const adapter *ad, const model_session_result *sess,
                      model_openai *oa, const model_faults *faults);

static void invocations(berth_http_req *req) {
  if (strcmp(req->method, "POST")) {
    respond_error(req, 405, "use POST for /invocations");
    return;
  }
  if (cfg.fail_status) {
    respond_error(req, cfg.fail_status, "injected failure");
    return;
  }
  json_error_t jerr;
  json_t *in = json_loadb(req->body, req->body_len, 0, &jerr);
  if (!in || !json_is_object(in)) {
    char msg[300];
    snprintf(msg, sizeof msg, "request body is not a JSON object with an \"inputs\" field: %s",
             in ? "not an object" : jerr.text);
    json_decref(in);
    respond_error(req, 400, msg);
    return;
  }
  json_t *inputs = json_object_get(in, "inputs");
  if (!json_is_string(inputs)) {
    json_decref(in);
    respond_error(req, 400, inputs ? "field \"inputs\" must be a string"
                                   : "missing field \"inputs\" (a string)");
    return;
  }
  long n_tokens = DEFAULT_TOKENS;
  json_t *params = json_object_get(in, "parameters");
  json_t *mnt = json_is_object(params) ? json_object_get(params, "max_new_tokens") : NULL;
  if (mnt && !json_is_null(mnt)) {
    if (!json_is_integer(mnt)) {
      json_decref(in);
      respond_error(req, 400, "field \"parameters.max_new_tokens\" must be an integer");
      return;
    }
    json_int_t v = json_integer_value(mnt);
    n_tokens = v < 1 ? 1 : v > MAX_TOKENS ? MAX_TOKENS : (long)v;
  }
  /* SageMaker names the adapter an invocation is for in this header. */
  const char *aname = berth_http_req_header(req, "x-amzn-sagemaker-adapter-identifier");
  const adapter *ad = aname ? find_adapter(aname) : NULL;
  if (aname && !ad) {
    json_decref(in);
    char msg[200];
    snprintf(msg, sizeof msg, "adapter \"%.63s\" is not loaded (POST /adapters first)", aname);
    respond_error(req, 404, msg);
    return;
  }
  /* Sticky sessions (sessions.h): open, continue or close one. */
  model_session_result sess;
  char smsg[400];
  int sst = model_session_apply(berth_http_req_header(req, "x-amzn-sagemaker-session-id"),
                                json_is_true(json_object_get(in, "close_session")),
                                cfg.session_ttl_s, &sess, smsg, sizeof smsg);
  if (sst) {
    json_decref(in);
    respond_error(req, sst, smsg);
    return;
  }
  /* Failures on purpose, per request (faults.h). */
  model_faults faults;
  if (model_faults_for_request(&cfg.faults, params, &faults, smsg, sizeof smsg)) {
    json_decref(in);
    respond_error(req, 400, smsg);
    return;
  }
  start_job(req, json_string_value(inputs), json_string_length(inputs), n_tokens,
            json_is_true(json_object_get(in, "stream")), ad, &sess, NULL, &faults);
  json_decref(in);
}

/* Generates n_tokens for seed (with the model id and adapter ad) and
 * answers or streams them, in OpenAI's shapes when oa is set (taken),
 * failing as faults say (NULL: the copy's defaults; faults.h). */
static void start_job(berth_http_req *req, const char *seed, size_t seed_len, long n_tokens,
                      int stream, const adapter *ad, const model_session_result *sess,
                      model_openai *oa, const model_faults *faults) {
  job *j = berth_xcalloc(1, sizeof *j);
  j->faults = faults ? *faults : cfg.faults;
  cfg.jobs++;
  j->session = *sess;
  j->req = req;
  j->stream = stream;
  j->oa = oa;
  j->n_tokens = (int)n_tokens;
  /* An adapter's answers differ from the base's: its name and tag prefix
   * the model id, which seeds the generator. */
  if (ad && ad->tag[0])
    snprintf(j->model_id, sizeof j->model_id, "%s:%s:%s", ad->name, ad->tag, cfg.model_id);
  else if (ad)
    snprintf(j->model_id, sizeof j->model_id, "%s:%s", ad->name, cfg.model_id);
  else
    snprintf(j->model_id, sizeof j->model_id, "%s", cfg.model_id);
  j->adapter_via = ad ? ad->via : NULL;
  uint64_t h = fnv1a(1469598103934665603ULL, j->model_id, strlen(j->model_id) + 1);
  j->rng = fnv1a(h, seed, seed_len);
  berth_buf_init(&j->text, 0);
  berth_buf_init(&j->pending, 0);
  j->hdrs[j->n_hdrs].name = "X-Berth-Copy";
  j->hdrs[j->n_hdrs++].value = cfg.copy_id;
  const char *attrs = berth_http_req_header(req, "x-amzn-sagemaker-custom-attributes");
  if (attrs) {
    /* req's headers stay valid until the answer, so no copy is needed. */
    j->hdrs[j->n_hdrs].name = "X-Amzn-SageMaker-Custom-Attributes";
    j->hdrs[j->n_hdrs++].value = attrs;
  }
  if (j->session.header) {
    j->hdrs[j->n_hdrs].name = j->session.header;
    j->hdrs[j->n_hdrs++].value = j->session.value;
  }
  uv_timer_init(cfg.loop, &j->timer);
  j->timer.data = j;
  req->user = j;
  req->on_abort = on_job_abort;
  req->on_drain = on_job_drain;
  if (j->stream) {
    berth_http_header hs[5];
    size_t k = 0;
    hs[k].name = "Content-Type";
    hs[k++].value = "text/event-stream";
    for (size_t i = 0; i < j->n_hdrs; i++) hs[k++] = j->hdrs[i];
    if (berth_http_stream_begin(req, 200, hs, k) < 0) return; /* on_abort follows */
  }
  job_step(j);
}

/* POST /v1/chat/completions (chat) and /v1/completions: the generator of
 * /invocations answering in OpenAI's shapes (model_openai.h); adapters and
 * sessions as there. */
static void openai_completions(berth_http_req *req, int chat) {
  char why[400];
  if (strcmp(req->method, "POST")) {
    respond_json(req, 405, NULL, 0, model_openai_error(405, "use POST"));
    return;
  }
  if (cfg.fail_status) {
    respond_json(req, cfg.fail_status, NULL, 0,
                 model_openai_error(cfg.fail_status, "injected failure"));
    return;
  }
  json_error_t jerr;
  json_t *in = json_loadb(req->body, req->body_len, 0, &jerr);
  if (!json_is_object(in)) {
    snprintf(why, sizeof why, "the body is not a JSON object: %s",
             in ? "not an object" : jerr.text);
    json_decref(in);
    respond_json(req, 400, NULL, 0, model_openai_error(400, why));
    return;
  }
  model_openai *oa = berth_xcalloc(1, sizeof *oa);
  berth_buf seed;
  berth_buf_init(&seed, 0);
  long n_tokens = DEFAULT_TOKENS;
  int stream = 0, status = 0;
  const char *aname = berth_http_req_header(req, "x-amzn-sagemaker-adapter-identifier");
  const adapter *ad = aname ? find_adapter(aname) : NULL;
  model_session_result sess;
  if (model_openai_parse(in, chat, MAX_TOKENS, oa, &seed, &n_tokens, &stream, why, sizeof why)) {
    status = 400;
  } else if (aname && !ad) {
    status = 404;
    snprintf(why, sizeof why, "adapter \"%.63s\" is not loaded (POST /adapters first)", aname);
  } else {
    status = model_session_apply(berth_http_req_header(req, "x-amzn-sagemaker-session-id"),
                                 json_is_true(json_object_get(in, "close_session")),
                                 cfg.session_ttl_s, &sess, why, sizeof why);
  }
  if (status) {
    respond_json(req, status, NULL, 0, model_openai_error(status, why));
    free(oa);
  } else {
    start_job(req, seed.data ? seed.data : "", seed.len, n_tokens, stream, ad, &sess, oa, NULL);
  }
  berth_buf_free(&seed);
  json_decref(in);
}

static void handler(berth_http_req *req, void *ud) {
  (void)ud;
  if (!strcmp(req->path, "/ping")) {
    if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) {
      respond_error(req, 405, "use GET for /ping");
    } else if (uv_now(cfg.loop) < cfg.ready_at) {
      respond_json(req, 503, NULL, 0, json_pack("{s:s}", "status", "starting"));
    } else {
      respond_json(req, 200, NULL, 0, json_pack("{s:s}", "status", "healthy"));
    }
    return;
  }
  if (cfg.sleep_api && model_sleep_route(req)) return;
  if (model_sleep_refusing() &&
      (!strcmp(req->path, "/invocations") || !strncmp(req->path, "/v1/", 4))) {
    /* vLLM refuses work while its weights are off the device. */
    respond_error(req, 503, "the model is asleep: POST /wake_up first");
    return;
  }
  if (!strcmp(req->path, "/invocations")) {
    invocations(req);
    return;
  }
  if (!strcmp(req->path, "/stats") && !strcmp(req->method, "GET")) {
    /* What a test needs to see that a router let go of a request. */
    respond_json(req, 200, NULL, 0,
                 json_pack("{s:I,s:I,s:I,s:I}", "inflight", (json_int_t)cfg.jobs, "aborted",
                           (json_int_t)cfg.aborted, "died", (json_int_t)cfg.died,
                           "last_abort_ms", (json_int_t)cfg.last_abort_ms));
    return;
  }
  if (!strcmp(req->path, "/v1/chat/completions") || !strcmp(req->path, "/v1/completions")) {
    openai_completions(req, !strcmp(req->path, "/v1/chat/completions"));
    return;
  }
  if (adapter_routes(req)) return;
  char msg[256];
  snprintf(msg, sizeof msg, "no such path: %.200s (try /ping or /invocations)", req->path);
  respond_error(req, 404, msg);
}

/* Errors the server raises itself (400, 408, 413, 431...) in our format. */
static void format_error(int status, const char *message, void *body_buf, const char **ctype,
                         const char **etype, void *ud) {
  (void)status;
  (void)etype;
  (void)ud;
  json_t *o = json_pack("{s:s}", "error", message);
  char *s = json_dumps(o, JSON_COMPACT);
  berth_buf_appends(body_buf, s ? s : "{}");
  free(s);
  json_decref(o);
  *ctype = "application/json";
}

/* ---- startup and shutdown ---- */

static void on_ready(uv_timer_t *t) {
  (void)t;
  fprintf(stderr, "berth-model %s ready\n", cfg.model_id);
}

static void on_server_closed(void *ud) {
  (void)ud;
  cfg.server = NULL;
  uv_close((uv_handle_t *)&cfg.sigterm, NULL);
  uv_close((uv_handle_t *)&cfg.sigint, NULL);
  uv_close((uv_handle_t *)&cfg.ready_timer, NULL);
  model_sleep_close();
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  if (cfg.stopping) return;
  cfg.stopping = 1;
  fprintf(stderr, "berth-model %s: signal %d, finishing %zu in-flight requests\n", cfg.model_id,
          signum, berth_http_server_inflight(cfg.server));
  berth_http_server_close(cfg.server, on_server_closed, NULL);
}

/* SM_MODEL_DIR/berth-model.json may carry {"model_id": "..."} so that an
 * artifact names the model it holds. */
static void model_id_from_artifact(void) {
  const char *dir = getenv("SM_MODEL_DIR");
  if (!dir || !*dir) return;
  fprintf(stderr, "berth-model: SM_MODEL_DIR=%s\n", dir);
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/berth-model.json", dir) >= (int)sizeof path) return;
  json_error_t err;
  json_t *o = json_load_file(path, 0, &err);
  if (!o) return;
  json_t *id = json_object_get(o, "model_id");
  if (json_is_string(id) && json_string_length(id) > 0) {
    snprintf(cfg.model_id, sizeof cfg.model_id, "%s", json_string_value(id));
    fprintf(stderr, "berth-model: model id \"%s\" from %s\n", cfg.model_id, path);
  } else {
    fprintf(stderr, "berth-model: %s has no string \"model_id\"; ignored\n", path);
  }
  json_decref(o);
}

int main(int argc, char **argv) {
  /* The agent says where a copy must be reachable (0.0.0.0 on instances
   * that are other hosts); --host still wins. */
  cfg.host = getenv("BERTH_BIND_HOST") && *getenv("BERTH_BIND_HOST") ? getenv("BERTH_BIND_HOST")
                                                                     : "127.0.0.1";
  const char *port_s = getenv("SAGEMAKER_BIND_TO_PORT");
  if (!port_s || !*port_s) port_s = getenv("BERTH_PORT");
  /* SageMaker starts a container's server as `IMAGE serve`. */
  int first = argc > 1 && !strcmp(argv[1], "serve") ? 2 : 1;
  for (int i = first; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) {
      port_s = argv[++i];
    } else if (!strncmp(argv[i], "--port=", 7)) {
      port_s = argv[i] + 7;
    } else if (!strcmp(argv[i], "--host") && i + 1 < argc) {
      cfg.host = argv[++i];
    } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "berth-model: unknown argument \"%s\"\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }

  const char *exit_s = getenv("BERTH_MODEL_EXIT_AT_START");
  if (exit_s && *exit_s) {
    long code;
    if (parse_int(exit_s, 0, 255, &code) == 0) {
      fprintf(stderr, "berth-model: exiting with status %ld as asked by BERTH_MODEL_EXIT_AT_START\n", code);
      return (int)code;
    }
    fprintf(stderr, "berth-model: BERTH_MODEL_EXIT_AT_START=\"%s\" is not an integer in [0, 255]; ignored\n",
            exit_s);
  }

  long port;
  if (!port_s || !*port_s) {
    fprintf(stderr, "berth-model: no port: set SAGEMAKER_BIND_TO_PORT or BERTH_PORT, or pass --port N\n");
    return 2;
  }
  if (parse_int(port_s, 1, 65535, &port) < 0) {
    fprintf(stderr, "berth-model: port \"%s\" is not an integer in [1, 65535]\n", port_s);
    return 2;
  }
  cfg.port = (int)port;

  snprintf(cfg.model_id, sizeof cfg.model_id, "berth-model");
  model_id_from_artifact();
  const char *id = getenv("BERTH_MODEL_ID");
  if (id && *id) snprintf(cfg.model_id, sizeof cfg.model_id, "%s", id);
  /* The devices the agent assigned, so operators (and tests) can see them. */
  static const char *const device_vars[] = {"CUDA_VISIBLE_DEVICES", "NEURON_RT_VISIBLE_CORES",
                                            "BERTH_ACCELERATOR_SHARE",
                                            "BERTH_ACCELERATOR_MEMORY_MB"};
  for (size_t i = 0; i < sizeof device_vars / sizeof device_vars[0]; i++)
    if (getenv(device_vars[i])) fprintf(stderr, "berth-model: %s=%s\n", device_vars[i],
                                        getenv(device_vars[i]));
  cfg.copy_id = getenv("BERTH_COPY_ID");
  if (!cfg.copy_id) cfg.copy_id = "";
  char why[200];
  if (model_faults_from_env(&cfg.faults, why, sizeof why)) {
    fprintf(stderr, "berth-model: %s\n", why);
    return 2;
  }
  cfg.startup_delay_ms = (uint64_t)env_int("BERTH_MODEL_STARTUP_DELAY_MS", 0, 3600000, 0);
  cfg.fail_status = (int)env_int("BERTH_MODEL_FAIL_STATUS", 0, 599, 0);
  cfg.session_ttl_s = env_int("BERTH_MODEL_SESSION_TTL_S", 1, 86400, 1200);
  uint64_t wake_delay_ms = (uint64_t)env_int("BERTH_MODEL_WAKE_DELAY_MS", 0, 600000, 500);
  cfg.sleep_api = (int)env_int("BERTH_MODEL_SLEEP_API", 0, 1, 1);
  if (cfg.fail_status && cfg.fail_status < 200) {
    fprintf(stderr, "berth-model: BERTH_MODEL_FAIL_STATUS=%d must be a final status (200-599)\n",
            cfg.fail_status);
    return 2;
  }
  long mem_mb = env_int("BERTH_MODEL_MEMORY_MB", 0, 1 << 20, 0);
  if (mem_mb > 0) {
    size_t n = (size_t)mem_mb << 20;
    cfg.memory = malloc(n);
    if (!cfg.memory) {
      fprintf(stderr, "berth-model: cannot allocate BERTH_MODEL_MEMORY_MB=%ld MiB\n", mem_mb);
      return 1;
    }
    /* Touch every page so the memory is resident, as model weights are. */
    memset(cfg.memory, 0xa5, n);
  }

  /* A peer that goes away must be an EPIPE from write, not a signal. */
  signal(SIGPIPE, SIG_IGN);
  cfg.loop = uv_default_loop();
  berth_http_server_config sc = {0};
  sc.handler = handler;
  sc.format_error = format_error;
  int rc = berth_http_server_listen(cfg.loop, cfg.host, cfg.port, &sc, &cfg.server);
  if (rc < 0) {
    fprintf(stderr, "berth-model: cannot listen on %s:%d: %s\n", cfg.host, cfg.port,
            rc == -EINVAL ? "invalid address" : uv_strerror(rc));
    free(cfg.memory);
    return 1;
  }
  cfg.ready_at = uv_now(cfg.loop) + cfg.startup_delay_ms;
  model_sleep_init(cfg.loop, wake_delay_ms);
  uv_signal_init(cfg.loop, &cfg.sigterm);
  uv_signal_init(cfg.loop, &cfg.sigint);
  uv_signal_start(&cfg.sigterm, on_signal, SIGTERM);
  uv_signal_start(&cfg.sigint, on_signal, SIGINT);
  uv_timer_init(cfg.loop, &cfg.ready_timer);
  if (cfg.startup_delay_ms) uv_timer_start(&cfg.ready_timer, on_ready, cfg.startup_delay_ms, 0);
  fprintf(stderr, "berth-model %s listening on port %d\n", cfg.model_id,
          berth_http_server_port(cfg.server));
  uv_run(cfg.loop, UV_RUN_DEFAULT);
  uv_loop_close(cfg.loop);
  free(cfg.memory);
  fprintf(stderr, "berth-model %s: stopped\n", cfg.model_id);
  return 0;
}

/* openai: see openai.h.
 *
 * DESIGN: this module only translates. It authenticates, finds the
 * endpoint and the inference component the request names, and hands the
 * request to router_invoke (passed in as send) with the model server's path; everything after
 * that (choice of copy, holding while a copy starts, the one safe retry,
 * chunked pass-through of server-sent events with backpressure, metrics)
 * is router.c's, so the two APIs cannot drift apart. The body is never
 * rewritten: SageMaker forwards it as is, and the model field stays what
 * the client sent. */
#include "openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"

static const char endpoints_prefix[] = "/endpoints/";

/* The endpoint name's end in path (the '/' before "openai"), or NULL. */
static const char *name_end(const char *path) {
  if (strncmp(path, endpoints_prefix, sizeof endpoints_prefix - 1) != 0) return NULL;
  const char *start = path + sizeof endpoints_prefix - 1;
  const char *slash = strchr(start, '/');
  if (!slash || slash == start || strncmp(slash, "/openai", 7) != 0) return NULL;
  if (slash[7] != '\0' && slash[7] != '/') return NULL;
  return slash;
}

int openai_route(const char *path) { return name_end(path) != NULL; }

/* OpenAI's error classes by status (the SDKs' error types follow them). */
static const char *error_class(int status) {
  switch (status) {
  case 401: return "authentication_error";
  case 403: return "permission_error";
  case 404: return "not_found_error";
  case 429: return "rate_limit_error";
  default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

static void request_id(char out[32]) {
  static uint64_t n;
  snprintf(out, 32, "req_%016llx", (unsigned long long)(uv_hrtime() ^ (++n << 48)));
}

/* {"error":{"message","type","param","code"}} with status. */
static void reply(berth_http_req *req, int status, const char *code, const char *param,
                  const char *message) {
  json_t *body = json_pack("{s:{s:s,s:s,s:o,s:s?}}", "error", "message", message, "type",
                           error_class(status), "param", param ? json_string(param) : json_null(),
                           "code", code);
  char *text = json_dumps(body, JSON_COMPACT);
  char id[32];
  request_id(id);
  berth_http_header h[3] = {{"content-type", "application/json"}, {"x-request-id", id},
                            {"www-authenticate", "Bearer realm=\"berth\""}};
  berth_http_respond(req, status, h, status == 401 ? 3 : 2, text, strlen(text));
  free(text);
  json_decref(body);
}

static void reply_fmt(berth_http_req *req, int status, const char *code, const char *param,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void reply_fmt(berth_http_req *req, int status, const char *code, const char *param,
                      const char *fmt, ...) {
  char msg[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  reply(req, status, code, param, msg);
}

void openai_reply_error(berth_http_req *req, int status, const char *type, json_t *extra,
                        const char *message) {
  if (strcmp(type, "ModelError") == 0) {
    /* The model's own status when it answered one; a model that failed
     * before answering (or timed out) is a bad gateway. */
    int orig = (int)json_integer_value(json_object_get(extra, "OriginalStatusCode"));
    const char *text = json_string_value(json_object_get(extra, "OriginalMessage"));
    status = orig >= 400 && orig <= 599 ? orig : 502;
    json_t *own = text && orig >= 400 ? json_loads(text, 0, NULL) : NULL;
    if (json_is_object(json_object_get(own, "error"))) {
      /* An OpenAI-compatible server's own error: what the client's SDK
       * understands best, passed on as sent. */
      char id[32];
      request_id(id);
      berth_http_header h[2] = {{"content-type", "application/json"}, {"x-request-id", id}};
      berth_http_respond(req, status, h, 2, text, strlen(text));
      json_decref(own);
      json_decref(extra);
      return;
    }
    json_decref(own);
  }
  reply(req, status, type, NULL, message);
  json_decref(extra);
}

/* Who sends req: a bearer token or a SigV4 signature. 0, or -1 answered. */
static int authenticate(ctl *c, berth_http_req *req, const auth_key **who) {
  api_error e = {0};
  const char *authz = berth_http_req_header(req, "authorization");
  if (!authz && !c->auth_off) {
    reply(req, 401, "MissingAuthenticationToken", NULL,
          "Missing bearer token: send Authorization: Bearer <token> (`berth token` or "
          "Berth.CreateToken mints one) or sign the request with AWS Signature Version 4");
    return -1;
  }
  if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
    const char *token = authz + 7;
    while (*token == ' ') token++;
    if (auth_verify_bearer(c, token, who, &e) == 0) return 0;
  } else if (auth_verify(c, req, "sagemaker", 0, who, &e) == 0) {
    return 0;
  }
  reply(req, 401, e.type, NULL, e.message);
  return -1;
}

static void list_models(ctl *c, berth_http_req *req, const endpoint *ep, const char *only) {
  json_t *data = json_array();
  for (ic *x = c->ics; x; x = x->next) {
    if (strcmp(x->endpoint, ep->name) != 0 || x->deleting) continue;
    if (only && strcmp(x->name, only) != 0) continue;
    json_array_append_new(data, json_pack("{s:s,s:s,s:I,s:s}", "id", x->name, "object", "model",
                                          "created", (json_int_t)x->created, "owned_by",
                                          "berth"));
  }
  json_t *body;
  if (only) {
    if (!json_array_size(data)) {
      json_decref(data);
      reply_fmt(req, 404, "model_not_found", "model", "The model '%s' does not exist on "
                "endpoint %s: models are its inference components (GET "
                "/endpoints/%s/openai/v1/models lists them)", only, ep->name, ep->name);
      return;
    }
    body = json_incref(json_array_get(data, 0));
    json_decref(data);
  } else {
    body = json_pack("{s:s,s:o}", "object", "list", "data", data);
  }
  char *text = json_dumps(body, JSON_COMPACT);
  berth_http_header h[1] = {{"content-type", "application/json"}};
  berth_http_respond(req, 200, h, 1, text, strlen(text));
  free(text);
  json_decref(body);
}

/* POST .../chat/completions or .../completions: find the IC and send. */
static void complete(ctl *c, berth_http_req *req, endpoint *ep, int chat, openai_send_fn send) {
  json_error_t jerr;
  json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
  if (!json_is_object(body)) {
    json_decref(body);
    reply_fmt(req, 400, "invalid_json", NULL, "We could not parse the JSON body of your "
              "request: it must be a JSON object (%s at line %d column %d)",
              body ? "not an object" : jerr.text, jerr.line, jerr.column);
    return;
  }
  /* The header wins over the body's model: it is how a gateway pins a
   * request to an inference component, while the body stays the client's. */
  const char *icname = berth_http_req_header(req, "x-amzn-sagemaker-inference-component");
  json_t *model = json_object_get(body, "model");
  if (!icname && model && !json_is_string(model)) {
    json_decref(body);
    reply(req, 400, "invalid_type", "model", "Invalid type for 'model': expected a string "
          "naming one of the endpoint's inference components");
    return;
  }
  if (!icname) icname = json_string_value(model);
  if (!icname || !*icname) {
    json_decref(body);
    reply_fmt(req, 400, "missing_required_parameter", "model", "You must provide a model "
              "parameter: the name of one of endpoint %s's inference components (or send "
              "X-Amzn-SageMaker-Inference-Component)", ep->name);
    return;
  }
  int stream = json_is_true(json_object_get(body, "stream"));
  ic *x = ctl_find_ic(c, icname);
  if (!x || strcmp(x->endpoint, ep->name) != 0 || x->deleting) {
    reply_fmt(req, 404, "model_not_found", "model", "The model '%.200s' does not exist on "
              "endpoint %s: models are its inference components (GET "
              "/endpoints/%s/openai/v1/models lists them)", icname, ep->name, ep->name);
    json_decref(body);
    return;
  }
  json_decref(body);
  send(c, req, ep, x, chat ? "/v1/chat/completions" : "/v1/completions", stream);
}

void openai_on_request(ctl *c, berth_http_req *req, openai_send_fn send) {
  const char *end = name_end(req->path);
  char name[256];
  const char *start = req->path + sizeof endpoints_prefix - 1;
  if (berth_http_pct_decode(start, (size_t)(end - start), name, sizeof name) < 0) {
    reply_fmt(req, 404, "unknown_url", NULL, "Invalid URL (%s %.200s): the endpoint name is "
              "not a valid one", req->method, req->path);
    return;
  }
  const char *rest = end + 7; /* past "/openai" */
  int post = strcmp(req->method, "POST") == 0;
  int get = strcmp(req->method, "GET") == 0;
  enum { CHAT, COMPLETIONS, MODELS, MODEL } op;
  char model[256] = "";
  if (strcmp(rest, "/v1/chat/completions") == 0 && post)
    op = CHAT;
  else if (strcmp(rest, "/v1/completions") == 0 && post)
    op = COMPLETIONS;
  else if (strcmp(rest, "/v1/models") == 0 && get)
    op = MODELS;
  else if (strncmp(rest, "/v1/models/", 11) == 0 && get && rest[11] && !strchr(rest + 11, '/') &&
           berth_http_pct_decode(rest + 11, strlen(rest + 11), model, sizeof model) >= 0)
    op = MODEL;
  else {
    reply_fmt(req, 404, "unknown_url", NULL, "Invalid URL (%s %.200s): this endpoint's "
              "OpenAI-compatible API serves POST .../openai/v1/chat/completions, POST "
              ".../openai/v1/completions and GET .../openai/v1/models", req->method, req->path);
    return;
  }
  /* Who asks, and may they, before anything about the endpoint is told. */
  const auth_key *who;
  if (authenticate(c, req, &who)) return;
  char arn[400];
  api_error e = {0};
  ctl_arn(c, "endpoint", name, arn, sizeof arn);
  if (auth_permit(c, who, "sagemaker:InvokeEndpoint", arn, 0, &e)) {
    reply(req, 403, e.type, NULL, e.message);
    return;
  }
  endpoint *ep = ctl_find_endpoint(c, name);
  if (!ep || ep->status == ENDPOINT_DELETING) {
    reply_fmt(req, 404, "endpoint_not_found", NULL, "Endpoint %s of account %s not found.",
              name, c->account);
    return;
  }
  if (op == MODELS || op == MODEL)
    list_models(c, req, ep, op == MODEL ? model : NULL);
  else
    complete(c, req, ep, op == CHAT, send);
}

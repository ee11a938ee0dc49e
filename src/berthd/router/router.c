/* router: SageMaker Runtime InvokeEndpoint over the copies of an IC.
 *
 * DESIGN: the request body is already in memory (bounded at 6 MiB by the
 * server) and is lent to the call, not copied. A success (2xx, known from
 * the status line before any body byte) is passed on as it comes, with its
 * Content-Length or chunked as the model sent it, with backpressure (the
 * model's connection stops being read while the client's output is full),
 * so an answer of any size costs the router its output bound, not its
 * size; only an error answer is buffered (bounded at 6 MiB) to become
 * SageMaker's ModelError. A request is sent again, once and to another copy, only
 * when it provably never reached a model (connection refused, or reset
 * before it was written whole or before any answer byte): a model that
 * read it may have acted on it (router_failure.h).
 *
 * Lifetimes: an invocation holds its IC (ic_hold) and its copy (inflight)
 * until it is freed, so deleting either meanwhile never frees memory a
 * completion still reads. */
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access_log.h"
#include "agent.h"
#include "auth.h"
#include "shared_count.h"
#include "ic.h"
#include "metrics.h"
#include "openai.h"
#include "router_failure.h"
#include "router_pick.h"
#include "sessions.h"
#include "berth/eventstream.h"
#include "berth/wake.h"

struct invocation {
  ctl *c;
  berth_http_req *req;          /* NULL once the client is gone */
  ic *x;
  copy *cp;
  berth_http_call *call;
  berth_route_strategy routing; /* its variant's RoutingConfig */
  berth_prefix_config prefix;   /* and its PrefixAwareRoutingConfig */
  char variant_name[NAME_MAX_LEN + 1]; /* copied: the endpoint may go first */
  int status;
  int got_bytes;
  int tries;
  int64_t tried_copy;           /* the copy of the first try (for a retry elsewhere) */
  int client_failed;            /* the client's side broke (gone, or too slow) */
  int paused;                   /* the model is paused for the client's output */
  int stream;                   /* InvokeEndpointWithResponseStream */
  int streaming;                /* the answer is passed on as it comes */
  int64_t head_waits;           /* >= 0: a success of that length whose head
                                   goes out with its first body bytes */
  uint64_t body_bytes;          /* the model's answer body so far (access log) */
  const char *target;           /* the model server's path (static storage) */
  router_session_call session;  /* its sticky session, if any (sessions.h) */
  berth_buf body;
  char content_type[128];
  char custom_attributes[1100];
  char request_id[64];
  invocation *wait_next;        /* in its IC's wait queue */
  uint64_t wait_start_ms;       /* when it started waiting (0: not waiting) */
  uint64_t kept_ms;             /* when a ready copy first left it for one still
                                   starting (lib/wake.c; 0: never) */
  uint64_t sent_ns;             /* when it went to the copy */
  uint64_t first_sent_ms;       /* loop time of the first try: the deadline runs from it */
  uint64_t deadline_ms;         /* the whole answer within this of first_sent_ms */
  uint64_t arrived_ns;
};

static uint64_t next_random(ctl *c) {
  /* splitmix64 over a counter: cheap and good enough to spread load. */
  uint64_t z = (c->random_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}


/* "%016llx-%08llx" of a random number and the arrival time, written out:
 * snprintf is a measurable share of a request's CPU. */
static void request_id(uint64_t rnd, uint64_t start_ms, char out[26]) {
  static const char hex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; i--, rnd >>= 4) out[i] = hex[rnd & 15];
  out[16] = '-';
  for (int i = 24; i >= 17; i--, start_ms >>= 4) out[i] = hex[start_ms & 15];
  out[25] = '\0';
}

/* request_id: the id the invocation was given (its answer would have
 * carried it); NULL for errors before there is one: a new id. */
static void reply_error_v(berth_http_req *req, ctl *c, const char *request_id, int status,
                          const char *type, json_t *extra, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));

static void reply_error_v(berth_http_req *req, ctl *c, const char *request_id, int status,
                          const char *type, json_t *extra, const char *fmt, va_list ap) {
  char msg[1200];
  vsnprintf(msg, sizeof msg, fmt, ap);
  /* OpenAI-compatible routes answer in OpenAI's error shape (openai.h). */
  if (openai_route(req->path)) {
    openai_reply_error(req, status, type, extra, msg);
    return;
  }
  json_t *body = extra ? extra : json_object();
  json_object_set_new(body, "message", json_string(msg));
  char *text = json_dumps(body, JSON_COMPACT);
  char reqid[64];
  if (request_id)
    snprintf(reqid, sizeof reqid, "%s", request_id);
  else
    snprintf(reqid, sizeof reqid, "%016llx", (unsigned long long)next_random(c));
  berth_http_header h[] = {{"content-type", "application/json"},
                           {"x-amzn-errortype", type},
                           {"x-amzn-requestid", reqid}};
  berth_http_respond(req, status, h, 3, text, strlen(text));
  free(text);
  json_decref(body);
}

static void reply_error(berth_http_req *req, ctl *c, int status, const char *type, json_t *extra,
                        const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void reply_error(berth_http_req *req, ctl *c, int status, const char *type, json_t *extra,
                        const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  reply_error_v(req, c, NULL, status, type, extra, fmt, ap);
  va_end(ap);
}

/* The error answer of invocation inv, with its own request id. */
static void reply_failed(const invocation *inv, berth_http_req *req, int status, const char *type,
                         json_t *extra, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void reply_failed(const invocation *inv, berth_http_req *req, int status, const char *type,
                         json_t *extra, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  reply_error_v(req, inv->c, inv->request_id, status, type, extra, fmt, ap);
  va_end(ap);
}

void router_format_error(int status, const char *message, void *body, const char **content_type,
                         const char **error_type, void *ud) {
  (void)ud;
  json_t *j = json_pack("{s:s}", "message", message);
  char *text = json_dumps(j, JSON_COMPACT);
  berth_buf_appends(body, text);
  free(text);
  json_decref(j);
  *content_type = "application/json";
  *error_type = status == 503 ? "ServiceUnavailable" : status >= 500 ? "InternalFailure"
              : "ValidationError";
}

/* A request at cp counts until its answer's last byte, on this thread's
 * mirror (keeping cp's memory) and on all threads' (shared_count.h). */
static void copy_taken(copy *cp) {
  cp->inflight++;
  if (cp->load) shared_count_add(cp->load, 1);
}

static void copy_given(ctl *c, copy *cp) {
  if (cp->load) shared_count_add(cp->load, -1);
  agent_request_done(c, cp); /* cp may be gone after this */
}

static void invocation_free(invocation *inv) {
  berth_buf_free(&inv->body);
  ic_drop(inv->x);
  free(inv);
}

static void unlink_waiting(invocation *inv) {
  ic *x = inv->x;
  invocation *prev = NULL;
  for (invocation *w = x->wait_head; w; prev = w, w = w->wait_next) {
    if (w != inv) continue;
    if (prev)
      prev->wait_next = w->wait_next;
    else
      x->wait_head = w->wait_next;
    if (x->wait_tail == w) x->wait_tail = prev;
    x->n_waiting--;
    if (x->held) shared_count_add(x->held, -1);
    break;
  }
  inv->wait_next = NULL;
  inv->wait_start_ms = 0;
  inv->kept_ms = 0;
}

static void on_client_gone(berth_http_req *req) {
  invocation *inv = req->user;
  inv->req = NULL;
  if (inv->wait_start_ms) {
    unlink_waiting(inv);
    invocation_free(inv);
    return;
  }
  if (inv->call) berth_http_call_cancel(inv->call);
}

/* The headers of a successful answer (out has room for 7). */
static size_t answer_headers(const invocation *inv, berth_http_header *out) {
  size_t k = 0;
  const char *ct = inv->content_type[0] ? inv->content_type : "application/octet-stream";
  if (inv->stream) {
    out[k++] = (berth_http_header){"content-type", "application/vnd.amazon.eventstream"};
    out[k++] = (berth_http_header){"x-amzn-sagemaker-content-type", ct};
  } else {
    out[k++] = (berth_http_header){"content-type", ct};
  }
  out[k++] = (berth_http_header){"x-amzn-invoked-production-variant", inv->variant_name};
  out[k++] = (berth_http_header){"x-amzn-requestid", inv->request_id};
  if (inv->custom_attributes[0])
    out[k++] = (berth_http_header){"x-amzn-sagemaker-custom-attributes", inv->custom_attributes};
  k += router_session_headers(&inv->session, out + k);
  return k;
}

static void on_model_head(berth_http_call *call, int status, const berth_http_header *h, size_t n,
                          void *ud) {
  (void)call;
  invocation *inv = ud;
  inv->status = status;
  inv->got_bytes = 1;
  int chunked = 0;
  long long length = -1;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(h[i].name, "content-type") == 0)
      snprintf(inv->content_type, sizeof inv->content_type, "%s", h[i].value);
    else if (strcmp(h[i].name, "x-amzn-sagemaker-custom-attributes") == 0 &&
             strlen(h[i].value) <= ROUTER_MAX_CUSTOM_ATTRIBUTES)
      /* SageMaker's limit holds both ways: a longer answer is dropped
       * rather than passed on cut. */
      snprintf(inv->custom_attributes, sizeof inv->custom_attributes, "%s", h[i].value);
    else if (strcmp(h[i].name, "transfer-encoding") == 0)
      chunked = 1;
    else if (strcmp(h[i].name, "content-length") == 0)
      length = strtoll(h[i].value, NULL, 10);
  }
  /* Sticky sessions: a session the model opened or closed (sessions.h). */
  if (inv->cp) router_session_answer(inv->c, inv->x, inv->cp->id, &inv->session, status, h, n);
  /* A success is passed on as it comes, never held whole (only an error
   * is buffered, to become ModelError): a streaming route as events, a
   * chunked answer chunked, one of known length with that length. A slow
   * client slows the model (stream_out), so memory stays bounded. */
  if (inv->req && status >= 200 && status <= 299 && !inv->stream && !chunked && length >= 0) {
    /* Its head waits for the body's first bytes (usually in the same read
     * from the model): one write to the client instead of two. */
    inv->head_waits = length;
    inv->streaming = 1;
  } else if (inv->req && status >= 200 && status <= 299) {
    berth_http_header out[7];
    size_t k = answer_headers(inv, out);
    int rc = inv->stream || chunked || length < 0
                 ? berth_http_stream_begin(inv->req, 200, out, k)
                 : berth_http_stream_begin_sized(inv->req, 200, out, k, (uint64_t)length);
    if (rc == 0) inv->streaming = 1;
  }
}

/* The client's output drained below half: read the model again. */
static void on_client_drain(berth_http_req *req) {
  invocation *inv = req->user;
  if (inv && inv->call) berth_http_call_resume(inv->call);
  if (inv) inv->paused = 0;
}

/* Passes streamed bytes to the client. Past the client's buffer the bytes
 * in hand are queued anyway and the model is paused until they drain, so a
 * slow client slows its model instead of growing memory or failing. */
/* The head of a sized success with data, the start of its body. */
static int head_out(invocation *inv, const char *data, size_t len) {
  berth_http_header out[7];
  size_t k = answer_headers(inv, out);
  uint64_t length = (uint64_t)inv->head_waits;
  inv->head_waits = -1;
  return berth_http_stream_begin_sized_with(inv->req, 200, out, k, length, data, len);
}

static void stream_out(invocation *inv, const char *data, size_t len) {
  int rc = !inv->req ? -EPIPE
         : inv->head_waits >= 0 ? head_out(inv, data, len)
         : berth_http_stream_write(inv->req, data, len);
  if (rc == -ENOBUFS) {
    rc = berth_http_stream_push(inv->req, data, len);
    if (rc == 0) {
      inv->req->on_drain = on_client_drain;
      berth_http_call_pause(inv->call);
      inv->paused = 1;
    }
  }
  if (rc != 0) {
    inv->client_failed = 1;
    if (inv->call) berth_http_call_cancel(inv->call);
  }
}

static void on_model_body(berth_http_call *call, const char *data, size_t len, void *ud) {
  invocation *inv = ud;
  inv->body_bytes += len;
  if (inv->client_failed) return;
  if (inv->streaming && !inv->stream) {
    stream_out(inv, data, len);
    return;
  }
  if (inv->streaming) {
    berth_buf ev;
    berth_buf_init(&ev, 0);
    if (berth_es_payload_part(&ev, data, len) == 0) stream_out(inv, ev.data, ev.len);
    berth_buf_free(&ev);
    return;
  }
  if (berth_buf_append(&inv->body, data, len) != 0 && inv->call) {
    berth_http_call_cancel(call);
    inv->status = -413;
  }
}

static int forward(invocation *inv);

/* Appends s[0..len) to out as valid UTF-8 (JSON strings must be), each
 * invalid byte replaced by U+FFFD, so a model's binary error text still
 * reaches the client instead of an empty object. */
static void utf8_clean(berth_buf *out, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    unsigned char b = p[i];
    size_t n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3
             : (b & 0xF8) == 0xF0 ? 4 : 0;
    int ok = n > 0 && i + n <= len && !(n == 2 && b < 0xC2) && !(n == 4 && b > 0xF4);
    for (size_t k = 1; ok && k < n; k++) ok = (p[i + k] & 0xC0) == 0x80;
    /* No overlong 3- and 4-byte forms, no surrogates, nothing past U+10FFFF. */
    if (ok && n == 3)
      ok = !(b == 0xE0 && p[i + 1] < 0xA0) && !(b == 0xED && p[i + 1] >= 0xA0);
    if (ok && n == 4)
      ok = !(b == 0xF0 && p[i + 1] < 0x90) && !(b == 0xF4 && p[i + 1] >= 0x90);
    if (ok && b == 0) ok = 0; /* NUL ends C strings: replace it too */
    if (ok) {
      berth_buf_append(out, s + i, n);
      i += n;
    } else {
      berth_buf_append(out, "\xEF\xBF\xBD", 3);
      i++;
    }
  }
  berth_buf_append(out, "", 0);
}

/* Whether a timeout was the total deadline rather than the silence one. */
static int past_deadline(const invocation *inv, uint64_t now_ms) {
  return now_ms - inv->first_sent_ms + 50 >= inv->deadline_ms;
}

static void stream_failed(invocation *inv, berth_http_req *req, int err, uint64_t now_ms) {
  if (inv->client_failed || !inv->stream) {
    /* A plain chunked answer cut short, or a client that cannot take more:
     * close without the last chunk so the cut is visible. */
    berth_http_stream_abort(req);
    return;
  }
  char msg[256];
  int timeout = err == UV_ETIMEDOUT;
  if (timeout && past_deadline(inv, now_ms))
    snprintf(msg, sizeof msg, "the model did not finish its answer within %llu s (--stream-timeout)",
             (unsigned long long)(inv->deadline_ms / 1000));
  else if (timeout)
    snprintf(msg, sizeof msg, "the model stopped sending for %llu s",
             (unsigned long long)(router_silence_ms(inv->c) / 1000));
  else
    snprintf(msg, sizeof msg, "the model server closed the stream early (%s)", uv_strerror(err));
  berth_buf ev;
  berth_buf_init(&ev, 0);
  berth_es_exception(&ev, "ModelStreamError", msg,
                     timeout ? "ModelInvocationTimeExceeded" : "StreamBroken");
  /* Pushed past the output bound: the last event must not be lost to it. */
  if (berth_http_stream_push(req, ev.data, ev.len) == 0)
    berth_http_stream_end(req);
  else
    berth_http_stream_abort(req);
  berth_buf_free(&ev);
}

static void on_model_done(berth_http_call *call, int err, void *ud) {
  invocation *inv = ud;
  ctl *c = inv->c;
  int delivered = berth_http_call_delivered(call);
  inv->call = NULL;
  copy *cp = inv->cp;
  inv->cp = NULL;
  /* Retries and refusing copies: router_failure.h. */
  router_try where;
  router_try_note(&where, cp);
  router_copy_refused(cp, err, delivered);
  copy_given(c, cp); /* cp may be gone after this */
  /* The deadline passed while the model waited for the client to read: the
   * client was too slow, not the model. */
  if (err == UV_ETIMEDOUT && inv->paused) inv->client_failed = 1;
  berth_http_req *req = inv->req;
  if (!req) {
    invocation_free(inv);
    return;
  }
  if (router_may_retry(err, delivered) && !inv->streaming && inv->tries < 2 &&
      !c->shutting_down) {
    /* It never reached the model: another copy may take it. */
    if (forward(inv) == 0) {
      router_log_failure(inv->request_id, inv->x->name, &where, err, delivered, 1);
      return;
    }
  }
  if (err && err != UV_ECANCELED)
    router_log_failure(inv->request_id, inv->x->name, &where, err, delivered, 0);
  req->on_abort = NULL;
  req->on_drain = NULL;
  uint64_t done_ns = uv_hrtime();
  uint64_t now_ms = uv_now(c->loop);
  int answered = inv->client_failed ? 499 : err ? 424 : inv->status == -413 ? 424
               : (inv->status < 200 || inv->status > 299) ? 424 : 200;
  metrics_invocation(inv->x->metrics, answered, (double)(done_ns - inv->sent_ns) / 1e3,
                     (double)(inv->sent_ns - inv->arrived_ns) / 1e3);
  access_log_request(inv->x->endpoint, inv->x->name, where.copy_id, answered, inv->status,
                     (double)(done_ns - inv->sent_ns) / 1e6,
                     (double)(inv->sent_ns - inv->arrived_ns) / 1e6, req->body_len,
                     (long long)inv->body_bytes, inv->request_id);
  /* A success whose head never went out failed before any of it did: it
   * gets the error answer below rather than a cut one. */
  if (inv->head_waits >= 0 && (err || inv->client_failed)) inv->streaming = 0;
  if (inv->streaming) {
    if (err || inv->client_failed)
      stream_failed(inv, req, err, now_ms);
    else {
      if (inv->head_waits >= 0) head_out(inv, "", 0); /* an empty body */
      berth_http_stream_end(req);
    }
  } else if (inv->status == -413) {
    reply_failed(inv, req, 424, "ModelError", NULL,
                "Received a response from the model larger than the limit of %d bytes",
                ROUTER_MAX_BODY);
  } else if (err == UV_ETIMEDOUT) {
    char why[96];
    if (past_deadline(inv, now_ms))
      snprintf(why, sizeof why, "no complete answer within %llu s",
               (unsigned long long)(inv->deadline_ms / 1000));
    else
      snprintf(why, sizeof why, "no byte for %llu s",
               (unsigned long long)(router_silence_ms(c) / 1000));
    if (inv->stream)
      /* The streaming route's own error for a model out of time, as the
       * stream's last event would name it had the stream begun. */
      reply_failed(inv, req, 424, "ModelStreamError",
                   json_pack("{s:s}", "ErrorCode", "ModelInvocationTimeExceeded"),
                   "Your invocation timed out while waiting for a response from inference "
                   "component %s (%s).", inv->x->name, why);
    else
      reply_failed(inv, req, 424, "ModelError",
                   json_pack("{s:i,s:s}", "OriginalStatusCode", 0, "OriginalMessage", ""),
                   "Your invocation timed out while waiting for a response from inference "
                   "component %s (%s).", inv->x->name, why);
  } else if (err && inv->stream && delivered && err != UV_ECANCELED) {
    /* The model had the request and its connection broke before it
     * answered: on the streaming route that is a broken stream. */
    reply_failed(inv, req, 424, "ModelStreamError", json_pack("{s:s}", "ErrorCode", "StreamBroken"),
                 "The model server of inference component %s closed the stream before it "
                 "answered: %s", inv->x->name, uv_strerror(err));
  } else if (err) {
    reply_failed(inv, req, 424, "ModelError",
                json_pack("{s:i,s:s}", "OriginalStatusCode", 0, "OriginalMessage", ""),
                "The model server of inference component %s failed before it answered: %s",
                inv->x->name, uv_strerror(err));
  } else if (inv->status < 200 || inv->status > 299) {
    char arn[256];
    snprintf(arn, sizeof arn, "arn:aws:logs:%s:%s:log-group:/aws/sagemaker/InferenceComponents/%s",
             c->region, c->account, inv->x->name);
    berth_buf text;
    berth_buf_init(&text, 0);
    utf8_clean(&text, inv->body.data ? inv->body.data : "", inv->body.len);
    /* The message quotes at most 512 bytes, cut on a character boundary. */
    size_t quoted = text.len > 512 ? 512 : text.len;
    while (quoted < text.len && (text.data[quoted] & 0xC0) == 0x80) quoted--;
    reply_failed(inv, req, 424, "ModelError",
                json_pack("{s:i,s:s%,s:s}", "OriginalStatusCode", inv->status, "OriginalMessage",
                          text.data, text.len, "LogStreamArn", arn),
                "Received %s error (%d) from model of inference component %s with message \"%.*s\". "
                "See %s for more information.",
                inv->status < 500 ? "client" : "server", inv->status, inv->x->name,
                (int)quoted, text.data, arn);
    berth_buf_free(&text);
  } else {
    berth_http_header h[7];
    size_t n = answer_headers(inv, h);
    berth_http_respond(req, 200, h, n, inv->body.data ? inv->body.data : "", inv->body.len);
  }
  invocation_free(inv);
}

static const berth_http_call_cb model_cb = {on_model_head, on_model_body, on_model_done};

/* Headers passed to the model. The client's content negotiation arrives as
 * Accept on InvokeEndpoint and as X-Amzn-SageMaker-Accept on the streaming
 * route (whose own Accept is the event stream's); the model gets exactly one
 * Accept, the caller's. */
static const char *const passed_headers[][2] = {
  {"content-type", "content-type"},
  {"x-amzn-sagemaker-custom-attributes", "x-amzn-sagemaker-custom-attributes"},
  {"x-amzn-sagemaker-inference-id", "x-amzn-sagemaker-inference-id"},
  {"x-amzn-sagemaker-target-model", "x-amzn-sagemaker-target-model"},
  {"x-amzn-sagemaker-session-id", "x-amzn-sagemaker-session-id"},
};

/* Sends the request to a copy (not the one a first try failed on). Returns
 * 0 when on its way, -1 when no copy is ready (the caller answers). */
static int forward(invocation *inv) {
  ctl *c = inv->c;
  /* A known sticky session goes to its copy only (sessions.h). */
  copy *cp = inv->session.copy_id >= 0
                 ? router_session_copy(inv->x, &inv->session, inv->tries ? inv->tried_copy : -1)
             : inv->routing == BERTH_ROUTE_PREFIX_AWARE && inv->req
                 ? router_prefix_choose(inv->x, &inv->prefix, inv->req->body, inv->req->body_len,
                                        next_random(c), inv->tries ? inv->tried_copy : -1)
                 : router_choose(inv->x, inv->routing, next_random(c),
                                 inv->tries ? inv->tried_copy : -1);
  if (!cp) return -1;
  uint64_t now = uv_now(c->loop);
  if (!inv->tries) inv->first_sent_ms = now;
  uint64_t used = now - inv->first_sent_ms;
  if (used >= inv->deadline_ms) return -1;
  inv->tries++;
  inv->head_waits = -1;
  inv->body_bytes = 0;
  inv->tried_copy = cp->id;
  inv->status = 0;
  inv->got_bytes = 0;
  berth_buf_reset(&inv->body);
  berth_http_header h[8];
  size_t n = 0;
  for (size_t i = 0; i < sizeof passed_headers / sizeof passed_headers[0]; i++) {
    const char *v = berth_http_req_header(inv->req, passed_headers[i][0]);
    if (v) h[n++] = (berth_http_header){passed_headers[i][1], v};
  }
  const char *accept = berth_http_req_header(inv->req, inv->stream ? "x-amzn-sagemaker-accept"
                                                                   : "accept");
  if (accept) h[n++] = (berth_http_header){"accept", accept};
  if (!berth_http_req_header(inv->req, "content-type"))
    h[n++] = (berth_http_header){"content-type", "application/octet-stream"};
  /* An adapter IC is served by its base's copy, told which adapter by the
   * header SageMaker sends model servers. */
  if (inv->x->base[0])
    h[n++] = (berth_http_header){"x-amzn-sagemaker-adapter-identifier", inv->x->name};
  uint64_t silence = router_silence_ms(c); /* a stalled stream ends in time (router_failure.h) */
  berth_http_request_opts o = {.host = cp->inst && cp->inst->remote ? cp->inst->address
                                                                     : "127.0.0.1",
                               .port = cp->port, .method = "POST",
                               .target = inv->target, .headers = h, .n_headers = n,
                               .body = inv->req->body, .body_len = inv->req->body_len,
                               .borrow_body = 1, .timeout_ms = silence,
                               .deadline_ms = inv->deadline_ms - used};
  copy_taken(cp);
  inv->cp = cp;
  inv->sent_ns = uv_hrtime();
  if (berth_http_request(c->client, &o, &model_cb, inv, &inv->call) != 0) {
    inv->cp = NULL;
    copy_given(c, cp);
    return -1;
  }
  return 0;
}

/* Parses /endpoints/{name}/invocations into name. Returns 1 for the
 * streaming path, 0 for the plain one, -1 for anything else. */
static int parse_path(const char *path, char *name, size_t namesz) {
  static const char prefix[] = "/endpoints/";
  if (strncmp(path, prefix, sizeof prefix - 1) != 0) return -1;
  const char *start = path + sizeof prefix - 1;
  const char *slash = strrchr(start, '/');
  if (!slash || slash == start) return -1;
  int stream;
  if (strcmp(slash, "/invocations") == 0)
    stream = 0;
  else if (strcmp(slash, "/invocations-response-stream") == 0)
    stream = 1;
  else
    return -1;
  if (berth_http_pct_decode(start, (size_t)(slash - start), name, namesz) < 0) return -1;
  return stream;
}

/* openai.c's way on to a copy: the body as is, to path on the model server. */
static void openai_send(ctl *c, berth_http_req *req, endpoint *ep, ic *x, const char *path,
                        int streams) {
  router_target t = {path, 0, streams};
  router_invoke(c, req, ep, x, &t);
}

void router_on_request(berth_http_req *req, void *ud) {
  ctl *c = ud;
  if ((strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) &&
      (strcmp(req->path, "/healthz") == 0 || strcmp(req->path, "/ping") == 0)) {
    berth_http_header h[1] = {{"content-type", "text/plain"}};
    berth_http_respond(req, 200, h, 1, "ok\n", 3);
    return;
  }
  /* /endpoints/{name}/openai/v1/...: the OpenAI-compatible API (openai.c). */
  if (openai_route(req->path)) {
    openai_on_request(c, req, openai_send);
    return;
  }
  char name[256];
  int stream = parse_path(req->path, name, sizeof name);
  if (stream < 0 || strcmp(req->method, "POST") != 0) {
    reply_error(req, c, 404, "UnknownOperationException", NULL,
                "%s %s is not a runtime API route: use POST /endpoints/{EndpointName}/invocations",
                req->method, req->path);
    return;
  }
  /* Who asks, and may they, before anything about the endpoint is told. */
  const auth_key *who;
  api_error e = {0};
  char arn[400];
  ctl_arn(c, "endpoint", name, arn, sizeof arn);
  if (auth_verify(c, req, "sagemaker", 0, &who, &e) ||
      auth_permit(c, who, stream ? "sagemaker:InvokeEndpointWithResponseStream"
                                 : "sagemaker:InvokeEndpoint", arn, 0, &e)) {
    reply_error(req, c, e.status, e.type, NULL, "%s", e.message);
    return;
  }
  endpoint *ep = ctl_find_endpoint(c, name);
  if (!ep || ep->status == ENDPOINT_DELETING) {
    reply_error(req, c, 400, "ValidationError", NULL, "Endpoint %s of account %s not found.", name,
                c->account);
    return;
  }
  static const char *const singletons[] = {
    "x-amzn-sagemaker-inference-component", "x-amzn-sagemaker-custom-attributes",
    "x-amzn-sagemaker-inference-id", "x-amzn-sagemaker-target-model",
    "x-amzn-sagemaker-session-id", "content-type"};
  for (size_t i = 0; i < sizeof singletons / sizeof singletons[0]; i++) {
    size_t seen = 0;
    for (size_t k = 0; k < req->n_headers; k++) seen += strcmp(req->headers[k].name, singletons[i]) == 0;
    if (seen > 1) {
      /* Two values and no rule to pick one: refuse rather than guess. */
      reply_error(req, c, 400, "ValidationError", NULL,
                  "Header %s appears %zu times; send it once.", singletons[i], seen);
      return;
    }
  }
  const char *icname = berth_http_req_header(req, "x-amzn-sagemaker-inference-component");
  if (!icname) {
    reply_error(req, c, 400, "ValidationError", NULL,
                "Inference Component Name header is required for endpoints to which you plan to "
                "deploy inference components. Please include Inference Component Name header "
                "(X-Amzn-SageMaker-Inference-Component) naming one of the endpoint's inference "
                "components.");
    return;
  }
  ic *x = ctl_find_ic(c, icname);
  if (!x || strcmp(x->endpoint, ep->name) != 0 || x->deleting) {
    reply_error(req, c, 400, "ValidationError", NULL,
                "Inference Component %s not found for endpoint %s.", icname, ep->name);
    return;
  }
  const char *ca = berth_http_req_header(req, "x-amzn-sagemaker-custom-attributes");
  if (ca && strlen(ca) > ROUTER_MAX_CUSTOM_ATTRIBUTES) {
    reply_error(req, c, 400, "ValidationError", NULL,
                "1 validation error detected: Value at 'customAttributes' failed to satisfy "
                "constraint: Member must have length less than or equal to 1024 (it has %zu)",
                strlen(ca));
    return;
  }
  static const router_target plain = {"/invocations", 0, 0};
  static const router_target event_stream = {"/invocations", 1, 1};
  router_invoke(c, req, ep, x, stream ? &event_stream : &plain);
}

void router_invoke(ctl *c, berth_http_req *req, endpoint *ep, ic *x, const router_target *t) {
  invocation *inv = berth_xcalloc(1, sizeof *inv);
  inv->head_waits = -1;
  inv->c = c;
  inv->stream = t->event_stream;
  inv->target = t->path;
  inv->req = req;
  inv->x = x;
  ic_hold(x);
  /* Every answer from here on, errors too, carries this id. */
  request_id(next_random(c), req->start_ms, inv->request_id);
  /* Sticky sessions: check the session id, find its copy (sessions.h). */
  api_error se = {0};
  if (router_session_begin(c, x, req, t->event_stream, &inv->session, &se) != 0) {
    reply_failed(inv, req, se.status, se.type, NULL, "%s", se.message);
    invocation_free(inv);
    return;
  }
  const variant *v = ctl_endpoint_variant(ep, x->variant);
  inv->routing = v ? v->routing : BERTH_ROUTE_RANDOM;
  if (v) inv->prefix = v->prefix;
  snprintf(inv->variant_name, sizeof inv->variant_name, "%s", x->variant);
  inv->deadline_ms = (uint64_t)((t->streams ? c->stream_timeout_s : c->invocation_timeout_s) *
                                1000);
  berth_buf_init(&inv->body, ROUTER_MAX_BODY);
  inv->arrived_ns = uv_hrtime();
  req->user = inv;
  req->on_abort = on_client_gone;
  if (forward(inv) == 0) return;
  if (inv->session.copy_id >= 0) {
    /* A session's request waits for no other copy: its state is on its own. */
    router_session_gone(x, &inv->session, &se);
    req->on_abort = NULL;
    reply_failed(inv, req, se.status, se.type, NULL, "%s", se.message);
    invocation_free(inv);
    return;
  }
  /* Hold the request while a copy starts instead of failing it: one that
   * scaling wakes, a sleeping one (it wakes), or one on its way (placed and
   * starting or restarting). */
  if ((x->wakes || x->sleeping > 0 || (x->coming > 0 && x->status != IC_FAILED)) &&
      !c->shutting_down) {
    /* The bound is the IC's on all threads together (shared_count.h). */
    if (x->held ? shared_count_add(x->held, 1) > (uint32_t)c->wake_queue_max
                : x->n_waiting >= c->wake_queue_max) {
      if (x->held) shared_count_add(x->held, -1);
      req->on_abort = NULL;
      reply_failed(inv, req, 429, "ModelNotReadyException", NULL,
                   "Inference component %s has no ready copy yet and %d requests are already "
                   "waiting for one (the limit, --wake-queue); retry shortly.",
                   x->name, c->wake_queue_max);
      invocation_free(inv);
      return;
    }
    inv->wait_start_ms = uv_now(c->loop);
    if (x->wait_tail)
      x->wait_tail->wait_next = inv;
    else
      x->wait_head = inv;
    x->wait_tail = inv;
    x->n_waiting++;
    /* The controller scales it up, or wakes its sleeping copies. */
    if ((x->wakes || x->sleeping > 0) && c->on_wake) c->on_wake(c, x);
    return;
  }
  req->on_abort = NULL;
  metrics_no_capacity(x->metrics);
  {
    reply_failed(inv, req, 400, "ValidationError", NULL,
                 "Inference Component has no capacity to process this request. "
                 "ApplicationAutoScaling may be in-progress (if configured) or try to increase "
                 "the capacity by invoking UpdateInferenceComponentRuntimeConfig API.");
    invocation_free(inv);
  }
}

/* Sends held requests, oldest first, to the ready copies by lib/wake.c's
 * rule: ready_now copies just became ready (0: the periodic check of those
 * kept back). The rest stay held, stamped with when they were first kept. */
static void release_held(ctl *c, ic *x, size_t ready_now) {
  if (!x->wait_head) return;
  uint64_t now = uv_now(c->loop);
  uint64_t kept_ms = x->wait_head->kept_ms;
  double kept = kept_ms ? (double)(now - kept_ms) / 1000.0 : 0.0;
  size_t n = berth_wake_release(x->n_waiting > 0 ? (size_t)x->n_waiting : 0, ready_now,
                                x->coming > 0 ? (size_t)x->coming : 0, kept);
  for (size_t k = 0; k < n && x->wait_head; k++) {
    invocation *inv = x->wait_head;
    uint64_t waited = now - inv->wait_start_ms, kept_at = inv->kept_ms;
    unlink_waiting(inv);
    if (forward(inv) != 0) {
      /* Not ready after all (it went away again): back to the front. */
      inv->wait_start_ms = now - waited;
      inv->kept_ms = kept_at;
      inv->wait_next = x->wait_head;
      x->wait_head = inv;
      if (!x->wait_tail) x->wait_tail = inv;
      x->n_waiting++;
      if (x->held) shared_count_add(x->held, 1);
      return;
    }
    metrics_waited(x->metrics, (double)waited);
  }
  for (invocation *inv = x->wait_head; inv; inv = inv->wait_next)
    if (!inv->kept_ms) inv->kept_ms = now;
}

void router_copy_ready(ctl *c, ic *x) {
  release_held(c, x, 1);
}

void router_expire_waiting(ctl *c, ic *x) {
  /* Those kept back for copies still starting go once the wait is over. */
  if (x->wait_head && x->wait_head->kept_ms && !c->shutting_down && !x->deleting)
    release_held(c, x, 0);
  uint64_t now = uv_now(c->loop);
  invocation *next;
  for (invocation *inv = x->wait_head; inv; inv = next) {
    next = inv->wait_next;
    int gone = x->deleting || x->failed_sticky || c->shutting_down;
    if (!gone && now - inv->wait_start_ms < (uint64_t)(c->wake_timeout_s * 1000)) continue;
    berth_http_req *req = inv->req;
    unlink_waiting(inv);
    req->on_abort = NULL;
    if (x->failed_sticky)
      reply_failed(inv, req, 424, "ModelError", NULL,
                   "Inference component %s failed to start a copy: %s", x->name, x->failure);
    else if (c->shutting_down && !x->deleting)
      reply_failed(inv, req, 503, "ServiceUnavailable", NULL,
                   "Berth is shutting down before inference component %s had a ready copy; "
                   "retry shortly.", x->name);
    else if (gone)
      reply_failed(inv, req, 400, "ValidationError", NULL,
                   "Inference Component %s is being deleted.", x->name);
    else
      reply_failed(inv, req, 429, "ModelNotReadyException", NULL,
                   "Inference component %s did not get a ready copy within %.0f s "
                   "(--wake-timeout); retry later.", x->name, c->wake_timeout_s);
    invocation_free(inv);
  }
}

/* model_openai: see model_openai.h. */
#include "model_openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int count_words(const char *s, size_t n) {
  int words = 0, in = 0;
  for (size_t i = 0; i < n; i++) {
    int space = s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r';
    words += !space && !in;
    in = !space;
  }
  return words;
}

/* A message's content: a string, or an array of parts whose "text" ones
 * count (the vision-style form). Appends it to seed; -1 for another type. */
static int append_content(berth_buf *seed, json_t *content) {
  if (json_is_string(content)) {
    berth_buf_append(seed, json_string_value(content), json_string_length(content));
    return 0;
  }
  if (!json_is_array(content)) return json_is_null(content) ? 0 : -1;
  size_t i;
  json_t *part;
  json_array_foreach(content, i, part) {
    json_t *text = json_object_get(part, "text");
    if (json_is_string(text)) berth_buf_append(seed, json_string_value(text), json_string_length(text));
  }
  return 0;
}

int model_openai_parse(json_t *in, int chat, long max, model_openai *o, berth_buf *seed,
                       long *n_tokens, int *stream, char *why, size_t whysz) {
  static unsigned long long serial;
  memset(o, 0, sizeof *o);
  o->chat = chat;
  o->created = (long long)time(NULL);
  json_t *model = json_object_get(in, "model");
  if (model && !json_is_string(model)) {
    snprintf(why, whysz, "Invalid type for 'model': expected a string");
    return -1;
  }
  snprintf(o->model, sizeof o->model, "%s", model ? json_string_value(model) : "berth-model");
  size_t before = seed->len;
  if (chat) {
    json_t *messages = json_object_get(in, "messages");
    if (!json_is_array(messages) || !json_array_size(messages)) {
      snprintf(why, whysz, "'messages' must be a non-empty array of {role, content}");
      return -1;
    }
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
      const char *role = json_string_value(json_object_get(m, "role"));
      if (!role) {
        snprintf(why, whysz, "'messages.%zu.role' must be a string", i);
        return -1;
      }
      berth_buf_printf(seed, "%s\n", role);
      if (append_content(seed, json_object_get(m, "content"))) {
        snprintf(why, whysz, "'messages.%zu.content' must be a string or an array of parts", i);
        return -1;
      }
      berth_buf_append(seed, "\n", 1);
    }
  } else {
    json_t *prompt = json_object_get(in, "prompt");
    if (json_is_string(prompt)) {
      berth_buf_append(seed, json_string_value(prompt), json_string_length(prompt));
    } else if (json_is_array(prompt)) {
      size_t i;
      json_t *p;
      json_array_foreach(prompt, i, p)
        if (json_is_string(p)) berth_buf_append(seed, json_string_value(p), json_string_length(p));
    } else {
      snprintf(why, whysz, "'prompt' must be a string or an array of strings");
      return -1;
    }
  }
  o->prompt_tokens = count_words(seed->data ? seed->data + before : "", seed->len - before);
  json_t *limit = json_object_get(in, "max_completion_tokens");
  if (!limit || json_is_null(limit)) limit = json_object_get(in, "max_tokens");
  if (limit && !json_is_null(limit)) {
    if (!json_is_integer(limit) || json_integer_value(limit) < 1) {
      snprintf(why, whysz, "'max_tokens' must be an integer of at least 1");
      return -1;
    }
    json_int_t v = json_integer_value(limit);
    *n_tokens = v > max ? max : (long)v;
    o->limited = 1;
  }
  *stream = json_is_true(json_object_get(in, "stream"));
  json_t *so = json_object_get(in, "stream_options");
  o->include_usage = json_is_true(json_object_get(so, "include_usage"));
  snprintf(o->id, sizeof o->id, "%s-%llx%04llx", chat ? "chatcmpl" : "cmpl",
           (unsigned long long)o->created, ++serial & 0xffff);
  return 0;
}

static json_t *usage(const model_openai *o, int n_tokens) {
  return json_pack("{s:i,s:i,s:i}", "prompt_tokens", o->prompt_tokens, "completion_tokens",
                   n_tokens, "total_tokens", o->prompt_tokens + n_tokens);
}

static const char *finish(const model_openai *o) { return o->limited ? "length" : "stop"; }

/* One chunk object with choices (an array, taken). */
static json_t *chunk(const model_openai *o, json_t *choices) {
  return json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", o->id, "object",
                   o->chat ? "chat.completion.chunk" : "text_completion", "created",
                   (json_int_t)o->created, "model", o->model, "choices", choices);
}

static void event(berth_buf *out, json_t *obj) {
  char *s = json_dumps(obj, JSON_COMPACT);
  berth_buf_printf(out, "data: %s\n\n", s ? s : "{}");
  free(s);
  json_decref(obj);
}

void model_openai_chunk(berth_buf *out, const model_openai *o, const char *text, int n_done,
                        int last) {
  json_t *choice;
  if (o->chat) {
    json_t *delta = json_pack("{s:s}", "content", text);
    /* The first chunk says who speaks, as OpenAI's does. */
    if (n_done == 1) json_object_set_new(delta, "role", json_string("assistant"));
    choice = json_pack("{s:i,s:o,s:n,s:n}", "index", 0, "delta", delta, "logprobs",
                       "finish_reason");
  } else {
    choice = json_pack("{s:s,s:i,s:n,s:n}", "text", text, "index", 0, "logprobs",
                       "finish_reason");
  }
  event(out, chunk(o, json_pack("[o]", choice)));
  if (!last) return;
  if (o->chat)
    choice = json_pack("{s:i,s:{},s:n,s:s}", "index", 0, "delta", "logprobs", "finish_reason",
                       finish(o));
  else
    choice = json_pack("{s:s,s:i,s:n,s:s}", "text", "", "index", 0, "logprobs",
                       "finish_reason", finish(o));
  event(out, chunk(o, json_pack("[o]", choice)));
  if (o->include_usage) {
    json_t *u = chunk(o, json_array());
    json_object_set_new(u, "usage", usage(o, n_done));
    event(out, u);
  }
  berth_buf_appends(out, "data: [DONE]\n\n");
}

json_t *model_openai_answer(const model_openai *o, const char *text, int n_tokens,
                            const char *fingerprint) {
  json_t *choice;
  if (o->chat)
    choice = json_pack("{s:i,s:{s:s,s:s},s:n,s:s}", "index", 0, "message", "role", "assistant",
                       "content", text, "logprobs", "finish_reason", finish(o));
  else
    choice = json_pack("{s:s,s:i,s:n,s:s}", "text", text, "index", 0, "logprobs",
                       "finish_reason", finish(o));
  return json_pack("{s:s,s:s,s:I,s:s,s:[o],s:o,s:s}", "id", o->id, "object",
                   o->chat ? "chat.completion" : "text_completion", "created",
                   (json_int_t)o->created, "model", o->model, "choices", choice, "usage",
                   usage(o, n_tokens), "system_fingerprint", fingerprint);
}

json_t *model_openai_error(int status, const char *message) {
  return json_pack("{s:{s:s,s:s,s:n,s:n}}", "error", "message", message, "type",
                   status >= 500 ? "server_error" : "invalid_request_error", "param", "code");
}

/* model_openai: berth-model's OpenAI-compatible routes, POST
 * /v1/chat/completions and /v1/completions: reading their requests and
 * writing answers and server-sent-event chunks in OpenAI's shapes. The
 * generator and the per-token timing are main.c's, shared with
 * /invocations. */
#ifndef BERTH_MODEL_OPENAI_H
#define BERTH_MODEL_OPENAI_H

#include <jansson.h>

#include "berth/buf.h"

typedef struct model_openai {
  int chat;             /* chat.completion (1) or text_completion (0) */
  int limited;          /* the client set max tokens: finish_reason "length" */
  int include_usage;    /* stream_options.include_usage: a last usage chunk */
  int prompt_tokens;    /* words in the prompt */
  long long created;
  char id[64];          /* chatcmpl-... / cmpl-... */
  char model[256];      /* the request's model, echoed */
} model_openai;

/* Reads request in (an object) into o: the prompt text, which seeds the
 * generator, is appended to seed; *n_tokens (preset to the default) from
 * max_completion_tokens or max_tokens, capped at max; *stream from
 * "stream". 0, or -1 with why (an OpenAI invalid_request_error message). */
int model_openai_parse(json_t *in, int chat, long max, model_openai *o, berth_buf *seed,
                       long *n_tokens, int *stream, char *why, size_t whysz);

/* Appends the event for the n_done-th token (1-based) text; the last one
 * also gets the finishing chunk, the usage chunk when asked and
 * "data: [DONE]". */
void model_openai_chunk(berth_buf *out, const model_openai *o, const char *text, int n_done,
                        int last);

/* The whole answer for text of n_tokens tokens; fingerprint is
 * system_fingerprint (the copy). */
json_t *model_openai_answer(const model_openai *o, const char *text, int n_tokens,
                            const char *fingerprint);

/* {"error":{"message","type","param":null,"code":null}} for status. */
json_t *model_openai_error(int status, const char *message);

#endif

/* openai: the OpenAI-compatible API on the runtime port (docs/api.md,
 * "OpenAI-compatible API").
 *
 *   POST /endpoints/{EndpointName}/openai/v1/chat/completions
 *   POST /endpoints/{EndpointName}/openai/v1/completions
 *   GET  /endpoints/{EndpointName}/openai/v1/models[/{model}]
 *
 * Callers authenticate with `Authorization: Bearer <token>` (tokens.h) or
 * SigV4, and need sagemaker:InvokeEndpoint on the endpoint. The body goes
 * unchanged to the copy's /v1/chat/completions (/v1/completions) through
 * router_invoke (as openai_send_fn), so holding, retries, streaming with backpressure and the
 * metrics are the runtime API's; only the errors differ, in OpenAI's shape
 * {"error":{"message","type","param","code"}}. */
#ifndef BERTHD_OPENAI_H
#define BERTHD_OPENAI_H

#include <jansson.h>

#include "ctl.h"

/* Whether path is one of this API's: /endpoints/{name}/openai[/...]. */
int openai_route(const char *path);

/* How a checked request goes on to a copy of x: router.c's router_invoke
 * with the model server's path (static storage) and whether the answer is
 * bounded by --stream-timeout. Passed in, so that this module calls only
 * down (router.c includes it, not the reverse). */
typedef void (*openai_send_fn)(ctl *c, berth_http_req *req, endpoint *ep, ic *x,
                               const char *path, int streams);

/* Serves a request on such a path (router_on_request hands it over). */
void openai_on_request(ctl *c, berth_http_req *req, openai_send_fn send);

/* Answers an error raised by router.c (status and SageMaker's error type,
 * e.g. 424 ModelError with extra's OriginalStatusCode and OriginalMessage)
 * in OpenAI's shape. A model's own OpenAI-shaped error is passed on as the
 * model sent it. Takes extra (may be NULL). */
void openai_reply_error(berth_http_req *req, int status, const char *type, json_t *extra,
                        const char *message);

#endif

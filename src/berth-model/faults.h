/* faults: the failures berth-model shows on purpose, for tests of what a
 * router does with a model that dies mid-answer, stalls, or is slow.
 * Each knob has an environment default (for a whole copy) and a per-request
 * override in the body's "parameters" (so one copy serves every case):
 *
 *   BERTH_MODEL_DIE_AFTER_TOKENS   parameters.die_after_tokens
 *       after N tokens the connection is closed without finishing the
 *       answer (a stream loses its last chunk, a plain answer never comes)
 *   BERTH_MODEL_STALL_AFTER_TOKENS parameters.stall_after_tokens
 *       after N tokens nothing more is sent; the connection stays open
 *       until the client goes
 *   BERTH_MODEL_TOKEN_DELAY_MS     parameters.token_delay_ms
 *       the pause before each token after the first
 *
 * N counts tokens produced (streamed ones are sent); a knob at or past the
 * answer's length has no effect. */
#ifndef BERTH_MODEL_FAULTS_H
#define BERTH_MODEL_FAULTS_H

#include <jansson.h>
#include <stddef.h>

#define MODEL_FAULT_MAX_TOKENS 1000000
#define MODEL_FAULT_MAX_DELAY_MS 600000

typedef struct model_faults {
  long die_after_tokens;   /* -1: never */
  long stall_after_tokens; /* -1: never */
  long token_delay_ms;     /* 0: none */
} model_faults;

/* The defaults from the environment. Returns 0, or -EINVAL with why naming
 * the variable, its value and the rule. */
int model_faults_from_env(model_faults *f, char *why, size_t whysz);
/* *out = *dflt with the overrides in params (a JSON object or NULL).
 * Returns 0, or -EINVAL with why naming the field, its value and the rule. */
int model_faults_for_request(const model_faults *dflt, const json_t *params, model_faults *out,
                             char *why, size_t whysz);

#endif

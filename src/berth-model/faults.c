/* faults: see faults.h. */
#include "faults.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct knob {
  const char *env;
  const char *field;
  long lo, hi;
  size_t offset;
} knob;

static const knob knobs[] = {
  {"BERTH_MODEL_DIE_AFTER_TOKENS", "die_after_tokens", 0, MODEL_FAULT_MAX_TOKENS,
   offsetof(model_faults, die_after_tokens)},
  {"BERTH_MODEL_STALL_AFTER_TOKENS", "stall_after_tokens", 0, MODEL_FAULT_MAX_TOKENS,
   offsetof(model_faults, stall_after_tokens)},
  {"BERTH_MODEL_TOKEN_DELAY_MS", "token_delay_ms", 0, MODEL_FAULT_MAX_DELAY_MS,
   offsetof(model_faults, token_delay_ms)},
};

static long *slot(model_faults *f, const knob *k) {
  return (long *)(void *)((char *)f + k->offset);
}

int model_faults_from_env(model_faults *f, char *why, size_t whysz) {
  *f = (model_faults){-1, -1, 0};
  for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
    const char *s = getenv(knobs[i].env);
    if (!s || !*s) continue;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < knobs[i].lo || v > knobs[i].hi) {
      snprintf(why, whysz, "%s=\"%s\" is not an integer in [%ld, %ld]", knobs[i].env, s,
               knobs[i].lo, knobs[i].hi);
      return -EINVAL;
    }
    *slot(f, &knobs[i]) = v;
  }
  return 0;
}

int model_faults_for_request(const model_faults *dflt, const json_t *params, model_faults *out,
                             char *why, size_t whysz) {
  *out = *dflt;
  if (!json_is_object(params)) return 0;
  for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
    const json_t *v = json_object_get(params, knobs[i].field);
    if (!v || json_is_null(v)) continue;
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
    if (!json_is_integer(v) || n < knobs[i].lo || n > knobs[i].hi) {
      char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
      snprintf(why, whysz, "field \"parameters.%s\" is %.40s: it must be an integer in [%ld, %ld]",
               knobs[i].field, text ? text : "?", knobs[i].lo, knobs[i].hi);
      free(text);
      return -EINVAL;
    }
    *slot(out, &knobs[i]) = (long)n;
  }
  return 0;
}

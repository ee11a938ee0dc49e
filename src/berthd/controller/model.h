/* model: turning stored request documents into the controller's typed
 * objects (endpoint configs, inference components), with validation. Used
 * by the API on create and by start-up on load, so both apply one rule set. */
#ifndef BERTHD_MODEL_H
#define BERTHD_MODEL_H

#include "ctl.h"
#include "valid.h"

/* Validates a CreateEndpointConfig request and fills cfg (doc not set). */
int model_parse_config(ctl *c, json_t *req, endpoint_config *cfg, api_error *e);
/* Validates a CreateInferenceComponent request (against existing endpoints
 * when check_endpoint) and fills the typed fields of ic. */
int model_parse_ic(ctl *c, json_t *req, ic *out, int check_endpoint, api_error *e);
/* Environment's keys ([a-zA-Z_][a-zA-Z0-9_]*, SageMaker's pattern) and
 * string values, at most 100; field names it in errors. 0 or -1 with e. */
int model_check_environment(json_t *env, const char *field, api_error *e);
/* Whether an Image (field: how the request names it) may run: "berth-model",
 * a program berthd allows (--allow-exec, copy_policy.h) or a well-formed
 * container image reference (container.h). Anything else is left for
 * launch to refuse. Only requests are checked: stored documents load as
 * they are, and agents check again before anything runs. */
int model_check_image(ctl *c, const char *image, const char *field, api_error *e);
/* Copy-resource need of an IC's ComputeResourceRequirements. */
int model_parse_need(json_t *crr, sched_need *need, api_error *e);

#endif

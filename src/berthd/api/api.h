/* api: the control plane over HTTP: SageMaker (JSON 1.1) operations on
 * endpoint configs, endpoints, models and inference components. */
#ifndef BERTHD_API_H
#define BERTHD_API_H

#include "ctl.h"
#include "valid.h"

/* Runs one SageMaker operation. On success *resp is a new object. */
int api_sagemaker(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e);
/* The control listener's request handler (ud is the ctl). */
void api_on_request(berth_http_req *req, void *ud);
/* The --agent-listen listener's handler: the agent and router protocols
 * only. */
void api_on_agent_request(berth_http_req *req, void *ud);
/* Formats errors the HTTP layer raises in the JSON 1.1 error shape. */
void api_format_error(int status, const char *message, void *body, const char **content_type,
                      const char **error_type, void *ud);
/* Builds DescribeInferenceComponent's answer (also used by tests). */
json_t *api_describe_ic(ctl *c, ic *x);

#endif

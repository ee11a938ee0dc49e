/* api: the control plane over HTTP: SageMaker (JSON 1.1) operations on
 * endpoint configs, endpoints, models and inference components. */
#ifndef BERTHD_API_H
#define BERTHD_API_H

#include "ctl.h"
#include "valid.h"

/* An operation of one of the control APIs. */
typedef struct api_operation {
  const char *name;
  int (*fn)(ctl *c, json_t *req, json_t **resp, api_error *e);
} api_operation;

/* Runs the operation named op from ops (the body must be a JSON object);
 * an unknown one is UnknownOperationException naming service and op. */
int api_dispatch(const api_operation *ops, size_t n, const char *service, ctl *c,
                 const char *op, json_t *req, json_t **resp, api_error *e);

/* Runs one SageMaker operation. On success *resp is a new object. */
int api_sagemaker(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e);
/* The control listener's request handler (ud is the ctl). */
void api_on_request(berth_http_req *req, void *ud);
/* Formats errors the HTTP layer raises in the JSON 1.1 error shape. */
void api_format_error(int status, const char *message, void *body, const char **content_type,
                      const char **error_type, void *ud);
/* Builds DescribeInferenceComponent's answer (also used by tests). */
json_t *api_describe_ic(ctl *c, ic *x);

#endif

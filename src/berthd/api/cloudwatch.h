/* cloudwatch: the CloudWatch metrics API (GraniteServiceVersion20100801.*,
 * JSON 1.0, query-compatible) over Berth's per-IC 10-second buckets:
 * GetMetricData and ListMetrics for the AWS/SageMaker and
 * /aws/sagemaker/Endpoints namespaces. docs/metrics.md lists the metrics. */
#ifndef BERTHD_CLOUDWATCH_H
#define BERTHD_CLOUDWATCH_H

#include "ctl.h"
#include "valid.h"

/* Runs operation op (the x-amz-target suffix) on req (any JSON value; a
 * non-object is refused). Returns 0 with *resp a new object the caller owns,
 * or -1 with e filled (__type as the SDK's CloudWatch error shapes name it:
 * InvalidParameterValueException, MissingRequiredParameterException,
 * InvalidParameterCombinationException, InvalidNextToken). Reads c only. */
int cloudwatch_call(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e);

/* The x-amzn-query-error header value for an error cloudwatch_call returned
 * ("InvalidParameterValue;Sender"), which query-compatible SDKs read for the
 * error code; NULL when the type has no query code. Static storage. */
const char *cloudwatch_query_error(const api_error *e);

#endif

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

/* Fills e for a bad obj[key] as CloudWatch names it after a valid_*
 * validator refused it: MissingRequiredParameterException when the member
 * is absent, InvalidParameterValueException otherwise. Returns -1. */
int cloudwatch_param_error(api_error *e, json_t *obj, const char *key);
/* Checks obj[key] as a metric's Dimensions ([{Name, Value}], at most 30,
 * no name twice); path names it in messages. 0 or -1 with e filled. */
int cloudwatch_check_dimensions(json_t *obj, const char *key, const char *path, api_error *e);
/* The datapoints GetMetricData would answer for one metric: namespace ns,
 * metric, dims (a JSON array [{Name, Value}] as cloudwatch_check_dimensions
 * accepts, or NULL), period (seconds, a multiple of 10), stat (Sum,
 * Average, Maximum, Minimum, SampleCount) over [start, end) in ctl_clock
 * seconds. Writes at most max of them, ascending, to ts (period starts) and
 * values; returns how many, or -1 when stat is not one of those. Periods
 * without data are left out (CloudWatch's missing datapoints). Reads c
 * only. */
int cloudwatch_datapoints(ctl *c, const char *ns, const char *metric, json_t *dims,
                          long long period, const char *stat, double start, double end,
                          double *ts, double *values, size_t max);

#endif

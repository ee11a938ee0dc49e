/* logs_api: the CloudWatch Logs read API (Logs_20140328.*, AWS JSON 1.1,
 * SigV4 service "logs") over the copy logs agents on this host write under
 * the shared dir (log_store.h): DescribeLogGroups, DescribeLogStreams,
 * GetLogEvents and FilterLogEvents. Each IC is the log group
 * /aws/sagemaker/InferenceComponents/<IC>, each copy a stream
 * "<instance>/copy-<N>". docs/logs.md has the choices. */
#ifndef BERTHD_LOGS_API_H
#define BERTHD_LOGS_API_H

#include "ctl.h"
#include "valid.h"

#define LOGS_GROUP_PREFIX "/aws/sagemaker/InferenceComponents/"

/* Runs operation op (the x-amz-target suffix) on req. 0 with *resp a new
 * object, or -1 with e filled in CloudWatch Logs' error shapes
 * (InvalidParameterException, ResourceNotFoundException). Reads c and
 * files; each call reads a bounded number of bytes (LOGS_READ_MAX per
 * stream read, LOGS_SCAN_MAX per FilterLogEvents call) so it stays short
 * on the loop. */
int logs_call(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e);

#define LOGS_READ_MAX (1u << 20)
#define LOGS_SCAN_MAX (8u << 20)

#endif

/* iam: IAM-style permission patterns for Berth's access keys.
 *
 * An action is "service:Operation" ("sagemaker:InvokeEndpoint"), a
 * resource an ARN. A key allows an action pattern list and a resource
 * pattern list, both with IAM's wildcards: '*' any run of characters, '?'
 * one. fold_case compares without case: actions always (as IAM does), and
 * Berth's ARNs too, whose names SageMaker lower-cases. */
#ifndef BERTH_IAM_H
#define BERTH_IAM_H

#include <stddef.h>

/* Whether s matches pattern; fold_case for action names. */
int berth_iam_match(const char *pattern, const char *s, int fold_case);

/* Whether text is a valid action pattern: "*", or service:Name where
 * service is lower-case letters, digits and '-' and Name letters, digits
 * and wildcards. 0, or -1 with err saying what is wrong. */
int berth_iam_action_valid(const char *text, char *err, size_t errsz);

/* Whether text is a valid resource pattern: "*" or an "arn:" pattern. */
int berth_iam_resource_valid(const char *text, char *err, size_t errsz);

#endif

/* aas: the Application Auto Scaling API (AnyScaleFrontendService.*, JSON
 * 1.1) for inference components: scalable targets, target-tracking and step
 * scaling policies, and scaling activities. */
#ifndef BERTHD_AAS_H
#define BERTHD_AAS_H

#include "ctl.h"
#include "valid.h"

#define AAS_DIMENSION "sagemaker:inference-component:DesiredCopyCount"

int aas_call(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e);
/* Builds x->scaling from its stored document (at load and after changes). */
int aas_apply(ctl *c, ic *x, json_t *doc, api_error *e);
/* Records a scaling activity for an IC. */
void aas_activity(ctl *c, const ic *x, const char *description, const char *cause,
                  const char *status);
/* Loads stored scaling documents (after ICs are loaded). */
int aas_load(ctl *c);
/* A CloudWatch alarm whose AlarmActions names policy_arn is in ALARM
 * (alarms.c calls it on each evaluation while it stays there; value is the
 * metric's last datapoint): runs that step scaling policy. 0 when it ran
 * (or its cooldown held it), -1 when policy_arn names no policy. */
int aas_alarm_action(ctl *c, const char *policy_arn, const char *alarm_name, double value);

#endif

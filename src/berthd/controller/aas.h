/* aas: the Application Auto Scaling API (AnyScaleFrontendService.*, JSON
 * 1.1) for inference components (DesiredCopyCount) and endpoint variants
 * (DesiredInstanceCount): scalable targets with SuspendedState,
 * target-tracking and step scaling policies, scheduled actions, and
 * scaling activities (kept in the store). */
#ifndef BERTHD_AAS_H
#define BERTHD_AAS_H

#include "ctl.h"
#include "valid.h"

#define AAS_DIMENSION "sagemaker:inference-component:DesiredCopyCount"
#define AAS_VARIANT_DIMENSION "sagemaker:variant:DesiredInstanceCount"

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
 * metric's last datapoint, threshold the alarm's Threshold: StepAdjustments
 * bounds are relative to it): runs that step scaling policy. 0 when it ran
 * (or its cooldown, a suspension or the target's range held it), -1 when
 * policy_arn names no step policy. */
int aas_alarm_action(ctl *c, const char *policy_arn, const char *alarm_name, double value,
                     double threshold);
/* Once a second (autoscale.c's tick): scheduled actions that are due, and
 * variant targets' policies. */
void aas_tick(ctl *c);
/* Whether SuspendedState lets dynamic scaling move x from `from` to `to`
 * copies (scale-out or scale-in suspended). */
int aas_dynamic_allowed(const ic *x, int from, int to);
/* The instance count Application Auto Scaling wants for variant vi of ep,
 * or dflt when the variant has no scalable target (reconcile.c: the count
 * without managed instance scaling, the floor with it). */
int aas_variant_instances(ctl *c, const endpoint *ep, int vi, int dflt);
/* Frees variant targets and scheduled actions (shutdown). */
void aas_free(ctl *c);

#endif

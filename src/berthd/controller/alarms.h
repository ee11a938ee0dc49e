/* alarms: CloudWatch metric alarms (PutMetricAlarm, DescribeAlarms,
 * DeleteAlarms, SetAlarmState) on Berth's own metrics, kept in the store and
 * evaluated by the controller. An alarm's AlarmActions may name scaling
 * policies (aas_alarm_action runs them); rolling updates of inference
 * components roll back when one of their AutoRollbackConfiguration alarms
 * is in ALARM (alarms_in_alarm). */
#ifndef BERTHD_ALARMS_H
#define BERTHD_ALARMS_H

#include "ctl.h"
#include "valid.h"

/* The CloudWatch operations on alarms; 1 when op is not one of them. */
int alarms_call(ctl *c, const char *op, json_t *req, json_t **resp, api_error *e);
/* Loads stored alarms (at controller start). */
int alarms_load(ctl *c);
/* Evaluates every alarm against the metrics now (the controller calls it
 * once a second); runs the actions of alarms that are in ALARM. */
void alarms_evaluate(ctl *c);
/* 1 when the alarm named is in state ALARM, 0 when it is in another state,
 * -1 when there is no such alarm. */
int alarms_in_alarm(ctl *c, const char *name);
/* Whether the alarm is in ALARM or went there at or after since (ctl_now):
 * a rollout sees an ALARM that the next evaluation already ended
 * (c->alarm_fired). */
int alarms_fired(ctl *c, const char *name, double since);
/* Frees them (shutdown). */
void alarms_free(ctl *c);

#endif

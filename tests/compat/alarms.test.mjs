// CloudWatch metric alarms (PutMetricAlarm, DescribeAlarms, SetAlarmState,
// DeleteAlarms) with the REAL @aws-sdk/client-cloudwatch against a local
// berthd: an alarm on an inference component's Invocations (Sum, Period 10,
// >= 1) goes from INSUFFICIENT_DATA to ALARM under traffic and back to OK
// without it; SetAlarmState holds until the next evaluation changes it;
// DescribeAlarms filters by names, prefix, state and action prefix and pages;
// invalid requests come back as the SDK's error classes naming the field;
// DeleteAlarms; alarms survive a berthd restart. Steps share one daemon and
// run in order; read the first failure.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CloudWatchClient, DeleteAlarmsCommand, DescribeAlarmsCommand, InvalidFormatFault,
  InvalidNextToken, InvalidParameterCombinationException, InvalidParameterValueException,
  MissingRequiredParameterException, PutMetricAlarmCommand, ResourceNotFound,
  SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';

import {
  ApplicationAutoScalingClient, DescribeScalingActivitiesCommand, PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';

import { controlOk, invoke, rejection, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc } from '../lib/fixtures.mjs';

const STEP = { timeout: 120_000 };
const EP = 'al-ep';
const IC = 'al-ic';
const ALARM = 'al-invocations';
const SNS = 'arn:aws:sns:us-east-1:123456789012:berth-alarms';

let berthd;
let cw;

before(async () => {
  berthd = await startBerthd();
  cw = new CloudWatchClient(berthd.sdk());
});

after(async () => {
  cw?.destroy();
  await stopAll();
});

function alarmBody(extra = {}) {
  return {
    AlarmName: ALARM,
    AlarmDescription: 'any invocation of al-ic',
    Namespace: 'AWS/SageMaker',
    MetricName: 'Invocations',
    Dimensions: [{ Name: 'InferenceComponentName', Value: IC }],
    Statistic: 'Sum',
    Period: 10,
    EvaluationPeriods: 1,
    Threshold: 1,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    AlarmActions: [SNS],
    ...extra,
  };
}

async function describeOne(name = ALARM) {
  const out = await cw.send(new DescribeAlarmsCommand({ AlarmNames: [name] }));
  assert.equal(out.MetricAlarms.length, 1, `DescribeAlarms ${name}: ${JSON.stringify(out)}`);
  return out.MetricAlarms[0];
}

function waitState(state, what, timeoutMs = 45_000) {
  return waitFor(() => describeOne(), {
    timeoutMs, intervalMs: 500, what: `${ALARM} to be ${state} (${what})`,
    until: (a) => a.StateValue === state,
  });
}

// Steady traffic at ~5 requests/s until stopped.
function startTraffic() {
  let stop = false;
  let failures = 0;
  const done = (async () => {
    while (!stop) {
      const r = await invoke(berthd.runtimeUrl, EP, IC, { inputs: 'hi', parameters: { max_new_tokens: 1 } });
      if (r.status !== 200) failures++;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return async () => {
    stop = true;
    await done;
    return failures;
  };
}

test('PutMetricAlarm creates an alarm that DescribeAlarms shows in INSUFFICIENT_DATA', STEP, async () => {
  await deployEndpoint(berthd.controlUrl, EP);
  await deployIc(berthd.controlUrl, IC, EP, 'al');
  const before = Date.now();
  await cw.send(new PutMetricAlarmCommand(alarmBody()));
  const a = await describeOne();
  assert.equal(a.AlarmArn, `arn:aws:cloudwatch:us-east-1:${a.AlarmArn.split(':')[4]}:alarm:${ALARM}`);
  assert.match(a.AlarmArn.split(':')[4], /^\d{12}$/);
  assert.equal(a.StateValue, 'INSUFFICIENT_DATA');
  assert.equal(a.StateReason, 'Unchecked: Initial alarm creation');
  assert.ok(a.StateUpdatedTimestamp instanceof Date);
  assert.ok(a.AlarmConfigurationUpdatedTimestamp.getTime() >= before - 2000, 'configuration time is now');
  assert.equal(a.AlarmDescription, 'any invocation of al-ic');
  assert.equal(a.Namespace, 'AWS/SageMaker');
  assert.equal(a.MetricName, 'Invocations');
  assert.deepEqual(a.Dimensions, [{ Name: 'InferenceComponentName', Value: IC }]);
  assert.equal(a.Statistic, 'Sum');
  assert.equal(a.Period, 10);
  assert.equal(a.EvaluationPeriods, 1);
  assert.equal(a.Threshold, 1);
  assert.equal(a.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
  assert.equal(a.ActionsEnabled, true);
  assert.deepEqual(a.AlarmActions, [SNS]);
  assert.deepEqual(a.OKActions, []);
  assert.deepEqual(a.InsufficientDataActions, []);
  const all = await cw.send(new DescribeAlarmsCommand({}));
  assert.deepEqual(all.CompositeAlarms, []);
  assert.deepEqual(all.MetricAlarms.map((x) => x.AlarmName), [ALARM]);
});

test('invocations put it in ALARM; SetAlarmState OK holds until the next evaluation', STEP, async () => {
  const stopTraffic = startTraffic();
  try {
    const a = await waitState('ALARM', 'invocations reach the threshold');
    assert.match(a.StateReason, /^Threshold Crossed: 1 datapoint \[\d+\.\d+ \(\d\d\/\d\d\/\d\d \d\d:\d\d:\d\d\)\] was greater than or equal to the threshold \(1\.0\)\.$/, a.StateReason);
    const data = JSON.parse(a.StateReasonData);
    assert.equal(data.statistic, 'Sum');
    assert.equal(data.period, 10);
    assert.ok(data.recentDatapoints[0] >= 1, a.StateReasonData);

    await cw.send(new SetAlarmStateCommand({ AlarmName: ALARM, StateValue: 'OK', StateReason: 'manual check' }));
    const set = await describeOne();
    assert.equal(set.StateValue, 'OK', 'SetAlarmState shows at once');
    assert.equal(set.StateReason, 'manual check');
    // Traffic goes on: the next evaluation brings ALARM back.
    const back = await waitState('ALARM', 'the next evaluation after SetAlarmState OK', 30_000);
    assert.match(back.StateReason, /^Threshold Crossed/);
  } finally {
    assert.equal(await stopTraffic(), 0, 'every invocation answered 200');
  }
  const ok = await waitState('OK', 'traffic stopped: the Sum drops to 0');
  assert.match(ok.StateReason, /was not greater than or equal to the threshold \(1\.0\)\.$/, ok.StateReason);

  await cw.send(new SetAlarmStateCommand({ AlarmName: ALARM, StateValue: 'ALARM', StateReason: 'drill' }));
  const drill = await describeOne();
  assert.equal(drill.StateValue, 'ALARM', 'SetAlarmState shows at once');
  assert.equal(drill.StateReason, 'drill');
  await waitState('OK', 'the next evaluation after SetAlarmState ALARM', 30_000);
});

test('DescribeAlarms filters by names, prefix, state and actions, and pages', STEP, async () => {
  for (let i = 0; i < 5; i++) {
    await cw.send(new PutMetricAlarmCommand(alarmBody({
      AlarmName: `page-${i}`, AlarmDescription: undefined, MetricName: 'Invocation5XXErrors',
      Period: 60, EvaluationPeriods: 3, DatapointsToAlarm: 2, TreatMissingData: 'notBreaching',
      AlarmActions: [], OKActions: i === 3 ? [SNS] : [],
    })));
  }
  const names = [];
  let token;
  let pages = 0;
  do {
    const out = await cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'page-', MaxRecords: 2, NextToken: token }));
    assert.ok(out.MetricAlarms.length <= 2);
    names.push(...out.MetricAlarms.map((x) => x.AlarmName));
    token = out.NextToken;
    pages++;
  } while (token && pages < 10);
  assert.equal(pages, 3, 'five alarms, two a page');
  assert.deepEqual(names, ['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);

  const two = await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['page-4', 'page-1', 'no-such'] }));
  assert.deepEqual(two.MetricAlarms.map((x) => x.AlarmName), ['page-1', 'page-4']);
  const p1 = two.MetricAlarms[0];
  assert.equal(p1.DatapointsToAlarm, 2);
  assert.equal(p1.TreatMissingData, 'notBreaching');
  assert.equal(p1.AlarmDescription, undefined);

  // No 5XX errors and missing data not breaching: they are judged OK.
  await waitFor(() => cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'page-', StateValue: 'OK' })), {
    timeoutMs: 90_000, intervalMs: 1000, what: 'the page-* alarms to be evaluated OK',
    until: (out) => out.MetricAlarms.length === 5,
  });
  await cw.send(new SetAlarmStateCommand({ AlarmName: 'page-2', StateValue: 'ALARM', StateReason: 'filter test' }));
  const alarming = await cw.send(new DescribeAlarmsCommand({ StateValue: 'ALARM', AlarmNamePrefix: 'page-' }));
  assert.deepEqual(alarming.MetricAlarms.map((x) => x.AlarmName), ['page-2']);
  const byAction = await cw.send(new DescribeAlarmsCommand({ ActionPrefix: 'arn:aws:sns:' }));
  assert.deepEqual(byAction.MetricAlarms.map((x) => x.AlarmName).sort(), [ALARM, 'page-3']);
  const composite = await cw.send(new DescribeAlarmsCommand({ AlarmTypes: ['CompositeAlarm'] }));
  assert.deepEqual(composite.MetricAlarms, []);
});

test('invalid requests: the SDK error names the field', STEP, async () => {
  const put = (extra, what) => rejection(cw.send(new PutMetricAlarmCommand(alarmBody({ AlarmName: 'bad', ...extra }))), what);
  const cases = [
    [await put({ AlarmName: 'x'.repeat(256) }, 'long name'), InvalidParameterValueException, /AlarmName/],
    [await put({ Period: 15 }, 'Period 15'), InvalidParameterValueException, /Period/],
    [await put({ EvaluationPeriods: 0 }, 'EvaluationPeriods 0'), InvalidParameterValueException, /EvaluationPeriods/],
    [await put({ EvaluationPeriods: 2, DatapointsToAlarm: 3 }, 'M > N'), InvalidParameterValueException, /DatapointsToAlarm/],
    [await put({ Statistic: 'Median' }, 'Statistic'), InvalidParameterValueException, /Statistic/],
    [await put({ Statistic: undefined }, 'no statistic'), MissingRequiredParameterException, /Statistic/],
    [await put({ Statistic: undefined, ExtendedStatistic: 'p99' }, 'percentile'), InvalidParameterValueException, /ExtendedStatistic/],
    [await put({ ExtendedStatistic: 'p99' }, 'both set'), InvalidParameterCombinationException, /ExtendedStatistic/],
    [await put({ ComparisonOperator: 'Above' }, 'operator'), InvalidParameterValueException, /ComparisonOperator/],
    [await put({ TreatMissingData: 'zero' }, 'TreatMissingData'), InvalidParameterValueException, /TreatMissingData/],
    [await put({ Threshold: undefined }, 'no Threshold'), MissingRequiredParameterException, /Threshold/],
    [await put({ AlarmActions: Array.from({ length: 6 }, (_, i) => `${SNS}-${i}`) }, '6 actions'), InvalidParameterValueException, /AlarmActions/],
    [await put({ OKActions: ['not-an-arn'] }, 'bad ARN'), InvalidParameterValueException, /OKActions\.member\.1/],
    [await put({ Period: 600, EvaluationPeriods: 145 }, 'over a day'), InvalidParameterValueException, /EvaluationPeriods \* Period/],
    [await put({ Dimensions: [{ Name: 'A', Value: '1' }, { Name: 'A', Value: '2' }] }, 'duplicate dimension'), InvalidParameterValueException, /Dimensions/],
    [await rejection(cw.send(new SetAlarmStateCommand({ AlarmName: ALARM, StateValue: 'BROKEN', StateReason: 'x' })), 'state'),
      InvalidParameterValueException, /StateValue/],
    [await rejection(cw.send(new SetAlarmStateCommand({ AlarmName: ALARM, StateValue: 'OK', StateReason: 'x', StateReasonData: '{nope' })), 'data'),
      InvalidFormatFault, /StateReasonData/],
    [await rejection(cw.send(new SetAlarmStateCommand({ AlarmName: 'no-such', StateValue: 'OK', StateReason: 'x' })), 'unknown'),
      ResourceNotFound, /no-such/],
    [await rejection(cw.send(new DescribeAlarmsCommand({ AlarmNames: [ALARM], AlarmNamePrefix: 'al' })), 'names and prefix'),
      InvalidParameterCombinationException, /AlarmNamePrefix/],
    [await rejection(cw.send(new DescribeAlarmsCommand({ MaxRecords: 101 })), 'MaxRecords'), InvalidParameterValueException, /MaxRecords/],
    [await rejection(cw.send(new DescribeAlarmsCommand({ NextToken: 'garbage' })), 'token'), InvalidNextToken, /NextToken/],
    [await rejection(cw.send(new DeleteAlarmsCommand({})), 'no names'), MissingRequiredParameterException, /AlarmNames/],
  ];
  for (const [err, cls, field] of cases) {
    assert.ok(err instanceof cls, `${err.name} (wanted ${cls.name}): ${err.message}`);
    assert.match(err.message, field);
  }
  const missing = await rejection(cw.send(new SetAlarmStateCommand({ AlarmName: 'no-such', StateValue: 'OK', StateReason: 'x' })), 'unknown');
  assert.equal(missing.$metadata.httpStatusCode, 404);
  const none = await cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'bad' }));
  assert.deepEqual(none.MetricAlarms, [], 'no invalid request created an alarm');
});

test('DeleteAlarms deletes the named alarms and skips unknown names', STEP, async () => {
  await cw.send(new DeleteAlarmsCommand({ AlarmNames: ['page-0', 'page-1', 'no-such'] }));
  const out = await cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'page-' }));
  assert.deepEqual(out.MetricAlarms.map((x) => x.AlarmName), ['page-2', 'page-3', 'page-4']);
});

test('alarms survive a berthd restart', STEP, async () => {
  const beforeAll = (await cw.send(new DescribeAlarmsCommand({}))).MetricAlarms;
  assert.equal(beforeAll.length, 4);
  const dataDir = berthd.dataDir;
  await berthd.stop();
  cw.destroy();
  berthd = await startBerthd({ dataDir });
  cw = new CloudWatchClient(berthd.sdk());
  const afterAll = (await cw.send(new DescribeAlarmsCommand({}))).MetricAlarms;
  assert.deepEqual(afterAll.map((x) => x.AlarmName), beforeAll.map((x) => x.AlarmName));
  const strip = ({ StateValue, StateReason, StateReasonData, StateUpdatedTimestamp, StateTransitionedTimestamp, ...cfg }) => cfg;
  for (let i = 0; i < afterAll.length; i++) {
    assert.deepEqual(strip(afterAll[i]), strip(beforeAll[i]), `${afterAll[i].AlarmName} keeps its configuration`);
  }
  const page2 = afterAll.find((x) => x.AlarmName === 'page-2');
  // Its state was ALARM (SetAlarmState) unless an evaluation came first.
  assert.ok(['ALARM', 'OK'].includes(page2.StateValue), page2.StateValue);
  // And it is evaluated again after the restart.
  await waitFor(() => describeOne('page-2'), {
    timeoutMs: 90_000, intervalMs: 1000, what: 'page-2 to be evaluated OK after the restart',
    until: (a) => a.StateValue === 'OK',
  });
});

test('an alarm whose AlarmActions names a step scaling policy runs it', STEP, async () => {
  const aas = new ApplicationAutoScalingClient(berthd.sdk());
  try {
    const target = { ServiceNamespace: 'sagemaker', ResourceId: `inference-component/${IC}`,
      ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount' };
    await aas.send(new RegisterScalableTargetCommand({ ...target, MinCapacity: 1, MaxCapacity: 3 }));
    const { PolicyARN } = await aas.send(new PutScalingPolicyCommand({
      ...target, PolicyName: 'al-step-out', PolicyType: 'StepScaling',
      StepScalingPolicyConfiguration: {
        AdjustmentType: 'ChangeInCapacity', Cooldown: 0,
        StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }],
      },
    }));
    assert.match(PolicyARN ?? '', /^arn:aws:autoscaling:/);
    // A metric that never breaches: only SetAlarmState puts it in ALARM.
    await cw.send(new PutMetricAlarmCommand(alarmBody({
      AlarmName: 'al-step', MetricName: 'Invocation5XXErrors', Threshold: 1000, Period: 60,
      TreatMissingData: 'notBreaching', AlarmActions: [PolicyARN],
    })));
    const copies = async () => (await controlOk(berthd.controlUrl, 'DescribeInferenceComponent',
      { InferenceComponentName: IC })).RuntimeConfig.DesiredCopyCount;
    assert.equal(await copies(), 1);
    await cw.send(new SetAlarmStateCommand({ AlarmName: 'al-step', StateValue: 'ALARM', StateReason: 'test: scale out' }));
    await waitFor(copies, { timeoutMs: 30_000, intervalMs: 250, what: 'the step policy to add a copy', until: (n) => n >= 2 });
    const acts = await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: target.ResourceId }));
    assert.ok(acts.ScalingActivities.some((a) => /al-step/.test(`${a.Cause} ${a.Description}`)),
      `an activity names the alarm: ${JSON.stringify(acts.ScalingActivities.map((a) => a.Cause))}`);
  } finally {
    aas.destroy();
  }
});

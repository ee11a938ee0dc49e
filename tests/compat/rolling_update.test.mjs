// UpdateInferenceComponent with the REAL AWS SDKs: rolling deployments of a
// new Specification under steady load, automatic rollback when the new copies
// never become healthy and when a named CloudWatch alarm goes to ALARM, and
// the validation of DeploymentConfig.  Every invocation sent during the
// updates must succeed.  Steps share one daemon and run in order.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  CreateEndpointCommand, CreateEndpointConfigCommand, CreateInferenceComponentCommand,
  DeleteInferenceComponentCommand, DescribeEndpointCommand, DescribeInferenceComponentCommand,
  SageMakerClient,
  UpdateInferenceComponentCommand,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';

import { childrenRunning, modelContainer, rejection, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { steadyLoad } from '../lib/fixtures.mjs';

const STEP = { timeout: 240_000 };
const EP = 'roll-ep';
const IC = 'roll-ic';
const ALARM = 'roll-guard';
const CRR = { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 256 };

let berthd;
let sm;
let rt;
let cw;

before(async () => {
  berthd = await startBerthd();
  const opts = { region: 'us-east-1', credentials: berthd.credentials };
  sm = new SageMakerClient({ endpoint: berthd.controlUrl, ...opts });
  rt = new SageMakerRuntimeClient({ endpoint: berthd.runtimeUrl, ...opts });
  cw = new CloudWatchClient({ endpoint: berthd.controlUrl, ...opts });
});

after(async () => {
  sm?.destroy();
  rt?.destroy();
  cw?.destroy();
  await stopAll();
});

const describeIc = () => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: IC }));

const load = () => steadyLoad(rt, InvokeEndpointCommand, { EndpointName: EP, InferenceComponentName: IC });

function waitSettled(what, until) {
  return waitFor(describeIc, {
    timeoutMs: 180_000, intervalMs: 300, what,
    until: (d) => d.InferenceComponentStatus === 'InService' && until(d),
    failIf: (d) => (d.InferenceComponentStatus === 'Failed' ? `Failed: ${d.FailureReason}` : null),
  });
}

const update = (modelId, env, deploymentConfig) => sm.send(new UpdateInferenceComponentCommand({
  InferenceComponentName: IC,
  Specification: { Container: modelContainer(modelId, env), ComputeResourceRequirements: CRR },
  DeploymentConfig: deploymentConfig,
}));

const policy = (extra = {}) => ({
  RollingUpdatePolicy: {
    MaximumBatchSize: { Type: 'COPY_COUNT', Value: 1 }, WaitIntervalInSeconds: 1,
    MaximumExecutionTimeoutInSeconds: 600, ...extra,
  },
});

test('an endpoint with a two-copy IC serving model v1', STEP, async () => {
  await sm.send(new CreateEndpointConfigCommand({
    EndpointConfigName: `${EP}-config`,
    ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.m5.xlarge', InitialInstanceCount: 1 }],
  }));
  await sm.send(new CreateEndpointCommand({ EndpointName: EP, EndpointConfigName: `${EP}-config` }));
  await waitFor(() => sm.send(new DescribeEndpointCommand({ EndpointName: EP })), {
    timeoutMs: 120_000, what: 'endpoint InService', until: (d) => d.EndpointStatus === 'InService',
  });
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: IC, EndpointName: EP, VariantName: 'AllTraffic',
    Specification: { Container: modelContainer('v1'), ComputeResourceRequirements: CRR },
    RuntimeConfig: { CopyCount: 2 },
  }));
  await waitSettled('IC InService with 2 copies', (d) => d.RuntimeConfig?.CurrentCopyCount === 2);
});

test('invalid DeploymentConfig is refused naming the field', STEP, async () => {
  const cases = [
    [{ RollingUpdatePolicy: { WaitIntervalInSeconds: 1 } }, 'DeploymentConfig.RollingUpdatePolicy.MaximumBatchSize'],
    [policy({ MaximumBatchSize: { Type: 'HALF', Value: 1 } }), 'DeploymentConfig.RollingUpdatePolicy.MaximumBatchSize.Type'],
    [policy({ MaximumBatchSize: { Type: 'COPY_COUNT', Value: 0 } }), 'DeploymentConfig.RollingUpdatePolicy.MaximumBatchSize.Value'],
    [policy({ WaitIntervalInSeconds: 3601 }), 'DeploymentConfig.RollingUpdatePolicy.WaitIntervalInSeconds'],
    [policy({ MaximumExecutionTimeoutInSeconds: 10 }), 'DeploymentConfig.RollingUpdatePolicy.MaximumExecutionTimeoutInSeconds'],
    [policy({ RollbackMaximumBatchSize: { Type: 'CAPACITY_PERCENT', Value: 101 } }), 'DeploymentConfig.RollingUpdatePolicy.RollbackMaximumBatchSize.Value'],
    [{ ...policy(), AutoRollbackConfiguration: { Alarms: [] } }, 'DeploymentConfig.AutoRollbackConfiguration.Alarms'],
  ];
  for (const [dc, field] of cases) {
    const err = await rejection(update('bad', {}, dc), field);
    assert.equal(err.name, 'ValidationException', `${field}: ${err.name} ${err.message}`);
    assert.ok(err.message.includes(`'${field}'`), `${field} not named in: ${err.message}`);
  }
  const none = await rejection(sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: IC })), 'empty update');
  assert.equal(none.name, 'ValidationException');
  const missing = await rejection(sm.send(new UpdateInferenceComponentCommand({
    InferenceComponentName: 'no-such-ic', RuntimeConfig: { CopyCount: 1 },
  })), 'unknown IC');
  assert.match(missing.message, /Could not find inference component/);
  const d = await describeIc();
  assert.equal(d.Specification.Container.Environment.BERTH_MODEL_ID, 'v1', 'a refused update changed nothing');
});

test('a rolling update to v2 under load: zero failures, answers switch to v2', STEP, async () => {
  const traffic = load();
  await waitFor(async () => traffic.answers.length, { timeoutMs: 30_000, what: 'traffic flowing', until: (n) => n >= 20 });
  const out = await update('v2', {}, policy());
  assert.match(out.InferenceComponentArn ?? '', /:inference-component\/roll-ic$/);
  const during = await describeIc();
  assert.equal(during.InferenceComponentStatus, 'Updating');
  const again = await rejection(update('v9', {}, policy()), 'second update while one runs');
  assert.equal(again.name, 'ValidationException');
  assert.match(again.message, /in-progress/);
  const d = await waitSettled('IC InService at v2', (x) => x.Specification?.Container?.Environment?.BERTH_MODEL_ID === 'v2'
    && x.RuntimeConfig?.CurrentCopyCount === 2);
  const mark = traffic.answers.length;
  await waitFor(async () => traffic.answers.length, { timeoutMs: 30_000, what: 'traffic after the update', until: (n) => n >= mark + 40 });
  const { answers, failures, rate } = await traffic.stop();
  assert.deepEqual(failures, [], `failed invocations during the rollout: ${failures.slice(0, 5).join(' | ')}`);
  assert.ok(rate >= 20, `load was ${rate.toFixed(1)} requests/s, below 20`);
  assert.equal(answers[0], 'v1');
  assert.ok(answers.slice(mark).every((m) => m === 'v2'), `answers after the update: ${[...new Set(answers.slice(mark))]}`);
  assert.equal(d.LastDeploymentConfig?.RollingUpdatePolicy?.MaximumBatchSize?.Type, 'COPY_COUNT');
  assert.equal(d.LastDeploymentConfig?.RollingUpdatePolicy?.WaitIntervalInSeconds, 1);
  assert.equal(d.FailureReason, undefined);
});

test('an update whose copies never become healthy rolls back by itself', STEP, async () => {
  const traffic = load();
  await waitFor(async () => traffic.answers.length, { timeoutMs: 30_000, what: 'traffic flowing', until: (n) => n >= 20 });
  await update('v3', { BERTH_MODEL_EXIT_AT_START: '3' }, policy());
  const d = await waitSettled('IC rolled back to v2', (x) => x.Specification?.Container?.Environment?.BERTH_MODEL_ID === 'v2'
    && x.RuntimeConfig?.CurrentCopyCount === 2);
  const { answers, failures } = await traffic.stop();
  assert.deepEqual(failures, [], `failed invocations: ${failures.slice(0, 5).join(' | ')}`);
  assert.ok(answers.every((m) => m === 'v2'), `models answering: ${[...new Set(answers)]}`);
  assert.match(d.FailureReason ?? '', /rolled back/i, `FailureReason: ${d.FailureReason}`);
  assert.match(d.FailureReason ?? '', /failed to start/, `FailureReason: ${d.FailureReason}`);
});

test('an alarm set to ALARM mid-rollout rolls it back', STEP, async () => {
  await cw.send(new PutMetricAlarmCommand({
    AlarmName: ALARM, Namespace: 'AWS/SageMaker', MetricName: 'Invocation5XXErrors', Statistic: 'Sum',
    Dimensions: [{ Name: 'InferenceComponentName', Value: IC }], Period: 60, EvaluationPeriods: 1,
    Threshold: 1000, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching',
  }));
  const traffic = load();
  await waitFor(async () => traffic.answers.length, { timeoutMs: 30_000, what: 'traffic flowing', until: (n) => n >= 20 });
  // A long bake: the first v4 copy serves, then waits for the alarm.
  await update('v4', {}, { ...policy({ WaitIntervalInSeconds: 120 }), AutoRollbackConfiguration: { Alarms: [{ AlarmName: ALARM }] } });
  await waitFor(async () => traffic.answers.slice(-50), {
    timeoutMs: 120_000, intervalMs: 200, what: 'a v4 copy serving', until: (a) => a.includes('v4'),
  });
  await cw.send(new SetAlarmStateCommand({ AlarmName: ALARM, StateValue: 'ALARM', StateReason: 'test: error rate' }));
  const d = await waitSettled('IC rolled back to v2', (x) => x.Specification?.Container?.Environment?.BERTH_MODEL_ID === 'v2'
    && x.RuntimeConfig?.CurrentCopyCount === 2);
  const mark = traffic.answers.length;
  await waitFor(async () => traffic.answers.length, { timeoutMs: 30_000, what: 'traffic after the rollback', until: (n) => n >= mark + 40 });
  const { answers, failures } = await traffic.stop();
  assert.deepEqual(failures, [], `failed invocations: ${failures.slice(0, 5).join(' | ')}`);
  assert.ok(answers.slice(mark).every((m) => m === 'v2'), `answers after the rollback: ${[...new Set(answers.slice(mark))]}`);
  assert.match(d.FailureReason ?? '', new RegExp(`alarm "${ALARM}"`), `FailureReason: ${d.FailureReason}`);
  assert.equal(d.LastDeploymentConfig?.AutoRollbackConfiguration?.Alarms?.[0]?.AlarmName, ALARM);
});

test('a controller killed mid-rollout comes back and finishes it', STEP, async () => {
  const traffic = load();
  await waitFor(async () => traffic.answers.length, { timeoutMs: 30_000, what: 'traffic flowing', until: (n) => n >= 20 });
  await update('v5', {}, policy({ WaitIntervalInSeconds: 3 }));
  await waitFor(async () => traffic.answers.slice(-50), {
    timeoutMs: 120_000, intervalMs: 100, what: 'a v5 copy serving', until: (a) => a.includes('v5'),
  });
  const [first] = childrenRunning(berthd.proc.pid);
  assert.ok(first, 'no controller process');
  process.kill(first, 'SIGKILL');
  await waitFor(() => childrenRunning(berthd.proc.pid).find((p) => p !== first), {
    timeoutMs: 15_000, intervalMs: 100, what: 'a new controller',
  });
  const d = await waitFor(describeIc, {
    timeoutMs: 180_000, intervalMs: 300, ignoreErrors: true, what: 'IC InService at v5 after the restart',
    until: (x) => x.InferenceComponentStatus === 'InService' && x.Specification?.Container?.Environment?.BERTH_MODEL_ID === 'v5'
      && x.RuntimeConfig?.CurrentCopyCount === 2,
  });
  const mark = traffic.answers.length;
  await waitFor(async () => traffic.answers.length, { timeoutMs: 30_000, what: 'traffic after the restart', until: (n) => n >= mark + 40 });
  const { answers, failures } = await traffic.stop();
  assert.deepEqual(failures, [], `failed invocations: ${failures.slice(0, 5).join(' | ')}`);
  assert.ok(answers.slice(mark).every((m) => m === 'v5'), `answers after: ${[...new Set(answers.slice(mark))]}`);
  assert.equal(d.FailureReason, undefined, `FailureReason: ${d.FailureReason}`);
  assert.equal(d.LastDeploymentConfig?.RollingUpdatePolicy?.WaitIntervalInSeconds, 3);
});

test('with no room beside the old copies, the batch shrinks: an old copy drains first', STEP, async () => {
  // Another IC takes the instance's other two cores; no managed scaling.
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: 'roll-fill', EndpointName: EP, VariantName: 'AllTraffic',
    Specification: { Container: modelContainer('fill'), ComputeResourceRequirements: CRR },
    RuntimeConfig: { CopyCount: 2 },
  }));
  await waitFor(() => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'roll-fill' })), {
    timeoutMs: 120_000, what: 'roll-fill InService', until: (d) => d.InferenceComponentStatus === 'InService',
  });
  const traffic = load();
  await waitFor(async () => traffic.answers.length, { timeoutMs: 30_000, what: 'traffic flowing', until: (n) => n >= 20 });
  await update('v6', {}, policy());
  const d = await waitSettled('IC InService at v6', (x) => x.Specification?.Container?.Environment?.BERTH_MODEL_ID === 'v6'
    && x.RuntimeConfig?.CurrentCopyCount === 2);
  const mark = traffic.answers.length;
  await waitFor(async () => traffic.answers.length, { timeoutMs: 30_000, what: 'traffic after', until: (n) => n >= mark + 40 });
  const { answers, failures } = await traffic.stop();
  assert.deepEqual(failures, [], `failed invocations: ${failures.slice(0, 5).join(' | ')}`);
  assert.ok(answers.slice(mark).every((m) => m === 'v6'), `answers after: ${[...new Set(answers.slice(mark))]}`);
  assert.equal(d.FailureReason, undefined, `FailureReason: ${d.FailureReason}`);
  await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'roll-fill' }));
});

test('an update without DeploymentConfig rolls one copy at a time by the default policy', STEP, async () => {
  const traffic = load();
  await waitFor(async () => traffic.answers.length, { timeoutMs: 30_000, what: 'traffic flowing', until: (n) => n >= 20 });
  await update('v7', {}, undefined);
  const d = await waitSettled('IC InService at v7', (x) => x.Specification?.Container?.Environment?.BERTH_MODEL_ID === 'v7'
    && x.RuntimeConfig?.CurrentCopyCount === 2);
  const { failures } = await traffic.stop();
  assert.deepEqual(failures, [], `failed invocations: ${failures.slice(0, 5).join(' | ')}`);
  const rup = d.LastDeploymentConfig?.RollingUpdatePolicy;
  assert.deepEqual(rup?.MaximumBatchSize, { Type: 'COPY_COUNT', Value: 1 }, JSON.stringify(d.LastDeploymentConfig));
  assert.equal(rup?.WaitIntervalInSeconds, 0);
  assert.equal(rup?.MaximumExecutionTimeoutInSeconds, 28800);
});

test('RuntimeConfig alone changes the copy count without a rollout', STEP, async () => {
  await sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: IC, RuntimeConfig: { CopyCount: 1 } }));
  const d = await waitSettled('IC at 1 copy', (x) => x.RuntimeConfig?.CurrentCopyCount === 1 && x.RuntimeConfig?.DesiredCopyCount === 1);
  assert.equal(d.Specification.Container.Environment.BERTH_MODEL_ID, 'v7');
});

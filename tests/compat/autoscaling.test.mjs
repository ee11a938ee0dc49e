// Compatibility of Berth's Application Auto Scaling API with the REAL AWS SDK
// for JavaScript v3 (@aws-sdk/client-application-auto-scaling) pointed at a
// local berthd's control URL: register a scalable target for an inference
// component, put a target-tracking and a step-scaling policy, read them back,
// see the SDK surface ValidationException and ObjectNotFoundException, drive a
// scale change through the target's range and read the scaling activity, then
// delete everything again.  The endpoint and IC are set up with the SageMaker
// SDK client.  Steps share one daemon and run in order; read the first failure.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  ApplicationAutoScalingClient, DeleteScalingPolicyCommand, DeregisterScalableTargetCommand,
  DescribeScalableTargetsCommand, DescribeScalingActivitiesCommand, DescribeScalingPoliciesCommand,
  ObjectNotFoundException, PutScalingPolicyCommand, RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import {
  CreateEndpointCommand, CreateEndpointConfigCommand, CreateInferenceComponentCommand,
  DescribeEndpointCommand, DescribeInferenceComponentCommand, SageMakerClient,
} from '@aws-sdk/client-sagemaker';

import { control, modelContainer, rejection, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';

const STEP = { timeout: 240_000 };
const EP = 'aas-ep';
const IC = 'aas-ic';
const NS = 'sagemaker';
const RID = `inference-component/${IC}`;
const DIM = 'sagemaker:inference-component:DesiredCopyCount';
const TT_POLICY = 'tt-invocations';
const STEP_POLICY = 'step-from-zero';

// Signed with the admin key berthd wrote to its data dir (berthd.credentials).
let credentials;

let berthd;
let sm;
let aas;

before(async () => {
  berthd = await startBerthd();
  credentials = berthd.credentials;
  sm = new SageMakerClient({ endpoint: berthd.controlUrl, region: 'us-east-1', credentials });
  aas = new ApplicationAutoScalingClient({ endpoint: berthd.controlUrl, region: 'us-east-1', credentials });
});

after(async () => {
  sm?.destroy();
  aas?.destroy();
  await stopAll();
});

function describeIc() {
  return sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: IC }));
}

function waitIc(copies) {
  return waitFor(describeIc, {
    timeoutMs: 180_000, intervalMs: 500,
    what: `${IC} InService with CurrentCopyCount ${copies}`,
    until: (d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === copies,
    failIf: (d) => (d.InferenceComponentStatus === 'Failed' ? `Failed: ${d.FailureReason}` : null),
  });
}

test('set up an endpoint and an inference component with the SageMaker SDK', STEP, async () => {
  await sm.send(new CreateEndpointConfigCommand({
    EndpointConfigName: `${EP}-config`,
    ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.m5.xlarge', InitialInstanceCount: 1 }],
  }));
  await sm.send(new CreateEndpointCommand({ EndpointName: EP, EndpointConfigName: `${EP}-config` }));
  await waitFor(() => sm.send(new DescribeEndpointCommand({ EndpointName: EP })), {
    timeoutMs: 180_000, intervalMs: 500, what: `${EP} InService`,
    until: (x) => x.EndpointStatus === 'InService',
    failIf: (x) => (x.EndpointStatus === 'Failed' ? `Failed: ${x.FailureReason}` : null),
  });
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: IC,
    EndpointName: EP,
    VariantName: 'AllTraffic',
    Specification: {
      Container: modelContainer('eu'),
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 0.5, MinMemoryRequiredInMb: 256 },
    },
    RuntimeConfig: { CopyCount: 1 },
  }));
  await waitIc(1);
});

test('RegisterScalableTarget with MinCapacity 0, DescribeScalableTargets returns it', STEP, async () => {
  const out = await aas.send(new RegisterScalableTargetCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, MinCapacity: 0, MaxCapacity: 2,
  }));
  assert.equal(out.$metadata.httpStatusCode, 200);
  assert.ok(typeof out.ScalableTargetARN === 'string' && out.ScalableTargetARN.length > 0,
    `ScalableTargetARN: ${out.ScalableTargetARN}`);

  const d = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: NS, ResourceIds: [RID] }));
  assert.equal(d.ScalableTargets?.length, 1, JSON.stringify(d.ScalableTargets));
  const t = d.ScalableTargets[0];
  assert.equal(t.ServiceNamespace, NS);
  assert.equal(t.ResourceId, RID);
  assert.equal(t.ScalableDimension, DIM);
  assert.equal(t.MinCapacity, 0);
  assert.equal(t.MaxCapacity, 2);
  assert.equal(t.ScalableTargetARN, out.ScalableTargetARN);
  assert.ok(t.CreationTime instanceof Date && !Number.isNaN(t.CreationTime.getTime()), `CreationTime: ${t.CreationTime}`);
  assert.ok(Math.abs(Date.now() - t.CreationTime.getTime()) < 10 * 60_000, `CreationTime not recent: ${t.CreationTime.toISOString()}`);

  // Without a filter the namespace's targets are listed too.
  const all = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: NS }));
  assert.ok(all.ScalableTargets?.some((x) => x.ResourceId === RID), JSON.stringify(all.ScalableTargets));

  // Registering did not change the copy count (1 lies in 0..2).
  const ic = await describeIc();
  assert.equal(ic.RuntimeConfig?.DesiredCopyCount, 1, JSON.stringify(ic.RuntimeConfig));
});

test('PutScalingPolicy: target tracking (the documented example) and step scaling', STEP, async () => {
  const tt = await aas.send(new PutScalingPolicyCommand({
    PolicyName: TT_POLICY,
    ServiceNamespace: NS,
    ResourceId: RID,
    ScalableDimension: DIM,
    PolicyType: 'TargetTrackingScaling',
    TargetTrackingScalingPolicyConfiguration: {
      TargetValue: 5,
      PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentInvocationsPerCopy' },
      ScaleOutCooldown: 60,
      ScaleInCooldown: 300,
    },
  }));
  assert.equal(tt.$metadata.httpStatusCode, 200);
  assert.ok(typeof tt.PolicyARN === 'string' && tt.PolicyARN.includes(TT_POLICY), `PolicyARN: ${tt.PolicyARN}`);
  assert.ok(Array.isArray(tt.Alarms), `Alarms: ${JSON.stringify(tt.Alarms)}`);

  const st = await aas.send(new PutScalingPolicyCommand({
    PolicyName: STEP_POLICY,
    ServiceNamespace: NS,
    ResourceId: RID,
    ScalableDimension: DIM,
    PolicyType: 'StepScaling',
    StepScalingPolicyConfiguration: {
      AdjustmentType: 'ChangeInCapacity',
      MetricAggregationType: 'Maximum',
      Cooldown: 60,
      StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }],
    },
  }));
  assert.equal(st.$metadata.httpStatusCode, 200);
  assert.ok(typeof st.PolicyARN === 'string' && st.PolicyARN.includes(STEP_POLICY), `PolicyARN: ${st.PolicyARN}`);
  assert.notEqual(st.PolicyARN, tt.PolicyARN);
});

test('DescribeScalingPolicies lists both policies with their configuration', STEP, async () => {
  const d = await aas.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: NS, ResourceId: RID }));
  const byName = Object.fromEntries((d.ScalingPolicies ?? []).map((p) => [p.PolicyName, p]));
  assert.deepEqual(Object.keys(byName).sort(), [STEP_POLICY, TT_POLICY].sort(), JSON.stringify(d.ScalingPolicies));

  const tt = byName[TT_POLICY];
  assert.equal(tt.PolicyType, 'TargetTrackingScaling');
  assert.equal(tt.ResourceId, RID);
  assert.equal(tt.ScalableDimension, DIM);
  assert.equal(tt.ServiceNamespace, NS);
  assert.ok(tt.CreationTime instanceof Date && !Number.isNaN(tt.CreationTime.getTime()), `CreationTime: ${tt.CreationTime}`);
  const ttc = tt.TargetTrackingScalingPolicyConfiguration;
  assert.equal(ttc?.TargetValue, 5, JSON.stringify(ttc));
  assert.equal(ttc.PredefinedMetricSpecification?.PredefinedMetricType, 'SageMakerInferenceComponentInvocationsPerCopy');
  assert.equal(ttc.ScaleOutCooldown, 60);
  assert.equal(ttc.ScaleInCooldown, 300);

  const st = byName[STEP_POLICY];
  assert.equal(st.PolicyType, 'StepScaling');
  const ssc = st.StepScalingPolicyConfiguration;
  assert.equal(ssc?.AdjustmentType, 'ChangeInCapacity', JSON.stringify(ssc));
  assert.equal(ssc.Cooldown, 60);
  assert.deepEqual(ssc.StepAdjustments, [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }]);

  // PolicyNames narrows the list.
  const one = await aas.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: NS, PolicyNames: [STEP_POLICY] }));
  assert.deepEqual((one.ScalingPolicies ?? []).map((p) => p.PolicyName), [STEP_POLICY]);
});

test('the SDK surfaces ValidationException and ObjectNotFoundException', STEP, async () => {
  // A ResourceId that is not inference-component/<name>.
  let err = await rejection(aas.send(new RegisterScalableTargetCommand({
    ServiceNamespace: NS, ResourceId: `endpoint/${EP}/variant/AllTraffic`, ScalableDimension: DIM,
    MinCapacity: 1, MaxCapacity: 2,
  })), 'RegisterScalableTarget with an endpoint ResourceId');
  assert.equal(err.name, 'ValidationException', `${err.name}: ${err.message}`);
  assert.equal(err.$metadata?.httpStatusCode, 400);
  assert.ok(err.message && err.message !== 'UnknownError', `message: ${err.message}`);

  // An inference component that does not exist.
  err = await rejection(aas.send(new RegisterScalableTargetCommand({
    ServiceNamespace: NS, ResourceId: 'inference-component/no-such-ic', ScalableDimension: DIM,
    MinCapacity: 1, MaxCapacity: 2,
  })), 'RegisterScalableTarget of an unknown IC');
  assert.equal(err.name, 'ValidationException', `${err.name}: ${err.message}`);

  // MinCapacity above MaxCapacity.
  err = await rejection(aas.send(new RegisterScalableTargetCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, MinCapacity: 3, MaxCapacity: 2,
  })), 'RegisterScalableTarget with MinCapacity > MaxCapacity');
  assert.equal(err.name, 'ValidationException', `${err.name}: ${err.message}`);

  // Deleting a policy that does not exist: modeled ObjectNotFoundException.
  err = await rejection(aas.send(new DeleteScalingPolicyCommand({
    PolicyName: 'no-such-policy', ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM,
  })), 'DeleteScalingPolicy of a missing policy');
  assert.equal(err.name, 'ObjectNotFoundException', `${err.name}: ${err.message}`);
  assert.ok(err instanceof ObjectNotFoundException, `not an ObjectNotFoundException instance: ${err.constructor?.name}`);
  assert.equal(err.$metadata?.httpStatusCode, 400);

  // The failed register calls left the target as it was.
  const d = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: NS, ResourceIds: [RID] }));
  assert.deepEqual(d.ScalableTargets?.map((t) => [t.MinCapacity, t.MaxCapacity]), [[0, 2]]);
});

// The BerthLatencySlo extension is not in the SDK's model (it drops unknown
// members), so these calls are signed by hand, as the wire sees them.
test('BerthLatencySlo: a valid one is kept, a bad one is refused naming the field, the value and the rule', STEP, async () => {
  const put = (slo, name = 'slo-policy') => control(berthd.controlUrl, null, {
    PolicyName: name, ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM,
    PolicyType: 'TargetTrackingScaling',
    TargetTrackingScalingPolicyConfiguration: {
      PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution' },
      BerthLatencySlo: slo,
    },
  }, { target: 'AnyScaleFrontendService.PutScalingPolicy' });
  const bad = [
    [{ Percentile: 99 }, 'BerthLatencySlo.LatencySeconds', null, /must not be null/],
    [{ LatencySeconds: 0 }, 'BerthLatencySlo.LatencySeconds', '0', /greater than or equal to 0\.001/],
    [{ LatencySeconds: 'fast' }, 'BerthLatencySlo.LatencySeconds', 'fast', /must be a number/],
    [{ LatencySeconds: 2, Percentile: 100 }, 'BerthLatencySlo.Percentile', '100', /less than or equal to 99\.99/],
    [{ LatencySeconds: 2, Percentile: 10 }, 'BerthLatencySlo.Percentile', '10', /greater than or equal to 50/],
    [{ LatencySeconds: 2, MaxConcurrencyPerCopy: 0 }, 'BerthLatencySlo.MaxConcurrencyPerCopy', '0', /greater than or equal to 1/],
    [{ LatencySeconds: 2, MaxConcurrencyPerCopy: 1.5 }, 'BerthLatencySlo.MaxConcurrencyPerCopy', '1.5', /whole number/],
    [{ LatencySeconds: 2, BatchSlowdown: 1 }, 'BerthLatencySlo.BatchSlowdown', '1', /less than or equal to 0\.99/],
    ['p99 under 2 s', 'TargetTrackingScalingPolicyConfiguration.BerthLatencySlo', 'p99 under 2 s', /must be a structure/],
  ];
  for (const [slo, field, value, rule] of bad) {
    const r = await put(slo, 'slo-bad');
    assert.equal(r.status, 400, `${JSON.stringify(slo)}: ${r.text}`);
    assert.equal(r.json.__type, 'ValidationException', r.text);
    assert.ok(r.json.message.includes(field), `${JSON.stringify(slo)} names ${field}: ${r.json.message}`);
    if (value !== null) assert.ok(r.json.message.includes(value), `names the value ${value}: ${r.json.message}`);
    assert.match(r.json.message, rule);
  }
  const listed = await aas.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: NS, PolicyNames: ['slo-bad'] }));
  assert.deepEqual(listed.ScalingPolicies ?? [], [], 'a refused policy is not stored');
  // Valid (TargetValue may be left out: the SLO stands instead of it).
  const ok = await put({ LatencySeconds: 2.5, Percentile: 99.5, MaxConcurrencyPerCopy: 4, BatchSlowdown: 0.05 });
  assert.equal(ok.status, 200, ok.text);
  const raw = await control(berthd.controlUrl, null, { ServiceNamespace: NS, PolicyNames: ['slo-policy'] },
    { target: 'AnyScaleFrontendService.DescribeScalingPolicies' });
  assert.equal(raw.status, 200, raw.text);
  assert.deepEqual(raw.json.ScalingPolicies[0].TargetTrackingScalingPolicyConfiguration.BerthLatencySlo,
    { LatencySeconds: 2.5, Percentile: 99.5, MaxConcurrencyPerCopy: 4, BatchSlowdown: 0.05 });
  const del = await aas.send(new DeleteScalingPolicyCommand({
    PolicyName: 'slo-policy', ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM,
  }));
  assert.equal(del.$metadata.httpStatusCode, 200);
});

test('raising MinCapacity above the copy count scales out and records an activity', STEP, async () => {
  const before = await describeIc();
  assert.equal(before.RuntimeConfig?.DesiredCopyCount, 1, JSON.stringify(before.RuntimeConfig));
  const t0 = Date.now();
  await aas.send(new RegisterScalableTargetCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, MinCapacity: 2, MaxCapacity: 2,
  }));
  const desired = await waitFor(describeIc, {
    timeoutMs: 15_000, intervalMs: 200, what: `${IC} DesiredCopyCount 2 after MinCapacity 2`,
    until: (d) => d.RuntimeConfig?.DesiredCopyCount === 2,
  });
  assert.equal(desired.RuntimeConfig.DesiredCopyCount, 2);
  await waitIc(2);
  process.stderr.write(`autoscaling compat: MinCapacity 2 -> CurrentCopyCount 2 after ${Date.now() - t0} ms\n`);

  const acts = await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: NS, ResourceId: RID }));
  const list = acts.ScalingActivities ?? [];
  assert.ok(list.length >= 1, `no scaling activities: ${JSON.stringify(acts)}`);
  const a = list.find((x) => x.StatusCode === 'Successful');
  assert.ok(a, `no Successful activity: ${JSON.stringify(list)}`);
  assert.equal(a.ResourceId, RID);
  assert.equal(a.ServiceNamespace, NS);
  assert.equal(a.ScalableDimension, DIM);
  assert.ok(typeof a.ActivityId === 'string' && a.ActivityId.length > 0, `ActivityId: ${a.ActivityId}`);
  assert.ok(typeof a.Cause === 'string' && a.Cause.length > 0, `Cause: ${a.Cause}`);
  assert.ok(typeof a.Description === 'string' && /2/.test(a.Description), `Description: ${a.Description}`);
  assert.ok(a.StartTime instanceof Date && !Number.isNaN(a.StartTime.getTime()), `StartTime: ${a.StartTime}`);
  assert.ok(a.StartTime.getTime() >= t0 - 5000, `StartTime ${a.StartTime.toISOString()} before the change`);
  process.stderr.write(`autoscaling compat: activity ${JSON.stringify(a)}\n`);
});

test('DeleteScalingPolicy and DeregisterScalableTarget remove them', STEP, async () => {
  for (const name of [TT_POLICY, STEP_POLICY]) {
    const out = await aas.send(new DeleteScalingPolicyCommand({
      PolicyName: name, ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM,
    }));
    assert.equal(out.$metadata.httpStatusCode, 200);
  }
  const p = await aas.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: NS, ResourceId: RID }));
  assert.deepEqual(p.ScalingPolicies ?? [], []);

  const out = await aas.send(new DeregisterScalableTargetCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM,
  }));
  assert.equal(out.$metadata.httpStatusCode, 200);
  const t = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: NS, ResourceIds: [RID] }));
  assert.deepEqual(t.ScalableTargets ?? [], []);

  // Once deregistered, the target is not found any more.
  let err = await rejection(aas.send(new DeregisterScalableTargetCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM,
  })), 'DeregisterScalableTarget twice');
  assert.equal(err.name, 'ObjectNotFoundException', `${err.name}: ${err.message}`);
  err = await rejection(aas.send(new PutScalingPolicyCommand({
    PolicyName: 'late', ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM,
    PolicyType: 'TargetTrackingScaling',
    TargetTrackingScalingPolicyConfiguration: {
      TargetValue: 5,
      PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentInvocationsPerCopy' },
    },
  })), 'PutScalingPolicy without a scalable target');
  assert.equal(err.name, 'ObjectNotFoundException', `${err.name}: ${err.message}`);

  // The copies stay where scaling left them.
  const ic = await describeIc();
  assert.equal(ic.RuntimeConfig?.DesiredCopyCount, 2, JSON.stringify(ic.RuntimeConfig));
});

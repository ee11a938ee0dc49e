// Application Auto Scaling beyond policies, with the REAL AWS SDK
// (@aws-sdk/client-application-auto-scaling) against a local berthd:
// scheduled actions (at, cron, rate; time zones; bad expressions refused
// naming the field), an at(...) a few seconds ahead that scales an IC up,
// SuspendedState holding a scheduled action back, the MaxCapacity warning
// on RegisterScalableTarget, a variant DesiredInstanceCount target whose
// scheduled action adds an instance, and activities that survive a restart.
// Steps share one daemon (restarted once) and run in order.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  ApplicationAutoScalingClient, DeleteScheduledActionCommand, DescribeScalableTargetsCommand,
  DescribeScalingActivitiesCommand, DescribeScheduledActionsCommand, ObjectNotFoundException,
  PutScheduledActionCommand, RegisterScalableTargetCommand, ValidationException,
} from '@aws-sdk/client-application-auto-scaling';
import {
  CreateEndpointCommand, CreateEndpointConfigCommand, CreateInferenceComponentCommand,
  DescribeEndpointCommand, DescribeInferenceComponentCommand, SageMakerClient,
} from '@aws-sdk/client-sagemaker';

import { control, modelContainer, rejection, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';

const STEP = { timeout: 120_000 };
const EP = 'sched-ep';
const IC = 'sched-ic';
const NS = 'sagemaker';
const RID = `inference-component/${IC}`;
const DIM = 'sagemaker:inference-component:DesiredCopyCount';
const VRID = `endpoint/${EP}/variant/AllTraffic`;
const VDIM = 'sagemaker:variant:DesiredInstanceCount';

let berthd;
let sm;
let aas;

function clients() {
  sm?.destroy();
  aas?.destroy();
  sm = new SageMakerClient(berthd.sdk());
  aas = new ApplicationAutoScalingClient(berthd.sdk());
}

before(async () => {
  berthd = await startBerthd();
  clients();
});

after(async () => {
  sm?.destroy();
  aas?.destroy();
  await stopAll();
});

/** at(...) `ms` from now, as the wall clock reads in a zone `offsetMin` east of UTC. */
function atIn(ms, offsetMin = 0) {
  return `at(${new Date(Date.now() + ms + offsetMin * 60_000).toISOString().slice(0, 19)})`;
}

const describeIc = () => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: IC }));
const activities = (ResourceId, extra = {}) => aas.send(new DescribeScalingActivitiesCommand({
  ServiceNamespace: NS, ResourceId, ...extra })).then((r) => r.ScalingActivities);

test('an endpoint (1 instance, no managed scaling) with an IC of 1 copy', STEP, async () => {
  await sm.send(new CreateEndpointConfigCommand({
    EndpointConfigName: `${EP}-config`,
    ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.m5.xlarge', InitialInstanceCount: 1 }],
  }));
  await sm.send(new CreateEndpointCommand({ EndpointName: EP, EndpointConfigName: `${EP}-config` }));
  await waitFor(() => sm.send(new DescribeEndpointCommand({ EndpointName: EP })), {
    timeoutMs: 60_000, what: `${EP} InService`, until: (x) => x.EndpointStatus === 'InService',
    failIf: (x) => (x.EndpointStatus === 'Failed' ? x.FailureReason : null),
  });
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: IC, EndpointName: EP, VariantName: 'AllTraffic',
    Specification: {
      Container: modelContainer('sched'),
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 0.5, MinMemoryRequiredInMb: 256 },
    },
    RuntimeConfig: { CopyCount: 1 },
  }));
  await waitFor(describeIc, {
    timeoutMs: 60_000, what: `${IC} InService`,
    until: (d) => d.InferenceComponentStatus === 'InService',
    failIf: (d) => (d.InferenceComponentStatus === 'Failed' ? d.FailureReason : null),
  });
});

test('RegisterScalableTarget registers a MaxCapacity that cannot fit, and says so', STEP, async () => {
  // 0.5 cores each: 8 copies fit on one ml.m5.xlarge (4 vCPU), and without
  // managed instance scaling the variant keeps its one instance.
  const raw = await control(berthd.controlUrl, 'RegisterScalableTarget', {
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, MinCapacity: 1, MaxCapacity: 50,
  }, { target: 'AnyScaleFrontendService.RegisterScalableTarget' });
  assert.equal(raw.status, 200, raw.text);
  assert.match(raw.json.Warning, /MaxCapacity 50 copies .* cannot fit: 8 fit on one ml\.m5\.xlarge .* at most 1 instance/);
  const acts = await activities(RID);
  assert.ok(acts.some((a) => /MaxCapacity 50/.test(a.StatusMessage ?? '')), JSON.stringify(acts));
  // Through the SDK too (it ignores the extra member); a range that fits says nothing.
  const ok = await control(berthd.controlUrl, 'RegisterScalableTarget', {
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, MinCapacity: 1, MaxCapacity: 4,
  }, { target: 'AnyScaleFrontendService.RegisterScalableTarget' });
  assert.equal(ok.json.Warning, undefined, ok.text);
});

test('bad schedules, zones and ranges are refused naming the field', STEP, async () => {
  const put = (extra) => aas.send(new PutScheduledActionCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, ScheduledActionName: 'bad',
    Schedule: 'rate(5 minutes)', ScalableTargetAction: { MinCapacity: 1 }, ...extra }));
  const cases = [
    [{ Schedule: 'cron(0 8 * * *)' }, /'schedule'.*has 5 fields/],
    [{ Schedule: 'cron(0 8 * * * *)' }, /'schedule'.*exactly one of day-of-month and day-of-week/],
    [{ Schedule: 'cron(0 8 L * ? *)' }, /'schedule'.*L, W or #/],
    [{ Schedule: 'rate(0 minutes)' }, /'schedule'.*positive whole number/],
    [{ Schedule: 'rate(1 minutes)' }, /'schedule'.*use 'minute'/],
    [{ Schedule: 'at(2030-02-30T00:00:00)' }, /'schedule'.*not a valid date/],
    [{ Schedule: 'every morning' }, /'schedule'/],
    [{ Timezone: 'Mars/Olympus_Mons' }, /'Mars\/Olympus_Mons' at 'timezone'/],
    [{ Timezone: '../../etc/passwd' }, /'timezone'/],
    [{ ScalableTargetAction: { MinCapacity: 5, MaxCapacity: 2 } }, /MinCapacity \(5\) cannot be greater than MaxCapacity \(2\)/],
    [{ ScheduledActionName: 'a:b' }, /'scheduledActionName'/],
  ];
  for (const [extra, re] of cases) {
    const err = await rejection(put(extra), JSON.stringify(extra));
    assert.ok(err instanceof ValidationException, `${JSON.stringify(extra)}: ${err?.name}: ${err?.message}`);
    assert.match(err.message, re, JSON.stringify(extra));
  }
  const none = await rejection(aas.send(new PutScheduledActionCommand({
    ServiceNamespace: NS, ResourceId: VRID, ScalableDimension: VDIM, ScheduledActionName: 'x',
    Schedule: 'rate(1 hour)' })), 'unregistered variant');
  assert.ok(none instanceof ObjectNotFoundException, `${none?.name}: ${none?.message}`);
});

test('cron and rate actions are accepted, described, and deleted', STEP, async () => {
  await aas.send(new PutScheduledActionCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, ScheduledActionName: 'weekday-morning',
    Schedule: 'cron(0 8 ? * MON-FRI *)', Timezone: 'America/New_York',
    ScalableTargetAction: { MinCapacity: 2, MaxCapacity: 4 } }));
  await aas.send(new PutScheduledActionCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, ScheduledActionName: 'hourly',
    Schedule: 'rate(1 hour)', StartTime: new Date(Date.now() + 3_600_000),
    ScalableTargetAction: { MaxCapacity: 4 } }));
  const d = await aas.send(new DescribeScheduledActionsCommand({ ServiceNamespace: NS, ResourceId: RID }));
  const byName = Object.fromEntries(d.ScheduledActions.map((a) => [a.ScheduledActionName, a]));
  assert.equal(byName['weekday-morning']?.Schedule, 'cron(0 8 ? * MON-FRI *)');
  assert.equal(byName['weekday-morning'].Timezone, 'America/New_York');
  assert.deepEqual(byName['weekday-morning'].ScalableTargetAction, { MinCapacity: 2, MaxCapacity: 4 });
  assert.match(byName['weekday-morning'].ScheduledActionARN, /:scheduledAction:.*scheduledActionName\/weekday-morning$/);
  assert.ok(byName.hourly.StartTime instanceof Date && byName.hourly.CreationTime instanceof Date);
  assert.equal(byName.hourly.Timezone, 'UTC');
  await aas.send(new DeleteScheduledActionCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, ScheduledActionName: 'hourly' }));
  const again = await rejection(aas.send(new DeleteScheduledActionCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, ScheduledActionName: 'hourly' })), 'second delete');
  assert.ok(again instanceof ObjectNotFoundException, `${again?.name}: ${again?.message}`);
  const left = await aas.send(new DescribeScheduledActionsCommand({ ServiceNamespace: NS, ResourceId: RID }));
  assert.deepEqual(left.ScheduledActions.map((a) => a.ScheduledActionName), ['weekday-morning']);
  await aas.send(new DeleteScheduledActionCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, ScheduledActionName: 'weekday-morning' }));
});

test('ScheduledScalingSuspended holds an at(...) action back', STEP, async () => {
  await aas.send(new RegisterScalableTargetCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM,
    SuspendedState: { ScheduledScalingSuspended: true } }));
  const t = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: NS, ResourceIds: [RID] }));
  assert.deepEqual(t.ScalableTargets[0].SuspendedState,
    { DynamicScalingInSuspended: false, DynamicScalingOutSuspended: false, ScheduledScalingSuspended: true });
  const fireAt = Date.now() + 2000;
  await aas.send(new PutScheduledActionCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, ScheduledActionName: 'held',
    Schedule: atIn(2000), ScalableTargetAction: { MinCapacity: 3 } }));
  // Past its time (and a tick or two more), nothing moved.
  await waitFor(() => Date.now() > fireAt + 2500, { what: 'the held action\'s time to pass' });
  assert.equal((await describeIc()).RuntimeConfig.DesiredCopyCount, 1);
  const t2 = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: NS, ResourceIds: [RID] }));
  assert.equal(t2.ScalableTargets[0].MinCapacity, 1);
  await aas.send(new DeleteScheduledActionCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, ScheduledActionName: 'held' }));
  await aas.send(new RegisterScalableTargetCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM,
    SuspendedState: { ScheduledScalingSuspended: false } }));
});

test('an at(...) a few seconds ahead, in Asia/Kolkata, scales the IC up', STEP, async () => {
  await aas.send(new PutScheduledActionCommand({
    ServiceNamespace: NS, ResourceId: RID, ScalableDimension: DIM, ScheduledActionName: 'scale-up',
    Schedule: atIn(3000, 330), Timezone: 'Asia/Kolkata', ScalableTargetAction: { MinCapacity: 2, MaxCapacity: 4 } }));
  const d = await waitFor(describeIc, {
    timeoutMs: 30_000, what: `${IC} DesiredCopyCount 2`, until: (x) => x.RuntimeConfig?.DesiredCopyCount === 2 });
  assert.equal(d.RuntimeConfig.DesiredCopyCount, 2);
  const t = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: NS, ResourceIds: [RID] }));
  assert.equal(t.ScalableTargets[0].MinCapacity, 2);
  const acts = await activities(RID);
  assert.ok(acts.some((a) => a.Cause === 'scheduled action name scale-up was triggered'
    && a.Description === 'Setting min capacity to 2 and max capacity to 4' && a.StatusCode === 'Successful'),
    JSON.stringify(acts));
  assert.ok(acts.some((a) => a.Description === 'Setting desired copy count to 2.'), JSON.stringify(acts));
  // It ran once and is still described, as AWS keeps it.
  const s = await aas.send(new DescribeScheduledActionsCommand({ ServiceNamespace: NS, ScheduledActionNames: ['scale-up'] }));
  assert.equal(s.ScheduledActions.length, 1);
});

test('a variant DesiredInstanceCount target: a scheduled action adds an instance', STEP, async () => {
  await aas.send(new RegisterScalableTargetCommand({
    ServiceNamespace: NS, ResourceId: VRID, ScalableDimension: VDIM, MinCapacity: 1, MaxCapacity: 2 }));
  const t = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: NS, ResourceIds: [VRID] }));
  assert.equal(t.ScalableTargets[0]?.ScalableDimension, VDIM);
  const wrong = await rejection(aas.send(new RegisterScalableTargetCommand({
    ServiceNamespace: NS, ResourceId: VRID, ScalableDimension: DIM, MinCapacity: 1, MaxCapacity: 2 })), 'dimension');
  assert.ok(wrong instanceof ValidationException && /scalableDimension/.test(wrong.message), wrong?.message);
  await aas.send(new PutScheduledActionCommand({
    ServiceNamespace: NS, ResourceId: VRID, ScalableDimension: VDIM, ScheduledActionName: 'two-instances',
    Schedule: atIn(2000), ScalableTargetAction: { MinCapacity: 2 } }));
  const ep = await waitFor(() => sm.send(new DescribeEndpointCommand({ EndpointName: EP })), {
    timeoutMs: 60_000, what: `${EP} with 2 instances`,
    until: (x) => x.ProductionVariants[0].DesiredInstanceCount === 2 && x.ProductionVariants[0].CurrentInstanceCount === 2,
  });
  assert.equal(ep.ProductionVariants[0].CurrentInstanceCount, 2);
  const acts = await activities(VRID);
  assert.ok(acts.some((a) => a.Description === 'Setting desired instance count to 2.'), JSON.stringify(acts));
});

test('scaling activities and scheduled actions survive a restart', STEP, async () => {
  const before = await activities(RID);
  await berthd.stop();
  berthd = await startBerthd({ dataDir: berthd.dataDir });
  clients();
  const now = await activities(RID);
  assert.deepEqual(now.map((a) => a.ActivityId).slice(0, before.length), before.map((a) => a.ActivityId));
  assert.ok(now.some((a) => a.Cause === 'scheduled action name scale-up was triggered'));
  const s = await aas.send(new DescribeScheduledActionsCommand({ ServiceNamespace: NS }));
  assert.deepEqual(s.ScheduledActions.map((a) => a.ScheduledActionName).sort(), ['scale-up', 'two-instances']);
  const v = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: NS, ResourceIds: [VRID] }));
  assert.equal(v.ScalableTargets[0]?.MinCapacity, 2);
});

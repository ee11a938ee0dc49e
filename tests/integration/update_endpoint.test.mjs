// UpdateEndpoint with the REAL AWS SDK (@aws-sdk/client-sagemaker and
// client-sagemaker-runtime) against a local berthd: an endpoint of
// 1 x ml.m5.xlarge with one inference component moves to 2 x ml.m5.2xlarge
// under steady load (>= 20 requests/s) with zero failed invocations; two
// updates that cannot work roll back by themselves (the endpoint stays
// InService and says why); the validation errors are SageMaker's. The steps
// share one daemon and run in order: read the first failure.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CreateEndpointCommand, CreateEndpointConfigCommand, CreateInferenceComponentCommand,
  DescribeEndpointCommand, DescribeEndpointConfigCommand, DescribeInferenceComponentCommand, SageMakerClient,
  UpdateEndpointCommand, UpdateInferenceComponentRuntimeConfigCommand,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';

import {
  control, modelContainer, rejection, rolePids, startBerthd, stopAll, waitFor,
} from '../lib/berthd.mjs';
import { steadyLoad } from '../lib/fixtures.mjs';

const STEP = { timeout: 120_000 };
const EP = 'upd-ep';
const IC = 'upd-ic';
// 6000 MB a copy: one fits an ml.m5.large (8192 MB), none an ml.t3.medium
// (4096 MB); two need two ml.m5.large.
const NEED = { NumberOfCpuCoresRequired: 0.25, MinMemoryRequiredInMb: 6000 };

let berthd;
let sm;
let rt;

before(async () => {
  berthd = await startBerthd();
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  delete process.env.AWS_PROFILE;
  process.env.AWS_SHARED_CREDENTIALS_FILE = `${berthd.dataDir}/credentials`;
  sm = new SageMakerClient({ endpoint: berthd.controlUrl, region: 'us-east-1' });
  rt = new SageMakerRuntimeClient({ endpoint: berthd.runtimeUrl, region: 'us-east-1' });
});

after(async () => {
  sm?.destroy();
  rt?.destroy();
  await stopAll();
});

const describe = () => sm.send(new DescribeEndpointCommand({ EndpointName: EP }));

function config(name, type, count, extra = {}) {
  return sm.send(new CreateEndpointConfigCommand({
    EndpointConfigName: name,
    ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: type, InitialInstanceCount: count, ...extra }],
  }));
}

async function instances() {
  const r = await control(berthd.controlUrl, 'DescribeInstances', { EndpointName: EP },
    { target: 'Berth.DescribeInstances' });
  assert.equal(r.status, 200, r.text);
  return r.json.Instances;
}

function waitInService(what) {
  return waitFor(describe, {
    timeoutMs: 100_000, intervalMs: 300, what,
    until: (d) => d.EndpointStatus === 'InService',
    failIf: (d) => (d.EndpointStatus === 'Failed' ? `Failed: ${d.FailureReason}` : null),
  });
}

const load = () => steadyLoad(rt, InvokeEndpointCommand, { EndpointName: EP, InferenceComponentName: IC },
  { pauseMs: 40 });

/** Waits until the traffic has had n answers. */
function flowing(traffic, n, what) {
  return waitFor(async () => traffic.answers.length, { timeoutMs: 30_000, intervalMs: 50, what, until: (k) => k >= n });
}

function assertClean(s, what) {
  assert.deepEqual(s.failures, [], `${what}: failed invocations: ${s.failures.slice(0, 5).join(' | ')}`);
  assert.ok(s.rate >= 20, `${what}: only ${s.rate.toFixed(1)} requests/s`);
  const others = s.answers.filter((m) => m !== 'v1');
  assert.deepEqual(others, [], `${what}: answered by another model`);
}

test('an endpoint of 1 x ml.m5.xlarge serves one copy', STEP, async () => {
  await config('upd-cfg1', 'ml.m5.xlarge', 1);
  await config('upd-cfg2', 'ml.m5.2xlarge', 2, { RoutingConfig: { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' } });
  await config('upd-small', 'ml.m5.large', 1);
  await config('upd-tiny', 'ml.t3.medium', 1);
  await sm.send(new CreateEndpointConfigCommand({
    EndpointConfigName: 'upd-other-variant',
    ProductionVariants: [{ VariantName: 'Other', InstanceType: 'ml.m5.2xlarge', InitialInstanceCount: 1 }],
  }));
  await sm.send(new CreateEndpointCommand({ EndpointName: EP, EndpointConfigName: 'upd-cfg1' }));
  await waitInService(`${EP} InService`);
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: IC, EndpointName: EP, VariantName: 'AllTraffic',
    Specification: { Container: modelContainer('v1'), ComputeResourceRequirements: NEED },
    RuntimeConfig: { CopyCount: 1 },
  }));
  await waitFor(() => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: IC })), {
    timeoutMs: 60_000, intervalMs: 300, what: `${IC} InService`,
    until: (d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 1,
    failIf: (d) => (d.InferenceComponentStatus === 'Failed' ? `Failed: ${d.FailureReason}` : null),
  });
});

test('invalid UpdateEndpoint requests get ValidationException naming the problem', STEP, async () => {
  const cases = [
    [{ EndpointName: 'no-such-ep', EndpointConfigName: 'upd-cfg2' }, /Could not find endpoint "no-such-ep"/],
    [{ EndpointName: EP, EndpointConfigName: 'no-such-cfg' }, /Could not find endpoint configuration "no-such-cfg"/],
    [{ EndpointName: EP, EndpointConfigName: 'upd-cfg1' }, /already uses endpoint configuration "upd-cfg1"/],
    [{ EndpointName: EP, EndpointConfigName: 'upd-other-variant' }, /no production variant named "AllTraffic".*upd-ic/],
    [{ EndpointName: EP, EndpointConfigName: 'bad_name!' }, /EndpointConfigName/],
    [{ EndpointName: EP, EndpointConfigName: 'upd-cfg2', RetainAllVariantProperties: true,
      ExcludeRetainedVariantProperties: [{ VariantPropertyType: 'InstanceType' }] },
    /ExcludeRetainedVariantProperties\.1\.VariantPropertyType/],
    [{ EndpointName: EP, EndpointConfigName: 'upd-cfg2',
      DeploymentConfig: { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 5000 } } },
    /DeploymentConfig\.RollingUpdatePolicy\.WaitIntervalInSeconds/],
    [{ EndpointName: EP, EndpointConfigName: 'upd-cfg2',
      DeploymentConfig: { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'SOMETIMES', WaitIntervalInSeconds: 0 } } } },
    /TrafficRoutingConfiguration\.Type/],
  ];
  for (const [req, re] of cases) {
    const err = await rejection(sm.send(new UpdateEndpointCommand(req)), JSON.stringify(req));
    assert.equal(err.name, 'ValidationException', `${JSON.stringify(req)}: ${err.name}: ${err.message}`);
    assert.match(err.message, re, JSON.stringify(req));
  }
  assert.equal((await describe()).EndpointStatus, 'InService', 'a refused update changes nothing');
});

test('1 x ml.m5.xlarge -> 2 x ml.m5.2xlarge under load: zero failed invocations', STEP, async () => {
  const traffic = load();
  await flowing(traffic, 20, 'traffic before the update');
  const dc = { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 0 } };
  const out = await sm.send(new UpdateEndpointCommand({ EndpointName: EP, EndpointConfigName: 'upd-cfg2', DeploymentConfig: dc }));
  assert.match(out.EndpointArn ?? '', /:endpoint\/upd-ep$/);
  const during = await describe();
  assert.equal(during.EndpointStatus, 'Updating');
  assert.equal(during.PendingDeploymentSummary?.EndpointConfigName, 'upd-cfg2');
  const again = await rejection(sm.send(new UpdateEndpointCommand({ EndpointName: EP, EndpointConfigName: 'upd-small' })), 'second update');
  assert.equal(again.name, 'ValidationException');
  assert.match(again.message, /Cannot update in-progress endpoint/);
  const d = await waitInService('the update to finish');
  await flowing(traffic, traffic.answers.length + 20, 'traffic on the new instances alone');
  assertClean(await traffic.stop(), 'update');
  assert.equal(d.EndpointConfigName, 'upd-cfg2');
  assert.equal(d.FailureReason, undefined);
  assert.equal(d.PendingDeploymentSummary, undefined);
  // ProductionVariantSummary has no InstanceType (the SDK drops it): the
  // config the endpoint names, and DescribeInstances below, show the type.
  const cfg = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: d.EndpointConfigName }));
  assert.equal(cfg.ProductionVariants[0].InstanceType, 'ml.m5.2xlarge');
  const v = d.ProductionVariants[0];
  assert.equal(v.CurrentInstanceCount, 2);
  assert.equal(v.DesiredInstanceCount, 2);
  assert.equal(v.RoutingConfig?.RoutingStrategy, 'LEAST_OUTSTANDING_REQUESTS');
  assert.equal(d.LastDeploymentConfig?.RollingUpdatePolicy?.MaximumBatchSize?.Type, 'INSTANCE_COUNT');
  const list = await instances();
  assert.deepEqual(list.map((i) => i.InstanceType), ['ml.m5.2xlarge', 'ml.m5.2xlarge'], JSON.stringify(list));
  assert.equal(list.flatMap((i) => i.Copies).length, 1, JSON.stringify(list));
});

test('an update whose copies cannot fit the new type rolls back at once', STEP, async () => {
  const before = (await instances()).map((i) => i.InstanceId).sort();
  await sm.send(new UpdateEndpointCommand({ EndpointName: EP, EndpointConfigName: 'upd-tiny' }));
  const d = await waitInService('the rollback');
  assert.equal(d.EndpointConfigName, 'upd-cfg2');
  assert.match(d.FailureReason ?? '', /upd-tiny failed and was rolled back to upd-cfg2: .*upd-ic.*ml\.t3\.medium/, d.FailureReason);
  assert.equal(d.ProductionVariants[0].CurrentInstanceCount, 2);
  const list = await instances();
  assert.deepEqual(list.map((i) => i.InstanceId).sort(), before);
  assert.ok(list.every((i) => i.InstanceType === 'ml.m5.2xlarge' && i.State === 'InService'), JSON.stringify(list));
});

test('an update whose copies do not all fit the new instances moves them back, zero failures', STEP, async () => {
  await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: IC, DesiredRuntimeConfig: { CopyCount: 2 } }));
  await waitFor(() => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: IC })), {
    timeoutMs: 60_000, intervalMs: 300, what: `${IC} at 2 copies`,
    until: (x) => x.InferenceComponentStatus === 'InService' && x.RuntimeConfig?.CurrentCopyCount === 2,
  });
  const before = (await instances()).map((i) => i.InstanceId).sort();
  const traffic = load();
  await flowing(traffic, 20, 'traffic before the update');
  // One ml.m5.large holds one 6000 MB copy: the second finds no room.
  await sm.send(new UpdateEndpointCommand({ EndpointName: EP, EndpointConfigName: 'upd-small' }));
  const d = await waitInService('the rollback');
  assertClean(await traffic.stop(), 'rollback');
  assert.equal(d.EndpointConfigName, 'upd-cfg2');
  assert.match(d.FailureReason ?? '', /upd-small failed and was rolled back to upd-cfg2: .*do not fit/, d.FailureReason);
  const list = await instances();
  assert.deepEqual(list.map((i) => i.InstanceId).sort(), before, JSON.stringify(list));
  assert.equal(list.flatMap((i) => i.Copies).filter((c) => c.State === 'Ready').length, 2, JSON.stringify(list));
});

test('a controller killed mid-update finishes the update after its restart', STEP, async () => {
  const EP2 = 'upd-ep2';
  const IC2 = 'upd-ic2';
  await config('upd-r1', 'ml.m5.large', 1);
  await config('upd-r2', 'ml.m5.xlarge', 1);
  await sm.send(new CreateEndpointCommand({ EndpointName: EP2, EndpointConfigName: 'upd-r1' }));
  const describe2 = () => sm.send(new DescribeEndpointCommand({ EndpointName: EP2 }));
  await waitFor(describe2, { timeoutMs: 60_000, intervalMs: 300, what: `${EP2} InService`, until: (d) => d.EndpointStatus === 'InService' });
  // Its copies take 3 s to pass /ping: the update is still moving when the
  // controller dies.
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: IC2, EndpointName: EP2, VariantName: 'AllTraffic',
    Specification: {
      Container: modelContainer('r', { BERTH_MODEL_STARTUP_DELAY_MS: '3000' }),
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 0.25, MinMemoryRequiredInMb: 512 },
    },
    RuntimeConfig: { CopyCount: 1 },
  }));
  await waitFor(() => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: IC2 })), {
    timeoutMs: 60_000, intervalMs: 300, what: `${IC2} InService`,
    until: (d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 1,
  });
  await sm.send(new UpdateEndpointCommand({ EndpointName: EP2, EndpointConfigName: 'upd-r2' }));
  const [pid] = rolePids('controller');
  assert.ok(pid, 'the controller runs');
  process.kill(pid, 'SIGKILL');
  await waitFor(() => rolePids('controller'), {
    timeoutMs: 20_000, intervalMs: 100, what: 'the supervisor to start another controller',
    until: (p) => p.length === 1 && p[0] !== pid,
  });
  const d = await waitFor(describe2, {
    timeoutMs: 60_000, intervalMs: 300, ignoreErrors: true, what: `${EP2} InService after the restart`,
    until: (x) => x.EndpointStatus === 'InService',
  });
  assert.equal(d.EndpointConfigName, 'upd-r2', d.FailureReason);
  assert.equal(d.FailureReason, undefined);
  const r = await control(berthd.controlUrl, 'DescribeInstances', { EndpointName: EP2 }, { target: 'Berth.DescribeInstances' });
  const list = r.json.Instances;
  assert.deepEqual(list.map((i) => i.InstanceType), ['ml.m5.xlarge'], JSON.stringify(list));
  assert.deepEqual(list[0].Copies.map((c) => c.State), ['Ready'], JSON.stringify(list));
});

test('RetainAllVariantProperties keeps the instance count unless DesiredInstanceCount is excluded', STEP, async () => {
  const EP2 = 'upd-ep2';
  const describe2 = () => sm.send(new DescribeEndpointCommand({ EndpointName: EP2 }));
  const inService = (what) => waitFor(describe2, { timeoutMs: 60_000, intervalMs: 300, what, until: (d) => d.EndpointStatus === 'InService' });
  await config('upd-r3', 'ml.m5.xlarge', 2, { RoutingConfig: { RoutingStrategy: 'RANDOM' } });
  await config('upd-r4', 'ml.m5.xlarge', 2);
  await sm.send(new UpdateEndpointCommand({ EndpointName: EP2, EndpointConfigName: 'upd-r3', RetainAllVariantProperties: true }));
  let d = await inService('the retained update');
  assert.equal(d.EndpointConfigName, 'upd-r3');
  assert.equal(d.ProductionVariants[0].DesiredInstanceCount, 1);
  assert.equal(d.ProductionVariants[0].CurrentInstanceCount, 1);
  assert.equal(d.ProductionVariants[0].RoutingConfig?.RoutingStrategy, 'RANDOM');
  await sm.send(new UpdateEndpointCommand({
    EndpointName: EP2, EndpointConfigName: 'upd-r4', RetainAllVariantProperties: true,
    ExcludeRetainedVariantProperties: [{ VariantPropertyType: 'DesiredInstanceCount' }],
  }));
  d = await inService('the update with the count excluded');
  assert.equal(d.EndpointConfigName, 'upd-r4');
  assert.equal(d.ProductionVariants[0].DesiredInstanceCount, 2);
  assert.equal(d.ProductionVariants[0].CurrentInstanceCount, 2);
});

// Instance pools with the REAL AWS SDK (@aws-sdk/client-sagemaker) against a
// local berthd: a variant lists two catalog types of different prices
// (berth.gpu.4, $2.00/h, Priority 1; berth.small, $0.05/h, Priority 2) with
// managed instance scaling. The first instance is the Priority 1 pool's; a
// copy that does not fit it any more goes on the cheapest type that holds
// it (berth.small), and DescribeEndpoint shows InstancePools with each
// pool's CurrentInstanceCount. Invalid pools are refused with
// ValidationException naming the field. Steps share one daemon, in order.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CreateEndpointCommand, CreateEndpointConfigCommand, CreateInferenceComponentCommand,
  DescribeEndpointCommand, DescribeEndpointConfigCommand, DescribeInferenceComponentCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';

import { modelContainer, rejection, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';

const STEP = { timeout: 240_000 };
const EP = 'pools-ep';
const IC = 'pools-ic';

let berthd;
let sm;

before(async () => {
  berthd = await startBerthd();
  sm = new SageMakerClient({
    endpoint: berthd.controlUrl, region: 'us-east-1', credentials: berthd.credentials,
  });
});

after(async () => {
  sm?.destroy();
  await stopAll();
});

const managed = {
  Status: 'ENABLED', MinInstanceCount: 1, MaxInstanceCount: 3,
  ScaleInPolicy: { Strategy: 'IDLE_RELEASE' },
};

function variant(extra) {
  return { VariantName: 'AllTraffic', InitialInstanceCount: 1, ManagedInstanceScaling: managed, ...extra };
}

async function refused(pools, extra, what, pattern) {
  const err = await rejection(sm.send(new CreateEndpointConfigCommand({
    EndpointConfigName: `bad-${what}`,
    ProductionVariants: [variant({ InstancePools: pools, ...extra })],
  })), what);
  assert.equal(err.name, 'ValidationException', `${what}: ${err.name}: ${err.message}`);
  assert.match(err.message, pattern, what);
}

test('invalid InstancePools are refused with ValidationException', STEP, async () => {
  const small = { InstanceType: 'berth.small', Priority: 1 };
  await refused([{ InstanceType: 'berth.small', Priority: 0 }], {}, 'priority-0',
    /InstancePools\.1\.Priority/);
  await refused([{ InstanceType: 'berth.small', Priority: 6 }], {}, 'priority-6',
    /InstancePools\.1\.Priority/);
  const six = ['berth.small', 'berth.gpu.4', 'local', 'ml.m5.large', 'ml.m5.xlarge', 'ml.m5.2xlarge']
    .map((t, i) => ({ InstanceType: t, Priority: (i % 5) + 1 }));
  await refused(six, {}, 'six-pools', /InstancePools/);
  await refused([small, { InstanceType: 'berth.small', Priority: 2 }], {}, 'duplicate-type',
    /berth\.small.*more than once/);
  await refused([small, { InstanceType: 'berth.gpu.4', Priority: 1 }], {}, 'duplicate-priority',
    /Priority 1 appears more than once/);
  await refused([small], { InstanceType: 'berth.small' }, 'both', /InstanceType and .*InstancePools/);
  await refused([{ InstanceType: 'ml.nope.large', Priority: 1 }], {}, 'unknown-type',
    /InstancePools\.1\.InstanceType/);
  await refused([{ ...small, ModelNameOverride: 'm' }], {}, 'override', /ModelNameOverride is not supported/);
  await refused(undefined, {}, 'neither', /InstanceType.*must not be null.*InstancePools/);
  await refused([small], { VariantInstanceProvisionTimeoutInSeconds: 100 }, 'timeout',
    /VariantInstanceProvisionTimeoutInSeconds/);
});

test('scale-out launches the cheaper pool that fits; DescribeEndpoint counts each pool', STEP, async () => {
  const pools = [
    { InstanceType: 'berth.gpu.4', Priority: 1 },
    { InstanceType: 'berth.small', Priority: 2 },
  ];
  await sm.send(new CreateEndpointConfigCommand({
    EndpointConfigName: `${EP}-config`,
    ProductionVariants: [variant({ InstancePools: pools, VariantInstanceProvisionTimeoutInSeconds: 300 })],
  }));
  const cfg = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: `${EP}-config` }));
  assert.deepEqual(cfg.ProductionVariants[0].InstancePools, pools);
  assert.equal(cfg.ProductionVariants[0].VariantInstanceProvisionTimeoutInSeconds, 300);

  await sm.send(new CreateEndpointCommand({ EndpointName: EP, EndpointConfigName: `${EP}-config` }));
  const describe = () => sm.send(new DescribeEndpointCommand({ EndpointName: EP }));
  const counts = (d) => Object.fromEntries((d.ProductionVariants[0].InstancePools ?? [])
    .map((p) => [p.InstanceType, p.CurrentInstanceCount]));
  const first = await waitFor(describe, {
    timeoutMs: 120_000, intervalMs: 300, what: `${EP} InService`,
    until: (x) => x.EndpointStatus === 'InService',
    failIf: (x) => (x.EndpointStatus === 'Failed' ? `Failed: ${x.FailureReason}` : null),
  });
  // No copy decides the first instance: the Priority 1 pool's type.
  assert.deepEqual(counts(first), { 'berth.gpu.4': 1, 'berth.small': 0 });

  // Five 2-core copies: berth.gpu.4 (8 cores) holds four; the fifth fits a
  // berth.small (2 cores) for $0.05/h rather than another $2.00/h gpu.4.
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: IC,
    EndpointName: EP,
    VariantName: 'AllTraffic',
    Specification: {
      Container: modelContainer('pools'),
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 2, MinMemoryRequiredInMb: 256 },
    },
    RuntimeConfig: { CopyCount: 5 },
  }));
  await waitFor(() => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: IC })), {
    timeoutMs: 180_000, intervalMs: 500, what: `${IC} InService with 5 copies`,
    until: (d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 5,
    failIf: (d) => (d.InferenceComponentStatus === 'Failed' ? `Failed: ${d.FailureReason}` : null),
  });
  const grown = await waitFor(describe, {
    timeoutMs: 60_000, intervalMs: 300, what: `${EP} with one instance of each pool`,
    until: (x) => x.ProductionVariants[0].CurrentInstanceCount === 2,
  });
  assert.deepEqual(counts(grown), { 'berth.gpu.4': 1, 'berth.small': 1 });
  assert.equal(grown.ProductionVariants[0].DesiredInstanceCount, 2);
});

// Physical accelerator devices. (1) Declared devices (BERTH_LOCAL_ACCELERATORS=8,
// 12 GiB each): the two berth.gpu.4 instances of an endpoint take disjoint
// halves of the host's devices, the two copies of an IC needing 4 devices get
// disjoint physical sets in CUDA_VISIBLE_DEVICES, a copy needing more memory
// per device than the devices really have does not fit, a third instance of
// the type cannot start and says why, DescribeInstances shows the devices, and
// a restarted berthd keeps the mapping. (2) The NVML path without a GPU: the
// fake libnvidia-ml (tests/fake-nvml) reports 6 GPUs; managed scaling cannot
// add a second berth.gpu.4 instance and the IC's FailureReason says why.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  BUILD_DIR, control, controlOk, modelContainer, startBerthd, stopAll, waitFor,
} from '../lib/berthd.mjs';
import {
  deployEndpoint, describeIc, NO_CAPACITY_REASON, waitEndpointStatus, waitIcInService,
} from '../lib/fixtures.mjs';

after(async () => { await stopAll(); });

const T = { timeout: 240_000 };

async function deployGpu(b, name, endpoint, crr, copies = 1) {
  await controlOk(b.controlUrl, 'CreateInferenceComponent', {
    InferenceComponentName: name, EndpointName: endpoint, VariantName: 'AllTraffic',
    Specification: {
      Container: modelContainer(name),
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 256, ...crr },
    },
    RuntimeConfig: { CopyCount: copies },
  });
}

// The IC's copy logs: one stream per copy, in segments (docs/logs.md).
function icLog(b, ic) {
  const dir = path.join(b.dataDir, 'logs', ic);
  if (!fs.existsSync(dir)) return '';
  return fs.readdirSync(dir).sort().map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('');
}

const visible = (b, ic) => [...icLog(b, ic).matchAll(/CUDA_VISIBLE_DEVICES=([\d,]+)/g)].map((m) => m[1]);

async function describeInstances(b, endpoint) {
  const r = await control(b.controlUrl, 'DescribeInstances', { EndpointName: endpoint },
    { target: 'Berth.DescribeInstances' });
  assert.equal(r.status, 200, r.text);
  return r.json.Instances;
}

const DECLARED = { BERTH_LOCAL_ACCELERATORS: '8', BERTH_LOCAL_ACCELERATOR_MEMORY_MIB: '12288' };

test('declared devices: instances and copies get disjoint physical devices', T, async () => {
  const b = await startBerthd({ env: DECLARED });
  await deployEndpoint(b.controlUrl, 'gpu', { variantExtra: { InstanceType: 'berth.gpu.4', InitialInstanceCount: 2 } });

  const insts = await describeInstances(b, 'gpu');
  assert.equal(insts.length, 2);
  const held = insts.map((i) => i.AcceleratorDevices).sort((x, y) => x[0] - y[0]);
  assert.deepEqual(held, [[0, 1, 2, 3], [4, 5, 6, 7]], 'each instance has its own four devices');
  for (const i of insts) {
    // The type says 16384 MiB per device; the declared devices have 12288.
    assert.equal(i.Capacity.AcceleratorMemoryMb, 12288, JSON.stringify(i));
  }

  // More memory per device than the devices really have: never fits.
  await deployGpu(b, 'too-big', 'gpu', { NumberOfAcceleratorDevicesRequired: 1, AcceleratorMemoryRequiredInMb: 14000 });
  const big = await waitFor(() => describeIc(b.controlUrl, 'too-big'), {
    timeoutMs: 20_000, what: 'the 14000 MiB copy to be reported as not fitting',
    until: (x) => (x.FailureReason ?? '').startsWith(NO_CAPACITY_REASON),
  });
  assert.equal(big.RuntimeConfig.CurrentCopyCount, 0);
  await controlOk(b.controlUrl, 'DeleteInferenceComponent', { InferenceComponentName: 'too-big' });

  await deployGpu(b, 'four', 'gpu', { NumberOfAcceleratorDevicesRequired: 4 }, 2);
  await waitIcInService(b.controlUrl, 'four', 2);
  await waitFor(() => visible(b, 'four').length === 2, { timeoutMs: 10_000, what: 'both copies to log their devices' });
  const sets = visible(b, 'four').map((s) => s.split(',').map(Number));
  assert.equal(sets[0].length, 4);
  assert.equal(sets[1].length, 4);
  assert.deepEqual([...sets[0], ...sets[1]].sort(), [0, 1, 2, 3, 4, 5, 6, 7],
    `the two copies' devices are disjoint physical sets: ${sets[0]} and ${sets[1]}`);
  // Their memory cap is what the devices really have.
  assert.equal([...icLog(b, 'four').matchAll(/BERTH_ACCELERATOR_MEMORY_MB=12288/g)].length, 2, icLog(b, 'four'));
  const withCopies = await describeInstances(b, 'gpu');
  for (const i of withCopies) {
    assert.equal(i.Copies.length, 1);
    assert.deepEqual(i.Copies[0].Devices, [0, 1, 2, 3], 'copy Devices index into the instance\'s AcceleratorDevices');
  }

  // A third instance of the type: no free devices, and it says so.
  await controlOk(b.controlUrl, 'CreateEndpointConfig', {
    EndpointConfigName: 'gpu3-config',
    ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'berth.gpu.4', InitialInstanceCount: 1 }],
  });
  await controlOk(b.controlUrl, 'CreateEndpoint', { EndpointName: 'gpu3', EndpointConfigName: 'gpu3-config' });
  const failed = await waitEndpointStatus(b.controlUrl, 'gpu3', 'Failed', { timeoutMs: 20_000 });
  assert.match(failed.FailureReason, /Instance type berth\.gpu\.4 needs 4 accelerator devices of this host, but only 0 of its 8 \(from BERTH_LOCAL_ACCELERATORS\) are free \(free: none; i-\d+ \(gpu\) has 0,1,2,3; i-\d+ \(gpu\) has 4,5,6,7\)/);
  assert.equal((await describeInstances(b, 'gpu3')).length, 0, 'no instance was created for it');

  // A restarted berthd keeps each instance's devices.
  const ids = Object.fromEntries(withCopies.map((i) => [i.InstanceId, i.AcceleratorDevices]));
  await b.stop();
  const b2 = await startBerthd({ dataDir: b.dataDir, env: DECLARED });
  await waitIcInService(b2.controlUrl, 'four', 2, { timeoutMs: 120_000 });
  const again = await describeInstances(b2, 'gpu');
  assert.deepEqual(Object.fromEntries(again.map((i) => [i.InstanceId, i.AcceleratorDevices])), ids);
  await b2.stop();
});

test('NVML devices (fake libnvidia-ml): managed scaling says why it cannot add an instance', T, async () => {
  const lib = path.join(BUILD_DIR, 'libfake-nvml.so');
  assert.ok(fs.existsSync(lib), `${lib} is built with berthd (tests/CMakeLists.txt)`);
  // Six GPUs of 15000 MiB: one berth.gpu.4 instance fits, a second does not.
  const b = await startBerthd({ env: { BERTH_NVML_LIBRARY: lib, BERTH_FAKE_NVML: '15000,15000,15000,15000,15000,15000' } });
  assert.match(b.logs(), /this host has 6 accelerator devices \(from NVML\)/);
  await deployEndpoint(b.controlUrl, 'nv', {
    variantExtra: {
      InstanceType: 'berth.gpu.4', InitialInstanceCount: 1,
      ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 1, MaxInstanceCount: 2 },
    },
  });
  await deployGpu(b, 'nv-four', 'nv', { NumberOfAcceleratorDevicesRequired: 4 }, 2);
  const d = await waitFor(() => describeIc(b.controlUrl, 'nv-four'), {
    timeoutMs: 30_000, what: 'one copy ready and the other reported as without an instance',
    until: (x) => x.RuntimeConfig.CurrentCopyCount === 1 && /cannot add an instance/.test(x.FailureReason ?? ''),
  });
  assert.ok(d.FailureReason.startsWith(NO_CAPACITY_REASON), d.FailureReason);
  assert.match(d.FailureReason, /ManagedInstanceScaling cannot add an instance: Instance type berth\.gpu\.4 needs 4 accelerator devices of this host, but only 2 of its 6 \(from NVML\) are free \(free: 4,5;/);
  await waitFor(() => visible(b, 'nv-four').length === 1, { timeoutMs: 10_000, what: 'the copy to log its devices' });
  assert.deepEqual(visible(b, 'nv-four'), ['0,1,2,3']);
  assert.match(icLog(b, 'nv-four'), /BERTH_ACCELERATOR_MEMORY_MB=15000/, 'NVML\'s memory, not the type\'s 16384');
  const insts = await describeInstances(b, 'nv');
  assert.equal(insts.length, 1);
  assert.deepEqual(insts[0].AcceleratorDevices, [0, 1, 2, 3]);
  await b.stop();
});

// Accelerator assignment with declared devices (this machine has no GPU):
// on the test type berth.gpu.4 (4 devices of 16 GiB), whole-device copies get
// distinct device indices in CUDA_VISIBLE_DEVICES, fractional copies (a
// Berth extension) share one device and are told their share, and a copy
// that needs more devices than are free is reported as not fitting.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { controlOk, modelContainer, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, describeIc, waitIcInService } from '../lib/fixtures.mjs';

let b;
before(async () => { b = await startBerthd(); });
after(async () => { await stopAll(); });

async function deployGpu(name, crr, copies = 1) {
  await controlOk(b.controlUrl, 'CreateInferenceComponent', {
    InferenceComponentName: name, EndpointName: 'gpu', VariantName: 'AllTraffic',
    Specification: {
      Container: modelContainer(name),
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 256, ...crr },
    },
    RuntimeConfig: { CopyCount: copies },
  });
}

// The IC's copy logs: one stream per copy, in segments (docs/logs.md).
function deviceLines(ic) {
  const dir = path.join(b.dataDir, 'logs', ic);
  if (!fs.existsSync(dir)) return '';
  return fs.readdirSync(dir).sort().map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('');
}

test('whole and fractional accelerators are assigned distinct devices', { timeout: 120_000 }, async () => {
  await deployEndpoint(b.controlUrl, 'gpu', { variantExtra: { InstanceType: 'berth.gpu.4' } });
  await deployGpu('two', { NumberOfAcceleratorDevicesRequired: 2 });
  await waitIcInService(b.controlUrl, 'two', 1);
  await deployGpu('one', { NumberOfAcceleratorDevicesRequired: 1 });
  await waitIcInService(b.controlUrl, 'one', 1);
  await deployGpu('half', { NumberOfAcceleratorDevicesRequired: 0.5, AcceleratorMemoryRequiredInMb: 4096 }, 2);
  await waitIcInService(b.controlUrl, 'half', 2);

  const devices = (ic) => [...deviceLines(ic).matchAll(/CUDA_VISIBLE_DEVICES=([\d,]+)/g)].map((m) => m[1]);
  await waitFor(() => devices('half').length === 2 && devices('one').length === 1 && devices('two').length === 1,
    { timeoutMs: 10_000, what: 'every copy to log its devices' });
  const two = devices('two')[0].split(',');
  const one = devices('one')[0].split(',');
  const half = devices('half');
  assert.equal(two.length, 2);
  assert.equal(one.length, 1);
  assert.equal(new Set([...two, ...one]).size, 3, `whole devices are distinct: ${two} ${one}`);
  assert.equal(half[0], half[1], 'both halves share one device');
  assert.ok(!two.includes(half[0]) && !one.includes(half[0]), 'the shared device is the fourth');
  assert.match(deviceLines('half'), /BERTH_ACCELERATOR_SHARE=0\.500/);

  // All four devices are taken: another whole-device copy does not fit.
  await deployGpu('more', { NumberOfAcceleratorDevicesRequired: 1 });
  const d = await waitFor(() => describeIc(b.controlUrl, 'more'), {
    timeoutMs: 20_000, what: 'the extra copy to be reported as not fitting',
    until: (x) => /not enough hardware resources/.test(x.FailureReason ?? ''),
  });
  assert.equal(d.RuntimeConfig.CurrentCopyCount, 0);
});

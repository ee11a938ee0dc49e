// Managed instance scaling (issue 3): an endpoint with MinInstanceCount 1 and
// MaxInstanceCount 3 grows to 3 instances as copies are added and shrinks
// back when they are removed; a CONSOLIDATION scale-in moves a copy make
// before break under steady load with zero failed invocations.
//
// ml.m5.large has 2 vCPUs, and each copy here needs 1 core: two copies fill
// an instance. --instance-cooldown 2 stands in for CooldownInMinutes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { controlOk, invoke, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc, describeEndpoint, describeIc, waitIcInService } from '../lib/fixtures.mjs';

let b;
before(async () => { b = await startBerthd({ extraArgs: ['--instance-cooldown', '2'] }); });
after(async () => { await stopAll(); });

const managed = (strategy) => ({
  InstanceType: 'ml.m5.large',
  ManagedInstanceScaling: {
    Status: 'ENABLED', MinInstanceCount: 1, MaxInstanceCount: 3,
    ScaleInPolicy: { Strategy: strategy, MaximumStepSize: 1, CooldownInMinutes: 5 },
  },
});

async function instances(ep) {
  const v = (await describeEndpoint(b.controlUrl, ep)).ProductionVariants[0];
  return { current: v.CurrentInstanceCount, desired: v.DesiredInstanceCount };
}

function waitInstances(ep, n, timeoutMs = 60_000) {
  return waitFor(() => instances(ep), {
    timeoutMs, intervalMs: 250, what: `endpoint ${ep} at ${n} instances`,
    until: (x) => x.current === n && x.desired === n,
  });
}

const scale = (ic, n) => controlOk(b.controlUrl, 'UpdateInferenceComponentRuntimeConfig',
  { InferenceComponentName: ic, DesiredRuntimeConfig: { CopyCount: n } });

test('grows to MaxInstanceCount as copies are added and shrinks back', { timeout: 180_000 }, async () => {
  await deployEndpoint(b.controlUrl, 'grow', { variantExtra: managed('IDLE_RELEASE') });
  await deployIc(b.controlUrl, 'g', 'grow', 'g', { copies: 2 });
  await waitInstances('grow', 1);
  await scale('g', 6);
  await waitIcInService(b.controlUrl, 'g', 6);
  await waitInstances('grow', 3);
  await scale('g', 7);
  const blocked = await waitFor(() => describeIc(b.controlUrl, 'g'), {
    timeoutMs: 30_000, what: 'the seventh copy to be reported as blocked',
    until: (d) => /not enough hardware resources/.test(d.FailureReason ?? '')
      && /MaxInstanceCount \(3\)/.test(d.FailureReason ?? ''),
  });
  assert.equal(blocked.RuntimeConfig.CurrentCopyCount, 6);
  assert.deepEqual(await instances('grow'), { current: 3, desired: 3 });
  await scale('g', 1);
  await waitInstances('grow', 1);
  const d = await describeIc(b.controlUrl, 'g');
  assert.equal(d.RuntimeConfig.CurrentCopyCount, 1);
  assert.equal(d.FailureReason, undefined);
});

test('CONSOLIDATION under steady load: fewer instances, zero failed invocations', { timeout: 180_000 }, async () => {
  await deployEndpoint(b.controlUrl, 'pack', { variantExtra: managed('CONSOLIDATION') });
  // a fills two instances, b takes the third.
  await deployIc(b.controlUrl, 'a', 'pack', 'a', { copies: 4 });
  await deployIc(b.controlUrl, 'b', 'pack', 'b', { copies: 2 });
  await waitInstances('pack', 3);

  const counts = { ok: 0, failed: 0, statuses: {} };
  let running = true;
  const worker = async (ic) => {
    while (running) {
      const r = await invoke(b.runtimeUrl, 'pack', ic, { inputs: 'x', parameters: { max_new_tokens: 2 } });
      if (r.status === 200 && r.json?.model_id === ic) counts.ok++;
      else {
        counts.failed++;
        counts.statuses[r.status] = (counts.statuses[r.status] ?? 0) + 1;
      }
    }
  };
  const workers = [worker('a'), worker('b'), worker('a'), worker('b')];
  try {
    // Leaves one copy of a and one of b on two half-used instances: the
    // fleet must move one of them to free an instance.
    await scale('a', 1);
    await scale('b', 1);
    await waitInstances('pack', 1, 90_000);
    await waitIcInService(b.controlUrl, 'a', 1);
    await waitIcInService(b.controlUrl, 'b', 1);
    const before = counts.ok;
    await waitFor(() => counts.ok, { timeoutMs: 30_000, what: 'requests served after consolidation',
      until: (n) => n > before + 20 });
  } finally {
    running = false;
    await Promise.all(workers);
  }
  console.log(`consolidation under load: ${counts.ok} ok, ${counts.failed} failed ${JSON.stringify(counts.statuses)}`);
  assert.ok(counts.ok > 50, `too few requests served: ${counts.ok}`);
  assert.equal(counts.failed, 0, `failed invocations: ${JSON.stringify(counts.statuses)}`);
  assert.match(b.logs(), /consolidating instance \d+ away/);
});

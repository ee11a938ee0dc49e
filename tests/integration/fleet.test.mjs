// Managed instance scaling against the real daemon (lib/fleet.c applied by
// berthd). ml.m5.large has 2 vCPUs and every copy here needs 1 core, so two
// copies fill an instance; MinInstanceCount 1, MaxInstanceCount 3.
// --instance-cooldown 2 stands in for ScaleInPolicy.CooldownInMinutes.
//
// 1. IDLE_RELEASE: 2 copies on 1 instance; 6 copies grow the endpoint to 3;
//    a 7th stays pending with a FailureReason naming MaxInstanceCount and the
//    endpoint stays at 3; back to 1 copy shrinks it to 1 instance.
// 2. CONSOLIDATION: two SPREAD ICs over 3 instances cut to one copy each
//    under steady load (4 workers, about 20 s): the endpoint ends at one
//    instance, copies moved make before break, and every answer is a 200.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { controlOk, invoke, sleep, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import {
  deployEndpoint, deployIc, describeEndpoint, describeIc, waitIcInService,
} from '../lib/fixtures.mjs';

let b;
before(async () => { b = await startBerthd({ extraArgs: ['--instance-cooldown', '2'] }); });
after(async () => { await stopAll(); });

const managed = (strategy) => ({
  InstanceType: 'ml.m5.large',
  InitialInstanceCount: 1,
  ManagedInstanceScaling: {
    Status: 'ENABLED', MinInstanceCount: 1, MaxInstanceCount: 3,
    ScaleInPolicy: { Strategy: strategy },
  },
});

async function instances(ep) {
  const v = (await describeEndpoint(b.controlUrl, ep)).ProductionVariants[0];
  return { current: v.CurrentInstanceCount, desired: v.DesiredInstanceCount };
}

function waitInstances(ep, n, timeoutMs = 60_000) {
  return waitFor(() => instances(ep), {
    timeoutMs, intervalMs: 250, what: `endpoint ${ep} at ${n} instances (current and desired)`,
    until: (x) => x.current === n && x.desired === n,
  });
}

const scale = (ic, n) => controlOk(b.controlUrl, 'UpdateInferenceComponentRuntimeConfig',
  { InferenceComponentName: ic, DesiredRuntimeConfig: { CopyCount: n } });

test('IDLE_RELEASE: grows to MaxInstanceCount, reports the blocked copy, shrinks back',
  { timeout: 240_000 }, async () => {
    await deployEndpoint(b.controlUrl, 'fleet-grow', { variantExtra: managed('IDLE_RELEASE') });
    assert.deepEqual(await instances('fleet-grow'), { current: 1, desired: 1 });
    await deployIc(b.controlUrl, 'grow-ic', 'fleet-grow', 'grow-ic', { copies: 2 });
    await waitInstances('fleet-grow', 1);

    await scale('grow-ic', 6);
    const six = await waitIcInService(b.controlUrl, 'grow-ic', 6, { timeoutMs: 120_000 });
    assert.equal(six.RuntimeConfig.DesiredCopyCount, 6);
    await waitInstances('fleet-grow', 3);

    await scale('grow-ic', 7);
    const blocked = await waitFor(() => describeIc(b.controlUrl, 'grow-ic'), {
      timeoutMs: 30_000, what: 'the seventh copy to be reported as blocked at MaxInstanceCount',
      until: (d) => /not enough hardware resources/.test(d.FailureReason ?? '')
        && /MaxInstanceCount/.test(d.FailureReason ?? ''),
    });
    console.log(`blocked copy: ${blocked.FailureReason}`);
    assert.match(blocked.FailureReason, /MaxInstanceCount \(3\)/);
    assert.equal(blocked.RuntimeConfig.CurrentCopyCount, 6);
    assert.equal(blocked.RuntimeConfig.DesiredCopyCount, 7);
    // It stays blocked: never a fourth instance, never a seventh copy.
    for (let t = 0; t < 12; t++) {
      const x = await instances('fleet-grow');
      assert.ok(x.current <= 3 && x.desired <= 3, `past MaxInstanceCount: ${JSON.stringify(x)}`);
      const d = await describeIc(b.controlUrl, 'grow-ic');
      assert.equal(d.RuntimeConfig.CurrentCopyCount, 6);
      await sleep(250);
    }

    await scale('grow-ic', 1);
    await waitIcInService(b.controlUrl, 'grow-ic', 1);
    await waitInstances('fleet-grow', 1, 90_000);
    const d = await describeIc(b.controlUrl, 'grow-ic');
    assert.equal(d.RuntimeConfig.CurrentCopyCount, 1);
    assert.equal(d.FailureReason, undefined, `FailureReason left behind: ${d.FailureReason}`);
    // MinInstanceCount holds: it stays at 1 for a few cooldowns.
    await sleep(5000);
    assert.deepEqual(await instances('fleet-grow'), { current: 1, desired: 1 });
    const r = await invoke(b.runtimeUrl, 'fleet-grow', 'grow-ic', { inputs: 'x' });
    assert.equal(r.status, 200, r.text);
  });

test('CONSOLIDATION under steady load: fewer instances, zero failed invocations',
  { timeout: 300_000 }, async () => {
    const ep = 'fleet-pack';
    await deployEndpoint(b.controlUrl, ep, { variantExtra: managed('CONSOLIDATION') });
    const spread = { extra: { SchedulingConfig: { PlacementStrategy: 'SPREAD' } } };
    // c1 fills the first instance and takes one slot of a second; c2 takes
    // the other slot and a third instance: [c1 c1] [c1 c2] [c2 c2].
    await deployIc(b.controlUrl, 'c1', ep, 'c1', { copies: 3, ...spread, timeoutMs: 120_000 });
    await deployIc(b.controlUrl, 'c2', ep, 'c2', { copies: 3, ...spread, timeoutMs: 120_000 });
    await waitInstances(ep, 3);
    const logStart = b.logs().length;

    const counts = { ok: 0, failed: 0, statuses: {}, errors: [], perIc: { c1: 0, c2: 0 } };
    let running = true;
    const worker = async (ic) => {
      while (running) {
        let r;
        try {
          r = await invoke(b.runtimeUrl, ep, ic, { inputs: 'x', parameters: { max_new_tokens: 2 } },
            {}, { timeoutMs: 30_000 });
        } catch (err) {
          counts.failed++;
          counts.statuses.transport = (counts.statuses.transport ?? 0) + 1;
          if (counts.errors.length < 5) counts.errors.push(err.message);
          continue;
        }
        if (r.status === 200 && r.json?.model_id === ic) {
          counts.ok++;
          counts.perIc[ic]++;
        } else {
          counts.failed++;
          counts.statuses[r.status] = (counts.statuses[r.status] ?? 0) + 1;
          if (counts.errors.length < 5) {
            counts.errors.push(`${ic}: ${r.status} ${r.text.slice(0, 200)}`);
          }
        }
      }
    };
    const started = Date.now();
    const workers = [worker('c1'), worker('c2'), worker('c1'), worker('c2')];
    let shrunk;
    const trace = [];
    try {
      await sleep(2000); // load first, then scale in under it
      await scale('c1', 1);
      await scale('c2', 1);
      // Record the instance count as it falls (3 -> 2 by idle release, 2 -> 1
      // by consolidation), until one instance serves both.
      shrunk = await waitFor(async () => {
        const x = await instances(ep);
        const last = trace.at(-1);
        if (!last || last.current !== x.current || last.desired !== x.desired)
          trace.push({ ...x, at_s: (Date.now() - started) / 1000 });
        return x;
      }, {
        timeoutMs: 120_000, intervalMs: 250, what: `${ep} to consolidate to 1 instance`,
        until: (x) => x.current === 1 && x.desired === 1,
      });
      await waitIcInService(b.controlUrl, 'c1', 1);
      await waitIcInService(b.controlUrl, 'c2', 1);
      // Keep the load on for about 20 s in all, and for a while on the
      // consolidated instance.
      const before = counts.ok;
      await waitFor(() => ({ ok: counts.ok, elapsed: Date.now() - started }), {
        timeoutMs: 60_000, intervalMs: 200, what: 'requests served after consolidation',
        until: (v) => v.ok > before + 40 && v.elapsed >= 20_000,
      });
    } finally {
      running = false;
      await Promise.all(workers);
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const log = b.logs().slice(logStart);
    const consolidated = (log.match(/consolidating instance \d+ away/g) ?? []).length;
    const released = (log.match(/instance \d+ released/g) ?? []).length;
    console.log(`consolidation under load: ${counts.ok} ok `
      + `(c1 ${counts.perIc.c1}, c2 ${counts.perIc.c2}), `
      + `${counts.failed} failed ${JSON.stringify(counts.statuses)} in ${secs} s; `
      + `instances ${JSON.stringify(trace)}; `
      + `${consolidated} consolidation(s), ${released} release(s)`);
    if (counts.errors.length) console.log(`first failures: ${JSON.stringify(counts.errors)}`);
    assert.deepEqual(shrunk, { current: 1, desired: 1 });
    assert.ok(consolidated >= 1, `no consolidation in berthd's log:\n${log.slice(-3000)}`);
    assert.ok(counts.perIc.c1 > 20 && counts.perIc.c2 > 20,
      `too few requests served: ${JSON.stringify(counts.perIc)}`);
    assert.equal(counts.failed, 0,
      `failed invocations: ${JSON.stringify(counts.statuses)} ${JSON.stringify(counts.errors)}`);
    // Still serving, still one instance.
    for (const ic of ['c1', 'c2']) {
      const r = await invoke(b.runtimeUrl, ep, ic, { inputs: 'x' });
      assert.equal(r.status, 200, r.text);
    }
    assert.deepEqual(await instances(ep), { current: 1, desired: 1 });
  });

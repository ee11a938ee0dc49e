// CONSOLIDATION onto a cheaper instance pool, make before break (docs/fleet.md,
// "Instance pools"): a variant lists berth.gpu.4 ($2.00/h, Priority 1) and
// berth.small ($0.05/h, Priority 2). Its first instance is the Priority 1
// type; once the cooldown has passed, its one copy fits a berth.small, so a
// berth.small is launched, the copy is re-created there and the old copy
// drains only then; the gpu.4 is released. Requests sent all along see no
// failure. Local provider, compressed cooldown (--instance-cooldown 2).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { invoke, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc, describeEndpoint } from '../lib/fixtures.mjs';

let b;
before(async () => { b = await startBerthd({ extraArgs: ['--instance-cooldown', '2'] }); });
after(async () => { await stopAll(); });

const pools = (d) => Object.fromEntries((d.ProductionVariants[0].InstancePools ?? [])
  .map((p) => [p.InstanceType, p.CurrentInstanceCount]));

test('a copy on an expensive pool moves to a cheaper one with zero failed requests',
  { timeout: 240_000 }, async () => {
    const ep = 'pools-pack';
    await deployEndpoint(b.controlUrl, ep, {
      variantExtra: {
        InstanceType: undefined,
        InstancePools: [{ InstanceType: 'berth.gpu.4', Priority: 1 }, { InstanceType: 'berth.small', Priority: 2 }],
        ManagedInstanceScaling: {
          Status: 'ENABLED', MinInstanceCount: 1, MaxInstanceCount: 2,
          ScaleInPolicy: { Strategy: 'CONSOLIDATION' },
        },
      },
    });
    assert.deepEqual(pools(await describeEndpoint(b.controlUrl, ep)), { 'berth.gpu.4': 1, 'berth.small': 0 });
    await deployIc(b.controlUrl, 'pack-ic', ep, 'pack-ic', { copies: 1, timeoutMs: 120_000 });

    const counts = { ok: 0, failed: 0, errors: [] };
    let running = true;
    const worker = async () => {
      while (running) {
        try {
          const r = await invoke(b.runtimeUrl, ep, 'pack-ic', { inputs: 'x', parameters: { max_new_tokens: 2 } },
            {}, { timeoutMs: 30_000 });
          if (r.status === 200) counts.ok++;
          else {
            counts.failed++;
            if (counts.errors.length < 5) counts.errors.push(`${r.status} ${r.text.slice(0, 200)}`);
          }
        } catch (err) {
          counts.failed++;
          if (counts.errors.length < 5) counts.errors.push(err.message);
        }
      }
    };
    const workers = [worker(), worker()];
    let moved;
    try {
      moved = await waitFor(() => describeEndpoint(b.controlUrl, ep), {
        timeoutMs: 120_000, intervalMs: 250, what: `${ep} on one berth.small and no berth.gpu.4`,
        until: (d) => {
          const p = pools(d);
          return p['berth.gpu.4'] === 0 && p['berth.small'] === 1;
        },
      });
    } finally {
      running = false;
      await Promise.all(workers);
    }
    console.log(`requests during the move: ${counts.ok} ok, ${counts.failed} failed`);
    assert.equal(counts.failed, 0, counts.errors.join('\n'));
    assert.ok(counts.ok > 0, 'no request was served during the move');
    assert.equal(moved.ProductionVariants[0].CurrentInstanceCount, 1);
    assert.match(b.logs(), /replacing instance \d+ \(berth\.gpu\.4\) by a cheaper berth\.small/);
    const r = await invoke(b.runtimeUrl, ep, 'pack-ic', { inputs: 'x' });
    assert.equal(r.status, 200, r.text);
  });

// Instance pools on the pool provider: insufficient capacity falls back to the
// next pool (docs/fleet.md, "Instance pools"). Two loopback agents join, one
// berth.small ($0.05/h) and one ml.m5.large ($0.115/h). The variant lists
// both (berth.small Priority 1). The first instance claims the berth.small
// agent; a second 2-core copy fits neither instance, the cheapest type that
// holds it is berth.small again, no agent of it is free, so the ml.m5.large
// agent is claimed. A third copy finds no agent of either type: the
// variant's status says so, naming both. Loopback only: no root needed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { BERTHD, TEST_TAG, controlOk, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { describeEndpoint, icBody, waitIcInService } from '../lib/fixtures.mjs';

const TOKEN = `pools-${process.pid}`;
const EP = 'pools-fallback';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-instance-pools-'));
fs.chmodSync(work, 0o755);

let b;
const agents = [];

function startAgent(type) {
  const dir = path.join(work, type);
  fs.mkdirSync(dir);
  const proc = spawn(BERTHD, ['agent', '--join', b.controlUrl, '--token', TOKEN,
    '--instance-type', type, '--data-dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BERTH_TEST_TAG: TEST_TAG },
  });
  const a = { proc, log: '', exit: null };
  const onData = (d) => {
    a.log += d;
    if (process.env.BERTH_TEST_VERBOSE === '1') process.stderr.write(`[agent ${type}] ${d}`);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  a.exited = new Promise((resolve) => proc.on('exit', (code, signal) => { a.exit = { code, signal }; resolve(a.exit); }));
  agents.push(a);
  return a;
}

before(async () => {
  b = await startBerthd({ extraArgs: ['--provider', 'pool', '--agent-token', TOKEN] });
  startAgent('berth.small');
  startAgent('ml.m5.large');
  // Both free before the endpoint exists, so the first instance is the
  // Priority 1 pool's for certain.
  await waitFor(() => b.logs(), {
    timeoutMs: 30_000, intervalMs: 100, what: 'both agents joined the pool',
    until: (t) => /\(berth\.small at [^)]*\) joined the pool/.test(t) && /\(ml\.m5\.large at [^)]*\) joined the pool/.test(t),
  });
});

after(async () => {
  for (const a of agents) if (a.exit === null) a.proc.kill('SIGTERM'); // stops its copies
  await Promise.race([Promise.all(agents.map((a) => a.exited)), new Promise((r) => setTimeout(r, 10_000))]);
  for (const a of agents) if (a.exit === null) a.proc.kill('SIGKILL');
  await stopAll();
  fs.rmSync(work, { recursive: true, force: true });
});

const pools = (d) => Object.fromEntries((d.ProductionVariants[0].InstancePools ?? [])
  .map((p) => [p.InstanceType, p.CurrentInstanceCount]));

test('no free agent of the cheapest type: the next pool is claimed; none left: the status says why',
  { timeout: 240_000 }, async () => {
    await controlOk(b.controlUrl, 'CreateEndpointConfig', {
      EndpointConfigName: `${EP}-config`,
      ProductionVariants: [{
        VariantName: 'AllTraffic', InitialInstanceCount: 1,
        InstancePools: [{ InstanceType: 'berth.small', Priority: 1 }, { InstanceType: 'ml.m5.large', Priority: 2 }],
        VariantInstanceProvisionTimeoutInSeconds: 300,
        ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 1, MaxInstanceCount: 3 },
      }],
    });
    await controlOk(b.controlUrl, 'CreateEndpoint', { EndpointName: EP, EndpointConfigName: `${EP}-config` });
    const up = await waitFor(() => describeEndpoint(b.controlUrl, EP), {
      timeoutMs: 60_000, intervalMs: 200, what: `${EP} InService`,
      until: (d) => d.EndpointStatus === 'InService',
    });
    assert.deepEqual(pools(up), { 'berth.small': 1, 'ml.m5.large': 0 });

    await controlOk(b.controlUrl, 'CreateInferenceComponent',
      icBody('pools-ic', EP, 'pools-ic', { copies: 2, cores: 2 }));
    await waitIcInService(b.controlUrl, 'pools-ic', 2, { timeoutMs: 120_000 });
    const two = await describeEndpoint(b.controlUrl, EP);
    assert.deepEqual(pools(two), { 'berth.small': 1, 'ml.m5.large': 1 });

    await controlOk(b.controlUrl, 'UpdateInferenceComponentRuntimeConfig',
      { InferenceComponentName: 'pools-ic', DesiredRuntimeConfig: { CopyCount: 3 } });
    const stuck = await waitFor(() => describeEndpoint(b.controlUrl, EP), {
      timeoutMs: 30_000, intervalMs: 200, what: `${EP}'s variant status naming both pools`,
      until: (d) => /berth\.small/.test(d.ProductionVariants[0].VariantStatus?.[0]?.StatusMessage ?? '') &&
        /ml\.m5\.large/.test(d.ProductionVariants[0].VariantStatus[0].StatusMessage),
    });
    assert.match(stuck.ProductionVariants[0].VariantStatus[0].StatusMessage, /no free berth\.small agent/);
    assert.deepEqual(pools(stuck), { 'berth.small': 1, 'ml.m5.large': 1 });
  });

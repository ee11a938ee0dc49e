// Fidelity: the simulator and the real daemon on the same small scenario
// (bench/sim/fidelity.json: one model, two minutes of load at 6 requests/s of
// 20 tokens at 50 ms each, then two idle minutes; FAST profile with a 30 s
// scale-in window). berth-sim writes the exact requests it simulated; this
// test replays them against berthd in real time and requires:
//  - copy counts over time to agree: at each of the simulator's samples
//    (every 60 s), the daemon showed the same count within 10 s of it;
//  - request outcomes to agree: no failures on either side, and the median
//    latency within 10%.
// Both decide through the same code (lib/scale, lib/window, lib/converge,
// lib/sched, lib/route); what is left between them is cadence: the
// simulator decides every 10 s, the daemon every second, so a change may
// land up to 10 s apart. The latency tolerance covers the daemon's own
// overhead and timer granularity (measured: 0.956 s against 1.01 s, 5%).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BUILD_DIR, SOURCE_DIR, control, invoke, startBerthd, stopAll, waitFor, sleep } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc, describeIc } from '../lib/fixtures.mjs';

const SCENARIO = path.join(SOURCE_DIR, 'bench/sim/fidelity.json');
const scenario = JSON.parse(fs.readFileSync(SCENARIO, 'utf8'));
const DURATION_S = scenario.duration_hours * 3600;
const TOKEN_MS = 1000 / scenario.model_defaults.service.decode_tokens_per_s;
const scaling = scenario.model_defaults.scaling;

let b;
let simRun;

function runSim() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-fidelity-'));
  const csv = path.join(dir, 'series.csv');
  const reqs = path.join(dir, 'requests.csv');
  const r = spawnSync(path.join(BUILD_DIR, 'berth-sim'), [SCENARIO, '--policy', 'berth', '--csv', csv,
    '--requests', reqs], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const row = r.stdout.split('\n').find((l) => l.startsWith('berth '));
  const cols = row.trim().split(/\s+/);
  const samples = fs.readFileSync(csv, 'utf8').trim().split('\n').slice(1)
    .map((l) => l.split(',')).filter((c) => c[2] === 'm')
    .map((c) => ({ t: +c[0], copies: +c[3] }));
  const requests = fs.readFileSync(reqs, 'utf8').trim().split('\n').slice(1)
    .map((l) => l.split(',')).map((c) => ({ t: +c[0], output: +c[3] }));
  fs.rmSync(dir, { recursive: true, force: true });
  return { failed: +cols[6], p50: parseFloat(cols[9]), samples, requests };
}

before(async () => {
  simRun = runSim();
  b = await startBerthd({ extraArgs: ['--scale-in-window', String(scenario.endpoint.scale_in_window_s)] });
});
after(async () => { await stopAll(); });

test('the daemon and the simulator agree on copies over time and on outcomes', { timeout: 600_000 }, async () => {
  const startCopies = simRun.samples[0].copies;
  await deployEndpoint(b.controlUrl, 'fid', { variantExtra: { InstanceType: scenario.endpoint.instance_type } });
  await deployIc(b.controlUrl, 'm', 'fid', 'm', { copies: startCopies,
    env: { BERTH_MODEL_TOKEN_DELAY_MS: String(TOKEN_MS) } });
  const rid = 'inference-component/m';
  const dim = 'sagemaker:inference-component:DesiredCopyCount';
  const call = async (op, body) => {
    const r = await control(b.controlUrl, op, body, { target: `AnyScaleFrontendService.${op}` });
    assert.equal(r.status, 200, r.text);
  };
  await call('RegisterScalableTarget', { ServiceNamespace: 'sagemaker', ResourceId: rid, ScalableDimension: dim,
    MinCapacity: scaling.min_copies, MaxCapacity: scaling.max_copies });
  await call('PutScalingPolicy', { PolicyName: 'p', ServiceNamespace: 'sagemaker', ResourceId: rid,
    ScalableDimension: dim, PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: {
      TargetValue: scaling.target, ScaleOutCooldown: scaling.scale_out_cooldown_s,
      ScaleInCooldown: scaling.scale_in_cooldown_s,
      PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution' } } });

  const t0 = Date.now();
  const observed = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const d = await describeIc(b.controlUrl, 'm');
      observed.push({ t: (Date.now() - t0) / 1000, copies: d.RuntimeConfig.CurrentCopyCount });
      await sleep(1000);
    }
  })();
  const latencies = [];
  let failed = 0;
  const inflight = simRun.requests.map(async (r) => {
    const wait = t0 + r.t * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    const start = Date.now();
    const res = await invoke(b.runtimeUrl, 'fid', 'm', { inputs: 'fidelity', parameters: { max_new_tokens: r.output } });
    if (res.status === 200) latencies.push((Date.now() - start) / 1000); else failed++;
  });
  await Promise.all(inflight);
  await waitFor(() => Date.now() - t0 >= DURATION_S * 1000, { timeoutMs: DURATION_S * 1000 + 60_000, intervalMs: 500,
    what: 'the scenario duration to pass' });
  sampling = false;
  await sampler;

  latencies.sort((x, y) => x - y);
  const median = latencies[Math.floor(latencies.length / 2)];
  const report = simRun.samples.map((s) => {
    const near = observed.filter((o) => Math.abs(o.t - s.t) <= 10).map((o) => o.copies);
    return { t: s.t, sim: s.copies, daemon: [...new Set(near)] };
  });
  console.log(`fidelity: ${JSON.stringify(report)}; daemon median ${median}s, sim p50 ${simRun.p50}s; failed daemon ${failed}, sim ${simRun.failed}`);
  for (const r of report) {
    if (r.t === 0 || r.t > DURATION_S - 5) continue;
    assert.ok(r.daemon.includes(r.sim), `at ${r.t} s the simulator had ${r.sim} copies, the daemon ${r.daemon}`);
  }
  assert.equal(failed, 0);
  assert.equal(simRun.failed, 0);
  assert.ok(Math.abs(median - simRun.p50) <= 0.1 * simRun.p50, `median latency ${median}s vs simulated ${simRun.p50}s`);
});

// Target-tracking autoscaling of an inference component, fast profile, with
// --scale-in-window 20: a concurrency target of 2 per copy (MinCapacity 1,
// MaxCapacity 3).  A load step of 8 concurrent 1-second requests must raise
// DesiredCopyCount within 12 s and CurrentCopyCount must follow; when the load
// stops the IC scales in after the window, never below MinCapacity; a steady
// moderate load for ~60 s must not make the count flap.  Every response is
// counted and none may fail.  The copy counts are sampled every 500 ms
// throughout and printed.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { control, invoke, sleep, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc, describeIc } from '../lib/fixtures.mjs';

const T = { timeout: 300_000 };
const EP = 'as-ep';
const IC = 'as-ic';
const RID = `inference-component/${IC}`;
const DIM = 'sagemaker:inference-component:DesiredCopyCount';
const SCALE_IN_WINDOW_S = 20;
const TOKENS = 20; // x 50 ms per token: each request lasts about 1 s
const PROMPT = { inputs: 'load', parameters: { max_new_tokens: TOKENS } };

let b;
let sampler;

/** Raw Application Auto Scaling JSON 1.1 call; throws unless 200. */
async function aas(op, body) {
  const r = await control(b.controlUrl, op, body, { target: `AnyScaleFrontendService.${op}` });
  if (r.status !== 200) throw new Error(`AnyScaleFrontendService.${op} ${JSON.stringify(body)} answered ${r.status}: ${r.text}`);
  return r.json ?? {};
}

/** Samples {t, desired, current} of the IC every intervalMs until stopped. */
function startSampler(url, name, intervalMs = 500) {
  const samples = [];
  let running = true;
  const t0 = Date.now();
  const done = (async () => {
    while (running) {
      const at = Date.now();
      try {
        const d = await describeIc(url, name);
        samples.push({ t: at - t0, at, desired: d.RuntimeConfig?.DesiredCopyCount, current: d.RuntimeConfig?.CurrentCopyCount });
      } catch (err) {
        samples.push({ t: at - t0, at, error: err.message });
      }
      await sleep(Math.max(0, intervalMs - (Date.now() - at)));
    }
  })();
  return {
    samples,
    t0,
    since: (at) => samples.filter((s) => s.at >= at && s.desired !== undefined),
    async stop() { running = false; await done; },
  };
}

/**
 * `workers` concurrent loops of invocations until stop(); every response is
 * counted, failures are kept with their status and body.
 */
function startLoad(workers, { ic = IC, endpoint = EP, body = PROMPT } = {}) {
  const stats = { ok: 0, failed: [], started: Date.now() };
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      try {
        const r = await invoke(b.runtimeUrl, endpoint, ic, body);
        if (r.status === 200) stats.ok++;
        else stats.failed.push({ at: Date.now() - stats.started, status: r.status, errortype: r.headers.get('x-amzn-errortype'), body: r.text.slice(0, 300) });
      } catch (err) {
        stats.failed.push({ at: Date.now() - stats.started, error: err.message });
      }
    }
  });
  return {
    stats,
    async stop() { running = false; await Promise.all(loops); return stats; },
  };
}

function printSamples(label, samples) {
  // Print only the changes, plus the first and last sample.
  const lines = [];
  let prev = null;
  samples.forEach((s, i) => {
    const key = `${s.desired}/${s.current}${s.error ? ' ' + s.error : ''}`;
    if (key !== prev || i === samples.length - 1) lines.push(`  t=${(s.t / 1000).toFixed(1)}s desired=${s.desired} current=${s.current}${s.error ? ' error=' + s.error : ''}`);
    prev = key;
  });
  process.stderr.write(`${label} (${samples.length} samples every 500 ms, changes only):\n${lines.join('\n')}\n`);
}

before(async () => {
  b = await startBerthd({ extraArgs: ['--scale-in-window', String(SCALE_IN_WINDOW_S)] });
  await deployEndpoint(b.controlUrl, EP); // ml.m5.xlarge: 4 vCPU, room for 3 copies of 1 core
  await deployIc(b.controlUrl, IC, EP, 'eu', { cores: 1, memoryMb: 256, env: { BERTH_MODEL_TOKEN_DELAY_MS: '50' } });
  await aas('RegisterScalableTarget', {
    ServiceNamespace: 'sagemaker', ResourceId: RID, ScalableDimension: DIM, MinCapacity: 1, MaxCapacity: 3,
  });
  await aas('PutScalingPolicy', {
    PolicyName: 'concurrency-2',
    ServiceNamespace: 'sagemaker', ResourceId: RID, ScalableDimension: DIM,
    PolicyType: 'TargetTrackingScaling',
    TargetTrackingScalingPolicyConfiguration: {
      TargetValue: 2,
      PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution' },
      ScaleOutCooldown: 0,
      ScaleInCooldown: 0,
    },
  });
  sampler = startSampler(b.controlUrl, IC);
});

after(async () => {
  await sampler?.stop();
  if (sampler) printSamples('autoscale: copy counts of as-ic over the whole run', sampler.samples);
  // The autoscaler's own reasons, oldest first, to read a failure by.
  const acts = await aas('DescribeScalingActivities', { ServiceNamespace: 'sagemaker', ResourceId: RID }).catch(() => null);
  const lines = (acts?.ScalingActivities ?? []).reverse()
    .map((a) => `  ${((a.StartTime - sampler.t0 / 1000)).toFixed(1)}s ${a.Description} ${a.Cause}`);
  process.stderr.write(`autoscale: scaling activities:\n${lines.join('\n')}\n`);
  await stopAll();
});

test('a load step scales out within 12 s; CurrentCopyCount follows; no request fails', T, async () => {
  const start = await describeIc(b.controlUrl, IC);
  assert.equal(start.RuntimeConfig?.DesiredCopyCount, 1, JSON.stringify(start.RuntimeConfig));

  const load = startLoad(8);
  const step = load.stats.started;
  let stats;
  try {
    const up = await waitFor(() => describeIc(b.controlUrl, IC), {
      timeoutMs: 12_000, intervalMs: 200, what: `${IC} DesiredCopyCount > 1 within 12 s of a load step of 8 concurrent requests`,
      until: (d) => d.RuntimeConfig?.DesiredCopyCount > 1,
    });
    const tDesired = Date.now() - step;
    process.stderr.write(`autoscale: load step -> DesiredCopyCount ${up.RuntimeConfig.DesiredCopyCount} after ${tDesired} ms\n`);
    assert.ok(up.RuntimeConfig.DesiredCopyCount <= 3, `DesiredCopyCount above MaxCapacity 3: ${JSON.stringify(up.RuntimeConfig)}`);

    const more = await waitFor(() => describeIc(b.controlUrl, IC), {
      timeoutMs: 60_000, intervalMs: 200, what: `${IC} CurrentCopyCount > 1 after the scale-out`,
      until: (d) => d.RuntimeConfig?.CurrentCopyCount > 1,
    });
    process.stderr.write(`autoscale: load step -> CurrentCopyCount ${more.RuntimeConfig.CurrentCopyCount} after ${Date.now() - step} ms\n`);

    // 8 in flight at 2 per copy needs 4: the IC should reach MaxCapacity 3 and stay there.
    const full = await waitFor(() => describeIc(b.controlUrl, IC), {
      timeoutMs: 60_000, intervalMs: 300, what: `${IC} at MaxCapacity 3 (desired and current) under 8 concurrent requests`,
      until: (d) => d.RuntimeConfig?.DesiredCopyCount === 3 && d.RuntimeConfig?.CurrentCopyCount === 3,
    });
    process.stderr.write(`autoscale: load step -> 3/3 copies after ${Date.now() - step} ms\n`);
    assert.equal(full.InferenceComponentStatus, 'InService');
  } finally {
    stats = await load.stop();
  }
  process.stderr.write(`autoscale: load step: ${stats.ok} ok, ${stats.failed.length} failed\n`);
  assert.deepEqual(stats.failed, [], `failed requests during the load step: ${JSON.stringify(stats.failed.slice(0, 10))}`);
  assert.ok(stats.ok > 0);
  const seen = sampler.since(step);
  assert.ok(seen.every((s) => s.desired <= 3), `desired above MaxCapacity: ${JSON.stringify(seen.filter((s) => s.desired > 3))}`);
});

test('without load the IC scales in after the window, never below MinCapacity 1', T, async () => {
  const stopAt = Date.now();
  let firstDownAt = null; // first time this poll or the sampler saw the count go down
  const d = await waitFor(async () => {
    const x = await describeIc(b.controlUrl, IC);
    if (firstDownAt === null && x.RuntimeConfig?.DesiredCopyCount < 3) firstDownAt = Date.now();
    return x;
  }, {
    timeoutMs: (SCALE_IN_WINDOW_S + 60) * 1000, intervalMs: 300,
    what: `${IC} to scale in to DesiredCopyCount 1 and CurrentCopyCount 1 after the ${SCALE_IN_WINDOW_S} s window`,
    until: (x) => x.RuntimeConfig?.DesiredCopyCount === 1 && x.RuntimeConfig?.CurrentCopyCount === 1,
    failIf: (x) => (x.RuntimeConfig?.DesiredCopyCount < 1 ? `DesiredCopyCount ${x.RuntimeConfig.DesiredCopyCount} below MinCapacity 1` : null),
  });
  assert.equal(d.InferenceComponentStatus, 'InService');
  const firstDown = sampler.since(stopAt).find((s) => s.desired < 3);
  if (firstDown && (firstDownAt === null || firstDown.at < firstDownAt)) firstDownAt = firstDown.at;
  const tIn = firstDownAt - stopAt;
  process.stderr.write(`autoscale: load stopped -> first scale-in after ${tIn} ms, 1/1 copies after ${Date.now() - stopAt} ms\n`);
  // Scale-in needs the whole window below 90% of the target, read in 10-s
  // datapoints by their means: the datapoint in which the load stopped may
  // already read below, so the window can close up to one datapoint early.
  assert.ok(tIn >= (SCALE_IN_WINDOW_S - 10) * 1000,
    `scaled in ${tIn} ms after the load stopped, before the ${SCALE_IN_WINDOW_S} s scale-in window`);

  // Watch for another window and a half: it stays at MinCapacity, never 0.
  const watchUntil = Date.now() + SCALE_IN_WINDOW_S * 1500;
  await waitFor(() => Date.now() >= watchUntil, { timeoutMs: SCALE_IN_WINDOW_S * 1500 + 5000, intervalMs: 500, what: 'the watch period to pass' });
  const watched = sampler.since(stopAt);
  const low = watched.filter((s) => s.desired < 1 || s.current < 1);
  assert.deepEqual(low, [], `copy count went below MinCapacity 1: ${JSON.stringify(low.slice(0, 5))}`);
  const last = watched[watched.length - 1];
  assert.deepEqual([last.desired, last.current], [1, 1], JSON.stringify(last));

  const r = await invoke(b.runtimeUrl, EP, IC, { inputs: 'x', parameters: { max_new_tokens: 1 } });
  assert.equal(r.status, 200, `after scale-in: ${r.status} ${r.text.slice(0, 300)}`);
});

test('a steady moderate load for 60 s does not flap', T, async () => {
  const load = startLoad(3); // ~3 in flight: 2 copies at 1.5 per copy, inside the 90%..100% band
  const begin = load.stats.started;
  let stats;
  try {
    await waitFor(() => Date.now() - begin >= 60_000, { timeoutMs: 70_000, intervalMs: 500, what: '60 s of steady load' });
  } finally {
    stats = await load.stop();
  }
  const seq = sampler.since(begin).filter((s) => s.at <= begin + 60_000);
  printSamples('autoscale: copy counts under steady load of 3 concurrent', seq.map((s) => ({ ...s, t: s.at - begin })));
  process.stderr.write(`autoscale: steady load: ${stats.ok} ok, ${stats.failed.length} failed\n`);
  assert.deepEqual(stats.failed, [], `failed requests under steady load: ${JSON.stringify(stats.failed.slice(0, 10))}`);
  assert.ok(seq.length >= 100, `only ${seq.length} samples in 60 s`);

  // Monotone: once the desired count went down it must never go up again (and vice versa).
  const desired = seq.map((s) => s.desired);
  let dir = 0;
  const flips = [];
  for (let i = 1; i < desired.length; i++) {
    const d = Math.sign(desired[i] - desired[i - 1]);
    if (d === 0) continue;
    if (dir !== 0 && d !== dir) flips.push({ at: seq[i].at - begin, from: desired[i - 1], to: desired[i] });
    dir = d;
  }
  assert.deepEqual(flips, [], `desired copy count flapped under steady load: ${desired.join(',')}`);
  assert.ok(desired.every((x) => x >= 1 && x <= 3), `desired outside 1..3: ${desired.join(',')}`);

  // Changes at all during a steady load: at most the one step up it needs.
  const changes = desired.filter((x, i) => i > 0 && x !== desired[i - 1]).length;
  assert.ok(changes <= 2, `${changes} changes of the desired count under steady load: ${desired.join(',')}`);
});

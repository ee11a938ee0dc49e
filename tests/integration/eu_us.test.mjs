// The seed scenario, compressed in time: one endpoint with ONE ml.m5.large
// instance (2 vCPU, 8 GiB) and two inference components, "eu" and "us", each
// needing 2 CPUs, so only one of them can have a copy at a time.  Both have a
// scalable target MinCapacity 0 / MaxCapacity 1 and a concurrency target, and
// berthd runs with --scale-in-window 10.  Phase 1 (~40 s): steady traffic to
// eu only.  Phase 2: traffic to us only: eu must go to zero after the window,
// releasing the room; us wakes (its first requests are held, not failed) and
// serves.  No request may fail in either phase.  Each IC's copy counts are
// sampled every 500 ms and printed.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { control, controlOk, invoke, sleep, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, describeIc, icBody, waitIcInService } from '../lib/fixtures.mjs';

const T = { timeout: 420_000 };
const EP = 'geo-ep';
const DIM = 'sagemaker:inference-component:DesiredCopyCount';
const SCALE_IN_WINDOW_S = 10;
const PHASE1_MS = 40_000;
const PHASE2_SERVE_MS = 20_000;     // how long us must serve after its first answer
const PHASE2_LIMIT_MS = 240_000;    // the most phase 2 may take to get there
const PROMPT = { inputs: 'geo', parameters: { max_new_tokens: 10 } }; // 10 x 20 ms = 200 ms

let b;
let sampler;

/** Raw Application Auto Scaling JSON 1.1 call; throws unless 200. */
async function aas(op, body) {
  const r = await control(b.controlUrl, op, body, { target: `AnyScaleFrontendService.${op}` });
  if (r.status !== 200) throw new Error(`AnyScaleFrontendService.${op} ${JSON.stringify(body)} answered ${r.status}: ${r.text}`);
  return r.json ?? {};
}

/** Samples both ICs every 500 ms: {t, eu: [desired, current], us: [...]}. */
function startSampler(names) {
  const samples = [];
  let running = true;
  const t0 = Date.now();
  const done = (async () => {
    while (running) {
      const at = Date.now();
      const s = { t: at - t0, at };
      for (const n of names) {
        try {
          const d = await describeIc(b.controlUrl, n);
          s[n] = [d.RuntimeConfig?.DesiredCopyCount, d.RuntimeConfig?.CurrentCopyCount, d.InferenceComponentStatus];
        } catch (err) {
          s[n] = ['error', err.message];
        }
      }
      samples.push(s);
      await sleep(Math.max(0, 500 - (Date.now() - at)));
    }
  })();
  return { samples, t0, async stop() { running = false; await done; } };
}

function printTimeline(samples, names, marks) {
  const lines = [];
  let prev = null;
  samples.forEach((s, i) => {
    const key = names.map((n) => JSON.stringify(s[n])).join(' ');
    if (key !== prev || i === samples.length - 1) {
      lines.push(`  t=${(s.t / 1000).toFixed(1).padStart(6)}s  ${names.map((n) => `${n} desired/current=${s[n]?.[0]}/${s[n]?.[1]} ${s[n]?.[2] ?? ''}`).join('   ')}`);
    }
    prev = key;
  });
  const m = Object.entries(marks).map(([k, v]) => `${k}=${v === null ? '-' : (v / 1000).toFixed(1) + 's'}`).join(' ');
  process.stderr.write(`eu_us: copy counts over time (changes only; marks: ${m}):\n${lines.join('\n')}\n`);
}

/** Sequential loops of invocations to one IC until stop(); every answer is recorded. */
function startTraffic(ic, workers, t0) {
  const log = []; // {ic, sent, ms, status, errortype, body}
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const sent = Date.now();
      try {
        const r = await invoke(b.runtimeUrl, EP, ic, PROMPT, {}, { timeoutMs: 330_000 });
        log.push({ ic, sent: sent - t0, ms: Date.now() - sent, status: r.status, errortype: r.headers.get('x-amzn-errortype'), model: r.json?.model_id, body: r.status === 200 ? undefined : r.text.slice(0, 300) });
      } catch (err) {
        log.push({ ic, sent: sent - t0, ms: Date.now() - sent, status: 'error', body: err.message });
      }
    }
  });
  return { log, async stop() { running = false; await Promise.all(loops); return log; } };
}

before(async () => {
  b = await startBerthd({ extraArgs: ['--scale-in-window', String(SCALE_IN_WINDOW_S)] });
  await deployEndpoint(b.controlUrl, EP, { variantExtra: { InstanceType: 'ml.m5.large', InitialInstanceCount: 1 } });
  // eu starts with its copy; us starts at zero (there is no room for it anyway).
  for (const [name, copies] of [['eu', 1], ['us', 0]]) {
    await controlOk(b.controlUrl, 'CreateInferenceComponent', icBody(name, EP, name, {
      cores: 2, memoryMb: 1024, copies, env: { BERTH_MODEL_TOKEN_DELAY_MS: '20' },
    }));
    await waitIcInService(b.controlUrl, name, copies);
    const rid = `inference-component/${name}`;
    await aas('RegisterScalableTarget', {
      ServiceNamespace: 'sagemaker', ResourceId: rid, ScalableDimension: DIM, MinCapacity: 0, MaxCapacity: 1,
    });
    await aas('PutScalingPolicy', {
      PolicyName: `${name}-concurrency`, ServiceNamespace: 'sagemaker', ResourceId: rid, ScalableDimension: DIM,
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: 4,
        PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution' },
        ScaleOutCooldown: 0,
        ScaleInCooldown: 0,
      },
    });
  }
});

after(async () => {
  await sampler?.stop();
  await stopAll();
});

test('eu serves, then goes to zero so that us can wake and serve; no request fails', T, async () => {
  sampler = startSampler(['eu', 'us']);
  const t0 = sampler.t0;
  const marks = { phase2: null, euZero: null, usUp: null, usFirstAnswer: null };
  let euLog = [];
  let usLog = [];
  try {
    // Phase 1: eu only.
    const eu = startTraffic('eu', 2, t0);
    await waitFor(() => Date.now() - t0 >= PHASE1_MS, { timeoutMs: PHASE1_MS + 10_000, intervalMs: 500, what: 'phase 1 to last 40 s' });
    euLog = await eu.stop();
    const phase1 = sampler.samples.filter((s) => s.at - t0 < PHASE1_MS && Array.isArray(s.eu));
    assert.ok(euLog.filter((x) => x.status === 200).length > 20, `eu served only ${euLog.filter((x) => x.status === 200).length} requests in phase 1`);
    assert.ok(phase1.every((s) => s.eu[1] === 1 && s.us[1] === 0),
      `in phase 1 eu must hold the only copy: ${JSON.stringify(phase1.filter((s) => !(s.eu[1] === 1 && s.us[1] === 0)).slice(0, 5))}`);

    // Phase 2: us only.
    marks.phase2 = Date.now() - t0;
    const us = startTraffic('us', 2, t0);
    try {
      await waitFor(() => describeIc(b.controlUrl, 'eu'), {
        timeoutMs: (SCALE_IN_WINDOW_S + 60) * 1000, intervalMs: 300,
        what: `eu to scale in to 0 copies within ${SCALE_IN_WINDOW_S + 60} s of its traffic stopping`,
        until: (d) => d.RuntimeConfig?.CurrentCopyCount === 0 && d.RuntimeConfig?.DesiredCopyCount === 0,
      });
      marks.euZero = Date.now() - t0;
      await waitFor(() => describeIc(b.controlUrl, 'us'), {
        timeoutMs: PHASE2_LIMIT_MS, intervalMs: 300,
        what: 'us to get its copy (CurrentCopyCount 1) after eu released the instance',
        until: (d) => d.RuntimeConfig?.CurrentCopyCount === 1,
        failIf: (d) => (d.InferenceComponentStatus === 'Failed' ? `us went Failed: ${d.FailureReason}` : null),
      });
      marks.usUp = Date.now() - t0;
      await waitFor(() => us.log.find((x) => x.status === 200), {
        timeoutMs: 60_000, intervalMs: 200, what: 'the first answer from us',
        failIf: () => (us.log.some((x) => x.status !== 200) ? `a us request failed: ${JSON.stringify(us.log.find((x) => x.status !== 200))}` : null),
      });
      marks.usFirstAnswer = Date.now() - t0;
      const serveUntil = Date.now() + PHASE2_SERVE_MS;
      await waitFor(() => Date.now() >= serveUntil, { timeoutMs: PHASE2_SERVE_MS + 5000, intervalMs: 500, what: 'us to serve for 20 s' });
    } finally {
      usLog = await us.stop();
    }
  } finally {
    await sampler.stop();
    printTimeline(sampler.samples, ['eu', 'us'], marks);
    const summary = (log) => {
      const ok = log.filter((x) => x.status === 200);
      const ms = ok.map((x) => x.ms).sort((a, c) => a - c);
      return `${log.length} sent, ${ok.length} ok, ${log.length - ok.length} failed; latency max ${ms[ms.length - 1] ?? '-'} ms, median ${ms[Math.floor(ms.length / 2)] ?? '-'} ms`;
    };
    process.stderr.write(`eu_us: eu ${summary(euLog)}\neu_us: us ${summary(usLog)}\n`);
    const held = usLog.filter((x) => x.sent < (marks.usUp ?? Infinity)).slice(0, 4);
    process.stderr.write(`eu_us: first us requests (held while eu went to zero): ${JSON.stringify(held)}\n`);
  }

  const failed = [...euLog, ...usLog].filter((x) => x.status !== 200);
  assert.deepEqual(failed, [], 'no request may fail in either phase');
  assert.ok(euLog.every((x) => x.model === 'eu') && usLog.every((x) => x.model === 'us'), 'answers came from the wrong model');

  // us's first requests were held across eu's scale-in and its own start: their latency spans it.
  const first = usLog.reduce((a, x) => (a === null || x.sent < a.sent ? x : a), null);
  assert.ok(first && first.sent <= marks.phase2 + 1000, `first us request: ${JSON.stringify(first)}`);
  assert.ok(first.ms >= marks.usUp - marks.phase2 - 2000,
    `the first us request (${first.ms} ms) did not wait for the copy that came ${marks.usUp - marks.phase2} ms into phase 2`);

  // Never both at once (one instance, room for one copy).
  const both = sampler.samples.filter((s) => Array.isArray(s.eu) && s.eu[1] >= 1 && s.us[1] >= 1);
  assert.deepEqual(both, [], 'eu and us both had a copy at the same time on a one-copy instance');
  const last = sampler.samples[sampler.samples.length - 1];
  assert.deepEqual([last.eu[1], last.us[1]], [0, 1], `final copy counts: ${JSON.stringify(last)}`);
});

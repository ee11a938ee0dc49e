// Scale from zero and back to zero.  An IC at 0 copies with a registered
// scalable target (MinCapacity 0, MaxCapacity 1) holds the requests that
// arrive in a bounded per-IC queue, asks for a copy at once and answers them
// when the copy is ready: the client only sees the wake time as latency.
// Past the queue bound (--wake-queue) or the wait limit (--wake-timeout) the
// answer is 429 ModelNotReadyException; without a scalable target an IC at 0
// copies answers 400 ValidationError "no capacity".  With --scale-in-window 10
// and a target-tracking policy, an idle IC returns to 0 copies and wakes again
// on the next request.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { control, controlOk, invoke, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import {
  deployEndpoint, describeIc, errorMessage, icBody, runtimeErrorType, waitIcInService,
} from '../lib/fixtures.mjs';

const T = { timeout: 300_000 };
const EP = 'zero-ep';
const DIM = 'sagemaker:inference-component:DesiredCopyCount';
const STARTUP_MS = 2000;
const SCALE_IN_WINDOW_S = 10;
const PROMPT = { inputs: 'wake', parameters: { max_new_tokens: 2 } };

let b; // the main daemon: default wake queue, --scale-in-window 10

before(async () => {
  b = await startBerthd({ extraArgs: ['--scale-in-window', String(SCALE_IN_WINDOW_S)] });
  await deployEndpoint(b.controlUrl, EP);
});

after(async () => {
  await stopAll();
});

function show(r) {
  const hs = typeof r.headers.entries === 'function' ? Object.fromEntries(r.headers.entries()) : r.headers;
  return `status ${r.status}, headers ${JSON.stringify(hs)}, body ${r.text.slice(0, 500)}`;
}

/** Raw Application Auto Scaling JSON 1.1 call; throws unless 200. */
async function aas(url, op, body) {
  const r = await control(url, op, body, { target: `AnyScaleFrontendService.${op}` });
  if (r.status !== 200) throw new Error(`AnyScaleFrontendService.${op} ${JSON.stringify(body)} answered ${r.status}: ${r.text}`);
  return r.json ?? {};
}

/** Create an IC at CopyCount 0 and wait until it is InService with 0 copies. */
async function deployAtZero(url, name, env) {
  await controlOk(url, 'CreateInferenceComponent', icBody(name, EP, name, { cores: 0.5, memoryMb: 256, copies: 0, env }));
  return waitIcInService(url, name, 0);
}

/** Register MinCapacity 0 / MaxCapacity 1 and (optionally) a concurrency target-tracking policy. */
async function registerZeroToOne(url, name, { policy = true } = {}) {
  const rid = `inference-component/${name}`;
  await aas(url, 'RegisterScalableTarget', {
    ServiceNamespace: 'sagemaker', ResourceId: rid, ScalableDimension: DIM, MinCapacity: 0, MaxCapacity: 1,
  });
  if (policy) {
    await aas(url, 'PutScalingPolicy', {
      PolicyName: 'concurrency', ServiceNamespace: 'sagemaker', ResourceId: rid, ScalableDimension: DIM,
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: 1,
        PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution' },
        ScaleOutCooldown: 0,
        ScaleInCooldown: 0,
      },
    });
  }
}

/** n concurrent invocations; resolves [{status, ms, errortype, text}]. */
async function burst(runtimeUrl, ic, n) {
  return Promise.all(Array.from({ length: n }, async () => {
    const t = Date.now();
    try {
      const r = await invoke(runtimeUrl, EP, ic, PROMPT);
      return { status: r.status, ms: Date.now() - t, errortype: runtimeErrorType(r) ?? null, text: r.status === 200 ? '' : r.text.slice(0, 300), r };
    } catch (err) {
      return { status: 'error', ms: Date.now() - t, error: err.message };
    }
  }));
}

function latencies(results) {
  const ms = results.map((x) => x.ms).sort((a, c) => a - c);
  return `min ${ms[0]} ms, median ${ms[Math.floor(ms.length / 2)]} ms, max ${ms[ms.length - 1]} ms`;
}

test('20 concurrent requests to an IC asleep at 0 copies are held and all answered 200', T, async () => {
  const ic = 'sleepy';
  await deployAtZero(b.controlUrl, ic, { BERTH_MODEL_STARTUP_DELAY_MS: String(STARTUP_MS) });
  await registerZeroToOne(b.controlUrl, ic);
  const d0 = await describeIc(b.controlUrl, ic);
  assert.deepEqual([d0.RuntimeConfig?.DesiredCopyCount, d0.RuntimeConfig?.CurrentCopyCount], [0, 0], JSON.stringify(d0.RuntimeConfig));

  const results = await burst(b.runtimeUrl, ic, 20);
  const bad = results.filter((x) => x.status !== 200);
  process.stderr.write(`scale_zero: wake with 20 held requests: ${latencies(results)}\n`);
  assert.deepEqual(bad.map(({ r, ...x }) => x), [], 'requests held during the wake must all succeed');
  const max = Math.max(...results.map((x) => x.ms));
  assert.ok(max >= STARTUP_MS, `max latency ${max} ms < startup delay ${STARTUP_MS} ms: the requests were not held for the wake`);
  assert.ok(results.every((x) => x.r.json?.model_id === ic), `answers from the wrong model: ${results.map((x) => x.r.text.slice(0, 80)).join(' | ')}`);

  const d = await describeIc(b.controlUrl, ic);
  assert.deepEqual([d.RuntimeConfig?.DesiredCopyCount, d.RuntimeConfig?.CurrentCopyCount], [1, 1], JSON.stringify(d.RuntimeConfig));
  const acts = await aas(b.controlUrl, 'DescribeScalingActivities', { ServiceNamespace: 'sagemaker', ResourceId: `inference-component/${ic}` });
  const wake = (acts.ScalingActivities ?? []).find((a) => /desired copy count to 1/i.test(a.Description ?? ''));
  assert.ok(wake && wake.StatusCode === 'Successful' && wake.Cause, `no wake activity: ${JSON.stringify(acts)}`);
  process.stderr.write(`scale_zero: wake activity cause: ${wake.Cause}\n`);
});

test('without a scalable target an IC at 0 copies answers 400 ValidationError no capacity', T, async () => {
  const ic = 'plain';
  await deployAtZero(b.controlUrl, ic, {});
  const t = Date.now();
  const r = await invoke(b.runtimeUrl, EP, ic, PROMPT);
  assert.equal(r.status, 400, show(r));
  assert.equal(runtimeErrorType(r), 'ValidationError', show(r));
  assert.match(errorMessage(r), /no capacity/i, show(r));
  assert.ok(Date.now() - t < 2000, `the no-capacity answer took ${Date.now() - t} ms: it should not be held`);
  const d = await describeIc(b.controlUrl, ic);
  assert.deepEqual([d.RuntimeConfig?.DesiredCopyCount, d.RuntimeConfig?.CurrentCopyCount], [0, 0], JSON.stringify(d.RuntimeConfig));
});

test('with --scale-in-window 10 an idle IC returns to 0 copies, then wakes again', T, async () => {
  const ic = 'sleepy'; // woken by the first test
  await waitIcInService(b.controlUrl, ic, 1);
  const t0 = Date.now();
  const d = await waitFor(() => describeIc(b.controlUrl, ic), {
    timeoutMs: (SCALE_IN_WINDOW_S + 50) * 1000, intervalMs: 500,
    what: `${ic} to scale in to 0 copies (desired and current) after ${SCALE_IN_WINDOW_S} s without traffic`,
    until: (x) => x.RuntimeConfig?.DesiredCopyCount === 0 && x.RuntimeConfig?.CurrentCopyCount === 0,
  });
  assert.equal(d.InferenceComponentStatus, 'InService');
  process.stderr.write(`scale_zero: idle -> 0 copies ${Date.now() - t0} ms after the check began\n`);

  const again = await burst(b.runtimeUrl, ic, 3);
  process.stderr.write(`scale_zero: second wake: ${latencies(again)}\n`);
  assert.deepEqual(again.filter((x) => x.status !== 200).map(({ r, ...x }) => x), []);
  assert.ok(Math.max(...again.map((x) => x.ms)) >= STARTUP_MS, `second wake did not wait for a copy: ${latencies(again)}`);
  await waitIcInService(b.controlUrl, ic, 1);
});

test('--wake-queue 5: of 10 concurrent requests 5 are held and served, 5 get 429 ModelNotReadyException', T, async () => {
  const q = await startBerthd({ extraArgs: ['--wake-queue', '5'] });
  await deployEndpoint(q.controlUrl, EP);
  const ic = 'queued';
  await deployAtZero(q.controlUrl, ic, { BERTH_MODEL_STARTUP_DELAY_MS: '6000' });
  await registerZeroToOne(q.controlUrl, ic, { policy: false });

  const results = await burst(q.runtimeUrl, ic, 10);
  const ok = results.filter((x) => x.status === 200);
  const refused = results.filter((x) => x.status === 429);
  process.stderr.write(`scale_zero: wake-queue 5: ${ok.length} ok (${ok.length ? latencies(ok) : '-'}), `
    + `${refused.length} refused (${refused.length ? latencies(refused) : '-'})\n`);
  assert.equal(ok.length, 5, `expected 5 successes: ${JSON.stringify(results.map(({ r, ...x }) => x))}`);
  assert.equal(refused.length, 5, `expected 5 refusals: ${JSON.stringify(results.map(({ r, ...x }) => x))}`);
  for (const x of refused) {
    assert.equal(x.errortype, 'ModelNotReadyException', show(x.r));
    assert.ok(x.ms < 6000, `a refusal took ${x.ms} ms: it should come at once, not after the wake`);
  }
  assert.ok(Math.min(...ok.map((x) => x.ms)) >= 5000, `held requests answered before the copy could be ready: ${latencies(ok)}`);
  await q.stop();
});

test('--wake-timeout: a held request is answered 429 ModelNotReadyException when no copy is ready in time', T, async () => {
  const w = await startBerthd({ extraArgs: ['--wake-timeout', '2'] });
  await deployEndpoint(w.controlUrl, EP);
  const ic = 'slow';
  await deployAtZero(w.controlUrl, ic, { BERTH_MODEL_STARTUP_DELAY_MS: '20000' });
  await registerZeroToOne(w.controlUrl, ic, { policy: false });
  const [x] = await burst(w.runtimeUrl, ic, 1);
  process.stderr.write(`scale_zero: wake-timeout 2 s: answered ${x.status} ${x.errortype} after ${x.ms} ms\n`);
  assert.equal(x.status, 429, show(x.r));
  assert.equal(x.errortype, 'ModelNotReadyException', show(x.r));
  assert.ok(x.ms >= 1500 && x.ms < 10_000, `answered after ${x.ms} ms; expected about 2 s`);
  await w.stop();
});

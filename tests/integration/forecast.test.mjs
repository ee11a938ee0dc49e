// Forecast-driven warm-up (docs/forecast.md) on a daily pattern compressed
// to a 10-minute season (berthd up --forecast-season 600).  One berth-model
// IC with a ConcurrentRequestsPerCopy target-tracking policy and
// MinCapacity 0 gets load for 90 s, scales back to zero, and must then have
// a ready copy again before the same moment of the next season, with no
// request sent in between: the forecast, not a request, woke it.  A request
// then is answered without waiting for a copy start.
//
// Runs about 9.5 minutes: most of one season plus the deploy.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { control, controlOk, invoke, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, describeIc, icBody, waitIcInService } from '../lib/fixtures.mjs';

const SEASON_S = 600;
const LOAD_S = 90;
const SCALE_IN_WINDOW_S = 60;
const STARTUP_MS = 5000;
const EP = 'forecast-ep';
const IC = 'daily';
const DIM = 'sagemaker:inference-component:DesiredCopyCount';
const PROMPT = { inputs: 'season', parameters: { max_new_tokens: 10 } };
const T = { timeout: (SEASON_S + 240) * 1000 };

let b;

before(async () => {
  b = await startBerthd({ extraArgs: ['--forecast-season', String(SEASON_S), '--scale-in-window', String(SCALE_IN_WINDOW_S)] });
  await deployEndpoint(b.controlUrl, EP);
});

after(async () => {
  await stopAll();
});

async function aas(op, body) {
  const r = await control(b.controlUrl, op, body, { target: `AnyScaleFrontendService.${op}` });
  if (r.status !== 200) throw new Error(`${op} answered ${r.status}: ${r.text}`);
  return r.json ?? {};
}

const copies = (d) => [d.RuntimeConfig?.DesiredCopyCount, d.RuntimeConfig?.CurrentCopyCount];
const log = (t0, what) => process.stderr.write(`forecast: +${((Date.now() - t0) / 1000).toFixed(1)} s ${what}\n`);

test('a daily pattern compressed to a 10-minute season is pre-warmed by the forecast', T, async () => {
  await controlOk(b.controlUrl, 'CreateInferenceComponent', icBody(IC, EP, IC, {
    cores: 0.5, memoryMb: 256, copies: 0,
    env: { BERTH_MODEL_STARTUP_DELAY_MS: String(STARTUP_MS), BERTH_MODEL_TOKEN_DELAY_MS: '100' },
  }));
  await waitIcInService(b.controlUrl, IC, 0);
  const rid = `inference-component/${IC}`;
  await aas('RegisterScalableTarget', { ServiceNamespace: 'sagemaker', ResourceId: rid, ScalableDimension: DIM, MinCapacity: 0, MaxCapacity: 1 });
  await aas('PutScalingPolicy', {
    PolicyName: 'concurrency', ServiceNamespace: 'sagemaker', ResourceId: rid, ScalableDimension: DIM,
    PolicyType: 'TargetTrackingScaling',
    TargetTrackingScalingPolicyConfiguration: {
      TargetValue: 2,
      PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution' },
      ScaleOutCooldown: 0, ScaleInCooldown: 0,
    },
  });

  // The first season's load: two workers, one request each at a time, about
  // a second each (10 tokens x 100 ms), so about 2 in flight: one copy.
  const t0 = Date.now();
  let sent = 0;
  const failed = [];
  const worker = async () => {
    while (Date.now() - t0 < LOAD_S * 1000) {
      const r = await invoke(b.runtimeUrl, EP, IC, PROMPT);
      sent++;
      if (r.status !== 200) failed.push(`${r.status} ${r.text.slice(0, 200)}`);
    }
  };
  await Promise.all([worker(), worker()]);
  const loadEnd = Date.now();
  log(t0, `load over: ${sent} requests, ${failed.length} failed`);
  assert.deepEqual(failed, []);

  // Back to zero, well before the next season's window.
  await waitFor(() => describeIc(b.controlUrl, IC), {
    timeoutMs: (SEASON_S - LOAD_S - 120) * 1000, intervalMs: 1000,
    what: `${IC} to scale in to 0 copies after the load`,
    until: (d) => copies(d)[0] === 0 && copies(d)[1] === 0,
  });
  log(t0, 'at 0 copies');

  // No request until t0 + SEASON_S: the copy must be ready before then.
  const due = t0 + SEASON_S * 1000;
  const d = await waitFor(() => describeIc(b.controlUrl, IC), {
    timeoutMs: due - Date.now(), intervalMs: 500,
    what: `${IC} to have a ready copy before the next season's load at +${SEASON_S} s`,
    until: (x) => copies(x)[1] === 1,
  });
  const readyAt = Date.now();
  log(t0, `copy ready ${((due - readyAt) / 1000).toFixed(1)} s before the load: ${JSON.stringify(d.RuntimeConfig)}`);
  assert.ok(readyAt < due, 'ready after the load step');
  assert.ok(readyAt - loadEnd > SCALE_IN_WINDOW_S * 1000, 'the copy never went away');

  const acts = await aas('DescribeScalingActivities', { ServiceNamespace: 'sagemaker', ResourceId: rid });
  const fc = (acts.ScalingActivities ?? []).find((a) => /^forecast/.test(a.Cause ?? ''));
  assert.ok(fc, `no scaling activity caused by the forecast: ${JSON.stringify(acts.ScalingActivities?.map((a) => a.Cause))}`);
  log(t0, `activity: ${fc.Cause}`);

  // A request now, ahead of the next season's load, meets the ready copy:
  // no copy start in its latency. (Not waiting for +600 s keeps the test
  // within ctest's 600-s limit.)
  const s = Date.now();
  const r = await invoke(b.runtimeUrl, EP, IC, PROMPT);
  const ms = Date.now() - s;
  log(t0, `a request ${((due - s) / 1000).toFixed(1)} s before the next season's load: ${r.status} in ${ms} ms`);
  assert.equal(r.status, 200, r.text);
  assert.ok(ms < STARTUP_MS, `answered after ${ms} ms: it waited for a copy start (${STARTUP_MS} ms)`);
});

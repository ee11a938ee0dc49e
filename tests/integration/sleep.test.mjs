// Sleeping copies (docs/sleep.md).  An IC with Specification.BerthSleepPolicy
// puts an idle berth-model copy to sleep through the server's own API
// (POST /sleep?level=1, as vLLM's sleep mode): Describe counts it in
// RuntimeConfig.BerthSleepingCopyCount, and the instance keeps only its
// memory reserved.  A request then is held, the copy wakes (POST /wake_up,
// BERTH_MODEL_WAKE_DELAY_MS) and answers within 1.5 s, with zero failures,
// also for requests that arrive together during the wake.  A server without
// the sleep API is frozen in its cgroup where the agent has cgroup v2, and
// otherwise stays ready; either way it answers.  A copy asleep for
// StopAfterSleepSeconds stops as a scale-in when its IC scales. A sleeping
// copy stays asleep when its agent or the controller restarts. Its cores
// are free for other copies meanwhile; when one took them, the sleeper
// cannot wake in place and a new copy starts cold instead.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';

import { control, controlOk, rolePids, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, describeIc, icBody, waitIcInService } from '../lib/fixtures.mjs';

const T = { timeout: 180_000 };
const EP = 'sleep-ep';
const WAKE_DELAY_MS = 500;
const WAKE_LIMIT_MS = 1500; // the "wakes and answers within 1.5 s"
const PROMPT = JSON.stringify({ inputs: 'wake up', parameters: { max_new_tokens: 2 } });

let b;
let rt;

before(async () => {
  b = await startBerthd();
  await deployEndpoint(b.controlUrl, EP);
  rt = new SageMakerRuntimeClient(b.sdk(b.runtimeUrl, { maxAttempts: 1 }));
});

after(async () => {
  await stopAll();
});

function sleepyIc(name, policy, env = {}, copies = 1) {
  const body = icBody(name, EP, name, { cores: 1, memoryMb: 512, copies, env: { BERTH_MODEL_WAKE_DELAY_MS: String(WAKE_DELAY_MS), ...env } });
  body.Specification.BerthSleepPolicy = policy;
  return body;
}

/** One InvokeEndpoint through the real SDK: {ok, ms, model, error}. */
async function invokeTimed(ic) {
  const t = Date.now();
  try {
    const r = await rt.send(new InvokeEndpointCommand({
      EndpointName: EP, InferenceComponentName: ic, ContentType: 'application/json', Body: PROMPT,
    }));
    const body = JSON.parse(Buffer.from(r.Body).toString('utf8'));
    return { ok: true, ms: Date.now() - t, model: body.model_id };
  } catch (err) {
    return { ok: false, ms: Date.now() - t, error: `${err.name}: ${err.message}` };
  }
}

function waitSleeping(name, n, timeoutMs = 30_000) {
  return waitFor(() => describeIc(b.controlUrl, name), {
    timeoutMs, intervalMs: 200,
    what: `${name} to show BerthSleepingCopyCount ${n}`,
    until: (d) => d.RuntimeConfig?.BerthSleepingCopyCount === n,
  });
}

async function instanceOf(name) {
  const r = await control(b.controlUrl, 'DescribeInstances', { EndpointName: EP }, { target: 'Berth.DescribeInstances' });
  assert.equal(r.status, 200, r.text);
  return r.json.Instances.find((i) => i.Copies.some((cp) => cp.InferenceComponentName === name || cp.InferenceComponent === name))
    ?? r.json.Instances[0];
}

test('BerthSleepPolicy is validated, and Describe shows it with its defaults', T, async () => {
  const bad = async (policy, re) => {
    const r = await control(b.controlUrl, 'CreateInferenceComponent', sleepyIc('bad-sleep', policy));
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json?.__type?.split('#').pop(), 'ValidationException', r.text);
    assert.match(r.json?.message ?? r.text, re, r.text);
  };
  await bad({ SleepAfterIdleSeconds: 0 }, /Specification\.BerthSleepPolicy\.SleepAfterIdleSeconds/);
  await bad({ StopAfterSleepSeconds: -1 }, /Specification\.BerthSleepPolicy\.StopAfterSleepSeconds/);
  await bad({ SleepAfterIdle: 5 }, /BerthSleepPolicy has no field "SleepAfterIdle"/);
  await bad('soon', /Specification\.BerthSleepPolicy/);

  await controlOk(b.controlUrl, 'CreateInferenceComponent', sleepyIc('defaults', {}));
  const d = await waitIcInService(b.controlUrl, 'defaults', 1);
  assert.deepEqual(d.Specification.BerthSleepPolicy, { SleepAfterIdleSeconds: 300, StopAfterSleepSeconds: 3600 });
  assert.equal(d.RuntimeConfig.BerthSleepingCopyCount, 0);
  await controlOk(b.controlUrl, 'DeleteInferenceComponent', { InferenceComponentName: 'defaults' });
});

test('an idle berth-model copy sleeps, then wakes and answers within 1.5 s with zero failures', T, async () => {
  const ic = 'nap';
  await controlOk(b.controlUrl, 'CreateInferenceComponent', sleepyIc(ic, { SleepAfterIdleSeconds: 2, StopAfterSleepSeconds: 600 }));
  await waitIcInService(b.controlUrl, ic, 1);
  const first = await invokeTimed(ic);
  assert.ok(first.ok, first.error);
  const before = await instanceOf(ic);

  for (let round = 1; round <= 2; round++) {
    const t0 = Date.now();
    const d = await waitSleeping(ic, 1);
    assert.equal(d.RuntimeConfig.CurrentCopyCount, 1, 'a sleeping copy is still a current copy');
    assert.equal(d.InferenceComponentStatus, 'InService');
    process.stderr.write(`sleep: round ${round}: asleep ${Date.now() - t0} ms after the last request\n`);
    // Its agent put the server to sleep (not just the controller's intent).
    await waitFor(async () => b.logs(), {
      timeoutMs: 10_000, intervalMs: 100, what: 'the agent to log the copy asleep through its API',
      until: (logs) => (logs.match(/nap: copy \d+ asleep \(its server's POST \/sleep\?level=1\)/g) ?? []).length >= round,
    });
    const asleep = await instanceOf(ic);
    assert.equal(asleep.Reserved.CpuMillicores, before.Reserved.CpuMillicores - 1000,
      `a sleeping copy gives its core back: ${JSON.stringify(before.Reserved)} -> ${JSON.stringify(asleep.Reserved)}`);
    assert.equal(asleep.Reserved.MemoryMb, before.Reserved.MemoryMb, 'a sleeping copy keeps its memory');

    // Round 1: one request; round 2: four at once during the wake.
    const n = round === 1 ? 1 : 4;
    const results = await Promise.all(Array.from({ length: n }, () => invokeTimed(ic)));
    const failed = results.filter((r) => !r.ok);
    assert.deepEqual(failed, [], 'no request to a sleeping copy may fail');
    const ms = results.map((r) => r.ms);
    process.stderr.write(`sleep: round ${round}: ${n} request(s) answered in ${ms.join(', ')} ms (wake delay ${WAKE_DELAY_MS} ms)\n`);
    assert.ok(Math.max(...ms) <= WAKE_LIMIT_MS, `woke too slowly: ${ms.join(', ')} ms > ${WAKE_LIMIT_MS} ms`);
    assert.ok(Math.max(...ms) >= WAKE_DELAY_MS - 50, `answered in ${ms.join(', ')} ms: the copy was not asleep`);
    assert.ok(results.every((r) => r.model === ic), JSON.stringify(results));
    const awake = await describeIc(b.controlUrl, ic);
    assert.equal(awake.RuntimeConfig.BerthSleepingCopyCount, 0, JSON.stringify(awake.RuntimeConfig));
    const back = await instanceOf(ic);
    assert.equal(back.Reserved.CpuMillicores, before.Reserved.CpuMillicores, 'awake, it holds its core again');
  }
});

test('a server without the sleep API is frozen in its cgroup, or stays ready; it answers either way', T, async () => {
  const ic = 'no-api';
  await controlOk(b.controlUrl, 'CreateInferenceComponent',
    sleepyIc(ic, { SleepAfterIdleSeconds: 1, StopAfterSleepSeconds: 600 }, { BERTH_MODEL_SLEEP_API: '0' }));
  await waitIcInService(b.controlUrl, ic, 1);
  const logs = await waitFor(async () => b.logs(), {
    timeoutMs: 20_000, intervalMs: 100, what: 'the copy to be frozen, or found unable to sleep',
    until: (l) => /no-api: copy \d+ (asleep \(its cgroup frozen\)|cannot sleep)/.test(l),
  });
  const frozen = /no-api: copy \d+ asleep \(its cgroup frozen\)/.test(logs);
  process.stderr.write(`sleep: without the sleep API the copy was ${frozen ? 'frozen in its cgroup' : 'kept ready (no cgroup v2 group)'}\n`);
  if (!frozen) {
    const d = await waitSleeping(ic, 0);
    assert.equal(d.RuntimeConfig.CurrentCopyCount, 1);
  }
  const r = await invokeTimed(ic);
  assert.ok(r.ok, r.error);
  assert.ok(r.ms <= WAKE_LIMIT_MS, `answered in ${r.ms} ms`);
});

test('a copy asleep for StopAfterSleepSeconds stops as a scale-in when its IC scales', T, async () => {
  const ic = 'long-nap';
  await controlOk(b.controlUrl, 'CreateInferenceComponent', sleepyIc(ic, { SleepAfterIdleSeconds: 1, StopAfterSleepSeconds: 2 }));
  await waitIcInService(b.controlUrl, ic, 1);
  const r = await control(b.controlUrl, 'RegisterScalableTarget', {
    ServiceNamespace: 'sagemaker', ResourceId: `inference-component/${ic}`,
    ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount', MinCapacity: 0, MaxCapacity: 1,
  }, { target: 'AnyScaleFrontendService.RegisterScalableTarget' });
  assert.equal(r.status, 200, r.text);
  await waitSleeping(ic, 1);
  const d = await waitFor(() => describeIc(b.controlUrl, ic), {
    timeoutMs: 30_000, intervalMs: 200, what: `${ic} to scale in to 0 copies after sleeping`,
    until: (x) => x.RuntimeConfig?.DesiredCopyCount === 0 && x.RuntimeConfig?.CurrentCopyCount === 0,
  });
  assert.equal(d.RuntimeConfig.BerthSleepingCopyCount, 0);
  assert.match(b.logs(), /long-nap: desired copies 1 -> 0 \(copy \d+ asleep for \d+ s \(BerthSleepPolicy\.StopAfterSleepSeconds 2\)\)/);
  // At zero it wakes from zero as any scaling IC does (a cold start).
  const again = await invokeTimed(ic);
  assert.ok(again.ok, again.error);
  await controlOk(b.controlUrl, 'DeleteInferenceComponent', { InferenceComponentName: ic });
});

test('a sleeping copy stays asleep across an agent restart and a controller restart, and still wakes', T, async () => {
  const ic = 'rest';
  const asleepLines = () => (b.logs().match(/rest: copy \d+ asleep \(its server's POST \/sleep\?level=1\)/g) ?? []).length;
  await controlOk(b.controlUrl, 'CreateInferenceComponent', sleepyIc(ic, { SleepAfterIdleSeconds: 1, StopAfterSleepSeconds: 600 }));
  await waitIcInService(b.controlUrl, ic, 1);
  await waitSleeping(ic, 1);
  await waitFor(async () => asleepLines(), { timeoutMs: 10_000, intervalMs: 100, what: 'the copy asleep', until: (n) => n >= 1 });
  // Other ICs' copies come and go: this one's start lines count its starts.
  const starts = () => (b.logs().match(/rest: copy \d+ started/g) ?? []).length;

  // The agent dies: its successor adopts the copy, and it is put back to sleep.
  const [agentPid] = rolePids('agent');
  assert.ok(agentPid, 'an agent runs');
  const seen = asleepLines();
  process.kill(agentPid, 'SIGKILL');
  await waitFor(() => rolePids('agent'), {
    timeoutMs: 30_000, intervalMs: 100, what: 'a new agent', until: (p) => p.length === 1 && p[0] !== agentPid,
  });
  await waitFor(async () => asleepLines(), {
    timeoutMs: 30_000, intervalMs: 100, what: 'the adopted copy put back to sleep', until: (n) => n > seen,
  });
  assert.equal(starts(), 1, 'no copy restarted with its agent');
  assert.equal((await describeIc(b.controlUrl, ic)).RuntimeConfig.BerthSleepingCopyCount, 1);
  const r1 = await invokeTimed(ic);
  assert.ok(r1.ok && r1.ms <= WAKE_LIMIT_MS, `after an agent restart: ${JSON.stringify(r1)}`);
  process.stderr.write(`sleep: after an agent restart the copy woke and answered in ${r1.ms} ms\n`);

  // The controller dies: the new one takes the copy over asleep.
  const before = asleepLines();
  await waitFor(async () => asleepLines(), {
    timeoutMs: 10_000, intervalMs: 100, what: 'the copy asleep again', until: (n) => n > before,
  });
  const controller = b.controllerPid();
  process.kill(controller, 'SIGKILL');
  await waitFor(() => b.controllerPid(), {
    timeoutMs: 30_000, intervalMs: 100, what: 'a new controller', until: (p) => p && p !== controller,
  });
  const d = await waitFor(() => describeIc(b.controlUrl, ic).catch(() => null), {
    timeoutMs: 30_000, intervalMs: 200, what: `${ic} adopted asleep by the new controller`,
    until: (x) => x?.RuntimeConfig?.BerthSleepingCopyCount === 1 && x.RuntimeConfig.CurrentCopyCount === 1,
  });
  assert.equal(d.InferenceComponentStatus, 'InService');
  assert.equal(starts(), 1, 'no copy restarted with its controller');
  const r2 = await invokeTimed(ic);
  assert.ok(r2.ok && r2.ms <= WAKE_LIMIT_MS, `after a controller restart: ${JSON.stringify(r2)}`);
  process.stderr.write(`sleep: after a controller restart the copy woke and answered in ${r2.ms} ms\n`);
});

test('a sleeper\'s core goes to another copy; then it cannot wake in place and a new copy starts cold, with no failure', T, async () => {
  const ep = 'sleep-fleet';
  await deployEndpoint(b.controlUrl, ep, {
    variantExtra: { ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 1, MaxInstanceCount: 2, ScaleInPolicy: { Strategy: 'IDLE_RELEASE' } } },
  });
  const body = (name, cores, policy) => {
    const x = icBody(name, ep, name, { cores, memoryMb: 512, env: { BERTH_MODEL_WAKE_DELAY_MS: String(WAKE_DELAY_MS) } });
    if (policy) x.Specification.BerthSleepPolicy = policy;
    return x;
  };
  const count = async () => {
    const r = await control(b.controlUrl, 'DescribeInstances', { EndpointName: ep }, { target: 'Berth.DescribeInstances' });
    return r.json.Instances.length;
  };
  // 3 cores asleep hold none: a 2-core copy fits beside it on the 4-vCPU instance.
  await controlOk(b.controlUrl, 'CreateInferenceComponent', body('big', 3, { SleepAfterIdleSeconds: 1, StopAfterSleepSeconds: 600 }));
  await waitIcInService(b.controlUrl, 'big', 1);
  await waitSleeping('big', 1);
  await controlOk(b.controlUrl, 'CreateInferenceComponent', body('small', 2));
  await waitIcInService(b.controlUrl, 'small', 1);
  assert.equal(await count(), 1, 'the 2-core copy went where the sleeper freed its cores');

  const rt2 = new SageMakerRuntimeClient(b.sdk(b.runtimeUrl, { maxAttempts: 1 }));
  const t = Date.now();
  const r = await rt2.send(new InvokeEndpointCommand({
    EndpointName: ep, InferenceComponentName: 'big', ContentType: 'application/json', Body: PROMPT,
  }));
  const ms = Date.now() - t;
  assert.equal(JSON.parse(Buffer.from(r.Body).toString('utf8')).model_id, 'big');
  process.stderr.write(`sleep: no room to wake in place: a new copy started cold and answered in ${ms} ms\n`);
  assert.match(b.logs(), /big: copy \d+ cannot wake on instance \d+: other copies took its CPU/);
  assert.equal(await count(), 2, 'managed instance scaling added an instance for the new copy');
  const d = await waitIcInService(b.controlUrl, 'big', 1);
  assert.equal(d.RuntimeConfig.BerthSleepingCopyCount, 0);
});

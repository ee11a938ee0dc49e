// Roles as processes: every local instance is a `berthd agent` process, and
// a copy belongs to neither its agent nor its controller. Under a steady
// load (100 requests/s to two ICs with two copies each, on two local
// instances):
// - kill -9 of an agent: the controller starts it again, the new agent
//   adopts the copies its predecessor left (same PIDs), and not one
//   invocation fails;
// - kill -9 of the router: the supervisor starts it again, and requests
//   sent after the kill succeed again within 2 s;
// - kill -9 of the controller: the router serves on from its last routing
//   snapshot (not one invocation fails), the supervisor starts a new
//   controller on the same data dir, which finds the agents still running
//   and adopts every copy (same PIDs); endpoints, ICs and scaling policies
//   are as before;
// - the same with the roles run on their own (`berthd controller`, `berthd
//   router --controller URL`) under 60 s of load, the new controller
//   started only after 10 s of outage.
// Each phase prints its counts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  BERTHD, TEST_TAG, childrenRunning, control, controlOk, credentialsIn, freePort, invoke, modelPids, rolePids, startBerthd,
  registerCredentials, stopAll, waitFor,
} from '../lib/berthd.mjs';
import { deployEndpoint, describeIc, icBody, waitIcInService } from '../lib/fixtures.mjs';


const EP = 'roles-ep';
const ICS = ['roles-a', 'roles-b'];
const RATE = 100; // requests per second, spread over both ICs

let b;
before(async () => {
  b = await startBerthd();
  await deployEndpoint(b.controlUrl, EP, { variantExtra: { InitialInstanceCount: 2 } });
  for (const ic of ICS) await controlOk(b.controlUrl, 'CreateInferenceComponent', icBody(ic, EP, ic, { copies: 2 }));
  for (const ic of ICS) await waitIcInService(b.controlUrl, ic, 2);
});
after(() => stopAll());

/** RATE invocations per second (each on its own schedule, not waiting for
 * the previous one) until stop(); counts answers by outcome. */
function startLoad(runtimeUrl = b.runtimeUrl, endpoint = EP) {
  const stats = { sent: 0, ok: 0, failed: 0, statuses: {}, first: null, okAt: [] };
  let running = true;
  const pending = new Set();
  const t0 = Date.now();
  const tick = setInterval(() => {
    const due = Math.floor(((Date.now() - t0) / 1000) * RATE);
    while (running && stats.sent < due) {
      const ic = ICS[stats.sent % ICS.length];
      stats.sent++;
      const sentAt = Date.now();
      const p = invoke(runtimeUrl, endpoint, ic, { inputs: 'load' }, {}, { timeoutMs: 30_000 })
        .then((r) => {
          if (r.status === 200 && r.json?.model_id === ic) { stats.ok++; stats.okAt.push(sentAt); return; }
          stats.failed++;
          stats.statuses[r.status] = (stats.statuses[r.status] ?? 0) + 1;
          stats.first ??= `${r.status} ${r.text.slice(0, 300)}`;
        }, (e) => {
          stats.failed++;
          stats.statuses.error = (stats.statuses.error ?? 0) + 1;
          stats.first ??= e.message;
        })
        .finally(() => pending.delete(p));
      pending.add(p);
    }
  }, 10);
  return {
    stats,
    async stop() {
      running = false;
      clearInterval(tick);
      await Promise.all([...pending]);
      return stats;
    },
  };
}

async function copiesByIc() {
  const out = {};
  for (const ic of ICS) {
    const d = await describeIc(b.controlUrl, ic);
    out[ic] = { status: d.InferenceComponentStatus, current: d.RuntimeConfig?.CurrentCopyCount, desired: d.RuntimeConfig?.DesiredCopyCount };
  }
  return out;
}

test('kill -9 of an agent under load: no invocation fails, its copies keep their PIDs', { timeout: 120_000 }, async (t) => {
  const models = modelPids();
  assert.equal(models.length, 4, `two ICs with two copies each run four model servers: ${models}`);
  const agents = rolePids('agent');
  assert.equal(agents.length, 2, `two local instances run two agents: ${agents}`);
  // The agents' and routers' tokens are not for model servers to read.
  for (const pid of models) {
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'latin1');
    assert.doesNotMatch(env, /BERTH_(AGENT|ROUTER)_TOKEN=/, `model server ${pid} sees a token`);
  }
  const load = startLoad();
  try {
    await waitFor(() => load.stats.ok >= RATE, { timeoutMs: 10_000, what: 'the load to run' });
    const mark = b.logs().length;
    const victim = agents[0];
    process.kill(victim, 'SIGKILL');
    const fresh = await waitFor(() => rolePids('agent').filter((p) => !agents.includes(p)), {
      timeoutMs: 15_000, intervalMs: 100, what: 'the controller to start the agent again', until: (p) => p.length === 1,
    });
    await waitFor(() => b.logs().slice(mark), {
      timeoutMs: 15_000, what: 'the new agent to adopt the copies',
      until: (l) => /its agent was killed by signal 9; starting it again/.test(l) && /adopted copy \d+/.test(l),
    });
    // It keeps serving for a while through the new agent.
    const until = load.stats.ok + 3 * RATE;
    await waitFor(() => load.stats.ok >= until, { timeoutMs: 20_000, what: 'three more seconds of load' });
    assert.deepEqual(modelPids(), models, 'every copy keeps its PID');
    assert.equal(rolePids('agent').length, 2, `agents now: ${rolePids('agent')} (new ${fresh})`);
  } finally {
    const s = await load.stop();
    t.diagnostic(`agent kill: ${s.sent} sent, ${s.ok} ok, ${s.failed} failed ${JSON.stringify(s.statuses)}${s.first ? ' first: ' + s.first : ''}`);
    assert.equal(s.failed, 0, `no invocation fails while an agent restarts; first failure: ${s.first}`);
  }
  const state = await copiesByIc();
  for (const ic of ICS) assert.deepEqual(state[ic], { status: 'InService', current: 2, desired: 2 }, ic);
});

test('kill -9 of the controller: a new one adopts every copy, state as before', { timeout: 180_000 }, async (t) => {
  const aas = async (op, body) => {
    const r = await control(b.controlUrl, op, body, { target: `AnyScaleFrontendService.${op}` });
    assert.equal(r.status, 200, `${op}: ${r.text}`);
    return r.json;
  };
  const rid = `inference-component/${ICS[0]}`;
  const dim = 'sagemaker:inference-component:DesiredCopyCount';
  await aas('RegisterScalableTarget', { ServiceNamespace: 'sagemaker', ResourceId: rid, ScalableDimension: dim, MinCapacity: 2, MaxCapacity: 3 });
  await aas('PutScalingPolicy', {
    PolicyName: 'roles-tt', ServiceNamespace: 'sagemaker', ResourceId: rid, ScalableDimension: dim, PolicyType: 'TargetTrackingScaling',
    TargetTrackingScalingPolicyConfiguration: { TargetValue: 1000, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentInvocationsPerCopy' } },
  });
  const policies = async () => (await aas('DescribeScalingPolicies', { ServiceNamespace: 'sagemaker', ResourceId: rid })).ScalingPolicies
    .map((p) => ({ name: p.PolicyName, type: p.PolicyType, target: p.TargetTrackingScalingPolicyConfiguration?.TargetValue }));
  const policiesBefore = await policies();
  const endpointsBefore = (await controlOk(b.controlUrl, 'ListEndpoints', {})).Endpoints.map((e) => e.EndpointName);
  const models = modelPids();
  const agents = rolePids('agent');
  const first = b.controllerPid();
  assert.ok(first);

  const load = startLoad();
  let s;
  try {
    await waitFor(() => load.stats.ok >= RATE, { timeoutMs: 10_000, what: 'the load to run' });
    process.kill(first, 'SIGKILL');
    await waitFor(() => b.controllerPid(), {
      timeoutMs: 15_000, intervalMs: 100, what: 'the supervisor to start a new controller', until: (p) => p && p !== first,
    });
    await waitFor(async () => (await copiesByIc().catch(() => null)), {
      timeoutMs: 30_000, intervalMs: 200, what: 'both ICs back with their two copies',
      until: (st) => st && ICS.every((ic) => st[ic].status === 'InService' && st[ic].current === 2),
    });
    const until = load.stats.ok + 3 * RATE;
    await waitFor(() => load.stats.ok >= until, { timeoutMs: 20_000, what: 'three more seconds of load' });
  } finally {
    s = await load.stop();
    t.diagnostic(`controller kill: ${s.sent} sent, ${s.ok} ok, ${s.failed} failed ${JSON.stringify(s.statuses)}${s.first ? ' first: ' + s.first : ''}`);
  }
  assert.deepEqual(modelPids(), models, 'every copy keeps its PID');
  assert.deepEqual(rolePids('agent'), agents, 'the agents kept running and were adopted');
  assert.match(b.logs(), /its agent \(pid \d+\) still runs: adopted/);
  assert.deepEqual((await controlOk(b.controlUrl, 'ListEndpoints', {})).Endpoints.map((e) => e.EndpointName), endpointsBefore);
  assert.deepEqual(await policies(), policiesBefore);
  for (const ic of ICS) {
    const d = await describeIc(b.controlUrl, ic);
    assert.equal(d.RuntimeConfig.DesiredCopyCount, 2, ic);
  }
  assert.equal(s.failed, 0, `no invocation fails while the controller restarts; first failure: ${s.first}`);
});

test('kill -9 of the router: it is restarted and new requests succeed within 2 s', { timeout: 60_000 }, async (t) => {
  const models = modelPids();
  const [router] = childrenRunning(b.proc.pid, 'router');
  assert.ok(router, 'berthd up runs a router');
  const load = startLoad();
  let killedAt;
  try {
    await waitFor(() => load.stats.ok >= RATE, { timeoutMs: 10_000, what: 'the load to run' });
    killedAt = Date.now();
    process.kill(router, 'SIGKILL');
    await waitFor(() => load.stats.okAt.some((at) => at > killedAt), {
      timeoutMs: 10_000, intervalMs: 20, what: 'a request sent after the kill to succeed',
    });
    const until = load.stats.ok + RATE;
    await waitFor(() => load.stats.ok >= until, { timeoutMs: 10_000, what: 'one more second of load' });
  } finally {
    const s = await load.stop();
    const back = Math.min(...s.okAt.filter((at) => at > killedAt)) - killedAt;
    t.diagnostic(`router kill: ${s.sent} sent, ${s.ok} ok, ${s.failed} failed ${JSON.stringify(s.statuses)}; `
      + `the first request that succeeded after the kill was sent ${back} ms after it`);
    assert.ok(back <= 2000, `requests succeed again ${back} ms after the kill (at most 2000)`);
  }
  assert.notEqual(childrenRunning(b.proc.pid, 'router')[0], router, 'a new router runs');
  assert.match(b.logs(), new RegExp(`router \\(pid ${router}\\) was killed by signal 9`));
  assert.deepEqual(modelPids(), models, 'copies are not touched by a router restart');
});

/** `berthd ROLE ARGS` on its own (no supervisor), output kept. */
function startRole(role, args, env = {}) {
  const proc = spawn(BERTHD, [role, ...args], {
    env: { ...process.env, BERTH_TEST_TAG: TEST_TAG, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const r = { proc, out: '', exited: new Promise((resolve) => proc.on('exit', resolve)) };
  proc.stdout.on('data', (d) => { r.out += d; });
  proc.stderr.on('data', (d) => { r.out += d; });
  return r;
}

test('roles on their own, 60 s of load: a new controller 10 s after kill -9 adopts everything, no invocation fails', { timeout: 240_000 }, async (t) => {
  const models0 = modelPids(); // berthd up's copies, from the tests above
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-test-roles-'));
  const [cport, rport] = [await freePort(), await freePort()];
  const controlUrl = `http://127.0.0.1:${cport}`;
  const runtimeUrl = `http://127.0.0.1:${rport}`;
  const token = randomBytes(24).toString('hex');
  const ctlArgs = ['--data-dir', dataDir, '--control-listen', `127.0.0.1:${cport}`];
  const env = { BERTH_ROUTER_TOKEN: token };
  const procs = [];
  const healthy = (url) => waitFor(() => fetch(`${url}/healthz`).then((r) => r.status), {
    timeoutMs: 30_000, intervalMs: 100, what: `${url}/healthz`, until: (st) => st === 200, ignoreErrors: true,
  });
  try {
    const c1 = startRole('controller', ctlArgs, env);
    procs.push(c1);
    await healthy(controlUrl);
    const router = startRole('router', ['--controller', controlUrl, '--runtime-listen', `127.0.0.1:${rport}`], env);
    procs.push(router);
    await healthy(runtimeUrl);
    // Signed with the admin key the controller made at its first start.
    const creds = credentialsIn(dataDir);
    registerCredentials(controlUrl, creds);
    registerCredentials(runtimeUrl, creds);
    const ep = 'solo-ep';
    await deployEndpoint(controlUrl, ep, { variantExtra: { InitialInstanceCount: 2 } });
    for (const ic of ICS) await controlOk(controlUrl, 'CreateInferenceComponent', icBody(ic, ep, ic, { copies: 2 }));
    for (const ic of ICS) await waitIcInService(controlUrl, ic, 2);
    const before = modelPids().filter((p) => !models0.includes(p));
    assert.equal(before.length, 4);

    const load = startLoad(runtimeUrl, ep);
    let s;
    try {
      await waitFor(() => load.stats.ok >= RATE, { timeoutMs: 10_000, what: 'the load to run' });
      c1.proc.kill('SIGKILL');
      await c1.exited;
      // Ten seconds without a controller, measured in requests sent.
      const until = load.stats.sent + 10 * RATE;
      await waitFor(() => load.stats.sent >= until, { timeoutMs: 30_000, what: 'ten seconds of load without a controller' });
      const c2 = startRole('controller', ctlArgs, env);
      procs.push(c2);
      await healthy(controlUrl);
      await waitFor(() => Promise.all(ICS.map((ic) => describeIc(controlUrl, ic))), {
        timeoutMs: 30_000, intervalMs: 200, what: 'both ICs back at two copies',
        until: (ds) => ds.every((d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 2),
      });
      // The load runs 60 s in all.
      await waitFor(() => load.stats.sent >= 60 * RATE, { timeoutMs: 90_000, what: '60 s of load' });
      assert.match(c2.out, /its agent \(pid \d+\) still runs: adopted/);
    } finally {
      s = await load.stop();
      t.diagnostic(`standalone controller kill, 10 s outage: ${s.sent} sent, ${s.ok} ok, ${s.failed} failed ${JSON.stringify(s.statuses)}${s.first ? ' first: ' + s.first : ''}`);
    }
    assert.equal(s.failed, 0, `no invocation fails while no controller runs; first failure: ${s.first}`);
    assert.deepEqual(modelPids().filter((p) => !models0.includes(p)), before, 'every copy keeps its PID');
  } finally {
    for (const r of procs.reverse()) {
      if (r.proc.exitCode === null && r.proc.signalCode === null) {
        r.proc.kill('SIGTERM');
        await r.exited;
      }
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

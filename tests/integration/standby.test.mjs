// Standby controllers on one PostgreSQL store (docs/high-availability.md).
// A real PostgreSQL server (Debian's, started here), two `berthd controller`
// processes on it, a router and two pool agents that know both controllers
// (--controller A,B and --join A,B). Under steady control API writes
// (CreateModel, one after another, each acknowledged one remembered) and
// steady invocations (40/s through the router):
// - kill -9 of the leader: the standby leads within 10 s;
// - every write the old leader acknowledged is there;
// - not one invocation fails during the change, and the new leader adopts
//   every copy (same PIDs, the IC InService at 2 copies);
// - the old leader, restarted, is a standby: /healthz says so,
//   /healthz/leader answers 503, control API calls sent to it (raw or from
//   the real SDK) are passed on to the leader and answered, and agents and
//   routers get a retryable 503 naming the leader, which a router told only
//   of the standby follows;
// - a leader paused past its lease (SIGSTOP) loses the lead: a write sent to
//   it is never acknowledged, and it exits when it runs again.
// Exits 77 (skipped) when no PostgreSQL server is installed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { DescribeInferenceComponentCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';

import {
  BERTHD, NODE_EXEC, SANITIZER_MARKERS, TEST_TAG, control, credentialsIn, freePort, invoke, modelPids, registerCredentials,
  stopAll, waitFor,
} from '../lib/berthd.mjs';
import { describeIc, icBody, waitEndpointStatus, waitIcInService } from '../lib/fixtures.mjs';
import { postgresBin, startPostgres } from '../lib/postgres.mjs';

const EP = 'standby-ep';
const IC = 'standby-ic';
const TYPE = 'ml.m5.large';
const RATE = 40; // invocations per second

let skipReason = postgresBin() ? null : 'no PostgreSQL server installed (apt-get install postgresql)';
let pg;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-standby-'));
const procs = [];
const env = { BERTH_ROUTER_TOKEN: randomBytes(24).toString('hex'), BERTH_AGENT_TOKEN: randomBytes(24).toString('hex') };
let store;
const ctl = {}; // a, b: {url, port, dir, proc}
let runtimeUrl;
let creds;

/** `berthd ROLE ARGS` with its output kept. */
function startRole(role, args) {
  const proc = spawn(BERTHD, [role, ...args], {
    env: { ...process.env, BERTH_TEST_TAG: TEST_TAG, ...pg.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const r = { proc, out: '', exited: new Promise((resolve) => proc.on('exit', resolve)) };
  const onData = (d) => {
    r.out += d;
    if (process.env.BERTH_TEST_VERBOSE === '1') process.stderr.write(`[${role}] ${d}`);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  procs.push(r);
  return r;
}

function startController(name) {
  const c = ctl[name];
  c.proc = startRole('controller', ['--store', store, '--data-dir', c.dir,
    '--control-listen', `127.0.0.1:${c.port}`, '--provider', 'pool', '--allow-exec', NODE_EXEC]);
  return c.proc;
}

const health = (url, pathName = '/healthz') => fetch(`${url}${pathName}`)
  .then(async (r) => ({ status: r.status, text: (await r.text()).trim() }))
  .catch(() => ({ status: 0, text: '' }));

before(async () => {
  if (skipReason) return;
  pg = await startPostgres();
  store = pg.createDatabase('berth_standby');
  for (const name of ['a', 'b']) {
    const port = await freePort();
    ctl[name] = { port, url: `http://127.0.0.1:${port}`, dir: fs.mkdtempSync(path.join(work, `ctl-${name}-`)) };
  }
  startController('a');
  await waitFor(() => health(ctl.a.url, '/healthz/leader'), {
    timeoutMs: 30_000, intervalMs: 100, what: 'controller a to lead', until: (h) => h.status === 200,
  });
  // Access keys' secrets are sealed with DATA_DIR/master.key: every
  // controller of one store has the same.
  fs.copyFileSync(path.join(ctl.a.dir, 'master.key'), path.join(ctl.b.dir, 'master.key'));
  startController('b');
  await waitFor(() => health(ctl.b.url), {
    timeoutMs: 30_000, intervalMs: 100, what: 'controller b to stand by', until: (h) => h.text === 'standby',
  });
  creds = credentialsIn(ctl.a.dir); // the admin key the first leader made
  const both = `${ctl.a.url},${ctl.b.url}`;
  const rport = await freePort();
  runtimeUrl = `http://127.0.0.1:${rport}`;
  for (const u of [ctl.a.url, ctl.b.url, runtimeUrl]) registerCredentials(u, creds);
  startRole('router', ['--controller', both, '--runtime-listen', `127.0.0.1:${rport}`, '--router-threads', '1']);
  for (const n of [1, 2]) {
    startRole('agent', ['--join', both, '--instance-type', TYPE, '--allow-exec', NODE_EXEC,
      '--data-dir', fs.mkdtempSync(path.join(work, `agent-${n}-`))]);
  }
});

after(async () => {
  if (skipReason) process.exitCode = 77; // ctest: skipped, not passed
  for (const r of procs.reverse()) {
    if (r.proc.exitCode === null && r.proc.signalCode === null) {
      r.proc.kill('SIGTERM');
      await Promise.race([r.exited, new Promise((res) => setTimeout(res, 10_000))]);
      if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill('SIGKILL');
    }
  }
  await stopAll();
  pg?.stop();
  fs.rmSync(work, { recursive: true, force: true });
  // Every role's own output, to its exit (LeakSanitizer reports then).
  const hits = procs.filter((r) => SANITIZER_MARKERS.some((m) => r.out.includes(m)));
  if (hits.length) throw new Error(`sanitizer reports:\n${hits.map((r) => r.out.slice(-4000)).join('\n---\n')}`);
});

/** Invocations at RATE per second until stop(); counts outcomes. */
function startLoad() {
  const s = { sent: 0, ok: 0, failed: 0, first: null };
  const pending = new Set();
  const t0 = Date.now();
  let running = true;
  const tick = setInterval(() => {
    const due = Math.floor(((Date.now() - t0) / 1000) * RATE);
    while (running && s.sent < due) {
      s.sent++;
      const p = invoke(runtimeUrl, EP, IC, { inputs: 'standby' }, {}, { timeoutMs: 30_000 })
        .then((r) => {
          if (r.status === 200) s.ok++;
          else { s.failed++; s.first ??= `${r.status} ${r.text}`; }
        })
        .catch((e) => { s.failed++; s.first ??= e.message; })
        .finally(() => pending.delete(p));
      pending.add(p);
    }
  }, 10);
  return { s, async stop() { running = false; clearInterval(tick); await Promise.all(pending); return s; } };
}

/** CreateModel calls one after another, to whichever controller leads (a
 * standby's 503 or a refused connection moves on to the other); the names
 * of the acknowledged ones. */
function startWrites() {
  const acked = [];
  let running = true;
  let n = 0;
  let at = 'a';
  const done = (async () => {
    while (running) {
      const name = `standby-model-${n++}`;
      try {
        const r = await control(ctl[at].url, 'CreateModel', {
          ModelName: name, PrimaryContainer: { Image: 'berth-model' },
        }, { timeoutMs: 10_000 });
        if (r.status === 200) acked.push(name);
        else at = at === 'a' ? 'b' : 'a';
      } catch {
        at = at === 'a' ? 'b' : 'a';
      }
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  return { acked, async stop() { running = false; await done; return acked; } };
}

test('kill -9 of the leader: the standby leads within 10 s, keeps every acknowledged write, no invocation fails', { timeout: 240_000 }, async (t) => {
  if (skipReason) { t.skip(skipReason); return; }
  await control(ctl.a.url, 'CreateEndpointConfig', {
    EndpointConfigName: `${EP}-config`,
    ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: TYPE, InitialInstanceCount: 2 }],
  });
  await control(ctl.a.url, 'CreateEndpoint', { EndpointName: EP, EndpointConfigName: `${EP}-config` });
  await waitEndpointStatus(ctl.a.url, EP, 'InService', { timeoutMs: 60_000 });
  const created = await control(ctl.a.url, 'CreateInferenceComponent', icBody(IC, EP, IC, { copies: 2 }));
  assert.equal(created.status, 200, created.text);
  await waitIcInService(ctl.a.url, IC, 2);
  const copies = modelPids();
  assert.equal(copies.length, 2, 'two copies run');

  const load = startLoad();
  const writes = startWrites();
  let s;
  let acked;
  let tookMs;
  try {
    await waitFor(() => load.s.ok >= RATE && writes.acked.length >= 20, {
      timeoutMs: 20_000, what: 'load and writes to run',
    });
    const killedAt = Date.now();
    ctl.a.proc.proc.kill('SIGKILL');
    await ctl.a.proc.exited;
    await waitFor(() => health(ctl.b.url, '/healthz/leader'), {
      timeoutMs: 15_000, intervalMs: 50, what: 'controller b to lead', until: (h) => h.status === 200,
    });
    tookMs = Date.now() - killedAt;
    const ackedAtKill = writes.acked.length;
    // Writes go on against the new leader, and the copies are its own.
    await waitFor(() => writes.acked.length >= ackedAtKill + 20, { timeoutMs: 20_000, what: 'writes to the new leader' });
    await waitFor(() => describeIc(ctl.b.url, IC), {
      timeoutMs: 30_000, intervalMs: 200, what: 'the IC InService at 2 copies on the new leader',
      until: (d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 2,
    });
    const until = load.s.sent + 3 * RATE;
    await waitFor(() => load.s.sent >= until, { timeoutMs: 10_000, what: 'three more seconds of load' });
  } finally {
    s = await load.stop();
    acked = await writes.stop();
    t.diagnostic(`leader kill: b led ${tookMs} ms after it; ${acked.length} writes acknowledged; `
      + `${s.sent} invocations, ${s.ok} ok, ${s.failed} failed${s.first ? `, first: ${s.first}` : ''}`);
  }
  assert.ok(tookMs <= 10_000, `the standby leads ${tookMs} ms after the kill (at most 10000)`);
  assert.equal(s.failed, 0, `no invocation fails during the change; first failure: ${s.first}`);
  const missing = [];
  for (const name of acked) {
    const r = await control(ctl.b.url, 'DescribeModel', { ModelName: name });
    if (r.status !== 200) missing.push(`${name}: ${r.status} ${r.text}`);
  }
  assert.deepEqual(missing, [], 'every acknowledged write is in the new leader\'s store');
  assert.deepEqual(modelPids().sort(), copies.sort(), 'the new leader adopted the copies (same PIDs)');
  assert.match(ctl.b.proc.out, /leads the controllers sharing its store/);
});

test('the old leader, restarted, is a standby: control calls to it reach the leader', { timeout: 60_000 }, async (t) => {
  if (skipReason) { t.skip(skipReason); return; }
  startController('a');
  await waitFor(() => health(ctl.a.url), {
    timeoutMs: 30_000, intervalMs: 100, what: 'controller a to stand by', until: (h) => h.text === 'standby',
  });
  assert.equal((await health(ctl.a.url, '/healthz/leader')).status, 503);
  assert.equal((await health(ctl.b.url, '/healthz/leader')).status, 200);
  // Control API calls to the standby go on to the leader, signed as sent.
  const r = await control(ctl.a.url, 'DescribeInferenceComponent', { InferenceComponentName: IC });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.InferenceComponentName, IC);
  const w = await control(ctl.a.url, 'CreateModel', { ModelName: 'standby-via-a', PrimaryContainer: { Image: 'berth-model' } });
  assert.equal(w.status, 200, w.text);
  assert.equal((await control(ctl.b.url, 'DescribeModel', { ModelName: 'standby-via-a' })).status, 200);
  const sm = new SageMakerClient({ endpoint: ctl.a.url, region: 'us-east-1', credentials: { ...creds } });
  const viaSdk = await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: IC }));
  assert.equal(viaSdk.InferenceComponentName, IC);
  // A tampered call passed on is still refused: the leader checks the signature.
  const bad = await control(ctl.a.url, 'DescribeInferenceComponent', {}, {
    rawBody: JSON.stringify({ InferenceComponentName: 'x' }) + ' ',
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: 'not-the-secret' },
  });
  assert.equal(bad.status, 403, bad.text);
  // Agents and routers are told where the leader is, with a retryable 503.
  const snap = await fetch(`${ctl.a.url}/router/v1/snapshot`);
  assert.equal(snap.status, 503);
  assert.equal(snap.headers.get('x-berth-leader'), ctl.b.url);
  const body = await snap.json();
  assert.equal(body.__type, 'ServiceUnavailable');
  assert.match(body.message, new RegExp(`standby: the leader is at ${ctl.b.url.replace(/[.]/g, '\\.')}`));
  // A router told only of the standby follows it to the leader.
  const port = await freePort();
  const onlyStandby = `http://127.0.0.1:${port}`;
  registerCredentials(onlyStandby, creds);
  const r2 = startRole('router', ['--controller', ctl.a.url, '--runtime-listen', `127.0.0.1:${port}`, '--router-threads', '1']);
  const served = await waitFor(() => invoke(onlyStandby, EP, IC, { inputs: 'via the standby' }, {}, { timeoutMs: 5000 }).catch(() => null), {
    timeoutMs: 20_000, intervalMs: 200, what: 'a router that knows only the standby to serve', until: (x) => x?.status === 200,
  });
  assert.equal(served.status, 200);
  assert.match(r2.out, new RegExp(`trying the controller at ${ctl.b.url.replace(/[.]/g, '\\.')}`));
  // It stays a standby while the leader renews its lease.
  const d = await describeIc(ctl.b.url, IC);
  assert.equal(d.InferenceComponentStatus, 'InService');
  assert.equal((await health(ctl.a.url)).text, 'standby');
});

test('a leader paused past its lease loses the lead and writes nothing after it', { timeout: 90_000 }, async (t) => {
  if (skipReason) { t.skip(skipReason); return; }
  // b leads, a stands by (the tests above). Pause b as a frozen VM would be.
  ctl.b.proc.proc.kill('SIGSTOP');
  const pausedAt = Date.now();
  // A write sent to the paused leader waits in its socket.
  const late = control(ctl.b.url, 'CreateModel', {
    ModelName: 'standby-late', PrimaryContainer: { Image: 'berth-model' },
  }, { timeoutMs: 60_000 }).catch((e) => ({ status: 0, text: e.message }));
  await waitFor(() => health(ctl.a.url, '/healthz/leader'), {
    timeoutMs: 20_000, intervalMs: 100, what: 'controller a to lead while b is paused', until: (h) => h.status === 200,
  });
  t.diagnostic(`a led ${Date.now() - pausedAt} ms after b was paused`);
  ctl.b.proc.proc.kill('SIGCONT');
  const code = await Promise.race([ctl.b.proc.exited, new Promise((res) => setTimeout(() => res('still running'), 15_000))]);
  assert.equal(code, 3, 'the old leader exits (to start again as a standby)');
  assert.match(ctl.b.proc.out, /lost the lead/);
  // The write it held is refused, or passed on to the new leader: either
  // way only an acknowledged write is in the store.
  const r = await late;
  const d = await control(ctl.a.url, 'DescribeModel', { ModelName: 'standby-late' });
  t.diagnostic(`the write sent to the paused leader: ${r.status}; in the store: ${d.status === 200}`);
  assert.equal(d.status, r.status === 200 ? 200 : 400, `acknowledged ${r.status}, described ${d.status} ${d.text}`);
  await waitIcInService(ctl.a.url, IC, 2, { timeoutMs: 30_000 });
});

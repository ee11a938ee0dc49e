// Resource limits of berthd's listeners: memory held for request bodies,
// bodies that trickle in, many idle connections, and a low file-descriptor
// limit.  A daemon under such pressure must stay bounded and keep serving:
// the control API always answers and real invocations still get through.
//
// One berthd (--body-timeout 4, --max-connections 2000) with one endpoint and
// an inference component running tests/lib/misbehaving_model.mjs (ok mode);
// the low-fd test runs its own berthd under prlimit --nofile=256:256.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { controlOk, signed, startBerthd, startBerthdWrapped, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, waitIcInService } from '../lib/fixtures.mjs';
import { httpCall, misbehavingIc, parseJson } from '../lib/misbehaving.mjs';

const T = { timeout: 180_000 };
const EP = 'lim-ep';
const IC = 'lim';
const BODY_TIMEOUT_S = 4;
const MAX_CONNECTIONS = 2000;
const RSS_LIMIT_MB = 250;

const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-limits-'));
fs.chmodSync(stateRoot, 0o777); // copies (the copy user) write below it

let b;

// ---------------------------------------------------------------- helpers

const mbIc = (name, endpoint, { copies = 1, cores = 1 } = {}) =>
  misbehavingIc(name, endpoint, path.join(stateRoot, name), { copies, cores, memoryMb: 512 });



function invokeOnce(d, endpoint, ic, timeoutMs = 10_000) {
  return httpCall(d.runtimeUrl, {
    path: `/endpoints/${endpoint}/invocations`,
    headers: { 'content-type': 'application/json', 'x-amzn-sagemaker-inference-component': ic },
    body: { inputs: 'hello' }, timeoutMs,
  }).promise;
}

function show(r) {
  return `status ${r.status}, error ${r.error ?? null}, ${r.ms} ms, headers ${JSON.stringify(r.headers)}, body ${JSON.stringify((r.text ?? '').slice(0, 800))}`;
}

function procStatus(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN; // MB
}

/**
 * Open n TCP connections to port that never send a byte, in batches (each
 * batch waits until its sockets connected, failed, or connectTimeoutMs
 * passed).  Errors in this process (EMFILE, ECONNRESET...) are counted, never
 * thrown.  Returns {sockets, stats, openNow(), destroy()}.
 */
async function openIdle(port, n, { batch = 250, connectTimeoutMs = 5000 } = {}) {
  const sockets = [];
  const stats = { requested: n, connected: 0, errors: {} };
  const countError = (e) => { const k = e?.code || e?.message || String(e); stats.errors[k] = (stats.errors[k] ?? 0) + 1; };
  for (let i = 0; i < n; i += batch) {
    const k = Math.min(batch, n - i);
    await Promise.all(Array.from({ length: k }, () => new Promise((resolve) => {
      let s;
      try {
        s = net.connect({ port, host: '127.0.0.1' });
      } catch (e) {
        countError(e);
        resolve();
        return;
      }
      sockets.push(s);
      const timer = setTimeout(resolve, connectTimeoutMs); // still connecting: leave it be
      s.on('connect', () => { stats.connected += 1; clearTimeout(timer); resolve(); });
      s.on('error', (e) => { countError(e); clearTimeout(timer); resolve(); });
      s.on('close', () => { s.closedAt = Date.now(); });
    })));
  }
  return {
    sockets,
    stats,
    openNow: () => sockets.filter((s) => !s.closedAt && s.readyState === 'open').length,
    destroy: () => { for (const s of sockets) s.destroy(); },
  };
}

// ---------------------------------------------------------------- setup

before(async () => {
  b = await startBerthd({
    extraArgs: ['--body-timeout', String(BODY_TIMEOUT_S), '--max-connections', String(MAX_CONNECTIONS)],
  });
  await deployEndpoint(b.controlUrl, EP);
  await controlOk(b.controlUrl, 'CreateInferenceComponent', mbIc(IC, EP));
  await waitIcInService(b.controlUrl, IC, 1);
});

after(async () => {
  try {
    await stopAll();
  } finally {
    if (process.env.BERTH_TEST_KEEP !== '1') fs.rmSync(stateRoot, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- a. memory

test(`60 clients posting 6 MB bodies leave berthd under ${RSS_LIMIT_MB} MB RSS with their connections idle`, T, async () => {
  const CLIENTS = 60;
  const head = '{"inputs":"';
  const tail = '"}';
  const body = Buffer.from(head + 'x'.repeat(6_000_000 - head.length - tail.length) + tail);
  assert.equal(body.length, 6_000_000);
  const pid = b.controllerPid(); // berthd up supervises it: the controller holds the memory
  assert.ok(pid, 'berthd up runs a controller');
  const before = procStatus(pid, 'VmRSS');
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS, maxFreeSockets: CLIENTS });
  const port = new URL(b.runtimeUrl).port;
  try {
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: CLIENTS }, () => new Promise((resolve) => {
      const req = http.request({
        host: '127.0.0.1', port, path: `/endpoints/${EP}/invocations`, method: 'POST', agent,
        headers: {
          ...signed('POST', `${b.runtimeUrl}/endpoints/${EP}/invocations`, {
            'content-type': 'application/json', 'x-amzn-sagemaker-inference-component': IC,
          }, body),
          'content-length': body.length,
        },
      });
      const timer = setTimeout(() => req.destroy(new Error('no answer in 150 s')), 150_000);
      req.on('response', (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', () => {});
        res.on('close', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode, type: res.headers['x-amzn-errortype'], text: Buffer.concat(chunks).toString('utf8').slice(0, 300) });
        });
      });
      req.on('error', (e) => { clearTimeout(timer); resolve({ status: null, error: e.code || e.message }); });
      req.end(body);
    })));
    const ok = results.filter((r) => r.status === 200);
    const busy = results.filter((r) => r.status === 503);
    const dropped = results.filter((r) => r.status === null);
    const other = results.filter((r) => r.status !== null && r.status !== 200 && r.status !== 503);
    const idle = Object.values(agent.freeSockets).reduce((n, l) => n + l.length, 0);
    await new Promise((r) => setTimeout(r, 200)); // let berthd finish its bookkeeping of the answers
    let rss = procStatus(pid, 'VmRSS');
    const deadline = Date.now() + 3000;
    while (rss >= RSS_LIMIT_MB && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      rss = procStatus(pid, 'VmRSS');
    }
    const hwm = procStatus(pid, 'VmHWM');
    process.stderr.write(`# ${CLIENTS} x 6 MB in ${Date.now() - t0} ms: ${ok.length} x 200, ${busy.length} x 503, `
      + `${dropped.length} connections closed before an answer, ${other.length} other; ${idle} client connections idle; `
      + `berthd VmRSS ${before.toFixed(1)} MB before, ${rss.toFixed(1)} MB after (peak VmHWM ${hwm.toFixed(1)} MB)\n`);

    assert.equal(other.length, 0, `answers other than 200 or 503: ${JSON.stringify(other.slice(0, 5))}`);
    for (const r of busy) {
      assert.equal(r.type?.split(':')[0], 'ServiceUnavailable', `a 503 without x-amzn-errortype ServiceUnavailable: ${JSON.stringify(r)}`);
    }
    assert.ok(ok.length > 0, `no request of ${CLIENTS} was served: ${JSON.stringify(results.slice(0, 5))}`);
    for (const r of ok) {
      assert.equal(parseJson(r.text)?.bytes, body.length, `the model did not get the whole body: ${JSON.stringify(r)}`);
    }
    assert.ok(rss < RSS_LIMIT_MB,
      `berthd's VmRSS is ${rss.toFixed(1)} MB with ${idle} idle keep-alive connections after ${CLIENTS} 6 MB requests `
      + `(limit ${RSS_LIMIT_MB} MB): request buffers must be bounded and released once answered`);
  } finally {
    agent.destroy();
  }
});

// ---------------------------------------------------------------- b. slow body

test(`a body trickling in is cut with 408 within --body-timeout ${BODY_TIMEOUT_S} s`, T, async () => {
  const port = Number(new URL(b.runtimeUrl).port);
  const t0 = Date.now();
  const result = await new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    let timer = null;
    let gotAt = null;
    const finish = (why) => {
      clearInterval(timer);
      clearTimeout(giveUp);
      s.destroy();
      resolve({ raw: Buffer.concat(chunks).toString('utf8'), ms: (gotAt ?? Date.now()) - t0, why });
    };
    const giveUp = setTimeout(() => finish('client gave up after 20 s'), 20_000);
    s.on('connect', () => {
      s.write(`POST /endpoints/${EP}/invocations HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`
        + `Content-Type: application/json\r\nX-Amzn-SageMaker-Inference-Component: ${IC}\r\n`
        + 'Content-Length: 1000\r\n\r\n');
      s.write('{');
      timer = setInterval(() => { if (!s.destroyed) s.write('x', () => {}); }, 2000);
    });
    s.on('data', (c) => {
      chunks.push(c);
      gotAt ??= Date.now();
      if (Buffer.concat(chunks).includes('\r\n\r\n')) setTimeout(() => finish('answered'), 200);
    });
    s.on('error', () => {});
    s.on('close', () => finish('closed'));
  });
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(result.raw)?.[1]);
  assert.equal(status, 408, `a body sent 1 byte every 2 s (Content-Length 1000) got, after ${result.ms} ms (${result.why}): ${JSON.stringify(result.raw.slice(0, 500))}`);
  assert.ok(result.ms <= BODY_TIMEOUT_S * 1000 + 3000,
    `the 408 came ${result.ms} ms after the head, past --body-timeout ${BODY_TIMEOUT_S} s`);
  assert.ok(result.ms >= BODY_TIMEOUT_S * 1000 - 1000,
    `the 408 came ${result.ms} ms after the head, well before --body-timeout ${BODY_TIMEOUT_S} s`);
});

// ---------------------------------------------------------------- c. many idle connections

test(`5000 idle connections (--max-connections ${MAX_CONNECTIONS}) do not lock out the control API or invocations`, T, async () => {
  const port = Number(new URL(b.runtimeUrl).port);
  const t0 = Date.now();
  const idle = await openIdle(port, 5000, { batch: 250, connectTimeoutMs: 5000 });
  try {
    process.stderr.write(`# 5000 idle connections: ${idle.stats.connected} connected in ${Date.now() - t0} ms, `
      + `errors ${JSON.stringify(idle.stats.errors)}, ${idle.openNow()} still open\n`);
    const h = await httpCall(b.controlUrl, { method: 'GET', path: '/healthz', timeoutMs: 5000 }).promise;
    assert.equal(h.status, 200, `control /healthz with 5000 idle runtime connections: ${show(h)}`);
    for (let i = 1; i <= 10; i++) {
      const r = await invokeOnce(b, EP, IC, 5000);
      assert.equal(r.status, 200, `invocation ${i} of 10 (a new connection) with 5000 idle ones open: ${show(r)}`);
      assert.equal(r.json?.ok, true, show(r));
    }
    const h2 = await httpCall(b.controlUrl, { method: 'GET', path: '/healthz', timeoutMs: 5000 }).promise;
    assert.equal(h2.status, 200, `control /healthz after the invocations: ${show(h2)}`);
    process.stderr.write(`# checks done ${Date.now() - t0} ms after the first idle connection; ${idle.openNow()} idle connections still open\n`);
  } finally {
    idle.destroy();
  }
});

// ---------------------------------------------------------------- d. low fd limit

test('under a 256 file-descriptor limit, 1000 idle connections do not lock out the control API or invocations', T, async () => {
  const d = await startBerthdWrapped(['prlimit', '--nofile=256:256', '--']);
  let idle = null;
  try {
    const limits = fs.readFileSync(`/proc/${d.controllerPid()}/limits`, 'utf8');
    assert.match(limits, /^Max open files\s+256\s+256\s/m, `berthd should run with RLIMIT_NOFILE 256:\n${limits}`);
    const ep = 'fd-ep';
    await deployEndpoint(d.controlUrl, ep);
    await controlOk(d.controlUrl, 'CreateInferenceComponent', mbIc('fd', ep, { cores: 0.5 }));
    await waitIcInService(d.controlUrl, 'fd', 1);
    const first = await invokeOnce(d, ep, 'fd');
    assert.equal(first.status, 200, `before the idle connections: ${show(first)}`);

    const port = Number(new URL(d.runtimeUrl).port);
    const t0 = Date.now();
    idle = await openIdle(port, 1000, { batch: 100, connectTimeoutMs: 2000 });
    process.stderr.write(`# 1000 idle connections to a berthd with 256 fds: ${idle.stats.connected} connected in `
      + `${Date.now() - t0} ms, errors ${JSON.stringify(idle.stats.errors)}, ${idle.openNow()} still open\n`);
    const h = await httpCall(d.controlUrl, { method: 'GET', path: '/healthz', timeoutMs: 5000 }).promise;
    assert.equal(h.status, 200, `control /healthz with 1000 idle runtime connections and 256 fds: ${show(h)}`);
    const r = await invokeOnce(d, ep, 'fd', 5000);
    assert.equal(r.status, 200, `an invocation with 1000 idle runtime connections and 256 fds: ${show(r)}`);
    assert.equal(r.json?.ok, true, show(r));
    process.stderr.write(`# checks done ${Date.now() - t0} ms after the first idle connection\n`);
  } finally {
    idle?.destroy();
    await d.stop(); // not in stopAll's set: it comes from its own module instance
  }
});

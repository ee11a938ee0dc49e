// Model servers that misbehave (tests/lib/misbehaving_model.mjs): answers cut
// short, connections dropped, models that hang, trickle, exit mid-request,
// answer binary errors or oversized headers, or stop answering /ping; and the
// runtime API's edges (duplicate IC header, Accept, absolute-form targets,
// HEAD /healthz).  What a client sees must be a SageMaker answer (200, or 424
// ModelError, or a broken connection where the 200 head was already sent),
// never a cut answer passed off as complete, never a request delivered to a
// model twice, and never a wait past --invocation-timeout.
//
// One berthd (--invocation-timeout 3, --stream-timeout 6, --health-interval 1)
// and one endpoint (ml.m5.xlarge) with two inference components of 2 copies
// each; the use-after-free test runs its own berthd (--invocation-timeout 5).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  childrenRunning, control, controlOk, signed, sleep, startBerthd, stopAll, waitFor,
} from '../lib/berthd.mjs';
import { deployEndpoint, runtimeErrorType, waitIcInService } from '../lib/fixtures.mjs';
import { MISBEHAVING_SCRIPT, httpCall, misbehavingIc, parseJson } from '../lib/misbehaving.mjs';

const T = { timeout: 120_000 };
const EP = 'mb-ep';
const INVOCATION_TIMEOUT_S = 3;
const STREAM_TIMEOUT_S = 6;
const HEALTH_INTERVAL_S = 1;
// Slack over a berthd deadline (timers are not slower under ASan, the work
// around them is): well under the deadline itself, so that a second full
// wait (a retry after the timeout) cannot hide in it.
const SLACK_MS = 2500;

const SCRIPT = MISBEHAVING_SCRIPT;

const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-misbehave-'));
fs.chmodSync(stateRoot, 0o777); // copies (the copy user) write below it
const stateDir = (ic) => path.join(stateRoot, ic);

let b;

// ---------------------------------------------------------------- helpers

/** An IC whose copies run the misbehaving model (0.5 core, 256 MB each). */
const mbIc = (name, endpoint, opts = {}) => misbehavingIc(name, endpoint, stateDir(name), opts);



function invokeCall(ic, body, { headers = {}, timeoutMs = 30_000, stream = false, daemon = b, endpoint = EP } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (ic !== null) h['x-amzn-sagemaker-inference-component'] = ic;
  return httpCall(daemon.runtimeUrl, {
    path: `/endpoints/${endpoint}/invocations${stream ? '-response-stream' : ''}`,
    headers: h, body, timeoutMs,
  });
}

const invoke = (ic, body, opts) => invokeCall(ic, body, opts).promise;

function show(r) {
  const text = r.body && r.body.length ? r.text.slice(0, 1500) : '';
  return `status ${r.status}, complete ${r.complete}, error ${r.error}, ${r.ms} ms, `
    + `headers ${JSON.stringify(r.headers)}, body ${JSON.stringify(text)}`;
}

const newId = (what) => `${what}-${randomUUID().slice(0, 8)}`;

function seenCount(ic, id) {
  try {
    return fs.readFileSync(path.join(stateDir(ic), `seen-${id}`), 'utf8').split('\n').filter(Boolean).length;
  } catch (e) {
    if (e.code === 'ENOENT') return 0;
    throw e;
  }
}

function pidFiles(ic) {
  return fs.readdirSync(stateDir(ic)).filter((f) => /^pid-\d+$/.test(f))
    .map((f) => JSON.parse(fs.readFileSync(path.join(stateDir(ic), f), 'utf8')));
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Decode an AWS event stream (application/vnd.amazon.eventstream) body. */
function decodeEventStream(buf) {
  const events = [];
  let off = 0;
  while (off + 12 <= buf.length) {
    const total = buf.readUInt32BE(off);
    const hlen = buf.readUInt32BE(off + 4);
    if (total < 16 || off + total > buf.length || 12 + hlen > total - 4) break;
    const headers = {};
    let h = off + 12;
    const hend = h + hlen;
    while (h < hend) {
      const nlen = buf[h]; h += 1;
      const name = buf.toString('utf8', h, h + nlen); h += nlen;
      const type = buf[h]; h += 1;
      let value = null;
      switch (type) {
        case 0: value = true; break;
        case 1: value = false; break;
        case 2: value = buf.readInt8(h); h += 1; break;
        case 3: value = buf.readInt16BE(h); h += 2; break;
        case 4: value = buf.readInt32BE(h); h += 4; break;
        case 5: case 8: value = buf.readBigInt64BE(h); h += 8; break;
        case 6: case 7: {
          const l = buf.readUInt16BE(h); h += 2;
          value = type === 7 ? buf.toString('utf8', h, h + l) : buf.subarray(h, h + l);
          h += l;
          break;
        }
        case 9: value = buf.subarray(h, h + 16); h += 16; break;
        default: h = hend;
      }
      headers[name] = value;
    }
    events.push({ headers, payload: buf.subarray(hend, off + total - 4) });
    off += total;
  }
  return { events, leftover: buf.length - off };
}

function showEvents(events) {
  return JSON.stringify(events.map((e) => ({
    type: e.headers[':message-type'], event: e.headers[':event-type'], exception: e.headers[':exception-type'],
    payload: e.payload.toString('utf8').slice(0, 300),
  })));
}

async function healthz(url, method = 'GET') {
  const r = await httpCall(url, { method, path: '/healthz', timeoutMs: 10_000 }).promise;
  return r;
}

// ---------------------------------------------------------------- setup

before(async () => {
  b = await startBerthd({
    extraArgs: ['--invocation-timeout', String(INVOCATION_TIMEOUT_S), '--stream-timeout', String(STREAM_TIMEOUT_S),
      '--health-interval', String(HEALTH_INTERVAL_S)],
  });
  await deployEndpoint(b.controlUrl, EP);
  await controlOk(b.controlUrl, 'CreateInferenceComponent', mbIc('mb', EP, { copies: 2 }));
  await controlOk(b.controlUrl, 'CreateInferenceComponent', mbIc('hc', EP, { copies: 2 }));
  await waitIcInService(b.controlUrl, 'mb', 2);
  await waitIcInService(b.controlUrl, 'hc', 2);
});

after(async () => {
  try {
    await stopAll();
  } finally {
    if (process.env.BERTH_TEST_KEEP !== '1') fs.rmSync(stateRoot, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- a. use after free

// `escape`: the server leaves the copy's process group (setsid), so killing
// the group does not end it and the request stays in flight through the
// deletion until --invocation-timeout: the path where the request must keep
// the deleted copy and IC alive.
async function useAfterFreeSequence({ escape }) {
  // The Image is /bin/sh running node: berthd must allow sh too.
  const d = await startBerthd({ extraArgs: ['--invocation-timeout', '5', '--allow-exec', '/bin/sh'] });
  const ep = 'uaf-ep';
  const ic = escape ? 'uafx' : 'uaf'; // each its own state dir
  let orphan = null;
  let pending = null;
  try {
    await deployEndpoint(d.controlUrl, ep);
    // sh is the copy's main process and node its child (no exec: "; true").
    const server = `${escape ? '/usr/bin/setsid ' : ''}${process.execPath} ${SCRIPT}`;
    await controlOk(d.controlUrl, 'CreateInferenceComponent',
      mbIc(ic, ep, { image: `/bin/sh -c "${server}; true"` }));
    await waitIcInService(d.controlUrl, ic, 1);
    const [model] = await waitFor(() => pidFiles(ic), { timeoutMs: 20_000, what: 'the model to write its pid file', until: (l) => l.length > 0 });
    orphan = model.pid;
    // The agent starts the copy's shim (berthd copy-exec), the shim sh, and
    // sh node: the shim is the main process, node's grandparent.
    const started = [...d.logs().matchAll(new RegExp(`${ic}: copy \\d+ started \\(pid (\\d+),`, 'g'))].map((m) => Number(m[1]));
    const stat = fs.readFileSync(`/proc/${model.ppid}/stat`, 'utf8');
    const shim = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    assert.ok(started.includes(shim),
      `the model's grandparent (pid ${shim}) should be the copy's main process berthd started (${started}): `
      + 'the test needs sh to be the copy\'s server and node its child');

    const id = newId('uaf-hang');
    pending = invokeCall(ic, { id, mode: 'hang' }, { daemon: d, endpoint: ep, timeoutMs: 60_000 });
    await waitFor(() => seenCount(ic, id), { timeoutMs: 20_000, intervalMs: 50, what: 'the model to receive the hang request' });

    process.kill(shim, 'SIGKILL');
    await waitFor(() => d.logs(), {
      timeoutMs: 20_000, intervalMs: 20, what: 'berthd to put the copy into restart backoff ("restarts in")',
      until: (l) => new RegExp(`${ic}: copy \\d+ restarts in`).test(l),
    });
    await controlOk(d.controlUrl, 'DeleteInferenceComponent', { InferenceComponentName: ic });

    let outcome = null;
    pending.promise.then((r) => { outcome = r; });
    await waitFor(() => outcome, {
      timeoutMs: 10_000, intervalMs: 100,
      what: 'the hang request on the deleted copy to be answered (--invocation-timeout 5)',
    });
    assert.ok(outcome.status === null || outcome.status === 424,
      `the request in flight on the dead, deleted copy must end with 424 or a broken connection, got ${show(outcome)}`);
    if (escape) {
      assert.equal(outcome.status, 424, `the escaped server never answers: the deadline must, ${show(outcome)}`);
      assert.match(d.logs(), new RegExp(`inference component ${ic} deleted`),
        'the IC must have been deleted while its request was still in flight');
    }
    if (outcome.status === 424) {
      assert.equal(runtimeErrorType({ headers: outcome.headers, json: outcome.json }), 'ModelError', show(outcome));
    }

    for (const url of [d.controlUrl, d.runtimeUrl]) {
      const h = await healthz(url);
      assert.equal(h.status, 200, `${url}/healthz after the deleted copy's request ended: ${show(h)}`);
    }
    const list = await control(d.controlUrl, 'ListInferenceComponents', {});
    assert.equal(list.status, 200, `ListInferenceComponents after the deleted copy's request ended: ${list.status} ${list.text}`);
    assert.equal(d.exitInfo, null, `berthd exited: ${JSON.stringify(d.exitInfo)}`);
  } finally {
    pending?.destroy();
    if (orphan && alive(orphan)) process.kill(orphan, 'SIGKILL');
    await d.stop(); // fails on sanitizer reports (ASan build)
  }
}

test('a request in flight on a copy whose main process died, deleted during restart backoff, '
  + 'is answered and berthd keeps running', T, () => useAfterFreeSequence({ escape: false }));

test('a request in flight to a server that escaped its copy\'s process group outlives the IC\'s '
  + 'deletion and gets its deadline answer', T, () => useAfterFreeSequence({ escape: true }));

// ---------------------------------------------------------------- backpressure

/** The router's resident memory, MiB. */
function routerRssMb(d) {
  const pid = childrenRunning(d.proc.pid, 'router')[0];
  assert.ok(pid, 'no router process');
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
}

// The router holds at most its output bound per client (plus its buffers):
// ROUTER_RSS_BOUND_MB is what these tests allow the whole process.
const ROUTER_RSS_BOUND_MB = 64;

/** A client that stops reading slows its model, the router stays within its
 *  bound, and reading again brings the whole answer. */
async function floodThroughSlowClient(mode, total) {
  // Under ASan freed memory waits in a quarantine (256 MiB by default)
  // before it is reused, which would count as the router's: keep it small.
  const asan = `${process.env.ASAN_OPTIONS ? `${process.env.ASAN_OPTIONS}:` : ''}quarantine_size_mb=4`;
  const d = await startBerthd({ extraArgs: ['--invocation-timeout', '120'], env: { ASAN_OPTIONS: asan } });
  const ep = 'bp-ep';
  const ic = 'bp';
  try {
    await deployEndpoint(d.controlUrl, ep);
    await controlOk(d.controlUrl, 'CreateInferenceComponent', mbIc(ic, ep));
    await waitIcInService(d.controlUrl, ic, 1);
    const id = newId(mode);
    const url = new URL(`${d.runtimeUrl}/endpoints/${ep}/invocations`);
    const payload = JSON.stringify({ id, mode, bytes: total });
    const answered = new Promise((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST',
        headers: { ...signed('POST', url.toString(), { 'content-type': 'application/json',
          'x-amzn-sagemaker-inference-component': ic }, payload),
        'content-length': Buffer.byteLength(payload) } }, (r) => { r.pause(); resolve(r); });
      req.on('error', reject);
      req.end(payload);
    });
    const res = await answered;
    assert.equal(res.statusCode, 200);
    if (mode === 'flood-fixed') {
      assert.equal(res.headers['content-length'], String(total), 'a known length is passed on');
      assert.equal(res.headers['transfer-encoding'], undefined);
    }
    const progress = () => Number(fs.readFileSync(path.join(stateDir(ic), `flood-${id}`), 'utf8') || 0);
    // Not reading: the model must stall well short of the whole answer.
    await waitFor(() => { try { return progress(); } catch { return 0; } },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the model to start writing', until: (n) => n > 0 });
    let last = -1;
    const stalled = await waitFor(() => { const n = progress(); const same = n === last; last = n; return same ? n : null; },
      { timeoutMs: 20_000, intervalMs: 500, what: 'the model to stall while the client does not read' });
    assert.ok(stalled < total / 2, `the model wrote ${stalled} of ${total} bytes to a client that reads nothing`);
    let peak = routerRssMb(d);
    assert.ok(peak < ROUTER_RSS_BOUND_MB, `the router holds ${peak.toFixed(1)} MiB while its client does not read`);
    // Reading again, in bursts: the whole answer arrives, complete, and the
    // router never holds more than its bound.
    let got = 0;
    let bursts = 0;
    res.on('data', (c) => {
      got += c.length;
      if (got > (bursts + 1) * (total / 8)) {
        bursts++;
        res.pause();
        peak = Math.max(peak, routerRssMb(d));
        setImmediate(() => res.resume());
      }
    });
    await new Promise((resolve, reject) => { res.on('end', resolve); res.on('error', reject); res.resume(); });
    peak = Math.max(peak, routerRssMb(d));
    assert.equal(got, total);
    assert.equal(res.complete, true);
    assert.ok(peak < ROUTER_RSS_BOUND_MB, `the router peaked at ${peak.toFixed(1)} MiB passing on ${total} bytes`);
    assert.equal(seenCount(ic, id), 1);
  } finally {
    await d.stop();
  }
}

test('a client that stops reading a chunked answer slows its model instead of growing the router', T,
  () => floodThroughSlowClient('flood', 48 << 20));

test('a 1 GiB answer of known length passes through a slow client with the router\'s memory bounded', T,
  () => floodThroughSlowClient('flood-fixed', 1 << 30));

// ---------------------------------------------------------------- b-d. answers cut short

test('a chunked answer cut short is not passed on as a complete 200', T, async () => {
  const r = await invoke('mb', { id: newId('cut-chunked'), mode: 'cut-chunked' });
  assert.ok(!(r.status === 200 && r.complete),
    `the model cut its chunked answer (no terminating chunk), the client got a complete 200: ${show(r)}`);
  if (r.status !== 200 && r.status !== null) {
    assert.equal(r.status, 424, show(r));
    assert.equal(runtimeErrorType(r), 'ModelError', show(r));
  }
});

test('a fixed-length answer cut short is not passed on as a complete 200', T, async () => {
  // A success passes through as it comes (never held whole), so the head is
  // out before the cut: the client sees a short body, never a whole answer.
  const r = await invoke('mb', { id: newId('cut-fixed'), mode: 'cut-fixed' });
  assert.ok(!(r.status === 200 && r.complete),
    `Content-Length 1000 with 100 bytes sent, the client got a complete 200: ${show(r)}`);
});

test('InvokeEndpointWithResponseStream: a cut stream ends with ModelStreamError StreamBroken, a whole one without', T, async () => {
  const cut = await invoke('mb', { id: newId('stream-cut'), mode: 'cut-chunked' }, { stream: true });
  assert.equal(cut.status, 200, `the stream head is sent before the cut: ${show(cut)}`);
  assert.ok(cut.body.includes('ModelStreamError'), `no ModelStreamError in the cut stream: ${show(cut)}`);
  assert.ok(cut.body.includes('StreamBroken'), `no StreamBroken in the cut stream: ${show(cut)}`);
  const { events } = decodeEventStream(cut.body);
  const last = events[events.length - 1];
  assert.ok(last && last.headers[':message-type'] === 'exception'
    && last.headers[':exception-type'] === 'ModelStreamError',
  `the cut stream's last event should be a ModelStreamError exception: ${showEvents(events)}`);
  assert.match(last.payload.toString('utf8'), /StreamBroken/, showEvents(events));
  const parts = events.filter((e) => e.headers[':event-type'] === 'PayloadPart').map((e) => e.payload.toString('utf8')).join('');
  assert.ok(parts.startsWith('part-1\n'), `the parts sent before the cut should arrive: ${showEvents(events)}`);

  const whole = await invoke('mb', { id: newId('stream-ok'), mode: 'stream-ok' }, { stream: true });
  assert.equal(whole.status, 200, show(whole));
  assert.equal(whole.complete, true, show(whole));
  assert.ok(!whole.body.includes('ModelStreamError'), `a whole stream carries an exception: ${show(whole)}`);
  const ok = decodeEventStream(whole.body);
  assert.ok(ok.events.every((e) => e.headers[':message-type'] !== 'exception'), showEvents(ok.events));
  const text = ok.events.filter((e) => e.headers[':event-type'] === 'PayloadPart').map((e) => e.payload.toString('utf8')).join('');
  assert.equal(text, 'part-1\npart-2\npart-3\npart-4\npart-5\n', showEvents(ok.events));
});

// ---------------------------------------------------------------- e. exactly once

async function exactlyOnce(mode) {
  await waitIcInService(b.controlUrl, 'mb', 2); // a retry would have another copy to go to
  const id = newId(mode);
  const r = await invoke('mb', { id, mode }, { timeoutMs: 20_000 });
  assert.equal(r.status, 424, `${mode}: ${show(r)}`);
  assert.equal(runtimeErrorType(r), 'ModelError', `${mode}: ${show(r)}`);
  const limit = INVOCATION_TIMEOUT_S * 1000 + SLACK_MS;
  assert.ok(r.ms <= limit, `${mode}: answered after ${r.ms} ms, more than --invocation-timeout ${INVOCATION_TIMEOUT_S} s + ${SLACK_MS} ms`);
  await sleep(2000); // nothing may arrive later: a retry, if any, would be done by now
  const n = seenCount('mb', id);
  assert.equal(n, 1, `${mode}: the model received request ${id} ${n} times; a request whose body the model `
    + 'read must not be sent again');
  return r;
}

test('close-after-read: the request reaches the model exactly once and gets 424', T, async () => {
  await exactlyOnce('close-after-read');
});

test('hang: the request reaches the model exactly once and gets 424 after --invocation-timeout, not twice that', T, async () => {
  const r = await exactlyOnce('hang');
  assert.ok(r.ms >= INVOCATION_TIMEOUT_S * 1000 - 500,
    `hang: answered after ${r.ms} ms, before --invocation-timeout ${INVOCATION_TIMEOUT_S} s: ${show(r)}`);
});

test('exit-after-read: the request reaches the model exactly once and gets 424', T, async () => {
  await exactlyOnce('exit-after-read');
  // The copy that exited restarts: leave the IC whole for the tests after.
  await waitIcInService(b.controlUrl, 'mb', 2, { timeoutMs: 60_000 });
});

// ---------------------------------------------------------------- f. trickle

test('a model trickling its answer is cut at --invocation-timeout', T, async () => {
  const r = await invoke('mb', { id: newId('trickle'), mode: 'trickle', interval_ms: 1000, count: 100 }, { timeoutMs: 20_000 });
  assert.ok(!r.clientTimeout, `no end of the answer within 20 s (the model trickles for 100 s): ${show(r)}`);
  assert.ok(r.ms <= INVOCATION_TIMEOUT_S * 1000 + SLACK_MS,
    `the trickled answer ended after ${r.ms} ms, past --invocation-timeout ${INVOCATION_TIMEOUT_S} s: ${show(r)}`);
  assert.ok(r.status === 424 || (r.status === null) || (r.status === 200 && !r.complete),
    `expected 424 or a cut answer: ${show(r)}`);
});

test('a streamed answer trickling past --stream-timeout ends with a ModelStreamError', T, async () => {
  const r = await invoke('mb', { id: newId('stream-trickle'), mode: 'trickle', interval_ms: 500, count: 100 },
    { stream: true, timeoutMs: 25_000 });
  assert.ok(!r.clientTimeout, `the stream did not end within 25 s (the model trickles for 50 s): ${show(r)}`);
  assert.ok(r.ms <= STREAM_TIMEOUT_S * 1000 + SLACK_MS,
    `the stream ended after ${r.ms} ms, past --stream-timeout ${STREAM_TIMEOUT_S} s: ${show(r)}`);
  assert.equal(r.status, 200, show(r));
  const { events } = decodeEventStream(r.body);
  const last = events[events.length - 1];
  assert.ok(last && last.headers[':exception-type'] === 'ModelStreamError',
    `a stream cut by --stream-timeout should end with a ModelStreamError exception: ${showEvents(events)}`);
});

// ---------------------------------------------------------------- g. binary error body

test("a model's binary 500 body becomes a readable 424 ModelError", T, async () => {
  const r = await invoke('mb', { id: newId('binary-500'), mode: 'binary-500' });
  assert.equal(r.status, 424, show(r));
  assert.equal(runtimeErrorType(r), 'ModelError', show(r));
  assert.ok(r.json && typeof r.json === 'object', `the error body is not JSON: ${show(r)}`);
  const message = r.json.message ?? r.json.Message ?? '';
  assert.ok(message.includes('bad thing') && message.includes(' end'),
    `the message should quote the model's body (invalid UTF-8 replaced, not dropped): ${show(r)}`);
  assert.equal(Number(r.json.OriginalStatusCode), 500, show(r));
  assert.equal(typeof r.json.OriginalMessage, 'string', `OriginalMessage missing: ${show(r)}`);
  assert.ok(r.json.OriginalMessage.includes('bad thing'), `OriginalMessage should carry the model's body: ${show(r)}`);
});

// ---------------------------------------------------------------- h. runtime API edges

test('two X-Amzn-SageMaker-Inference-Component headers are a 400 ValidationError', T, async () => {
  const id = newId('dup-ic');
  const r = await invokeCall(null, { id }, { headers: { 'x-amzn-sagemaker-inference-component': ['mb', 'hc'] } }).promise;
  assert.equal(r.status, 400, `two IC headers (mb, hc): ${show(r)}`);
  assert.equal(runtimeErrorType(r), 'ValidationError', show(r));
  assert.equal(seenCount('mb', id) + seenCount('hc', id), 0, 'the request with two IC headers reached a model');
});

test("a model's custom attributes over 1024 characters are not passed back", T, async () => {
  const r = await invoke('mb', { id: newId('big-attr'), mode: 'big-attributes' });
  assert.equal(r.status, 200, show(r));
  const ca = r.headers['x-amzn-sagemaker-custom-attributes'];
  assert.equal(ca, undefined,
    `the model's 2000-character X-Amzn-SageMaker-Custom-Attributes came back (${ca?.length} characters); `
    + 'over 1024 it must not be passed on');
});

test('InvokeEndpoint passes exactly one Accept to the model: the Accept header', T, async () => {
  const r = await invoke('mb', { id: newId('accept') }, {
    headers: { accept: 'text/plain', 'x-amzn-sagemaker-accept': 'application/x' },
  });
  assert.equal(r.status, 200, show(r));
  assert.deepEqual(r.json?.accepts, ['text/plain'],
    `the model should get one accept header, text/plain; it got ${JSON.stringify(r.json?.accepts)}`);
});

test('InvokeEndpointWithResponseStream passes X-Amzn-SageMaker-Accept to the model as its Accept', T, async () => {
  const r = await invoke('mb', { id: newId('stream-accept') }, {
    stream: true,
    headers: { accept: 'application/vnd.amazon.eventstream', 'x-amzn-sagemaker-accept': 'application/x' },
  });
  assert.equal(r.status, 200, show(r));
  const { events } = decodeEventStream(r.body);
  const text = events.filter((e) => e.headers[':event-type'] === 'PayloadPart').map((e) => e.payload.toString('utf8')).join('');
  const answer = parseJson(text);
  assert.ok(answer, `the stream's payload is not the model's JSON: ${showEvents(events)}`);
  assert.deepEqual(answer.accepts, ['application/x'],
    `the model should get one accept header, application/x; it got ${JSON.stringify(answer.accepts)}`);
});

test('an absolute-form request target is served like the origin form', T, async () => {
  const port = Number(new URL(b.runtimeUrl).port);
  const body = JSON.stringify({ id: newId('absolute') });
  // Signed over the path, as for the origin form.
  const auth = signed('POST', `${b.runtimeUrl}/endpoints/${EP}/invocations`,
    { 'content-type': 'application/json', 'x-amzn-sagemaker-inference-component': 'mb' }, body);
  const head = `POST http://127.0.0.1:${port}/endpoints/${EP}/invocations HTTP/1.1\r\n`
    + `Host: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n`
    + `X-Amzn-SageMaker-Inference-Component: mb\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`
    + `X-Amz-Date: ${auth['x-amz-date']}\r\nAuthorization: ${auth.authorization}\r\n`
    + 'Connection: close\r\n\r\n';
  const raw = await new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    s.setTimeout(20_000, () => s.destroy(new Error('no answer in 20 s')));
    s.on('data', (c) => chunks.push(c));
    s.on('error', (e) => (chunks.length ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(e)));
    s.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    // write, not end: a client that half-closes counts as gone (as in nginx
    // and Go's net/http), and the server closes after its answer anyway.
    s.write(head + body);
  });
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(raw)?.[1]);
  assert.equal(status, 200, `absolute-form POST http://127.0.0.1:${port}/endpoints/${EP}/invocations: ${raw.slice(0, 1000)}`);
  const answer = parseJson(raw.slice(raw.indexOf('\r\n\r\n') + 4));
  assert.equal(answer?.ok, true, `the model's answer: ${raw.slice(0, 1000)}`);
});

test('HEAD /healthz answers 200 on the control and the runtime port', T, async () => {
  for (const [name, url] of [['control', b.controlUrl], ['runtime', b.runtimeUrl]]) {
    const r = await healthz(url, 'HEAD');
    assert.equal(r.status, 200, `HEAD /healthz on the ${name} port: ${show(r)}`);
    assert.equal(r.body.length, 0, `HEAD answer with a body on the ${name} port: ${show(r)}`);
  }
});

// ---------------------------------------------------------------- i. health checks

test('a copy whose /ping stops answering leaves rotation and comes back when it answers again', T, async () => {
  const ic = 'hc';
  await waitIcInService(b.controlUrl, ic, 2);
  const ok = async () => {
    const r = await invoke(ic, { id: newId('hc-ok') }, { timeoutMs: 20_000 });
    assert.equal(r.status, 200, show(r));
    return r.json;
  };
  // Both copies serve.
  const copies = new Map();
  await waitFor(async () => {
    const a = await ok();
    copies.set(a.copy, a.port);
    return copies.size;
  }, { timeoutMs: 30_000, intervalMs: 0, until: (n) => n === 2, what: `both copies of ${ic} to answer` });

  const sickAnswer = await invoke(ic, { id: newId('hc-sick'), mode: 'sick' });
  assert.equal(sickAnswer.status, 200, show(sickAnswer));
  const sick = sickAnswer.json;
  const other = [...copies.keys()].find((c) => c !== sick.copy);
  try {
    // With --health-interval 1 and 3 failed checks the sick copy is out within seconds.
    const t0 = Date.now();
    await waitFor(async () => {
      const seen = [];
      for (let i = 0; i < 10; i++) seen.push((await ok()).copy);
      return seen;
    }, {
      timeoutMs: 20_000, intervalMs: 200, until: (seen) => seen.every((c) => c === other),
      what: `10 requests in a row to be answered by copy ${other} once copy ${sick.copy}'s /ping hangs (--health-interval ${HEALTH_INTERVAL_S})`,
    });
    process.stderr.write(`# copy ${sick.copy} left rotation ${Date.now() - t0} ms after its /ping began to hang\n`);
  } finally {
    // Straight to the sick copy's own port: berthd no longer routes to it.
    const well = await httpCall(`http://127.0.0.1:${sick.port}`, { path: '/invocations', body: { mode: 'well' }, timeoutMs: 10_000 }).promise;
    assert.equal(well.status, 200, `making copy ${sick.copy} well on port ${sick.port}: ${show(well)}`);
  }
  await waitFor(async () => (await ok()).copy, {
    timeoutMs: 30_000, intervalMs: 100, until: (c) => c === sick.copy,
    what: `copy ${sick.copy} to serve again once its /ping answers 200`,
  });
});

// Stream errors, timeouts, retries and client disconnects as the REAL AWS SDK
// (@aws-sdk/client-sagemaker-runtime, maxAttempts 1 so that the SDK's own
// retries hide nothing) sees them through berthd's router (issue 13, items 7,
// 3 and the disconnect part of 2).  berth-model fails on purpose per request
// (parameters.die_after_tokens, stall_after_tokens, token_delay_ms; see
// src/berth-model/faults.h) and reports what it saw on GET /stats.
//
// One berthd (--invocation-timeout 3, --stream-timeout 20), one endpoint, one
// IC of 2 berth-model copies.  Steps run in order; the kill -9 step is last.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { after, before, test } from 'node:test';

import {
  InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand, SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';

import { modelPids, rejection, signed, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc, steadyLoad, waitIcInService } from '../lib/fixtures.mjs';

const STEP = { timeout: 90_000 };
const EP = 'streams-ep';
const IC = 'streams-ic';
const INVOCATION_TIMEOUT_S = 3;
const STREAM_TIMEOUT_S = 20;
// Slack over a deadline: well under the deadline itself, so that a second
// full wait (a retry after a timeout) cannot hide in it.
const SLACK_MS = 2000;

let b;
let rt;

before(async () => {
  b = await startBerthd({
    extraArgs: ['--invocation-timeout', String(INVOCATION_TIMEOUT_S),
      '--stream-timeout', String(STREAM_TIMEOUT_S), '--health-interval', '1'],
  });
  rt = new SageMakerRuntimeClient(b.sdk(b.runtimeUrl, { maxAttempts: 1 }));
  // Least outstanding requests: a stopped copy keeps the few requests it
  // has and the rest go to the other (the kill -9 step).
  await deployEndpoint(b.controlUrl, EP, { variantExtra: { RoutingConfig: { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' } } });
  await deployIc(b.controlUrl, IC, EP, 'streams', { copies: 2, cores: 1 });
});

after(async () => {
  rt?.destroy();
  await stopAll();
});

const target = { EndpointName: EP, InferenceComponentName: IC, ContentType: 'application/json' };
const body = (inputs, parameters = {}, extra = {}) => JSON.stringify({ inputs, parameters, ...extra });

/** The model servers' ports (their SAGEMAKER_BIND_TO_PORT). */
function modelPorts() {
  return modelPids().map((pid) => {
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const port = env.find((e) => e.startsWith('SAGEMAKER_BIND_TO_PORT='))?.split('=')[1];
    return Number(port);
  }).filter(Boolean);
}

/** GET /stats of every copy's berth-model, summed. */
async function modelStats() {
  const all = await Promise.all(modelPorts().map(async (port) => {
    const res = await fetch(`http://127.0.0.1:${port}/stats`, { signal: AbortSignal.timeout(2000) });
    return res.json();
  }));
  return {
    inflight: all.reduce((n, s) => n + s.inflight, 0),
    died: all.reduce((n, s) => n + s.died, 0),
    aborted: all.reduce((n, s) => n + s.aborted, 0),
    lastAbortMs: Math.max(0, ...all.map((s) => s.last_abort_ms)),
    copies: all.length,
  };
}

/** Reads a response stream to its end: {text, error}. */
async function readStream(out) {
  let text = '';
  try {
    for await (const ev of out.Body) {
      if (ev.PayloadPart?.Bytes) text += Buffer.from(ev.PayloadPart.Bytes).toString('utf8');
    }
    return { text, error: null };
  } catch (error) {
    return { text, error };
  }
}

const events = (text) => text.split('\n').filter((l) => l.startsWith('data:'));

/** The router's WARN line for request id, if any. */
const failureLine = (id) => b.logs().split('\n').find((l) => l.includes(`invocation ${id} `));

test('a whole stream ends cleanly, with no exception', STEP, async () => {
  const out = await rt.send(new InvokeEndpointWithResponseStreamCommand({
    ...target, Body: body('whole', { max_new_tokens: 6 }, { stream: true }),
  }));
  const r = await readStream(out);
  assert.equal(r.error, null, `a whole stream threw ${r.error?.name}: ${r.error?.message}`);
  assert.equal(events(r.text).length, 6, r.text);
});

test('a model that dies mid-stream: the SDK throws ModelStreamError StreamBroken after the parts sent', STEP, async () => {
  const out = await rt.send(new InvokeEndpointWithResponseStreamCommand({
    ...target, Body: body('dies', { max_new_tokens: 10, die_after_tokens: 3, token_delay_ms: 50 }, { stream: true }),
  }));
  const r = await readStream(out);
  assert.ok(r.error, `the cut stream ended without an error: ${JSON.stringify(r.text)}`);
  assert.equal(r.error.name, 'ModelStreamError', `${r.error.name}: ${r.error.message}`);
  assert.equal(r.error.ErrorCode, 'StreamBroken', r.error.message);
  assert.equal(events(r.text).length, 3, `the 3 tokens sent before the cut should arrive: ${r.text}`);
});

test('InvokeEndpoint of a model that dies mid-answer (chunked): a cut body, never a clean 200', STEP, async () => {
  // stream: true makes berth-model answer chunked, which the router passes
  // through as it comes; the cut must show as an error, not a short body.
  const err = await rejection(rt.send(new InvokeEndpointCommand({
    ...target, Body: body('cut', { max_new_tokens: 10, die_after_tokens: 3, token_delay_ms: 50 }, { stream: true }),
  })), 'InvokeEndpoint of a cut chunked answer');
  assert.notEqual(err.name, 'ModelError', `the 200 head was sent, the cut cannot be a ModelError: ${err.message}`);
  assert.match(`${err.name} ${err.message} ${err.code ?? ''}`, /abort|ECONNRESET|terminated|premature|socket hang up/i,
    `expected a broken-connection error: ${err.name}: ${err.message}`);
});

test(`a model that stalls mid-stream: ModelStreamError ModelInvocationTimeExceeded within --invocation-timeout ${INVOCATION_TIMEOUT_S} s`, STEP, async () => {
  const t0 = Date.now();
  const out = await rt.send(new InvokeEndpointWithResponseStreamCommand({
    ...target, Body: body('stall', { max_new_tokens: 10, stall_after_tokens: 2 }, { stream: true }),
  }));
  const r = await readStream(out);
  const ms = Date.now() - t0;
  assert.ok(r.error, `the stalled stream ended without an error: ${JSON.stringify(r.text)}`);
  assert.equal(r.error.name, 'ModelStreamError', `${r.error.name}: ${r.error.message}`);
  assert.equal(r.error.ErrorCode, 'ModelInvocationTimeExceeded', r.error.message);
  assert.equal(events(r.text).length, 2, r.text);
  assert.ok(ms >= INVOCATION_TIMEOUT_S * 1000 - 200 && ms <= INVOCATION_TIMEOUT_S * 1000 + SLACK_MS,
    `the stall was cut after ${ms} ms, expected about ${INVOCATION_TIMEOUT_S} s (not --stream-timeout ${STREAM_TIMEOUT_S} s)`);
});

test('a model that stalls before answering: InvokeEndpoint gets 424 ModelError (timed out), the streaming route ModelStreamError ModelInvocationTimeExceeded; each error carries its own request id', STEP, async () => {
  let t0 = Date.now();
  const plain = await rejection(rt.send(new InvokeEndpointCommand({
    ...target, Body: body('silent', { stall_after_tokens: 0 }),
  })), 'InvokeEndpoint of a silent model');
  let ms = Date.now() - t0;
  assert.equal(plain.name, 'ModelError', `${plain.name}: ${plain.message}`);
  assert.equal(plain.$metadata.httpStatusCode, 424);
  assert.equal(plain.OriginalStatusCode, 0);
  assert.match(plain.message, /^Your invocation timed out while waiting for a response from inference component streams-ic/);
  assert.ok(ms <= INVOCATION_TIMEOUT_S * 1000 + SLACK_MS, `answered after ${ms} ms`);

  t0 = Date.now();
  const streamed = await rejection(rt.send(new InvokeEndpointWithResponseStreamCommand({
    ...target, Body: body('silent-stream', { stall_after_tokens: 0 }),
  })).then(readStream).then((r) => { if (r.error) throw r.error; return r; }), 'a stream from a silent model');
  ms = Date.now() - t0;
  assert.equal(streamed.name, 'ModelStreamError', `${streamed.name}: ${streamed.message}`);
  assert.equal(streamed.ErrorCode, 'ModelInvocationTimeExceeded', streamed.message);
  assert.ok(ms <= INVOCATION_TIMEOUT_S * 1000 + SLACK_MS, `answered after ${ms} ms`);

  // The id the error carries is the one the router logged the failure under.
  for (const e of [plain, streamed]) {
    const id = e.$metadata.requestId;
    assert.match(id ?? '', /^[0-9a-f]{16}-[0-9a-f]{8}$/, `x-amzn-requestid of the error: ${id}`);
    await waitFor(() => failureLine(id), { timeoutMs: 5000, intervalMs: 50, what: `the router's log line for ${id}` });
    assert.match(failureLine(id), /failed at copy \d+ at 127\.0\.0\.1:\d+: connection timed out/, failureLine(id));
  }
  assert.notEqual(plain.$metadata.requestId, streamed.$metadata.requestId);
});

test('a model that dies before answering: 424 ModelError, sent to one copy only (it had the request)', STEP, async () => {
  const before = await modelStats();
  const err = await rejection(rt.send(new InvokeEndpointCommand({
    ...target, Body: body('dies-early', { die_after_tokens: 1 }),
  })), 'InvokeEndpoint of a model that closes');
  assert.equal(err.name, 'ModelError', `${err.name}: ${err.message}`);
  assert.equal(err.$metadata.httpStatusCode, 424);
  assert.match(err.message, /failed before it answered/);
  const after = await modelStats();
  assert.equal(after.died - before.died, 1, 'a request whose model read it must not be sent to another copy');
  const line = await waitFor(() => failureLine(err.$metadata.requestId), { timeoutMs: 5000, intervalMs: 50, what: 'the failure logged' });
  assert.match(line, /not sent again/, line);
});

/** A signed raw request on its own connection; resolves once the answer's first body bytes arrive. */
function openSlowCall(path, payload) {
  const url = `${b.runtimeUrl}${path}`;
  const h = signed('POST', url, { 'content-type': 'application/json', 'x-amzn-sagemaker-inference-component': IC }, payload);
  h['content-length'] = Buffer.byteLength(payload);
  const u = new URL(url);
  const req = http.request({ host: u.hostname, port: u.port, path, method: 'POST', headers: h, agent: false });
  req.on('error', () => {}); // destroyed on purpose
  const started = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      res.on('error', () => {});
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      res.once('data', () => resolve());
    });
  });
  req.end(payload);
  return { req, started };
}

async function assertCancelledWithin100ms(start) {
  await waitFor(() => modelStats(), { timeoutMs: 10_000, intervalMs: 20, what: 'the model to have the request', until: (s) => s.inflight === 1 });
  const t0 = Date.now();
  start.req.destroy();
  const s = await waitFor(() => modelStats(), {
    timeoutMs: 3000, intervalMs: 10, what: 'the copy to have nothing in flight after the client went', until: (x) => x.inflight === 0,
  });
  const lag = s.lastAbortMs - t0;
  assert.ok(lag <= 100, `the model saw its connection closed ${lag} ms after the client went (limit 100 ms)`);
}

test('a client that goes cancels the call to its copy within 100 ms (streaming, then plain)', STEP, async () => {
  const slow = { max_new_tokens: 200, token_delay_ms: 100 };
  const stream = openSlowCall(`/endpoints/${EP}/invocations-response-stream`, body('slow', slow, { stream: true }));
  await stream.started;
  await assertCancelledWithin100ms(stream);

  // A plain answer is buffered whole: nothing reaches the client before the
  // abort, so the start is the model having it.
  const plain = openSlowCall(`/endpoints/${EP}/invocations`, body('slow-plain', { ...slow, max_new_tokens: 20 }));
  await assertCancelledWithin100ms(plain);
});

// The syscalls a libuv loop sleeps in (/proc/PID/syscall's first field).
const EPOLL_WAITS = process.arch === 'arm64' ? [22, 441] : [232, 281, 441];
const procState = (pid) => { const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); return s[s.lastIndexOf(')') + 2]; };

/**
 * SIGKILL pid at a moment it holds no request: stopped (SIGSTOP) while its
 * loop sleeps in epoll_wait; stopped anywhere else it is let go (SIGCONT)
 * and tried again.  berth-model (no token delay) reads, answers and sleeps
 * in one loop turn, so asleep it holds nothing: a request it had read when
 * killed would rightly fail (it may have acted on it; never sent again),
 * and the test is about the others.  Requests that arrive while it is
 * stopped sit unread in its sockets: the kill resets them.
 */
async function stopWhileIdle(pid) {
  for (let i = 0; i < 1000; i++) {
    process.kill(pid, 'SIGSTOP');
    await waitFor(() => procState(pid), { timeoutMs: 2000, intervalMs: 1, what: `pid ${pid} stopped`, until: (st) => st === 't' || st === 'T' });
    const nr = Number(fs.readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0]);
    if (EPOLL_WAITS.includes(nr)) return;
    process.kill(pid, 'SIGCONT');
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`pid ${pid} was never found asleep in its loop`);
}

/**
 * Connections to local port `port` with an invocation waiting unread
 * (/proc/net/tcp's rx_queue): 80 bytes or more, since the router's POST
 * /invocations is longer than the agent's GET /ping health checks.
 */
function invocationsUnreadAt(port) {
  let n = 0;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines = [];
    try { lines = fs.readFileSync(f, 'utf8').split('\n').slice(1); } catch { continue; }
    for (const l of lines) {
      const x = l.trim().split(/\s+/);
      if (x.length < 5 || parseInt(x[1].split(':').pop(), 16) !== port) continue;
      if (parseInt(x[4].split(':')[1], 16) >= 80) n++;
    }
  }
  return n;
}

test('kill -9 of a copy\'s model server under steady load of 2 copies: zero failed requests', STEP, async () => {
  await waitIcInService(b.controlUrl, IC, 2);
  const [victim] = modelPids();
  assert.ok(victim, 'no model server found');
  const victimPort = Number(fs.readFileSync(`/proc/${victim}/environ`, 'utf8').split('\0')
    .find((e) => e.startsWith('SAGEMAKER_BIND_TO_PORT='))?.split('=')[1]);
  const load = steadyLoad(rt, InvokeEndpointCommand, { EndpointName: EP, InferenceComponentName: IC }, { workers: 4 });
  await waitFor(() => load.answers.length, { timeoutMs: 20_000, intervalMs: 20, what: 'traffic', until: (n) => n >= 50 });
  // Stopped, it holds requests it never read while traffic goes on through
  // the other copy; the kill resets their connections: each must go to the
  // other copy, as must the connects the dead port refuses after.
  await stopWhileIdle(victim);
  const atStop = load.answers.length;
  await waitFor(() => ({ unread: invocationsUnreadAt(victimPort), answers: load.answers.length }), {
    timeoutMs: 20_000, intervalMs: 5, what: 'requests queued unread at the stopped copy while the other serves',
    until: (v) => v.unread > 0 && v.answers >= atStop + 20,
  });
  const atKill = load.answers.length;
  process.kill(victim, 'SIGKILL');
  // Until the copy is back (its agent restarts it) and has served again.
  await waitFor(() => modelPids().filter((p) => p !== victim).length, { timeoutMs: 30_000, intervalMs: 100, what: 'the copy to restart', until: (n) => n >= 2 });
  await waitIcInService(b.controlUrl, IC, 2, { timeoutMs: 30_000 });
  const afterBack = load.answers.length;
  await waitFor(() => load.answers.length, { timeoutMs: 20_000, intervalMs: 20, what: 'traffic after the restart', until: (n) => n >= afterBack + 50 });
  const r = await load.stop();
  assert.deepEqual(r.failures, [], `${r.failures.length} of ${r.answers.length + r.failures.length} requests failed`);
  assert.ok(r.answers.length > atKill + 50, `only ${r.answers.length - atKill} answers after the kill`);
  // (A reset pooled connection is tried once more on a new one, which the
  // dead port refuses: the log names the refusal.)
  const retried = b.logs().split('\n').filter((l) => / of streams-ic: copy \d+ .* sent to another copy$/.test(l));
  assert.ok(retried.length >= 1, 'no request to the killed copy was sent to the other copy');
});

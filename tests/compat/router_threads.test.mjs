// The router on two threads (issue 13 item 1), as the REAL AWS SDK
// (@aws-sdk/client-sagemaker-runtime) sees it: `berthd up --router-threads 2`
// opens two listeners on the runtime port (SO_REUSEPORT), and what routing
// decides is the same whichever thread accepted a connection:
// LEAST_OUTSTANDING_REQUESTS counts every thread's requests and open
// streams, and a sticky session opened through one connection is found
// through any other.
//
// Each request below goes out on a connection of its own (a new SDK client),
// so the kernel spreads them over both threads' listeners; a thread that
// counted only its own requests would send about half of them to the busier
// copy.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';

import {
  InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand, SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';

import { modelPids, rolePids, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc } from '../lib/fixtures.mjs';

const STEP = { timeout: 120_000 };
const EP = 'threads-ep';
const IC = 'threads-ic';
const FRESH_REQUESTS = 10;

let b;
let rt;
const streams = [];

before(async () => {
  b = await startBerthd({ extraArgs: ['--router-threads', '2', '--health-interval', '1'] });
  rt = new SageMakerRuntimeClient(b.sdk(b.runtimeUrl, { maxAttempts: 1 }));
  await deployEndpoint(b.controlUrl, EP, {
    variantExtra: { RoutingConfig: { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' } },
  });
  await deployIc(b.controlUrl, IC, EP, 'threads', { copies: 2, cores: 1 });
});

after(async () => {
  for (const s of streams) s.abort.abort();
  rt?.destroy();
  await stopAll();
});

const target = { EndpointName: EP, InferenceComponentName: IC, ContentType: 'application/json' };
const body = (parameters, extra = {}) => JSON.stringify({ inputs: 'hi', parameters, ...extra });

/** InvokeEndpoint on a connection of its own; the parsed answer and its headers. */
async function invokeFresh(extra = {}, parameters = { max_new_tokens: 2 }) {
  const client = new SageMakerRuntimeClient(b.sdk(b.runtimeUrl, { maxAttempts: 1 }));
  try {
    const out = await client.send(new InvokeEndpointCommand({ ...target, Body: body(parameters), ...extra }));
    return { ...out, json: JSON.parse(Buffer.from(out.Body).toString('utf8')) };
  } finally {
    client.destroy();
  }
}

/** BERTH_COPY_ID -> port of every berth-model copy. */
function copyPorts() {
  const ports = {};
  for (const pid of modelPids()) {
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const get = (k) => env.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1);
    if (get('BERTH_COPY_ID')) ports[get('BERTH_COPY_ID')] = Number(get('SAGEMAKER_BIND_TO_PORT'));
  }
  return ports;
}

/** Answers in progress at each copy, from its own GET /stats. */
async function inflightByCopy() {
  const out = {};
  for (const [id, port] of Object.entries(copyPorts())) {
    const res = await fetch(`http://127.0.0.1:${port}/stats`, { signal: AbortSignal.timeout(2000) });
    out[id] = (await res.json()).inflight;
  }
  return out;
}

/** Sockets listening on port, from /proc/net/tcp (state 0A). */
function listeners(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .filter((l) => l.trim()).map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1].endsWith(`:${hex}`) && f[3] === '0A').length;
}

test('the router listens on the runtime port once per thread', STEP, async () => {
  const port = Number(new URL(b.runtimeUrl).port);
  await waitFor(() => listeners(port) === 2, { timeoutMs: 20_000, what: 'two runtime listeners' });
  const [pid] = rolePids('router');
  assert.ok(pid, 'a router process');
  const threads = Number(/Threads:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  assert.ok(threads >= 2, `the router runs ${threads} threads`);
});

test('LEAST_OUTSTANDING_REQUESTS across 2 threads sends new requests to the copy with fewer outstanding while long streams are open', STEP, async () => {
  // Three long streams, opened one after another on connections of their
  // own (each waits for its first token, so the next choice sees it): the
  // copies hold 2 and 1, and the one with 1 must get every new request.
  for (let i = 0; i < 3; i++) {
    const client = new SageMakerRuntimeClient(b.sdk(b.runtimeUrl, { maxAttempts: 1 }));
    const abort = new AbortController();
    const out = await client.send(new InvokeEndpointWithResponseStreamCommand({
      ...target, Body: body({ max_new_tokens: 600, token_delay_ms: 100 }, { stream: true }),
    }), { abortSignal: abort.signal });
    const it = out.Body[Symbol.asyncIterator]();
    await it.next(); // its first token: it is outstanding at its copy now
    const s = { client, abort, it };
    s.drain = (async () => { try { while (!(await it.next()).done); } catch { /* aborted */ } })();
    streams.push(s);
  }
  const held = await waitFor(async () => {
    const n = await inflightByCopy();
    const v = Object.values(n);
    return v.length === 2 && v.reduce((a, c) => a + c, 0) === 3 ? n : null;
  }, { timeoutMs: 10_000, what: 'three streams held by the copies' });
  const [busy, idle] = Object.entries(held).sort((a, c) => c[1] - a[1]).map(([id]) => id);
  assert.equal(held[busy], 2, `LOR split 3 streams 2:1 across both threads, got ${JSON.stringify(held)}`);
  assert.equal(held[idle], 1, JSON.stringify(held));
  const landed = [];
  for (let i = 0; i < FRESH_REQUESTS; i++) landed.push((await invokeFresh()).json.copy_id);
  assert.deepEqual(landed, Array(FRESH_REQUESTS).fill(idle),
    `every new request goes to copy ${idle} (1 stream open) rather than ${busy} (2 open)`);
  for (const s of streams) s.abort.abort();
  await Promise.all(streams.map((s) => s.drain));
  for (const s of streams) s.client.destroy();
  streams.length = 0;
  // Once the streams are gone neither copy counts them.
  await waitFor(async () => Object.values(await inflightByCopy()).every((n) => n === 0),
    { timeoutMs: 10_000, what: 'the copies idle again' });
});

test('a session opened through one connection is found through the others', STEP, async () => {
  const first = await invokeFresh({ SessionId: 'NEW_SESSION' });
  const id = /^([^;]+);/.exec(first.NewSessionId ?? '')?.[1];
  assert.ok(id, `NEW_SESSION answered a NewSessionId: ${first.NewSessionId}`);
  for (let i = 0; i < 5; i++) {
    const r = await invokeFresh({ SessionId: id });
    assert.equal(r.json.copy_id, first.json.copy_id, `turn ${i + 2} lands on the session's copy`);
    assert.equal(r.json.session_turn, i + 1, JSON.stringify(r.json));
  }
});

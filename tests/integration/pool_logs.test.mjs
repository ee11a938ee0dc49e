// A pool agent's copy logs reach the controller (docs/logs.md, "Remote
// agents"): the agent has its own data and shared dir, as on another host,
// and ships what its copies print; the real @aws-sdk/client-cloudwatch-logs
// reads the lines from the controller within seconds, in a stream named by
// the pool instance and the copy. Restarting the agent (its shipped offsets
// kept, then lost) duplicates no line, and the intake refuses bad batches.
// Loopback only: no root or network namespace needed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  CloudWatchLogsClient, DescribeLogStreamsCommand, GetLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';

import {
  BERTHD, NODE_EXEC, TEST_TAG, controlOk, invoke, startBerthd, stopAll, waitFor,
} from '../lib/berthd.mjs';
import { INSTANCE_TYPE, deployEndpoint, icBody, waitIcInService } from '../lib/fixtures.mjs';

const TOKEN = `pool-logs-${process.pid}`;
const GROUP = '/aws/sagemaker/InferenceComponents/';
const IC = 'remote-talker';

// Prints one line per request; copies may run as another user, so the
// script lies world-readable outside the source tree.
const MODEL = `
import http from 'node:http';
const port = Number(process.env.SAGEMAKER_BIND_TO_PORT || process.env.BERTH_PORT);
http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    if (req.url === '/ping') { res.end('ok'); return; }
    let j = {};
    try { j = JSON.parse(body); } catch {}
    console.log('request ' + j.id + ' served');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true }));
  });
}).listen(port, process.env.BERTH_BIND_HOST || '127.0.0.1', () => console.log('remote printer listening'));
`;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-pool-logs-'));
fs.chmodSync(work, 0o755);
const SCRIPT = path.join(work, 'printer.mjs');
fs.writeFileSync(SCRIPT, MODEL, { mode: 0o644 });
const agentDir = path.join(work, 'agent'); // its data and shared dir
fs.mkdirSync(agentDir);

let b;
let logs;
let agent = null;

function startAgent() {
  const proc = spawn(BERTHD, ['agent', '--join', b.controlUrl, '--token', TOKEN,
    '--instance-type', INSTANCE_TYPE, '--data-dir', agentDir, '--allow-exec', NODE_EXEC], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BERTH_TEST_TAG: TEST_TAG },
  });
  const a = { proc, log: '', exit: null };
  const onData = (d) => {
    a.log += d;
    if (process.env.BERTH_TEST_VERBOSE === '1') process.stderr.write(`[agent] ${d}`);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  a.exited = new Promise((resolve) => proc.on('exit', (code, signal) => { a.exit = { code, signal }; resolve(a.exit); }));
  agent = a;
  return a;
}

before(async () => {
  b = await startBerthd({ extraArgs: ['--provider', 'pool', '--agent-token', TOKEN] });
  logs = new CloudWatchLogsClient(b.sdk());
});

after(async () => {
  if (agent && agent.exit === null) {
    agent.proc.kill('SIGTERM'); // stops its copies
    await Promise.race([agent.exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (agent.exit === null) agent.proc.kill('SIGKILL');
  }
  await stopAll();
  fs.rmSync(work, { recursive: true, force: true });
});

/** Every event of the stream, oldest first, paging forward. */
async function allEvents(stream) {
  const out = [];
  let token;
  for (let i = 0; i < 100; i++) {
    const g = await logs.send(new GetLogEventsCommand({
      logGroupName: GROUP + IC, logStreamName: stream, startFromHead: true, nextToken: token,
    }));
    out.push(...g.events);
    if (g.nextForwardToken === token) break;
    token = g.nextForwardToken;
  }
  return out;
}

async function printed(id, stream) {
  const r = await invoke(b.runtimeUrl, 'remote-ep', IC, { id });
  assert.equal(r.status, 200, r.text);
  const printedAt = Date.now();
  await waitFor(async () => (await allEvents(stream)).some((e) => e.message === `request ${id} served`), {
    timeoutMs: 5_000, intervalMs: 50, what: `request ${id}'s line through GetLogEvents`,
  });
  return Date.now() - printedAt;
}

function assertOnce(events, messages) {
  for (const m of messages) {
    const n = events.filter((e) => e.message === m).length;
    assert.equal(n, 1, `"${m}" appears ${n} times in ${JSON.stringify(events.map((e) => e.message))}`);
  }
}

test('a pool agent\'s copy lines are read from the controller, once each across agent restarts', { timeout: 60_000 }, async () => {
  const a = startAgent();
  const joined = await waitFor(() => b.logs().match(/joined the pool as instance (\d+)/), {
    timeoutMs: 20_000, what: 'the agent to join',
  });
  const instanceId = joined[1];
  await deployEndpoint(b.controlUrl, 'remote-ep');
  const body = icBody(IC, 'remote-ep', IC, { cores: 0.5 });
  body.Specification.Container.Image = `${NODE_EXEC} ${SCRIPT}`;
  await controlOk(b.controlUrl, 'CreateInferenceComponent', body);
  await waitIcInService(b.controlUrl, IC, 1, { timeoutMs: 40_000 });

  const streams = await waitFor(() => logs.send(new DescribeLogStreamsCommand({ logGroupName: GROUP + IC })), {
    timeoutMs: 5_000, intervalMs: 50, what: 'the pool copy\'s stream on the controller',
    until: (r) => r.logStreams?.length > 0,
  });
  const stream = streams.logStreams[0].logStreamName;
  assert.match(stream, new RegExp(`^i-${instanceId}/copy-\\d+$`), 'named by the pool instance and its copy');
  // The lines live in the agent's own shared dir and were shipped: the
  // controller's copy is its own files.
  assert.ok(fs.readdirSync(path.join(agentDir, 'logs', IC)).length > 0, 'the agent wrote its own store');
  assert.ok(fs.readdirSync(path.join(b.dataDir, 'logs', IC)).length > 0, 'the controller holds them too');

  const latency = await printed(`one-${process.pid}`, stream);
  assert.ok(latency < 3000, `shipped ${latency} ms after printing`);
  assertOnce(await allEvents(stream), ['remote printer listening', `request one-${process.pid} served`]);

  // Restart 1: SIGKILL (its copy keeps running and is adopted); the shipped
  // offsets in its data dir let it resume where it was.
  a.proc.kill('SIGKILL');
  await a.exited;
  const a2 = startAgent();
  await waitFor(() => a2.log, { timeoutMs: 10_000, what: 'the agent to resume shipping', until: (l) => /streams resumed/.test(l) });
  assert.match(a2.log, /\(1 streams resumed/, a2.log);
  await printed(`two-${process.pid}`, stream);
  assertOnce(await allEvents(stream), ['remote printer listening', `request one-${process.pid} served`, `request two-${process.pid} served`]);

  // Restart 2 with its offsets lost: it sends the stream again from the
  // start, and the controller keeps what it has.
  a2.proc.kill('SIGKILL');
  await a2.exited;
  fs.rmSync(path.join(agentDir, 'log-shipped.json'));
  const a3 = startAgent();
  await waitFor(() => a3.log, { timeoutMs: 10_000, what: 'the agent to ship again', until: (l) => /\(0 streams resumed/.test(l) });
  await printed(`three-${process.pid}`, stream);
  assertOnce(await allEvents(stream), ['remote printer listening', `request one-${process.pid} served`,
    `request two-${process.pid} served`, `request three-${process.pid} served`]);

  // The intake refuses bad batches, with the agent's own token.
  const own = fs.readFileSync(path.join(agentDir, 'agent-token'), 'utf8').trim();
  const post = async (headers, text = 'x\n', token = own) => {
    const r = await fetch(`${b.controlUrl}/agent/v1/logs`, {
      method: 'POST', body: text,
      headers: { authorization: `Bearer ${token}`, 'x-berth-ic': IC, 'x-berth-stream': stream, 'x-berth-gap': '0', ...headers },
    });
    return { status: r.status, json: await r.json() };
  };
  let r = await post({ 'x-berth-start': '0' }, 'x\n', 'not-a-token');
  assert.equal(r.status, 401);
  r = await post({ 'x-berth-stream': `i-${instanceId}/../../etc`, 'x-berth-start': '0' });
  assert.equal(r.status, 400);
  assert.match(r.json.message, /x-berth-stream 'i-\d+\/\.\.\/\.\.\/etc' must be a stream of this agent's instance/);
  r = await post({ 'x-berth-stream': `i-999/copy-1`, 'x-berth-start': '0' });
  assert.equal(r.status, 400, 'another instance\'s stream');
  r = await post({ 'x-berth-ic': 'no-such-ic', 'x-berth-start': '0' });
  assert.equal(r.status, 404);
  assert.match(r.json.message, /x-berth-ic 'no-such-ic': no inference component/);
  r = await post({ 'x-berth-start': '99999999' });
  assert.equal(r.status, 409);
  assert.match(r.json.message, /x-berth-start 99999999 is past the end of stream/);
  assert.ok(Number.isInteger(r.json.end) && r.json.end > 0 && r.json.end < 99999999, JSON.stringify(r.json));
  r = await post({ 'x-berth-start': String(r.json.end) }, 'no newline');
  assert.equal(r.status, 400);
  assert.match(r.json.message, /whole lines/);
  r = await post({ 'x-berth-start': 'ten' });
  assert.equal(r.status, 400);
  assert.match(r.json.message, /x-berth-start 'ten' must be a byte offset/);
  // A resend of what is stored is accepted and changes nothing.
  r = await post({ 'x-berth-start': '0' }, 'dup\n');
  assert.equal(r.status, 200);
  assert.ok(!(await allEvents(stream)).some((e) => e.message === 'dup'));
});

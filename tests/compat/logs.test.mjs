// Copy logs through the real @aws-sdk/client-cloudwatch-logs (docs/logs.md):
// a copy's printed lines are in /aws/sagemaker/InferenceComponents/<IC>
// within a second, FilterLogEvents finds a term, `berth logs --follow` shows
// new lines, --log-retention-mb keeps an IC's logs under its bound while a
// copy prints a lot, and a copy that dies at start has its last lines in the
// IC's FailureReason and in its log.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  CloudWatchLogsClient, DescribeLogGroupsCommand, DescribeLogStreamsCommand,
  FilterLogEventsCommand, GetLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';

import { BUILD_DIR, controlOk, invoke, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, describeIc, icBody, waitIcInService } from '../lib/fixtures.mjs';

// A model that prints: one line per request, `lines` lines for mode spew,
// and a last word before exiting at start when PRINTER_FAIL is set. Copies
// may run as another user: a world-readable copy outside the source tree.
const MODEL = `
import http from 'node:http';
const port = Number(process.env.SAGEMAKER_BIND_TO_PORT || process.env.BERTH_PORT);
if (process.env.PRINTER_FAIL) {
  console.log('printer: loading weights');
  console.error('printer: fatal: weights.bin is truncated');
  process.exit(3);
}
http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    if (req.url === '/ping') { res.end('ok'); return; }
    let j = {};
    try { j = JSON.parse(body); } catch {}
    if (j.mode === 'spew') {
      // 100 lines a millisecond at most, as a busy logger prints.
      const pad = 'x'.repeat(200);
      let i = 0;
      const more = () => {
        for (let k = 0; k < 100 && i < j.lines; k++, i++) process.stdout.write('spew ' + i + ' ' + pad + '\\n');
        if (i < j.lines) setTimeout(more, 1);
        else process.stdout.write('spew done ' + j.id + '\\n');
      };
      more();
    } else {
      console.log('request ' + j.id + ' served');
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true }));
  });
}).listen(port, process.env.BERTH_BIND_HOST || '127.0.0.1', () => console.log('printer listening on ' + port));
`;
const scriptDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-printer-'));
fs.chmodSync(scriptDir, 0o755);
const SCRIPT = path.join(scriptDir, 'printer.mjs');
fs.writeFileSync(SCRIPT, MODEL, { mode: 0o644 });
const IMAGE = `${process.execPath} ${SCRIPT}`;
const GROUP = '/aws/sagemaker/InferenceComponents/';
const ACCESS_LOG = path.join(scriptDir, 'access.log');

let b;
let logs;
before(async () => {
  b = await startBerthd({ extraArgs: ['--log-retention-mb', '1', '--access-log', ACCESS_LOG] });
  logs = new CloudWatchLogsClient(b.sdk());
  await deployEndpoint(b.controlUrl, 'logs-ep');
});
after(async () => {
  await stopAll();
  fs.rmSync(scriptDir, { recursive: true, force: true });
});

async function deployPrinter(name, env = {}) {
  const body = icBody(name, 'logs-ep', name, { cores: 0.5, env });
  body.Specification.Container.Image = IMAGE;
  await controlOk(b.controlUrl, 'CreateInferenceComponent', body);
}

async function streamOf(ic) {
  const d = await waitFor(() => logs.send(new DescribeLogStreamsCommand({ logGroupName: GROUP + ic })), {
    timeoutMs: 10_000, intervalMs: 100, what: `a log stream of ${ic}`,
    until: (r) => r.logStreams?.length > 0,
  });
  return d.logStreams[0].logStreamName;
}

function dirBytes(dir) {
  return fs.readdirSync(dir).reduce((sum, f) => {
    try { return sum + fs.statSync(path.join(dir, f)).size; } catch { return sum; }
  }, 0);
}

test('a copy\'s lines are read back through the CloudWatch Logs SDK', { timeout: 60_000 }, async () => {
  await deployPrinter('talker');
  await waitIcInService(b.controlUrl, 'talker');
  const stream = await streamOf('talker');
  assert.match(stream, /^i-\d+\/copy-\d+$/);

  const groups = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: GROUP + 'talk' }));
  assert.deepEqual(groups.logGroups.map((g) => g.logGroupName), [GROUP + 'talker']);

  // Printed when the request arrives, so before its answer: within a
  // second of the answer the SDK reads it.
  const id = `hello-${process.pid}`;
  const r = await invoke(b.runtimeUrl, 'logs-ep', 'talker', { id });
  assert.equal(r.status, 200);
  const answered = Date.now();
  const seen = await waitFor(async () => {
    const g = await logs.send(new GetLogEventsCommand({ logGroupName: GROUP + 'talker', logStreamName: stream }));
    return g.events.find((e) => e.message === `request ${id} served`);
  }, { timeoutMs: 5_000, intervalMs: 20, what: 'the printed line in GetLogEvents' });
  const latency = Date.now() - answered;
  assert.ok(latency < 1000, `read ${latency} ms after printing`);
  assert.ok(Math.abs(seen.timestamp - answered) < 2000, `timestamp ${seen.timestamp} ~ ${answered}`);

  // Forward tokens: nothing new, the same token comes back.
  const head = await logs.send(new GetLogEventsCommand({
    logGroupName: GROUP + 'talker', logStreamName: stream, startFromHead: true,
  }));
  assert.match(head.events[0].message, /^printer listening on \d+$/);
  const again = await logs.send(new GetLogEventsCommand({
    logGroupName: GROUP + 'talker', logStreamName: stream, nextToken: head.nextForwardToken,
  }));
  assert.equal(again.events.length, 0);
  assert.equal(again.nextForwardToken, head.nextForwardToken);

  const needle = `needle-${process.pid}`;
  await invoke(b.runtimeUrl, 'logs-ep', 'talker', { id: needle });
  const found = await waitFor(() => logs.send(new FilterLogEventsCommand({
    logGroupName: GROUP + 'talker', filterPattern: `"request ${needle}" served`,
  })), { timeoutMs: 5_000, intervalMs: 50, what: 'FilterLogEvents to find the term', until: (f) => f.events.length > 0 });
  assert.equal(found.events.length, 1);
  assert.equal(found.events[0].logStreamName, stream);
  const none = await logs.send(new FilterLogEventsCommand({ logGroupName: GROUP + 'talker', filterPattern: `${needle} -served` }));
  assert.equal(none.events.length, 0);

  await assert.rejects(logs.send(new GetLogEventsCommand({ logGroupName: GROUP + 'nobody', logStreamName: stream })),
    (e) => e.name === 'ResourceNotFoundException');
  await assert.rejects(logs.send(new FilterLogEventsCommand({ logGroupName: GROUP + 'talker', filterPattern: '{ $.x = 1 }' })),
    (e) => e.name === 'InvalidParameterException' && /plain terms/.test(e.message));

  // berth logs --follow prints what is there, then what comes.
  const cli = spawn(path.join(BUILD_DIR, 'berth'), ['logs', 'talker', '--follow'], {
    env: { ...process.env, ...b.env(), BERTH_CONTROL_URL: b.controlUrl, BERTH_DATA_DIR: b.dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  cli.stdout.on('data', (d) => { out += d; });
  cli.stderr.on('data', (d) => { out += d; });
  try {
    await waitFor(() => out, { timeoutMs: 10_000, intervalMs: 50, what: 'berth logs to print the old lines', until: (o) => o.includes(`request ${id} served`) });
    const later = `later-${process.pid}`;
    await invoke(b.runtimeUrl, 'logs-ep', 'talker', { id: later });
    const t0 = Date.now();
    await waitFor(() => out, { timeoutMs: 5_000, intervalMs: 20, what: 'berth logs --follow to print the new line', until: (o) => o.includes(`request ${later} served`) });
    assert.ok(Date.now() - t0 < 2000);
    assert.match(out, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ${stream.replace('/', '\\/')} request ${later} served$`, 'm'));
  } finally {
    cli.kill('SIGTERM');
  }

  // --since and --copy pick lines; a copy without a log is an error.
  const copy = stream.split('/copy-')[1];
  const once = (args) => new Promise((resolve) => {
    const p = spawn(path.join(BUILD_DIR, 'berth'), ['logs', 'talker', ...args], {
      env: { ...process.env, ...b.env(), BERTH_CONTROL_URL: b.controlUrl, BERTH_DATA_DIR: b.dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let o = '';
    p.stdout.on('data', (d) => { o += d; });
    p.stderr.on('data', (d) => { o += d; });
    p.on('close', (code) => resolve({ code, out: o }));
  });
  const recent = await once(['--since', '1m', '--copy', copy]);
  assert.equal(recent.code, 0, recent.out);
  assert.match(recent.out, new RegExp(`request ${needle} served`));
  const asked = Date.now();
  const lastSecond = await once(['--since', '1s']);
  for (const l of lastSecond.out.trim().split('\n').filter(Boolean)) {
    assert.ok(Date.parse(l.split(' ')[0]) >= asked - 1000 - 50, `--since 1s printed ${l}`);
  }
  const nocopy = await once(['--copy', '999999']);
  assert.equal(nocopy.code, 1);
  assert.match(nocopy.out, /^berth: inference component talker has no log of copy 999999\n$/);

  // The router's access log: a line per invocation.
  const line = await waitFor(() => fs.readFileSync(ACCESS_LOG, 'utf8').split('\n').find((l) => l.includes(`ic=talker copy=${copy} status=200`)), {
    timeoutMs: 5_000, intervalMs: 50, what: 'the access log line',
  });
  assert.match(line, /^\S+Z endpoint=logs-ep ic=talker copy=\d+ status=200 model_status=200 model_ms=[\d.]+ overhead_ms=[\d.]+ bytes_in=\d+ bytes_out=[1-9]\d* request_id=\S+$/);
});

test('--log-retention-mb keeps an IC\'s logs under its bound', { timeout: 60_000 }, async () => {
  await deployPrinter('spewer');
  await waitIcInService(b.controlUrl, 'spewer');
  const stream = await streamOf('spewer');
  const dir = path.join(b.dataDir, 'logs', 'spewer');
  let most = 0;
  const sample = setInterval(() => { most = Math.max(most, dirBytes(dir)); }, 5);
  try {
    // 3 rounds of ~1.2 MiB each (6000 lines of ~210 bytes).
    for (let round = 0; round < 3; round++) {
      const id = `round-${round}`;
      await invoke(b.runtimeUrl, 'logs-ep', 'spewer', { id, mode: 'spew', lines: 6000 });
      await waitFor(() => logs.send(new GetLogEventsCommand({ logGroupName: GROUP + 'spewer', logStreamName: stream, limit: 5 })), {
        timeoutMs: 10_000, intervalMs: 50, what: `the end of ${id}`,
        // A burst faster than the disk is dropped, and says so (copy_log.h).
        until: (g) => g.events.some((e) => e.message === `spew done ${id}` || /bytes of output dropped/.test(e.message)),
      });
    }
  } finally {
    clearInterval(sample);
  }
  most = Math.max(most, dirBytes(dir));
  assert.ok(most <= 1 << 20, `the IC's logs reached ${most} bytes, over its 1 MiB`);
  assert.ok(fs.readdirSync(dir).length >= 2, 'rotated into segments');
  // The oldest lines went; what is left reads from its head.
  const head = await logs.send(new GetLogEventsCommand({ logGroupName: GROUP + 'spewer', logStreamName: stream, startFromHead: true, limit: 3 }));
  assert.equal(head.events.length, 3);
  assert.doesNotMatch(head.events[0].message, /printer listening/);
  const streams = await logs.send(new DescribeLogStreamsCommand({ logGroupName: GROUP + 'spewer' }));
  assert.ok(streams.logStreams[0].storedBytes <= 1 << 20);
});

test('a copy that dies at start: its last lines in FailureReason and in the logs', { timeout: 60_000 }, async () => {
  await deployPrinter('crasher', { PRINTER_FAIL: '1' });
  const d = await waitFor(() => describeIc(b.controlUrl, 'crasher'), {
    timeoutMs: 30_000, intervalMs: 200, what: 'crasher to fail', until: (x) => x.InferenceComponentStatus === 'Failed',
  });
  assert.match(d.FailureReason, /exited with status 3.*Last output: "printer: loading weights\|printer: fatal: weights\.bin is truncated"/);
  const found = await logs.send(new FilterLogEventsCommand({ logGroupName: GROUP + 'crasher', filterPattern: 'fatal truncated' }));
  assert.equal(found.events.length >= 1, true);
  assert.equal(found.events[0].message, 'printer: fatal: weights.bin is truncated');
});

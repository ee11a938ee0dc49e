// `berthd up` is a supervisor: it runs `berthd controller` and restarts it
// when it dies (the IC comes back, served again), passes SIGTERM on and exits
// with the controller, does not restart a controller that failed to start,
// and when it is killed itself, the next `berthd up` on its data dir adopts
// the copies that outlived it (no orphans, no duplicates).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import {
  BERTHD, TEST_TAG, childrenRunning, controlOk, findTaggedProcesses, invoke, modelPids, rolePids, startBerthd,
  stopAll, waitFor,
} from '../lib/berthd.mjs';
import { deployEndpoint, icBody, waitIcInService } from '../lib/fixtures.mjs';

after(() => stopAll());

const controllerOf = (pid) => childrenRunning(pid);

test('a killed controller is restarted and serves its inference components again', async () => {
  const d = await startBerthd();
  await deployEndpoint(d.controlUrl, 'sup-ep');
  await controlOk(d.controlUrl, 'CreateInferenceComponent', icBody('sup', 'sup-ep', 'sup'));
  await waitIcInService(d.controlUrl, 'sup', 1);
  const [first] = controllerOf(d.proc.pid);
  assert.ok(first, `no controller child of berthd up (pid ${d.proc.pid})`);

  process.kill(first, 'SIGKILL');
  const second = await waitFor(() => controllerOf(d.proc.pid).find((p) => p !== first), {
    timeoutMs: 15_000, intervalMs: 100, what: 'the supervisor to start a new controller',
  });
  assert.match(d.logs(), new RegExp(`controller \\(pid ${first}\\) was killed by signal 9`));
  // The new process exists before it listens: until then, connections are refused.
  await waitFor(async () => (await fetch(`${d.controlUrl}/healthz`, { signal: AbortSignal.timeout(2000) })).status, {
    timeoutMs: 30_000, intervalMs: 100, ignoreErrors: true, until: (s) => s === 200,
    what: 'the new controller to answer on the control port',
  });
  await waitIcInService(d.controlUrl, 'sup', 1);
  const r = await waitFor(() => invoke(d.runtimeUrl, 'sup-ep', 'sup', { inputs: 'again' }), {
    timeoutMs: 30_000, intervalMs: 200, what: 'an invocation after the restart', until: (x) => x.status === 200,
    ignoreErrors: true,
  });
  assert.equal(r.status, 200);
  assert.equal(d.exitInfo, null, 'berthd up itself must keep running');
  assert.ok(controllerOf(d.proc.pid).includes(second));

  const exit = await d.stop(); // SIGTERM goes on to the controller
  assert.equal(exit.code, 0, `berthd up exit: ${JSON.stringify(exit)}`);
  assert.deepEqual(controllerOf(d.proc.pid), []);
});

test('kill -9 of berthd up: the next berthd up on its data dir adopts its copies, nothing is orphaned', async () => {
  const d = await startBerthd();
  await deployEndpoint(d.controlUrl, 'orph-ep');
  await controlOk(d.controlUrl, 'CreateInferenceComponent', icBody('orph', 'orph-ep', 'orph', { copies: 2 }));
  await waitIcInService(d.controlUrl, 'orph', 2);
  const [ctl] = controllerOf(d.proc.pid);
  assert.ok(ctl);
  const models = modelPids();
  assert.equal(models.length, 2);
  process.kill(d.proc.pid, 'SIGKILL'); // the supervisor alone
  await d.kill9();
  await waitFor(() => rolePids('controller'), {
    timeoutMs: 10_000, intervalMs: 100, what: 'the controller to die with berthd up', until: (p) => p.length === 0,
  });
  // Copies (and their agent) keep running until a controller comes back.
  assert.deepEqual(modelPids(), models);

  const d2 = await startBerthd({ dataDir: d.dataDir });
  await waitIcInService(d2.controlUrl, 'orph', 2);
  const r = await invoke(d2.runtimeUrl, 'orph-ep', 'orph', { inputs: 'x' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(modelPids(), models, 'adopted, not restarted nor duplicated');
  assert.equal(rolePids('agent').length, 1, `one agent per instance: ${rolePids('agent')}`);
  assert.equal(rolePids('copy-exec').length, 2, 'one shim per copy');
  const exit = await d2.stop();
  assert.equal(exit.code, 0);
  await waitFor(() => findTaggedProcesses(TEST_TAG), {
    timeoutMs: 10_000, intervalMs: 100, what: 'every process to stop with the second berthd up',
    until: (pids) => pids.length === 0,
  });
});

test('a controller that cannot start is not restarted in a loop', () => {
  // An address it cannot listen on: the controller fails before it is ready.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-test-sup-'));
  const r = spawnSync(BERTHD, ['up', '--data-dir', dir, '--control-listen', '256.0.0.1:1'],
    { encoding: 'utf8', timeout: 15_000 });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.notEqual(r.status, 0, r.stderr);
  assert.equal(r.signal, null, `berthd up did not exit by itself: ${r.stderr}`);
  assert.equal((r.stderr.match(/controller started/g) || []).length, 1, r.stderr);
});

test('flags out of range are refused at start with the flag, the value and the rule', () => {
  const cases = [
    [['--invocation-timeout', '0'], /--invocation-timeout '0' must be a number from 1 to 3600/],
    [['--stream-timeout', 'soon'], /--stream-timeout 'soon' must be a number from 1 to 86400/],
    [['--health-interval', '0'], /--health-interval '0' must be a number from 0.1 to 3600/],
    [['--body-timeout', '-1'], /--body-timeout '-1' must be a number from 1 to 3600/],
    [['--max-buffered-mb', '1'], /--max-buffered-mb '1' must be a number from 7 to 1048576/],
    [['--max-connections', '0'], /--max-connections '0' must be a number from 1 to 1048576/],
    [['--max-connections-per-client', 'x'], /--max-connections-per-client 'x' must be a number/],
  ];
  for (const [flags, rule] of cases) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-test-sup-'));
    const r = spawnSync(BERTHD, ['up', '--data-dir', dir, ...flags], { encoding: 'utf8', timeout: 15_000 });
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, rule, flags.join(' '));
    assert.equal((r.stderr.match(/controller started/g) || []).length, 1, `restarted: ${r.stderr}`);
  }
});

test('berthd router alone refuses a missing or malformed --controller and a missing token, naming them', () => {
  const cases = [
    [[], {}, /--controller http:\/\/HOST:PORT and --router-token \(or BERTH_ROUTER_TOKEN\) are required/],
    [['--controller', 'http://127.0.0.1:1'], {}, /--router-token \(or BERTH_ROUTER_TOKEN\) are required/],
    [['--controller', 'ftp://x:1'], { BERTH_ROUTER_TOKEN: 't' }, /--controller 'ftp:\/\/x:1' must be http:\/\/HOST:PORT/],
  ];
  for (const [flags, env, rule] of cases) {
    const e = { ...process.env, ...env };
    if (!env.BERTH_ROUTER_TOKEN) delete e.BERTH_ROUTER_TOKEN;
    const r = spawnSync(BERTHD, ['router', ...flags], { encoding: 'utf8', timeout: 15_000, env: e });
    assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, rule, flags.join(' '));
  }
});

test('berthd agent refuses a token in clear text to another host and a bad --health-interval', () => {
  const base = ['agent', '--token', 't', '--instance-type', 'ml.m5.large', '--data-dir', fs.mkdtempSync(path.join(os.tmpdir(), 'berth-agent-flags-'))];
  const cases = [
    [['--join', 'http://192.0.2.1:8070'], /plain HTTP to an address that is not loopback: the agent token would cross the network in clear text.*--insecure/],
    [['--join', 'http://127.0.0.1:1', '--health-interval', '0'], /--health-interval '0' must be a number of seconds from 0\.1 to 3600/],
    [['--join', 'https://127.0.0.1:1', '--ca-file', '/nonexistent/ca.pem'], /--ca-file/],
  ];
  for (const [flags, rule] of cases) {
    const r = spawnSync(BERTHD, [...base, ...flags], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, rule, flags.join(' '));
  }
});

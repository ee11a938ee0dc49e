// The `berth` CLI against a real berthd, as a newcomer uses it: deploy two
// models onto one endpoint, list them, invoke each, scale, and delete; plus
// the one-line errors a user sees.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

import { BUILD_DIR, startBerthd, stopAll, waitFor, controlOk } from '../lib/berthd.mjs';

const BERTH = path.join(BUILD_DIR, 'berth');
let b;

function run(args, { input } = {}) {
  return new Promise((resolve) => {
    const p = spawn(BERTH, args, {
      env: { ...process.env, BERTH_CONTROL_URL: b.controlUrl, BERTH_RUNTIME_URL: b.runtimeUrl },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    if (input !== undefined) p.stdin.end(input); else p.stdin.end();
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

before(async () => { b = await startBerthd(); });
after(async () => { await stopAll(); });

test('deploy two models onto one endpoint, list, invoke, scale and delete', { timeout: 240_000 }, async () => {
  for (const [ic, model] of [['eu', 'eu-llm'], ['us', 'us-llm']]) {
    const r = await run(['deploy', ic, '--endpoint', 'cli-ep', '--instance-type', 'ml.m5.xlarge',
      '--cpus', '1', '--memory', '256', '--env', `BERTH_MODEL_ID=${model}`]);
    assert.equal(r.code, 0, `deploy ${ic}: ${r.err}`);
    assert.match(r.out, new RegExp(`${ic} is InService`));
  }
  const eps = await run(['endpoints']);
  assert.equal(eps.code, 0, eps.err);
  assert.match(eps.out, /cli-ep\s+InService\s+ml\.m5\.xlarge\s+1\/1/);
  const ics = await run(['ics', '--endpoint', 'cli-ep']);
  assert.match(ics.out, /eu\s+cli-ep\s+InService\s+1\/1/);
  assert.match(ics.out, /us\s+cli-ep\s+InService\s+1\/1/);

  const inst = await run(['instances']);
  assert.equal(inst.code, 0, inst.err);
  assert.match(inst.out, /cpu\s+\[#+\.+\]\s+50%\s+2\/4 cores/);
  assert.match(inst.out, /endpoint cli-ep: CPUReservation 50%/);

  for (const [ic, model] of [['eu', 'eu-llm'], ['us', 'us-llm']]) {
    const r = await run(['invoke', 'cli-ep', '--ic', ic, '--data', '{"inputs":"hi"}']);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).model_id, model);
  }
  const piped = await run(['invoke', 'cli-ep', '--ic', 'us'], { input: '{"inputs":"from stdin"}' });
  assert.equal(JSON.parse(piped.out).model_id, 'us-llm');

  const scaled = await run(['scale', 'eu', '2', '--wait']);
  assert.equal(scaled.code, 0, scaled.err);
  const d = await controlOk(b.controlUrl, 'DescribeInferenceComponent', { InferenceComponentName: 'eu' });
  assert.equal(d.RuntimeConfig.CurrentCopyCount, 2);

  const refused = await run(['delete', '--endpoint', 'cli-ep']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.err, /ResourceInUse/);
  const del = await run(['delete', '--endpoint', 'cli-ep', '--force']);
  assert.equal(del.code, 0, del.err);
  await waitFor(async () => {
    const r = await run(['endpoints']);
    return !r.out.includes('cli-ep');
  }, { timeoutMs: 60_000, what: 'endpoint cli-ep gone' });
});

test('errors are one line with a reason and a non-zero exit', { timeout: 60_000 }, async () => {
  const missing = await run(['invoke', 'no-such-endpoint', '--ic', 'x', '--data', '{}']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.err, /ValidationError/);
  assert.equal(missing.err.trim().split('\n').length, 1, missing.err);
  const usage = await run(['scale', 'eu', 'many']);
  assert.equal(usage.code, 2);
  assert.match(usage.err, /many/);
  const failed = await run(['deploy', 'boom', '--endpoint', 'cli-ep2', '--cpus', '1', '--memory', '256',
    '--env', 'BERTH_MODEL_EXIT_AT_START=3']);
  assert.equal(failed.code, 1);
  assert.match(failed.err, /exiting with status 3/);
});

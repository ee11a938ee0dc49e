// The `berth` CLI against a real berthd, as a newcomer uses it: deploy two
// models onto one endpoint, list them, invoke each, scale, and delete; plus
// the one-line errors a user sees, word for word as docs/cli.md quotes them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

import { BUILD_DIR, controlOk, freePort, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';

const BERTH = path.join(BUILD_DIR, 'berth');
let b;

// The CLI finds the admin key in BERTH_DATA_DIR/credentials, as a user's
// would; no AWS key from the caller's environment may stand in for it.
function clean(env) {
  const out = { ...env };
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE', 'AWS_SHARED_CREDENTIALS_FILE']) delete out[k];
  out.HOME = '/nonexistent';
  return out;
}

function run(args, { input, env = {} } = {}) {
  return new Promise((resolve) => {
    const p = spawn(BERTH, args, {
      env: { ...clean(process.env), BERTH_CONTROL_URL: b.controlUrl, BERTH_RUNTIME_URL: b.runtimeUrl,
        BERTH_DATA_DIR: b.dataDir, ...env },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    if (input !== undefined) p.stdin.end(input); else p.stdin.end();
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

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
  // docs/cli.md: `berth: <IC> failed: <reason>`.
  assert.match(failed.err, /^berth: boom failed: Copy \d+ of inference component boom exited with status 3 before it passed the health check \(GET \/ping\)\. Last output: "berth-model: exiting with status 3 as asked by BERTH_MODEL_EXIT_AT_START"\n$/);
});

// Each failure text docs/cli.md quotes, exactly as berth prints it (one line
// on stderr). Runs after the test above: endpoint cli-ep2 exists.
test('the failure texts quoted in docs/cli.md', { timeout: 120_000 }, async () => {
  const port = await freePort(); // nothing listens there
  const down = await run(['endpoints'], { env: { BERTH_CONTROL_URL: `http://127.0.0.1:${port}` } });
  assert.equal(down.code, 1);
  assert.equal(down.err, `berth: cannot reach the control API at http://127.0.0.1:${port}: Connection refused (is berthd running?)\n`);

  const noEndpoint = await run(['delete', '--endpoint', 'cli-missing']);
  assert.equal(noEndpoint.code, 1);
  assert.equal(noEndpoint.err, 'berth: ValidationException: Could not find endpoint "cli-missing".\n');

  const noRuntimeEndpoint = await run(['invoke', 'cli-missing', '--ic', 'x', '--data', '{}']);
  assert.equal(noRuntimeEndpoint.code, 1);
  assert.match(noRuntimeEndpoint.err, /^berth: ValidationError: Endpoint cli-missing of account \d{12} not found\.\n$/);

  const usage = await run(['deploy', 'x', '--endpoint', 'cli-ep2', '--copies', 'two']);
  assert.equal(usage.code, 2);
  assert.equal(usage.err, "berth: --copies: 'two' is not a whole number (see 'berth deploy --help')\n");

  // An Image berthd cannot run fails the IC (and must not take berthd down).
  const badImage = await run(['deploy', 'bad', '--endpoint', 'cli-ep2', '--cpus', '1', '--memory', '256', '--image', 'serve.py --port 8080']);
  assert.equal(badImage.code, 1);
  const badReason = 'cannot run Image "serve.py --port 8080": an Image is "berth-model", an absolute path to an executable (with arguments) or a container image reference.';
  assert.match(badImage.err, new RegExp(`^berth: bad failed: Copy \\d+ of inference component bad ${esc(badReason)}\n$`));
  const ics = await run(['ics', '--endpoint', 'cli-ep2']);
  assert.equal(ics.code, 0, ics.err);
  assert.match(ics.out, /^NAME\s+ENDPOINT\s+STATUS\s+COPIES\s+CREATED$/m);
  assert.match(ics.out, /^bad\s+cli-ep2\s+Failed\s+0\/1\s/m);
  assert.match(ics.out, new RegExp(`^  reason: Copy \\d+ of inference component bad ${esc(badReason)}$`, 'm'));

  const noWait = await run(['deploy', 'broken', '--endpoint', 'cli-ep2', '--cpus', '1', '--memory', '256',
    '--env', 'BERTH_MODEL_FAIL_STATUS=500', '--no-wait']);
  assert.equal(noWait.code, 0, noWait.err);
  assert.equal(noWait.out, "creating broken on endpoint cli-ep2 with 1 copy (follow it with 'berth ics --endpoint cli-ep2')\n");
  await waitFor(() => controlOk(b.controlUrl, 'DescribeInferenceComponent', { InferenceComponentName: 'broken' }), {
    timeoutMs: 60_000, what: 'broken InService', until: (d) => d.InferenceComponentStatus === 'InService',
  });
  const modelError = await run(['invoke', 'cli-ep2', '--ic', 'broken', '--data', '{}']);
  assert.equal(modelError.code, 1);
  const body = '{"error":"injected failure"}';
  assert.match(modelError.err, new RegExp(`^berth: ModelError: Received server error \\(500\\) from model of inference component broken with message "${esc(body)}"\\. See arn:aws:logs:[a-z0-9-]+:\\d{12}:log-group:/aws/sagemaker/InferenceComponents/broken for more information\\. \\(model answered 500: ${esc(body)}\\)\n$`));

  const inUse = await run(['delete', '--endpoint', 'cli-ep2']);
  assert.equal(inUse.code, 1);
  assert.match(inUse.err, /^berth: ResourceInUse: Endpoint "cli-ep2" still has 3 inference components \((boom|bad|broken)(, (boom|bad|broken)){2}\): delete them first \(DeleteInferenceComponent\), then delete the endpoint \(delete its inference components first, or use --force\)\n$/);
});

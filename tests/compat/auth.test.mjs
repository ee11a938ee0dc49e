// Who gets in: the REAL AWS SDKs against berthd's SigV4 checks and its
// scoped access keys.  The admin key comes from the credentials file berthd
// writes at first start; each way a signature can be wrong fails with the
// error class the SDK throws for it (asserted by name); a key made with
// `berth keys create` may do exactly what it allows.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  ApplicationAutoScalingClient, RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import { CloudWatchClient, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import {
  CreateInferenceComponentCommand, ListEndpointsCommand, SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import {
  InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand, SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';

import {
  BUILD_DIR, control, credentialsIn, modelContainer, registerCredentials, startBerthd, stopAll, waitFor,
} from '../lib/berthd.mjs';
import { deployEndpoint, deployIc } from '../lib/fixtures.mjs';
import { readCredentials, signRequest } from '../lib/sigv4.mjs';

const STEP = { timeout: 180_000 };
let b;
let admin;
const clients = [];

function client(Client, url, credentials, extra = {}) {
  // A copy: the SDK marks up the credentials object it is given.
  const c = new Client({ endpoint: url, region: 'us-east-1', credentials: credentials && { ...credentials },
    maxAttempts: 1, ...extra });
  clients.push(c);
  return c;
}

// A middleware that runs after signing: it changes the request on the wire.
function afterSigning(c, change) {
  c.middlewareStack.add((next) => async (args) => { change(args.request); return next(args); },
    { step: 'deserialize', name: 'berthTestTamper' });
  return c;
}

async function rejection(promise, what) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail(`${what} succeeded; it should have been refused`);
}

function berth(args, env = {}) {
  return new Promise((resolve) => {
    const p = spawn(path.join(BUILD_DIR, 'berth'), args, {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', BERTH_CONTROL_URL: b.controlUrl,
        BERTH_RUNTIME_URL: b.runtimeUrl, BERTH_DATA_DIR: b.dataDir, ...env },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

before(async () => {
  b = await startBerthd();
  admin = credentialsIn(b.dataDir);
  await deployEndpoint(b.controlUrl, 'auth-a');
  await deployEndpoint(b.controlUrl, 'auth-b');
  await deployIc(b.controlUrl, 'auth-a-ic', 'auth-a', 'a');
  await deployIc(b.controlUrl, 'auth-b-ic', 'auth-b', 'b');
});

after(async () => {
  for (const c of clients) c.destroy();
  await stopAll();
});

test('berthd wrote an admin key in the AWS shared-credentials format, mode 0600, and says where', STEP, async () => {
  const file = path.join(b.dataDir, 'credentials');
  const st = fs.statSync(file);
  assert.equal(st.mode & 0o777, 0o600, `mode of ${file}: ${(st.mode & 0o777).toString(8)}`);
  const creds = readCredentials(fs.readFileSync(file, 'utf8'), 'default');
  assert.ok(creds?.accessKeyId && creds.secretAccessKey, 'profile [default] has both lines');
  assert.match(b.logs(), new RegExp(`its credentials are in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.ok(!b.logs().includes(creds.secretAccessKey), 'the secret never appears in the log');
  const sealed = b.storeBytes();
  assert.ok(!sealed.includes(Buffer.from(creds.secretAccessKey)), 'the store holds the secret sealed, not in clear');
});

test('the SDKs work with the admin key read from the credentials file', STEP, async () => {
  process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(b.dataDir, 'credentials');
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  delete process.env.AWS_PROFILE;
  const sm = client(SageMakerClient, b.controlUrl, undefined);
  const eps = await sm.send(new ListEndpointsCommand({}));
  assert.deepEqual(eps.Endpoints.map((e) => e.EndpointName).sort(), ['auth-a', 'auth-b']);
  const rt = client(SageMakerRuntimeClient, b.runtimeUrl, undefined);
  const r = await rt.send(new InvokeEndpointCommand({ EndpointName: 'auth-a', InferenceComponentName: 'auth-a-ic',
    Body: JSON.stringify({ inputs: 'hi' }), ContentType: 'application/json' }));
  assert.equal(JSON.parse(Buffer.from(r.Body).toString()).model_id, 'a');
});

test('a wrong secret: InvalidSignatureException (SageMaker, runtime), SignatureDoesNotMatch (CloudWatch)', STEP, async () => {
  const first = admin.secretAccessKey[0] === 'x' ? 'y' : 'x'; // a secret that differs, always
  const wrong = { ...admin, secretAccessKey: `${first}${admin.secretAccessKey.slice(1)}` };
  const e1 = await rejection(client(SageMakerClient, b.controlUrl, wrong).send(new ListEndpointsCommand({})), 'ListEndpoints');
  assert.equal(e1.name, 'InvalidSignatureException', e1.message);
  assert.equal(e1.$metadata.httpStatusCode, 403);
  const e2 = await rejection(client(SageMakerRuntimeClient, b.runtimeUrl, wrong).send(new InvokeEndpointCommand({
    EndpointName: 'auth-a', InferenceComponentName: 'auth-a-ic', Body: '{}' })), 'InvokeEndpoint');
  assert.equal(e2.name, 'InvalidSignatureException', e2.message);
  const e3 = await rejection(client(CloudWatchClient, b.controlUrl, wrong).send(new ListMetricsCommand({})), 'ListMetrics');
  assert.equal(e3.name, 'SignatureDoesNotMatch', e3.message);
  assert.equal(e3.$metadata.httpStatusCode, 403);
});

test('a stale or future x-amz-date fails with the skew in the message; the SDK corrects its clock as against AWS', STEP, async () => {
  const stale = client(SageMakerClient, b.controlUrl, admin, { systemClockOffset: -20 * 60_000 });
  const e1 = await rejection(stale.send(new ListEndpointsCommand({})), 'a call signed 20 minutes ago');
  assert.equal(e1.name, 'InvalidSignatureException', e1.message);
  assert.equal(e1.$metadata.httpStatusCode, 403);
  assert.match(e1.message, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$/);
  const future = client(SageMakerRuntimeClient, b.runtimeUrl, admin, { systemClockOffset: 20 * 60_000 });
  const e2 = await rejection(future.send(new InvokeEndpointCommand({ EndpointName: 'auth-a',
    InferenceComponentName: 'auth-a-ic', Body: '{}' })), 'an invocation signed 20 minutes ahead');
  assert.equal(e2.name, 'InvalidSignatureException', e2.message);
  assert.match(e2.message, /^Signature not yet current: .* \+ 15 min\.\)$/);
  // With retries on, the SDK reads the server's Date and signs again.
  const retrying = client(SageMakerClient, b.controlUrl, admin, { systemClockOffset: -20 * 60_000, maxAttempts: 2 });
  const ok = await retrying.send(new ListEndpointsCommand({}));
  assert.equal(ok.$metadata.attempts, 2);
});

test('a body changed after signing fails: InvalidSignatureException; so does a signature over UNSIGNED-PAYLOAD', STEP, async () => {
  const sm = afterSigning(client(SageMakerClient, b.controlUrl, admin), (req) => {
    const text = typeof req.body === 'string' ? req.body : Buffer.from(req.body).toString('utf8');
    assert.ok(text.includes('"MaxResults":5'), text);
    req.body = text.replace('"MaxResults":5', '"MaxResults":6');
  });
  const e1 = await rejection(sm.send(new ListEndpointsCommand({ MaxResults: 5 })), 'a tampered ListEndpoints');
  assert.equal(e1.name, 'InvalidSignatureException', e1.message);
  const rt = afterSigning(client(SageMakerRuntimeClient, b.runtimeUrl, admin), (req) => {
    req.body = Buffer.from('{"inputs":"tampered"}');
  });
  const e2 = await rejection(rt.send(new InvokeEndpointCommand({ EndpointName: 'auth-a', InferenceComponentName: 'auth-a-ic',
    Body: '{"inputs":"original"}', ContentType: 'application/json' })), 'a tampered invocation');
  assert.equal(e2.name, 'InvalidSignatureException', e2.message);

  const url = `${b.controlUrl}/`;
  const body = '{}';
  const headers = signRequest({ method: 'POST', url, body, credentials: admin, headers: {
    'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'SageMaker.ListEndpoints',
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
  const res = await fetch(url, { method: 'POST', headers, body });
  assert.equal(res.status, 403);
  assert.equal(res.headers.get('x-amzn-errortype'), 'InvalidSignatureException', await res.text());
  // A claim that is not the body's hash, under a signature over the body.
  const forged = signRequest({ method: 'POST', url, body, credentials: admin, headers: {
    'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'SageMaker.ListEndpoints' } });
  forged['x-amz-content-sha256'] = '0'.repeat(64);
  const res2 = await fetch(url, { method: 'POST', headers: forged, body });
  assert.equal(res2.status, 400);
  assert.equal(res2.headers.get('x-amzn-errortype'), 'XAmzContentSHA256Mismatch', await res2.text());
});

test('an unknown key: UnrecognizedClientException; no Authorization: MissingAuthenticationTokenException', STEP, async () => {
  const stranger = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  const e1 = await rejection(client(SageMakerClient, b.controlUrl, stranger).send(new ListEndpointsCommand({})), 'unknown key');
  assert.equal(e1.name, 'UnrecognizedClientException', e1.message);
  assert.equal(e1.$metadata.httpStatusCode, 403);
  const e2 = await rejection(client(SageMakerRuntimeClient, b.runtimeUrl, stranger).send(new InvokeEndpointCommand({
    EndpointName: 'auth-a', InferenceComponentName: 'auth-a-ic', Body: '{}' })), 'unknown key on the runtime');
  assert.equal(e2.name, 'UnrecognizedClientException', e2.message);

  const strip = (req) => { delete req.headers.authorization; };
  const e3 = await rejection(afterSigning(client(SageMakerClient, b.controlUrl, admin), strip)
    .send(new ListEndpointsCommand({})), 'an unsigned ListEndpoints');
  assert.equal(e3.name, 'MissingAuthenticationTokenException', e3.message);
  assert.equal(e3.$metadata.httpStatusCode, 403);
  const e4 = await rejection(afterSigning(client(SageMakerRuntimeClient, b.runtimeUrl, admin), strip)
    .send(new InvokeEndpointCommand({ EndpointName: 'auth-a', InferenceComponentName: 'auth-a-ic', Body: '{}' })),
  'an unsigned invocation');
  assert.equal(e4.name, 'MissingAuthenticationTokenException', e4.message);
  const e5 = await rejection(afterSigning(client(ApplicationAutoScalingClient, b.controlUrl, admin), strip)
    .send(new RegisterScalableTargetCommand({ ServiceNamespace: 'sagemaker', ResourceId: 'inference-component/auth-a-ic',
      ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount', MinCapacity: 1, MaxCapacity: 2 })),
  'an unsigned RegisterScalableTarget');
  assert.equal(e5.name, 'MissingAuthenticationTokenException', e5.message);
  // Nothing about the endpoint leaks to an unsigned caller.
  const r = await control(b.controlUrl, 'DescribeEndpoint', { EndpointName: 'auth-a' }, { credentials: false });
  assert.equal(r.status, 403);
  assert.ok(!r.text.includes('auth-a'), r.text);
});

test('an invoke-only key made with `berth keys create` invokes its endpoint and nothing else', STEP, async () => {
  const made = await berth(['keys', 'create', 'invoker', '--allow',
    'sagemaker:InvokeEndpoint,sagemaker:InvokeEndpointWithResponseStream',
    '--resource', 'arn:aws:sagemaker:*:*:endpoint/auth-a']);
  assert.equal(made.code, 0, made.err);
  // The output goes straight into a credentials file.
  const file = path.join(b.dataDir, 'invoker-credentials');
  fs.writeFileSync(file, `[invoker]\n${made.out}`);
  const inv = readCredentials(fs.readFileSync(file, 'utf8'), 'invoker');
  assert.ok(inv, `berth keys create printed aws_access_key_id and aws_secret_access_key lines:\n${made.out}`);
  assert.ok(!b.logs().includes(inv.secretAccessKey), 'the new secret is not in the log');
  const listed = await berth(['keys', 'list']);
  assert.equal(listed.code, 0, listed.err);
  assert.match(listed.out, /invoker\s+BKIA\w+\s+sagemaker:InvokeEndpoint/);
  assert.ok(!listed.out.includes(inv.secretAccessKey), 'keys list never shows a secret');

  const rt = client(SageMakerRuntimeClient, b.runtimeUrl, inv);
  const r = await rt.send(new InvokeEndpointCommand({ EndpointName: 'auth-a', InferenceComponentName: 'auth-a-ic',
    Body: JSON.stringify({ inputs: 'hi' }), ContentType: 'application/json' }));
  assert.equal(JSON.parse(Buffer.from(r.Body).toString()).model_id, 'a');
  const s = await rt.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'auth-a',
    InferenceComponentName: 'auth-a-ic', Body: JSON.stringify({ inputs: 'hi', stream: true }), ContentType: 'application/json' }));
  let bytes = 0;
  for await (const ev of s.Body) bytes += ev.PayloadPart?.Bytes?.length ?? 0;
  assert.ok(bytes > 0, 'the stream carried payload parts');

  const denied = async (promise, action, resource) => {
    const e = await rejection(promise, action);
    assert.equal(e.name, 'AccessDeniedException', e.message);
    assert.equal(e.$metadata.httpStatusCode, 400);
    assert.match(e.message, new RegExp(`^User: invoker is not authorized to perform: ${action} on resource: ${resource}`));
  };
  await denied(rt.send(new InvokeEndpointCommand({ EndpointName: 'auth-b', InferenceComponentName: 'auth-b-ic', Body: '{}' })),
    'sagemaker:InvokeEndpoint', 'arn:aws:sagemaker:us-east-1:\\d+:endpoint/auth-b');
  await denied(client(SageMakerClient, b.controlUrl, inv).send(new CreateInferenceComponentCommand({
    InferenceComponentName: 'sneaky', EndpointName: 'auth-a', VariantName: 'AllTraffic',
    Specification: { Container: modelContainer('x'), ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 128 } },
    RuntimeConfig: { CopyCount: 1 } })), 'sagemaker:CreateInferenceComponent', 'arn:aws:sagemaker:us-east-1:\\d+:inference-component/sneaky');
  await denied(client(ApplicationAutoScalingClient, b.controlUrl, inv).send(new RegisterScalableTargetCommand({
    ServiceNamespace: 'sagemaker', ResourceId: 'inference-component/auth-a-ic',
    ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount', MinCapacity: 1, MaxCapacity: 2 })),
  'application-autoscaling:RegisterScalableTarget', 'arn:aws:sagemaker:us-east-1:\\d+:inference-component/auth-a-ic');
  const ics = await control(b.controlUrl, 'ListInferenceComponents', {});
  assert.ok(!ics.json.InferenceComponents.some((x) => x.InferenceComponentName === 'sneaky'), 'nothing was created');

  // The CLI signs with whatever key the AWS way finds: here the invoker's.
  const cli = await berth(['ics'], { AWS_SHARED_CREDENTIALS_FILE: file, AWS_PROFILE: 'invoker' });
  assert.equal(cli.code, 1);
  assert.match(cli.err, /AccessDeniedException: User: invoker is not authorized to perform: sagemaker:ListInferenceComponents/);

  // Deleted, the key stops working on both APIs once the delete answers.
  const del = await berth(['keys', 'delete', 'invoker']);
  assert.equal(del.code, 0, del.err);
  const gone = await rejection(rt.send(new InvokeEndpointCommand({ EndpointName: 'auth-a',
    InferenceComponentName: 'auth-a-ic', Body: '{}' })), 'an invocation with a deleted key');
  assert.equal(gone.name, 'UnrecognizedClientException', gone.message);
});

test('a call is checked on every resource it names; List*, CloudWatch and Berth.* only on *', STEP, async () => {
  const made = await control(b.controlUrl, 'CreateAccessKey', { Name: 'scoped',
    Allow: ['sagemaker:*', 'berth:*', 'application-autoscaling:*'],
    Resources: ['arn:aws:sagemaker:*:*:inference-component/auth-a-ic'] }, { target: 'Berth.CreateAccessKey' });
  assert.equal(made.status, 200, made.text);
  const k = { accessKeyId: made.json.AccessKey.AccessKeyId, secretAccessKey: made.json.AccessKey.SecretAccessKey };
  const denied = (r, re) => {
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.__type, 'AccessDeniedException', r.text);
    assert.match(r.json.message, re);
  };
  // A field the operation ignores does not choose what is checked.
  denied(await control(b.controlUrl, 'DeleteEndpoint', { EndpointName: 'auth-b', InferenceComponentName: 'auth-a-ic' },
    { credentials: k }), /sagemaker:DeleteEndpoint on resource: arn:aws:sagemaker:us-east-1:\d+:endpoint\/auth-b/);
  denied(await control(b.controlUrl, 'CreateAccessKey', { Name: 'escalated', Allow: ['*'], InferenceComponentName: 'auth-a-ic' },
    { target: 'Berth.CreateAccessKey', credentials: k }), /berth:CreateAccessKey on resource: \*/);
  denied(await control(b.controlUrl, 'ListEndpoints', { InferenceComponentName: 'auth-a-ic' }, { credentials: k }),
    /sagemaker:ListEndpoints on resource: \*/);
  denied(await control(b.controlUrl, 'RegisterScalableTarget', { ServiceNamespace: 'sagemaker',
    ResourceId: 'inference-component/auth-b-ic', InferenceComponentName: 'auth-a-ic',
    ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount', MinCapacity: 1, MaxCapacity: 2 },
  { target: 'AnyScaleFrontendService.RegisterScalableTarget', credentials: k }), /inference-component\/auth-b-ic/);
  // What it names and may touch, it may.
  const d = await control(b.controlUrl, 'DescribeInferenceComponent', { InferenceComponentName: 'auth-a-ic' }, { credentials: k });
  assert.equal(d.status, 200, d.text);
  const eps = await control(b.controlUrl, 'ListEndpoints', {});
  assert.deepEqual(eps.json.Endpoints.map((e) => e.EndpointName).sort(), ['auth-a', 'auth-b'], 'nothing was deleted');
  const keys = await control(b.controlUrl, 'ListAccessKeys', {}, { target: 'Berth.ListAccessKeys' });
  assert.ok(!keys.json.AccessKeys.some((x) => x.Name === 'escalated'), 'no key was made');
  // x-amz-target is part of what must be signed.
  const url = `${b.controlUrl}/`;
  const h = signRequest({ method: 'POST', url, body: '{}', credentials: admin, headers: { 'content-type': 'application/x-amz-json-1.1' } });
  const res = await fetch(url, { method: 'POST', body: '{}', headers: { ...h, 'x-amz-target': 'SageMaker.ListEndpoints' } });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('x-amzn-errortype'), 'IncompleteSignatureException', await res.text());
});

test('berth finds the admin key through --data-dir; --allow may be repeated; a key needs an action', STEP, async () => {
  const env = { BERTH_DATA_DIR: '/nonexistent' };
  const made = await berth(['--data-dir', b.dataDir, 'keys', 'create', 'twice', '--allow', 'sagemaker:DescribeEndpoint',
    '--allow', 'sagemaker:ListEndpoints,sagemaker:DescribeInferenceComponent'], env);
  assert.equal(made.code, 0, made.err);
  assert.deepEqual(made.out.trim().split('\n').map((l) => l.split(' = ')[0]), ['aws_access_key_id', 'aws_secret_access_key'],
    'stdout holds just the two credential lines');
  const listed = await berth(['--data-dir', b.dataDir, 'keys', 'list'], env);
  assert.match(listed.out, /twice\s+BKIA\w+\s+sagemaker:DescribeEndpoint,sagemaker:ListEndpoints,sagemaker:DescribeInferenceComponent\s+\*/);
  const none = await berth(['keys', 'list'], env);
  assert.equal(none.code, 1);
  assert.match(none.err, /no access key to sign with: .*\/nonexistent\/credentials/);
  const bare = await berth(['--data-dir', b.dataDir, 'keys', 'create', 'bare'], env);
  assert.equal(bare.code, 2);
  assert.match(bare.err, /keys create needs --allow ACTIONS/);
});

test('keys survive a restart: the sealed secrets open again with DATA_DIR/master.key', STEP, async () => {
  const made = await berth(['keys', 'create', 'survivor', '--allow', 'sagemaker:List*']);
  assert.equal(made.code, 0, made.err);
  const k = readCredentials(`[k]\n${made.out}`, 'k');
  await b.stop();
  b = await startBerthd({ dataDir: b.dataDir });
  assert.equal(credentialsIn(b.dataDir).accessKeyId, admin.accessKeyId, 'the admin key is kept, not made again');
  const sm = client(SageMakerClient, b.controlUrl, k);
  const eps = await sm.send(new ListEndpointsCommand({}));
  assert.ok(eps.Endpoints.length >= 2);
  const rt = client(SageMakerRuntimeClient, b.runtimeUrl, admin);
  await waitFor(() => rt.send(new InvokeEndpointCommand({ EndpointName: 'auth-a', InferenceComponentName: 'auth-a-ic',
    Body: JSON.stringify({ inputs: 'x' }), ContentType: 'application/json' })).then(() => true), { timeoutMs: 60_000, ignoreErrors: true, what: 'auth-a to answer after the restart' });
});

test('bad key requests name the field, the value and the rule', STEP, async () => {
  for (const [body, re] of [
    [{ Name: 'bad name', Allow: ['*'] }, /Name 'bad name' must be 1 to 64 letters/],
    [{ Name: 'k1', Allow: ['InvokeEndpoint'] }, /Allow\.1: action 'InvokeEndpoint' must be service:Operation/],
    [{ Name: 'k2', Allow: ['*'], Resources: ['endpoint/x'] }, /Resources\.1: resource 'endpoint\/x' must be \* or an ARN pattern/],
    [{ Name: 'admin', Allow: ['*'] }, /Access key admin already exists/],
  ]) {
    const r = await control(b.controlUrl, 'CreateAccessKey', body, { target: 'Berth.CreateAccessKey' });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.message, re);
  }
});

test('secret-looking Environment values are redacted in Describe answers and never logged', STEP, async () => {
  const env = { HF_TOKEN: 'hf_s3cr3t_value_1', DB_PASSWORD: 'pw_s3cr3t_value_2', API_KEY: 'key_s3cr3t_3',
    MY_SECRET_THING: 'thing_s3cr3t_4', PLAIN_SETTING: 'visible-value' };
  await deployIc(b.controlUrl, 'auth-secret-ic', 'auth-b', 's', { env });
  const d = await control(b.controlUrl, 'DescribeInferenceComponent', { InferenceComponentName: 'auth-secret-ic' });
  const shown = d.json.Specification.Container.Environment;
  for (const k of ['HF_TOKEN', 'DB_PASSWORD', 'API_KEY', 'MY_SECRET_THING']) assert.equal(shown[k], '****', `${k}: ${shown[k]}`);
  assert.equal(shown.PLAIN_SETTING, 'visible-value');
  const m = await control(b.controlUrl, 'CreateModel', { ModelName: 'auth-secret-model',
    PrimaryContainer: { Image: 'berth-model', Environment: { HF_TOKEN: 'hf_s3cr3t_value_5' } } });
  assert.equal(m.status, 200, m.text);
  const dm = await control(b.controlUrl, 'DescribeModel', { ModelName: 'auth-secret-model' });
  assert.equal(dm.json.PrimaryContainer.Environment.HF_TOKEN, '****');
  for (const v of [...Object.values(env).slice(0, 4), 'hf_s3cr3t_value_5']) {
    assert.ok(!d.text.includes(v) && !dm.text.includes(v), `${v} is not in any answer`);
    assert.ok(!b.logs().includes(v), `${v} is not in berthd's log`);
  }
});

test('rotation sticks: with admin deleted, a restart makes no new admin key', STEP, async () => {
  const made = await control(b.controlUrl, 'CreateAccessKey', { Name: 'admin-2', Allow: ['*'] }, { target: 'Berth.CreateAccessKey' });
  assert.equal(made.status, 200, made.text);
  const k = { accessKeyId: made.json.AccessKey.AccessKeyId, secretAccessKey: made.json.AccessKey.SecretAccessKey };
  registerCredentials(b.controlUrl, k);
  registerCredentials(b.runtimeUrl, k);
  const del = await control(b.controlUrl, 'DeleteAccessKey', { Name: 'admin' }, { target: 'Berth.DeleteAccessKey' });
  assert.equal(del.status, 200, del.text);
  const fileBefore = fs.readFileSync(path.join(b.dataDir, 'credentials'), 'utf8');
  await b.stop();
  b = await startBerthd({ dataDir: b.dataDir });
  registerCredentials(b.controlUrl, k);
  registerCredentials(b.runtimeUrl, k);
  const keys = await control(b.controlUrl, 'ListAccessKeys', {}, { target: 'Berth.ListAccessKeys' });
  assert.equal(keys.status, 200, keys.text);
  assert.ok(!keys.json.AccessKeys.some((x) => x.Name === 'admin'), `no admin key came back: ${keys.text}`);
  assert.equal(fs.readFileSync(path.join(b.dataDir, 'credentials'), 'utf8'), fileBefore, 'the credentials file was not rewritten');
  const old = await control(b.controlUrl, 'ListEndpoints', {}, { credentials: admin });
  assert.equal(old.status, 403, old.text);
  assert.equal(old.json.__type, 'UnrecognizedClientException');
});

// Restarts: (1) kill -9 of berthd, then a new `berthd up` on the same data
// dir (on other ports) brings back the same endpoint and IC, served by the
// same copy processes, which outlived it and were adopted; (2) SIGTERM
// during a slow invocation lets the invocation finish with 200 and berthd
// exits 0 (both a buffered and a streamed answer).

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';

import {
  control, controlOk, findTaggedProcesses, invoke, modelPids, rolePids, signed, startBerthd, stopAll, waitFor,
} from '../lib/berthd.mjs';
import { deployEndpoint, deployIc, describeEndpoint, describeIc, waitEndpointStatus, waitIcInService } from '../lib/fixtures.mjs';

const T = { timeout: 300_000 };
const PROMPT = { inputs: 'hello', parameters: { max_new_tokens: 4 } };

after(async () => {
  await stopAll();
});

function waitNoCopies(what) {
  return waitFor(() => findTaggedProcesses(), {
    timeoutMs: 20_000, intervalMs: 200, what, until: (pids) => pids.length === 0,
  });
}

test('after kill -9 a new berthd on the same data dir brings everything back', T, async () => {
  const b1 = await startBerthd();
  await deployEndpoint(b1.controlUrl, 'rs-ep');
  await deployIc(b1.controlUrl, 'rs-ic', 'rs-ep', 'eu');
  const before = await invoke(b1.runtimeUrl, 'rs-ep', 'rs-ic', PROMPT);
  assert.equal(before.status, 200, before.text);
  assert.equal(before.json?.model_id, 'eu', before.text);
  const ep1 = await describeEndpoint(b1.controlUrl, 'rs-ep');
  const ic1 = await describeIc(b1.controlUrl, 'rs-ic');
  const models = modelPids();
  assert.equal(models.length, 1, 'one model copy process is running before the kill');

  const exit = await b1.kill9();
  assert.equal(exit.signal, 'SIGKILL');
  // The controller dies with its supervisor; the agent and the copy do not.
  await waitFor(() => rolePids('controller'), { timeoutMs: 10_000, intervalMs: 100, what: 'the controller to die with berthd up', until: (p) => p.length === 0 });
  assert.deepEqual(modelPids(), models, 'the copy outlives a killed berthd');

  const b2 = await startBerthd({ dataDir: b1.dataDir });
  const ep2 = await waitEndpointStatus(b2.controlUrl, 'rs-ep', 'InService');
  assert.equal(ep2.CreationTime, ep1.CreationTime, 'endpoint CreationTime survives the restart');
  assert.equal(ep2.EndpointArn, ep1.EndpointArn);
  assert.equal(ep2.EndpointConfigName, ep1.EndpointConfigName);
  const ic2 = await waitIcInService(b2.controlUrl, 'rs-ic', 1, { timeoutMs: 180_000 });
  assert.equal(ic2.CreationTime, ic1.CreationTime, 'IC CreationTime survives the restart');
  assert.equal(ic2.InferenceComponentArn, ic1.InferenceComponentArn);
  assert.equal(ic2.RuntimeConfig.DesiredCopyCount, 1);

  const again = await invoke(b2.runtimeUrl, 'rs-ep', 'rs-ic', PROMPT);
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json?.model_id, 'eu', again.text);
  // Adopted, not restarted, never duplicated; its old agent (joined to the
  // old control port) was replaced by one that adopted the copy.
  assert.deepEqual(modelPids(), models, 'the same copy serves after the restart');
  assert.equal(rolePids('agent').length, 1, 'one agent for the one instance');
  assert.match(b2.logs(), /adopted copy \d+ \(pid \d+, port \d+\)/);

  // Nothing was duplicated, and the store still takes writes.
  const list = await controlOk(b2.controlUrl, 'ListInferenceComponents', { EndpointNameEquals: 'rs-ep' });
  assert.deepEqual(list.InferenceComponents.map((s) => s.InferenceComponentName), ['rs-ic']);
  await controlOk(b2.controlUrl, 'CreateEndpointConfig', {
    EndpointConfigName: 'after-restart',
    ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.m5.xlarge', InitialInstanceCount: 1 }],
  });
  const r = await control(b2.controlUrl, 'DescribeEndpointConfig', { EndpointConfigName: 'after-restart' });
  assert.equal(r.status, 200, r.text);

  await b2.stop();
  await waitNoCopies('the copies to stop with berthd');
});

/** POST with node:http; `written` resolves once the whole request is sent. */
function startRequest(url, body, headers) {
  const u = new URL(url);
  let req;
  const written = new Promise((resolve, reject) => {
    req = http.request({
      host: u.hostname, port: u.port, path: u.pathname, method: 'POST',
      headers: { ...signed('POST', url, { 'content-type': 'application/json', ...headers }, body),
        'content-length': Buffer.byteLength(body) },
    });
    req.on('finish', resolve);
    req.on('error', reject);
  });
  const response = new Promise((resolve, reject) => {
    req.on('response', (res) => resolve(res));
    req.on('error', reject);
  });
  req.end(body);
  return { written, response };
}

function readAll(res, onChunk = () => {}) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    res.on('data', (c) => { chunks.push(c); onChunk(c); });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('response aborted')));
  });
}

async function slowDeployment() {
  const b = await startBerthd();
  await deployEndpoint(b.controlUrl, 'slow-ep');
  await deployIc(b.controlUrl, 'slow', 'slow-ep', 'eu', { env: { BERTH_MODEL_TOKEN_DELAY_MS: '200' } });
  return b;
}

test('SIGTERM during a slow invocation: it completes with 200 and berthd exits 0', T, async () => {
  const b = await slowDeployment();
  const started = Date.now();
  const { written, response } = startRequest(`${b.runtimeUrl}/endpoints/slow-ep/invocations`,
    JSON.stringify({ inputs: 'hello', parameters: { max_new_tokens: 10 } }),
    { 'x-amzn-sagemaker-inference-component': 'slow' });
  await written;
  // The answer takes about 10 x 200 ms; place the signal early inside it
  // (a position in the request, not a wait for a condition).
  await new Promise((resolve) => setTimeout(resolve, 500));
  b.signal('SIGTERM');
  const res = await response;
  const text = await readAll(res);
  const tookMs = Date.now() - started;
  assert.equal(res.statusCode, 200, `status ${res.statusCode}: ${text}`);
  const j = JSON.parse(text);
  assert.equal(j.model_id, 'eu', text);
  assert.ok(tookMs >= 1500, `a 10-token answer at 200 ms a token came back in ${tookMs} ms`);
  const exit = await b.waitExit(30_000);
  assert.deepEqual(exit, { code: 0, signal: null });
  await b.stop();
  await waitNoCopies('the copies to stop with berthd');
});

test('SIGTERM during a streamed invocation: the stream completes and berthd exits 0', T, async () => {
  const b = await slowDeployment();
  const { response } = startRequest(`${b.runtimeUrl}/endpoints/slow-ep/invocations`,
    JSON.stringify({ inputs: 'hello', stream: true, parameters: { max_new_tokens: 10 } }),
    { 'x-amzn-sagemaker-inference-component': 'slow' });
  const res = await response;
  assert.equal(res.statusCode, 200);
  let signalled = false;
  const text = await readAll(res, () => {
    if (!signalled) { signalled = true; b.signal('SIGTERM'); } // first chunk: the request is in flight
  });
  assert.ok(signalled, 'got no chunk at all');
  const events = text.split('\n').filter((l) => l.startsWith('data:') && l.slice(5).trim() !== '[DONE]');
  assert.ok(events.length >= 10, `expected 10 token events after SIGTERM, got ${events.length}: ${text.slice(0, 2000)}`);
  const exit = await b.waitExit(30_000);
  assert.deepEqual(exit, { code: 0, signal: null });
  await b.stop();
  await waitNoCopies('the copies to stop with berthd');
});

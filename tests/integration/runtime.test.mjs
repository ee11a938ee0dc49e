// Runtime (data plane) behaviour of berthd with raw HTTP: model errors,
// copies that cannot start, copies that fit nowhere, body limits, unknown
// names, an IC at zero copies, and streaming through the router.
// One berthd and one endpoint (ml.m5.xlarge, 4 vCPU) shared by the tests; each
// test deploys its own inference components of 0.5 cores.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { control, controlOk, invoke, rawPost, signed, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import {
  NO_CAPACITY_REASON, deployEndpoint, deployIc, describeIc, errorMessage, icBody, runtimeErrorType,
} from '../lib/fixtures.mjs';

const T = { timeout: 240_000 };
const EP = 'rt-ep';
const SMALL = { cores: 0.5, memoryMb: 256 };
const PROMPT = { inputs: 'hello', parameters: { max_new_tokens: 4 } };

let b;

before(async () => {
  b = await startBerthd();
  await deployEndpoint(b.controlUrl, EP);
});

after(async () => {
  await stopAll();
});

function show(r) {
  const hs = typeof r.headers.entries === 'function' ? Object.fromEntries(r.headers.entries()) : r.headers;
  return `status ${r.status}, headers ${JSON.stringify(hs)}, body ${r.text.slice(0, 1000)}`;
}

test('a successful invocation carries the SageMaker response headers', T, async () => {
  await deployIc(b.controlUrl, 'ok', EP, 'eu', SMALL);
  const r = await invoke(b.runtimeUrl, EP, 'ok', PROMPT, {
    Accept: 'application/json', 'X-Amzn-SageMaker-Custom-Attributes': 'k=v',
  });
  assert.equal(r.status, 200, show(r));
  assert.equal(r.json?.model_id, 'eu', show(r));
  assert.equal(typeof r.json.generated_text, 'string');
  assert.equal(r.headers.get('x-amzn-invoked-production-variant'), 'AllTraffic', show(r));
  assert.ok(r.headers.get('x-amzn-requestid'), `x-amzn-requestid missing: ${show(r)}`);
  assert.equal(r.headers.get('x-amzn-sagemaker-custom-attributes'), 'k=v', show(r));
  // The router need not pass the model's own X-Berth-Copy on; if it does, it must agree.
  if (r.headers.get('x-berth-copy') !== null) assert.equal(r.headers.get('x-berth-copy'), r.json.copy_id, show(r));
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, show(r));
});

test("the model's own error status becomes 424 ModelError with OriginalStatusCode", T, async () => {
  await deployIc(b.controlUrl, 'fails', EP, 'eu', { ...SMALL, env: { BERTH_MODEL_FAIL_STATUS: '500' } });
  const r = await invoke(b.runtimeUrl, EP, 'fails', PROMPT);
  assert.equal(r.status, 424, show(r));
  assert.equal(runtimeErrorType(r), 'ModelError', show(r));
  assert.ok(r.json, `error body is not JSON: ${show(r)}`);
  assert.equal(Number(r.json.OriginalStatusCode), 500, show(r));
  assert.ok('OriginalMessage' in r.json, `OriginalMessage missing: ${show(r)}`);
  assert.ok(r.headers.get('x-amzn-requestid'), `x-amzn-requestid missing: ${show(r)}`);
});

test('an IC whose copy exits at start goes Failed, quoting the output', T, async () => {
  await controlOk(b.controlUrl, 'CreateInferenceComponent',
    icBody('exits', EP, 'eu', { ...SMALL, env: { BERTH_MODEL_EXIT_AT_START: '3' } }));
  const d = await waitFor(() => describeIc(b.controlUrl, 'exits'), {
    timeoutMs: 180_000, intervalMs: 500, what: 'IC exits to be Failed',
    until: (x) => x.InferenceComponentStatus === 'Failed',
    failIf: (x) => (x.InferenceComponentStatus === 'InService' ? 'went InService although every copy exits' : null),
  });
  assert.match(d.FailureReason ?? '', /exiting with status 3/, `FailureReason: ${d.FailureReason}`);
  assert.notEqual(d.RuntimeConfig?.CurrentCopyCount, 1);
});

test('an IC too big for any instance reports not enough hardware resources', T, async () => {
  await controlOk(b.controlUrl, 'CreateInferenceComponent',
    icBody('too-big', EP, 'eu', { cores: 64, memoryMb: 256 }));
  const d = await waitFor(() => describeIc(b.controlUrl, 'too-big'), {
    timeoutMs: 120_000, intervalMs: 500, what: 'IC too-big to report a FailureReason',
    until: (x) => Boolean(x.FailureReason),
    failIf: (x) => (x.InferenceComponentStatus === 'InService' ? 'went InService with 64 cores on a 4-vCPU instance' : null),
  });
  assert.match(d.FailureReason, /not enough hardware resources/, `FailureReason: ${d.FailureReason}`);
  assert.ok(d.FailureReason.includes(NO_CAPACITY_REASON), `FailureReason: ${d.FailureReason}`);
  assert.notEqual(d.InferenceComponentStatus, 'InService');
  assert.equal(d.RuntimeConfig?.CurrentCopyCount ?? 0, 0);
  const r = await invoke(b.runtimeUrl, EP, 'too-big', PROMPT);
  assert.notEqual(r.status, 200, show(r));
});

test('bodies over 6291456 bytes get 413; exactly 6291456 is accepted', T, async () => {
  await waitFor(() => describeIc(b.controlUrl, 'ok'), { what: 'IC ok', until: (x) => x.InferenceComponentStatus === 'InService' });
  const url = `${b.runtimeUrl}/endpoints/${EP}/invocations`;
  const headers = { 'content-type': 'application/json', 'x-amzn-sagemaker-inference-component': 'ok' };

  const big = Buffer.alloc(7 * 1024 * 1024, 'a');
  const r = await rawPost(url, big, headers);
  assert.equal(r.status, 413, `7 MiB body: status ${r.status}, body ${r.text.slice(0, 500)}`);

  const head = '{"inputs":"';
  const tail = '","parameters":{"max_new_tokens":1}}';
  const fill = 6291456 - head.length - tail.length;
  const exact = Buffer.from(head + 'b'.repeat(fill) + tail);
  assert.equal(exact.length, 6291456);
  const ok = await rawPost(url, exact, headers);
  assert.equal(ok.status, 200, `6291456-byte body: status ${ok.status}, body ${ok.text.slice(0, 500)}`);
});

test('unknown endpoint or IC is 400 ValidationError', T, async () => {
  let r = await invoke(b.runtimeUrl, 'no-such-endpoint', 'ok', PROMPT);
  assert.equal(r.status, 400, show(r));
  assert.equal(runtimeErrorType(r), 'ValidationError', show(r));
  assert.ok(r.headers.get('x-amzn-errortype'), `x-amzn-errortype missing: ${show(r)}`);
  assert.ok(r.headers.get('x-amzn-requestid'), `x-amzn-requestid missing: ${show(r)}`);
  assert.ok(errorMessage(r).length > 0, `no message: ${show(r)}`);

  r = await invoke(b.runtimeUrl, EP, 'no-such-ic', PROMPT);
  assert.equal(r.status, 400, show(r));
  assert.equal(runtimeErrorType(r), 'ValidationError', show(r));
});

test('an IC at zero copies answers ValidationError: no capacity', T, async () => {
  await deployIc(b.controlUrl, 'to-zero', EP, 'us', SMALL);
  let r = await invoke(b.runtimeUrl, EP, 'to-zero', PROMPT);
  assert.equal(r.status, 200, show(r));
  await controlOk(b.controlUrl, 'UpdateInferenceComponentRuntimeConfig', {
    InferenceComponentName: 'to-zero', DesiredRuntimeConfig: { CopyCount: 0 },
  });
  const d = await waitFor(() => describeIc(b.controlUrl, 'to-zero'), {
    timeoutMs: 120_000, intervalMs: 300, what: 'to-zero CurrentCopyCount 0',
    until: (x) => x.RuntimeConfig?.CurrentCopyCount === 0 && x.InferenceComponentStatus === 'InService',
  });
  assert.equal(d.RuntimeConfig.DesiredCopyCount, 0);
  r = await invoke(b.runtimeUrl, EP, 'to-zero', PROMPT);
  assert.equal(r.status, 400, show(r));
  assert.equal(runtimeErrorType(r), 'ValidationError', show(r));
  assert.match(errorMessage(r), /^Inference Component has no capacity to process this request/, show(r));
});

test('streaming through the router arrives chunk by chunk', T, async () => {
  await deployIc(b.controlUrl, 'streamer', EP, 'eu', { ...SMALL, env: { BERTH_MODEL_TOKEN_DELAY_MS: '300' } });
  const url = `${b.runtimeUrl}/endpoints/${EP}/invocations`;
  const body = JSON.stringify({ inputs: 'x', stream: true, parameters: { max_new_tokens: 5 } });
  const res = await fetch(url, {
    method: 'POST',
    headers: signed('POST', url, { 'content-type': 'application/json', 'x-amzn-sagemaker-inference-component': 'streamer' }, body),
    body,
    signal: AbortSignal.timeout(60_000),
  });
  // Read the body for the message only on failure: reading it first would
  // buffer the stream and defeat the timing check below.
  if (res.status !== 200) assert.fail(`status ${res.status}: ${await res.text()}`);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/, `content-type ${res.headers.get('content-type')}`);

  // Record when each SSE "data:" event arrives.
  const events = [];
  const decoder = new TextDecoder();
  let pending = '';
  const reader = res.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = pending.indexOf('\n\n')) >= 0) {
      const block = pending.slice(0, cut);
      pending = pending.slice(cut + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
      if (data) events.push({ at: Date.now(), data });
    }
  }
  const tokens = events.filter((e) => e.data !== '[DONE]');
  assert.ok(tokens.length >= 5, `expected >= 5 data events for 5 tokens, got ${JSON.stringify(events.map((e) => e.data))} (rest: ${JSON.stringify(pending)})`);
  const spread = events[events.length - 1].at - events[0].at;
  assert.ok(spread >= 600,
    `5 tokens 300 ms apart arrived within ${spread} ms of each other: the router buffered the stream`);
});

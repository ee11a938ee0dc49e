// Sticky sessions (SageMaker "stateful sessions") with the REAL AWS SDK
// (@aws-sdk/client-sagemaker-runtime, SessionId): an IC with two berth-model
// copies; NEW_SESSION returns NewSessionId, the next requests with that id
// land on the session's copy and count its turns while requests without a
// session spread over both copies; closing returns ClosedSessionId and the
// closed id then gets ValidationError; malformed ids and NEW_SESSION on the
// streaming route are refused; scaling the IC in takes one copy and its
// session (ValidationError) while the other copy's session goes on.  Steps
// share one daemon and run in order; read the first failure.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CreateEndpointCommand, CreateEndpointConfigCommand, CreateInferenceComponentCommand,
  DescribeEndpointCommand, DescribeInferenceComponentCommand, SageMakerClient,
  UpdateInferenceComponentRuntimeConfigCommand,
} from '@aws-sdk/client-sagemaker';
import {
  InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand, SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';

import { modelContainer, rejection, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';

const STEP = { timeout: 120_000 };
const EP = 'sess-ep';
const IC = 'sess-ic';

let berthd;
let sm;
let rt;

before(async () => {
  berthd = await startBerthd();
  const opts = { region: 'us-east-1', credentials: berthd.credentials };
  sm = new SageMakerClient({ endpoint: berthd.controlUrl, ...opts });
  // One attempt: a refused session must surface, not be retried.
  rt = new SageMakerRuntimeClient({ endpoint: berthd.runtimeUrl, maxAttempts: 1, ...opts });
});

after(async () => {
  sm?.destroy();
  rt?.destroy();
  await stopAll();
});

/** InvokeEndpoint on the IC; returns the SDK output with the body parsed. */
async function invoke(sessionId, extra = {}) {
  const out = await rt.send(new InvokeEndpointCommand({
    EndpointName: EP, InferenceComponentName: IC, ContentType: 'application/json',
    Body: JSON.stringify({ inputs: 'hi', parameters: { max_new_tokens: 2 }, ...extra }),
    ...(sessionId ? { SessionId: sessionId } : {}),
  }));
  return { ...out, json: JSON.parse(Buffer.from(out.Body).toString('utf8')) };
}

/** The id part of a NewSessionId ("<id>; Expires=<time>"). */
function idOf(newSessionId) {
  const m = /^([a-zA-Z0-9](?:-*[a-zA-Z0-9])*);\sExpires=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$/.exec(newSessionId ?? '');
  assert.ok(m, `NewSessionId in SageMaker's shape: ${newSessionId}`);
  const expires = Date.parse(m[2]);
  assert.ok(expires > Date.now() && expires < Date.now() + 2 * 3600_000, `Expires soon after now: ${m[2]}`);
  return m[1];
}

async function newSession() {
  const out = await invoke('NEW_SESSION');
  const id = idOf(out.NewSessionId);
  assert.equal(out.json.session_id, id);
  assert.equal(out.json.session_turn, 0);
  return { id, copy: out.json.copy_id };
}

function sessionError(err, id) {
  assert.equal(err.name, 'ValidationError', `${err.name}: ${err.message}`);
  assert.equal(err.$metadata?.httpStatusCode, 400);
  assert.ok(err.message.includes(id) && err.message.includes('NEW_SESSION'), err.message);
}

test('an endpoint with a two-copy berth-model IC', STEP, async () => {
  await sm.send(new CreateEndpointConfigCommand({
    EndpointConfigName: `${EP}-config`,
    ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.m5.xlarge', InitialInstanceCount: 1 }],
  }));
  await sm.send(new CreateEndpointCommand({ EndpointName: EP, EndpointConfigName: `${EP}-config` }));
  await waitFor(() => sm.send(new DescribeEndpointCommand({ EndpointName: EP })), {
    timeoutMs: 60_000, intervalMs: 300, what: `${EP} InService`,
    until: (x) => x.EndpointStatus === 'InService',
    failIf: (x) => (x.EndpointStatus === 'Failed' ? `Failed: ${x.FailureReason}` : null),
  });
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: IC, EndpointName: EP, VariantName: 'AllTraffic',
    Specification: {
      Container: modelContainer('sessions'),
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 256 },
    },
    RuntimeConfig: { CopyCount: 2 },
  }));
  await waitFor(() => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: IC })), {
    timeoutMs: 60_000, intervalMs: 300, what: `${IC} InService with 2 copies`,
    until: (d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 2,
    failIf: (d) => (d.InferenceComponentStatus === 'Failed' ? `Failed: ${d.FailureReason}` : null),
  });
});

let first;

test('NEW_SESSION, then 5 turns on its copy while other requests spread', STEP, async () => {
  first = await newSession();
  const plain = Promise.all(Array.from({ length: 24 }, () => invoke()));
  for (let turn = 1; turn <= 5; turn++) {
    const out = await invoke(first.id);
    assert.equal(out.json.copy_id, first.copy, `turn ${turn} on the session's copy`);
    assert.equal(out.json.session_turn, turn);
    assert.equal(out.NewSessionId, undefined);
    assert.equal(out.ClosedSessionId, undefined);
  }
  const copies = new Set((await plain).map((o) => o.json.copy_id));
  assert.equal(copies.size, 2, `requests without a session use both copies: ${[...copies]}`);
  assert.ok(!(await plain).some((o) => o.json.session_id), 'no session without SessionId');
});

test('closing returns ClosedSessionId; the closed id then gets ValidationError', STEP, async () => {
  const out = await invoke(first.id, { close_session: true });
  assert.equal(out.ClosedSessionId, first.id);
  assert.equal(out.json.copy_id, first.copy);
  assert.equal(out.json.session_turn, 6);
  sessionError(await rejection(invoke(first.id), 'a closed session'), first.id);
  sessionError(await rejection(invoke('never-opened-1'), 'an unknown session'), 'never-opened-1');
});

test('malformed ids and NEW_SESSION on the streaming route are refused', STEP, async () => {
  const bad = await rejection(invoke('bad_id'), 'a malformed session id');
  assert.equal(bad.name, 'ValidationError');
  assert.match(bad.message, /Value 'bad_id' at 'sessionId' failed to satisfy constraint: Member must satisfy regular expression pattern/);
  const long = await rejection(invoke('a'.repeat(257)), 'a 257-character session id');
  assert.equal(long.name, 'ValidationError');
  assert.match(long.message, /less than or equal to 256/);
  const stream = await rejection(rt.send(new InvokeEndpointWithResponseStreamCommand({
    EndpointName: EP, InferenceComponentName: IC, ContentType: 'application/json',
    Body: JSON.stringify({ inputs: 'hi' }), SessionId: 'NEW_SESSION',
  })), 'NEW_SESSION on InvokeEndpointWithResponseStream');
  assert.equal(stream.name, 'ValidationError');
  assert.match(stream.message, /InvokeEndpointWithResponseStream/);
});

test('an existing session streams on its copy', STEP, async () => {
  const s = await newSession();
  const out = await rt.send(new InvokeEndpointWithResponseStreamCommand({
    EndpointName: EP, InferenceComponentName: IC, ContentType: 'application/json',
    Body: JSON.stringify({ inputs: 'hi', stream: true, parameters: { max_new_tokens: 2 } }),
    SessionId: s.id,
  }));
  let text = '';
  for await (const ev of out.Body) if (ev.PayloadPart) text += Buffer.from(ev.PayloadPart.Bytes).toString('utf8');
  assert.match(text, /generated_text/);
  assert.equal((await invoke(s.id)).json.session_turn, 2, 'the stream was turn 1');
});

test('scaling in takes one copy and its session; the other session goes on', STEP, async () => {
  // One session on each copy (the first NEW_SESSIONs may share one).
  const byCopy = new Map();
  for (let i = 0; i < 40 && byCopy.size < 2; i++) {
    const s = await newSession();
    if (!byCopy.has(s.copy)) byCopy.set(s.copy, s);
  }
  assert.equal(byCopy.size, 2, 'a session on each copy');
  await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({
    InferenceComponentName: IC, DesiredRuntimeConfig: { CopyCount: 1 },
  }));
  // Until the router learns which copy goes, both sessions may still answer.
  const sessions = [...byCopy.values()];
  const turns = new Map(sessions.map((s) => [s.id, 0]));
  const gone = await waitFor(async () => {
    for (const s of sessions) {
      try {
        const out = await invoke(s.id);
        assert.equal(out.json.copy_id, s.copy);
        turns.set(s.id, turns.get(s.id) + 1);
        assert.equal(out.json.session_turn, turns.get(s.id));
      } catch (err) {
        if (err.name !== 'ValidationError') throw err;
        sessionError(err, s.id);
        return s;
      }
    }
    return null;
  }, { timeoutMs: 60_000, intervalMs: 200, what: 'a session to lose its copy', until: (s) => s });
  const kept = sessions.find((s) => s !== gone);
  const out = await invoke(kept.id);
  assert.equal(out.json.copy_id, kept.copy);
  assert.equal(out.json.session_turn, turns.get(kept.id) + 1);
  sessionError(await rejection(invoke(gone.id), 'the session of the copy that went'), gone.id);
  await waitFor(() => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: IC })), {
    timeoutMs: 60_000, intervalMs: 300, what: `${IC} at 1 copy`,
    until: (d) => d.RuntimeConfig?.CurrentCopyCount === 1,
  });
  const plain = await Promise.all(Array.from({ length: 6 }, () => invoke()));
  assert.ok(plain.every((o) => o.json.copy_id === kept.copy), 'the kept copy serves the rest');
});

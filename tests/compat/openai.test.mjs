// The OpenAI-compatible API: the REAL `openai` npm client, pointed at
// http://RUNTIME/endpoints/demo/openai/v1 with a Berth bearer token (from
// `berth token` and from Berth.CreateToken), against berth-model copies.
// A chat completion, a streamed one whose chunks arrive as the model makes
// them, a legacy completion and the model list work; the IC is the body's
// model unless X-Amzn-SageMaker-Inference-Component names one; a model's own
// error comes through; bad, altered, expired, unscoped and revoked tokens are
// refused in OpenAI's error shape.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';

import OpenAI from 'openai';

import {
  BUILD_DIR, control, credentialsIn, startBerthd, stopAll, waitFor,
} from '../lib/berthd.mjs';
import { deployEndpoint, deployIc } from '../lib/fixtures.mjs';

const TOKEN_DELAY_MS = 150;
let b;
let admin;
let token; // the admin key's, from `berth token`

function berth(args) {
  return new Promise((resolve) => {
    const p = spawn(path.join(BUILD_DIR, 'berth'), args, {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', BERTH_CONTROL_URL: b.controlUrl,
        BERTH_RUNTIME_URL: b.runtimeUrl, BERTH_DATA_DIR: b.dataDir },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

function openai(apiKey, endpoint = 'demo') {
  return new OpenAI({ apiKey, baseURL: `${b.runtimeUrl}/endpoints/${endpoint}/openai/v1`,
    maxRetries: 0, timeout: 30_000 });
}

const chat = (client, extra = {}, opts) => client.chat.completions.create({
  model: 'chat', messages: [{ role: 'user', content: 'where is the harbor?' }], max_tokens: 6, ...extra,
}, opts);

async function refusal(promise, what) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail(`${what} succeeded; it should have been refused`);
}

// A token minted (Berth.CreateToken) with the given credentials.
async function mint(credentials, body = { ExpiresInSeconds: 600 }) {
  const r = await control(b.controlUrl, null, body, { target: 'Berth.CreateToken', credentials });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

before(async () => {
  b = await startBerthd();
  admin = credentialsIn(b.dataDir);
  await deployEndpoint(b.controlUrl, 'demo');
  await Promise.all([
    deployIc(b.controlUrl, 'chat', 'demo', 'chat-model', { env: { BERTH_MODEL_TOKEN_DELAY_MS: String(TOKEN_DELAY_MS) } }),
    deployIc(b.controlUrl, 'plain', 'demo', 'plain-model'),
    deployIc(b.controlUrl, 'broken', 'demo', 'broken-model', { env: { BERTH_MODEL_FAIL_STATUS: '422' } }),
  ]);
  const r = await berth(['token', '--expires', '1h']);
  assert.equal(r.code, 0, r.err);
  token = r.out.trim();
  assert.match(token, /^berth1\.BKIA[A-Z2-7]{16}\.\d+\.[A-Za-z0-9_-]{43}$/);
  assert.match(r.err, /expires \d{4}-\d\d-\d\dT/);
});

after(stopAll);

test('a chat completion in OpenAI\'s shape', async () => {
  const r = await chat(openai(token));
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'chat');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content.trim().split(' ').length, 6);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 6);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 6);
});

test('a streamed chat completion arrives chunk by chunk as the model makes it', async () => {
  const client = openai(token);
  const whole = await chat(client);
  const stream = await chat(client, { stream: true, stream_options: { include_usage: true } });
  const arrivals = [];
  let content = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.delta.content) {
      arrivals.push(Date.now());
      content += choice.delta.content;
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.equal(arrivals.length, 6, 'one chunk per token');
  // Same prompt, same model: the same text as the whole answer.
  assert.equal(content, whole.choices[0].message.content);
  assert.equal(finish, 'length');
  assert.equal(usage?.completion_tokens, 6);
  // Five gaps of TOKEN_DELAY_MS between the tokens: passed on as they came,
  // not held until the end.
  const spread = arrivals[arrivals.length - 1] - arrivals[0];
  assert.ok(spread >= 4 * TOKEN_DELAY_MS, `chunks arrived within ${spread} ms: buffered?`);
});

test('a legacy completion, the model list and one model', async () => {
  const client = openai(token);
  const c = await client.completions.create({ model: 'plain', prompt: 'ahoy', max_tokens: 3 });
  assert.equal(c.object, 'text_completion');
  assert.equal(c.choices[0].text.trim().split(' ').length, 3);
  const ids = [];
  for await (const m of client.models.list()) {
    assert.equal(m.object, 'model');
    assert.ok(m.created > 1_700_000_000, `created ${m.created}`);
    ids.push(m.id);
  }
  assert.deepEqual(ids.sort(), ['broken', 'chat', 'plain']);
  assert.equal((await client.models.retrieve('plain')).id, 'plain');
  const err = await refusal(client.models.retrieve('nope'), 'an unknown model');
  assert.equal(err.status, 404);
});

test('the IC is the model field unless the header names one', async () => {
  const client = openai(token);
  const viaChat = await chat(client);
  const viaPlain = await chat(client, { model: 'plain' });
  assert.notEqual(viaChat.system_fingerprint, viaPlain.system_fingerprint, 'two ICs, two copies');
  const pinned = await chat(client, {}, { headers: { 'X-Amzn-SageMaker-Inference-Component': 'plain' } });
  assert.equal(pinned.system_fingerprint, viaPlain.system_fingerprint);
  assert.equal(pinned.model, 'chat', 'the body goes to the model unchanged');
});

test('unknown model and endpoint are 404, bad JSON 400, in OpenAI\'s error shape', async () => {
  let err = await refusal(chat(openai(token), { model: 'nope' }), 'an unknown model');
  assert.ok(err instanceof OpenAI.NotFoundError, err.constructor.name);
  assert.equal(err.code, 'model_not_found');
  assert.match(err.message, /nope.*demo/);
  err = await refusal(chat(openai(token, 'no-such-endpoint')), 'an unknown endpoint');
  assert.equal(err.status, 404);
  assert.equal(err.code, 'endpoint_not_found');
  const res = await fetch(`${b.runtimeUrl}/endpoints/demo/openai/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{"model": "chat", ',
  });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error.type, 'invalid_request_error');
  assert.match(body.error.message, /JSON/);
  // A model's own OpenAI-shaped error comes through with its status.
  err = await refusal(chat(openai(token), { model: 'broken' }), 'a failing model');
  assert.ok(err instanceof OpenAI.UnprocessableEntityError, err.constructor.name);
  assert.equal(err.message, '422 injected failure');
});

test('bad, altered, expired and missing tokens are refused with 401', async () => {
  let err = await refusal(chat(openai('sk-not-a-berth-token')), 'a foreign token');
  assert.ok(err instanceof OpenAI.AuthenticationError, err.constructor.name);
  assert.equal(err.code, 'InvalidBearerToken');
  const altered = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
  err = await refusal(chat(openai(altered)), 'an altered token');
  assert.equal(err.status, 401);
  assert.match(err.message, /signature/);
  // Signed right, by the admin key's secret, but an hour past its expiry.
  const payload = `berth1.${admin.accessKeyId}.${Math.floor(Date.now() / 1000) - 3600}`;
  const mac = createHmac('sha256', admin.secretAccessKey).update(payload).digest('base64url');
  err = await refusal(chat(openai(`${payload}.${mac}`)), 'an expired token');
  assert.equal(err.status, 401);
  assert.equal(err.code, 'ExpiredBearerToken');
  // The same construction with a live expiry is a good token: the format is
  // what the docs say.
  const live = `berth1.${admin.accessKeyId}.${Math.floor(Date.now() / 1000) + 600}`;
  const ok = await chat(openai(`${live}.${createHmac('sha256', admin.secretAccessKey).update(live).digest('base64url')}`));
  assert.equal(ok.object, 'chat.completion');
  const res = await fetch(`${b.runtimeUrl}/endpoints/demo/openai/v1/models`);
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.type, 'authentication_error');
  assert.ok(!b.logs().includes(token), 'berthd logged a token');
});

test('a token may do what its key may, and dies with its key', async () => {
  const key = async (name, Allow, Resources) => {
    const r = await control(b.controlUrl, null, { Name: name, Allow, ...(Resources && { Resources }) },
      { target: 'Berth.CreateAccessKey' });
    assert.equal(r.status, 200, r.text);
    return { accessKeyId: r.json.AccessKey.AccessKeyId, secretAccessKey: r.json.AccessKey.SecretAccessKey };
  };
  const describer = await key('describer', ['sagemaker:Describe*']);
  const elsewhere = await key('elsewhere', ['sagemaker:InvokeEndpoint'],
    ['arn:aws:sagemaker:*:*:endpoint/other']);
  const invoker = await key('invoker', ['sagemaker:InvokeEndpoint']);
  // Any key mints its own tokens, with no permission for it.
  const minted = await mint(describer);
  assert.equal(minted.AccessKeyId, describer.accessKeyId);
  assert.ok(Math.abs(minted.Expiration - (Date.now() / 1000 + 600)) < 60, `Expiration ${minted.Expiration}`);
  const tooLong = await control(b.controlUrl, null, { ExpiresInSeconds: 8 * 86400 },
    { target: 'Berth.CreateToken' });
  assert.equal(tooLong.status, 400);
  assert.match(tooLong.text, /ExpiresInSeconds.*604800/);
  // The keys reach the router with the next routing snapshot.
  const invokerToken = (await mint(invoker)).Token;
  await waitFor(() => chat(openai(invokerToken)).then(() => true, () => false),
    { what: 'the new key to reach the router', timeoutMs: 15_000 });
  let err = await refusal(chat(openai(minted.Token)), 'a token of a key without InvokeEndpoint');
  assert.ok(err instanceof OpenAI.PermissionDeniedError, err.constructor.name);
  assert.match(err.message, /sagemaker:InvokeEndpoint/);
  err = await refusal(chat(openai((await mint(elsewhere)).Token)), 'a token for another endpoint');
  assert.equal(err.status, 403);
  const del = await control(b.controlUrl, null, { Name: 'invoker' }, { target: 'Berth.DeleteAccessKey' });
  assert.equal(del.status, 200, del.text);
  err = await waitFor(() => chat(openai(invokerToken)).then(() => null, (e) => e),
    { what: 'the deleted key\'s token to be refused', timeoutMs: 15_000 });
  assert.equal(err.status, 401);
  assert.equal(err.code, 'UnrecognizedClientException');
});

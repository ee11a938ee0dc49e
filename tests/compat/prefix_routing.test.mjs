// PREFIX_AWARE routing through the real router, with the REAL AWS SDK for
// JavaScript v3 (@aws-sdk/client-sagemaker, -runtime): CreateEndpointConfig
// refuses a bad PrefixAwareRoutingConfig naming the field; an endpoint with
// PREFIX_AWARE (PrefixLength 1024, ConcurrencyThreshold 1) and an IC of two
// berth-model copies (each answers its copy_id) sends every request whose
// first 1024 bytes match to one copy, different prefixes to both copies;
// while a request of a prefix is in flight at its copy (threshold reached),
// the next goes to the other copy, which then is the prefix's copy. Steps
// share one daemon and run in order; read the first failure.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CreateEndpointConfigCommand, DescribeEndpointConfigCommand, SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import {
  InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand, SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';

import { rejection, startBerthd, stopAll } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc, variant } from '../lib/fixtures.mjs';

const STEP = { timeout: 120_000 };
const EP = 'pfx-ep';
const IC = 'pfx-ic';
const ROUTING = {
  RoutingStrategy: 'PREFIX_AWARE',
  PrefixAwareRoutingConfig: { PrefixLength: 1024, ConcurrencyThreshold: 1 },
};

let berthd;
let sm;
let rt;

before(async () => {
  berthd = await startBerthd();
  const opts = { region: 'us-east-1', credentials: berthd.credentials };
  sm = new SageMakerClient({ endpoint: berthd.controlUrl, ...opts });
  rt = new SageMakerRuntimeClient({ endpoint: berthd.runtimeUrl, ...opts });
});

after(async () => {
  sm?.destroy();
  rt?.destroy();
  await stopAll();
});

// A prompt whose first 1,100 characters are prefix p's, then a tail of its
// own: the body's first 1,024 bytes ({"inputs":" and 1,013 of them) match.
const shared = (p) => `prefix ${p} `.repeat(200).slice(0, 1100);
const body = (p, tail, extra = {}) => JSON.stringify({ inputs: `${shared(p)} ${tail}`, ...extra });

async function copyOf(p, tail) {
  const out = await rt.send(new InvokeEndpointCommand({
    EndpointName: EP, InferenceComponentName: IC, ContentType: 'application/json',
    Body: body(p, tail, { parameters: { max_new_tokens: 1 } }),
  }));
  const id = JSON.parse(Buffer.from(out.Body).toString('utf8')).copy_id;
  assert.ok(id, 'berth-model answers its copy_id');
  return id;
}

test('CreateEndpointConfig checks PrefixAwareRoutingConfig, naming the field', STEP, async () => {
  const bad = async (routing, pattern) => {
    const e = await rejection(sm.send(new CreateEndpointConfigCommand({
      EndpointConfigName: 'pfx-bad', ProductionVariants: [variant({ RoutingConfig: routing })],
    })), 'CreateEndpointConfig');
    assert.equal(e.name, 'ValidationException', e.message);
    assert.match(e.message, pattern);
  };
  const at = 'ProductionVariants.1.RoutingConfig.PrefixAwareRoutingConfig';
  await bad({ RoutingStrategy: 'PREFIX_AWARE' }, new RegExp(`at '${at}' failed to satisfy constraint: Member must not be null`));
  await bad({ RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: 512, ConcurrencyThreshold: 4 } },
    new RegExp(`Value '512' at '${at}.PrefixLength' failed to satisfy constraint: Member must have value greater than or equal to 1024`));
  await bad({ RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: 2048, ConcurrencyThreshold: 1025 } },
    new RegExp(`Value '1025' at '${at}.ConcurrencyThreshold' failed to satisfy constraint: Member must have value less than or equal to 1024`));
  await bad({ RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: 2048 } },
    new RegExp(`at '${at}.ConcurrencyThreshold' failed to satisfy constraint: Member must not be null`));
  await bad({ RoutingStrategy: 'RANDOM', PrefixAwareRoutingConfig: { PrefixLength: 2048, ConcurrencyThreshold: 4 } },
    new RegExp(`${at} may be specified only when .*RoutingStrategy is PREFIX_AWARE \\(it is RANDOM\\)`));
});

test('a PREFIX_AWARE endpoint with an IC of two copies', STEP, async () => {
  await deployEndpoint(berthd.controlUrl, EP, { variantExtra: { RoutingConfig: ROUTING } });
  const d = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: `${EP}-config` }));
  assert.deepEqual(d.ProductionVariants[0].RoutingConfig, ROUTING);
  await deployIc(berthd.controlUrl, IC, EP, 'pfx', { copies: 2, env: { BERTH_MODEL_TOKEN_DELAY_MS: '20' } });
});

test('requests sharing their first PrefixLength bytes land on one copy', STEP, async () => {
  const seen = new Set();
  for (let p = 0; p < 16; p++) {
    const first = await copyOf(p, 'turn 0');
    seen.add(first);
    for (let t = 1; t <= 4; t++) assert.equal(await copyOf(p, `turn ${t} ${'x'.repeat(t * 300)}`), first, `prefix ${p}, turn ${t}`);
  }
  // New prefixes go to the least loaded copy, ties at random: 16 of them
  // all on one copy would be a 1 in 32,768 chance.
  assert.equal(seen.size, 2, 'different prefixes use both copies');
});

test('at ConcurrencyThreshold the next request goes to the other copy, which keeps the prefix', STEP, async () => {
  const a = await copyOf('hot', 'warm up');
  // A slow streamed request of the same prefix: once its first part has
  // arrived it is in flight at copy a, which is then at the threshold (1).
  const s = await rt.send(new InvokeEndpointWithResponseStreamCommand({
    EndpointName: EP, InferenceComponentName: IC, ContentType: 'application/json',
    Body: body('hot', 'long answer', { stream: true, parameters: { max_new_tokens: 100 } }),
  }));
  const events = s.Body[Symbol.asyncIterator]();
  const firstPart = await events.next();
  assert.ok(!firstPart.done && firstPart.value.PayloadPart, 'the stream began');
  const b = await copyOf('hot', 'while busy');
  assert.notEqual(b, a, 'the prefix copy is at its threshold: the other copy serves');
  for (let ev = await events.next(); !ev.done; ev = await events.next());
  assert.equal(await copyOf('hot', 'afterwards'), b, 'the prefix now belongs to the copy that served it last');
});

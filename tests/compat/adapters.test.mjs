// Adapter (LoRA) inference components with the REAL AWS SDK for JavaScript
// v3 (@aws-sdk/client-sagemaker, @aws-sdk/client-sagemaker-runtime) against a
// local berthd (docs/models.md, "Adapters"): a base IC with one berth-model
// copy, an adapter IC whose ArtifactUrl is a directory this test writes, whose
// answers then come from the base's copy with the adapter's tag in them; the
// base answers as itself; the base cannot be deleted while the adapter exists;
// scaling the base to 2 carries the adapter to the new copy; a base with
// BERTH_ADAPTER_API=vllm gets it through vLLM's load route; a load the model
// server refuses makes the adapter Failed with the server's message; deleting
// the adapter, then the base, succeeds. Steps share one daemon and run in
// order; read the first failure.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  CreateEndpointCommand, CreateEndpointConfigCommand, CreateInferenceComponentCommand,
  DeleteInferenceComponentCommand, DescribeEndpointCommand, DescribeInferenceComponentCommand,
  SageMakerClient, UpdateInferenceComponentRuntimeConfigCommand,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';

import { modelContainer, rejection, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';

const STEP = { timeout: 120_000 };
const EP = 'lora-ep';
const BASE = 'lora-base';
const ADAPTER = 'lora-sql';
const BROKEN = 'lora-broken';
const VBASE = 'lora-vbase';
const VADAPTER = 'lora-v';

let berthd;
let sm;
let rt;
let dir;

before(async () => {
  berthd = await startBerthd();
  const { credentials } = berthd;
  sm = new SageMakerClient({ endpoint: berthd.controlUrl, region: 'us-east-1', credentials });
  rt = new SageMakerRuntimeClient({ endpoint: berthd.runtimeUrl, region: 'us-east-1', credentials });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-adapters-'));
  fs.mkdirSync(path.join(dir, 'sql'));
  fs.writeFileSync(path.join(dir, 'sql', 'berth-adapter.txt'), 'sql-v1\n');
  fs.writeFileSync(path.join(dir, 'sql', 'adapter_config.json'), '{"r": 8}\n');
  fs.mkdirSync(path.join(dir, 'broken'));
  fs.writeFileSync(path.join(dir, 'broken', 'berth-adapter.txt'), 'fail: rank 1024 exceeds max_lora_rank 64\n');
  fs.chmodSync(dir, 0o755);
});

after(async () => {
  sm?.destroy();
  rt?.destroy();
  await stopAll();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const describe = (name) => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: name }));

function waitStatus(name, status, until = () => true) {
  return waitFor(() => describe(name), {
    timeoutMs: 90_000, intervalMs: 300,
    what: `${name} ${status}`,
    until: (d) => d.InferenceComponentStatus === status && until(d),
    failIf: (d) => (d.InferenceComponentStatus === 'Failed' && status !== 'Failed'
      ? `Failed: ${d.FailureReason}` : null),
  });
}

async function call(ic, inputs = 'select the harbor') {
  const out = await rt.send(new InvokeEndpointCommand({
    EndpointName: EP, InferenceComponentName: ic, ContentType: 'application/json',
    Body: JSON.stringify({ inputs }),
  }));
  return JSON.parse(Buffer.from(out.Body).toString());
}

test('a base IC with one copy', STEP, async () => {
  await sm.send(new CreateEndpointConfigCommand({
    EndpointConfigName: `${EP}-config`,
    ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.m5.xlarge', InitialInstanceCount: 1 }],
  }));
  await sm.send(new CreateEndpointCommand({ EndpointName: EP, EndpointConfigName: `${EP}-config` }));
  await waitFor(() => sm.send(new DescribeEndpointCommand({ EndpointName: EP })), {
    timeoutMs: 60_000, intervalMs: 300, what: `${EP} InService`,
    until: (d) => d.EndpointStatus === 'InService',
  });
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: BASE, EndpointName: EP, VariantName: 'AllTraffic',
    Specification: {
      Container: modelContainer('base-model'),
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 256 },
    },
    RuntimeConfig: { CopyCount: 1 },
  }));
  await waitStatus(BASE, 'InService', (d) => d.RuntimeConfig?.CurrentCopyCount === 1);
});

test('adapter requests SageMaker refuses are refused, naming the field', STEP, async () => {
  const withResources = await rejection(sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: 'lora-bad', EndpointName: EP,
    Specification: {
      Container: { ArtifactUrl: path.join(dir, 'sql') }, BaseInferenceComponentName: BASE,
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 256 },
    },
  })), 'adapter with ComputeResourceRequirements');
  assert.equal(withResources.name, 'ValidationException');
  assert.match(withResources.message, /Specification\.ComputeResourceRequirements must be omitted/);
  const noBase = await rejection(sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: 'lora-bad', EndpointName: EP,
    Specification: { Container: { ArtifactUrl: path.join(dir, 'sql') }, BaseInferenceComponentName: 'nope' },
  })), 'adapter of a base that does not exist');
  assert.equal(noBase.name, 'ValidationException');
  assert.match(noBase.message, /Could not find inference component "nope"/);
  const noArtifact = await rejection(sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: 'lora-bad', EndpointName: EP,
    Specification: { Container: {}, BaseInferenceComponentName: BASE },
  })), 'adapter without ArtifactUrl');
  assert.equal(noArtifact.name, 'ValidationException');
  assert.match(noArtifact.message, /Specification\.Container\.ArtifactUrl/);
});

test('an adapter IC loads into the base copy and answers as the adapter', STEP, async () => {
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: ADAPTER, EndpointName: EP,
    Specification: { Container: { ArtifactUrl: path.join(dir, 'sql') }, BaseInferenceComponentName: BASE },
  }));
  const d = await waitStatus(ADAPTER, 'InService');
  assert.equal(d.Specification.BaseInferenceComponentName, BASE);
  assert.equal(d.VariantName, 'AllTraffic');
  const a = await call(ADAPTER);
  assert.equal(a.model_id, `${ADAPTER}:sql-v1:base-model`);
  assert.equal(a.adapter_loaded_by, '/adapters');
  const b = await call(BASE);
  assert.equal(b.model_id, 'base-model');
  assert.equal(a.copy_id, b.copy_id, 'the adapter is served by the base copy');
  assert.notEqual(a.generated_text, b.generated_text, 'the adapter changes the answer');
});

test('the base cannot be deleted while its adapter exists', STEP, async () => {
  const err = await rejection(sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: BASE })),
    'DeleteInferenceComponent of a base with an adapter');
  assert.equal(err.name, 'ValidationException');
  assert.match(err.message, new RegExp(`base of 1 adapter inference component \\("${ADAPTER}"\\)`));
  assert.equal((await describe(BASE)).InferenceComponentStatus, 'InService');
});

test('scaling the base to 2 copies carries the adapter to the new copy', STEP, async () => {
  await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({
    InferenceComponentName: BASE, DesiredRuntimeConfig: { CopyCount: 2 },
  }));
  await waitStatus(BASE, 'InService', (d) => d.RuntimeConfig?.CurrentCopyCount === 2);
  const seen = new Set();
  await waitFor(async () => {
    const a = await call(ADAPTER, `request ${seen.size} ${Date.now()}`);
    assert.match(a.model_id, new RegExp(`^${ADAPTER}:sql-v1:`));
    seen.add(a.copy_id);
    return seen;
  }, { timeoutMs: 60_000, intervalMs: 50, what: 'both base copies answering for the adapter', until: (s) => s.size === 2 });
});

test('a base with BERTH_ADAPTER_API=vllm loads through vLLM\'s routes', STEP, async () => {
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: VBASE, EndpointName: EP, VariantName: 'AllTraffic',
    Specification: {
      Container: modelContainer('vllm-model', { BERTH_ADAPTER_API: 'vllm' }),
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 256 },
    },
    RuntimeConfig: { CopyCount: 1 },
  }));
  await waitStatus(VBASE, 'InService', (d) => d.RuntimeConfig?.CurrentCopyCount === 1);
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: VADAPTER, EndpointName: EP,
    Specification: { Container: { ArtifactUrl: path.join(dir, 'sql') }, BaseInferenceComponentName: VBASE },
  }));
  await waitStatus(VADAPTER, 'InService');
  const a = await call(VADAPTER);
  assert.equal(a.model_id, `${VADAPTER}:sql-v1:vllm-model`);
  assert.equal(a.adapter_loaded_by, '/v1/load_lora_adapter');
  // Each adapter is served only by copies of its own base.
  assert.match((await call(ADAPTER)).model_id, /:base-model$/);
});

test('a load the model server refuses makes the adapter Failed with its message', STEP, async () => {
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: BROKEN, EndpointName: EP,
    Specification: { Container: { ArtifactUrl: path.join(dir, 'broken') }, BaseInferenceComponentName: BASE },
  }));
  const d = await waitStatus(BROKEN, 'Failed');
  assert.match(d.FailureReason, /answered 422: .*rank 1024 exceeds max_lora_rank 64/);
  await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: BROKEN }));
});

/** Whether Describe says name does not exist (any other error stops the wait). */
async function gone(name) {
  try {
    await describe(name);
    return false;
  } catch (err) {
    if (/Could not find/.test(err.message)) return true;
    throw err;
  }
}

test('deleting the adapter, then the base, succeeds', STEP, async () => {
  await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: ADAPTER }));
  await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: VADAPTER }));
  for (const name of [ADAPTER, BROKEN, VADAPTER])
    await waitFor(() => gone(name), { timeoutMs: 60_000, intervalMs: 300, what: `${name} gone` });
  // The router hears of the deletion through its snapshot, soon after.
  await waitFor(() => call(ADAPTER).then(() => null, (err) => err.message), {
    timeoutMs: 10_000, intervalMs: 100, what: 'invoking the deleted adapter to be refused',
    until: (m) => m !== null && /not found/.test(m),
  });
  assert.equal((await call(BASE)).model_id, 'base-model', 'the base still answers as itself');
  await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: BASE }));
  await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: VBASE }));
  for (const name of [BASE, VBASE])
    await waitFor(() => gone(name), { timeoutMs: 60_000, intervalMs: 300, what: `${name} gone` });
});

// Compatibility walkthrough with the REAL AWS SDK for JavaScript v3
// (@aws-sdk/client-sagemaker, @aws-sdk/client-sagemaker-runtime) pointed at a
// local berthd: the life of an endpoint with two inference components, as a
// SageMaker user would drive it.  The steps share one daemon and run in order;
// a failed step makes the later ones fail too, so read the first failure.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CreateEndpointCommand, CreateEndpointConfigCommand, CreateInferenceComponentCommand,
  DeleteEndpointCommand, DeleteEndpointConfigCommand, DeleteInferenceComponentCommand,
  DescribeEndpointCommand, DescribeEndpointConfigCommand, DescribeInferenceComponentCommand,
  ListInferenceComponentsCommand, SageMakerClient, UpdateInferenceComponentRuntimeConfigCommand,
} from '@aws-sdk/client-sagemaker';
import {
  InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand, SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';

import { modelContainer, rejection, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';

const STEP = { timeout: 240_000 };
const EP = 'walk-ep';
const EPC = 'walk-ep-config';
const ICS = { 'ic-eu': 'eu', 'ic-us': 'us' }; // IC name -> BERTH_MODEL_ID

let berthd;
let sm;
let rt;

before(async () => {
  berthd = await startBerthd();
  // The SDKs find the admin key themselves, the AWS way: the shared
  // credentials file berthd wrote at first start (no credentials in code).
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  delete process.env.AWS_PROFILE;
  process.env.AWS_SHARED_CREDENTIALS_FILE = `${berthd.dataDir}/credentials`;
  sm = new SageMakerClient({ endpoint: berthd.controlUrl, region: 'us-east-1' });
  rt = new SageMakerRuntimeClient({ endpoint: berthd.runtimeUrl, region: 'us-east-1' });
});

after(async () => {
  sm?.destroy();
  rt?.destroy();
  await stopAll();
});

function decode(body) {
  return JSON.parse(Buffer.from(body).toString('utf8'));
}

function describeIc(name) {
  return sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: name }));
}

function waitIc(name, copies) {
  return waitFor(() => describeIc(name), {
    timeoutMs: 180_000, intervalMs: 500,
    what: `${name} InService with CurrentCopyCount ${copies}`,
    until: (d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === copies,
    failIf: (d) => (d.InferenceComponentStatus === 'Failed' ? `Failed: ${d.FailureReason}` : null),
  });
}

test('CreateEndpointConfig with managed instance scaling and routing config', STEP, async () => {
  const out = await sm.send(new CreateEndpointConfigCommand({
    EndpointConfigName: EPC,
    ProductionVariants: [{
      VariantName: 'AllTraffic',
      InstanceType: 'ml.m5.xlarge',
      InitialInstanceCount: 1,
      ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 1, MaxInstanceCount: 2 },
      RoutingConfig: { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' },
    }],
    Tags: [{ Key: 'team', Value: 'ml' }],
  }));
  assert.equal(out.$metadata.httpStatusCode, 200);
  assert.match(out.EndpointConfigArn ?? '', /^arn:aws:sagemaker:[^:]*:\d*:endpoint-config\/walk-ep-config$/i,
    `EndpointConfigArn: ${out.EndpointConfigArn}`);
});

test('DescribeEndpointConfig round-trips the fields', STEP, async () => {
  const d = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: EPC }));
  assert.equal(d.EndpointConfigName, EPC);
  assert.ok(d.CreationTime instanceof Date && !Number.isNaN(d.CreationTime.getTime()), `CreationTime: ${d.CreationTime}`);
  assert.ok(Math.abs(Date.now() - d.CreationTime.getTime()) < 10 * 60_000, `CreationTime not recent: ${d.CreationTime.toISOString()}`);
  assert.equal(d.ProductionVariants?.length, 1, JSON.stringify(d.ProductionVariants));
  const v = d.ProductionVariants[0];
  assert.equal(v.VariantName, 'AllTraffic');
  assert.equal(v.InstanceType, 'ml.m5.xlarge');
  assert.equal(v.InitialInstanceCount, 1);
  assert.deepEqual(
    { Status: v.ManagedInstanceScaling?.Status, MinInstanceCount: v.ManagedInstanceScaling?.MinInstanceCount, MaxInstanceCount: v.ManagedInstanceScaling?.MaxInstanceCount },
    { Status: 'ENABLED', MinInstanceCount: 1, MaxInstanceCount: 2 });
  assert.equal(v.RoutingConfig?.RoutingStrategy, 'LEAST_OUTSTANDING_REQUESTS');
});

test('CreateEndpoint and wait for InService', STEP, async () => {
  const out = await sm.send(new CreateEndpointCommand({ EndpointName: EP, EndpointConfigName: EPC }));
  assert.match(out.EndpointArn ?? '', /:endpoint\/walk-ep$/i, `EndpointArn: ${out.EndpointArn}`);
  const first = await sm.send(new DescribeEndpointCommand({ EndpointName: EP }));
  assert.ok(['Creating', 'InService'].includes(first.EndpointStatus), `status right after create: ${first.EndpointStatus}`);
  const d = await waitFor(() => sm.send(new DescribeEndpointCommand({ EndpointName: EP })), {
    timeoutMs: 180_000, intervalMs: 500, what: `${EP} InService`,
    until: (x) => x.EndpointStatus === 'InService',
    failIf: (x) => (x.EndpointStatus === 'Failed' ? `Failed: ${x.FailureReason}` : null),
  });
  assert.equal(d.EndpointName, EP);
  assert.equal(d.EndpointConfigName, EPC);
  assert.ok(d.CreationTime instanceof Date, `CreationTime: ${d.CreationTime}`);
  assert.ok(d.LastModifiedTime instanceof Date, `LastModifiedTime: ${d.LastModifiedTime}`);
});

test('two inference components eu and us come InService', STEP, async () => {
  for (const [name, modelId] of Object.entries(ICS)) {
    const out = await sm.send(new CreateInferenceComponentCommand({
      InferenceComponentName: name,
      EndpointName: EP,
      VariantName: 'AllTraffic',
      Specification: {
        Container: modelContainer(modelId),
        ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 256 },
      },
      RuntimeConfig: { CopyCount: 1 },
    }));
    assert.match(out.InferenceComponentArn ?? '', new RegExp(`:inference-component/${name}$`, 'i'),
      `InferenceComponentArn: ${out.InferenceComponentArn}`);
  }
  for (const [name, modelId] of Object.entries(ICS)) {
    const d = await waitIc(name, 1);
    assert.equal(d.EndpointName, EP);
    assert.equal(d.VariantName, 'AllTraffic');
    assert.equal(d.RuntimeConfig.DesiredCopyCount, 1);
    assert.equal(d.Specification?.Container?.Environment?.BERTH_MODEL_ID, modelId,
      `Specification: ${JSON.stringify(d.Specification)}`);
    assert.equal(d.Specification?.ComputeResourceRequirements?.NumberOfCpuCoresRequired, 1);
    assert.equal(d.Specification?.ComputeResourceRequirements?.MinMemoryRequiredInMb, 256);
  }
});

test('ListInferenceComponents pages one at a time, sorted by name', STEP, async () => {
  const names = [];
  let token;
  let pages = 0;
  do {
    const page = await sm.send(new ListInferenceComponentsCommand({
      EndpointNameEquals: EP, SortBy: 'Name', SortOrder: 'Ascending', MaxResults: 1, NextToken: token,
    }));
    pages += 1;
    assert.ok(Array.isArray(page.InferenceComponents), `page ${pages}: ${JSON.stringify(page)}`);
    assert.ok(page.InferenceComponents.length <= 1, `MaxResults 1 but got ${page.InferenceComponents.length}`);
    for (const s of page.InferenceComponents) {
      assert.equal(s.EndpointName, EP);
      assert.ok(s.CreationTime instanceof Date, `summary CreationTime: ${s.CreationTime}`);
      assert.ok(s.InferenceComponentArn, 'summary has InferenceComponentArn');
      names.push(s.InferenceComponentName);
    }
    token = page.NextToken;
    assert.ok(pages <= 4, `still a NextToken after ${pages} pages: ${JSON.stringify(names)}`);
  } while (token);
  assert.deepEqual(names, ['ic-eu', 'ic-us']);
  assert.ok(pages >= 2, `two ICs with MaxResults 1 must take at least two pages, took ${pages}`);

  const desc = await sm.send(new ListInferenceComponentsCommand({
    EndpointNameEquals: EP, SortBy: 'Name', SortOrder: 'Descending',
  }));
  assert.deepEqual(desc.InferenceComponents.map((s) => s.InferenceComponentName), ['ic-us', 'ic-eu']);
  const none = await sm.send(new ListInferenceComponentsCommand({ EndpointNameEquals: 'no-such-endpoint' }));
  assert.deepEqual(none.InferenceComponents, []);
});

test('InvokeEndpoint reaches the named inference component', STEP, async () => {
  for (const [name, modelId] of Object.entries(ICS)) {
    const out = await rt.send(new InvokeEndpointCommand({
      EndpointName: EP,
      InferenceComponentName: name,
      ContentType: 'application/json',
      Accept: 'application/json',
      CustomAttributes: `trace=${name};c000`,
      Body: JSON.stringify({ inputs: 'hello', parameters: { max_new_tokens: 4 } }),
    }));
    const answer = decode(out.Body);
    assert.equal(answer.model_id, modelId, `answer of ${name}: ${JSON.stringify(answer)}`);
    assert.equal(typeof answer.generated_text, 'string');
    assert.ok(answer.copy_id, `copy_id in ${JSON.stringify(answer)}`);
    assert.match(out.ContentType ?? '', /^application\/json/, `ContentType: ${out.ContentType}`);
    assert.equal(out.CustomAttributes, `trace=${name};c000`);
    assert.equal(out.InvokedProductionVariant, 'AllTraffic');
  }
});

test('InvokeEndpointWithResponseStream yields the model output as PayloadParts', STEP, async () => {
  const out = await rt.send(new InvokeEndpointWithResponseStreamCommand({
    EndpointName: EP,
    InferenceComponentName: 'ic-eu',
    ContentType: 'application/json',
    Body: JSON.stringify({ inputs: 'hello', stream: true, parameters: { max_new_tokens: 4 } }),
  }));
  let parts = 0;
  let text = '';
  for await (const ev of out.Body) {
    assert.ok(!ev.ModelStreamError && !ev.InternalStreamFailure, `stream error event: ${JSON.stringify(ev)}`);
    if (ev.PayloadPart?.Bytes) {
      parts += 1;
      text += Buffer.from(ev.PayloadPart.Bytes).toString('utf8');
    }
  }
  assert.ok(parts >= 1, 'at least one PayloadPart');
  assert.ok(text.length > 0, 'streamed bytes');
  assert.equal(out.InvokedProductionVariant, 'AllTraffic');
});

test('UpdateInferenceComponentRuntimeConfig to 2 copies spreads requests over both', STEP, async () => {
  const out = await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({
    InferenceComponentName: 'ic-eu', DesiredRuntimeConfig: { CopyCount: 2 },
  }));
  assert.match(out.InferenceComponentArn ?? '', /inference-component\/ic-eu$/i);
  const d = await waitIc('ic-eu', 2);
  assert.equal(d.RuntimeConfig.DesiredCopyCount, 2);

  // Concurrent batches so that least-outstanding-requests has a reason to use
  // both copies; bounded number of attempts.
  const seen = new Set();
  for (let batch = 0; batch < 25 && seen.size < 2; batch += 1) {
    const answers = await Promise.all(Array.from({ length: 6 }, () => rt.send(new InvokeEndpointCommand({
      EndpointName: EP, InferenceComponentName: 'ic-eu', ContentType: 'application/json',
      Body: JSON.stringify({ inputs: 'hello', parameters: { max_new_tokens: 4 } }),
    }))));
    for (const a of answers) {
      const j = decode(a.Body);
      assert.equal(j.model_id, 'eu');
      seen.add(j.copy_id);
    }
  }
  assert.equal(seen.size, 2, `distinct copy_ids seen in 150 invocations: ${JSON.stringify([...seen])}`);
});

test('a bad name surfaces as ValidationException through the SDK', STEP, async () => {
  const err = await rejection(sm.send(new CreateEndpointConfigCommand({
    EndpointConfigName: 'bad_name!',
    ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.m5.xlarge', InitialInstanceCount: 1 }],
  })), 'CreateEndpointConfig bad_name!');
  assert.equal(err.name, 'ValidationException', `${err.name}: ${err.message}`);
  assert.equal(err.$metadata?.httpStatusCode, 400);
  assert.match(err.message, /EndpointConfigName/i);
  assert.match(err.message, /bad_name!/);
});

test('Describe of a missing endpoint and IC is a ValidationException', STEP, async () => {
  let err = await rejection(sm.send(new DescribeEndpointCommand({ EndpointName: 'nope' })), 'DescribeEndpoint nope');
  assert.equal(err.name, 'ValidationException', `${err.name}: ${err.message}`);
  assert.match(err.message, /Could not find endpoint/);
  err = await rejection(describeIc('nope'), 'DescribeInferenceComponent nope');
  assert.equal(err.name, 'ValidationException', `${err.name}: ${err.message}`);
  assert.match(err.message, /Could not find inference component/);
});

test('invoking an unknown inference component is a ValidationError', STEP, async () => {
  const err = await rejection(rt.send(new InvokeEndpointCommand({
    EndpointName: EP, InferenceComponentName: 'no-such-ic', ContentType: 'application/json',
    Body: JSON.stringify({ inputs: 'hello' }),
  })), 'InvokeEndpoint no-such-ic');
  assert.equal(err.name, 'ValidationError', `${err.name}: ${err.message}`);
  assert.equal(err.$metadata?.httpStatusCode, 400);
});

test('DeleteEndpoint while inference components exist is ResourceInUse', STEP, async () => {
  const err = await rejection(sm.send(new DeleteEndpointCommand({ EndpointName: EP })), 'DeleteEndpoint with ICs');
  assert.equal(err.name, 'ResourceInUse', `${err.name}: ${err.message}`);
  assert.equal(err.$metadata?.httpStatusCode, 400);
  assert.match(err.message, /ic-eu/);
  assert.match(err.message, /ic-us/);
  const d = await sm.send(new DescribeEndpointCommand({ EndpointName: EP }));
  assert.equal(d.EndpointStatus, 'InService', 'the refused delete left the endpoint alone');
});

test('delete everything, then it is gone', STEP, async () => {
  for (const name of Object.keys(ICS)) {
    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: name }));
  }
  for (const name of Object.keys(ICS)) {
    const err = await waitFor(() => describeIc(name).then(
      (d) => ({ status: d.InferenceComponentStatus }), (e) => e), {
      timeoutMs: 120_000, intervalMs: 500, what: `${name} to be deleted`,
      until: (v) => v instanceof Error,
      failIf: (v) => (v.status && !['Deleting', 'InService', 'Updating', 'Creating'].includes(v.status)
        ? `unexpected status while deleting: ${v.status}` : null),
    });
    assert.equal(err.name, 'ValidationException', `${err.name}: ${err.message}`);
    assert.match(err.message, /Could not find inference component/);
  }
  await sm.send(new DeleteEndpointCommand({ EndpointName: EP }));
  const gone = await waitFor(() => sm.send(new DescribeEndpointCommand({ EndpointName: EP })).then(
    (d) => ({ status: d.EndpointStatus }), (e) => e), {
    timeoutMs: 120_000, intervalMs: 500, what: `${EP} to be deleted`,
    until: (v) => v instanceof Error,
    failIf: (v) => (v.status && v.status !== 'Deleting' && v.status !== 'InService'
      ? `unexpected status while deleting: ${v.status}` : null),
  });
  assert.equal(gone.name, 'ValidationException', `${gone.name}: ${gone.message}`);
  assert.match(gone.message, /Could not find endpoint/);

  await sm.send(new DeleteEndpointConfigCommand({ EndpointConfigName: EPC }));
  const err = await rejection(sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: EPC })), 'DescribeEndpointConfig after delete');
  assert.equal(err.name, 'ValidationException', `${err.name}: ${err.message}`);
  await rejection(sm.send(new DescribeEndpointCommand({ EndpointName: EP })), 'DescribeEndpoint after delete');
});

// Tags, validation fidelity and ModelName inference components with the REAL
// AWS SDK (@aws-sdk/client-sagemaker, client-sagemaker-runtime) against a
// local berthd:
//  - AddTags / ListTags / DeleteTags on each ARN kind Berth creates (endpoint
//    config, endpoint, inference component, model), the limits (50 tags,
//    "aws:" keys, MaxResults) and the unknown-ARN error; tags survive a
//    restart;
//  - one invalid request per rule family of the service model, each a
//    ValidationException (err.name) whose message names the field;
//  - CreateModel, an IC naming it (Specification.ModelName) that gets copies
//    and answers with the Model's BERTH_MODEL_ID; DeleteModel while the IC
//    uses it (allowed, as on SageMaker: the IC keeps serving and scaling).
// Steps share one daemon and run in order; read the first failure.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  AddTagsCommand, CreateEndpointCommand, CreateEndpointConfigCommand,
  CreateInferenceComponentCommand, CreateModelCommand, DeleteModelCommand, DeleteTagsCommand,
  DescribeEndpointCommand, DescribeInferenceComponentCommand, DescribeModelCommand,
  ListTagsCommand, SageMakerClient, UpdateInferenceComponentRuntimeConfigCommand,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';

import { modelContainer, rejection, startBerthd, stopAll, TEST_TAG, waitFor } from '../lib/berthd.mjs';

const STEP = { timeout: 120_000 };
const EP = 'tagf-ep';
const EPC = 'tagf-ep-config';
const MODEL = 'tagf-model';
const IC = 'tagf-ic';
const ARN_PREFIX = 'arn:aws:sagemaker:us-east-1:';

let b;
let sm;
let rt;
const arns = {};

function clients() {
  sm?.destroy();
  rt?.destroy();
  sm = new SageMakerClient(b.sdk());
  rt = new SageMakerRuntimeClient(b.sdk(b.runtimeUrl));
}

before(async () => {
  b = await startBerthd();
  clients();
});

after(async () => {
  sm?.destroy();
  rt?.destroy();
  await stopAll();
});

const describeIc = () => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: IC }));

function waitIc(copies) {
  return waitFor(describeIc, {
    timeoutMs: 90_000, intervalMs: 300, what: `${IC} InService with ${copies} copies`,
    until: (d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === copies,
    failIf: (d) => (d.InferenceComponentStatus === 'Failed' ? `Failed: ${d.FailureReason}` : null),
  });
}

async function invokeModelId() {
  const out = await rt.send(new InvokeEndpointCommand({
    EndpointName: EP, InferenceComponentName: IC, ContentType: 'application/json',
    Body: JSON.stringify({ inputs: 'hi', parameters: { max_new_tokens: 2 } }),
  }));
  return JSON.parse(Buffer.from(out.Body).toString('utf8'));
}

const crr = { NumberOfCpuCoresRequired: 0.5, MinMemoryRequiredInMb: 256 };

test('set up: a tagged config, endpoint and Model, and an IC naming the Model', STEP, async () => {
  const cfg = await sm.send(new CreateEndpointConfigCommand({
    EndpointConfigName: EPC,
    ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.m5.xlarge', InitialInstanceCount: 1,
      InitialVariantWeight: 1, RoutingConfig: { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' } }],
    ExecutionRoleArn: 'arn:aws:iam::123456789012:role/SageMakerRole',
    Tags: [{ Key: 'team', Value: 'ml' }],
  }));
  arns.config = cfg.EndpointConfigArn;
  const ep = await sm.send(new CreateEndpointCommand({ EndpointName: EP, EndpointConfigName: EPC,
    Tags: [{ Key: 'stage', Value: 'test' }] }));
  arns.endpoint = ep.EndpointArn;
  const m = await sm.send(new CreateModelCommand({
    ModelName: MODEL,
    PrimaryContainer: { Image: 'berth-model', Environment: { BERTH_MODEL_ID: 'from-model', BERTH_TEST_TAG: TEST_TAG } },
    ExecutionRoleArn: 'arn:aws:iam::123456789012:role/SageMakerRole',
    Tags: [{ Key: 'owner', Value: 'alice@example.com' }],
  }));
  arns.model = m.ModelArn;
  await waitFor(() => sm.send(new DescribeEndpointCommand({ EndpointName: EP })), {
    timeoutMs: 60_000, intervalMs: 300, what: `${EP} InService`,
    until: (x) => x.EndpointStatus === 'InService',
    failIf: (x) => (x.EndpointStatus === 'Failed' ? `Failed: ${x.FailureReason}` : null),
  });
  const ic = await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: IC, EndpointName: EP, VariantName: 'AllTraffic',
    Specification: { ModelName: MODEL, ComputeResourceRequirements: crr },
    RuntimeConfig: { CopyCount: 1 },
    Tags: [{ Key: 'app', Value: 'chat' }],
  }));
  arns.ic = ic.InferenceComponentArn;
  for (const a of Object.values(arns)) assert.ok(a.startsWith(ARN_PREFIX), a);
});

test('a ModelName IC gets copies and answers with the Model\'s Environment', STEP, async () => {
  const d = await waitIc(1);
  assert.equal(d.Specification?.ModelName, MODEL);
  assert.equal(d.EndpointArn, arns.endpoint);
  assert.equal(d.RuntimeConfig.DesiredCopyCount, 1);
  const answer = await invokeModelId();
  assert.equal(answer.model_id, 'from-model', JSON.stringify(answer));
});

test('DescribeEndpoint returns the variant fields SageMaker returns', STEP, async () => {
  const d = await sm.send(new DescribeEndpointCommand({ EndpointName: EP }));
  assert.equal(d.EndpointArn, arns.endpoint);
  const pv = d.ProductionVariants?.[0];
  assert.equal(pv?.VariantName, 'AllTraffic', JSON.stringify(d.ProductionVariants));
  assert.equal(pv.CurrentInstanceCount, 1);
  assert.equal(pv.DesiredInstanceCount, 1);
  assert.equal(pv.CurrentWeight, 1);
  assert.deepEqual(pv.RoutingConfig, { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' });
  assert.deepEqual(pv.VariantStatus, []);
  assert.equal(pv.DeployedImages?.[0]?.SpecifiedImage, 'berth-model', JSON.stringify(pv.DeployedImages));
  assert.ok(pv.DeployedImages[0].ResolutionTime instanceof Date);
});

test('tags round-trip on each ARN kind: list, add (merge), delete', STEP, async () => {
  const first = { config: ['team', 'ml'], endpoint: ['stage', 'test'], model: ['owner', 'alice@example.com'], ic: ['app', 'chat'] };
  for (const [kind, arn] of Object.entries(arns)) {
    let l = await sm.send(new ListTagsCommand({ ResourceArn: arn }));
    assert.deepEqual(l.Tags, [{ Key: first[kind][0], Value: first[kind][1] }], `${kind}: ${JSON.stringify(l.Tags)}`);
    const added = await sm.send(new AddTagsCommand({ ResourceArn: arn, Tags: [
      { Key: first[kind][0], Value: 'v2' }, { Key: 'cost center', Value: 'a-1:b/c=d+e@f.g' }, { Key: 'empty', Value: '' }] }));
    assert.equal(added.Tags?.length, 3, JSON.stringify(added));
    l = await sm.send(new ListTagsCommand({ ResourceArn: arn, MaxResults: 50 }));
    const map = Object.fromEntries(l.Tags.map((t) => [t.Key, t.Value]));
    assert.deepEqual(map, { [first[kind][0]]: 'v2', 'cost center': 'a-1:b/c=d+e@f.g', empty: '' }, kind);
    assert.equal(l.NextToken, undefined);
    await sm.send(new DeleteTagsCommand({ ResourceArn: arn, TagKeys: ['empty', 'not-there'] }));
    l = await sm.send(new ListTagsCommand({ ResourceArn: arn }));
    assert.deepEqual(l.Tags.map((t) => t.Key).sort(), ['cost center', first[kind][0]].sort(), kind);
  }
  // Tags are not part of Describe answers, and tagging a config leaves the endpoint as it was.
  const d = await sm.send(new DescribeEndpointCommand({ EndpointName: EP }));
  assert.equal(d.Tags, undefined);
});

test('tag limits: 50 per resource, aws: keys, unknown ARNs', STEP, async () => {
  const arn = arns.ic;
  const many = Array.from({ length: 48 }, (_, i) => ({ Key: `k${i}`, Value: `${i}` }));
  await sm.send(new AddTagsCommand({ ResourceArn: arn, Tags: many })); // 2 + 48 = 50
  let l = await sm.send(new ListTagsCommand({ ResourceArn: arn, MaxResults: 100 }));
  assert.equal(l.Tags.length, 50);
  let err = await rejection(sm.send(new AddTagsCommand({ ResourceArn: arn, Tags: [{ Key: 'one-more', Value: 'x' }] })), '51st tag');
  assert.equal(err.name, 'ValidationException', err.message);
  assert.match(err.message, /at most 50/);
  await sm.send(new DeleteTagsCommand({ ResourceArn: arn, TagKeys: many.map((t) => t.Key) }));
  l = await sm.send(new ListTagsCommand({ ResourceArn: arn }));
  assert.equal(l.Tags.length, 2);

  err = await rejection(sm.send(new ListTagsCommand({ ResourceArn: `${ARN_PREFIX}${arn.split(':')[4]}:endpoint/no-such-ep` })), 'unknown ARN');
  assert.equal(err.name, 'ValidationException', err.message);
  assert.match(err.message, /Could not find endpoint .*no-such-ep/);
  err = await rejection(sm.send(new AddTagsCommand({ ResourceArn: `${ARN_PREFIX}${arn.split(':')[4]}:training-job/x`,
    Tags: [{ Key: 'a', Value: 'b' }] })), 'untaggable kind');
  assert.equal(err.name, 'ValidationException', err.message);
  assert.match(err.message, /ResourceArn/);
  // ARNs are matched without case (SageMaker writes names in lower case).
  l = await sm.send(new ListTagsCommand({ ResourceArn: arns.ic.toUpperCase().replace(/^ARN:AWS:SAGEMAKER:US-EAST-1:/, ARN_PREFIX).replace('INFERENCE-COMPONENT', 'inference-component') }));
  assert.equal(l.Tags.length, 2);
});

// [what, operation, input, field the message must name]
const cfg = (over = {}, pv = {}) => ({
  EndpointConfigName: 'bad-cfg',
  ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.m5.xlarge', InitialInstanceCount: 1, ...pv }],
  ...over,
});
const mis = (over) => ({ ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 1, MaxInstanceCount: 2, ...over } });
const model = (over = {}, pc = {}) => ({ ModelName: 'bad-model', PrimaryContainer: { Image: 'berth-model', ...pc }, ...over });
const icReq = (spec = {}, over = {}) => ({
  InferenceComponentName: 'bad-ic', EndpointName: EP, VariantName: 'AllTraffic',
  Specification: { Container: modelContainer('x'), ComputeResourceRequirements: crr, ...spec },
  RuntimeConfig: { CopyCount: 1 }, ...over,
});
const icCrr = (c) => icReq({ ComputeResourceRequirements: { ...crr, ...c } });
const tags = (list) => cfg({ Tags: list });
const BAD = [
  ['EndpointConfigName pattern', CreateEndpointConfigCommand, cfg({ EndpointConfigName: '-x' }), 'EndpointConfigName'],
  ['EndpointConfigName length', CreateEndpointConfigCommand, cfg({ EndpointConfigName: 'a'.repeat(64) }), 'EndpointConfigName'],
  ['ProductionVariants empty', CreateEndpointConfigCommand, cfg({ ProductionVariants: [] }), 'ProductionVariants'],
  ['ProductionVariants over 10', CreateEndpointConfigCommand, cfg({ ProductionVariants: Array.from({ length: 11 }, (_, i) => ({ VariantName: `v${i}`, InstanceType: 'ml.m5.xlarge', InitialInstanceCount: 1 })) }), 'ProductionVariants'],
  ['VariantName pattern', CreateEndpointConfigCommand, cfg({}, { VariantName: 'a_b' }), 'VariantName'],
  ['InstanceType not in the enum', CreateEndpointConfigCommand, cfg({}, { InstanceType: 'ml.bogus.huge' }), 'InstanceType'],
  ['InstanceType in the enum, not in the catalog', CreateEndpointConfigCommand, cfg({}, { InstanceType: 'ml.r5.large' }), 'InstanceType'],
  ['InitialInstanceCount 0', CreateEndpointConfigCommand, cfg({}, { InitialInstanceCount: 0 }), 'InitialInstanceCount'],
  ['VolumeSizeInGB 513', CreateEndpointConfigCommand, cfg({}, { VolumeSizeInGB: 513 }), 'VolumeSizeInGB'],
  ['ModelDataDownloadTimeoutInSeconds 59', CreateEndpointConfigCommand, cfg({}, { ModelDataDownloadTimeoutInSeconds: 59 }), 'ModelDataDownloadTimeoutInSeconds'],
  ['ContainerStartupHealthCheckTimeoutInSeconds 3601', CreateEndpointConfigCommand, cfg({}, { ContainerStartupHealthCheckTimeoutInSeconds: 3601 }), 'ContainerStartupHealthCheckTimeoutInSeconds'],
  ['VariantInstanceProvisionTimeoutInSeconds 299', CreateEndpointConfigCommand, cfg({}, { VariantInstanceProvisionTimeoutInSeconds: 299 }), 'VariantInstanceProvisionTimeoutInSeconds'],
  ['RoutingStrategy enum', CreateEndpointConfigCommand, cfg({}, { RoutingConfig: { RoutingStrategy: 'FASTEST' } }), 'RoutingStrategy'],
  ['ManagedInstanceScaling.Status enum', CreateEndpointConfigCommand, cfg({}, mis({ Status: 'MAYBE' })), 'Status'],
  ['MaxInstanceCount 0', CreateEndpointConfigCommand, cfg({}, mis({ MinInstanceCount: 0, MaxInstanceCount: 0 })), 'MaxInstanceCount'],
  ['ScaleInPolicy.Strategy enum', CreateEndpointConfigCommand, cfg({}, mis({ ScaleInPolicy: { Strategy: 'SOMETIMES' } })), 'Strategy'],
  ['ScaleInPolicy.Strategy required', CreateEndpointConfigCommand, cfg({}, mis({ ScaleInPolicy: { MaximumStepSize: 1 } })), 'Strategy'],
  ['ScaleInPolicy.CooldownInMinutes 4', CreateEndpointConfigCommand, cfg({}, mis({ ScaleInPolicy: { Strategy: 'IDLE_RELEASE', CooldownInMinutes: 4 } })), 'CooldownInMinutes'],
  ['ExecutionRoleArn pattern', CreateEndpointConfigCommand, cfg({ ExecutionRoleArn: 'arn:aws:iam::123:user/nobody' }), 'ExecutionRoleArn'],
  ['KmsKeyId pattern', CreateEndpointConfigCommand, cfg({ KmsKeyId: 'my key!' }), 'KmsKeyId'],
  ['Tags over 50', CreateEndpointConfigCommand, tags(Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }))), 'Tags'],
  ['Tag key aws:', CreateEndpointConfigCommand, tags([{ Key: 'aws:owner', Value: 'v' }]), 'Key'],
  ['Tag key empty', CreateEndpointConfigCommand, tags([{ Key: '', Value: 'v' }]), 'Key'],
  ['Tag key 129 chars', CreateEndpointConfigCommand, tags([{ Key: 'k'.repeat(129), Value: 'v' }]), 'Key'],
  ['Tag value pattern', CreateEndpointConfigCommand, tags([{ Key: 'k', Value: 'a#b' }]), 'Value'],
  ['Tag value 257 chars', CreateEndpointConfigCommand, tags([{ Key: 'k', Value: 'v'.repeat(257) }]), 'Value'],
  ['EndpointName pattern', CreateEndpointCommand, { EndpointName: 'ep-', EndpointConfigName: EPC }, 'EndpointName'],
  ['CreateEndpoint Tags', CreateEndpointCommand, { EndpointName: 'ep-x', EndpointConfigName: EPC, Tags: [{ Key: 'aws:x', Value: 'y' }] }, 'Key'],
  ['ModelName pattern', CreateModelCommand, model({ ModelName: 'm_1' }), 'ModelName'],
  ['ModelDataUrl pattern', CreateModelCommand, model({}, { ModelDataUrl: 'ftp://host/model.tar.gz' }), 'ModelDataUrl'],
  ['Environment key pattern', CreateModelCommand, model({}, { Environment: { '1BAD': 'x' } }), 'Environment'],
  ['Environment value length', CreateModelCommand, model({}, { Environment: { A: 'x'.repeat(1025) } }), 'Environment'],
  ['Environment over 100 entries', CreateModelCommand, model({}, { Environment: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`V${i}`, 'x'])) }), 'Environment'],
  ['CreateModel ExecutionRoleArn', CreateModelCommand, model({ ExecutionRoleArn: 'role/x' }), 'ExecutionRoleArn'],
  ['PrimaryContainer.Mode enum', CreateModelCommand, model({}, { Mode: 'ManyModel' }), 'Mode'],
  ['InferenceComponentName pattern', CreateInferenceComponentCommand, icReq({}, { InferenceComponentName: 'ic.1' }), 'InferenceComponentName'],
  ['NumberOfCpuCoresRequired 0.1', CreateInferenceComponentCommand, icCrr({ NumberOfCpuCoresRequired: 0.1 }), 'NumberOfCpuCoresRequired'],
  ['MinMemoryRequiredInMb 127', CreateInferenceComponentCommand, icCrr({ MinMemoryRequiredInMb: 127 }), 'MinMemoryRequiredInMb'],
  ['MaxMemoryRequiredInMb 100', CreateInferenceComponentCommand, icCrr({ MaxMemoryRequiredInMb: 100 }), 'MaxMemoryRequiredInMb'],
  ['MinMemoryRequiredInMb required', CreateInferenceComponentCommand, icReq({ ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1 } }), 'MinMemoryRequiredInMb'],
  ['CopyCount -1', CreateInferenceComponentCommand, icReq({}, { RuntimeConfig: { CopyCount: -1 } }), 'CopyCount'],
  ['IC startup timeout 59', CreateInferenceComponentCommand, icReq({ StartupParameters: { ModelDataDownloadTimeoutInSeconds: 59 } }), 'ModelDataDownloadTimeoutInSeconds'],
  ['PlacementStrategy enum', CreateInferenceComponentCommand, icReq({ SchedulingConfig: { PlacementStrategy: 'RANDOM' } }), 'PlacementStrategy'],
  ['ArtifactUrl pattern', CreateInferenceComponentCommand, icReq({ Container: { ...modelContainer('x'), ArtifactUrl: 'bucket/model.tar.gz' } }), 'ArtifactUrl'],
  ['Specification.ModelName pattern', CreateInferenceComponentCommand, icReq({ Container: undefined, ModelName: 'bad_model' }), 'ModelName'],
  ['UpdateInferenceComponentRuntimeConfig CopyCount -1', UpdateInferenceComponentRuntimeConfigCommand, { InferenceComponentName: IC, DesiredRuntimeConfig: { CopyCount: -1 } }, 'CopyCount'],
  ['AddTags ResourceArn pattern', AddTagsCommand, { ResourceArn: 'arn:aws:s3:::bucket', Tags: [{ Key: 'a', Value: 'b' }] }, 'ResourceArn'],
  ['DeleteTags TagKeys empty', DeleteTagsCommand, { ResourceArn: 'arn:aws:sagemaker:us-east-1:123456789012:endpoint/x', TagKeys: [] }, 'TagKeys'],
  ['ListTags MaxResults 49', ListTagsCommand, { ResourceArn: 'arn:aws:sagemaker:us-east-1:123456789012:endpoint/x', MaxResults: 49 }, 'MaxResults'],
];

test(`${BAD.length} invalid requests each get ValidationException naming the field`, STEP, async () => {
  assert.ok(BAD.length >= 30);
  const failures = [];
  for (const [what, Command, input, field] of BAD) {
    try {
      const out = await sm.send(new Command(structuredClone(input)));
      failures.push(`${what}: accepted (${JSON.stringify(out).slice(0, 200)})`);
    } catch (err) {
      if (err.name !== 'ValidationException') failures.push(`${what}: ${err.name}: ${err.message}`);
      else if (!err.message.includes(field)) failures.push(`${what}: message does not name ${field}: ${err.message}`);
    }
  }
  assert.deepEqual(failures, []);
});

test('DeleteModel while the IC uses it: allowed; the IC keeps serving and scaling', STEP, async () => {
  await sm.send(new DeleteModelCommand({ ModelName: MODEL }));
  const err = await rejection(sm.send(new DescribeModelCommand({ ModelName: MODEL })), 'deleted model');
  assert.equal(err.name, 'ValidationException');
  assert.match(err.message, /Could not find model/);
  const err2 = await rejection(sm.send(new ListTagsCommand({ ResourceArn: arns.model })), 'deleted model tags');
  assert.equal(err2.name, 'ValidationException');
  delete arns.model;
  await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: IC, DesiredRuntimeConfig: { CopyCount: 2 } }));
  await waitIc(2);
  for (let i = 0; i < 4; i++) assert.equal((await invokeModelId()).model_id, 'from-model');
});

test('tags survive a restart', STEP, async () => {
  const before = {};
  for (const [kind, arn] of Object.entries(arns)) before[kind] = (await sm.send(new ListTagsCommand({ ResourceArn: arn }))).Tags;
  const dataDir = b.dataDir;
  await b.stop();
  b = await startBerthd({ dataDir });
  clients();
  for (const [kind, arn] of Object.entries(arns)) {
    const l = await sm.send(new ListTagsCommand({ ResourceArn: arn }));
    assert.deepEqual(l.Tags, before[kind], kind);
  }
});

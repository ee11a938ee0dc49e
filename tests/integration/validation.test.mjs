// Input validation of the control API (raw SageMaker JSON 1.1 calls): a table
// of bad inputs that must each get 400 ValidationException whose message names
// the field and the bad value, the boundary values that must be accepted, and
// the protocol-level errors (unknown operation, malformed JSON, not found,
// already exists).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { control, controlOk, modelContainer, startBerthd, stopAll } from '../lib/berthd.mjs';
import { deployEndpoint, errorMessage, variant } from '../lib/fixtures.mjs';

const T = { timeout: 240_000 };
const EP = 'val-ep';

let b;

before(async () => {
  b = await startBerthd();
  await deployEndpoint(b.controlUrl, EP);
});

after(async () => {
  await stopAll();
});

const epc = (over = {}, variantOver = {}) => ({
  EndpointConfigName: 'cfg-ok', ProductionVariants: [variant(variantOver)], ...over,
});

const ic = ({ name = 'ic-ok', spec = {}, crr = {}, startup, runtime = { CopyCount: 1 } } = {}) => ({
  InferenceComponentName: name,
  EndpointName: EP,
  VariantName: 'AllTraffic',
  Specification: {
    Container: modelContainer('eu'),
    ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 256, ...crr },
    ...(startup ? { StartupParameters: startup } : {}),
    ...spec,
  },
  ...(runtime === undefined ? {} : { RuntimeConfig: runtime }),
});

const withoutKey = (obj, key) => {
  const copy = structuredClone(obj);
  delete copy[key];
  return copy;
};

const long64 = 'a'.repeat(64);

// [title, operation, body, field named in the message, bad value named in the message (or null)]
const BAD = [
  ['EndpointConfigName starting with "-"', 'CreateEndpointConfig', epc({ EndpointConfigName: '-x' }), 'EndpointConfigName', '-x'],
  ['EndpointConfigName of 64 chars', 'CreateEndpointConfig', epc({ EndpointConfigName: long64 }), 'EndpointConfigName', long64],
  ['EndpointConfigName with "_"', 'CreateEndpointConfig', epc({ EndpointConfigName: 'bad_name' }), 'EndpointConfigName', 'bad_name'],
  ['EndpointName of 64 chars', 'CreateEndpoint', { EndpointName: long64, EndpointConfigName: `${EP}-config` }, 'EndpointName', long64],
  ['EndpointName ending with "-"', 'CreateEndpoint', { EndpointName: 'ep-', EndpointConfigName: `${EP}-config` }, 'EndpointName', 'ep-'],
  ['InferenceComponentName ending with "-"', 'CreateInferenceComponent', ic({ name: 'ic-' }), 'InferenceComponentName', 'ic-'],
  ['InferenceComponentName with "."', 'CreateInferenceComponent', ic({ name: 'ic.1' }), 'InferenceComponentName', 'ic.1'],
  ['InitialInstanceCount 0', 'CreateEndpointConfig', epc({}, { InitialInstanceCount: 0 }), 'InitialInstanceCount', '0'],
  ['unknown InstanceType', 'CreateEndpointConfig', epc({}, { InstanceType: 'ml.bogus.huge' }), 'InstanceType', 'ml.bogus.huge'],
  ['ModelDataDownloadTimeoutInSeconds 59', 'CreateEndpointConfig', epc({}, { ModelDataDownloadTimeoutInSeconds: 59 }), 'ModelDataDownloadTimeoutInSeconds', '59'],
  ['ContainerStartupHealthCheckTimeoutInSeconds 3601', 'CreateEndpointConfig', epc({}, { ContainerStartupHealthCheckTimeoutInSeconds: 3601 }), 'ContainerStartupHealthCheckTimeoutInSeconds', '3601'],
  ['RoutingStrategy FASTEST', 'CreateEndpointConfig', epc({}, { RoutingConfig: { RoutingStrategy: 'FASTEST' } }), 'RoutingStrategy', 'FASTEST'],
  ['ManagedInstanceScaling Status MAYBE', 'CreateEndpointConfig', epc({}, { ManagedInstanceScaling: { Status: 'MAYBE', MinInstanceCount: 1, MaxInstanceCount: 2 } }), 'Status', 'MAYBE'],
  ['ManagedInstanceScaling MaxInstanceCount 0', 'CreateEndpointConfig', epc({}, { ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 0, MaxInstanceCount: 0 } }), 'MaxInstanceCount', '0'],
  ['ProductionVariants []', 'CreateEndpointConfig', epc({ ProductionVariants: [] }), 'ProductionVariants', null],
  ['missing EndpointConfigName', 'CreateEndpointConfig', withoutKey(epc(), 'EndpointConfigName'), 'EndpointConfigName', null],
  ['missing ProductionVariants', 'CreateEndpointConfig', withoutKey(epc(), 'ProductionVariants'), 'ProductionVariants', null],
  ['missing EndpointConfigName on CreateEndpoint', 'CreateEndpoint', { EndpointName: 'ep-x' }, 'EndpointConfigName', null],
  ['NumberOfCpuCoresRequired 0.1', 'CreateInferenceComponent', ic({ crr: { NumberOfCpuCoresRequired: 0.1 } }), 'NumberOfCpuCoresRequired', '0.1'],
  ['MinMemoryRequiredInMb 64', 'CreateInferenceComponent', ic({ crr: { MinMemoryRequiredInMb: 64 } }), 'MinMemoryRequiredInMb', '64'],
  ['missing MinMemoryRequiredInMb', 'CreateInferenceComponent',
    ic({ spec: { ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1 } } }), 'MinMemoryRequiredInMb', null],
  ['CopyCount -1', 'CreateInferenceComponent', ic({ runtime: { CopyCount: -1 } }), 'CopyCount', '-1'],
  ['IC startup timeout 59', 'CreateInferenceComponent', ic({ startup: { ModelDataDownloadTimeoutInSeconds: 59 } }), 'ModelDataDownloadTimeoutInSeconds', '59'],
  ['IC startup timeout 3601', 'CreateInferenceComponent', ic({ startup: { ContainerStartupHealthCheckTimeoutInSeconds: 3601 } }), 'ContainerStartupHealthCheckTimeoutInSeconds', '3601'],
  ['missing Specification', 'CreateInferenceComponent', withoutKey(ic(), 'Specification'), 'Specification', null],
  ['missing EndpointName on IC', 'CreateInferenceComponent', withoutKey(ic(), 'EndpointName'), 'EndpointName', null],
  ['UpdateInferenceComponentRuntimeConfig CopyCount -1', 'UpdateInferenceComponentRuntimeConfig',
    { InferenceComponentName: 'ic-ok', DesiredRuntimeConfig: { CopyCount: -1 } }, 'CopyCount', '-1'],
  ['ListInferenceComponents MaxResults 0', 'ListInferenceComponents', { MaxResults: 0 }, 'MaxResults', '0'],
  ['ListInferenceComponents MaxResults 101', 'ListInferenceComponents', { MaxResults: 101 }, 'MaxResults', '101'],
  ['ListInferenceComponents SortBy Size', 'ListInferenceComponents', { SortBy: 'Size' }, 'SortBy', 'Size'],
  ['ListEndpoints MaxResults 101', 'ListEndpoints', { MaxResults: 101 }, 'MaxResults', '101'],
];

BAD.forEach(([title, op, template, field, value], i) => {
  test(`ValidationException: ${op} ${title}`, T, async () => {
    // A name of its own per case, so that a wrongly accepted case cannot
    // change the outcome of the next one.
    const body = structuredClone(template);
    if (body.EndpointConfigName === 'cfg-ok') body.EndpointConfigName = `cfg-bad-${i}`;
    if (op === 'CreateInferenceComponent' && body.InferenceComponentName === 'ic-ok') body.InferenceComponentName = `ic-bad-${i}`;
    const r = await control(b.controlUrl, op, body);
    const what = `${op} ${JSON.stringify(body).slice(0, 300)} -> ${r.status} ${r.text.slice(0, 600)}`;
    assert.equal(r.status, 400, what);
    assert.equal(r.json?.__type, 'ValidationException', what);
    const msg = errorMessage(r);
    assert.ok(msg.toLowerCase().includes(field.toLowerCase()), `message does not name ${field}: ${what}`);
    if (value !== null) assert.ok(msg.includes(value), `message does not name the value ${value}: ${what}`);
  });
});

// Each boundary value must be accepted (200); names are unique per case.
const GOOD = [
  ['EndpointConfigName of 63 chars', 'CreateEndpointConfig', epc({ EndpointConfigName: 'b'.repeat(63) })],
  ['EndpointConfigName with repeated dashes', 'CreateEndpointConfig', epc({ EndpointConfigName: 'a--b' })],
  ['timeouts 60 and 3600', 'CreateEndpointConfig',
    epc({ EndpointConfigName: 'cfg-timeouts' }, { ModelDataDownloadTimeoutInSeconds: 60, ContainerStartupHealthCheckTimeoutInSeconds: 3600 })],
  ['RoutingStrategy RANDOM', 'CreateEndpointConfig', epc({ EndpointConfigName: 'cfg-random' }, { RoutingConfig: { RoutingStrategy: 'RANDOM' } })],
  ['RoutingStrategy POWER_OF_TWO_CHOICES (extension)', 'CreateEndpointConfig', epc({ EndpointConfigName: 'cfg-p2c' }, { RoutingConfig: { RoutingStrategy: 'POWER_OF_TWO_CHOICES' } })],
  ['IC with 0.25 cores, 128 MB, 0 copies', 'CreateInferenceComponent',
    ic({ name: 'ic-min', crr: { NumberOfCpuCoresRequired: 0.25, MinMemoryRequiredInMb: 128 }, runtime: { CopyCount: 0 } })],
  ['IC startup timeouts 60 and 3600', 'CreateInferenceComponent',
    ic({ name: 'ic-startup', startup: { ModelDataDownloadTimeoutInSeconds: 60, ContainerStartupHealthCheckTimeoutInSeconds: 3600 }, runtime: { CopyCount: 0 } })],
  ['ListInferenceComponents MaxResults 1', 'ListInferenceComponents', { MaxResults: 1 }],
  ['ListInferenceComponents MaxResults 100', 'ListInferenceComponents', { MaxResults: 100 }],
  ['ListInferenceComponents with no arguments', 'ListInferenceComponents', {}],
];

for (const [title, op, body] of GOOD) {
  test(`accepted: ${op} ${title}`, T, async () => {
    const r = await control(b.controlUrl, op, body);
    assert.equal(r.status, 200, `${op} ${JSON.stringify(body).slice(0, 300)} -> ${r.status} ${r.text.slice(0, 600)}`);
  });
}

test('UpdateInferenceComponentRuntimeConfig of an existing IC: CopyCount -1 refused, 0 accepted', T, async () => {
  await controlOk(b.controlUrl, 'CreateInferenceComponent', ic({ name: 'ic-upd', runtime: { CopyCount: 0 } }));
  let r = await control(b.controlUrl, 'UpdateInferenceComponentRuntimeConfig',
    { InferenceComponentName: 'ic-upd', DesiredRuntimeConfig: { CopyCount: -1 } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json?.__type, 'ValidationException', r.text);
  assert.match(errorMessage(r), /CopyCount/i, r.text);
  assert.match(errorMessage(r), /-1/, r.text);
  r = await control(b.controlUrl, 'UpdateInferenceComponentRuntimeConfig',
    { InferenceComponentName: 'ic-upd', DesiredRuntimeConfig: { CopyCount: 0 } });
  assert.equal(r.status, 200, r.text);
});

test('unknown x-amz-target is UnknownOperationException', T, async () => {
  const r = await control(b.controlUrl, 'FlyToTheMoon', {});
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json?.__type, 'UnknownOperationException', r.text);
});

test('malformed JSON is 400 SerializationException or ValidationException', T, async () => {
  const r = await control(b.controlUrl, 'CreateEndpointConfig', null, { rawBody: '{"EndpointConfigName": "x", ' });
  assert.equal(r.status, 400, r.text);
  assert.ok(['SerializationException', 'ValidationException'].includes(r.json?.__type), r.text);
  assert.ok(errorMessage(r).length > 0, `empty message: ${r.text}`);
});

test('a field of the wrong JSON type is rejected', T, async () => {
  const r = await control(b.controlUrl, 'CreateEndpointConfig', epc({ EndpointConfigName: 'cfg-type' }, { InitialInstanceCount: 'one' }));
  assert.equal(r.status, 400, r.text);
  assert.ok(['SerializationException', 'ValidationException'].includes(r.json?.__type), r.text);
});

test('missing resources: Could not find endpoint / inference component', T, async () => {
  let r = await control(b.controlUrl, 'DescribeEndpoint', { EndpointName: 'nope' });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json?.__type, 'ValidationException', r.text);
  assert.match(errorMessage(r), /Could not find endpoint/, r.text);

  r = await control(b.controlUrl, 'DescribeInferenceComponent', { InferenceComponentName: 'nope' });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json?.__type, 'ValidationException', r.text);
  assert.match(errorMessage(r), /Could not find inference component/, r.text);

  r = await control(b.controlUrl, 'CreateEndpoint', { EndpointName: 'ep-nocfg', EndpointConfigName: 'no-such-config' });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json?.__type, 'ValidationException', r.text);
  assert.match(errorMessage(r), /no-such-config/, r.text);

  r = await control(b.controlUrl, 'CreateInferenceComponent', { ...ic({ name: 'ic-orphan' }), EndpointName: 'no-such-ep' });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json?.__type, 'ValidationException', r.text);
  assert.match(errorMessage(r), /no-such-ep/, r.text);
});

test('creating what already exists is ValidationException "Cannot create already existing"', T, async () => {
  await controlOk(b.controlUrl, 'CreateEndpointConfig', epc({ EndpointConfigName: 'cfg-dup' }));
  let r = await control(b.controlUrl, 'CreateEndpointConfig', epc({ EndpointConfigName: 'cfg-dup' }));
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json?.__type, 'ValidationException', r.text);
  assert.match(errorMessage(r), /Cannot create already existing/, r.text);

  r = await control(b.controlUrl, 'CreateEndpoint', { EndpointName: EP, EndpointConfigName: `${EP}-config` });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json?.__type, 'ValidationException', r.text);
  assert.match(errorMessage(r), /Cannot create already existing/, r.text);

  await controlOk(b.controlUrl, 'CreateInferenceComponent', ic({ name: 'ic-dup', runtime: { CopyCount: 0 } }));
  r = await control(b.controlUrl, 'CreateInferenceComponent', ic({ name: 'ic-dup', runtime: { CopyCount: 0 } }));
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json?.__type, 'ValidationException', r.text);
  assert.match(errorMessage(r), /Cannot create already existing/, r.text);
});

test('DeleteEndpoint while ICs exist is ResourceInUse naming them', T, async () => {
  await controlOk(b.controlUrl, 'CreateInferenceComponent', ic({ name: 'ic-holds-ep', runtime: { CopyCount: 0 } }));
  const r = await control(b.controlUrl, 'DeleteEndpoint', { EndpointName: EP });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json?.__type, 'ResourceInUse', r.text);
  assert.match(errorMessage(r), /ic-holds-ep/, r.text);
});

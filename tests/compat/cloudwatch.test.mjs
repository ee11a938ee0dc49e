// Compatibility of Berth's CloudWatch metrics API with the REAL AWS SDK for
// JavaScript v3 (@aws-sdk/client-cloudwatch, JSON 1.0, query-compatible)
// pointed at a local berthd's control URL, and of its Prometheus page:
// deploy an inference component, invoke it N times, then read Invocations
// (Sum over 10-second periods) back with GetMetricData until the 10-second
// buckets holding them have closed, check ModelLatency's Average, list the
// metrics, see the SDK surface InvalidParameterValueException, read
// berth_invocations_total from GET /metrics, and check that CloudWatch is on
// the control port only (as docs/metrics.md's example says).  Steps share one
// daemon and run in order; read the first failure.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  CloudWatchClient, GetMetricDataCommand, InvalidParameterValueException, ListMetricsCommand,
} from '@aws-sdk/client-cloudwatch';

import { invoke, rejection, SOURCE_DIR, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc } from '../lib/fixtures.mjs';

const STEP = { timeout: 240_000 };
const EP = 'cw-ep';
const IC = 'cw-ic';
const N = 7;
const IC_DIMS = [{ Name: 'InferenceComponentName', Value: IC }];

// Signed with the admin key berthd wrote to its data dir (berthd.credentials).
let credentials;

let berthd;
let cw;
let since; // epoch seconds before the first invocation

before(async () => {
  berthd = await startBerthd();
  credentials = berthd.credentials;
  cw = new CloudWatchClient({ endpoint: berthd.controlUrl, region: 'us-east-1', credentials });
});

after(async () => {
  cw?.destroy();
  await stopAll();
});

function query(id, metricName, stat, dims = IC_DIMS, period = 10) {
  return {
    Id: id,
    MetricStat: {
      Metric: { Namespace: 'AWS/SageMaker', MetricName: metricName, Dimensions: dims },
      Period: period,
      Stat: stat,
    },
    ReturnData: true,
  };
}

function getMetricData(queries) {
  return cw.send(new GetMetricDataCommand({
    MetricDataQueries: queries,
    StartTime: new Date((since - 60) * 1000),
    EndTime: new Date(Date.now() + 60_000),
    ScanBy: 'TimestampAscending',
  }));
}

const sum = (values) => values.reduce((a, b) => a + b, 0);

test(`deploy an inference component and invoke it ${N} times`, STEP, async () => {
  await deployEndpoint(berthd.controlUrl, EP);
  await deployIc(berthd.controlUrl, IC, EP, 'cw');
  since = Math.floor(Date.now() / 1000);
  for (let i = 0; i < N; i++) {
    const r = await invoke(berthd.runtimeUrl, EP, IC, { inputs: `hello ${i}`, parameters: { max_new_tokens: 2 } });
    assert.equal(r.status, 200, `invocation ${i} answered ${r.status}: ${r.text}`);
  }
});

test('GetMetricData: Invocations Sum over 10-second periods reaches N', STEP, async () => {
  // A bucket closes 10 s after it opened (sampled once a second): allow ~40 s.
  const out = await waitFor(() => getMetricData([query('inv', 'Invocations', 'Sum')]), {
    timeoutMs: 45_000, intervalMs: 1_000,
    what: `the Invocations of ${IC} to add up to ${N}`,
    until: (r) => sum(r.MetricDataResults?.[0]?.Values ?? []) >= N,
  });
  assert.deepEqual(out.Messages ?? [], []);
  const [res] = out.MetricDataResults;
  assert.equal(res.Id, 'inv');
  assert.equal(res.Label, 'Invocations');
  assert.equal(res.StatusCode, 'Complete');
  assert.equal(sum(res.Values), N, `exactly ${N} invocations: ${JSON.stringify(res)}`);
  assert.equal(res.Timestamps.length, res.Values.length);
  for (const t of res.Timestamps) {
    assert.ok(t instanceof Date, `timestamps parse as Dates: ${t}`);
    assert.equal(t.getTime() % 10_000, 0, `timestamps are period starts: ${t.toISOString()}`);
  }
  const ms = res.Timestamps.map((t) => t.getTime());
  assert.deepEqual(ms, [...ms].sort((a, b) => a - b), 'TimestampAscending orders oldest first');
});

test('GetMetricData: ModelLatency Average, endpoint-level sums, ReturnData and ScanBy', STEP, async () => {
  const endpointDims = [{ Name: 'EndpointName', Value: EP }, { Name: 'VariantName', Value: 'AllTraffic' }];
  const out = await cw.send(new GetMetricDataCommand({
    MetricDataQueries: [
      query('lat', 'ModelLatency', 'Average'),
      query('cnt', 'ModelLatency', 'SampleCount', IC_DIMS, 60),
      query('epinv', 'Invocations', 'Sum', endpointDims, 60),
      { ...query('hidden', 'Invocations', 'Sum'), ReturnData: false },
      query('none', 'NoSuchMetric', 'Sum'),
      query('cpu', 'CPUReservation', 'Maximum', endpointDims, 60),
    ],
    StartTime: new Date((since - 60) * 1000),
    EndTime: new Date(Date.now() + 60_000),
  }));
  const byId = Object.fromEntries(out.MetricDataResults.map((r) => [r.Id, r]));
  assert.deepEqual(Object.keys(byId).sort(), ['cnt', 'cpu', 'epinv', 'lat', 'none']);
  assert.ok(byId.lat.Values.length > 0, `ModelLatency has datapoints: ${JSON.stringify(byId.lat)}`);
  for (const v of byId.lat.Values) assert.ok(v > 0, `ModelLatency Average > 0 (microseconds): ${v}`);
  assert.equal(sum(byId.cnt.Values), N, 'ModelLatency SampleCount counts the requests');
  assert.equal(sum(byId.epinv.Values), N, 'EndpointName+VariantName sums the ICs');
  const ms = byId.epinv.Timestamps.map((t) => t.getTime());
  assert.deepEqual(ms, [...ms].sort((a, b) => b - a), 'TimestampDescending is the default');
  assert.deepEqual(byId.none.Values, [], 'an unknown metric is an empty result, not an error');
  // CPUReservation is instance-level and only in /aws/sagemaker/Endpoints.
  assert.deepEqual(byId.cpu.Values, []);

  const res = await cw.send(new GetMetricDataCommand({
    MetricDataQueries: [{
      Id: 'cpu',
      MetricStat: {
        Metric: { Namespace: '/aws/sagemaker/Endpoints', MetricName: 'CPUReservation', Dimensions: endpointDims },
        Period: 60, Stat: 'Maximum',
      },
    }],
    StartTime: new Date(Date.now() - 300_000),
    EndTime: new Date(Date.now() + 1_000),
  }));
  const [cpu] = res.MetricDataResults;
  assert.equal(cpu.Values.length, 1, `one CPUReservation datapoint now: ${JSON.stringify(cpu)}`);
  // 1 core of ml.m5.xlarge's 4 is reserved by the one copy.
  assert.ok(Math.abs(cpu.Values[0] - 25) < 1e-6, `CPUReservation ${cpu.Values[0]} is 25%`);
});

test('ListMetrics lists the IC and endpoint metrics, filtered', STEP, async () => {
  const out = await cw.send(new ListMetricsCommand({ Namespace: 'AWS/SageMaker', Dimensions: [{ Name: 'InferenceComponentName', Value: IC }] }));
  const names = out.Metrics.map((m) => m.MetricName);
  for (const n of ['Invocations', 'ModelLatency', 'ConcurrentRequestsPerCopy', 'NoCapacityInvocationFailures', 'CopyCount']) {
    assert.ok(names.includes(n), `ListMetrics has ${n}: ${names}`);
  }
  for (const m of out.Metrics) {
    assert.equal(m.Namespace, 'AWS/SageMaker');
    assert.deepEqual(m.Dimensions, IC_DIMS);
  }
  const res = await cw.send(new ListMetricsCommand({ MetricName: 'GPUReservation' }));
  assert.deepEqual(res.Metrics, [{
    Namespace: '/aws/sagemaker/Endpoints', MetricName: 'GPUReservation',
    Dimensions: [{ Name: 'EndpointName', Value: EP }, { Name: 'VariantName', Value: 'AllTraffic' }],
  }]);
});

test('the SDK surfaces InvalidParameterValueException for a bad Period and Stat', STEP, async () => {
  const bad = await rejection(getMetricData([query('m1', 'Invocations', 'Sum', IC_DIMS, 15)]), 'Period 15');
  assert.ok(bad instanceof InvalidParameterValueException, `${bad.name}: ${bad.message}`);
  assert.match(bad.message, /MetricStat\.Period/);
  assert.match(bad.message, /15/);
  assert.equal(bad.$metadata.httpStatusCode, 400);
  // Percentiles are pNN with 0 < NN <= 100 (tests/compat/metrics_history.test.mjs reads them).
  const stat = await rejection(getMetricData([query('m1', 'Invocations', 'p101')]), 'Stat p101');
  assert.equal(stat.name, 'InvalidParameterValueException', stat.message);
  assert.match(stat.message, /p101/);
});

test('GET /metrics: berth_invocations_total for the IC is N', STEP, async () => {
  const unsigned = await fetch(`${berthd.controlUrl}/metrics`);
  assert.equal(unsigned.status, 403, 'GET /metrics without credentials is refused');
  await unsigned.arrayBuffer();
  // What Prometheus' basic_auth sends: the access key id and its secret.
  const basic = Buffer.from(`${credentials.accessKeyId}:${credentials.secretAccessKey}`).toString('base64');
  const res = await fetch(`${berthd.controlUrl}/metrics`, { headers: { authorization: `Basic ${basic}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.match(text, /^# HELP berth_invocations_total /m);
  assert.match(text, /^# TYPE berth_invocations_total counter$/m);
  const line = text.split('\n').find((l) => l.startsWith('berth_invocations_total{') && l.includes(`inference_component="${IC}"`));
  assert.ok(line, `a berth_invocations_total series for ${IC} in:\n${text}`);
  assert.equal(line, `berth_invocations_total{endpoint="${EP}",variant="AllTraffic",inference_component="${IC}"} ${N}`);
  assert.match(text, new RegExp(`^berth_copies\\{endpoint="${EP}",variant="AllTraffic",inference_component="${IC}",state="ready"\\} 1$`, 'm'));
  assert.match(text, /^berth_instances\{endpoint="cw-ep",variant="AllTraffic",instance_type="ml\.m5\.xlarge"\} 1$/m);
});

test('GetMetricData is served on the control URL, not the runtime URL, as docs/metrics.md shows', STEP, async () => {
  // The documented example points the AWS CLI at the control port's default.
  const doc = fs.readFileSync(path.join(SOURCE_DIR, 'docs', 'metrics.md'), 'utf8');
  const urls = [...doc.matchAll(/aws cloudwatch [^\n]*--endpoint-url (http:\/\/[^\s\\]+)/g)].map((m) => m[1]);
  assert.ok(urls.length > 0, 'docs/metrics.md has an `aws cloudwatch ... --endpoint-url` example');
  for (const u of urls) assert.equal(u, 'http://127.0.0.1:8070', `the example's --endpoint-url is the control port's default: ${u}`);

  const queries = [query('inv', 'Invocations', 'Sum')];
  const onControl = await getMetricData(queries);
  assert.equal(onControl.$metadata.httpStatusCode, 200);
  assert.equal(onControl.MetricDataResults[0].Id, 'inv');

  const runtime = new CloudWatchClient({ endpoint: berthd.runtimeUrl, region: 'us-east-1', credentials, maxAttempts: 1 });
  try {
    const err = await rejection(runtime.send(new GetMetricDataCommand({
      MetricDataQueries: queries, StartTime: new Date((since - 60) * 1000), EndTime: new Date(Date.now() + 60_000),
    })), 'GetMetricData on the runtime URL');
    assert.equal(err.$metadata?.httpStatusCode, 404, `${err.name}: ${err.message}`);
    assert.equal(err.name, 'UnknownOperationException', err.message);
  } finally {
    runtime.destroy();
  }
});

// Metrics under load and across a controller restart, read with the REAL
// @aws-sdk/client-cloudwatch and from GET /metrics (docs/metrics.md):
// a few seconds of invocations move berth_invocations_total and the
// berth_model_latency_seconds histogram by exactly the requests sent;
// CloudWatch reads Invocations, InvocationsPerCopy and
// CPUUtilizationNormalized (/aws/sagemaker/InferenceComponents) back, and
// ModelLatency's p50/p90/p99 through ExtendedStatistics; after the
// controller is killed and the supervisor starts a new one, the same
// figures come back for the same period (they are kept in the store).
// Steps share one daemon and run in order; read the first failure.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  CloudWatchClient, GetMetricDataCommand, GetMetricStatisticsCommand,
} from '@aws-sdk/client-cloudwatch';

import { controlOk, invoke, SOURCE_DIR, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc } from '../lib/fixtures.mjs';

const STEP = { timeout: 120_000 };
const EP = 'mh-ep';
const IC = 'mh-ic';
const IC_DIMS = [{ Name: 'InferenceComponentName', Value: IC }];
const LOAD_MS = 4_000;
const WORKERS = 4;

let b;
let cw;
let since; // epoch seconds before the load
let sent = 0;
let before_; // the /metrics page before the load
let range; // [StartTime, EndTime) of closed buckets holding the load
let figures; // what CloudWatch answered for range before the restart

before(async () => {
  b = await startBerthd();
  cw = new CloudWatchClient({ endpoint: b.controlUrl, region: 'us-east-1', credentials: b.credentials });
});

after(async () => {
  cw?.destroy();
  await stopAll();
});

async function scrape() {
  const { accessKeyId, secretAccessKey } = b.credentials;
  const auth = Buffer.from(`${accessKeyId}:${secretAccessKey}`).toString('base64');
  const res = await fetch(`${b.controlUrl}/metrics`, { headers: { authorization: `Basic ${auth}` } });
  assert.equal(res.status, 200);
  return res.text();
}

// The value of the series `name{...labels}` whose labels include all of want.
function sample(text, name, want = {}) {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(want).every(([k, v]) => labels[k] === v)) return Number(m[3]);
  }
  return undefined;
}

function buckets(text, name) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}_bucket\\{.*inference_component="${IC}",le="([^"]+)"\\} (\\d+)$`).exec(line);
    if (m) out.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), n: Number(m[2]) });
  }
  return out;
}

const sum = (values) => values.reduce((a, c) => a + c, 0);

test('deploy an IC and put a few seconds of load on it', STEP, async () => {
  await deployEndpoint(b.controlUrl, EP);
  // The model holds 64 MiB so memory use shows against the 256 MiB reserved.
  await deployIc(b.controlUrl, IC, EP, 'mh', { env: { BERTH_MODEL_MEMORY_MB: '64' } });
  before_ = await scrape();
  since = Math.floor(Date.now() / 1000);
  const stop = Date.now() + LOAD_MS;
  await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
    for (let i = 0; Date.now() < stop; i++) {
      const r = await invoke(b.runtimeUrl, EP, IC, { inputs: `load ${w} ${i}`, parameters: { max_new_tokens: 4 } });
      assert.equal(r.status, 200, `invocation answered ${r.status}: ${r.text}`);
      sent++;
    }
  }));
  assert.ok(sent >= 20, `a few seconds of load sent ${sent} invocations`);
});

test('GET /metrics: the invocation counter and latency histograms move by the requests sent', STEP, async () => {
  const labels = { endpoint: EP, variant: 'AllTraffic', inference_component: IC };
  const was = sample(before_, 'berth_invocations_total', labels) ?? 0;
  const text = await waitFor(scrape, {
    timeoutMs: 15_000, intervalMs: 250, what: `berth_invocations_total to grow by ${sent}`,
    until: (t) => sample(t, 'berth_invocations_total', labels) === was + sent,
  });
  for (const name of ['berth_model_latency_seconds', 'berth_overhead_latency_seconds']) {
    assert.match(text, new RegExp(`^# TYPE ${name} histogram$`, 'm'));
    const was0 = sample(before_, `${name}_count`, labels) ?? 0;
    const count = sample(text, `${name}_count`, labels);
    assert.equal(count - was0, sent, `${name}_count moved by the ${sent} requests`);
    assert.ok(sample(text, `${name}_sum`, labels) > (sample(before_, `${name}_sum`, labels) ?? 0), `${name}_sum grew`);
    const bs = buckets(text, name);
    assert.ok(bs.length >= 10, `${name} has its buckets: ${JSON.stringify(bs)}`);
    for (let i = 1; i < bs.length; i++) {
      assert.ok(bs[i].le > bs[i - 1].le, 'le ascends');
      assert.ok(bs[i].n >= bs[i - 1].n, `buckets are cumulative: ${JSON.stringify(bs)}`);
    }
    assert.equal(bs.at(-1).le, Infinity);
    assert.equal(bs.at(-1).n, count, '+Inf holds every request');
    const prev = buckets(before_, name);
    const moved = bs.filter((x, i) => x.n !== (prev[i]?.n ?? 0));
    assert.ok(moved.length > 0, `some finite bucket moved: ${JSON.stringify(bs)}`);
  }
  // Usage comes with the agent's periodic reading, which may not have
  // arrived yet for a copy started seconds ago.
  const withUsage = await waitFor(scrape, {
    timeoutMs: 30_000, intervalMs: 500, what: "the copy's memory utilisation ratio",
    until: (t) => sample(t, 'berth_copy_utilization_ratio', { ...labels, resource: 'memory' }) > 0,
  });
  assert.ok(sample(withUsage, 'berth_copy_utilization_ratio', { ...labels, resource: 'memory' }) > 0);
});

test('share/grafana/berth.json queries only series GET /metrics has', STEP, async () => {
  const dash = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, 'share', 'grafana', 'berth.json'), 'utf8'));
  const text = await scrape();
  const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
  assert.ok(exprs.length >= 6, 'the dashboard has its panels');
  for (const e of exprs) {
    for (const [name] of e.matchAll(/berth_[a-z_]+/g)) {
      const family = name.replace(/_(bucket|sum|count)$/, '');
      assert.match(text, new RegExp(`^# TYPE ${family} `, 'm'), `${name} (in ${e}) is on /metrics`);
    }
  }
  const price = sample(text, 'berth_instance_cost_per_hour', { endpoint: EP });
  assert.ok(price > 0, 'cost per hour from the catalog');
  // The IC's copies are the only ones on the endpoint: they pay the whole
  // price of the instances that hold them (lib/cost.c splits an instance's
  // price over its copies), and nothing of an empty one.
  const icCost = sample(text, 'berth_inference_component_cost_per_hour',
    { endpoint: EP, variant: 'AllTraffic', inference_component: IC });
  const held = new Set();
  for (const m of text.matchAll(/^berth_instance_reserved_ratio\{endpoint="([^"]*)"[^}]*instance="(\d+)"[^}]*\} (\S+)$/gm))
    if (m[1] === EP && +m[3] > 0) held.add(m[2]);
  let total = 0;
  for (const m of text.matchAll(/^berth_instance_cost_per_hour\{endpoint="([^"]*)"[^}]*instance="(\d+)"[^}]*\} (\S+)$/gm))
    if (m[1] === EP && held.has(m[2])) total += +m[3];
  assert.ok(total > 0, 'an instance holds the copies');
  assert.ok(Math.abs(icCost - total) < 1e-6, `the IC pays ${icCost} of its instances' ${total} per hour`);
});

function metricQuery(id, ns, name, stat) {
  return { Id: id, MetricStat: { Metric: { Namespace: ns, MetricName: name, Dimensions: IC_DIMS }, Period: 10, Stat: stat } };
}

// Everything compared across the restart, for the one range.
async function read() {
  const data = await cw.send(new GetMetricDataCommand({
    MetricDataQueries: [
      metricQuery('inv', 'AWS/SageMaker', 'Invocations', 'Sum'),
      metricQuery('ipc', 'AWS/SageMaker', 'InvocationsPerCopy', 'Sum'),
      metricQuery('cpu', '/aws/sagemaker/InferenceComponents', 'CPUUtilizationNormalized', 'Average'),
      metricQuery('mem', '/aws/sagemaker/InferenceComponents', 'MemoryUtilizationNormalized', 'Average'),
      metricQuery('p99', 'AWS/SageMaker', 'ModelLatency', 'p99'),
    ],
    StartTime: range[0], EndTime: range[1], ScanBy: 'TimestampAscending',
  }));
  const stats = await cw.send(new GetMetricStatisticsCommand({
    Namespace: 'AWS/SageMaker', MetricName: 'ModelLatency', Dimensions: IC_DIMS,
    StartTime: range[0], EndTime: range[1], Period: 60, ExtendedStatistics: ['p50', 'p90', 'p99'],
  }));
  const out = {};
  for (const r of data.MetricDataResults) out[r.Id] = { t: r.Timestamps.map((x) => x.getTime()), v: r.Values };
  out.ext = stats.Datapoints.map((d) => ({ t: d.Timestamp.getTime(), ...d.ExtendedStatistics }))
    .sort((x, y) => x.t - y.t);
  return out;
}

test('CloudWatch: Invocations, InvocationsPerCopy, CPUUtilizationNormalized and p99 ModelLatency', STEP, async (t) => {
  // The load's buckets close 10 s after they open, and a usage reading
  // comes with each agent sync (at least every 5 s).
  const closedBy = Math.ceil((Date.now() / 1000 + 1) / 10) * 10 + 10;
  await waitFor(() => Date.now() / 1000 >= closedBy, { timeoutMs: 30_000, intervalMs: 500, what: 'the load\'s buckets to close' });
  range = [new Date((Math.floor(since / 60) * 60 - 60) * 1000), new Date(closedBy * 1000)];
  figures = await waitFor(read, {
    timeoutMs: 30_000, intervalMs: 1_000, what: `${sent} Invocations and a CPU reading for ${IC}`,
    until: (f) => sum(f.inv.v) === sent && f.cpu.v.length > 0,
  });
  t.diagnostic(`figures: ${JSON.stringify(figures)}`);
  assert.equal(sum(figures.ipc.v), sent, 'one copy: InvocationsPerCopy adds up to the invocations');
  for (const v of figures.cpu.v) assert.ok(v >= 0 && v < 1000, `CPUUtilizationNormalized ${v}% of one core`);
  assert.ok(figures.mem.v.some((v) => v >= 20), `64 of 256 MiB reserved held: ${figures.mem.v}`);
  assert.ok(figures.p99.v.length > 0, 'p99 through GetMetricData');
  assert.ok(figures.ext.length > 0, `ExtendedStatistics datapoints: ${JSON.stringify(figures.ext)}`);
  for (const d of figures.ext) {
    assert.ok(d.p50 > 0, `p50 ${d.p50} us`);
    assert.ok(d.p90 >= d.p50 && d.p99 >= d.p90, `p50 <= p90 <= p99: ${JSON.stringify(d)}`);
    assert.ok(d.p99 < 60e6, `p99 under a minute: ${d.p99} us`);
  }
});

test('after a controller restart the same figures come back for the same period', STEP, async () => {
  const first = b.controllerPid();
  assert.ok(first, 'berthd up runs a controller');
  process.kill(first, 'SIGKILL');
  await waitFor(() => b.controllerPid(), {
    timeoutMs: 15_000, intervalMs: 100, what: 'the supervisor to start a new controller', until: (p) => p && p !== first,
  });
  await waitFor(() => controlOk(b.controlUrl, 'ListEndpoints', {}).catch(() => null), {
    timeoutMs: 30_000, intervalMs: 200, what: 'the new controller to answer', until: (r) => r,
  });
  const again = await read();
  assert.deepEqual(again, figures, 'the restarted controller answers what the first did');
});

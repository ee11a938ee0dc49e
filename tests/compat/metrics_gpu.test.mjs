// GPU utilisation through NVML without a GPU: the fake libnvidia-ml
// (tests/fake-nvml) reports 6 devices of 15000 MiB, each 40% busy with 3000
// MiB in use. A copy holding one device reads GPUUtilizationNormalized 40
// and GPUMemoryUtilizationNormalized 20 (3000 of its 15000 MiB) from the
// real @aws-sdk/client-cloudwatch, and berth_copy_utilization_ratio on
// GET /metrics says the same per copy (docs/metrics.md).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';

import { BUILD_DIR, controlOk, modelContainer, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, waitIcInService } from '../lib/fixtures.mjs';

after(async () => { await stopAll(); });

test('GPU and GPU memory utilisation from NVML, per IC and per copy', { timeout: 120_000 }, async () => {
  const lib = path.join(BUILD_DIR, 'libfake-nvml.so');
  assert.ok(fs.existsSync(lib), `${lib} is built with berthd (tests/CMakeLists.txt)`);
  const b = await startBerthd({
    env: {
      BERTH_NVML_LIBRARY: lib, BERTH_FAKE_NVML: '15000,15000,15000,15000,15000,15000',
      BERTH_FAKE_NVML_BUSY: '40', BERTH_FAKE_NVML_USED_MIB: '3000',
    },
  });
  const cw = new CloudWatchClient({ endpoint: b.controlUrl, region: 'us-east-1', credentials: b.credentials });
  try {
    await deployEndpoint(b.controlUrl, 'gu', { variantExtra: { InstanceType: 'berth.gpu.4', InitialInstanceCount: 1 } });
    await controlOk(b.controlUrl, 'CreateInferenceComponent', {
      InferenceComponentName: 'gu-ic', EndpointName: 'gu', VariantName: 'AllTraffic',
      Specification: {
        Container: modelContainer('gu'),
        ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 256, NumberOfAcceleratorDevicesRequired: 1 },
      },
      RuntimeConfig: { CopyCount: 1 },
    });
    await waitIcInService(b.controlUrl, 'gu-ic', 1);
    const since = Date.now();

    const { accessKeyId, secretAccessKey } = b.credentials;
    const auth = Buffer.from(`${accessKeyId}:${secretAccessKey}`).toString('base64');
    const ratio = (text, resource) => {
      const m = new RegExp(`^berth_copy_utilization_ratio\\{[^}]*inference_component="gu-ic"[^}]*resource="${resource}"\\} (\\S+)$`, 'm').exec(text);
      return m ? Number(m[1]) : undefined;
    };
    const text = await waitFor(async () => (await fetch(`${b.controlUrl}/metrics`, { headers: { authorization: `Basic ${auth}` } })).text(), {
      timeoutMs: 30_000, intervalMs: 500, what: 'a GPU reading for the copy on /metrics',
      until: (t) => ratio(t, 'gpu') !== undefined,
    });
    assert.equal(ratio(text, 'gpu'), 0.4);
    assert.equal(ratio(text, 'gpu_memory'), 0.2);

    const q = (id, name) => ({
      Id: id,
      MetricStat: {
        Metric: { Namespace: '/aws/sagemaker/InferenceComponents', MetricName: name, Dimensions: [{ Name: 'InferenceComponentName', Value: 'gu-ic' }] },
        Period: 10, Stat: 'Average',
      },
    });
    const out = await waitFor(() => cw.send(new GetMetricDataCommand({
      MetricDataQueries: [q('gpu', 'GPUUtilizationNormalized'), q('mem', 'GPUMemoryUtilizationNormalized')],
      StartTime: new Date(since - 60_000), EndTime: new Date(Date.now() + 60_000),
    })), {
      timeoutMs: 40_000, intervalMs: 1_000, what: 'a closed bucket with GPU readings',
      until: (r) => r.MetricDataResults.every((m) => m.Values.length > 0),
    });
    const [gpu, mem] = out.MetricDataResults;
    for (const v of gpu.Values) assert.ok(Math.abs(v - 40) < 1e-3, `GPUUtilizationNormalized ${v}`);
    for (const v of mem.Values) assert.ok(Math.abs(v - 20) < 1e-3, `GPUMemoryUtilizationNormalized ${v}`);
  } finally {
    cw.destroy();
  }
});

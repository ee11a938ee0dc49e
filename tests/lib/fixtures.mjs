// Higher-level helpers over the raw SageMaker JSON 1.1 API (tests/lib/berthd.mjs):
// deploy an endpoint or an inference component and wait for the status the
// test needs, failing fast (with FailureReason) when it goes Failed.

import { control, controlOk, modelContainer, waitFor } from './berthd.mjs';

export const INSTANCE_TYPE = 'ml.m5.xlarge'; // 4 vCPU, 16 GiB in the catalog
export const NO_CAPACITY_REASON =
  'There is not enough hardware resources on the instances for this endpoint to create a copy of the inference component.';

/** A ProductionVariant on ml.m5.xlarge; `extra` is merged in. */
export function variant(extra = {}) {
  return { VariantName: 'AllTraffic', InstanceType: INSTANCE_TYPE, InitialInstanceCount: 1, ...extra };
}

/** CreateEndpointConfig + CreateEndpoint, then wait for InService. */
export async function deployEndpoint(controlUrl, name, { variantExtra = {}, timeoutMs = 120_000 } = {}) {
  await controlOk(controlUrl, 'CreateEndpointConfig', {
    EndpointConfigName: `${name}-config`,
    ProductionVariants: [variant(variantExtra)],
  });
  await controlOk(controlUrl, 'CreateEndpoint', { EndpointName: name, EndpointConfigName: `${name}-config` });
  return waitEndpointStatus(controlUrl, name, 'InService', { timeoutMs });
}

export async function describeEndpoint(controlUrl, name) {
  const r = await control(controlUrl, 'DescribeEndpoint', { EndpointName: name });
  if (r.status !== 200) throw new Error(`DescribeEndpoint ${name} answered ${r.status}: ${r.text}`);
  return r.json;
}

export async function describeIc(controlUrl, name) {
  const r = await control(controlUrl, 'DescribeInferenceComponent', { InferenceComponentName: name });
  if (r.status !== 200) throw new Error(`DescribeInferenceComponent ${name} answered ${r.status}: ${r.text}`);
  return r.json;
}

export function waitEndpointStatus(controlUrl, name, status, { timeoutMs = 120_000 } = {}) {
  return waitFor(() => describeEndpoint(controlUrl, name), {
    timeoutMs, intervalMs: 300,
    what: `endpoint ${name} to be ${status}`,
    until: (d) => d.EndpointStatus === status,
    failIf: (d) => (d.EndpointStatus === 'Failed' && status !== 'Failed'
      ? `endpoint went Failed: ${d.FailureReason}` : null),
  });
}

/** The IC body used by most tests: berth-model, 1 core, 256 MB. */
export function icBody(name, endpoint, modelId, { env = {}, cores = 1, memoryMb = 256, copies = 1, extra = {} } = {}) {
  return {
    InferenceComponentName: name,
    EndpointName: endpoint,
    VariantName: 'AllTraffic',
    Specification: {
      Container: modelContainer(modelId, env),
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: cores, MinMemoryRequiredInMb: memoryMb },
    },
    RuntimeConfig: { CopyCount: copies },
    ...extra,
  };
}

/** Wait until the IC is InService with `copies` current copies. */
export function waitIcInService(controlUrl, name, copies = 1, { timeoutMs = 120_000 } = {}) {
  return waitFor(() => describeIc(controlUrl, name), {
    timeoutMs, intervalMs: 300,
    what: `inference component ${name} to be InService with CurrentCopyCount ${copies}`,
    until: (d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === copies,
    failIf: (d) => (d.InferenceComponentStatus === 'Failed' ? `IC went Failed: ${d.FailureReason}` : null),
  });
}

/** CreateInferenceComponent (icBody options) and wait for InService. */
export async function deployIc(controlUrl, name, endpoint, modelId, opts = {}) {
  await controlOk(controlUrl, 'CreateInferenceComponent', icBody(name, endpoint, modelId, opts));
  return waitIcInService(controlUrl, name, opts.copies ?? 1, { timeoutMs: opts.timeoutMs ?? 120_000 });
}

/** The error type of a runtime answer: x-amzn-errortype (before any ':') or __type. */
export function runtimeErrorType(r) {
  const get = (k) => (typeof r.headers.get === 'function' ? r.headers.get(k) : r.headers[k]);
  const h = get('x-amzn-errortype');
  if (h) return h.split(':')[0];
  const t = r.json?.__type ?? r.json?.code;
  return t ? String(t).split('#').pop().split(':')[0] : undefined;
}

/** The message of an AWS JSON error body (message or Message). */
export function errorMessage(r) {
  return r.json?.message ?? r.json?.Message ?? '';
}

/** Steady InvokeEndpoint traffic through an SDK runtime client `rt`:
 *  `workers` loops, each pausing `pauseMs` between calls, every answer's
 *  model_id recorded in order and every failure kept. stop() resolves to
 *  {answers, failures, rate} (rate: answers per second). */
export function steadyLoad(rt, InvokeEndpointCommand, target, { workers = 4, pauseMs = 0 } = {}) {
  const answers = [];
  const failures = [];
  let running = true;
  const started = Date.now();
  const loop = async (w) => {
    for (let i = 0; running; i++) {
      try {
        const out = await rt.send(new InvokeEndpointCommand({
          ...target, ContentType: 'application/json', Body: JSON.stringify({ inputs: `w${w}-${i}` }),
        }));
        answers.push(JSON.parse(Buffer.from(out.Body).toString('utf8')).model_id);
      } catch (err) {
        failures.push(`${err.name}: ${err.message}`);
      }
      if (pauseMs) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  const all = Array.from({ length: workers }, (_, w) => loop(w));
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(all);
      return { answers, failures, rate: answers.length / ((Date.now() - started) / 1000) };
    },
  };
}

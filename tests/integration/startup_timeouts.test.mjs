// The two startup timeouts of a copy, from the IC's StartupParameters or, when
// the IC sets none, from its ProductionVariant (CreateEndpointConfig):
// - ContainerStartupHealthCheckTimeoutInSeconds: a model that never answers
//   GET /ping (Image /usr/bin/sleep) fails the IC once it passes, with a
//   FailureReason naming the field and the value;
// - ModelDataDownloadTimeoutInSeconds: an artifact still downloading when it
//   passes fails the IC the same way, the fetch is killed (its connection
//   closes) and its half-written work directory removed.
// An artifact that unpacks in time serves from it (SM_MODEL_DIR).
//
// SageMaker's smallest value for both is 60 s, so the four failures run at
// once on one daemon and the file takes about 65 s. The slow artifacts come
// from a local HTTP server that sends their bytes one every 100 ms.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { TEST_TAG, controlOk, invoke, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { describeIc, variant, waitEndpointStatus, waitIcInService } from '../lib/fixtures.mjs';

const STEP = { timeout: 180_000 };
const LIMIT_S = 60; // the smallest value SageMaker (and Berth) accepts
const SHORT = 'timeouts-short'; // variant sets both timeouts to LIMIT_S
const LONG = 'timeouts-long';   // variant sets both to 3600: the IC's own win

let b;
let dir;          // artifacts
let sleepExe;
let slow;         // the HTTP server that trickles slow-*.tar.gz
let slowUrl;
const slowClosed = new Set(); // slow artifacts whose download connection closed
const created = {}; // IC name -> Date.now() after CreateInferenceComponent

function onPath(name) {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  throw new Error(`${name} not found on PATH`);
}

function archive(name, files) {
  const src = fs.mkdtempSync(path.join(dir, 'src-'));
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(src, f), text);
  const out = path.join(dir, name);
  execFileSync(onPath('tar'), ['-czf', out, '-C', src, '.']);
  return out;
}

function ic(name, endpoint, container, startup) {
  return {
    InferenceComponentName: name,
    EndpointName: endpoint,
    VariantName: 'AllTraffic',
    Specification: {
      Container: container,
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 0.5, MinMemoryRequiredInMb: 128 },
      ...(startup ? { StartupParameters: startup } : {}),
    },
    RuntimeConfig: { CopyCount: 1 },
  };
}

// A model that starts and never answers /ping. Image is run without a shell.
const silent = () => ({ Image: `${sleepExe} 1000`, Environment: { BERTH_TEST_TAG: TEST_TAG } });
// berth-model without BERTH_MODEL_ID, so that the artifact's berth-model.json names it.
const withArtifact = (file) => ({ Image: 'berth-model', ArtifactUrl: file, Environment: { BERTH_TEST_TAG: TEST_TAG } });

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-timeouts-'));
  sleepExe = onPath('sleep');
  archive('model.tar.gz', { 'berth-model.json': JSON.stringify({ model_id: 'from-artifact' }) });
  slow = http.createServer((req, res) => {
    const name = req.url.slice(1);
    res.writeHead(200, { 'content-length': 1 << 20, etag: `"${name}"` });
    if (req.method === 'HEAD') { res.end(); return; }
    const t = setInterval(() => res.write(Buffer.alloc(1)), 100);
    res.on('close', () => { clearInterval(t); slowClosed.add(name); });
  });
  await new Promise((resolve) => slow.listen(0, '127.0.0.1', resolve));
  slowUrl = (name) => `http://127.0.0.1:${slow.address().port}/${name}`;

  b = await startBerthd({
    extraArgs: ['--allow-exec', sleepExe], // the silent model
  });
  for (const [name, seconds] of [[SHORT, LIMIT_S], [LONG, 3600]]) {
    await controlOk(b.controlUrl, 'CreateEndpointConfig', {
      EndpointConfigName: `${name}-config`,
      ProductionVariants: [variant({
        ContainerStartupHealthCheckTimeoutInSeconds: seconds, ModelDataDownloadTimeoutInSeconds: seconds,
      })],
    });
    await controlOk(b.controlUrl, 'CreateEndpoint', { EndpointName: name, EndpointConfigName: `${name}-config` });
  }
  for (const name of [SHORT, LONG]) await waitEndpointStatus(b.controlUrl, name, 'InService', { timeoutMs: 30_000 });

  // All at once: each failure takes LIMIT_S.
  const bodies = [
    ic('health-variant', SHORT, silent()),
    ic('health-ic', LONG, silent(), { ContainerStartupHealthCheckTimeoutInSeconds: LIMIT_S }),
    ic('download-variant', SHORT, withArtifact(slowUrl('slow-variant.tar.gz'))),
    ic('download-ic', LONG, withArtifact(slowUrl('slow-ic.tar.gz')), { ModelDataDownloadTimeoutInSeconds: LIMIT_S }),
    ic('artifact-ok', LONG, withArtifact(path.join(dir, 'model.tar.gz'))),
  ];
  for (const body of bodies) {
    await controlOk(b.controlUrl, 'CreateInferenceComponent', body);
    created[body.InferenceComponentName] = Date.now();
  }
});

after(async () => {
  await stopAll();
  slow?.closeAllConnections?.();
  if (slow) await new Promise((resolve) => slow.close(resolve));
  if (dir && process.env.BERTH_TEST_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
});

/** Waits for the IC to go Failed; checks it took LIMIT_S (not 600 or 3600). */
async function failsAfterLimit(name, reason) {
  const d = await waitFor(() => describeIc(b.controlUrl, name), {
    timeoutMs: 150_000, intervalMs: 500, what: `${name} to go Failed`,
    until: (x) => x.InferenceComponentStatus === 'Failed',
    failIf: (x) => (x.InferenceComponentStatus === 'InService' ? 'it went InService' : null),
  });
  const seen = (Date.now() - created[name]) / 1000;
  const took = d.LastModifiedTime - d.CreationTime; // when the status changed, as berthd stored it
  assert.match(d.FailureReason ?? '', reason);
  assert.ok(took >= LIMIT_S - 1, `${name} failed after ${took.toFixed(1)} s, before its ${LIMIT_S} s limit: ${d.FailureReason}`);
  assert.ok(seen < LIMIT_S + 45, `${name} failed ${seen.toFixed(1)} s after it was created: the ${LIMIT_S} s limit was not applied`);
  return d;
}

const healthReason = new RegExp(`^Copy \\d+ of inference component health-\\w+ did not pass the health check \\(GET /ping answering 200\\) within ContainerStartupHealthCheckTimeoutInSeconds \\(${LIMIT_S} s\\)`);

test('the variant\'s ContainerStartupHealthCheckTimeoutInSeconds applies to an IC that sets none', STEP, async () => {
  await failsAfterLimit('health-variant', healthReason);
});

test('the IC\'s own ContainerStartupHealthCheckTimeoutInSeconds wins over its variant\'s', STEP, async () => {
  await failsAfterLimit('health-ic', healthReason);
});

/** Work directories (".tmp-") anywhere in the artifact caches. */
const workDirs = () => fs.readdirSync(path.join(b.dataDir, 'artifacts'), { recursive: true })
  .filter((e) => String(e).includes('.tmp-'));

async function downloadFails(name, file) {
  const esc = slowUrl(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  await failsAfterLimit(name, new RegExp(`^Copy \\d+ of inference component ${name} could not get its model artifact: downloading ${esc} did not finish within ModelDataDownloadTimeoutInSeconds \\(${LIMIT_S} s\\) \\(\\d+ of 1048576 bytes received\\), so it was stopped`));
  // The fetch was killed: its connection closed.
  await waitFor(() => slowClosed.has(file), { timeoutMs: 5000, intervalMs: 100, what: `the download of ${file} to be stopped` });
  // Its half-written work directory goes too.
  await waitFor(workDirs, {
    timeoutMs: 5000, intervalMs: 100, what: 'no work directory left in the artifact cache',
    until: (left) => left.length === 0,
  });
}

test('the variant\'s ModelDataDownloadTimeoutInSeconds stops an artifact still downloading', STEP, async () => {
  await downloadFails('download-variant', 'slow-variant.tar.gz');
});

test('the IC\'s own ModelDataDownloadTimeoutInSeconds wins over its variant\'s', STEP, async () => {
  await downloadFails('download-ic', 'slow-ic.tar.gz');
});

test('an artifact that unpacks in time is the copy\'s SM_MODEL_DIR', STEP, async () => {
  await waitIcInService(b.controlUrl, 'artifact-ok', 1, { timeoutMs: 60_000 });
  const r = await invoke(b.runtimeUrl, LONG, 'artifact-ok', { inputs: 'hi' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.model_id, 'from-artifact', 'berth-model read berth-model.json from the unpacked artifact');
});

// A copy whose model server crashes after it was serving is restarted (with
// backoff) and serves again; the IC stays InService and its log file names
// every line with the copy that printed it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { invoke, modelPids, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc, describeIc } from '../lib/fixtures.mjs';

let b;
before(async () => { b = await startBerthd(); });
after(async () => { await stopAll(); });

test('a crashed copy restarts and serves again', { timeout: 120_000 }, async () => {
  await deployEndpoint(b.controlUrl, 'crash-ep');
  await deployIc(b.controlUrl, 'crashy', 'crash-ep', 'crashy');
  const first = await invoke(b.runtimeUrl, 'crash-ep', 'crashy', { inputs: 'a' });
  assert.equal(first.status, 200);
  // berth-model runs under its shim (berthd copy-exec); every berthd
  // process carries the tag too (for cleanup): the model server is the one
  // that is not berthd.
  const copies = () => modelPids();
  const [pid] = copies();
  assert.ok(pid, 'the model process is running');
  process.kill(pid, 'SIGKILL');
  await waitFor(() => b.logs(), {
    timeoutMs: 20_000, what: 'berthd to notice the crash',
    until: (l) => /copy \d+ was killed by signal 9 while serving/.test(l),
  });
  const again = await waitFor(async () => {
    const r = await invoke(b.runtimeUrl, 'crash-ep', 'crashy', { inputs: 'a' });
    return r.status === 200 ? r : null;
  }, { timeoutMs: 60_000, intervalMs: 250, what: 'the restarted copy to answer' });
  assert.equal(again.json.model_id, 'crashy');
  const pids = copies();
  assert.equal(pids.length, 1);
  assert.notEqual(pids[0], pid, 'a new process serves');
  const d = await describeIc(b.controlUrl, 'crashy');
  assert.equal(d.InferenceComponentStatus, 'InService');
  // One stream per copy, in segments (docs/logs.md): every line says when,
  // on which instance and from which copy.
  const dir = path.join(b.dataDir, 'logs', 'crashy');
  const log = fs.readdirSync(dir).sort().map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('');
  assert.match(log, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[i-\d+ copy \d+\] berth-model crashy listening on port \d+$/m);
  assert.ok(log.match(/listening on port/g).length >= 2, 'both starts are in the log');
});

// Enforced limits of process copies (docs/limits.md): each copy runs in a
// cgroup of its own with its whole cores pinned and MaxMemoryRequiredInMb as
// a hard memory limit.  A copy that allocates past its limit is OOM-killed
// and its IC fails saying so and naming the limit; a copy within its limit
// keeps running; copies of one core each get distinct cores; a stopped
// copy's cgroup is removed.  Where cgroups cannot be used (a second berthd
// with BERTH_CGROUP_ROOT pointing at an empty directory) the agent warns
// and pins with CPU affinity instead.
//
// The cgroup tests need root and a writable cgroup v1 or v2 hierarchy with
// cpuset and memory (these Debian 12 machines: hybrid v1); elsewhere they
// are skipped with the reason.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { BUILD_DIR, control, controlOk, modelContainer, rolePids, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, describeIc, waitIcInService } from '../lib/fixtures.mjs';
import { httpCall, misbehavingIc } from '../lib/misbehaving.mjs';

const T = { timeout: 180_000 };
const EP = 'cl-ep';
const ROOT = '/sys/fs/cgroup';

function cgroupLayout() {
  if (process.getuid?.() !== 0) return { skip: 'not root: berthd cannot make cgroups' };
  if (fs.existsSync(`${ROOT}/cgroup.controllers`)) {
    const c = fs.readFileSync(`${ROOT}/cgroup.controllers`, 'utf8');
    return /\bcpuset\b/.test(c) && /\bmemory\b/.test(c) ? { v: 2 } : { skip: `cgroup v2 without cpuset and memory (${c.trim()})` };
  }
  if (fs.existsSync(`${ROOT}/cpuset/cpuset.cpus`) && fs.existsSync(`${ROOT}/memory/memory.limit_in_bytes`)) return { v: 1 };
  return { skip: 'no cgroup v1 or v2 hierarchy with cpuset and memory' };
}
const layout = cgroupLayout();
const sanitized = /BERTH_SANITIZE:BOOL=ON/.test((() => {
  try { return fs.readFileSync(path.join(BUILD_DIR, 'CMakeCache.txt'), 'utf8'); } catch { return ''; }
})());

let b;
before(async () => {
  b = await startBerthd();
  await deployEndpoint(b.controlUrl, EP);
});
after(async () => { await stopAll(); });

function ic(name, { cores = 1, minMb = 128, maxMb, useMb = 0, copies = 1, endpoint = EP } = {}) {
  return {
    InferenceComponentName: name, EndpointName: endpoint, VariantName: 'AllTraffic',
    Specification: {
      Container: modelContainer(name, useMb ? { BERTH_MODEL_MEMORY_MB: String(useMb) } : {}),
      ComputeResourceRequirements: {
        NumberOfCpuCoresRequired: cores, MinMemoryRequiredInMb: minMb,
        ...(maxMb ? { MaxMemoryRequiredInMb: maxMb } : {}),
      },
    },
    RuntimeConfig: { CopyCount: copies },
  };
}

function environOf(pid) {
  try {
    return Object.fromEntries(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
      .filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  } catch { return null; }
}

/** The model servers (not berthd) of IC name: [{pid, copyId}]. */
function servers(name) {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const env = environOf(Number(e));
    if (!env || env.BERTH_INFERENCE_COMPONENT !== name || !env.BERTH_COPY_ID) continue;
    try {
      if (path.basename(fs.readlinkSync(`/proc/${e}/exe`)) === 'berthd') continue;
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
    } catch { continue; }
    out.push({ pid: Number(e), copyId: env.BERTH_COPY_ID });
  }
  return out.sort((a, c) => a.pid - c.pid);
}

function cpusAllowed(pid) {
  return /^Cpus_allowed_list:\s*(\S+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1];
}

/** The cgroup paths of pid per controller: {cpuset, memory} (v1) or {unified} (v2). */
function cgroupsOf(pid) {
  const out = {};
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, ctrls, p] = line.split(':');
    if (ctrls === '') out.unified = p;
    for (const c of ctrls.split(',')) if (c === 'cpuset' || c === 'memory') out[c] = p;
  }
  return out;
}

/** The copy's cgroup directories, from where its server is. */
function copyDirs(pid) {
  const g = cgroupsOf(pid);
  return layout.v === 2 ? [path.join(ROOT, g.unified)] : [path.join(ROOT, 'cpuset', g.cpuset), path.join(ROOT, 'memory', g.memory)];
}

const read = (p) => fs.readFileSync(p, 'utf8').trim();

let pinnedDirs = [];

test('copies of one core each run only on their own core, in a cgroup of the copy with its memory limit', { ...T, skip: layout.skip }, async () => {
  await controlOk(b.controlUrl, 'CreateInferenceComponent', ic('pinned', { copies: 2, maxMb: 512, useMb: 64 }));
  await waitIcInService(b.controlUrl, 'pinned', 2);
  const s = await waitFor(() => servers('pinned'), { timeoutMs: 10_000, what: 'two pinned servers', until: (v) => v.length === 2 });
  const cores = s.map((x) => cpusAllowed(x.pid));
  for (const c of cores) assert.match(c, /^\d+$/, `each server may run on one core only: ${cores}`);
  if (os.cpus().length >= 2) assert.notEqual(cores[0], cores[1], `two copies of one core get distinct cores: ${cores}`);
  for (const x of s) {
    const dirs = copyDirs(x.pid);
    for (const d of dirs) assert.match(d, new RegExp(`/berth/agent-[0-9a-f]+/copy-${x.copyId}$`), `the server is in its copy's cgroup: ${d}`);
    if (layout.v === 1) {
      assert.equal(read(`${dirs[0]}/cpuset.cpus`), cpusAllowed(x.pid));
      assert.equal(Number(read(`${dirs[1]}/memory.limit_in_bytes`)), 512 * 2 ** 20);
      assert.equal(read(`${dirs[1]}/memory.swappiness`), '0');
      assert.match(read(`${dirs[1]}/memory.oom_control`), /^oom_kill_disable 0$/m);
    } else {
      assert.equal(read(`${dirs[0]}/cpuset.cpus`), cpusAllowed(x.pid));
      assert.equal(Number(read(`${dirs[0]}/memory.max`)), 512 * 2 ** 20);
    }
    // The shim that owns the copy stays outside it (it survives an OOM kill).
    const shim = Number(read(`/proc/${x.pid}/stat`).slice(read(`/proc/${x.pid}/stat`).lastIndexOf(')') + 2).split(' ')[1]);
    assert.notDeepEqual(cgroupsOf(shim), cgroupsOf(x.pid), 'the shim is not in the copy\'s cgroup');
  }
  pinnedDirs = s.map((x) => ({ pid: x.pid, dirs: copyDirs(x.pid) }));
});

test('a copy that allocates past its MaxMemoryRequiredInMb is killed and its IC fails naming the limit; the others keep running', { ...T, skip: layout.skip }, async () => {
  assert.equal(pinnedDirs.length, 2, 'the pinned copies run (previous test)');
  await controlOk(b.controlUrl, 'CreateInferenceComponent', ic('hog', { maxMb: 256, useMb: 600 }));
  const d = await waitFor(() => describeIc(b.controlUrl, 'hog'), {
    timeoutMs: 60_000, what: 'the hog IC to fail',
    until: (x) => x.InferenceComponentStatus === 'Failed',
    failIf: (x) => (x.InferenceComponentStatus === 'InService' ? 'it went InService: nothing limited it' : null),
  });
  assert.match(d.FailureReason, /was killed for exceeding its memory limit of MaxMemoryRequiredInMb \(256 MiB/, d.FailureReason);
  // Within their limits, the pinned copies were never touched.
  const p = await describeIc(b.controlUrl, 'pinned');
  assert.equal(p.InferenceComponentStatus, 'InService');
  assert.equal(p.RuntimeConfig.CurrentCopyCount, 2);
  assert.deepEqual(servers('pinned').map((x) => x.pid), pinnedDirs.map((x) => x.pid), 'the same servers still run');
  await controlOk(b.controlUrl, 'DeleteInferenceComponent', { InferenceComponentName: 'hog' });
});

test('a stopped copy\'s cgroup is gone', { ...T, skip: layout.skip }, async () => {
  assert.equal(pinnedDirs.length, 2, 'the pinned copies run (first test)');
  const agentDirs = [...new Set(pinnedDirs.flatMap((x) => x.dirs.map((d) => path.dirname(d))))];
  await controlOk(b.controlUrl, 'DeleteInferenceComponent', { InferenceComponentName: 'pinned' });
  await waitFor(() => pinnedDirs.flatMap((x) => x.dirs).filter((d) => fs.existsSync(d)), {
    timeoutMs: 60_000, what: 'the pinned copies\' cgroups to be removed', until: (left) => left.length === 0,
  });
  // Nothing of the hog's copy is left either: the agent's groups are empty.
  await waitFor(() => (control(b.controlUrl, 'DescribeInferenceComponent', { InferenceComponentName: 'hog' })), {
    timeoutMs: 60_000, what: 'the hog IC to be deleted', until: (r) => r.status === 400,
  });
  const left = agentDirs.flatMap((a) => fs.readdirSync(a).filter((n) => n.startsWith('copy-')).map((n) => path.join(a, n)));
  assert.deepEqual(left, [], 'no copy cgroup is left under the agent\'s');
});

test('an adopted copy (its agent was killed with SIGKILL) that exceeds its limit while serving is reported the same way', { ...T, skip: layout.skip }, async () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cl-late-'));
  fs.chmodSync(state, 0o777);
  const body = misbehavingIc('late', EP, state, { cores: 1, memoryMb: 128 });
  body.Specification.ComputeResourceRequirements.MaxMemoryRequiredInMb = 256;
  await controlOk(b.controlUrl, 'CreateInferenceComponent', body);
  await waitIcInService(b.controlUrl, 'late', 1);
  const [server] = servers('late');
  assert.ok(server, 'the late server runs');
  const [agentPid] = rolePids('agent');
  process.kill(agentPid, 'SIGKILL');
  await waitFor(() => b.logs(), {
    timeoutMs: 60_000, what: 'a new agent to adopt the copy',
    until: (l) => new RegExp(`adopted copy ${server.copyId} \\(pid`).test(l),
  });
  assert.deepEqual(servers('late').map((x) => x.pid), [server.pid], 'adopted, not restarted');
  const r = await httpCall(b.runtimeUrl, {
    path: `/endpoints/${EP}/invocations`,
    headers: { 'content-type': 'application/json', 'x-amzn-sagemaker-inference-component': 'late' },
    body: { mode: 'hog', mb: 600 }, timeoutMs: 30_000,
  }).promise;
  assert.notEqual(r.status, 200, `the hog request cannot succeed: ${r.status} ${r.text}`);
  await waitFor(() => b.logs(), {
    timeoutMs: 30_000, what: 'the adopting agent to name the OOM kill',
    until: (l) => new RegExp(`copy ${server.copyId} was killed for exceeding its memory limit of MaxMemoryRequiredInMb \\(256 MiB`).test(l),
  });
  await controlOk(b.controlUrl, 'DeleteInferenceComponent', { InferenceComponentName: 'late' });
  fs.rmSync(state, { recursive: true, force: true });
});

test('without cgroups the agent warns and pins the copy with CPU affinity', T, async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-no-cgroup-'));
  const f = await startBerthd({ env: { BERTH_CGROUP_ROOT: empty } });
  try {
    await deployEndpoint(f.controlUrl, 'fb-ep');
    await waitFor(() => f.logs(), {
      timeoutMs: 20_000, what: 'the agent\'s warning',
      until: (l) => /not enforced with cgroups \(no cgroup v2 hierarchy/.test(l),
    });
    assert.match(f.logs(), /RLIMIT_AS/);
    // ASan reserves terabytes of address space: under RLIMIT_AS a sanitized
    // server cannot start at all, so there it gets no memory limit.
    await controlOk(f.controlUrl, 'CreateInferenceComponent', ic('fb', { endpoint: 'fb-ep', maxMb: sanitized ? undefined : 256, useMb: 16 }));
    await waitIcInService(f.controlUrl, 'fb', 1);
    const [s] = await waitFor(() => servers('fb'), { timeoutMs: 10_000, what: 'the fb server', until: (v) => v.length === 1 });
    assert.match(cpusAllowed(s.pid), /^\d+$/, 'pinned to one core by affinity');
    assert.equal(cgroupsOf(s.pid).cpuset ?? '/', cgroupsOf(process.pid).cpuset ?? '/', 'in no cgroup of its own');
    if (!sanitized) {
      await controlOk(f.controlUrl, 'CreateInferenceComponent', ic('fbhog', { endpoint: 'fb-ep', maxMb: 256, useMb: 600 }));
      const d = await waitFor(() => describeIc(f.controlUrl, 'fbhog'), {
        timeoutMs: 60_000, what: 'the fbhog IC to fail', until: (x) => x.InferenceComponentStatus === 'Failed',
      });
      assert.match(d.FailureReason, /cannot allocate BERTH_MODEL_MEMORY_MB=600 MiB/, d.FailureReason);
    }
  } finally {
    await f.stop();
    fs.rmSync(empty, { recursive: true, force: true });
  }
});

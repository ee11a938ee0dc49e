// The exec instance provider (docs/providers.md): managed instance scaling
// creates and deletes instances by running hooks. The test's hooks are shell
// scripts whose "hosts" are network namespaces: the create hook takes a free
// namespace, starts `berthd agent --join $BERTH_JOIN_URL` in it with the
// one-time token and prints instance-id=<namespace>; the delete hook kills
// everything in the namespace named by $BERTH_CLOUD_INSTANCE_ID and frees it.
//
// One scenario, in order:
// 1. the endpoint's initial instance comes from the create hook, its agent
//    joins, and (MinInstanceCount 0, no copies) it is released: the delete
//    hook runs and the endpoint is at 0 instances;
// 2. an IC's first copy needs an instance and the create hook fails once
//    (exit 1): a failed launch, visible in the IC's FailureReason and the
//    log, then retried: the IC comes InService;
// 3. under a steady load, 6 copies grow the endpoint to 3 instances and 1
//    copy shrinks it back, with no failed invocation;
// 4. a create hook whose agent never joins: deleted after the join deadline
//    (--instance-join-timeout), reported as a failed launch, then retried;
// 5. berthd's controller is killed and restarted: the agents come back to
//    their instances (the hooks' records are in the store), nothing deleted;
// 6. the IC's deletion takes the endpoint to 0 instances, and the delete
//    hook has run once for every instance the create hook made. No join
//    token appears in berthd's log (the create hook prints it: it is cut).
//
// Topology as in pool.test.mjs: a bridge with 10.233.<n>.1/24, one veth
// pair per namespace. Needs root; otherwise it exits 77 (skipped).
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  BERTHD, SANITIZER_MARKERS, controlOk, freePort, invoke, sleep, startBerthd, stopAll, waitFor,
} from '../lib/berthd.mjs';
import { netnsOrSkip, scenario } from '../lib/steps.mjs';
import { describeEndpoint, describeIc, icBody, waitIcInService } from '../lib/fixtures.mjs';

const TYPE = 'ml.m5.large'; // 2 vCPU: two 1-core copies per instance
const EP = 'exec-ep';
const IC = 'exec-ic';
const JOIN_TIMEOUT_S = 15;
const tag = randomBytes(2).toString('hex');
const bridge = `bex${tag}`;
const NS = ['a', 'b', 'c', 'd'].map((n) => `berth-exec-${tag}-${n}`);

let subnet = null;
let skipReason = null;
let b = null;
let state = null; // the hooks' directory
const made = { netns: [], links: [] };

function ip(...args) {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

function killNamespaces() {
  for (const ns of made.netns) {
    let pids = '';
    try { pids = ip('netns', 'pids', ns); } catch { continue; }
    for (const p of pids.split(/\s+/).filter(Boolean)) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
  }
}

function teardownSync() {
  killNamespaces();
  for (const l of made.links.splice(0)) { try { ip('link', 'del', l); } catch { /* gone with its peer */ } }
  for (const ns of made.netns.splice(0)) { try { ip('netns', 'del', ns); } catch { /* not there */ } }
  if (state && process.env.BERTH_TEST_KEEP !== '1') fs.rmSync(state, { recursive: true, force: true });
}
process.on('exit', teardownSync);

function buildNetwork() {
  const inUse = ip('-4', '-o', 'addr') + ip('-4', 'route', 'show', 'table', 'all');
  for (let i = 0; i < 50 && !subnet; i++) {
    const n = 1 + (randomBytes(1)[0] % 254);
    if (!inUse.includes(`10.233.${n}.`)) subnet = `10.233.${n}`;
  }
  if (!subnet) throw new Error('no free 10.233.<n>.0/24 subnet found');
  ip('link', 'add', bridge, 'type', 'bridge');
  made.links.push(bridge);
  ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
  ip('link', 'set', bridge, 'up');
  NS.forEach((ns, i) => {
    const host = `bx${tag}${i}h`;
    const peer = `bx${tag}${i}p`;
    ip('netns', 'add', ns);
    made.netns.push(ns);
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
    made.links.push(host);
    ip('link', 'set', peer, 'netns', ns);
    ip('link', 'set', host, 'master', bridge, 'up');
    ip('-n', ns, 'addr', 'add', `${subnet}.${11 + i}/24`, 'dev', peer);
    ip('-n', ns, 'link', 'set', peer, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  });
}

function writeHooks() {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-exec-hooks-'));
  const q = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;
  fs.writeFileSync(path.join(state, 'create.sh'), `#!/bin/sh
# A "host" is a free network namespace; its agent joins with the one-time token.
S=${q(state)}
echo "create $BERTH_INSTANCE_ID $BERTH_INSTANCE_TYPE $BERTH_INSTANCE_NAME $BERTH_ENDPOINT/$BERTH_VARIANT" >> "$S/creates.log"
echo "$BERTH_JOIN_TOKEN" >> "$S/tokens.log"
if [ -e "$S/fail-once" ]; then
  rm -f "$S/fail-once"
  echo "simulated: no capacity for $BERTH_INSTANCE_TYPE"
  exit 1
fi
for ns in ${NS.join(' ')}; do
  if mkdir "$S/slot-$ns" 2>/dev/null; then
    echo "booting $BERTH_INSTANCE_NAME in $ns with token $BERTH_JOIN_TOKEN"
    if [ ! -e "$S/nojoin" ]; then
      mkdir -p "$S/data-$BERTH_INSTANCE_ID"
      BERTH_AGENT_TOKEN="$BERTH_JOIN_TOKEN" setsid ip netns exec "$ns" ${q(BERTHD)} agent \\
        --join "$BERTH_JOIN_URL" --insecure --instance-type "$BERTH_INSTANCE_TYPE" \\
        --data-dir "$S/data-$BERTH_INSTANCE_ID" > "$S/agent-$BERTH_INSTANCE_ID.log" 2>&1 < /dev/null &
    fi
    echo "instance-id=$ns"
    exit 0
  fi
done
echo "no free namespace"
exit 1
`, { mode: 0o755 });
  fs.writeFileSync(path.join(state, 'delete.sh'), `#!/bin/sh
S=${q(state)}
ns="$BERTH_CLOUD_INSTANCE_ID"
echo "delete $BERTH_INSTANCE_ID $ns $BERTH_DELETE_REASON" >> "$S/deletes.log"
case "$BERTH_CREATE_OUTPUT" in *"instance-id=$ns"*) ;; *) echo "create output not passed"; exit 1 ;; esac
for p in $(ip netns pids "$ns"); do kill -9 "$p" 2>/dev/null; done
rm -rf "$S/slot-$ns"
echo "deleted $ns"
`, { mode: 0o755 });
}

const readLines = (name) => {
  try { return fs.readFileSync(path.join(state, name), 'utf8').split('\n').filter(Boolean); } catch { return []; }
};
const deletes = () => readLines('deletes.log').map((l) => {
  const [, id, ns, ...reason] = l.split(' ');
  return { id: Number(id), ns, reason: reason.join(' ') };
});
const launched = () => [...b.logs().matchAll(/instance (\d+) \(\S+\) launching: the create hook runs/g)].map((m) => Number(m[1]));

async function instances() {
  const v = (await describeEndpoint(b.controlUrl, EP)).ProductionVariants[0];
  return { current: v.CurrentInstanceCount, desired: v.DesiredInstanceCount };
}
const waitInstances = (n, timeoutMs = 90_000) => waitFor(instances, {
  timeoutMs, intervalMs: 250, what: `${EP} at ${n} instances`,
  until: (x) => x.current === n && x.desired === n,
});
const scale = (n) => controlOk(b.controlUrl, 'UpdateInferenceComponentRuntimeConfig',
  { InferenceComponentName: IC, DesiredRuntimeConfig: { CopyCount: n } });

before(async () => {
  skipReason = netnsOrSkip(buildNetwork, teardownSync);
  if (skipReason) return;
  writeHooks();
  const agentPort = await freePort();
  b = await startBerthd({
    extraArgs: ['--provider', 'exec',
      '--instance-create', `sh ${path.join(state, 'create.sh')}`,
      '--instance-delete', `sh ${path.join(state, 'delete.sh')}`,
      '--instance-join-timeout', String(JOIN_TIMEOUT_S), '--instance-hook-timeout', '30',
      '--agent-listen', `${subnet}.1:${agentPort}`, '--insecure-listen',
      '--instance-cooldown', '2'],
  });
});

after(async () => {
  if (skipReason) process.exitCode = 77;
  try {
    await stopAll();
  } finally {
    teardownSync();
  }
});

const step = scenario({
  skipped: () => skipReason,
  context: () => {
    const agentLogs = fs.readdirSync(state).filter((f) => f.startsWith('agent-'))
      .map((f) => `--- ${f}\n${fs.readFileSync(path.join(state, f), 'utf8').slice(-1500)}`).join('\n');
    return `--- creates\n${readLines('creates.log').join('\n')}\n--- deletes\n`
      + `${readLines('deletes.log').join('\n')}\n${agentLogs}\n--- controller log (last 6000 bytes)\n`
      + `${b?.logs().slice(-6000)}`;
  },
});

step('the initial instance comes from the create hook and, unused, goes by the delete hook', 90_000, async () => {
  await controlOk(b.controlUrl, 'CreateEndpointConfig', {
    EndpointConfigName: `${EP}-config`,
    ProductionVariants: [{
      VariantName: 'AllTraffic', InstanceType: TYPE, InitialInstanceCount: 1,
      ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 0, MaxInstanceCount: 3 },
    }],
  });
  await controlOk(b.controlUrl, 'CreateEndpoint', { EndpointName: EP, EndpointConfigName: `${EP}-config` });
  const first = await waitFor(() => launched()[0], { timeoutMs: 20_000, what: 'the first launch' });
  await waitFor(() => b.logs(), {
    timeoutMs: 30_000, what: `instance ${first}'s agent to join`,
    until: (l) => new RegExp(`instance ${first} \\(${TYPE}\\): agent \\S+ joined from ${subnet.replace(/\./g, '\\.')}\\.1\\d`).test(l),
  });
  await waitInstances(0);
  const d = await waitFor(deletes, { timeoutMs: 20_000, what: 'the delete hook', until: (x) => x.length === 1 });
  assert.equal(d[0].id, first);
  assert.match(d[0].ns, /^berth-exec-/);
  assert.equal(d[0].reason, 'released');
  // The hook writes its line first; berthd logs the hook's end after it exits.
  await waitFor(() => b.logs(), {
    timeoutMs: 10_000, what: 'the delete hook\'s exit in the log',
    until: (l) => new RegExp(`instance ${first} \\(${TYPE}, instance-id ${d[0].ns}\\): the delete hook exited 0`).test(l),
  });
  const c = readLines('creates.log')[0];
  assert.match(c, new RegExp(`^create ${first} ${TYPE} berth-${EP}-${first} ${EP}/AllTraffic$`));
});

step('a create hook that fails once is a failed launch: reported, retried, the IC comes InService', 120_000, async () => {
  fs.writeFileSync(path.join(state, 'fail-once'), '');
  const before = launched().length;
  await controlOk(b.controlUrl, 'CreateInferenceComponent', icBody(IC, EP, 'exec-model', { cores: 1, memoryMb: 512, copies: 1 }));
  // The failure reaches the API while the variant's next launch waits.
  const failed = await waitFor(() => describeIc(b.controlUrl, IC), {
    timeoutMs: 30_000, intervalMs: 100, what: 'the failed launch in the IC FailureReason',
    until: (x) => /the create hook exited 1: simulated: no capacity/.test(x.FailureReason ?? ''),
  });
  console.log(`failed launch as reported: ${failed.FailureReason}`);
  assert.match(b.logs(), /the create hook exited 1 after [\d.]+ s: simulated: no capacity for ml\.m5\.large/);
  assert.match(b.logs(), /failed launch 1 in a row: .*; the next launch in 2 s/);
  await waitIcInService(b.controlUrl, IC, 1, { timeoutMs: 90_000 });
  assert.ok(launched().length >= before + 2, `launched: ${launched()}`);
  assert.deepEqual(await instances(), { current: 1, desired: 1 });
  const d = await describeIc(b.controlUrl, IC);
  assert.equal(d.FailureReason, undefined, `FailureReason left behind: ${d.FailureReason}`);
});

step('under load: 6 copies grow the endpoint to 3 instances and 1 copy shrinks it, no failed invocation', 240_000, async () => {
  const counts = { ok: 0, failed: 0, errors: [] };
  let running = true;
  const worker = async () => {
    while (running) {
      let r;
      try {
        r = await invoke(b.runtimeUrl, EP, IC, { inputs: 'x' }, {}, { timeoutMs: 30_000 });
      } catch (err) {
        counts.failed++;
        if (counts.errors.length < 5) counts.errors.push(err.message);
        continue;
      }
      if (r.status === 200) counts.ok++;
      else {
        counts.failed++;
        if (counts.errors.length < 5) counts.errors.push(`${r.status} ${r.text.slice(0, 200)}`);
      }
    }
  };
  const workers = [worker(), worker(), worker(), worker()];
  const started = Date.now();
  let grew;
  try {
    await sleep(1000); // the load first, then the step
    await scale(6);
    await waitIcInService(b.controlUrl, IC, 6, { timeoutMs: 150_000 });
    grew = await waitInstances(3);
    const atThree = counts.ok;
    await waitFor(() => counts.ok, { timeoutMs: 30_000, what: 'requests served at 3 instances', until: (n) => n > atThree + 40 });
    await scale(1);
    await waitIcInService(b.controlUrl, IC, 1);
    await waitInstances(1);
    const atOne = counts.ok;
    await waitFor(() => counts.ok, { timeoutMs: 30_000, what: 'requests served after the scale-in', until: (n) => n > atOne + 20 });
  } finally {
    running = false;
    await Promise.all(workers);
  }
  console.log(`load step: ${counts.ok} ok, ${counts.failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.deepEqual(grew, { current: 3, desired: 3 });
  assert.equal(counts.failed, 0, `failed invocations: ${JSON.stringify(counts.errors)}`);
  // The two instances released on the way down were deleted by the hook.
  await waitFor(() => deletes().filter((x) => x.reason === 'released').length, {
    timeoutMs: 20_000, what: 'the delete hook for the released instances', until: (n) => n >= 3,
  });
});

step('an instance whose agent never joins is deleted at the join deadline and the launch retried', 150_000, async () => {
  fs.writeFileSync(path.join(state, 'nojoin'), '');
  const n0 = launched().length;
  await scale(3); // one more instance
  const lost = await waitFor(() => launched()[n0], { timeoutMs: 20_000, what: 'the launch that will not join' });
  const t0 = Date.now();
  const failed = await waitFor(() => describeIc(b.controlUrl, IC), {
    timeoutMs: (JOIN_TIMEOUT_S + 20) * 1000, intervalMs: 100, what: 'the join timeout in the IC FailureReason',
    until: (x) => new RegExp(`instance ${lost} \\(${TYPE}\\): its agent did not join within ${JOIN_TIMEOUT_S} s`).test(x.FailureReason ?? ''),
  });
  const waited = (Date.now() - t0) / 1000;
  console.log(`join timeout after ${waited.toFixed(1)} s: ${failed.FailureReason}`);
  fs.rmSync(path.join(state, 'nojoin'));
  const d = await waitFor(() => deletes().find((x) => x.id === lost), { timeoutMs: 20_000, what: `the delete hook for ${lost}` });
  assert.match(d.reason, /did not join within/);
  assert.match(d.ns, /^berth-exec-/);
  await waitIcInService(b.controlUrl, IC, 3, { timeoutMs: 90_000 });
  await waitInstances(2);
});

step('a controller restart keeps the instances the hooks made: their agents come back to them', 120_000, async () => {
  const held = await instances();
  assert.deepEqual(held, { current: 2, desired: 2 });
  const deletesBefore = deletes().length;
  const logStart = b.logs().length;
  const pid = b.controllerPid();
  assert.ok(pid, 'the controller runs');
  process.kill(pid, 'SIGKILL');
  await waitFor(() => b.controllerPid(), { timeoutMs: 30_000, what: 'berthd up to restart the controller', until: (p) => p && p !== pid });
  await waitFor(() => b.logs().slice(logStart), {
    timeoutMs: 60_000, what: 'both agents back on their instances',
    until: (l) => (l.match(/launched before this controller started, is back/g) ?? []).length === 2,
  });
  await waitIcInService(b.controlUrl, IC, 3, { timeoutMs: 60_000 });
  assert.deepEqual(await instances(), held);
  const r = await invoke(b.runtimeUrl, EP, IC, { inputs: 'x' });
  assert.equal(r.status, 200, r.text);
  assert.equal(deletes().length, deletesBefore, `deleted on restart: ${JSON.stringify(deletes().slice(deletesBefore))}`);
});

step('deleting the IC takes the endpoint to 0 instances; every instance made was deleted by the hook', 120_000, async () => {
  await controlOk(b.controlUrl, 'DeleteInferenceComponent', { InferenceComponentName: IC });
  await waitInstances(0);
  // Every launch whose create hook printed an instance-id has its delete;
  // the one that failed (exit 1, no id) needs none.
  const made = readLines('creates.log').length;
  const ids = launched();
  assert.equal(ids.length, made, 'one create hook run per launch');
  await waitFor(deletes, {
    timeoutMs: 30_000, what: 'a delete per instance made', until: (x) => x.length === made - 1,
  });
  const deleted = deletes().map((x) => x.id).sort((p, q) => p - q);
  assert.equal(new Set(deleted).size, deleted.length, `a delete hook ran twice: ${deleted}`);
  const failedId = ids.find((id) => !deleted.includes(id));
  assert.match(b.logs(), new RegExp(`instance ${failedId} \\(${TYPE}\\): the create hook exited 1`));
  // No namespace is still taken, no agent still runs.
  await waitFor(() => fs.readdirSync(state).filter((f) => f.startsWith('slot-')), {
    timeoutMs: 10_000, what: 'every slot freed', until: (x) => x.length === 0,
  });
  // The join tokens never reached the log, though the create hook printed them.
  const tokens = readLines('tokens.log');
  assert.equal(tokens.length, made);
  for (const t of tokens) {
    assert.match(t, /^[0-9a-f]{64}$/);
    assert.ok(!b.logs().includes(t), 'a join token is in berthd\'s log');
  }
  assert.match(b.logs(), /booting berth-exec-ep-\d+ in berth-exec-\S+ with token \[join token\]/);
  // The agents' own output (the hooks sent it to files) is clean too.
  for (const f of fs.readdirSync(state).filter((x) => x.startsWith('agent-'))) {
    const log = fs.readFileSync(path.join(state, f), 'utf8');
    for (const marker of SANITIZER_MARKERS)
      assert.ok(!log.includes(marker), `${f}: ${marker}\n${log.slice(-3000)}`);
  }
});

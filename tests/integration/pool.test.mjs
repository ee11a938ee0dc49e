// The pool instance provider with agents on "other hosts" (issue 3): agents in
// real network namespaces join a controller with a token, an endpoint waits
// in Creating until it has its instances, copies run inside the agents'
// namespaces and serve through the router, a wrong (or missing) token is
// refused, a spare agent stays free capacity, and when an agent is killed
// the spare is claimed to restore the instance count and the lost copy is
// placed again so that the IC is back at full strength. Then the other
// recovery path: another agent is killed when there is no spare left, and
// its copy goes to the surviving instance that still has room (the endpoint
// runs one instance short until an agent joins).
//
// Topology: a bridge with 10.232.<n>.1/24 in the root namespace (random n,
// a subnet not in use here), one veth pair per namespace into it; agents
// a, b, c (good token) and x (wrong token) at .11 .. .14. The controller's
// control API listens on 0.0.0.0 so that agents reach it at the bridge
// address; its runtime API stays on 127.0.0.1. Traffic stays on this host.
// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for `ip netns`); otherwise it exits 77,
// which ctest reports as skipped.
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  BERTHD, BUILD_DIR, TEST_TAG, control, controlOk, findTaggedProcesses, freePort, invoke, modelPids, startBerthd, stopAll, waitFor,
} from '../lib/berthd.mjs';
import { netnsOrSkip, scenario } from '../lib/steps.mjs';
import { describeEndpoint, describeIc, icBody, waitEndpointStatus, waitIcInService } from '../lib/fixtures.mjs';

const TOKEN = `pool-token-${randomBytes(8).toString('hex')}`;
const TYPE = 'ml.m5.large'; // 2 vCPU, 8 GiB in the catalog
const EP = 'pool-ep';
const IC = 'pool-ic';
const tag = randomBytes(2).toString('hex'); // keeps names unique across runs / parallel files
const bridge = `bpl${tag}`;

let subnet = null; // '10.232.<n>'
let spaces = {};   // name -> {ns, host, peer, ip, ino}
let skipReason = null;
let b = null;      // the controller
let agentPort = null; // --agent-listen, on the bridge address
const agents = [];
const agentDirs = [];
const made = { netns: [], links: [] };

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function ip(...args) {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

function teardownSync() {
  for (const a of agents) if (a.exit === null) { try { process.kill(a.proc.pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const l of made.links.splice(0)) { try { ip('link', 'del', l); } catch { /* gone with its peer */ } }
  for (const ns of made.netns.splice(0)) { try { ip('netns', 'del', ns); } catch { /* not there */ } }
  if (process.env.BERTH_TEST_KEEP !== '1') {
    for (const d of agentDirs.splice(0)) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ } }
  }
}
process.on('exit', teardownSync); // also when a hook or the runner gives up early

function pickSubnet() {
  const inUse = ip('-4', '-o', 'addr') + ip('-4', 'route', 'show', 'table', 'all');
  for (let i = 0; i < 50; i++) {
    const n = 1 + (randomBytes(1)[0] % 254);
    if (!inUse.includes(`10.232.${n}.`)) return `10.232.${n}`;
  }
  throw new Error('no free 10.232.<n>.0/24 subnet found');
}

function buildNetwork() {
  subnet = pickSubnet();
  ip('link', 'add', bridge, 'type', 'bridge');
  made.links.push(bridge);
  ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
  ip('link', 'set', bridge, 'up');
  ['a', 'b', 'c', 'x'].forEach((name, i) => {
    const s = { ns: `berth-pool-${tag}-${name}`, host: `bp${tag}${name}h`, peer: `bp${tag}${name}p`, ip: `${subnet}.${11 + i}` };
    ip('netns', 'add', s.ns);
    made.netns.push(s.ns);
    ip('link', 'add', s.host, 'type', 'veth', 'peer', 'name', s.peer);
    made.links.push(s.host);
    ip('link', 'set', s.peer, 'netns', s.ns);
    ip('link', 'set', s.host, 'master', bridge, 'up');
    ip('-n', s.ns, 'addr', 'add', `${s.ip}/24`, 'dev', s.peer);
    ip('-n', s.ns, 'link', 'set', s.peer, 'up');
    ip('-n', s.ns, 'link', 'set', 'lo', 'up');
    s.ino = fs.statSync(`/run/netns/${s.ns}`).ino;
    spaces[name] = s;
  });
}

/** `ip netns exec NS berthd agent ...`; ip execs berthd, so proc.pid is the agent. */
function startAgent(name, token) {
  const s = spaces[name];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-agent-${name}-`));
  agentDirs.push(dir);
  const join = `http://${subnet}.1:${agentPort}`;
  const proc = spawn('ip', ['netns', 'exec', s.ns, BERTHD, 'agent', '--join', join, '--insecure', '--token', token,
    '--instance-type', TYPE, '--data-dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BERTH_TEST_TAG: TEST_TAG }, // the harness kills tagged processes on exit
  });
  const a = { name, space: s, proc, dir, log: '', exit: null, signal: null };
  const onData = (d) => {
    a.log += d;
    if (process.env.BERTH_TEST_VERBOSE === '1') process.stderr.write(`[agent ${name}] ${d}`);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  a.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => { a.exit = code; a.signal = signal; resolve({ code, signal }); });
    proc.on('error', (err) => { a.exit = -1; a.log += `spawn error: ${err.message}\n`; resolve({ code: -1, signal: null }); });
  });
  agents.push(a);
  return a;
}

/** The instance id the controller gave the agent at this address, or null. */
function instanceOf(addr) {
  const m = b.logs().match(new RegExp(`agent \\S+ \\(${esc(TYPE)} at ${esc(addr)}\\) joined the pool as instance (\\d+)`));
  return m ? Number(m[1]) : null;
}

/** Live model copies: {pid, copyId, ns (name of our namespace or '?')}. */
function liveCopies() {
  const out = [];
  for (const pid of modelPids()) { // not their shims (berthd copy-exec)
    let environ;
    let netns;
    try {
      environ = fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
      netns = fs.readlinkSync(`/proc/${pid}/ns/net`);
    } catch { continue; }
    const idVar = environ.find((e) => e.startsWith('BERTH_COPY_ID='));
    if (!idVar) continue; // the controller or an agent
    const ino = Number(/\[(\d+)\]/.exec(netns)?.[1]);
    const ns = Object.keys(spaces).find((k) => spaces[k].ino === ino) ?? `? (${netns})`;
    const env = (k) => environ.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1);
    out.push({ pid, copyId: idVar.slice('BERTH_COPY_ID='.length), ns, port: Number(env('BERTH_PORT')), bindHost: env('BERTH_BIND_HOST') });
  }
  return out;
}

const nsOfCopies = () => liveCopies().map((c) => c.ns).sort();

function agentLogs() {
  return agents.map((a) => `--- agent ${a.name} (${a.space.ip}) exit=${a.exit} signal=${a.signal}\n${a.log.slice(-3000)}`).join('\n');
}

before(async () => {
  skipReason = netnsOrSkip(buildNetwork, teardownSync);
  if (skipReason) return;
  // The control API stays on loopback; agents join on a listener of their
  // own on the namespaces' private network, plain HTTP said out loud.
  agentPort = await freePort();
  b = await startBerthd({ extraArgs: ['--provider', 'pool', '--agent-token', TOKEN,
    '--agent-listen', `${subnet}.1:${agentPort}`, '--insecure-listen'] });
});

after(async () => {
  // Exit 77: ctest reports the test as skipped, not passed.
  if (skipReason) process.exitCode = 77;
  try {
    for (const a of agents) if (a.exit === null) a.proc.kill('SIGKILL');
    await Promise.all(agents.map((a) => Promise.race([a.exited, new Promise((r) => setTimeout(r, 5000))])));
    await stopAll();
  } finally {
    teardownSync();
  }
});

// The tests below are one scenario, in order; each skips when an earlier one failed.
const step = scenario({
  skipped: () => skipReason,
  context: () => `${agentLogs()}\n--- controller log (last 5000 bytes)\n${b?.logs().slice(-5000)}`,
});

step('an endpoint waits in Creating until two agents in other namespaces have joined', 90_000, async () => {
  await controlOk(b.controlUrl, 'CreateEndpointConfig', {
    EndpointConfigName: `${EP}-config`,
    ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: TYPE, InitialInstanceCount: 2 }],
  });
  await controlOk(b.controlUrl, 'CreateEndpoint', { EndpointName: EP, EndpointConfigName: `${EP}-config` });
  const waiting = (n) => waitFor(() => describeEndpoint(b.controlUrl, EP), {
    timeoutMs: 15_000, what: `endpoint Creating, waiting for ${n} instance(s)`,
    until: (d) => d.EndpointStatus === 'Creating' && new RegExp(`Waiting for ${n} more ${esc(TYPE)} instance`).test(d.FailureReason ?? ''),
    failIf: (d) => (d.EndpointStatus !== 'Creating' ? `status is ${d.EndpointStatus}` : null),
  });
  await waiting(2);

  const A = startAgent('a', TOKEN);
  await waitFor(() => instanceOf(spaces.a.ip), { timeoutMs: 20_000, what: 'agent a to join' });
  await waiting(1);
  // It has been claimed by the endpoint: the controller reaches it at its namespace address.
  assert.match(b.logs(), new RegExp(`${EP}/AllTraffic: pool instance ${instanceOf(spaces.a.ip)} \\(${esc(TYPE)} at ${esc(spaces.a.ip)}\\) assigned`));
  await waitFor(() => A.log, { timeoutMs: 5000, what: 'agent a to print that it joined',
    until: (l) => new RegExp(`joined http://${esc(subnet)}\\.1:\\d+ as instance ${instanceOf(spaces.a.ip)}`).test(l) });

  startAgent('b', TOKEN);
  await waitFor(() => instanceOf(spaces.b.ip), { timeoutMs: 20_000, what: 'agent b to join' });
  const ep = await waitEndpointStatus(b.controlUrl, EP, 'InService', { timeoutMs: 20_000 });
  assert.equal(ep.FailureReason, undefined, 'no FailureReason once InService');
  assert.equal(ep.ProductionVariants[0].CurrentInstanceCount, 2, JSON.stringify(ep));
  assert.notEqual(instanceOf(spaces.a.ip), instanceOf(spaces.b.ip));
});

let copyOnA = null;
step('two copies spread over the two agents, run inside their namespaces and serve through the router', 120_000, async () => {
  await controlOk(b.controlUrl, 'CreateInferenceComponent', icBody(IC, EP, 'pooled', { cores: 1, memoryMb: 512, copies: 2 }));
  await waitIcInService(b.controlUrl, IC, 2, { timeoutMs: 90_000 });
  // The router was told each copy's address in the agent's namespace.
  assert.match(b.logs(), new RegExp(`${IC}: copy \\d+ ready on ${esc(spaces.a.ip)}:\\d+ \\(pool instance ${instanceOf(spaces.a.ip)}\\)`));
  assert.match(b.logs(), new RegExp(`${IC}: copy \\d+ ready on ${esc(spaces.b.ip)}:\\d+ \\(pool instance ${instanceOf(spaces.b.ip)}\\)`));
  // And the model processes really run in those network namespaces, one each (SPREAD).
  const copies = liveCopies();
  assert.deepEqual(copies.map((c) => c.ns).sort(), ['a', 'b'], JSON.stringify(copies));
  copyOnA = copies.find((c) => c.ns === 'a');
  for (const c of copies) {
    // Bound to all addresses (BERTH_BIND_HOST=0.0.0.0) inside its namespace, on the
    // port the controller routes to at the agent's address.
    assert.equal(c.bindHost, '0.0.0.0', JSON.stringify(c));
    const tcp = fs.readFileSync(`/proc/${c.pid}/net/tcp`, 'utf8'); // the copy's own namespace
    const hexPort = c.port.toString(16).toUpperCase().padStart(4, '0');
    assert.match(tcp, new RegExp(`^\\s*\\d+: 00000000:${hexPort} 00000000:0000 0A `, 'm'),
      `copy ${c.copyId} listens on 0.0.0.0:${c.port} in namespace ${c.ns}`);
    assert.match(b.logs(), new RegExp(`${IC}: copy ${c.copyId} ready on ${esc(spaces[c.ns].ip)}:${c.port} `));
  }

  const byCopy = new Map();
  for (let i = 0; i < 60; i++) {
    const r = await invoke(b.runtimeUrl, EP, IC, { inputs: `hello ${i}` });
    assert.equal(r.status, 200, `invocation ${i}: ${r.status} ${r.text}`);
    assert.ok(r.json?.copy_id, `answer names its copy: ${r.text}`);
    byCopy.set(r.json.copy_id, (byCopy.get(r.json.copy_id) ?? 0) + 1);
  }
  const answered = [...byCopy.keys()].sort();
  assert.deepEqual(answered, copies.map((c) => c.copyId).sort(),
    `answers came from both copies (one per namespace): ${JSON.stringify([...byCopy])}`);
});

step('an agent with a wrong token is refused and exits 1; a missing token is refused too', 60_000, async () => {
  const syncUrl = `http://${subnet}.1:${agentPort}/agent/v1/sync`;
  const body = JSON.stringify({ agent_id: 'agent-intruder', instance_type: TYPE, address: '10.0.0.1', copies: [], failures: [] });
  const onControl = await fetch(`${b.controlUrl}/agent/v1/sync`, { method: 'POST', body });
  assert.equal(onControl.status, 404, 'the control listener serves no agents when --agent-listen is given');
  assert.match(await onControl.text(), /--agent-listen/);
  for (const headers of [{ authorization: 'Bearer nope' }, {}, { authorization: TOKEN }]) {
    const res = await fetch(syncUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const text = await res.text();
    assert.equal(res.status, 401, `sync with ${JSON.stringify(headers)} answered ${res.status}: ${text}`);
  }

  const X = startAgent('x', `${TOKEN}-wrong`);
  const ex = await Promise.race([X.exited, new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
  assert.deepEqual(ex, { code: 1, signal: null }, `agent x exit: ${JSON.stringify(ex)}\n${X.log}`);
  assert.match(X.log, /refused our token/);
  assert.match(b.logs(), new RegExp(`refused agent sync from ${esc(spaces.x.ip)}:\\d+: wrong or missing token`));
  assert.equal(instanceOf(spaces.x.ip), null, 'the refused agent never joined');
  assert.doesNotMatch(b.logs(), /agent-intruder/);
  const ep = await describeEndpoint(b.controlUrl, EP);
  assert.equal(ep.ProductionVariants[0].CurrentInstanceCount, 2);
});

step('a third agent joins as free capacity and is not used while nothing needs it', 60_000, async () => {
  startAgent('c', TOKEN);
  await waitFor(() => instanceOf(spaces.c.ip), { timeoutMs: 20_000, what: 'agent c to join' });
  await new Promise((r) => setTimeout(r, 2500)); // a few syncs and reconcile ticks
  assert.doesNotMatch(b.logs(), new RegExp(`pool instance ${instanceOf(spaces.c.ip)} \\(${esc(TYPE)} at ${esc(spaces.c.ip)}\\) assigned`));
  assert.deepEqual(nsOfCopies(), ['a', 'b']);
  const ep = await describeEndpoint(b.controlUrl, EP);
  assert.equal(ep.ProductionVariants[0].CurrentInstanceCount, 2);
});

step('killing agent a: it is marked lost, the free agent is claimed, and the IC is back at 2 copies', 120_000, async (t) => {
  const A = agents.find((a) => a.name === 'a');
  const idA = instanceOf(spaces.a.ip);
  const idC = instanceOf(spaces.c.ip);
  // ip netns exec execs berthd, so this pid is the agent itself.
  assert.match(fs.readlinkSync(`/proc/${A.proc.pid}/exe`), /berthd$/);

  // Keep invoking through the outage, to report (not assert) what clients see.
  let stopLoad = false;
  const outage = { ok: 0, failed: 0, statuses: {}, first: null };
  const load = (async () => {
    while (!stopLoad) {
      try {
        const r = await invoke(b.runtimeUrl, EP, IC, { inputs: 'during' }, {}, { timeoutMs: 15_000 });
        if (r.status === 200) outage.ok++;
        else {
          outage.failed++;
          outage.statuses[r.status] = (outage.statuses[r.status] ?? 0) + 1;
          outage.first ??= `${r.status} ${r.headers.get('x-amzn-errortype') ?? ''} ${r.text.slice(0, 300)}`;
        }
      } catch (e) {
        outage.failed++;
        outage.statuses.error = (outage.statuses.error ?? 0) + 1;
        outage.first ??= e.message;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const logMark = b.logs().length;
  const t0 = Date.now();
  A.proc.kill('SIGKILL');
  await A.exited;
  try {
    // A copy outlives its agent (a restarted agent would adopt it): its model
    // server still runs in namespace a, but it leaves rotation once agent a
    // is lost, and the IC places its copy elsewhere.
    assert.ok(nsOfCopies().includes('a'), `the copy in namespace a outlives its agent: ${nsOfCopies()}`);
    await waitFor(() => b.logs(), { timeoutMs: 20_000, intervalMs: 200, what: 'agent a to be marked lost',
      until: (l) => new RegExp(`pool instance ${idA} \\(agent \\S+ at ${esc(spaces.a.ip)}\\) lost: no sync`).test(l) });
    const lostAfter = Date.now() - t0;
    await waitFor(() => b.logs(), { timeoutMs: 10_000, intervalMs: 200, what: 'the free agent c to be claimed',
      until: (l) => new RegExp(`${EP}/AllTraffic: pool instance ${idC} \\(${esc(TYPE)} at ${esc(spaces.c.ip)}\\) assigned`).test(l) });
    await waitFor(() => describeIc(b.controlUrl, IC), { timeoutMs: 30_000, intervalMs: 200,
      what: 'the IC back at CurrentCopyCount 2 without agent a',
      until: (d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 2
        && nsOfCopies().filter((n) => n !== 'a').length === 2 });
    // No agent will adopt the orphan: end it, as an operator replacing the
    // host would.
    for (const cp of liveCopies()) if (cp.ns === 'a') process.kill(cp.pid, 'SIGKILL');
    const backAfter = Date.now() - t0;
    t.diagnostic(`agent a marked lost after ${lostAfter} ms, IC back at 2 copies after ${backAfter} ms; copies now in namespaces ${nsOfCopies().join(', ')}`);
    assert.ok(backAfter < 20_000, `recovery took ${backAfter} ms (expected about 6 s loss detection + copy start)`);
  } finally {
    stopLoad = true;
    await load;
  }
  t.diagnostic(`invocations during the outage: ${outage.ok} ok, ${outage.failed} failed ${JSON.stringify(outage.statuses)}${outage.first ? `; first failure: ${outage.first}` : ''}`);

  const ep = await describeEndpoint(b.controlUrl, EP);
  assert.equal(ep.EndpointStatus, 'InService');
  assert.equal(ep.ProductionVariants[0].CurrentInstanceCount, 2, JSON.stringify(ep));
  // The lost copy was placed again on a surviving agent (b or the claimed c).
  const copies = liveCopies();
  assert.ok(copies.every((c) => c.ns === 'b' || c.ns === 'c'), JSON.stringify(copies));
  assert.ok(!copies.some((c) => c.copyId === copyOnA.copyId), 'the lost copy is gone, a new one replaced it');
  const since = b.logs().slice(logMark);
  assert.match(since, new RegExp(`${IC}: copy \\d+ ready on (${esc(spaces.b.ip)}:\\d+ \\(pool instance ${instanceOf(spaces.b.ip)}|${esc(spaces.c.ip)}:\\d+ \\(pool instance ${idC})\\)`),
    'the replacement copy is ready on agent b or c');
  assert.doesNotMatch(since, new RegExp(`ready on ${esc(spaces.a.ip)}:`));

  const byCopy = new Map();
  for (let i = 0; i < 40; i++) {
    const r = await invoke(b.runtimeUrl, EP, IC, { inputs: `after ${i}` });
    assert.equal(r.status, 200, `invocation ${i} after recovery: ${r.status} ${r.text}`);
    byCopy.set(r.json.copy_id, (byCopy.get(r.json.copy_id) ?? 0) + 1);
  }
  assert.deepEqual([...byCopy.keys()].sort(), copies.map((c) => c.copyId).sort(),
    `both surviving copies answer: ${JSON.stringify([...byCopy])}`);
  for (const name of ['b', 'c']) {
    const a = agents.find((x) => x.name === name);
    assert.equal(a.exit, null, `agent ${name} still runs:\n${a.log}`);
  }
});

step('killing another agent with no spare left: its copy goes to the surviving instance that has room', 120_000, async (t) => {
  // Agents b and c hold the endpoint's two instances (ml.m5.large: 2 vCPU,
  // room for both 1-core copies) and no agent is free. Kill one that holds
  // a copy (c if it does).
  const before = liveCopies();
  const victim = before.some((c) => c.ns === 'c') ? 'c' : 'b';
  const survivor = victim === 'c' ? 'b' : 'c';
  const V = agents.find((a) => a.name === victim);
  const idV = instanceOf(spaces[victim].ip);
  const idS = instanceOf(spaces[survivor].ip);
  assert.equal(V.exit, null, `agent ${victim} runs`);
  const lostCopies = before.filter((c) => c.ns === victim).map((c) => c.copyId);
  assert.ok(lostCopies.length > 0, `agent ${victim} holds a copy: ${JSON.stringify(before)}`);

  const logMark = b.logs().length;
  const t0 = Date.now();
  V.proc.kill('SIGKILL');
  await V.exited;
  await waitFor(() => b.logs().slice(logMark), { timeoutMs: 20_000, intervalMs: 200, what: `agent ${victim} to be marked lost`,
    until: (l) => new RegExp(`pool instance ${idV} \\(agent \\S+ at ${esc(spaces[victim].ip)}\\) lost: no sync`).test(l) });
  await waitFor(() => describeIc(b.controlUrl, IC), { timeoutMs: 30_000, intervalMs: 200,
    what: `the IC back at CurrentCopyCount 2, both copies on agent ${survivor}`,
    until: (d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 2
      && nsOfCopies().filter((n) => n !== victim).join() === `${survivor},${survivor}` });
  const backAfter = Date.now() - t0;
  // Its copy outlived it, out of rotation; no agent will adopt it: end it.
  for (const cp of liveCopies()) if (cp.ns === victim) process.kill(cp.pid, 'SIGKILL');
  await waitFor(() => nsOfCopies(), { timeoutMs: 5000, intervalMs: 100, what: `the orphan in namespace ${victim} to end`,
    until: (ns) => !ns.includes(victim) });
  t.diagnostic(`agent ${victim} killed with no spare; IC back at 2 copies on agent ${survivor} after ${backAfter} ms`);

  const since = b.logs().slice(logMark);
  // There was nothing to claim, and the copy was placed on the survivor.
  assert.doesNotMatch(since, /\) assigned/, 'no instance was claimed: no agent was free');
  assert.match(since, new RegExp(`${IC}: copy \\d+ ready on ${esc(spaces[survivor].ip)}:\\d+ \\(pool instance ${idS}\\)`));
  const copies = liveCopies();
  assert.ok(!copies.some((c) => lostCopies.includes(c.copyId)), `the lost copies ${lostCopies} are gone: ${JSON.stringify(copies)}`);

  const ep = await describeEndpoint(b.controlUrl, EP);
  assert.equal(ep.EndpointStatus, 'InService', JSON.stringify(ep));
  assert.equal(ep.ProductionVariants[0].CurrentInstanceCount, 1, `one instance short: ${JSON.stringify(ep)}`);
  t.diagnostic(`endpoint: ${ep.EndpointStatus}, ${ep.ProductionVariants[0].CurrentInstanceCount} instance(s); FailureReason: ${ep.FailureReason ?? '(none)'}`);

  const byCopy = new Map();
  for (let i = 0; i < 30; i++) {
    const r = await invoke(b.runtimeUrl, EP, IC, { inputs: `one agent ${i}` });
    assert.equal(r.status, 200, `invocation ${i} on one agent: ${r.status} ${r.text}`);
    byCopy.set(r.json.copy_id, (byCopy.get(r.json.copy_id) ?? 0) + 1);
  }
  assert.deepEqual([...byCopy.keys()].sort(), copies.map((c) => c.copyId).sort(),
    `both copies on agent ${survivor} answer: ${JSON.stringify([...byCopy])}`);
  assert.equal(agents.find((a) => a.name === survivor).exit, null, `agent ${survivor} still runs`);
});

step('each agent holds a token of its own; a revoked agent is refused, exits and is lost', 60_000, async () => {
  const S = agents.find((a) => a.exit === null && ['b', 'c'].includes(a.name));
  assert.ok(S, 'an agent still runs');
  const file = path.join(S.dir, 'agent-token');
  const st = fs.statSync(file);
  assert.equal(st.mode & 0o777, 0o600, `${file} is owner-only`);
  const own = fs.readFileSync(file, 'utf8').trim();
  assert.match(own, /^[0-9a-f]{64}$/);
  assert.notEqual(own, TOKEN);
  assert.match(S.log, /issued this agent a token of its own/);
  const agentId = fs.readFileSync(path.join(S.dir, 'agent-id'), 'utf8').trim();
  assert.ok(!b.logs().includes(own), 'the issued token is not logged');

  const syncUrl = `http://${subnet}.1:${agentPort}/agent/v1/sync`;
  const sync = async (token, id) => {
    const res = await fetch(syncUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ agent_id: id, instance_type: TYPE, address: S.space.ip, copies: [], failures: [] }) });
    return { status: res.status, text: await res.text() };
  };
  // The join token no longer stands in for this agent, and its token is its own.
  const joinAgain = await sync(TOKEN, agentId);
  assert.equal(joinAgain.status, 401, joinAgain.text);
  assert.match(joinAgain.text, /holds a token of its own/);
  const other = await sync(own, 'agent-someone-else');
  assert.equal(other.status, 401, other.text);
  assert.match(other.text, /issued to another agent id/);

  const id = instanceOf(S.space.ip);
  const r = spawnSync(path.join(BUILD_DIR, 'berth'), ['instances', '--revoke', String(id)], {
    env: { PATH: process.env.PATH, HOME: '/nonexistent', BERTH_CONTROL_URL: b.controlUrl, BERTH_DATA_DIR: b.dataDir },
    encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`revoked agent ${esc(agentId)} \\(instance ${id}\\)`));
  const ex = await Promise.race([S.exited, new Promise((res) => setTimeout(() => res('timeout'), 15_000))]);
  assert.deepEqual(ex, { code: 1, signal: null }, `the revoked agent exits 1: ${JSON.stringify(ex)}\n${S.log.slice(-2000)}`);
  assert.match(S.log, /refused our token \(the one it issued us, in agent-token\): .*revoked; exiting/);
  assert.match(b.logs(), new RegExp(`pool instance ${id} \\(agent ${esc(agentId)} at ${esc(S.space.ip)}\\) lost: its agent was revoked`));
  const again = await sync(own, agentId);
  assert.equal(again.status, 401, again.text);
  assert.match(again.text, /revoked/);
  const described = (await control(b.controlUrl, 'DescribeInstances', {}, { target: 'Berth.DescribeInstances' })).json;
  assert.ok(!described.Instances.some((i) => String(i.InstanceId).replace(/^i-/, '') === String(id)),
    `instance ${id} is gone: ${JSON.stringify(described.Instances.map((i) => i.InstanceId))}`);
});

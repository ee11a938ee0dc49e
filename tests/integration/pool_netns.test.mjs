// The pool instance provider across real network namespaces (issue 3): two
// agents on "other hosts" join the controller with a token, take copies and
// serve invocations through the router; an agent with a wrong token is
// refused; killing one agent gets its copy placed again on the other.
//
// Namespaces berth-<n>-a/-b hang off a bridge 10.231.<n>.1/24 in the root
// namespace, where the controller listens. Traffic stays on this machine.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BERTHD, invoke, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc, describeIc } from '../lib/fixtures.mjs';

const n = 100 + (process.pid % 150);
const bridge = `bbr${n}`;
const subnet = `10.231.${n}`;
const spaces = ['a', 'b', 'x'].map((s, i) => ({
  ns: `berth-${n}-${s}`, host: `vh${n}${s}`, peer: `vp${n}${s}`, ip: `${subnet}.${10 + i}`,
}));
const TOKEN = `token-${process.pid}`;
const agents = [];
let b;
let canNetns = true;

function ip(...args) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function teardown() {
  for (const a of agents) { try { a.proc.kill('SIGKILL'); } catch { /* gone */ } }
  for (const s of spaces) { try { ip('netns', 'del', s.ns); } catch { /* not there */ } }
  try { ip('link', 'del', bridge); } catch { /* not there */ }
}

function startAgent(space, token) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-agent-'));
  const proc = spawn('ip', ['netns', 'exec', space.ns, BERTHD, 'agent', '--join',
    `http://${subnet}.1:${new URL(b.controlUrl).port}`, '--token', token,
    '--instance-type', 'ml.m5.large', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const a = { proc, log: '', exit: null };
  proc.stdout.on('data', (d) => { a.log += d; });
  proc.stderr.on('data', (d) => { a.log += d; });
  a.exited = new Promise((resolve) => proc.on('exit', (code) => { a.exit = code; resolve(code); }));
  agents.push(a);
  return a;
}

before(async () => {
  if (process.getuid?.() !== 0) { canNetns = false; return; }
  teardown();
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    for (const s of spaces) {
      ip('netns', 'add', s.ns);
      ip('link', 'add', s.host, 'type', 'veth', 'peer', 'name', s.peer);
      ip('link', 'set', s.peer, 'netns', s.ns);
      ip('link', 'set', s.host, 'master', bridge, 'up');
      ip('netns', 'exec', s.ns, 'ip', 'addr', 'add', `${s.ip}/24`, 'dev', s.peer);
      ip('netns', 'exec', s.ns, 'ip', 'link', 'set', s.peer, 'up');
      ip('netns', 'exec', s.ns, 'ip', 'link', 'set', 'lo', 'up');
    }
  } catch (e) {
    teardown();
    canNetns = false;
    console.log(`network namespaces unavailable: ${e.stderr ?? e.message}`);
    return;
  }
  b = await startBerthd({ controlHost: '0.0.0.0',
    extraArgs: ['--provider', 'pool', '--agent-token', TOKEN] });
});

after(async () => {
  teardown();
  await stopAll();
});

test('agents in two namespaces join, serve, and take over a lost agent\'s copy', { timeout: 180_000 }, async (t) => {
  if (!canNetns) { t.skip('needs root and ip netns'); return; }
  const [A, B] = [startAgent(spaces[0], TOKEN), startAgent(spaces[1], TOKEN)];
  await waitFor(() => b.logs(), { timeoutMs: 20_000, what: 'both agents to join',
    until: (l) => (l.match(/joined the pool/g) ?? []).length >= 2 });

  // Two instances (one per agent), one copy on each (SPREAD).
  await deployEndpoint(b.controlUrl, 'pool-ep', { variantExtra: { InstanceType: 'ml.m5.large', InitialInstanceCount: 2 } });
  await deployIc(b.controlUrl, 'pooled', 'pool-ep', 'pooled', { copies: 2 });
  assert.match(b.logs(), new RegExp(`ready on ${spaces[0].ip.replace(/\./g, '\\.')}:\\d+`));
  assert.match(b.logs(), new RegExp(`ready on ${spaces[1].ip.replace(/\./g, '\\.')}:\\d+`));
  const seen = new Set();
  for (let i = 0; i < 40 && seen.size < 2; i++) {
    const r = await invoke(b.runtimeUrl, 'pool-ep', 'pooled', { inputs: 'hi' });
    assert.equal(r.status, 200, r.text);
    seen.add(r.json.copy_id);
  }
  assert.equal(seen.size, 2, 'both agents\' copies answered');

  // A wrong token is refused by the controller, and the agent gives up.
  const bad = startAgent(spaces[2], 'not-the-token');
  assert.equal(await bad.exited, 1, bad.log);
  assert.match(bad.log, /refused our token/);
  assert.match(b.logs(), /refused agent sync from 10\.231\.\d+\.12:\d+: wrong or missing token/);

  // Agent A dies (its copies with it): its copy is placed again on B.
  A.proc.kill('SIGKILL');
  await waitFor(() => b.logs(), { timeoutMs: 30_000, what: 'agent A to be marked lost',
    until: (l) => /lost: no sync/.test(l) });
  await waitFor(() => describeIc(b.controlUrl, 'pooled'), { timeoutMs: 60_000, intervalMs: 300,
    what: 'the IC back at 2 copies', until: (d) => d.RuntimeConfig.CurrentCopyCount === 2 });
  const bAddr = new RegExp(`ready on ${spaces[1].ip.replace(/\./g, '\\.')}:\\d+`, 'g');
  assert.ok((b.logs().match(bAddr) ?? []).length >= 2, 'the replacement copy runs on agent B');
  for (let i = 0; i < 10; i++) {
    const r = await invoke(b.runtimeUrl, 'pool-ep', 'pooled', { inputs: 'again' });
    assert.equal(r.status, 200, r.text);
  }
  assert.equal(B.exit, null, 'agent B still runs');
});

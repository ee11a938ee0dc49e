// What copies may run, and as whom (docs/security.md, "Copies: what runs and
// as whom"): an Image whose program berthd does not allow (--allow-exec) is
// refused with a ValidationException before anything runs, for
// CreateInferenceComponent and CreateModel alike, also when an allowed
// directory holds a symlink to it; allowed copies (berth-model, a node
// script) run as the copy user, never as root; --copy-user root keeps
// berthd from starting; a pool agent refuses what its own --allow-exec
// does not allow, whatever the controller allowed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  BERTHD, NODE_EXEC, TEST_TAG, control, controlOk, modelPids, startBerthd, stopAll, waitFor,
} from '../lib/berthd.mjs';
import {
  INSTANCE_TYPE, deployEndpoint, describeIc, errorMessage, icBody, waitIcInService,
} from '../lib/fixtures.mjs';
import { copyWritableDir, misbehavingIc } from '../lib/misbehaving.mjs';

const EP = 'exec-ep';
const root = process.getuid() === 0;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-exec-'));
fs.chmodSync(work, 0o755);
// An allowed directory whose entry is a symlink to a program outside it.
const linkDir = path.join(work, 'allowed');
fs.mkdirSync(linkDir);
fs.symlinkSync('/usr/bin/touch', path.join(linkDir, 'touch-link'));
const markers = [];
let b;

/** The user copies run as: `berth` if it exists, else `nobody` (as berthd picks). */
function copyUser() {
  const users = new Map();
  for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f.length >= 4) users.set(f[0], { name: f[0], uid: Number(f[2]), gid: Number(f[3]) });
  }
  return users.get('berth') ?? users.get('nobody');
}

function marker(what) {
  const m = path.join(os.tmpdir(), `berth-exec-${what}-${process.pid}-${Date.now()}`);
  markers.push(m);
  return m;
}

/** Uid:, Gid: (real, effective, saved, fs) and Groups: of a process. */
function credentials(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k) => (status.match(new RegExp(`^${k}:\\s*(.*)$`, 'm'))?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

before(async () => {
  b = await startBerthd({ allowExec: [NODE_EXEC, linkDir] });
  await deployEndpoint(b.controlUrl, EP);
});

after(async () => {
  try {
    await stopAll();
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    for (const m of markers) fs.rmSync(m, { force: true });
  }
});

function assertRefused(r, field, program, suggestion) {
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json?.__type, 'ValidationException', r.text);
  const msg = errorMessage(r);
  assert.ok(msg.includes(field), `the message names ${field}: ${msg}`);
  assert.ok(msg.includes(`'${program}'`), `the message names the program ${program}: ${msg}`);
  assert.ok(msg.includes(`--allow-exec ${suggestion}`), `the message says which --allow-exec would allow it: ${msg}`);
}

test('an Image whose program is not allowed is refused and never runs', async () => {
  const ic = marker('ic');
  const body = icBody('touch', EP, 'touch');
  body.Specification.Container.Image = `/usr/bin/touch ${ic}`;
  assertRefused(await control(b.controlUrl, 'CreateInferenceComponent', body),
    'Specification.Container.Image', '/usr/bin/touch', '/usr/bin');
  const d = await control(b.controlUrl, 'DescribeInferenceComponent', { InferenceComponentName: 'touch' });
  assert.equal(d.status, 400, `the refused IC must not exist: ${d.text}`);

  const model = marker('model');
  assertRefused(await control(b.controlUrl, 'CreateModel', {
    ModelName: 'touch-model', PrimaryContainer: { Image: `/usr/bin/touch ${model}` },
  }), 'PrimaryContainer.Image', '/usr/bin/touch', '/usr/bin');
  const m = await control(b.controlUrl, 'DescribeModel', { ModelName: 'touch-model' });
  assert.equal(m.status, 400, `the refused model must not exist: ${m.text}`);

  // A symlink in an allowed directory counts as where it points.
  const link = marker('link');
  const viaLink = icBody('touch-link', EP, 'touch-link');
  viaLink.Specification.Container.Image = `${path.join(linkDir, 'touch-link')} ${link}`;
  const r = await control(b.controlUrl, 'CreateInferenceComponent', viaLink);
  assertRefused(r, 'Specification.Container.Image', path.join(linkDir, 'touch-link'), '/usr/bin');
  assert.match(errorMessage(r), /\/usr\/bin\/touch/, 'the message names where the link points');

  // The node binary is allowed, its directory is not.
  const sibling = path.join(path.dirname(NODE_EXEC), 'env');
  if (fs.existsSync(sibling)) {
    const other = icBody('sibling', EP, 'sibling');
    other.Specification.Container.Image = `${sibling} true`;
    assertRefused(await control(b.controlUrl, 'CreateInferenceComponent', other),
      'Specification.Container.Image', sibling, path.dirname(fs.realpathSync(sibling)));
  }
  for (const f of [ic, model, link]) assert.equal(fs.existsSync(f), false, `${f} must never be created`);
});

test('allowed copies run as the copy user, never as root', async () => {
  const state = copyWritableDir(path.join(work, 'state'));
  await controlOk(b.controlUrl, 'CreateInferenceComponent', icBody('bundled', EP, 'bundled'));
  await controlOk(b.controlUrl, 'CreateInferenceComponent', misbehavingIc('node', EP, path.join(state, 'node')));
  await waitIcInService(b.controlUrl, 'bundled', 1);
  await waitIcInService(b.controlUrl, 'node', 1);
  const pids = modelPids();
  const exes = pids.map((p) => path.basename(fs.readlinkSync(`/proc/${p}/exe`)));
  assert.ok(exes.includes('berth-model'), `berth-model runs: ${exes}`);
  assert.ok(exes.includes(path.basename(NODE_EXEC)), `the node model runs: ${exes}`);
  const user = root ? copyUser() : { name: os.userInfo().username, uid: process.getuid(), gid: process.getgid() };
  assert.ok(user, 'a copy user (berth or nobody) exists');
  if (root) assert.notEqual(user.uid, 0);
  for (const pid of pids) {
    const c = credentials(pid);
    const what = `model pid ${pid} (${exes[pids.indexOf(pid)]}): ${JSON.stringify(c)}`;
    assert.deepEqual(c.uid, [user.uid, user.uid, user.uid, user.uid], `runs as ${user.name}: ${what}`);
    if (root) {
      assert.deepEqual(c.gid, [user.gid, user.gid, user.gid, user.gid], `with ${user.name}'s group: ${what}`);
      assert.ok(!c.groups.includes(0), `no supplementary group 0: ${what}`);
    }
  }
});

test('--copy-user root is refused at start', async () => {
  await assert.rejects(startBerthd({ extraArgs: ['--copy-user', 'root'] }),
    (err) => /--copy-user root/.test(err.message) && /never run as root/.test(err.message));
  await assert.rejects(startBerthd({ allowExec: [path.join(work, 'missing')] }),
    (err) => /--allow-exec '[^']*missing'/.test(err.message));
});

test('a pool agent enforces its own --allow-exec at launch', async () => {
  // The controller allows touch; the agent that joins does not.
  const token = `tok-${process.pid}`;
  const ctl = await startBerthd({
    allowExec: ['/usr/bin/touch'], extraArgs: ['--provider', 'pool', '--agent-token', token],
  });
  const dir = fs.mkdtempSync(path.join(work, 'agent-'));
  const agent = spawn(BERTHD, ['agent', '--join', ctl.controlUrl, '--token', token,
    '--instance-type', INSTANCE_TYPE, '--data-dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BERTH_TEST_TAG: TEST_TAG },
  });
  let log = '';
  agent.stdout.on('data', (d) => { log += d; });
  agent.stderr.on('data', (d) => { log += d; });
  try {
    await deployEndpoint(ctl.controlUrl, 'pool-ep');
    const m = marker('pool');
    const body = icBody('pool-touch', 'pool-ep', 'pool-touch');
    body.Specification.Container.Image = `/usr/bin/touch ${m}`;
    await controlOk(ctl.controlUrl, 'CreateInferenceComponent', body);
    const d = await waitFor(() => describeIc(ctl.controlUrl, 'pool-touch'), {
      timeoutMs: 60_000, what: 'the IC to fail on the agent',
      until: (v) => v.InferenceComponentStatus === 'Failed',
    });
    assert.match(d.FailureReason, /may not run Image program '\/usr\/bin\/touch'.*--allow-exec \/usr\/bin/, d.FailureReason);
    assert.match(log, /--allow-exec/, 'the agent logs why');
    assert.equal(fs.existsSync(m), false, `${m} must never be created`);
  } finally {
    agent.kill('SIGKILL');
    await ctl.stop();
  }
});

// The Debian package on a fresh Debian 12 (issue 16, "a real install"):
// CPack builds the .deb from the build under test, it installs with apt into
// a debootstrap chroot of bookworm (its dependencies from Debian), its
// maintainer scripts make the berth user and enable the unit, systemd accepts
// the unit, `berthd up` started from it the way the unit starts it serves the
// demo (two models on one endpoint, deployed and invoked with the packaged
// `berth`), copies run as the berth user, and a purge takes it all away.
// First, without root: the man pages name only flags the programs' --help
// lists, so they stay true as flags change.
//
// The chroot: `debootstrap --variant=minbase --include=systemd bookworm` once
// into BERTH_TEST_CACHE (default /var/cache/berth-test; the mirror is
// BERTH_TEST_DEBIAN_MIRROR, default http://deb.debian.org/debian), then for
// each run an overlay on it (a copy where overlayfs is missing), so a rerun
// starts from a clean system in a second; apt's package cache and lists are
// kept there too. /proc, /sys (for cgroups) and /dev are mounted into it and
// every mount is undone on every exit path, after every process running in
// the chroot is killed; the run's directory is deleted only when nothing is
// mounted under it any more. systemd does not run in a chroot, so berthd is
// started as the unit says: its ExecStart, User, StateDirectory and
// EnvironmentFile (/etc/default/berthd, which sets the listeners here).
//
// Needs root (chroot, mount) and network to the Debian mirror; without root,
// or on a sanitizer build (packages come from plain builds), it exits 77,
// which ctest reports as skipped. Tools: debootstrap, dpkg-dev
// (dpkg-shlibdeps), cpack (scripts/setup.sh with SETUP_TESTS=1).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BUILD_DIR, SOURCE_DIR, freePort, waitFor } from '../lib/berthd.mjs';

const CACHE = process.env.BERTH_TEST_CACHE || '/var/cache/berth-test';
const MIRROR = process.env.BERTH_TEST_DEBIAN_MIRROR || 'http://deb.debian.org/debian';
const SUITE = 'bookworm';
const BASE = path.join(CACHE, `${SUITE}-minbase-systemd`);
const BASE_MARK = path.join(BASE, '.berth-test-base');
const PROGRAMS = ['berthd', 'berth-cli', 'berth-model', 'berth-sim'];
const UNIT = '/usr/lib/systemd/system/berthd.service';
// What systemd gives a system service (no User=: no HOME/USER either).
const SERVICE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

let skipReason = null;
let broken = null;   // the first failed step of the package's: later ones skip
let failed = false;  // any step failed: never exit 77 then
let work = null;     // this run's temp dir: root/ (the overlay), upper/, work/
let root = null;     // the chroot
let deb = null;      // { file, name, dir }: the .deb cpack wrote into dir
let daemon = null;   // { proc, logFile, exit, exited }
const timings = {};

function log(...args) { console.log('deb:', ...args); }

/** Resolves after ms; never keeps the process alive by itself. */
const deadline = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** Runs a command to its end; throws with its output when it fails. */
function run(cmd, args, { timeoutMs = 120_000, env, allowFail = false } = {}) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20,
    env: env || process.env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = `${r.stdout || ''}${r.stderr || ''}`;
  if (!allowFail && (r.error || r.status !== 0)) {
    const why = r.error ? r.error.message : r.signal ? `signal ${r.signal}` : `exit ${r.status}`;
    throw new Error(`${cmd} ${args.join(' ')}: ${why}\n${out.slice(-4000)}`);
  }
  return { status: r.status, stdout: r.stdout || '', out };
}

const have = (prog) => run('sh', ['-c', `command -v ${prog}`], { allowFail: true }).status === 0;

const rootEnv = (extra) => ({ PATH: SERVICE_PATH, LC_ALL: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive', ...extra });

/** A command inside the chroot, with the plain environment a root shell there has. */
function inRoot(args, opts = {}) {
  return run('chroot', [root, ...args], { ...opts, env: rootEnv(opts.env) });
}

/** The same under the cache's lock: two runs never share apt's cache at once. */
function inRootLocked(args, opts = {}) {
  return run('flock', [path.join(CACHE, 'apt.lock'), 'chroot', root, ...args], { ...opts, env: rootEnv(opts.env) });
}

const mount = (args, target) => run('mount', [...args, target]);

function mountedUnder(dir) {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => (l.split(' ')[4] || '').replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(prefix));
}

/** Pids of processes whose root directory is dir. */
function pidsRootedAt(dir) {
  const pids = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try { if (fs.readlinkSync(`/proc/${e}/root`) === dir) pids.push(Number(e)); } catch { /* gone */ }
  }
  return pids;
}
const chrootPids = () => (root ? pidsRootedAt(root) : []);

/** Kills everything chrooted in rootDir, unmounts all under dir and deletes
 * dir when nothing is left mounted. */
function cleanWork(dir, rootDir = path.join(dir, 'root')) {
  const deadline = Date.now() + 10_000;
  for (let pids = pidsRootedAt(rootDir); pids.length && Date.now() < deadline; pids = pidsRootedAt(rootDir)) {
    for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    spawnSync('sleep', ['0.1']);
  }
  for (const m of mountedUnder(dir).reverse()) spawnSync('umount', ['-R', m], { stdio: 'ignore' });
  const left = mountedUnder(dir);
  if (left.length) {
    console.error(`deb: still mounted, so ${dir} is kept: ${left.join(' ')}`);
  } else if (process.env.BERTH_TEST_KEEP !== '1') {
    spawnSync('rm', ['-rf', '--one-file-system', dir], { stdio: 'ignore' });
  }
}

function teardownSync() {
  const t0 = Date.now();
  if (daemon && daemon.exit === null) { try { process.kill(daemon.proc.pid, 'SIGKILL'); } catch { /* gone */ } }
  if (deb) fs.rmSync(deb.dir, { recursive: true, force: true });
  if (!work) return;
  cleanWork(work);
  if (process.env.BERTH_TEST_VERBOSE === '1') log(`teardown in ${Date.now() - t0} ms`);
  work = null;
}

/** Runs killed before their teardown (SIGKILL at a ctest timeout) left
 * berth-deb-PID-* behind, maybe mounted: clean those whose PID is gone. */
function cleanStaleRuns() {
  for (const e of fs.readdirSync(os.tmpdir())) {
    const m = /^berth-deb-(\d+)-/.exec(e);
    if (!m || Number(m[1]) === process.pid) continue;
    try { process.kill(Number(m[1]), 0); continue; } catch { /* its run is gone */ }
    log(`cleaning a stale run: ${e}`);
    cleanWork(path.join(os.tmpdir(), e));
  }
  // A debootstrap killed half way: its target may have /proc mounted.
  for (const e of fs.existsSync(CACHE) ? fs.readdirSync(CACHE) : []) {
    const m = /\.tmp-(\d+)$/.exec(e);
    if (!m || Number(m[1]) === process.pid) continue;
    try { process.kill(Number(m[1]), 0); continue; } catch { /* its run is gone */ }
    log(`cleaning a stale debootstrap: ${e}`);
    cleanWork(path.join(CACHE, e), path.join(CACHE, e));
  }
}
process.on('exit', teardownSync); // also when a hook or the runner gives up early
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { teardownSync(); process.exit(1); });

/** The bookworm base, made once (debootstrap into a temp dir, then renamed) and kept in CACHE. */
function ensureBase() {
  if (fs.existsSync(BASE_MARK)) return false;
  fs.mkdirSync(path.join(CACHE, 'debootstrap-debs'), { recursive: true });
  const tmp = `${BASE}.tmp-${process.pid}`;
  const t0 = Date.now();
  try {
    run('debootstrap', ['--variant=minbase', '--include=systemd',
      `--cache-dir=${path.join(CACHE, 'debootstrap-debs')}`, SUITE, tmp, MIRROR], { timeoutMs: 900_000 });
  } catch (e) {
    // debootstrap unmounts what it mounted; never delete through a mount.
    if (!mountedUnder(tmp).length) spawnSync('rm', ['-rf', '--one-file-system', tmp]);
    throw e;
  }
  fs.writeFileSync(path.join(tmp, '.berth-test-base'),
    `debootstrap --variant=minbase --include=systemd ${SUITE} ${MIRROR}, ${new Date().toISOString()}\n`);
  try {
    fs.renameSync(tmp, BASE);
  } catch (e) {
    // Another run made it meanwhile: use theirs.
    if (!fs.existsSync(BASE_MARK)) throw e;
    spawnSync('rm', ['-rf', '--one-file-system', tmp]);
  }
  timings.debootstrapS = (Date.now() - t0) / 1000;
  return true;
}

/** This run's system: an overlay on the base (a copy without overlayfs), with /proc, /sys, /dev. */
function makeRoot() {
  work = fs.mkdtempSync(path.join(os.tmpdir(), `berth-deb-${process.pid}-`));
  root = path.join(work, 'root');
  for (const d of ['root', 'upper', 'work']) fs.mkdirSync(path.join(work, d));
  const r = run('mount', ['-t', 'overlay', 'overlay', '-o',
    `lowerdir=${BASE},upperdir=${path.join(work, 'upper')},workdir=${path.join(work, 'work')}`, root],
  { allowFail: true });
  if (r.status !== 0) run('cp', ['-a', `${BASE}/.`, root], { timeoutMs: 300_000 });
  mount(['-t', 'proc', 'proc'], path.join(root, 'proc'));
  mount(['--rbind', '/sys'], path.join(root, 'sys'));
  run('mount', ['--make-rslave', path.join(root, 'sys')]);
  mount(['--bind', '/dev'], path.join(root, 'dev'));
  // apt's downloads and lists survive the run, so a rerun fetches little.
  for (const [dir, into] of [['apt-archives', 'var/cache/apt/archives'], ['apt-lists', 'var/lib/apt/lists']]) {
    fs.mkdirSync(path.join(CACHE, dir, 'partial'), { recursive: true });
    mount(['--bind', path.join(CACHE, dir)], path.join(root, into));
  }
  fs.copyFileSync('/etc/resolv.conf', path.join(root, 'etc/resolv.conf'));
  // A fresh Debian 12's sources: the release, its updates and security.
  const dm = MIRROR.replace(/\/debian\/?$/, '');
  fs.writeFileSync(path.join(root, 'etc/apt/sources.list'),
    `deb ${MIRROR} ${SUITE} main\ndeb ${MIRROR} ${SUITE}-updates main\n` +
    `deb ${dm}/debian-security ${SUITE}-security main\n`);
}

function daemonLog() {
  try { return fs.readFileSync(daemon.logFile, 'utf8'); } catch (e) { return `(no log: ${e.message})`; }
}

/** Where a symlink in the chroot points, or null when there is none. */
function linkIn(rel) {
  try { return fs.readlinkSync(path.join(root, rel)); } catch { return null; }
}

/** Key="value" lines of an EnvironmentFile (the subset systemd and sh agree on). */
function parseEnvFile(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2].trim();
    if (/^".*"$/.test(v) || /^'.*'$/.test(v)) v = v.slice(1, -1);
    env[m[1]] = v;
  }
  return env;
}

/** The [Service] keys of a unit file (the last value of each). */
function parseUnit(text) {
  const keys = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) { section = s[1]; continue; }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (kv) keys[`${section}.${kv[1]}`] = kv[2];
  }
  return keys;
}

/** ExecStart's words with $VAR and ${VAR} replaced as systemd does (unquoted $VAR splits on spaces). */
function expandExec(line, env) {
  const words = [];
  for (const w of line.trim().split(/\s+/)) {
    const whole = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(w);
    if (whole) { words.push(...(env[whole[1]] || '').split(/\s+/).filter(Boolean)); continue; }
    words.push(w.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, k) => env[k] || ''));
  }
  return words;
}

function berthIn(args, urls, timeoutMs = 180_000) {
  return inRoot(['/usr/bin/berth', ...args], {
    timeoutMs,
    env: { BERTH_DATA_DIR: '/var/lib/berth', BERTH_CONTROL_URL: urls.control, BERTH_RUNTIME_URL: urls.runtime },
  });
}

// The package's steps are one scenario, in order; each skips when an earlier one failed.
function step(name, fn, { needsRoot = true } = {}) {
  test(name, async (t) => {
    if (needsRoot && skipReason) { t.skip(skipReason); return; }
    if (needsRoot && broken) { t.skip(`an earlier step failed: ${broken}`); return; }
    const t0 = Date.now();
    try {
      await fn(t);
    } catch (e) {
      failed = true;
      if (needsRoot) broken = name;
      if (daemon) console.error(`--- berthd output (exit ${daemon.exit})\n${daemonLog().slice(-6000)}`);
      throw e;
    }
    log(`${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
}

before(() => {
  if (process.getuid() !== 0) { skipReason = 'needs root (chroot, mount)'; return; }
  // Packages are made from plain builds; a sanitizer build's code paths are
  // the other integration tests' (scripts/test.sh runs them all under ASan).
  let cache = '';
  try { cache = fs.readFileSync(path.join(BUILD_DIR, 'CMakeCache.txt'), 'utf8'); } catch { /* none */ }
  if (/^BERTH_(SANITIZE|FUZZ):BOOL=ON$/m.test(cache)) {
    skipReason = `${BUILD_DIR} is a sanitizer build: the .deb is made from plain builds`;
    return;
  }
  const missing = ['debootstrap', 'dpkg-shlibdeps', 'cpack', 'chroot', 'flock'].filter((p) => !have(p));
  if (missing.length) {
    throw new Error(`missing ${missing.join(', ')}: run SETUP_TESTS=1 scripts/setup.sh ` +
      '(debootstrap, dpkg-dev, cmake)');
  }
  fs.mkdirSync(CACHE, { recursive: true });
  cleanStaleRuns();
});

after(async () => {
  if (daemon && daemon.exit === null) {
    daemon.proc.kill('SIGTERM');
    await Promise.race([daemon.exited, deadline(10_000)]);
  }
  teardownSync();
  if (Object.keys(timings).length) log('timings', JSON.stringify(timings));
  // Exit 77: ctest reports the test as skipped, not passed (unless the
  // man page check, which needs no root, failed).
  if (skipReason && !failed) process.exitCode = 77;
});

// ------------------------------------------------------------ man pages

function helpText(exe, argLists) {
  return argLists.map((a) => run(exe, a, { allowFail: true }).out).join('\n');
}

step('the man pages name only flags that --help lists', () => {
  const bin = (n) => path.join(BUILD_DIR, n);
  const cliHelp = run(bin('berth'), ['--help']).out;
  const commands = [...cliHelp.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]);
  assert.ok(commands.includes('deploy'), `berth --help lists its commands: ${cliHelp}`);
  const pages = {
    'berthd.8': helpText(bin('berthd'), [['--help'], ['up', '--help'], ['agent']]),
    'berth.1': cliHelp + helpText(bin('berth'), commands.map((c) => [c, '--help'])),
    'berth-sim.1': helpText(bin('berth-sim'), [['--help']]),
    'berth-model.1': helpText(bin('berth-model'), [['--help']]),
  };
  for (const [page, help] of Object.entries(pages)) {
    const src = fs.readFileSync(path.join(SOURCE_DIR, 'docs', 'man', page), 'utf8').replace(/\\-/g, '-');
    const flags = new Set([...src.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]));
    assert.ok(flags.size > 0, `${page} names flags`);
    // --help itself: every program takes it, not every help text says so.
    const unknown = [...flags].filter((f) => f !== '--help' &&
      !new RegExp(`(?<![\\w-])${f}(?![\\w-])`).test(help));
    assert.deepEqual(unknown, [], `docs/man/${page} names flags its program's --help does not list`);
  }
}, { needsRoot: false });

// ------------------------------------------------------------ the package

step('cpack builds a .deb of the installed layout with its dependencies', () => {
  // ctest runs after the build, so this is a no-op there; cpack does not build.
  run('cmake', ['--build', BUILD_DIR, '--target', ...PROGRAMS], { timeoutMs: 900_000 });
  const out = path.join(os.tmpdir(), `berth-deb-${process.pid}-pkg`);
  fs.rmSync(out, { recursive: true, force: true });
  try {
    run('cpack', ['-G', 'DEB', '-B', out, '--config', path.join(BUILD_DIR, 'CPackConfig.cmake')],
      { timeoutMs: 300_000 });
  } catch (e) {
    fs.rmSync(out, { recursive: true, force: true });
    throw e;
  }
  const name = fs.readdirSync(out).find((f) => f.endsWith('.deb'));
  assert.ok(name, `cpack wrote a .deb into ${out}: ${fs.readdirSync(out)}`);
  const file = path.join(out, name);
  const fields = run('dpkg-deb', ['-f', file]).stdout;
  assert.match(fields, /^Package: berth$/m);
  for (const dep of ['adduser', 'libuv1', 'libjansson4', 'libsqlite3-0', 'libssl3', 'libcurl4', 'libarchive13']) {
    assert.match(fields, new RegExp(`^Depends:.*\\b${dep}\\b`, 'm'), `Depends names ${dep}`);
  }
  const files = run('dpkg-deb', ['-c', file]).stdout;
  for (const f of ['./usr/bin/berthd', './usr/bin/berth', './usr/bin/berth-model', './usr/bin/berth-sim',
    './usr/share/berth/instance-types.json', './usr/share/berth/console/index.html',
    './usr/share/man/man8/berthd.8', './usr/share/man/man1/berth.1', `.${UNIT}`]) {
    assert.ok(files.split('\n').some((l) => l.endsWith(` ${f}`)), `the package has ${f}`);
  }
  const control = run('dpkg-deb', ['-I', file]).stdout;
  for (const s of ['postinst', 'prerm', 'postrm']) assert.match(control, new RegExp(`\\b${s}\\b`));
  // No path of this source tree compiled in: berthd reads its catalog
  // relative to itself (docs/install.md).
  const tree = path.join(out, 'tree');
  run('dpkg-deb', ['-x', file, tree]);
  const exe = fs.readFileSync(path.join(tree, 'usr/bin/berthd'));
  assert.equal(exe.includes(`${SOURCE_DIR}/share`), false, `berthd has ${SOURCE_DIR}/share compiled in`);
  deb = { file, name, dir: out };
});

step('a fresh Debian 12 chroot (debootstrap, cached)', () => {
  const t0 = Date.now();
  const made = ensureBase();
  makeRoot();
  log(made ? `debootstrap took ${timings.debootstrapS.toFixed(1)} s (cold)` : `base from ${BASE} (warm)`);
  timings.chrootS = (Date.now() - t0) / 1000;
  assert.match(fs.readFileSync(path.join(root, 'etc/debian_version'), 'utf8'), /^12\./);
  assert.equal(fs.existsSync(path.join(root, 'usr/bin/berthd')), false, 'the base has no berth');
});

step('apt installs the .deb, its dependencies from Debian', () => {
  fs.copyFileSync(deb.file, path.join(root, 'tmp', deb.name));
  const t0 = Date.now();
  inRootLocked(['apt-get', 'update', '-qq'], { timeoutMs: 600_000 });
  inRootLocked(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', `/tmp/${deb.name}`],
    { timeoutMs: 600_000 });
  timings.aptS = (Date.now() - t0) / 1000;
  assert.match(inRoot(['dpkg-query', '-W', '-f', '${Status} ${Version}', 'berth']).stdout,
    /^install ok installed 0\./);
  assert.match(inRoot(['/usr/bin/berthd', 'version']).stdout, /^berthd \d+\.\d+\.\d+/);
  // The postinst: the berth system user (its own group, no login) and the unit enabled.
  const pw = inRoot(['getent', 'passwd', 'berth']).stdout.trim().split(':');
  assert.ok(Number(pw[2]) > 0 && Number(pw[2]) < 1000, `berth is a system user: ${pw}`);
  assert.match(pw[6], /nologin|false/, 'berth has no login shell');
  // (the link is absolute, to the chroot's unit: read it, do not follow it)
  assert.match(linkIn('etc/systemd/system/multi-user.target.wants/berthd.service') || '(none)',
    /^(\/usr)?\/lib\/systemd\/system\/berthd\.service$/, 'the postinst enabled berthd.service');
  // systemd accepts the unit: keys, the commands it names, its targets. A
  // key it does not know or cannot parse is only a warning (status 0), so
  // its output must be empty too.
  const verify = inRoot(['systemd-analyze', 'verify', '--man=no', UNIT], { allowFail: true });
  assert.ok(verify.status === 0 && verify.out.trim() === '', `systemd-analyze verify ${UNIT}:\n${verify.out}`);
});

step('berthd up, started as the unit starts it, serves the demo deployed with the packaged berth', async () => {
  const unit = parseUnit(fs.readFileSync(path.join(root, UNIT.slice(1)), 'utf8'));
  assert.ok(unit['Service.ExecStart'], 'the unit has an ExecStart');
  assert.equal(unit['Service.StateDirectory'], 'berth', 'state under /var/lib/berth');
  // As an operator would: the listeners in the EnvironmentFile the unit reads.
  const [cport, rport] = [await freePort(), await freePort()];
  const envFile = (unit['Service.EnvironmentFile'] || '').replace(/^-/, '');
  assert.equal(envFile, '/etc/default/berthd');
  fs.writeFileSync(path.join(root, envFile.slice(1)),
    `BERTHD_OPTS="--control-listen 127.0.0.1:${cport} --runtime-listen 127.0.0.1:${rport}"\n`);
  const env = { PATH: SERVICE_PATH, LANG: 'C.UTF-8', STATE_DIRECTORY: '/var/lib/berth',
    ...parseEnvFile(fs.readFileSync(path.join(root, envFile.slice(1)), 'utf8')) };
  const mode = parseInt(unit['Service.StateDirectoryMode'] || '0755', 8);
  const user = unit['Service.User'] || 'root';
  const stateDir = path.join(root, 'var/lib', unit['Service.StateDirectory']);
  fs.mkdirSync(stateDir, { recursive: true, mode });
  fs.chmodSync(stateDir, mode);
  const argv = expandExec(unit['Service.ExecStart'], env);
  assert.equal(argv[0], '/usr/bin/berthd');
  const userspec = user === 'root' ? [] : [`--userspec=${user}:${user}`];
  if (user !== 'root') {
    const [uid, gid] = inRoot(['sh', '-c', `id -u ${user}; id -g ${user}`]).stdout.trim().split('\n').map(Number);
    fs.chownSync(stateDir, uid, gid);
  }
  const t0 = Date.now();
  // Its output goes to a file, as systemd's goes to the journal: a pipe
  // nobody reads while a CLI call runs would stall berthd once full.
  const logFile = path.join(work, 'berthd.log');
  const out = fs.openSync(logFile, 'a');
  const proc = spawn('chroot', [...userspec, root, ...argv], { env, cwd: '/', stdio: ['ignore', out, out] });
  fs.closeSync(out);
  daemon = { proc, logFile, exit: null };
  daemon.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => { daemon.exit = code ?? signal; resolve(); });
    proc.on('error', (e) => { fs.appendFileSync(logFile, `spawn: ${e.message}\n`); daemon.exit = -1; resolve(); });
  });

  const urls = { control: `http://127.0.0.1:${cport}`, runtime: `http://127.0.0.1:${rport}` };
  await waitFor(async () => {
    if (daemon.exit !== null) throw new Error(`berthd exited (${daemon.exit})`);
    const ok = await Promise.all([urls.control, urls.runtime].map((u) =>
      fetch(`${u}/healthz`).then((r) => r.status === 200, () => false)));
    return ok.every(Boolean);
  }, { timeoutMs: 60_000, what: 'both /healthz of the packaged berthd' });
  timings.upS = (Date.now() - t0) / 1000;
  // The catalog the package installed, found with no path compiled in.
  assert.match(inRoot(['/usr/bin/berthd', 'up', '--help']).stdout,
    /\/usr\/share\/berth\/instance-types\.json/);
  const cred = fs.statSync(path.join(stateDir, 'credentials'));
  assert.equal(cred.mode & 0o777, 0o600, 'the admin key is 0600');

  const t1 = Date.now();
  for (const [ic, id] of [['eu', 'eu-llm'], ['us', 'us-llm']]) {
    berthIn(['deploy', ic, '--endpoint', 'demo', '--instance-type', 'ml.m5.xlarge', '--cpus', '1',
      '--memory', '512', '--env', `BERTH_MODEL_ID=${id}`, '--wait-timeout', '120'], urls);
  }
  timings.deployS = (Date.now() - t1) / 1000;
  assert.match(berthIn(['ics'], urls).stdout, /eu\s+demo\s+InService[\s\S]*us\s+demo\s+InService|us\s+demo\s+InService[\s\S]*eu\s+demo\s+InService/);
  for (const [ic, id] of [['eu', 'eu-llm'], ['us', 'us-llm']]) {
    const answer = JSON.parse(berthIn(['invoke', 'demo', '--ic', ic, '--data',
      '{"inputs":"Hello","parameters":{"max_new_tokens":4}}'], urls).stdout);
    assert.equal(answer.model_id, id, `demo --ic ${ic} answered as ${id}: ${JSON.stringify(answer)}`);
    assert.ok(answer.generated_text.trim().length > 0);
  }
  // The model servers run as the package's berth user, never as root.
  const berthUid = Number(inRoot(['id', '-u', 'berth']).stdout.trim());
  const servers = chrootPids().filter((p) => {
    try { return path.basename(fs.readlinkSync(`/proc/${p}/exe`)) === 'berth-model'; } catch { return false; }
  });
  assert.equal(servers.length, 2, 'one berth-model copy per IC');
  for (const p of servers) {
    const uid = Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))[1]);
    assert.equal(uid, berthUid, `copy ${p} runs as berth (${berthUid})`);
  }

  // systemctl stop: SIGTERM to berthd alone (KillMode=mixed); it stops its copies.
  assert.equal(unit['Service.KillMode'], 'mixed');
  const t2 = Date.now();
  proc.kill('SIGTERM');
  const stopS = Number(/^(\d+)/.exec(unit['Service.TimeoutStopSec'] || '90')[1]);
  await Promise.race([daemon.exited, deadline(stopS * 1000)]);
  assert.equal(daemon.exit, 0, `berthd stops within TimeoutStopSec=${stopS} and exits 0`);
  timings.stopS = (Date.now() - t2) / 1000;
  await waitFor(() => chrootPids().length === 0, { timeoutMs: 10_000, what: 'no process left in the chroot' });
});

step('apt purge removes the package, the unit link and /var/lib/berth', () => {
  inRootLocked(['apt-get', 'purge', '-y', '-qq', 'berth'], { timeoutMs: 300_000 });
  assert.equal(fs.existsSync(path.join(root, 'usr/bin/berthd')), false);
  assert.equal(fs.existsSync(path.join(root, 'var/lib/berth')), false, 'purge deletes the state');
  assert.equal(linkIn('etc/systemd/system/multi-user.target.wants/berthd.service'), null,
    'purge removes the unit link');
});

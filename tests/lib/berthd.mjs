// Shared harness for Berth's integration and compatibility tests (node:test).
//
// startBerthd() runs a real `berthd up` on two free loopback ports with its own
// temporary data directory and waits until both /healthz answer 200.  Every
// process it starts (and every model copy whose Environment carries TEST_TAG,
// see modelContainer()) is killed when the test file's process ends, also when
// a test failed or timed out, so a failing test never leaves processes behind.
//
// Environment: BERTH_BUILD_DIR (dir with berthd, berth-model, berth; default
// <source>/build), BERTH_SOURCE_DIR, BERTH_TEST_KEEP=1 keeps temporary data
// dirs, BERTH_TEST_VERBOSE=1 copies berthd's output to stderr as it comes.
// Works with Node 18 and 20 (global fetch, node:test).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { openPostgres } from './postgres.mjs';
import { readCredentials, signRequest } from './sigv4.mjs';

export const SOURCE_DIR = process.env.BERTH_SOURCE_DIR
  || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD_DIR = process.env.BERTH_BUILD_DIR || path.join(SOURCE_DIR, 'build');
export const BERTHD = path.join(BUILD_DIR, 'berthd');
// Copies run only programs berthd allows (--allow-exec): startBerthd allows
// the node running the tests (that file only, not its directory) so that
// node scripts can be models.
export const NODE_EXEC = fs.realpathSync(process.execPath);

// Put into every test IC's Environment (modelContainer does) so that model
// copies can be found in /proc and killed whatever process group they are in.
export const TEST_TAG = `berth-test-${process.pid}-${randomUUID().slice(0, 8)}`;

export const SANITIZER_MARKERS = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:'];
const LOG_LIMIT = 4 * 1024 * 1024; // keep at most this many bytes of output per daemon

const live = new Set();       // daemons started by this process
const tempDirs = new Set();   // data dirs we created

// ---------------------------------------------------------------- utilities

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function describeValue(v) {
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  try {
    const s = JSON.stringify(v);
    if (s === undefined) return String(v);
    return s.length > 2000 ? s.slice(0, 2000) + '...' : s;
  } catch {
    return String(v);
  }
}

/**
 * Poll fn() until it yields a value accepted by `until` (default: truthy).
 * failIf(value) may return a string to stop at once with that reason (e.g. an
 * IC that went Failed while we wait for InService).  Errors thrown by fn stop
 * the wait unless ignoreErrors is set.  The timeout error names `what` and
 * the last value (or error) seen.
 */
export async function waitFor(fn, {
  timeoutMs = 60_000, intervalMs = 250, what = 'condition',
  until = (v) => Boolean(v), failIf = null, ignoreErrors = false,
} = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = '(never evaluated)';
  for (;;) {
    let value;
    let ok = false;
    try {
      value = await fn();
      last = value;
      ok = true;
    } catch (err) {
      if (!ignoreErrors) throw err;
      last = err;
    }
    if (ok) {
      if (until(value)) return value;
      const reason = failIf ? failIf(value) : null;
      if (reason) throw new Error(`while waiting for ${what}: ${reason}; last value: ${describeValue(value)}`);
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${describeValue(last)}`);
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function twoFreePorts() {
  for (;;) {
    const a = await freePort();
    const b = await freePort();
    if (a !== b) return [a, b];
  }
}

function parseJson(text) {
  if (!text) return null;
  try { return JSON.parse(text); } catch { return null; }
}

// ---------------------------------------------------------------- signing

// Every call to berthd is signed (SigV4) with the admin key it wrote to
// DATA_DIR/credentials; startBerthd registers that key for both of its URLs.
// One map for every instance of this module (startBerthdWrapped loads its own).
globalThis.berthTestKeys ??= new Map();
const keysByOrigin = globalThis.berthTestKeys;

/** Sign requests to url's origin with credentials ({accessKeyId, secretAccessKey}). */
export function registerCredentials(url, credentials) {
  keysByOrigin.set(new URL(url).origin, credentials);
}

/** The admin credentials berthd wrote into dataDir, or null. */
export function credentialsIn(dataDir) {
  try {
    return readCredentials(fs.readFileSync(path.join(dataDir, 'credentials'), 'utf8'));
  } catch {
    return null;
  }
}

/**
 * headers plus the SigV4 authorization for this request, signed with the
 * credentials given (false: send unsigned) or those registered for url.
 */
export function signed(method, url, headers = {}, body = null, credentials) {
  const creds = credentials === undefined ? keysByOrigin.get(new URL(url).origin) : credentials;
  if (!creds) return { ...headers };
  const b = body === undefined || body === null ? null : (Buffer.isBuffer(body) ? body : String(body));
  return signRequest({ method, url, headers, body: b, credentials: creds });
}

// ---------------------------------------------------------------- raw APIs

// fetch's own "fetch failed" hides the reason in err.cause: bring it out.
function withCause(err, what) {
  const c = err?.cause;
  const reason = c ? ` (${[c.code, c.message].filter(Boolean).join(': ')})` : '';
  const e = new Error(`${what}: ${err?.message ?? err}${reason}`);
  e.cause = err;
  return e;
}

/** Raw SageMaker JSON 1.1 call: POST / with x-amz-target SageMaker.<op>. */
export async function control(url, op, body = {}, { target, rawBody, timeoutMs = 60_000, credentials } = {}) {
  let res;
  let text;
  const payload = rawBody ?? JSON.stringify(body);
  try {
    res = await fetch(`${url}/`, {
      method: 'POST',
      headers: signed('POST', `${url}/`, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': target ?? `SageMaker.${op}`,
      }, payload, credentials),
      body: payload,
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    throw withCause(err, `SageMaker.${op} at ${url}`);
  }
  return { status: res.status, json: parseJson(text), text, headers: res.headers };
}

/** Like control() but throws unless the answer is 200; returns the JSON. */
export async function controlOk(url, op, body = {}) {
  const r = await control(url, op, body);
  if (r.status !== 200) {
    throw new Error(`SageMaker.${op} ${describeValue(body)} answered ${r.status}: ${r.text}`);
  }
  return r.json ?? {};
}

/**
 * Raw runtime call: POST /endpoints/{endpoint}/invocations.  `body` may be an
 * object (sent as JSON), a string or a Buffer.  `ic` (may be null) goes into
 * X-Amzn-SageMaker-Inference-Component.
 */
export async function invoke(runtimeUrl, endpoint, ic, body, headers = {}, { timeoutMs = 90_000, credentials } = {}) {
  const h = { ...headers };
  let payload = body;
  if (body !== undefined && body !== null && typeof body !== 'string' && !Buffer.isBuffer(body)) {
    payload = JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  }
  if (ic) h['X-Amzn-SageMaker-Inference-Component'] = ic;
  let res;
  let buf;
  try {
    const url = `${runtimeUrl}/endpoints/${encodeURIComponent(endpoint)}/invocations`;
    res = await fetch(url, {
      method: 'POST', headers: signed('POST', url, h, payload, credentials), body: payload,
      signal: AbortSignal.timeout(timeoutMs),
    });
    buf = Buffer.from(await res.arrayBuffer());
  } catch (err) {
    throw withCause(err, `invocation of ${endpoint}/${ic ?? '-'} at ${runtimeUrl}`);
  }
  const text = buf.toString('utf8');
  return { status: res.status, headers: res.headers, text, json: parseJson(text), body: buf };
}

/**
 * POST with node:http instead of fetch, for bodies the server may refuse
 * before reading them (413): the answer counts even if writing the rest of the
 * body then fails.  Resolves {status, headers (lower-case object), text, json}.
 */
export function rawPost(urlString, body, headers = {}, { timeoutMs = 90_000, credentials } = {}) {
  const url = new URL(urlString);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST',
      headers: { 'content-length': Buffer.byteLength(body),
        ...signed('POST', urlString, headers, body, credentials) },
      timeout: timeoutMs,
    }, (res) => {
      answered = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', () => {}); // the server may close after answering
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, headers: res.headers, text, json: parseJson(text) });
      });
      res.on('close', () => {
        if (!res.complete) {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode, headers: res.headers, text, json: parseJson(text), truncated: true });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${urlString} in ${timeoutMs} ms`)));
    req.on('error', (err) => { if (!answered) reject(err); });
    req.end(body);
  });
}

/** Resolve to the error the promise rejects with; fail if it resolves. */
export async function rejection(promise, what) {
  try {
    const out = await promise;
    assert.fail(`${what}: expected an error, got ${JSON.stringify(out)}`);
  } catch (err) {
    if (err?.code === 'ERR_ASSERTION') throw err;
    return err;
  }
}

// ---------------------------------------------------------------- fixtures

/** Specification.Container for the bundled reference model server. */
export function modelContainer(modelId, env = {}) {
  return {
    Image: 'berth-model',
    Environment: { BERTH_MODEL_ID: modelId, BERTH_TEST_TAG: TEST_TAG, ...env },
  };
}

// ---------------------------------------------------------------- processes

/** Pids of live processes whose environment contains BERTH_TEST_TAG=<tag>. */
export function findTaggedProcesses(tag = TEST_TAG) {
  if (process.platform !== 'linux') return [];
  const needle = Buffer.from(`BERTH_TEST_TAG=${tag}\0`);
  const pids = [];
  let entries = [];
  try { entries = fs.readdirSync('/proc'); } catch { return []; }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const environ = fs.readFileSync(`/proc/${e}/environ`);
      if (environ.indexOf(needle) < 0) continue;
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z') pids.push(Number(e)); // zombies are gone already
    } catch { /* gone, or not ours */ }
  }
  return pids;
}

function cmdlineOf(pid) {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { return []; }
}

/**
 * Pids of the model servers of this test process's copies: tagged
 * processes that are not berthd itself (the supervisor, controller, agents
 * and copy shims all carry the tag too).
 */
export function modelPids(tag = TEST_TAG) {
  return findTaggedProcesses(tag).filter((p) => {
    try { return path.basename(fs.readlinkSync(`/proc/${p}/exe`)) !== 'berthd'; } catch { return false; }
  }).sort((a, b) => a - b);
}

/** Pids of tagged `berthd ROLE` processes (e.g. 'agent', 'copy-exec'). */
export function rolePids(role, tag = TEST_TAG) {
  return findTaggedProcesses(tag).filter((p) => cmdlineOf(p)[1] === role).sort((a, b) => a - b);
}

/**
 * Pids of the direct children of pid that run `berthd ROLE` (`berthd up`
 * is a supervisor: the controller is its child).
 */
export function childrenRunning(pid, role = 'controller') {
  const out = [];
  let entries = [];
  try { entries = fs.readdirSync('/proc'); } catch { return out; }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== pid || fields[0] === 'Z') continue;
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (cmd[1] === role) out.push(Number(e));
    } catch { /* gone */ }
  }
  return out;
}

function killQuietly(pid, sig) {
  try { process.kill(pid, sig); } catch { /* already gone */ }
}

function killTagged() {
  for (const pid of findTaggedProcesses()) killQuietly(pid, 'SIGKILL');
}

function cleanupAllSync() {
  for (const d of live) d._killEverythingSync();
  killTagged();
  if (process.env.BERTH_TEST_KEEP !== '1') {
    for (const dir of tempDirs) {
      try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
    }
  }
}

process.on('exit', (code) => {
  if (code !== 0) {
    // A test failed: show what the daemons said, to make the failure readable.
    for (const d of allDaemons) {
      const text = d.logs();
      process.stderr.write(`\n----- berthd (pid ${d.proc.pid}, data ${d.dataDir}) output, last 6000 bytes -----\n`);
      process.stderr.write(text.slice(-6000));
      process.stderr.write('\n----- end of berthd output -----\n');
    }
  }
  cleanupAllSync();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    cleanupAllSync();
    process.exit(128 + (os.constants.signals[sig] ?? 1));
  });
}
const allDaemons = [];

/**
 * With BERTH_TEST_PG_DIR (a cluster `node tests/lib/postgres.mjs start DIR`
 * runs: scripts/test.sh --store postgresql), every berthd keeps its state in
 * PostgreSQL: one database per data dir, so a restart on the same data dir
 * finds its state. Returns {url, env} or null (SQLite, the default).
 */
function testStore(dataDir) {
  const dir = process.env.BERTH_TEST_PG_DIR;
  if (!dir) return null;
  const pg = openPostgres(dir);
  const db = `berth_${createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16)}`;
  const url = pg.createDatabase(db);
  return { url, env: pg.env, dump: () => pg.psql('SELECT kind, name, doc FROM objects', db) };
}

/**
 * Start `berthd up` and wait until both /healthz answer 200.
 * Options: dataDir (default: a new temp dir), extraArgs, env, startTimeoutMs,
 * allowExec (programs copies may run; default [NODE_EXEC]).
 * Returns {controlUrl, runtimeUrl, dataDir, proc, stop(), kill9(), logs(),
 *          signal(sig), waitExit(ms)}.
 */
export async function startBerthd({ dataDir, extraArgs = [], env = {}, startTimeoutMs = 60_000,
  controlHost = '127.0.0.1', allowExec = [NODE_EXEC] } = {}) {
  if (!fs.existsSync(BERTHD)) throw new Error(`berthd not found at ${BERTHD} (set BERTH_BUILD_DIR)`);
  if (!dataDir) {
    dataDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'berth-test-'));
    tempDirs.add(dataDir);
  }
  const [cport, rport] = await twoFreePorts();
  const store = testStore(dataDir);
  if (store) env = { ...store.env, ...env };
  const args = ['up', '--data-dir', dataDir, ...(store ? ['--store', store.url] : []),
    '--control-listen', `${controlHost}:${cport}`, '--runtime-listen', `127.0.0.1:${rport}`,
    ...allowExec.flatMap((p) => ['--allow-exec', p]), ...extraArgs];
  const proc = spawn(BERTHD, args, {
    cwd: dataDir,
    env: { ...process.env, BERTH_TEST_TAG: TEST_TAG, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group, so that the whole group can be killed
  });
  let output = '';
  const onData = (chunk) => {
    const s = chunk.toString('utf8');
    if (process.env.BERTH_TEST_VERBOSE === '1') process.stderr.write(s);
    output += s;
    if (output.length > LOG_LIMIT) output = output.slice(-LOG_LIMIT);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);

  let exitInfo = null;
  let spawnError = null;
  const exited = new Promise((resolve) => {
    proc.on('error', (err) => { spawnError = err; exitInfo = { code: null, signal: null, error: err }; resolve(exitInfo); });
    proc.on('exit', (code, signal) => { exitInfo = { code, signal }; resolve(exitInfo); });
  });

  const d = {
    controlUrl: `http://127.0.0.1:${cport}`,
    runtimeUrl: `http://127.0.0.1:${rport}`,
    dataDir,
    proc,
    args,
    logs: () => output,
    /** Everything the state store holds, as bytes: the SQLite files, or
     * the PostgreSQL objects table. */
    storeBytes() {
      if (store) return Buffer.from(store.dump());
      return Buffer.concat(['berth.db', 'berth.db-wal'].map((f) => path.join(dataDir, f))
        .filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
    },
    /** The pid of the controller `berthd up` runs now (null between restarts). */
    controllerPid: () => childrenRunning(proc.pid)[0] ?? null,
    get exitInfo() { return exitInfo; },
    exited,
    /** Send a signal to berthd itself (not its group). */
    signal(sig) { if (!exitInfo) killQuietly(proc.pid, sig); },
    /** Wait for berthd to exit; resolves {code, signal} or throws on timeout. */
    async waitExit(timeoutMs = 15_000) {
      let timer;
      const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`berthd (pid ${proc.pid}) still running after ${timeoutMs} ms`)), timeoutMs);
      });
      try { return await Promise.race([exited, t]); } finally { clearTimeout(timer); }
    },
    _killEverythingSync() {
      if (!exitInfo) killQuietly(proc.pid, 'SIGKILL');
      killQuietly(-proc.pid, 'SIGKILL');
    },
    _release() {
      // Orphaned copies may hold our pipes open: never let them keep node alive.
      proc.stdout.unref?.(); proc.stderr.unref?.(); proc.unref();
      live.delete(d);
    },
    _checkSanitizers() {
      const hit = SANITIZER_MARKERS.find((m) => output.includes(m));
      if (hit) {
        const at = output.indexOf(hit);
        throw new Error(`berthd output contains sanitizer report "${hit}":\n${output.slice(Math.max(0, at - 200), at + 4000)}`);
      }
    },
    /** SIGTERM, wait up to 15 s, then SIGKILL; fail on sanitizer reports. */
    async stop({ timeoutMs = 15_000 } = {}) {
      if (!exitInfo) {
        killQuietly(proc.pid, 'SIGTERM');
        try {
          await d.waitExit(timeoutMs);
        } catch {
          process.stderr.write(`berth test harness: berthd pid ${proc.pid} ignored SIGTERM for ${timeoutMs} ms, sending SIGKILL\n`);
          killQuietly(proc.pid, 'SIGKILL');
          await d.waitExit(10_000);
        }
      }
      killQuietly(-proc.pid, 'SIGKILL'); // anything left in its process group
      // Let the pipes drain what was written before exit (sanitizer reports).
      await waitFor(() => proc.stdout.readableEnded && proc.stderr.readableEnded,
        { timeoutMs: 2000, intervalMs: 20, what: 'berthd output to end' }).catch(() => {});
      d._release();
      d._checkSanitizers();
      return exitInfo;
    },
    /** SIGKILL berthd itself (its group is left alone) and wait for exit. */
    async kill9() {
      if (!exitInfo) {
        killQuietly(proc.pid, 'SIGKILL');
        await d.waitExit(10_000);
      }
      d._release();
      d._checkSanitizers();
      return exitInfo;
    },
  };
  live.add(d);
  allDaemons.push(d);

  // The controller's /healthz/leader: it answers only once its state is
  // loaded (a standby's is 503).
  const healthy = async (url) => {
    const res = await fetch(`${url}${url === d.controlUrl ? '/healthz/leader' : '/healthz'}`,
      { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  };
  try {
    await waitFor(async () => {
      if (exitInfo) {
        throw new Error(`berthd exited during start-up (${describeValue(exitInfo)}${spawnError ? ', ' + spawnError.message : ''}); output:\n${output.slice(-4000)}`);
      }
      const [a, b] = await Promise.all([
        healthy(d.controlUrl).catch((e) => e.message),
        healthy(d.runtimeUrl).catch((e) => e.message),
      ]);
      return { control: a, runtime: b };
    }, {
      timeoutMs: startTimeoutMs, intervalMs: 100,
      until: (v) => v.control === 200 && v.runtime === 200,
      what: `berthd ${args.join(' ')} to answer 200 on both /healthz`,
    });
  } catch (err) {
    d._killEverythingSync();
    d._release();
    err.message += `\nberthd output:\n${output.slice(-4000)}`;
    throw err;
  }
  // The admin key berthd made at first start (absent with --auth none).
  d.credentials = credentialsIn(dataDir);
  if (d.credentials) {
    registerCredentials(d.controlUrl, d.credentials);
    registerCredentials(d.runtimeUrl, d.credentials);
  }
  /** Environment for the berth CLI and the SDKs: the admin key. */
  d.env = () => (d.credentials ? {
    AWS_ACCESS_KEY_ID: d.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: d.credentials.secretAccessKey,
  } : {});
  /** Options for an AWS SDK client of the control (or runtime) API. */
  d.sdk = (url = d.controlUrl, extra = {}) => ({
    endpoint: url, region: 'us-east-1', credentials: d.credentials, ...extra,
  });
  return d;
}

/** Stop every daemon still running (for after() hooks). */
export async function stopAll() {
  const errors = [];
  for (const d of [...live]) {
    try { await d.stop(); } catch (e) { errors.push(e); }
  }
  killTagged();
  if (errors.length) throw errors[0];
}

/**
 * startBerthd(opts) with berthd run through a wrapper command that sets up
 * its process and then execs it, e.g. ['prlimit', '--nofile=256:256', '--'],
 * so that the pid the harness watches and signals is berthd's own.  The
 * daemon comes from its own instance of this module (BERTH_BUILD_DIR pointed
 * at a directory whose `berthd` is the wrapper), which cleans it up the same
 * way; stop it with its own stop(), stopAll() here does not see it.
 */
export async function startBerthdWrapped(wrapper, opts = {}) {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'berth-wrap-'));
  tempDirs.add(dir);
  const quote = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;
  fs.writeFileSync(path.join(dir, 'berthd'),
    `#!/bin/sh\nexec ${[...wrapper, BERTHD].map(quote).join(' ')} "$@"\n`, { mode: 0o755 });
  const saved = process.env.BERTH_BUILD_DIR;
  process.env.BERTH_BUILD_DIR = dir;
  let mod;
  try {
    mod = await import(`./berthd.mjs?wrapped=${encodeURIComponent(dir)}`);
  } finally {
    if (saved === undefined) delete process.env.BERTH_BUILD_DIR;
    else process.env.BERTH_BUILD_DIR = saved;
  }
  return mod.startBerthd(opts);
}

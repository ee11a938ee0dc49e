// bench/router: Berth's router side by side with haproxy (balance leastconn)
// and nginx (least_conn, keepalive 64) in front of the same two berth-model
// copies, loaded by wrk. See bench/README.md, section "Router", for the
// method and the figures; bench/router/run.sh is the entry point.
//
// DESIGN. One `berthd up --router-threads 1 --router-token T` (the build in
// BERTH_BUILD_DIR, Release expected) serves an endpoint with one IC of two
// zero-delay copies. The copies' ports come from their environment
// (SAGEMAKER_BIND_TO_PORT, set by the agent), so haproxy and nginx forward to
// exactly the processes Berth's router uses. wrk cannot sign requests, and
// need not: one InvokeEndpoint request is signed here and replayed by wrk
// (SigV4 has no nonce; Berth accepts a signature within 15 minutes of its
// x-amz-date, and every wrk run gets a fresh one, signed for the run's Berth
// router so the Host header is its own). The peers receive the same bytes and
// rewrite the path to the copies' /invocations, as a proxy in front of the
// copies must.
//
// Pinned run, one thread each: berthd up's own router (--router-threads 1),
// haproxy nbthread 1, nginx with one worker; the proxy under test alone on
// core 1 (all its threads; nginx's master and worker), wrk, every other
// process of berthd and the idle proxies of the other run on core 0.
// Unpinned run, two threads each, everything free: a second, standalone
// `berthd router --router-threads 2` on its own port joined to the same
// controller with T (its two threads each have a SO_REUSEPORT listener),
// a second haproxy with nbthread 2 and a second nginx with two workers
// (`listen ... reuseport`, one listener a worker like Berth's threads).
// With two routers the controller takes one router's report as the
// in-flight truth, so its draining and metrics views are approximate:
// harmless here (no scaling policy, nothing drains, no metrics read).
// CPU per request is the proxy's utime+stime (/proc/PID/stat, summed over its
// processes, all threads) across the wrk run over the requests wrk completed.
// Rounds interleave the three proxies, so slow drift in the machine's load
// hits all three alike; figures are the median of the rounds.
//
// Options: --duration S (10), --rounds N (3), --connections N (64),
// --no-unpinned, --no-stream, --json FILE (all raw figures), --perf DIR
// (perf record -g of each proxy during the first pinned round: DIR/NAME.data,
// read with perf report -i; that round's CPU figures then include perf's cost).

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = path.resolve(HERE, '..', '..');
process.env.BERTH_BUILD_DIR ||= path.join(SOURCE_DIR, 'build-release');
const BUILD_DIR = process.env.BERTH_BUILD_DIR;

const lib = await import(path.join(SOURCE_DIR, 'tests', 'lib', 'berthd.mjs'));
const fixtures = await import(path.join(SOURCE_DIR, 'tests', 'lib', 'fixtures.mjs'));
const { startBerthd, stopAll, signed, freePort, waitFor, modelPids, rolePids, findTaggedProcesses,
  registerCredentials, BERTHD } = lib;

const EP = 'bench';
const IC = 'bench-ic';
const STREAM_IC = 'bench-stream';
const STREAM_TOKENS = 20;
const STREAM_DELAY_MS = 50;
const BODY = JSON.stringify({ inputs: 'the quick brown fox', parameters: { max_new_tokens: 8 } });

// ---------------------------------------------------------------- options

function parseArgs(argv) {
  const o = { duration: 10, rounds: 3, connections: 64, unpinned: true, stream: true, json: null, perf: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (lo, hi) => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`${a} wants an integer in [${lo}, ${hi}], got "${argv[i]}"`);
      return v;
    };
    if (a === '--duration') o.duration = num(1, 600);
    else if (a === '--rounds') o.rounds = num(1, 21);
    else if (a === '--connections') o.connections = num(1, 4096);
    else if (a === '--no-unpinned') o.unpinned = false;
    else if (a === '--no-stream') o.stream = false;
    else if (a === '--json') o.json = argv[++i];
    else if (a === '--perf') o.perf = argv[++i];
    else throw new Error(`unknown option ${a} (see the comment at the top of ${path.relative(SOURCE_DIR, fileURLToPath(import.meta.url))})`);
  }
  return o;
}

// ---------------------------------------------------------------- processes

const children = [];

function startChild(cmd, args, what) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (c) => { out = (out + c.toString('utf8')).slice(-8000); };
  p.stdout.on('data', keep);
  p.stderr.on('data', keep);
  p.exitInfo = null;
  p.on('exit', (code, signal) => { p.exitInfo = { code, signal }; });
  p.output = () => out;
  p.what = what;
  children.push(p);
  return p;
}

// nginx's worker outlives a SIGKILLed master and holds our pipes open:
// kill the children's children too, then let go of the pipes.
function stopChildren() {
  for (const p of children) {
    if (p.exitInfo) continue;
    for (const pid of childPids(p.pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    try { p.kill('SIGKILL'); } catch { /* gone */ }
    p.stdout.destroy();
    p.stderr.destroy();
  }
}
process.on('exit', stopChildren);

/** Children of pid (one level), from /proc. */
function childPids(pid) {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e));
    } catch { /* gone */ }
  }
  return out;
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime+stime of the processes, in microseconds. */
function cpuUs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks * 1e6) / CLK_TCK;
}

function taskset(cpus, pid) {
  const r = spawnSync('taskset', ['-a', '-cp', cpus, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset -a -cp ${cpus} ${pid}: ${r.stderr}`);
}

// ---------------------------------------------------------------- peers

function haproxyConfig(port, copies, threads) {
  return `global
  nbthread ${threads}
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend bench
  bind 127.0.0.1:${port}
  default_backend copies
backend copies
  balance leastconn
  http-request set-path /invocations
${copies.map((c, i) => `  server copy${i} 127.0.0.1:${c}`).join('\n')}
`;
}

/** workers > 1 listen with reuseport: a listener each, as Berth's threads. */
function nginxConfig(port, copies, dir, workers) {
  const n = `nginx-${workers}`; // each instance its own files
  return `worker_processes ${workers};
daemon off;
pid ${dir}/${n}.pid;
error_log ${dir}/${n}-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/${n}-body;
  proxy_temp_path ${dir}/${n}-proxy;
  upstream copies {
    least_conn;
${copies.map((c) => `    server 127.0.0.1:${c};`).join('\n')}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port}${workers > 1 ? ' reuseport' : ''};
    keepalive_requests 100000000;
    location /endpoints/${EP}/invocations {
      proxy_pass http://copies/invocations;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
    }
  }
}
`;
}

async function waitListening(url, what, proc) {
  await waitFor(async () => {
    if (proc?.exitInfo) throw new Error(`${what} exited (${JSON.stringify(proc.exitInfo)}): ${proc.output()}`);
    try {
      const r = await fetch(url, { method: 'GET', signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      return true;
    } catch { return false; }
  }, { timeoutMs: 20_000, intervalMs: 100, what: `${what} to listen on ${url}` });
}

// ---------------------------------------------------------------- wrk

/** Signs the request for runtimeUrl now; writes the body and headers files
 *  invoke.lua reads. The same bytes go to every proxy. */
function writeSignedRequest(dir, runtimeUrl) {
  const url = `${runtimeUrl}/endpoints/${EP}/invocations`;
  const h = signed('POST', url, {
    'content-type': 'application/json',
    'x-amzn-sagemaker-inference-component': IC,
  }, BODY);
  fs.writeFileSync(path.join(dir, 'body.json'), BODY);
  fs.writeFileSync(path.join(dir, 'headers.tsv'),
    // "Host" as wrk spells it, or wrk.format adds a second Host header.
    Object.entries(h).map(([k, v]) => `${k === 'host' ? 'Host' : k}\t${v}`).join('\n') + '\n');
  return { path: new URL(url).pathname, headers: h };
}

/** One request through the proxy with fetch: it must answer the model's
 *  JSON, or the wrk figures would measure error pages. */
async function checkAnswer(base, req, what) {
  const res = await fetch(`${base}${req.path}`, {
    method: 'POST', headers: req.headers, body: BODY, signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let j = null;
  try { j = JSON.parse(text); } catch { /* checked below */ }
  if (res.status !== 200 || typeof j?.generated_text !== 'string') {
    throw new Error(`${what} answered ${res.status}: ${text.slice(0, 400)}`);
  }
}

function runWrk({ base, dir, req, seconds, connections, threads, pinCpu }) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--timeout', '5s',
    '-s', path.join(HERE, 'invoke.lua'), `${base}${req.path}`,
    '--', req.path, path.join(dir, 'body.json'), path.join(dir, 'headers.tsv')];
  const [cmd, full] = pinCpu !== null ? ['taskset', ['-c', String(pinCpu), 'wrk', ...args]] : ['wrk', args];
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, full, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { out += c; });
    p.on('error', reject);
    p.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
      if (code !== 0 || !line) return reject(new Error(`wrk exited ${code}: ${out.slice(-2000)}`));
      resolve(JSON.parse(line.slice('WRK_JSON '.length)));
    });
  });
}

// ---------------------------------------------------------------- figures

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function summarize(runs) {
  return {
    rps: median(runs.map((r) => r.rps)),
    p50_ms: median(runs.map((r) => r.p50_us / 1000)),
    p99_ms: median(runs.map((r) => r.p99_us / 1000)),
    cpu_us: median(runs.map((r) => r.cpu_us_per_req)),
    copies_cpu_us: median(runs.map((r) => r.copies_cpu_us_per_req)),
    errors: runs.reduce((n, r) => n + r.errors, 0),
  };
}

function table(title, results, names) {
  const s = Object.fromEntries(names.map((n) => [n, summarize(results[n])]));
  const lines = [`### ${title}`, '',
    '| proxy | requests/s | p50 ms | p99 ms | CPU us/request | copies\' CPU us/request | errors | rounds (requests/s) |',
    '|---|---|---|---|---|---|---|---|'];
  for (const n of names) {
    const x = s[n];
    lines.push(`| ${n} | ${x.rps.toFixed(0)} | ${x.p50_ms.toFixed(2)} | ${x.p99_ms.toFixed(2)} | ${x.cpu_us.toFixed(1)} | ${x.copies_cpu_us.toFixed(1)} | ${x.errors} | ${results[n].map((r) => r.rps.toFixed(0)).join(', ')} |`);
  }
  lines.push('');
  lines.push('| ratio | requests/s | p99 | CPU/request |', '|---|---|---|---|');
  for (const peer of names.filter((n) => n !== 'berth')) {
    const b = s.berth;
    const p = s[peer];
    lines.push(`| berth/${peer} | ${(b.rps / p.rps).toFixed(2)} | ${(b.p99_ms / p.p99_ms).toFixed(2)} | ${(b.cpu_us / p.cpu_us).toFixed(2)} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- streaming

/** InvokeEndpointWithResponseStream with the real SDK against an IC whose
 *  model produces a token every STREAM_DELAY_MS: the PayloadParts must
 *  arrive spread over the generation, not in a burst at its end. */
async function streamCheck(berthd) {
  const require = createRequire(path.join(SOURCE_DIR, 'tests', 'package.json'));
  const rtmod = require('@aws-sdk/client-sagemaker-runtime');
  const rt = new rtmod.SageMakerRuntimeClient({ endpoint: berthd.runtimeUrl, region: 'us-east-1', credentials: berthd.credentials });
  try {
    const t0 = performance.now();
    const out = await rt.send(new rtmod.InvokeEndpointWithResponseStreamCommand({
      EndpointName: EP, InferenceComponentName: STREAM_IC, ContentType: 'application/json',
      Body: JSON.stringify({ inputs: 'stream me', stream: true, parameters: { max_new_tokens: STREAM_TOKENS } }),
    }));
    const at = [];
    let text = '';
    for await (const ev of out.Body) {
      if (ev.ModelStreamError || ev.InternalStreamFailure) throw new Error(`stream error event ${JSON.stringify(ev)}`);
      if (ev.PayloadPart?.Bytes) {
        at.push(performance.now() - t0);
        text += Buffer.from(ev.PayloadPart.Bytes).toString('utf8');
      }
    }
    const tokens = (text.match(/"token":/g) ?? []).length;
    const generation = (STREAM_TOKENS - 1) * STREAM_DELAY_MS;
    const spread = at.length ? at[at.length - 1] - at[0] : 0;
    // Produced at 0, 50, ..., 950 ms: as produced means the first part long
    // before the last and the parts spread over most of the generation.
    const ok = tokens === STREAM_TOKENS && at.length >= STREAM_TOKENS / 2
      && spread >= 0.8 * generation && at[0] < spread / 2;
    return { ok, tokens, parts: at.length, first_ms: at[0], last_ms: at[at.length - 1], spread_ms: spread, generation_ms: generation,
      arrivals_ms: at.map((x) => Math.round(x)) };
  } finally {
    rt.destroy();
  }
}

// ---------------------------------------------------------------- main

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  for (const tool of ['haproxy', 'nginx', 'wrk', 'taskset']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(`${tool} is not installed: run bench/router/setup.sh (as root)`);
    }
  }
  const cache = fs.existsSync(path.join(BUILD_DIR, 'CMakeCache.txt')) ? fs.readFileSync(path.join(BUILD_DIR, 'CMakeCache.txt'), 'utf8') : '';
  const buildType = /CMAKE_BUILD_TYPE:STRING=(.*)/.exec(cache)?.[1] ?? '?';
  if (buildType !== 'Release') process.stderr.write(`warning: ${BUILD_DIR} is a ${buildType} build, not Release: the figures mean little\n`);
  const cpus = os.cpus().length;
  if (cpus < 2) throw new Error('the pinned run needs two cores (core 0: wrk and the copies, core 1: the proxy)');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-router-'));
  if (opt.perf) fs.mkdirSync(opt.perf, { recursive: true });
  const log = (s) => process.stderr.write(`[bench] ${s}\n`);
  const raw = { date: new Date().toISOString(), host: os.hostname(), cpus, cpu_model: os.cpus()[0].model,
    build_dir: BUILD_DIR, build_type: buildType, options: opt, loadavg_before: os.loadavg(), runs: {},
    commit: spawnSync('git', ['-C', SOURCE_DIR, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).stdout.trim() || '?' };

  // A known router token, so that the standalone router of the unpinned run
  // can join this controller.
  const routerToken = randomBytes(24).toString('hex');
  const berthd = await startBerthd({ extraArgs: ['--router-threads', '1', '--router-token', routerToken] });
  log(`berthd up: runtime ${berthd.runtimeUrl}`);
  const ctl = berthd.controlUrl;
  await fixtures.deployEndpoint(ctl, EP);
  // No NumberOfCpuCoresRequired: with it the agent pins each copy to whole
  // cores of its own (cpuset), and the copies must share core 0 with wrk.
  const deploy = async (name, modelId, copies, env = {}) => {
    const body = fixtures.icBody(name, EP, modelId, { copies, env });
    body.Specification.ComputeResourceRequirements = { MinMemoryRequiredInMb: 256 };
    await lib.controlOk(ctl, 'CreateInferenceComponent', body);
    await fixtures.waitIcInService(ctl, name, copies);
  };
  await Promise.all([
    deploy(IC, 'bench', 2),
    opt.stream ? deploy(STREAM_IC, 'bench-stream', 1, { BERTH_MODEL_TOKEN_DELAY_MS: String(STREAM_DELAY_MS) }) : null,
  ]);

  // The two copies of IC and their ports, from the environment the agent
  // gave them.
  const copies = modelPids().map((pid) => {
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const get = (k) => env.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1);
    return { pid, ic: get('BERTH_INFERENCE_COMPONENT'), model: get('BERTH_MODEL_ID'), port: Number(get('SAGEMAKER_BIND_TO_PORT')) };
  }).filter((c) => c.model === 'bench');
  if (copies.length !== 2 || copies.some((c) => !c.port)) throw new Error(`expected 2 copies with ports, found ${JSON.stringify(copies)}`);
  const copyPids = copies.map((c) => c.pid);
  const routerPid = rolePids('router')[0];
  if (!routerPid) throw new Error('no `berthd router` process found');
  log(`copies on ports ${copies.map((c) => c.port).join(', ')}; router pid ${routerPid}`);

  // haproxy and nginx with `threads` threads (nginx: workers) on ports of
  // their own.
  const startPeers = async (threads) => {
    const hport = await freePort();
    const nport = await freePort();
    const hcfg = path.join(dir, `haproxy-${threads}.cfg`);
    const ncfg = path.join(dir, `nginx-${threads}.conf`);
    fs.writeFileSync(hcfg, haproxyConfig(hport, copies.map((c) => c.port), threads));
    fs.writeFileSync(ncfg, nginxConfig(nport, copies.map((c) => c.port), dir, threads));
    const haproxy = startChild('haproxy', ['-db', '-f', hcfg], `haproxy nbthread ${threads}`);
    const nginx = startChild('nginx', ['-p', dir, '-c', ncfg], `nginx ${threads} workers`);
    await waitListening(`http://127.0.0.1:${hport}/ping`, haproxy.what, haproxy);
    await waitListening(`http://127.0.0.1:${nport}/ping`, nginx.what, nginx);
    return {
      haproxy: { base: `http://127.0.0.1:${hport}`, pids: () => [haproxy.pid] },
      nginx: { base: `http://127.0.0.1:${nport}`, pids: () => [nginx.pid, ...childPids(nginx.pid)] },
    };
  };

  // A run: the three proxies with `threads` threads each, and the Berth
  // router every request of the run is signed for.
  const runs = {
    pinned: { threads: 1, wrkThreads: 1, signUrl: berthd.runtimeUrl,
      proxies: { berth: { base: berthd.runtimeUrl, pids: () => [routerPid] }, ...await startPeers(1) } },
  };
  if (opt.unpinned) {
    // The standalone router: one process, its threads share the pid.
    const rport = await freePort();
    const url = `http://127.0.0.1:${rport}`;
    const router = startChild(BERTHD, ['router', '--controller', ctl, '--router-token', routerToken,
      '--runtime-listen', `127.0.0.1:${rport}`, '--router-threads', '2', '--log-level', 'warn'],
    'berthd router --router-threads 2');
    registerCredentials(url, berthd.credentials); // the same keys as berthd up's router
    await waitListening(`${url}/healthz`, router.what, router);
    const req = writeSignedRequest(dir, url);
    await waitFor(async () => {
      if (router.exitInfo) throw new Error(`${router.what} exited (${JSON.stringify(router.exitInfo)}): ${router.output()}`);
      return checkAnswer(url, req, router.what).then(() => true);
    }, { timeoutMs: 20_000, intervalMs: 200, ignoreErrors: true, what: `${router.what} to answer a signed request` });
    log(`standalone router (2 threads): runtime ${url}, pid ${router.pid}`);
    runs.unpinned = { threads: 2, wrkThreads: 1, signUrl: url,
      proxies: { berth: { base: url, pids: () => [router.pid] }, ...await startPeers(2) } };
  }
  const names = ['berth', 'haproxy', 'nginx'];
  raw.threads = Object.fromEntries(Object.entries(runs).map(([m, r]) => [m, { proxy: r.threads, wrk: r.wrkThreads }]));

  // Pinned: the run's proxies on core 1, every other process (the other
  // run's proxies, idle, included) on core 0. Unpinned: all on every core.
  const pin = (run, pinned) => {
    const under = new Set(names.flatMap((n) => run.proxies[n].pids()));
    const all = new Set([...Object.values(runs).flatMap((r) => names.flatMap((n) => r.proxies[n].pids())),
      ...findTaggedProcesses()]);
    for (const pid of all) taskset(!pinned ? `0-${cpus - 1}` : under.has(pid) ? '1' : '0', pid);
  };

  const measure = async (run, name, pinned, seconds, perfFile = null) => {
    const p = run.proxies[name];
    const req = writeSignedRequest(dir, run.signUrl);
    const pids = p.pids();
    const perf = perfFile ? startChild('perf', ['record', '-F', '999', '-g', '-o', perfFile,
      '-p', pids.join(','), '--', 'sleep', String(seconds)], 'perf') : null;
    const before = cpuUs(pids);
    const copiesBefore = cpuUs(copyPids);
    const w = await runWrk({ base: p.base, dir, req, seconds, connections: opt.connections,
      threads: run.wrkThreads, pinCpu: pinned ? 0 : null });
    const cpu = cpuUs(pids) - before;
    const copiesCpu = cpuUs(copyPids) - copiesBefore;
    if (perf && !perf.exitInfo) await new Promise((resolve) => perf.on('exit', resolve));
    const e = w.errors;
    return { ...w, rps: w.requests / (w.duration_us / 1e6), cpu_us_per_req: w.requests ? cpu / w.requests : 0,
      copies_cpu_us_per_req: w.requests ? copiesCpu / w.requests : 0,
      errors: e.connect + e.read + e.write + e.status + e.timeout, errors_by_kind: e };
  };

  for (const run of Object.values(runs)) {
    const req = writeSignedRequest(dir, run.signUrl);
    for (const n of names) await checkAnswer(run.proxies[n].base, req, `${n} (${run.threads} thread${run.threads > 1 ? 's' : ''})`);
  }

  const out = [];
  for (const [mode, run] of Object.entries(runs)) {
    const pinned = mode === 'pinned';
    pin(run, pinned);
    for (const n of names) await measure(run, n, pinned, 2); // warm-up: connections, caches
    const results = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < opt.rounds; r++) {
      for (const n of names) {
        const perfFile = opt.perf && pinned && r === 0 ? path.join(path.resolve(opt.perf), `${n}.data`) : null;
        const m = await measure(run, n, pinned, opt.duration, perfFile);
        results[n].push(m);
        log(`${mode} round ${r + 1} ${n}: ${m.rps.toFixed(0)} req/s, p50 ${(m.p50_us / 1000).toFixed(2)} ms, p99 ${(m.p99_us / 1000).toFixed(2)} ms, ${m.cpu_us_per_req.toFixed(1)} us CPU/req (copies ${m.copies_cpu_us_per_req.toFixed(1)}), ${m.errors} errors${m.errors ? ' ' + JSON.stringify(m.errors_by_kind) : ''}`);
      }
    }
    raw.runs[mode] = results;
    const load = `median of ${opt.rounds} x ${opt.duration} s, wrk ${run.wrkThreads} thread${run.wrkThreads > 1 ? 's' : ''} ${opt.connections} connections`;
    out.push(table(pinned
      ? `Pinned, one thread each (berth --router-threads 1, haproxy nbthread 1, nginx 1 worker): the proxy alone on core 1, wrk and the copies on core 0 (${load})`
      : `Unpinned, two threads each (berth --router-threads 2, haproxy nbthread 2, nginx 2 workers): all processes on ${cpus} cores (${load})`, results, names));
  }
  pin(runs.pinned, false);

  let streamOk = true;
  if (opt.stream) {
    const s = await streamCheck(berthd);
    raw.stream = s;
    streamOk = s.ok;
    out.push(`### Streaming (InvokeEndpointWithResponseStream, ${STREAM_TOKENS} tokens, one every ${STREAM_DELAY_MS} ms)\n\n`
      + `${s.ok ? 'PASS' : 'FAIL'}: ${s.tokens} tokens in ${s.parts} PayloadParts; first at ${s.first_ms.toFixed(0)} ms, last at ${s.last_ms.toFixed(0)} ms `
      + `(spread ${s.spread_ms.toFixed(0)} ms for ${s.generation_ms} ms of generation)\n\narrivals (ms): ${s.arrivals_ms.join(' ')}`);
  }
  raw.loadavg_after = os.loadavg();

  const header = `## Router figures: ${raw.date.slice(0, 10)}, ${cpus} x ${raw.cpu_model}, ${buildType} build of ${raw.commit}, load average before ${raw.loadavg_before.map((x) => x.toFixed(2)).join(' ')}, after ${raw.loadavg_after.map((x) => x.toFixed(2)).join(' ')}`;
  process.stdout.write(`${header}\n\n${out.join('\n\n')}\n`);
  if (opt.json) fs.writeFileSync(opt.json, JSON.stringify(raw, null, 2));

  stopChildren();
  await stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
  const anyErrors = Object.values(raw.runs).some((res) => Object.values(res).some((rs) => rs.some((r) => r.errors)));
  if (!streamOk || anyErrors) {
    process.stderr.write(`bench/router: ${!streamOk ? 'tokens did not arrive as produced' : 'wrk saw errors'} (see above)\n`);
    process.exitCode = 1;
  }
}

main().catch(async (err) => {
  process.stderr.write(`bench/router: ${err.stack ?? err}\n`);
  stopChildren();
  await stopAll().catch(() => {});
  process.exitCode = 1;
});

// Model artifacts from object storage (docs/artifacts.md): one berthd whose
// agents fetch ArtifactUrl through `berthd artifact-fetch`.
//
// - S3: s3rver (npm) is the S3-protocol server. s3rver accepts any SigV4
//   signature of a known key without checking it, so the test puts a proxy
//   in front that verifies every SigV4 signature itself (secret, canonical
//   request, scope) before passing the request on, and counts the GETs of
//   each object. An archive object reaches InService, and a second copy
//   reuses the cache without a second GET; a prefix of plain objects too;
//   DataCacheConfig.EnableCaching false downloads again.
// - HTTPS behind a certificate of a CA the test makes with openssl,
//   trusted through AWS_CA_BUNDLE.
// - A tar with a '../' entry is refused with a FailureReason naming it.
// - berthd's data dir (and so the artifact cache) has a space in its path.
// - A download that trickles fails after ModelDataDownloadTimeoutInSeconds
//   (60 s, SageMaker's least) with a reason naming the limit and the bytes
//   received; it starts first and runs while the other tests do.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import S3rver from 's3rver';

import { TEST_TAG, controlOk, invoke, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { hmac, sha256, uriEncode } from '../lib/sigv4.mjs';
import { describeIc, deployEndpoint, waitIcInService } from '../lib/fixtures.mjs';

const STEP = { timeout: 180_000 };
const EP = 'art-ep';
const KEY = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }; // s3rver's account
const LIMIT_S = 60;

let dir;
let b;
let s3;                 // s3rver
let s3Port;
let proxy;              // SigV4-verifying, counting proxy in front of s3rver
let proxyPort;
let httpsServer;
let httpsPort;
const gets = new Map(); // object path -> GETs that reached s3rver
const heads = new Map();
let slowSocketClosed = false;
const rejected = [];    // requests the proxy refused, with why

/** null when req carries a valid SigV4 signature by KEY, else why not. */
function checkSigV4(req) {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return `no SigV4 Authorization header for s3 (${auth || 'none'})`;
  const [, id, day, region, signedHeaders, signature] = m;
  if (id !== KEY.accessKeyId) return `unknown access key ${id}`;
  const amzDate = req.headers['x-amz-date'] ?? '';
  if (!amzDate.startsWith(day)) return 'x-amz-date is not of the credential day';
  const names = signedHeaders.split(';');
  if (!names.includes('host')) return 'host is not signed';
  const u = new URL(req.url, 'http://x');
  const query = [...u.searchParams.entries()].map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)])
    .sort((a, b2) => (a[0] < b2[0] ? -1 : a[0] > b2[0] ? 1 : a[1] < b2[1] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const canonicalHeaders = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, uriEncode(decodeURIComponent(u.pathname), true), query, canonicalHeaders,
    signedHeaders, req.headers['x-amz-content-sha256'] ?? sha256('')].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, `${day}/${region}/s3/aws4_request`, sha256(canonical)].join('\n');
  let k = hmac(`AWS4${KEY.secretAccessKey}`, day);
  for (const part of [region, 's3', 'aws4_request']) k = hmac(k, part);
  const expected = createHmac('sha256', k).update(toSign).digest('hex');
  return expected === signature ? null : 'SignatureDoesNotMatch';
}

function startProxy() {
  proxy = http.createServer((req, res) => {
    const why = checkSigV4(req);
    if (why) {
      rejected.push(`${req.method} ${req.url}: ${why}`);
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0"?><Error><Code>${why === 'SignatureDoesNotMatch' ? why : 'AccessDenied'}</Code><Message>${why}</Message></Error>`);
      return;
    }
    const p = new URL(req.url, 'http://x').pathname;
    const isList = p.split('/').filter(Boolean).length === 1;
    if (!isList && req.method === 'GET') gets.set(p, (gets.get(p) ?? 0) + 1);
    if (req.method === 'HEAD') heads.set(p, (heads.get(p) ?? 0) + 1);
    const up = http.request({ host: '127.0.0.1', port: s3Port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', (err) => { res.writeHead(502); res.end(String(err)); });
    req.pipe(up);
  });
  return new Promise((resolve) => proxy.listen(0, '127.0.0.1', () => resolve(proxy.address().port)));
}

function tarGz(name, files) {
  const src = fs.mkdtempSync(path.join(dir, 'src-'));
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
    fs.writeFileSync(path.join(src, f), text);
  }
  const out = path.join(dir, name);
  execFileSync('tar', ['-czf', out, '-C', src, '.']);
  return out;
}

/** A tar whose one entry is '../evil.txt' (written by hand: tar refuses). */
function evilTar(file) {
  const header = Buffer.alloc(512);
  const data = Buffer.from('outside\n');
  header.write('../evil.txt', 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0' + '00', 257);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const body = Buffer.alloc(512);
  data.copy(body);
  fs.writeFileSync(file, Buffer.concat([header, body, Buffer.alloc(1024)]));
}

function makeCa() {
  const o = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  o('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
    '-subj', '/CN=berth test artifacts CA');
  o('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  o('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out',
    'server.pem', '-days', '2', '-extfile', 'ext.cnf');
}

function startHttps(files) {
  httpsServer = https.createServer({
    key: fs.readFileSync(path.join(dir, 'server.key')), cert: fs.readFileSync(path.join(dir, 'server.pem')),
  }, (req, res) => {
    const name = new URL(req.url, 'https://x').pathname.slice(1);
    if (name === 'slow.tar.gz') {
      // Far more bytes promised than it will send in the limit: 10 bytes a second.
      res.writeHead(200, { 'content-length': 1 << 20, etag: '"slow"' });
      if (req.method === 'HEAD') { res.end(); return; }
      const t = setInterval(() => res.write(Buffer.alloc(1)), 100);
      res.on('close', () => { clearInterval(t); slowSocketClosed = true; });
      return;
    }
    const file = files[name];
    if (!file) { res.writeHead(404); res.end(); return; }
    const data = fs.readFileSync(file);
    res.writeHead(200, { 'content-length': data.length, etag: `"${sha256(data).slice(0, 16)}"` });
    res.end(req.method === 'HEAD' ? undefined : data);
  });
  return new Promise((resolve) => httpsServer.listen(0, '127.0.0.1', () => resolve(httpsServer.address().port)));
}

async function putObject(bucket, key, file) {
  const r = await fetch(`http://127.0.0.1:${s3Port}/${bucket}/${key}`, { method: 'PUT', body: fs.readFileSync(file) });
  assert.equal(r.status, 200, `PUT ${key} into s3rver: ${await r.text()}`);
}

const container = (url) => ({ Image: 'berth-model', ArtifactUrl: url, Environment: { BERTH_TEST_TAG: TEST_TAG } });

function ic(name, url, { copies = 1, startup, spec = {} } = {}) {
  return {
    InferenceComponentName: name,
    EndpointName: EP,
    VariantName: 'AllTraffic',
    Specification: {
      Container: container(url),
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 0.25, MinMemoryRequiredInMb: 128 },
      ...(startup ? { StartupParameters: startup } : {}),
      ...spec,
    },
    RuntimeConfig: { CopyCount: copies },
  };
}

async function failsWith(name, reason, timeoutMs = 60_000) {
  const d = await waitFor(() => describeIc(b.controlUrl, name), {
    timeoutMs, intervalMs: 500, what: `${name} to go Failed`,
    until: (x) => x.InferenceComponentStatus === 'Failed',
    failIf: (x) => (x.InferenceComponentStatus === 'InService' ? 'it went InService' : null),
  });
  assert.match(d.FailureReason ?? '', reason);
  return d;
}

async function modelIdOf(name) {
  const r = await invoke(b.runtimeUrl, EP, name, { inputs: 'hi' });
  assert.equal(r.status, 200, r.text);
  return r.json.model_id;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-artifacts-'));
  makeCa();
  s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(dir, 's3'),
    configureBuckets: [{ name: 'models' }] });
  const addr = await s3.run();
  s3Port = addr.port;
  proxyPort = await startProxy();
  await putObject('models', 'llm/model.tar.gz', tarGz('s3.tar.gz', { 'berth-model.json': JSON.stringify({ model_id: 'from-s3' }) }));
  const plain = path.join(dir, 'plain.json');
  fs.writeFileSync(plain, JSON.stringify({ model_id: 'from-prefix' }));
  await putObject('models', 'folder/berth-model.json', plain);
  await putObject('models', 'folder/sub/weights.bin', plain);
  // Incompressible, so each archive is about 0.7 MB: two exceed 1 MB.
  for (const n of ['big1', 'big2']) {
    await putObject('models', `${n}.tar.gz`, tarGz(`${n}.tar.gz`, {
      'berth-model.json': JSON.stringify({ model_id: n }), 'weights.bin': randomBytes(700 * 1024),
    }));
  }
  const evil = path.join(dir, 'evil.tar');
  evilTar(evil);
  httpsPort = await startHttps({
    'model.tar.gz': tarGz('https.tar.gz', { 'berth-model.json': JSON.stringify({ model_id: 'from-https' }) }),
    'evil.tar': evil,
  });
  // A data dir (so shared dir and cache) with a space: the fetch child's
  // answer must carry such a path whole. dir is traversable (not
  // listable), since copies may run as another user (--copy-user).
  const dataDir = path.join(dir, 'My Data');
  fs.mkdirSync(dataDir);
  fs.chmodSync(dir, 0o711);
  b = await startBerthd({
    dataDir,
    env: {
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${proxyPort}`,
      AWS_ACCESS_KEY_ID: KEY.accessKeyId, AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey,
      AWS_REGION: 'us-east-1', AWS_CA_BUNDLE: path.join(dir, 'ca.pem'),
    },
    extraArgs: ['--artifact-cache-mb', '1'], // the eviction test's two artifacts do not fit
  });
  await deployEndpoint(b.controlUrl, EP);
  // The slow one first: it takes LIMIT_S while the others run.
  await controlOk(b.controlUrl, 'CreateInferenceComponent',
    ic('art-slow', `https://127.0.0.1:${httpsPort}/slow.tar.gz`, { startup: { ModelDataDownloadTimeoutInSeconds: LIMIT_S } }));
});

after(async () => {
  await stopAll();
  await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve()));
  httpsServer?.closeAllConnections?.();
  await new Promise((resolve) => (httpsServer ? httpsServer.close(resolve) : resolve()));
  if (s3) await s3.close();
  if (dir && process.env.BERTH_TEST_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
});

test('the proxy in front of s3rver refuses a request with a bad signature', STEP, async () => {
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const r = await fetch(`http://127.0.0.1:${proxyPort}/models/llm/model.tar.gz`, {
    headers: {
      'x-amz-date': amzDate, 'x-amz-content-sha256': sha256(''),
      authorization: `AWS4-HMAC-SHA256 Credential=S3RVER/${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request, ` +
        `SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${'0'.repeat(64)}`,
    },
  });
  assert.equal(r.status, 403);
  assert.match(await r.text(), /SignatureDoesNotMatch/);
  assert.equal(gets.get('/models/llm/model.tar.gz') ?? 0, 0, 'a refused GET never reaches s3rver');
  assert.deepEqual(rejected, ['GET /models/llm/model.tar.gz: SignatureDoesNotMatch']);
  rejected.length = 0; // from here on, only berthd's requests
});

test('an S3 archive is downloaded once and a second copy reuses the cache', STEP, async () => {
  await controlOk(b.controlUrl, 'CreateInferenceComponent', ic('art-s3', 's3://models/llm/model.tar.gz'));
  await waitIcInService(b.controlUrl, 'art-s3', 1, { timeoutMs: 60_000 });
  assert.equal(await modelIdOf('art-s3'), 'from-s3');
  assert.equal(gets.get('/models/llm/model.tar.gz'), 1, 'one GET for the first copy');
  const headsBefore = heads.get('/models/llm/model.tar.gz') ?? 0;
  await controlOk(b.controlUrl, 'UpdateInferenceComponentRuntimeConfig',
    { InferenceComponentName: 'art-s3', DesiredRuntimeConfig: { CopyCount: 2 } });
  await waitIcInService(b.controlUrl, 'art-s3', 2, { timeoutMs: 60_000 });
  assert.equal(gets.get('/models/llm/model.tar.gz'), 1, 'the second copy did not GET the object again');
  assert.equal(heads.get('/models/llm/model.tar.gz'), headsBefore + 1, 'it asked for the ETag once (HEAD)');
  assert.deepEqual(rejected, [], 'every request berthd signed passed the SigV4 check');
  assert.match(b.logs(), /art-s3: copy \d+ ModelSetupTime \d+ ms/);
});

test('an S3 prefix brings every object under it', STEP, async () => {
  await controlOk(b.controlUrl, 'CreateInferenceComponent', ic('art-prefix', 's3://models/folder'));
  await waitIcInService(b.controlUrl, 'art-prefix', 1, { timeoutMs: 60_000 });
  assert.equal(await modelIdOf('art-prefix'), 'from-prefix');
  assert.equal(gets.get('/models/folder/berth-model.json'), 1);
  assert.equal(gets.get('/models/folder/sub/weights.bin'), 1);
});

test('DataCacheConfig.EnableCaching false downloads for the copy alone', STEP, async () => {
  const before = gets.get('/models/llm/model.tar.gz');
  await controlOk(b.controlUrl, 'CreateInferenceComponent',
    ic('art-nocache', 's3://models/llm/model.tar.gz', { spec: { DataCacheConfig: { EnableCaching: false } } }));
  await waitIcInService(b.controlUrl, 'art-nocache', 1, { timeoutMs: 60_000 });
  assert.equal(await modelIdOf('art-nocache'), 'from-s3');
  assert.equal(gets.get('/models/llm/model.tar.gz'), before + 1, 'the cache was bypassed');
});

test('an https artifact behind a certificate of the CA in AWS_CA_BUNDLE', STEP, async () => {
  await controlOk(b.controlUrl, 'CreateInferenceComponent', ic('art-https', `https://127.0.0.1:${httpsPort}/model.tar.gz`));
  await waitIcInService(b.controlUrl, 'art-https', 1, { timeoutMs: 60_000 });
  assert.equal(await modelIdOf('art-https'), 'from-https');
});

test('a tar with a ../ entry is refused, naming the entry', STEP, async () => {
  await controlOk(b.controlUrl, 'CreateInferenceComponent', ic('art-evil', `https://127.0.0.1:${httpsPort}/evil.tar`));
  await failsWith('art-evil', /could not get its model artifact: unpacking https:\/\/127\.0\.0\.1:\d+\/evil\.tar: archive entry '\.\.\/evil\.txt' has a '\.\.' component/);
  assert.ok(!fs.existsSync(path.join(b.dataDir, 'artifacts', 'evil.txt')), 'nothing was written outside');
});

test('a download slower than ModelDataDownloadTimeoutInSeconds fails the copy', STEP, async () => {
  const d = await failsWith('art-slow', new RegExp(`could not get its model artifact: downloading https://127\\.0\\.0\\.1:\\d+/slow\\.tar\\.gz did not finish within ModelDataDownloadTimeoutInSeconds \\(${LIMIT_S} s\\) \\(\\d+ of 1048576 bytes received\\), so it was stopped`), 150_000);
  const took = d.LastModifiedTime - d.CreationTime; // when it went Failed, as berthd stored it
  assert.ok(took >= LIMIT_S - 1 && took < LIMIT_S + 45, `failed ${took.toFixed(1)} s after it was created: ${d.FailureReason}`);
  // The fetch child was killed: its connection closed.
  await waitFor(() => slowSocketClosed, { timeoutMs: 10_000, what: 'the slow download\'s connection to close' });
});

/** Cache entries (KEY directories) of the one instance's cache. */
function cacheEntries() {
  const root = path.join(b.dataDir, 'artifacts');
  const agentDir = fs.readdirSync(root).find((e) => e.startsWith('agent-'));
  return fs.readdirSync(path.join(root, agentDir)).filter((e) => /^[0-9a-f]{32}$/.test(e))
    .map((e) => path.join(root, agentDir, e));
}
const entryOf = (modelId) => cacheEntries().find((d) => {
  try { return JSON.parse(fs.readFileSync(path.join(d, 'berth-model.json'), 'utf8')).model_id === modelId; } catch { return false; }
});

test('past --artifact-cache-mb the least recently used artifact no copy holds is evicted', STEP, async () => {
  await controlOk(b.controlUrl, 'CreateInferenceComponent', ic('art-big1', 's3://models/big1.tar.gz'));
  await waitIcInService(b.controlUrl, 'art-big1', 1, { timeoutMs: 60_000 });
  assert.equal(await modelIdOf('art-big1'), 'big1');
  const big1 = entryOf('big1');
  assert.ok(big1, 'big1 is in the cache');
  await controlOk(b.controlUrl, 'DeleteInferenceComponent', { InferenceComponentName: 'art-big1' });
  await waitFor(async () => (await describeIc(b.controlUrl, 'art-big1').catch(() => null)) === null,
    { timeoutMs: 60_000, what: 'art-big1 to be deleted' });
  assert.ok(fs.existsSync(big1), 'unused but within the bound: kept');
  // big2 makes the cache exceed 1 MB: big1, which no copy holds, goes; the
  // small artifacts copies hold stay.
  await controlOk(b.controlUrl, 'CreateInferenceComponent', ic('art-big2', 's3://models/big2.tar.gz'));
  await waitIcInService(b.controlUrl, 'art-big2', 1, { timeoutMs: 60_000 });
  await waitFor(() => !fs.existsSync(big1), { timeoutMs: 10_000, what: `${big1} to be evicted` });
  assert.ok(entryOf('big2'), 'big2, in use, stays');
  assert.ok(entryOf('from-s3'), 'the artifact art-s3 holds stays');
  assert.equal(await modelIdOf('art-s3'), 'from-s3');
  assert.ok(b.logs().includes(`artifact cache: evicting ${big1} (`), 'the log names the evicted entry, spaces and all');
});

// TLS on the control and runtime listeners (--tls-cert/--tls-key): a
// certificate this test makes, the CLI and the SDKs verifying it, SIGHUP
// swapping it without dropping connections, and berthd refusing to serve
// plain HTTP on a non-loopback address unless told to.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';

import { ListEndpointsCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';

import { BERTHD, BUILD_DIR, freePort, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc } from '../lib/fixtures.mjs';

const STEP = { timeout: 180_000 };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tls-'));
let b;
let cport;
let rport;

/** A self-signed certificate for 127.0.0.1 and localhost; returns its paths. */
function makeCert(name) {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-days', '2', '-subj', `/CN=berth-test-${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { cert, key, pem: fs.readFileSync(cert, 'utf8') };
}

function berth(args, env = {}) {
  return new Promise((resolve) => {
    const p = spawn(path.join(BUILD_DIR, 'berth'), args, {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', BERTH_DATA_DIR: b.dataDir, ...env },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

/** The CN of the certificate a new TLS connection to port is shown. */
function servedCn(port, ca) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.end();
      resolve(cn);
    });
    s.on('error', reject);
  });
}

/** Runs berthd up with args until it exits or 15 s pass; {code, output}. */
function runUntilExit(args) {
  return new Promise((resolve) => {
    const data = fs.mkdtempSync(path.join(dir, 'data-'));
    const p = spawn(BERTHD, ['up', '--data-dir', data, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d) => { output += d; });
    p.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); }, 15_000);
    p.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, output }); });
  });
}

let first;

before(async () => {
  first = makeCert('first');
  b = await startBerthd({ extraArgs: ['--tls-cert', first.cert, '--tls-key', first.key] });
  cport = new URL(b.controlUrl).port;
  rport = new URL(b.runtimeUrl).port;
  await deployEndpoint(b.controlUrl, 'tls-ep');
  await deployIc(b.controlUrl, 'tls-ic', 'tls-ep', 'sealed');
});

after(async () => {
  await stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the CLI reaches both APIs over https, verifying the certificate with --ca-file', STEP, async () => {
  const urls = ['--control-url', `https://127.0.0.1:${cport}`, '--runtime-url', `https://127.0.0.1:${rport}`];
  const ics = await berth([...urls, '--ca-file', first.cert, 'ics']);
  assert.equal(ics.code, 0, ics.err);
  assert.match(ics.out, /tls-ic/);
  const inv = await berth([...urls, '--ca-file', first.cert, 'invoke', 'tls-ep', '--ic', 'tls-ic', '--data', '{"inputs":"hi"}']);
  assert.equal(inv.code, 0, inv.err);
  assert.equal(JSON.parse(inv.out).model_id, 'sealed');
  // Without the CA the certificate is not trusted, and the CLI says so.
  const untrusted = await berth([...urls, 'ics']);
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.err, /certificate/i);
  // BERTH_CA_FILE works as the flag does.
  const env = await berth([...urls, 'endpoints'], { BERTH_CA_FILE: first.cert });
  assert.equal(env.code, 0, env.err);
});

test('the real SDKs work over https with the CA, and TLS below 1.2 is refused', STEP, async () => {
  const agent = new https.Agent({ ca: first.pem, keepAlive: true });
  const sm = new SageMakerClient({ endpoint: `https://127.0.0.1:${cport}`, region: 'us-east-1',
    credentials: { ...b.credentials }, requestHandler: { httpsAgent: agent } });
  const rt = new SageMakerRuntimeClient({ endpoint: `https://127.0.0.1:${rport}`, region: 'us-east-1',
    credentials: { ...b.credentials }, requestHandler: { httpsAgent: agent } });
  try {
    const eps = await sm.send(new ListEndpointsCommand({}));
    assert.deepEqual(eps.Endpoints.map((e) => e.EndpointName), ['tls-ep']);
    const r = await rt.send(new InvokeEndpointCommand({ EndpointName: 'tls-ep', InferenceComponentName: 'tls-ic',
      Body: JSON.stringify({ inputs: 'hi' }), ContentType: 'application/json' }));
    assert.equal(JSON.parse(Buffer.from(r.Body).toString()).model_id, 'sealed');
  } finally {
    sm.destroy();
    rt.destroy();
    agent.destroy();
  }
  await assert.rejects(new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: Number(cport), ca: first.pem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }, resolve);
    s.on('error', reject);
  }), 'a TLS 1.1 handshake fails');
});

test('SIGHUP loads a new certificate for new connections; an open connection keeps working', STEP, async () => {
  const agent = new https.Agent({ ca: first.pem, keepAlive: true, maxSockets: 1 });
  const healthz = () => new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: Number(cport), path: '/healthz', agent, servername: 'localhost' }, (res) => {
      const port = res.socket.localPort;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, port }));
    }).on('error', reject);
  });
  const before = await healthz();
  assert.equal(before.status, 200);
  assert.equal(await servedCn(Number(cport), first.pem), 'berth-test-first');

  const second = makeCert('second');
  fs.copyFileSync(second.cert, first.cert + '.new');
  fs.copyFileSync(second.key, first.key + '.new');
  fs.renameSync(first.cert + '.new', first.cert);
  fs.renameSync(first.key + '.new', first.key);
  b.signal('SIGHUP');
  await waitFor(() => servedCn(Number(cport), second.pem).catch(() => null), {
    timeoutMs: 10_000, intervalMs: 100, until: (cn) => cn === 'berth-test-second',
    what: 'the control port to serve the new certificate' });
  assert.equal(await waitFor(() => servedCn(Number(rport), second.pem).catch(() => null), {
    timeoutMs: 10_000, intervalMs: 100, until: (cn) => cn === 'berth-test-second',
    what: 'the runtime port to serve the new certificate' }), 'berth-test-second');
  const afterHup = await healthz();
  assert.equal(afterHup.status, 200);
  assert.equal(afterHup.port, before.port, 'the same keep-alive connection answered: nothing was dropped');
  agent.destroy();
  assert.ok(b.proc.exitCode === null, 'berthd is still running');
});

test('plain HTTP on a non-loopback address needs --insecure-listen; --auth none needs loopback', STEP, async () => {
  const port = await freePort();
  const refused = await runUntilExit(['--control-listen', `0.0.0.0:${port}`, '--runtime-listen', `127.0.0.1:${await freePort()}`]);
  assert.notEqual(refused.code, 0, refused.output);
  assert.match(refused.output, new RegExp(`--control-listen 0\\.0\\.0\\.0:${port} is not a loopback address and no --tls-cert/--tls-key are given`));
  assert.match(refused.output, /--insecure-listen/);
  const open = await runUntilExit(['--auth', 'none', '--control-listen', `0.0.0.0:${await freePort()}`, '--insecure-listen']);
  assert.notEqual(open.code, 0, open.output);
  assert.match(open.output, /--auth none serves everyone .* so it runs only on a loopback address/);
  const routerRefused = await runUntilExit(['--runtime-listen', `0.0.0.0:${await freePort()}`,
    '--control-listen', `127.0.0.1:${await freePort()}`]);
  assert.notEqual(routerRefused.code, 0, routerRefused.output);
  assert.match(routerRefused.output, /--runtime-listen 0\.0\.0\.0:\d+ is not a loopback address/);
  // TLS on one outside address leaves this berthd's own roles no way in.
  const pinned = await runUntilExit(['--control-listen', '192.0.2.1:8070', '--tls-cert', first.cert,
    '--tls-key', first.key]);
  assert.notEqual(pinned.code, 0, pinned.output);
  assert.match(pinned.output, /add --agent-listen 127\.0\.0\.1:PORT/);
});

test('with --insecure-listen berthd starts on 0.0.0.0 and warns', STEP, async () => {
  const d = await startBerthd({ controlHost: '0.0.0.0', extraArgs: ['--insecure-listen'] });
  await waitFor(() => d.logs(), { timeoutMs: 5000, what: 'the warning',
    until: (l) => /serves plain HTTP on a non-loopback address \(--insecure-listen\)/.test(l) });
  await d.stop();
});

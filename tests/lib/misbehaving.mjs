// Shared by the tests that run tests/lib/misbehaving_model.mjs as an IC's
// Image (misbehave.test.mjs, limits.test.mjs): the IC body, and one HTTP
// request on a new connection that reports what a client saw.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { SOURCE_DIR, signed } from './berthd.mjs';
import { icBody } from './fixtures.mjs';

// Copies run as an unprivileged user (berthd --copy-user) that may not
// enter the source tree (a CI clone under /root): they run a world-readable
// copy of the script.
const scriptDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-misbehaving-'));
fs.chmodSync(scriptDir, 0o755);
export const MISBEHAVING_SCRIPT = path.join(scriptDir, 'misbehaving_model.mjs');
fs.copyFileSync(path.join(SOURCE_DIR, 'tests', 'lib', 'misbehaving_model.mjs'), MISBEHAVING_SCRIPT);
fs.chmodSync(MISBEHAVING_SCRIPT, 0o644);
process.on('exit', () => {
  if (process.env.BERTH_TEST_KEEP !== '1') fs.rmSync(scriptDir, { recursive: true, force: true });
});

/** A directory for copies to write into: the copy user must be able to. */
export function copyWritableDir(dir) {
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o777);
  return dir;
}
export const MISBEHAVING_IMAGE = `${process.execPath} ${MISBEHAVING_SCRIPT}`;

/** An IC whose copies run the misbehaving model, writing its state to stateDir. */
export function misbehavingIc(name, endpoint, stateDir, {
  copies = 1, cores = 0.5, memoryMb = 256, image = MISBEHAVING_IMAGE,
} = {}) {
  copyWritableDir(stateDir);
  const body = icBody(name, endpoint, name, { cores, memoryMb, copies, env: { MISBEHAVE_STATE_DIR: stateDir } });
  body.Specification.Container.Image = image;
  return body;
}

export function parseJson(text) {
  try { return JSON.parse(text); } catch { return null; }
}

/**
 * One HTTP request on its own connection (node:http, so that a cut answer
 * shows: complete is false).  Never rejects: resolves {status (null if no
 * head came), headers, body, text, json, complete, error, clientTimeout, ms}.
 * Returns {promise, destroy}.
 */
export function httpCall(baseUrl, { method = 'POST', path: p = '/', headers = {}, body = null, timeoutMs = 30_000 } = {}) {
  const url = new URL(baseUrl);
  const t0 = Date.now();
  let req;
  let clientTimeout = false;
  const promise = new Promise((resolve) => {
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ms: Date.now() - t0, clientTimeout, ...r });
    };
    let payload = null;
    if (body !== null && body !== undefined) {
      payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    }
    const h = signed(method, new URL(p, baseUrl).toString(), headers, payload);
    if (payload) h['content-length'] = payload.length;
    req = http.request({ host: url.hostname, port: url.port, path: p, method, headers: h, agent: false });
    const timer = setTimeout(() => {
      clientTimeout = true;
      req.destroy(new Error(`client gave up after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('response', (res) => {
      const chunks = [];
      let resError = null;
      res.on('data', (c) => chunks.push(c));
      res.on('error', (e) => { resError = e; });
      res.on('close', () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        finish({
          status: res.statusCode, headers: res.headers, body: buf, text, json: parseJson(text),
          complete: res.complete, error: resError ? (resError.code || resError.message) : (res.complete ? null : 'aborted'),
        });
      });
    });
    req.on('error', (e) => finish({ status: null, headers: {}, body: Buffer.alloc(0), text: '', json: null, complete: false, error: e.code || e.message }));
    req.end(payload ?? undefined);
  });
  return { promise, destroy: () => req?.destroy() };
}

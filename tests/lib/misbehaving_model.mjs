// A model server that misbehaves on request, run as an inference
// component's Image by the integration tests (misbehave.test.mjs,
// limits.test.mjs):
//
//   Image: `${process.execPath} ${SOURCE_DIR}/tests/lib/misbehaving_model.mjs`
//
// It serves GET /ping and POST /invocations on $SAGEMAKER_BIND_TO_PORT (host
// $BERTH_BIND_HOST, default 127.0.0.1) with node's http module only.
//
// The body of POST /invocations is JSON {"id": "...", "mode": "...", ...};
// an unknown or absent mode (or a body that is not JSON) is "ok":
//   ok                200 {"ok":true, id, bytes, accept, accepts, headers, copy, pid, port}
//   hang              never answers (the socket stays open)
//   close-after-read  destroys the socket once the body is read (no response byte)
//   exit-after-read   process.exit(3) once the body is read
//   cut-chunked       200 chunked, "part-1\n".."part-3\n" ~50 ms apart, then the
//                     socket is destroyed without the terminating chunk
//   cut-fixed         200 with Content-Length 1000, 100 bytes, then destroyed
//   trickle           200 chunked, one byte every interval_ms (1000) count (100)
//                     times, then ends normally
//   binary-500        500 application/octet-stream, a body that is not UTF-8
//   big-attributes    200 (ok's body) with a 2000-character
//                     X-Amzn-SageMaker-Custom-Attributes header
//   sick / well       /ping hangs from now on (sick) or answers 200 again (well);
//                     the request itself gets 200 {"ok":true,...}
//   stream-ok         200 chunked, 5 chunks ~50 ms apart, then ends normally
//   flood             200 chunked, `bytes` (32 MiB) as fast as the reader takes
//                     them; ${dir}/flood-${id} holds the bytes written so far
//   flood-fixed       the same with Content-Length `bytes` instead of chunks
//   hog               allocates and touches `mb` (600) MiB, holds it, then 200
//                     (a memory limit kills it first: copy_limits.test.mjs)
//
// With MISBEHAVE_STATE_DIR set it writes, once listening,
// ${dir}/pid-${pid} = {"pid", "ppid", "port", "copy"} (atomically), and appends one
// line to ${dir}/seen-${id} for every POST /invocations whose JSON body has an
// "id", after the whole body was read: the tests count deliveries from it.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const port = Number(process.env.SAGEMAKER_BIND_TO_PORT || process.env.BERTH_PORT || 8080);
const host = process.env.BERTH_BIND_HOST || '127.0.0.1';
const stateDir = process.env.MISBEHAVE_STATE_DIR || '';
const copy = process.env.BERTH_COPY_ID ?? null;

let sick = false;

const BINARY_500 = Buffer.concat([
  Buffer.from('bad thing: '), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x80]), Buffer.from(' end'),
]);

function safeId(id) {
  return String(id).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200);
}

function recordSeen(id, mode, bytes) {
  if (!stateDir || id === undefined || id === null) return;
  const line = JSON.stringify({ pid: process.pid, copy, mode, bytes, at: Date.now() }) + '\n';
  fs.appendFileSync(path.join(stateDir, `seen-${safeId(id)}`), line);
}

function rawValues(req, name) {
  const out = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() === name) out.push(req.rawHeaders[i + 1]);
  }
  return out;
}

function okBody(req, id, bytes) {
  return {
    ok: true,
    id: id ?? null,
    bytes,
    accept: req.headers.accept ?? null,
    accepts: rawValues(req, 'accept'),
    headers: req.headers,
    copy,
    pid: process.pid,
    port,
  };
}

function sendJson(res, status, obj, headers = {}) {
  const text = JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers,
  });
  res.end(text);
}

function afterWrite(res, chunk, fn) {
  res.write(chunk, () => setTimeout(fn, 20));
}

function writeChunks(res, n, delayMs, done) {
  let i = 0;
  const next = () => {
    if (res.destroyed || res.writableEnded) return;
    i += 1;
    res.write(`part-${i}\n`);
    if (i >= n) { setTimeout(done, delayMs); return; }
    setTimeout(next, delayMs);
  };
  next();
}

const held = []; // what mode "hog" allocated

function onInvocation(req, res, body) {
  let msg = null;
  try { msg = JSON.parse(body.toString('utf8')); } catch { msg = null; }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) msg = {};
  const id = msg.id;
  const mode = typeof msg.mode === 'string' ? msg.mode : 'ok';
  recordSeen(id, mode, body.length);

  switch (mode) {
    case 'hang':
      return; // never answer; keep the socket open
    case 'close-after-read':
      req.socket.destroy();
      return;
    case 'exit-after-read':
      process.exit(3);
      return;
    case 'hog':
      held.push(Buffer.alloc((Number(msg.mb) || 600) * 2 ** 20, 0xa5)); // filled: resident
      sendJson(res, 200, okBody(req, id, body.length));
      return;
    case 'cut-chunked':
      res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
      writeChunks(res, 3, 50, () => res.socket?.destroy());
      return;
    case 'cut-fixed':
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 });
      afterWrite(res, 'x'.repeat(100), () => res.socket?.destroy());
      return;
    case 'trickle': {
      const interval = Number(msg.interval_ms ?? 1000);
      const count = Number(msg.count ?? 100);
      res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
      let sent = 0;
      const timer = setInterval(() => {
        if (res.destroyed) { clearInterval(timer); return; }
        res.write('t');
        sent += 1;
        if (sent >= count) { clearInterval(timer); res.end(); }
      }, interval);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case 'binary-500':
      res.writeHead(500, { 'content-type': 'application/octet-stream', 'content-length': BINARY_500.length });
      res.end(BINARY_500);
      return;
    case 'big-attributes':
      sendJson(res, 200, okBody(req, id, body.length),
        { 'X-Amzn-SageMaker-Custom-Attributes': 'a'.repeat(2000) });
      return;
    case 'sick':
      sick = true;
      sendJson(res, 200, okBody(req, id, body.length));
      return;
    case 'well':
      sick = false;
      sendJson(res, 200, okBody(req, id, body.length));
      return;
    case 'stream-ok':
      res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
      writeChunks(res, 5, 50, () => res.end());
      return;
    case 'flood':
    case 'flood-fixed': {
      // `bytes` (default 32 MiB) as fast as the reader takes them, honouring
      // backpressure; ${dir}/flood-${id} says how much is written.
      const total = Number(msg.bytes ?? 32 << 20);
      const piece = Buffer.alloc(64 << 10, 'f');
      let sent = 0;
      const note = () => { if (stateDir && id) fs.writeFileSync(path.join(stateDir, `flood-${id}`), String(sent)); };
      res.writeHead(200, mode === 'flood' ? { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }
        : { 'content-type': 'application/octet-stream', 'content-length': String(total) });
      const pump = () => {
        while (sent < total) {
          const n = Math.min(piece.length, total - sent);
          sent += n;
          if (!res.write(n === piece.length ? piece : piece.subarray(0, n))) {
            note();
            res.once('drain', pump);
            return;
          }
        }
        note();
        res.end();
      };
      pump();
      return;
    }
    default:
      sendJson(res, 200, okBody(req, id, body.length));
  }
}

const server = http.createServer({ requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 65_000 },
  (req, res) => {
    res.on('error', () => {});
    req.on('error', () => {});
    if (req.method === 'GET' && req.url === '/ping') {
      if (sick) return; // hang: the health check gets no answer
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (req.method === 'POST' && req.url === '/invocations') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => onInvocation(req, res, Buffer.concat(chunks)));
      return;
    }
    req.resume();
    sendJson(res, 404, { message: `no route ${req.method} ${req.url}` });
  });
server.keepAliveTimeout = 65_000;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.timeout = 0;
server.on('clientError', (err, socket) => { socket.destroy(); });

server.listen(port, host, () => {
  if (stateDir) {
    const file = path.join(stateDir, `pid-${process.pid}`);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify({ pid: process.pid, ppid: process.ppid, port, copy }));
    fs.renameSync(`${file}.tmp`, file);
  }
  process.stdout.write(`misbehaving model listening on ${host}:${port} (copy ${copy}, pid ${process.pid})\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(0));
}

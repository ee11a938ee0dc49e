// `berth top` against a real berthd with load running: the frame fits an
// 80x24 terminal exactly (checked in tmux with capture-pane), shows the
// endpoint, its instance and the ICs busiest first with sane figures, keeps
// its last frame and says why when berthd goes away, and quits on `q`.
// `--once` prints one frame without a terminal, cut to --size with
// "... N more".
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { BUILD_DIR, invoke, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint, deployIc } from '../lib/fixtures.mjs';

const BERTH = path.join(BUILD_DIR, 'berth');
const EP = 'top-ep';
const BUSY = 'top-busy'; // the one with load
const IDLE = ['top-idle-a', 'top-idle-b'];
const T = { timeout: 120_000 };

let b;
let loadRunning = true;
let load;

function env() {
  const e = { ...process.env, BERTH_CONTROL_URL: b.controlUrl, BERTH_DATA_DIR: b.dataDir, HOME: '/nonexistent' };
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE', 'AWS_SHARED_CREDENTIALS_FILE']) delete e[k];
  return e;
}

function runTop(args, { controlUrl } = {}) {
  return new Promise((resolve) => {
    const e = { ...env(), ...(controlUrl ? { BERTH_CONTROL_URL: controlUrl } : {}) };
    const p = spawn(BERTH, ['top', ...args], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

// The IC row's cells: IC ENDPOINT COPIES REQ/S P50 [P99] HELD CPU% MEM%.
function icRow(lines, name) {
  const line = lines.find((l) => l.startsWith(`${name} `));
  if (!line) return null;
  const c = line.trim().split(/\s+/);
  const avg = c.length === 8;
  return {
    line, endpoint: c[1], copies: c[2], rps: c[3] === '-' ? NaN : parseFloat(c[3]),
    p50: c[4], p99: avg ? null : c[5], held: c[avg ? 5 : 6], cpu: c[avg ? 6 : 7], mem: c[avg ? 7 : 8],
  };
}

const LATENCY = /^(\d+(\.\d+)?(us|ms|s)|-)$/;
const toUs = (s) => {
  const m = /^([\d.]+)(us|ms|s)$/.exec(s);
  return m ? parseFloat(m[1]) * { us: 1, ms: 1e3, s: 1e6 }[m[2]] : NaN;
};

function checkFrame(text, { cols = 80, rows = 24 } = {}) {
  const lines = text.replace(/\n$/, '').split('\n');
  assert.equal(lines.length, rows, `frame has ${lines.length} lines:\n${text}`);
  for (const l of lines) assert.ok(l.length <= cols, `line wider than ${cols}: ${JSON.stringify(l)}`);
  return lines;
}

// The rows every good frame has, with the figures this deployment gives.
function checkRows(lines) {
  const text = lines.join('\n');
  assert.match(lines[0], new RegExp(`^berth top  ${b.controlUrl.replace(/[.]/g, '\\.')}  every 1s`), text);
  // 3 copies of 1 core on ml.m5.xlarge (4 vCPU): 75% of the CPU reserved.
  assert.match(text, new RegExp(`^${EP}\\s+InService\\s+1\\s+75\\s+\\d+\\s+0$`, 'm'), text);
  assert.match(text, new RegExp(`^i-\\d+\\s+${EP}\\s+ml\\.m5\\.xlarge\\s+\\[#+\\.*\\]\\s+75%\\s+\\[#+\\.*\\]\\s+\\d+%\\s+-$`, 'm'), text);
  assert.match(text, /^IC\s+ENDPOINT\s+COPIES\s+REQ\/S\s+(P50\s+P99|AVG)\s+HELD\s+CPU%\s+MEM%$/m, text);
  const busy = icRow(lines, BUSY);
  assert.ok(busy, text);
  assert.equal(busy.endpoint, EP);
  assert.equal(busy.copies, '1/1');
  assert.ok(busy.rps > 0, busy.line);
  assert.match(busy.p50, LATENCY, busy.line);
  if (busy.p99 !== null) {
    assert.match(busy.p99, LATENCY, busy.line);
    assert.ok(toUs(busy.p50) <= toUs(busy.p99) * 1.06, busy.line); // histograms: within 5%
  }
  assert.match(busy.held, /^\d+$/, busy.line);
  for (const u of [busy.cpu, busy.mem]) assert.match(u, /^(\d+|-)$/, busy.line);
  // Busiest first, then by name.
  const order = lines.filter((l) => l.startsWith('top-') && !l.startsWith(`${EP} `)).map((l) => l.split(' ')[0]);
  assert.deepEqual(order, [BUSY, ...IDLE], text);
  for (const name of IDLE) assert.equal(icRow(lines, name).copies, '1/1', text);
  assert.doesNotMatch(lines.at(-1), /^!/, text);
  assert.match(lines.at(-1), /^1 endpoint, 1 instance, 3 ICs; ICs busiest first; last 10 s$/, text);
}

const busyShown = (lines) => {
  const r = icRow(lines, BUSY);
  return r && r.copies === '1/1' && r.rps > 0;
};

before(async () => {
  b = await startBerthd();
  await deployEndpoint(b.controlUrl, EP);
  await deployIc(b.controlUrl, BUSY, EP, 'busy-llm');
  for (const name of IDLE) await deployIc(b.controlUrl, name, EP, `${name}-llm`);
  load = (async () => {
    while (loadRunning) {
      const r = await invoke(b.runtimeUrl, EP, BUSY, { inputs: 'top' }).catch(() => null);
      if (!r) break;
    }
  })();
});

after(async () => {
  loadRunning = false;
  await stopAll();
  await load;
});

test('--once prints one 80x24 frame without a terminal', T, async () => {
  // Only closed 10-second buckets count: wait for one with the load in it.
  const r = await waitFor(() => runTop(['--once']), {
    timeoutMs: 40_000, intervalMs: 1000, what: `a frame with ${BUSY} busy`,
    until: (x) => x.code === 0 && busyShown(x.out.split('\n')),
  });
  assert.equal(r.err, '');
  assert.doesNotMatch(r.out, /\x1b/, 'no terminal codes when stdout is not a terminal');
  checkRows(checkFrame(r.out));
});

test('--once --size cuts a section with "... N more"', T, async () => {
  const r = await runTop(['--once', '--size', '100x9']);
  assert.equal(r.code, 0, r.err);
  const lines = checkFrame(r.out, { cols: 100, rows: 9 });
  // title, 2 + 2 + 3 section rows, status: the ICs get header, one row, "more".
  assert.match(lines[5], /^IC\s+ENDPOINT/, r.out);
  assert.ok(lines[6].startsWith(`${BUSY} `), r.out);
  assert.equal(lines[7], '... 2 more', r.out);
  const bad = await runTop(['--once', '--size', '100by9']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--size: '100by9' is not COLSxROWS/);
});

// A server without percentile statistics (as Berth was before them): a
// proxy in front of berthd answers GetMetricData with a pNN Stat the way
// that server did, and passes everything else through.
test('without percentiles on the server, one AVG column', T, async () => {
  const proxy = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.headers['x-amz-target'] === 'GraniteServiceVersion20100801.GetMetricData') {
        const qs = JSON.parse(body).MetricDataQueries;
        const i = qs.findIndex((x) => /^p\d/.test(x.MetricStat.Stat));
        if (i >= 0) {
          res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(JSON.stringify({
            __type: 'InvalidParameterValueException',
            message: `The value '${qs[i].MetricStat.Stat}' for parameter MetricDataQueries[${i}].MetricStat.Stat is not a statistic Berth computes: use Sum, Average, Maximum, Minimum or SampleCount (no percentiles)`,
          }));
          return;
        }
      }
      const up = http.request(b.controlUrl, { method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${proxy.address().port}`;
    const r = await runTop(['--once'], { controlUrl: url });
    assert.equal(r.code, 0, r.err);
    const lines = checkFrame(r.out);
    assert.match(r.out, /^IC\s+ENDPOINT\s+COPIES\s+REQ\/S\s+AVG\s+HELD\s+CPU%\s+MEM%$/m, r.out);
    const busy = icRow(lines, BUSY);
    assert.equal(busy.p99, null, busy.line);
    assert.match(busy.p50, /^\d+(\.\d+)?(us|ms|s)$/, busy.line);
    assert.ok(busy.rps > 0, busy.line);
    assert.match(lines.at(-1), /; last 10 s; AVG: no pNN here$/, r.out);
  } finally {
    proxy.close();
  }
});

// One tmux server for the test; each session runs `berth top` in a shell
// that then prints its exit status and the terminal's settings, which the
// pane keeps after the shell exits (remain-on-exit).
function tmuxServer() {
  const sock = `berth-top-${process.pid}`;
  const conf = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'berth-top-')), 'tmux.conf');
  // No status bar: the pane is all 24 rows.
  fs.writeFileSync(conf, 'set -g status off\nset -g remain-on-exit on\n');
  const tmux = (...args) => execFileSync('tmux', ['-L', sock, '-f', conf, ...args], { encoding: 'utf8' });
  const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  return {
    tmux,
    kill: () => spawnSync('tmux', ['-L', sock, 'kill-server']),
    start(session) {
      const e = env();
      const top = ['env', '-u', 'AWS_ACCESS_KEY_ID', '-u', 'AWS_SECRET_ACCESS_KEY', '-u', 'AWS_PROFILE',
        '-u', 'AWS_SHARED_CREDENTIALS_FILE', 'HOME=/nonexistent', `BERTH_CONTROL_URL=${e.BERTH_CONTROL_URL}`,
        `BERTH_DATA_DIR=${e.BERTH_DATA_DIR}`, BERTH, 'top'].map(q).join(' ');
      // The trap keeps the shell alive through Ctrl-C (berth top gets it).
      const script = `trap true INT; ${top}; rc=$?; `
        + `echo "tty: $(stty -a | tr -s ' ;\\n' '\\n' | grep -x -E -- '-?(icanon|echo)' | tr '\\n' ' ')"; `
        + 'echo "berth top exited $rc"';
      tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', `sh -c ${q(script)}`);
      return {
        capture: () => tmux('capture-pane', '-p', '-t', session),
        // With the lines scrolled off (tmux's "Pane is dead" note scrolls one).
        history: () => tmux('capture-pane', '-p', '-S', '-100', '-t', session),
        running: () => tmux('display', '-p', '-t', session, '#{pane_dead}').trim() === '0',
        keys: (...k) => tmux('send-keys', '-t', session, ...k),
        size: () => tmux('display', '-p', '-t', session, '#{pane_width}x#{pane_height}').trim(),
      };
    },
  };
}

// After berth top exits: status 0, and the terminal as it found it (the
// alternate screen left, so the frame is gone; echo and canonical mode on).
async function checkExit(p, how) {
  const out = await waitFor(p.history, {
    timeoutMs: 10_000, intervalMs: 100, what: `berth top to exit on ${how}`,
    until: (s) => /berth top exited \d+/.test(s) && !p.running(),
  });
  assert.match(out, /berth top exited 0\n/, out);
  assert.doesNotMatch(out, /ENDPOINT/, out);
  assert.match(out, /^tty: icanon echo\s*$/m, out);
}

test('live in an 80x24 tmux pane: the frame, berthd going away, q and Ctrl-C', T, async () => {
  const t = tmuxServer();
  try {
    const p = t.start('top');
    const text = await waitFor(p.capture, {
      timeoutMs: 40_000, intervalMs: 300, what: `the tmux pane to show ${BUSY} with 1/1 copies and requests/s > 0`,
      until: (s) => busyShown(s.split('\n')),
      failIf: (s) => (/berth top exited/.test(s) ? `berth top exited:\n${s}` : null),
    });
    assert.equal(p.size(), '80x24');
    const lines = checkFrame(text);
    checkRows(lines);
    assert.match(lines[0], /\(q quits\)$/);

    // berthd goes away: the last frame stays, the status line says why.
    loadRunning = false;
    await load;
    await b.stop();
    const down = await waitFor(p.capture, {
      timeoutMs: 20_000, intervalMs: 300, what: 'the status line to report the unreachable control API',
      until: (s) => /^! last good \d\d:\d\d:\d\d; ListEndpoints: cannot reach the control API/m.test(s),
    });
    const kept = checkFrame(down);
    assert.ok(icRow(kept, BUSY), down);
    assert.ok(p.running(), 'berth top still runs');
    p.keys('q');
    await checkExit(p, 'q');

    // Never a good refresh: empty sections, the error, and Ctrl-C quits.
    const c = t.start('ctrl-c');
    const empty = await waitFor(c.capture, {
      timeoutMs: 10_000, intervalMs: 200, what: 'a frame with the error and no good refresh',
      until: (s) => /^! last good never; ListEndpoints: cannot reach/m.test(s),
    });
    const el = checkFrame(empty);
    assert.ok(el.includes('(no endpoints)') && el.includes('(no instances)') && el.includes('(no inference components)'), empty);
    c.keys('C-c');
    await checkExit(c, 'Ctrl-C');
  } finally {
    t.kill();
  }
});

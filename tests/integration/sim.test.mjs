// berth-sim on the shipped scenarios, through its command line, on the fair
// yardsticks (docs/sim.md: dedicated sized in hindsight to 99.9% within SLO,
// SageMaker on the type its users would pick, the bound over every listed
// type): seed-eu-us (Berth below both baselines with zero failed requests,
// 99.9% within SLO, the US model warmed by the forecast before its traffic,
// no flapping; the SageMaker baseline shows its wake-up failures);
// many-models (Berth below both baselines, failing nothing), the CSV and SVG
// outputs, and bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BUILD_DIR, SOURCE_DIR } from '../lib/berthd.mjs';

const SIM = path.join(BUILD_DIR, 'berth-sim');

function sim(...args) {
  // A day of many-models takes seconds, a few minutes under sanitizers.
  const r = spawnSync(SIM, args, { cwd: SOURCE_DIR, encoding: 'utf8', timeout: 550_000 });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '' };
}

/** The policy table: { policy: { instHours, cost, saving, inSlo, failed } }. */
function table(out) {
  const rows = {};
  for (const line of out.split('\n')) {
    const m = line.match(/^(dedicated|sagemaker|berth)\s+([\d.]+)\s+([\d.]+)\s+(-|-?[\d.]+%)\s+([\d.]+)\s+([\d.]+)%\s+(\d+)/);
    if (m) {
      rows[m[1]] = { instHours: +m[2], cost: +m[3], saving: m[4] === '-' ? null : parseFloat(m[4]),
        fluid: +m[5], inSlo: +m[6], failed: +m[7] };
    }
  }
  return rows;
}

/** The footer line of one policy: "berth: 14 instance launches, ...". */
function launches(out, policy) {
  const m = out.match(new RegExp(`^${policy}: (\\d+) instance launches`, 'm'));
  return m ? +m[1] : NaN;
}

test('seed-eu-us: Berth below both baselines, warm before the switchover, no flapping', { timeout: 120_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sim-'));
  const csv = path.join(dir, 'series.csv');
  const svg = path.join(dir, 'series.svg');
  const r = sim('bench/sim/seed-eu-us.json', '--csv', csv, '--svg', svg, '--per-model');
  assert.equal(r.code, 0, r.err);
  const t = table(r.out);
  assert.deepEqual(Object.keys(t).sort(), ['berth', 'dedicated', 'sagemaker'], r.out);
  assert.equal(t.berth.failed, 0);
  assert.ok(t.berth.inSlo >= 99.9, `berth keeps ${t.berth.inSlo}% within SLO:\n${r.out}`);
  assert.ok(t.berth.cost < t.dedicated.cost && t.berth.cost < t.sagemaker.cost,
    `berth $${t.berth.cost}, dedicated $${t.dedicated.cost}, sagemaker $${t.sagemaker.cost}`);
  assert.ok(t.berth.saving >= 45, `berth saves ${t.berth.saving}%:\n${r.out}`);
  assert.ok(t.sagemaker.failed > 0, 'the SageMaker baseline fails requests while a model wakes');
  // The forecast starts the US model's copies before noon: nothing waits.
  assert.match(r.out, /^berth: .* 0 requests held for a cold start/m, r.out);
  assert.ok(launches(r.out, 'berth') <= 20, `berth launched ${launches(r.out, 'berth')} instances`);
  const lines = fs.readFileSync(csv, 'utf8').trim().split('\n');
  assert.ok(lines.length > 100, 'a time series, not a summary');
  // llama-us has ready copies at 11:59, before its first request at 12:00.
  const us = lines.map((l) => l.split(',')).find((c) => c[1] === 'berth' && c[2] === 'llama-us' && +c[0] === 11 * 3600 + 59 * 60);
  assert.ok(us && +us[3] >= 1, `llama-us at 11:59: ${us}`);
  assert.match(fs.readFileSync(svg, 'utf8'), /^<svg[\s\S]*<\/svg>\s*$/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('many-models: Berth below both baselines, zero failed', { timeout: 560_000 }, () => {
  const r = sim('bench/sim/many-models.json');
  assert.equal(r.code, 0, r.err);
  const t = table(r.out);
  assert.ok(/^fluid lower bound: \$[\d.]+/m.test(r.out), r.out);
  assert.ok(t.berth.cost < t.sagemaker.cost, `berth $${t.berth.cost} against sagemaker $${t.sagemaker.cost}`);
  assert.ok(t.berth.cost < t.dedicated.cost, `berth $${t.berth.cost} against dedicated $${t.dedicated.cost}`);
  assert.ok(t.berth.fluid <= 1.6, `berth at ${t.berth.fluid}x the fluid bound:\n${r.out}`);
  assert.ok(t.berth.inSlo > t.sagemaker.inSlo, `berth keeps ${t.berth.inSlo}% within SLO`);
  assert.equal(t.berth.failed, 0);
});

test('the same input gives the same figures', { timeout: 120_000 }, () => {
  const a = sim('bench/sim/seed-eu-us.json', '--policy', 'berth');
  const b = sim('bench/sim/seed-eu-us.json', '--policy', 'berth');
  assert.equal(a.code, 0, a.err);
  assert.deepEqual(table(a.out), table(b.out));
});

test('a bad scenario is refused with the field named', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sim-'));
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '{"name": 7}');
  const r = sim(bad);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /name/);
  fs.rmSync(dir, { recursive: true, force: true });
});

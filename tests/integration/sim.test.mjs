// berth-sim on the shipped scenarios, through its command line: the figures
// issue 5 asks for (seed-eu-us: Berth saves at least 49% against dedicated
// with zero failed requests, while the SageMaker baseline shows its wake-up
// failures; many-models: Berth below SageMaker, within 1.3x of the fluid
// bound, 99.9% within SLO), the CSV and SVG outputs, and bad input.
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

test('seed-eu-us: Berth saves at least 49% with zero failures; SageMaker fails while waking', { timeout: 120_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sim-'));
  const csv = path.join(dir, 'series.csv');
  const svg = path.join(dir, 'series.svg');
  const r = sim('bench/sim/seed-eu-us.json', '--csv', csv, '--svg', svg);
  assert.equal(r.code, 0, r.err);
  const t = table(r.out);
  assert.deepEqual(Object.keys(t).sort(), ['berth', 'dedicated', 'sagemaker'], r.out);
  assert.ok(t.berth.saving >= 49, `berth saves ${t.berth.saving}%:\n${r.out}`);
  assert.equal(t.berth.failed, 0);
  assert.ok(t.sagemaker.failed > 0, 'the SageMaker baseline fails requests while a model wakes');
  assert.ok(t.berth.cost < t.dedicated.cost);
  const lines = fs.readFileSync(csv, 'utf8').trim().split('\n');
  assert.ok(lines.length > 100, 'a time series, not a summary');
  assert.match(fs.readFileSync(svg, 'utf8'), /^<svg[\s\S]*<\/svg>\s*$/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('many-models: Berth below SageMaker, within 1.3x of the fluid bound, 99.9% within SLO', { timeout: 560_000 }, () => {
  const r = sim('bench/sim/many-models.json');
  assert.equal(r.code, 0, r.err);
  const t = table(r.out);
  const bound = r.out.match(/^fluid lower bound: [\d.]+ instance-hours, \$([\d.]+)/m);
  assert.ok(bound, r.out);
  const ratio = t.berth.cost / +bound[1];
  assert.ok(t.berth.cost < t.sagemaker.cost, `berth $${t.berth.cost} against sagemaker $${t.sagemaker.cost}`);
  assert.ok(ratio <= 1.3, `berth at ${ratio.toFixed(4)}x the fluid bound:\n${r.out}`);
  assert.ok(t.berth.inSlo >= 99.9, `berth keeps ${t.berth.inSlo}% within SLO`);
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

// berthd's log lines: "TIME LEVEL berthd: message" (UTC, milliseconds), one
// line per event, filtered by --log-level; a bad level is refused at start.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, test } from 'node:test';

import { BERTHD, controlOk, startBerthd, stopAll } from '../lib/berthd.mjs';
import { deployEndpoint, icBody, waitIcInService } from '../lib/fixtures.mjs';

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN|INFO|DEBUG) berthd( agent)?: \S/;

after(() => stopAll());

async function deployOne(d, name) {
  await deployEndpoint(d.controlUrl, `${name}-ep`);
  await controlOk(d.controlUrl, 'CreateInferenceComponent', icBody(name, `${name}-ep`, name));
  await waitIcInService(d.controlUrl, name, 1);
}

test('every line has a time, a level and the program; info shows the lifecycle', async () => {
  const d = await startBerthd();
  await deployOne(d, 'loginfo');
  const lines = d.logs().split('\n').filter((l) => / berthd( agent)?: /.test(l));
  assert.ok(lines.length > 3, `too few log lines: ${d.logs()}`);
  for (const l of lines) assert.match(l, LINE, `log line without time and level: ${l}`);
  // The instance's agent starts the copy; the controller hears it is ready.
  assert.ok(lines.some((l) => / INFO berthd agent: loginfo: copy \d+ started \(pid/.test(l)),
    `no INFO line for the copy start: ${d.logs()}`);
  assert.ok(lines.some((l) => / INFO berthd: loginfo: copy \d+ ready on /.test(l)),
    `no INFO line for the copy being ready: ${d.logs()}`);
  await d.stop();
});

test('--log-level warn drops info lines', async () => {
  const d = await startBerthd({ extraArgs: ['--log-level', 'warn'] });
  await deployOne(d, 'logwarn');
  assert.doesNotMatch(d.logs(), / INFO berthd( agent)?: /, `an INFO line at --log-level warn: ${d.logs()}`);
  assert.doesNotMatch(d.logs(), /copy \d+ started/);
  await d.stop();
});

test('an unknown --log-level is refused with the rule', () => {
  const r = spawnSync(BERTHD, ['up', '--log-level', 'loud'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--log-level 'loud' must be error, warn, info or debug/);
});

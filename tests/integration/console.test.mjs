// The web console (docs/console.md) in Debian's headless Chromium, driven
// with playwright-core against a real berthd: the page and its headers, a
// refused sign-in, sign-in with the admin key, a deploy through the form
// (a bad value first: the API's message appears beside its field), the IC
// InService with its copy drawn on an instance, invocations (signed, from
// here) moving its chart, a scale to 2 copies, the log tail, delete, and
// sign-out ending the session. Screenshots go to $BERTH_TEST_OUT, else a
// temp dir the test prints.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { TEST_TAG, control, invoke, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';

const CHROMIUM = '/usr/bin/chromium';
const EP = 'console-ep';
const IC = 'console-ic';
const T = { timeout: 90_000 };

let chromium = null;
try {
  ({ chromium } = await import('playwright-core'));
} catch { /* reported by the skip below */ }
const skip = !chromium ? 'playwright-core is not installed (cd tests && npm ci)'
  : !fs.existsSync(CHROMIUM) ? `${CHROMIUM} is missing (apt-get install chromium)` : false;
if (skip) {
  // ctest shows 77 as skipped, never as passed (tests/CMakeLists.txt).
  console.log(`# SKIP: ${skip}`);
  process.exit(77);
}

let b;
let browser;
let page;
const out = process.env.BERTH_TEST_OUT
  ? path.join(process.env.BERTH_TEST_OUT, 'console')
  : fs.mkdtempSync(path.join(os.tmpdir(), 'berth-console-shots-'));

async function shot(name) {
  await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
}

before(async () => {
  fs.mkdirSync(out, { recursive: true });
  console.log(`# console screenshots in ${out}`);
  b = await startBerthd();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  page.setDefaultTimeout(30_000);
});

after(async () => {
  await browser?.close();
  await stopAll();
});

test('the console is served with a strict policy and no inline script', async () => {
  const r = await fetch(`${b.controlUrl}/console/`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  assert.match(r.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const html = await r.text();
  assert.doesNotMatch(html, /<script>|<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=/i, 'no inline script');
  const js = await fetch(`${b.controlUrl}/console/console.js`);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
  const css = await fetch(`${b.controlUrl}/console/console.css`);
  assert.match(css.headers.get('content-type'), /^text\/css/);
  const bareDir = await fetch(`${b.controlUrl}/console`, { redirect: 'manual' });
  assert.equal(bareDir.status, 301);
  assert.equal(bareDir.headers.get('location'), '/console/');
  assert.equal((await fetch(`${b.controlUrl}/console/nothing.js`)).status, 404);
  // The cookie alone does not authenticate an API call, nor the header alone.
  const bare = await fetch(b.controlUrl, {
    method: 'POST', headers: { 'x-amz-target': 'SageMaker.ListEndpoints', 'x-berth-console': '1' }, body: '{}',
  });
  assert.equal(bare.status, 403);
});

test('sign in, deploy through the form, watch, scale, delete, sign out', T, async () => {
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${m.text()} (${m.location().url})`); });

  await page.goto(`${b.controlUrl}/console/`);
  await page.locator('#signin-form').waitFor();
  await page.fill('#signin-id', b.credentials.accessKeyId);
  await page.fill('#signin-secret', 'not-the-secret');
  await page.click('#signin-form button[type=submit]');
  await page.locator('#signin-error', { hasText: 'not one of this Berth' }).waitFor();
  await page.fill('#signin-secret', b.credentials.secretAccessKey);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#app').waitFor();
  assert.match(await page.textContent('#who'), /signed in as admin/);
  const cookie = (await page.context().cookies()).find((c) => c.name === 'berth_console');
  assert.ok(cookie, 'a session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.match(cookie.value, /^[0-9a-f]{64}$/);
  await shot('1-signed-in');

  // A bad value first: the API's message appears beside the field it names.
  await page.fill('#f-endpoint', EP);
  await page.fill('#f-ic', IC);
  await page.fill('#f-env', `BERTH_MODEL_ID=console-model\nBERTH_TEST_TAG=${TEST_TAG}`);
  await page.fill('#f-cpus', '-1');
  await page.fill('#f-memory', '256');
  await page.click('#deploy-submit');
  const cpuError = page.locator('#e-cpus');
  await cpuError.filter({ hasText: 'NumberOfCpuCoresRequired' }).waitFor({ timeout: 60_000 });
  assert.equal(await page.textContent('#deploy-error'), '', 'the message is beside the field, not at the foot');
  await shot('2-validation');

  await page.fill('#f-cpus', '1');
  await page.click('#deploy-submit');
  await page.locator('#deploy-status', { hasText: `created ${IC}` }).waitFor({ timeout: 60_000 });
  assert.equal(await cpuError.textContent(), '');
  const card = page.locator(`.ic[data-ic="${IC}"]`);
  await page.locator(`.ic[data-ic="${IC}"][data-status="InService"]`).waitFor({ timeout: 60_000 });
  // Its copy is a block on the endpoint's instance, 1 of 4 cores wide.
  const block = page.locator(`.endpoint[data-endpoint="${EP}"] .instance .bar.cpu .copy[data-ic="${IC}"][data-state="Ready"]`);
  await block.first().waitFor();
  const [bw, barw] = await Promise.all([block.first().evaluate((e) => e.getBoundingClientRect().width),
    block.first().evaluate((e) => e.parentElement.getBoundingClientRect().width)]);
  assert.ok(Math.abs(bw / barw - 0.25) < 0.02, `the copy's block is ${bw}px of ${barw}px`);
  assert.match(await page.textContent(`.endpoint[data-endpoint="${EP}"] .cost`), /\$\d+\.\d+ per hour/);
  await shot('3-in-service');

  // Invocations through the runtime API (signed, not through the page) move its chart.
  for (let i = 0; i < 5; i++) {
    const r = await invoke(b.runtimeUrl, EP, IC, { inputs: `hello ${i}` });
    assert.equal(r.status, 200, r.text);
  }
  const chart = card.locator('canvas[data-chart="invocations-per-copy"]');
  await waitFor(() => chart.getAttribute('data-total'), {
    timeoutMs: 30_000, intervalMs: 250, until: (v) => Number(v) >= 5,
    what: 'the invocations-per-copy chart to count the 5 invocations',
  });
  await shot('4-chart');

  // Live log tail: the model server's own lines.
  await card.locator('button.logs').click();
  await card.locator('pre.log', { hasText: 'copy-' }).waitFor({ timeout: 20_000 });

  // Scale to 2: a second block of its colour.
  await card.locator('.scale-input').fill('2');
  await card.locator('button.scale').click();
  await page.locator(`.ic[data-ic="${IC}"][data-current-copies="2"]`).waitFor({ timeout: 60_000 });
  await waitFor(() => block.count(), { timeoutMs: 20_000, intervalMs: 250, until: (n) => n === 2, what: 'two copy blocks' });
  await shot('5-scaled');

  // Delete (two clicks: no dialogs), and the IC and its blocks are gone.
  await card.locator('button.delete').click();
  await card.locator('button.delete', { hasText: 'Confirm' }).click();
  await card.waitFor({ state: 'detached', timeout: 60_000 });
  await waitFor(() => block.count(), { timeoutMs: 30_000, intervalMs: 250, until: (n) => n === 0, what: 'no copy blocks' });
  const gone = await control(b.controlUrl, 'DescribeInferenceComponent', { InferenceComponentName: IC });
  assert.equal(gone.status, 400, gone.text);
  await shot('6-deleted');

  // Sign-out ends the session on the server too: the old cookie is refused.
  await page.click('#signout');
  await page.locator('#signin').waitFor();
  const stale = await fetch(b.controlUrl, {
    method: 'POST',
    headers: { 'x-amz-target': 'SageMaker.ListEndpoints', 'x-berth-console': '1', cookie: `berth_console=${cookie.value}` },
    body: '{}',
  });
  assert.equal(stale.status, 403);
  assert.deepEqual(errors.filter((e) => !/status of 40[03]/.test(e)), [], 'no script errors in the page');
  // Neither the secret nor the token is in berthd's output.
  assert.ok(!b.logs().includes(b.credentials.secretAccessKey), 'the secret is not logged');
  assert.ok(!b.logs().includes(cookie.value), 'the session token is not logged');
});

// Over plain HTTP the secret and the cookie would cross the network in
// clear text: a non-loopback peer may not sign in.
const external = Object.values(os.networkInterfaces()).flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
test('no sign-in over plain HTTP from a non-loopback address', { skip: external ? false : 'no non-loopback IPv4 address' }, async () => {
  const open = await startBerthd({ controlHost: '0.0.0.0', extraArgs: ['--insecure-listen'] });
  const port = new URL(open.controlUrl).port;
  const r = await fetch(`http://${external}:${port}/console/signin`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-berth-console': '1' },
    body: JSON.stringify({ AccessKeyId: open.credentials.accessKeyId, SecretAccessKey: open.credentials.secretAccessKey }),
  });
  assert.equal(r.status, 403);
  assert.match((await r.json()).message, /only over TLS/);
  assert.equal(r.headers.get('set-cookie'), null);
  // From loopback the same key signs in.
  const ok = await fetch(`${open.controlUrl}/console/signin`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-berth-console': '1' },
    body: JSON.stringify({ AccessKeyId: open.credentials.accessKeyId, SecretAccessKey: open.credentials.secretAccessKey }),
  });
  assert.equal(ok.status, 200);
  assert.match(ok.headers.get('set-cookie'), /^berth_console=[0-9a-f]{64}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
});

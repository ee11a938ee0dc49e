// Berth console: one page over Berth's own JSON APIs (docs/console.md).
//
// Every call goes to POST / on the control port with the session cookie the
// sign-in set and an X-Berth-Console header instead of a SigV4 signature;
// the server maps it to the signed-in key's permissions. No framework, no
// build step: the DOM and <canvas> directly.
'use strict';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 2000;
const METRICS_MS = 4000;
const LOG_MS = 1500;
const CHART_WINDOW_MS = 5 * 60 * 1000;
const PERIOD_S = 10;
const LOG_LINES_MAX = 500;

class ApiError extends Error {
  constructor(status, type, message) {
    super(message || `${status} ${type}`);
    this.status = status;
    this.type = type;
  }
}

// ------------------------------------------------------------------ calls

/** One JSON API call; resolves with the answer or rejects with ApiError. */
async function call(target, body = {}) {
  const json10 = target.startsWith('GraniteServiceVersion20100801.');
  const r = await fetch('/', {
    method: 'POST',
    credentials: 'same-origin',
    headers: {
      'content-type': json10 ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1',
      'x-amz-target': target,
      'x-berth-console': '1',
    },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  let j = {};
  try { j = text ? JSON.parse(text) : {}; } catch { j = { message: text }; }
  if (!r.ok) {
    const type = String(j.__type || r.headers.get('x-amzn-errortype') || '').split('#').pop().split(':')[0];
    if (r.status === 403 && type === 'ExpiredTokenException') signedOut();
    throw new ApiError(r.status, type, j.message || j.Message || text);
  }
  return j;
}
const sm = (op, body) => call(`SageMaker.${op}`, body);

// ---------------------------------------------------------------- helpers

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

/** A stable colour per inference component (a hue from its name). */
function colourOf(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${h % 360}, 62%, 48%)`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const num = (s) => (String(s).trim() === '' ? undefined : Number(s));
const timeOf = (t) => (typeof t === 'number' ? t * 1000 : Date.parse(t));

// ---------------------------------------------------------------- sign-in

let signedIn = false;
let refreshTimer = null;

function signedOut() {
  signedIn = false;
  clearTimeout(refreshTimer);
  for (const card of icCards.values()) stopLogs(card);
  icCards.clear();
  $('ics').replaceChildren();
  $('endpoints').replaceChildren();
  $('app').hidden = true;
  $('signout').hidden = true;
  $('who').textContent = '';
  $('signin').hidden = false;
}

function showApp(keyName) {
  signedIn = true;
  $('signin').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  $('who').textContent = `signed in as ${keyName}`;
  refresh();
}

async function signIn(ev) {
  ev.preventDefault();
  $('signin-error').textContent = '';
  const r = await fetch('/console/signin', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-berth-console': '1' },
    body: JSON.stringify({ AccessKeyId: $('signin-id').value.trim(), SecretAccessKey: $('signin-secret').value }),
  });
  const j = await r.json().catch(() => ({}));
  $('signin-secret').value = '';
  if (!r.ok) {
    $('signin-error').textContent = j.message || `sign-in failed (${r.status})`;
    return;
  }
  showApp(j.KeyName);
}

async function signOut() {
  await fetch('/console/signout', { method: 'POST', credentials: 'same-origin', headers: { 'x-berth-console': '1' } });
  signedOut();
}

// -------------------------------------------------------------- refreshing

async function refresh() {
  clearTimeout(refreshTimer);
  if (!signedIn) return;
  try {
    const [inst, eps, list] = await Promise.all([
      call('Berth.DescribeInstances', {}),
      sm('ListEndpoints', { MaxResults: 100 }),
      sm('ListInferenceComponents', { MaxResults: 100 }),
    ]);
    const ics = (await Promise.all((list.InferenceComponents || []).map((x) =>
      sm('DescribeInferenceComponent', { InferenceComponentName: x.InferenceComponentName }).catch(() => null))))
      .filter(Boolean);
    const byName = new Map(ics.map((x) => [x.InferenceComponentName, x]));
    renderEndpoints(eps.Endpoints || [], inst.Instances || [], byName);
    renderIcs(ics);
    $('app-error').textContent = '';
  } catch (e) {
    if (signedIn) $('app-error').textContent = `refresh failed: ${e.message}`;
  }
  if (signedIn) refreshTimer = setTimeout(refresh, REFRESH_MS);
}

// --------------------------------------------------------------- endpoints

function resourcesOf(ic) {
  const r = ic?.Specification?.ComputeResourceRequirements || {};
  return { cpuMilli: (r.NumberOfCpuCoresRequired || 0) * 1000, memMb: r.MinMemoryRequiredInMb || 0 };
}

/** One bar: the instance's capacity of one resource, copies as blocks. */
function capacityBar(kind, capacity, maxCapacity, copies, byName, need) {
  const bar = el('div', { class: `bar ${kind}` });
  bar.style.width = `${maxCapacity > 0 ? (100 * capacity) / maxCapacity : 100}%`;
  for (const cp of copies) {
    const ic = byName.get(cp.InferenceComponentName);
    const used = ic ? need(resourcesOf(ic)) : 0;
    const block = el('div', {
      class: `copy${cp.State === 'Ready' ? '' : ' pending'}`,
      'data-ic': cp.InferenceComponentName,
      'data-copy-id': String(cp.CopyId),
      'data-state': cp.State,
      title: `${cp.InferenceComponentName} copy ${cp.CopyId} (${cp.State})`,
    });
    block.style.width = `${capacity > 0 ? (100 * used) / capacity : 0}%`;
    block.style.background = colourOf(cp.InferenceComponentName);
    bar.append(block);
  }
  return bar;
}

function renderEndpoints(endpoints, instances, byName) {
  const maxCpu = Math.max(1, ...instances.map((i) => i.Capacity?.CpuMillicores || 0));
  const maxMem = Math.max(1, ...instances.map((i) => i.Capacity?.MemoryMb || 0));
  const cards = endpoints.map((ep) => {
    const mine = instances.filter((i) => i.EndpointName === ep.EndpointName);
    const price = mine.reduce((s, i) => s + (i.PricePerHour || 0), 0);
    const cost = mine.length === 0 ? 'no instances'
      : price > 0 ? `$${price.toFixed(3)} per hour (${mine.length} instance${mine.length === 1 ? '' : 's'})`
        : 'no price in the instance catalog';
    const del = el('button', { type: 'button', text: 'Delete endpoint' });
    armedButton(del, 'Confirm delete', async () => {
      await sm('DeleteEndpoint', { EndpointName: ep.EndpointName });
      await sm('DeleteEndpointConfig', { EndpointConfigName: `${ep.EndpointName}-config` }).catch(() => {});
    });
    const card = el('div', { class: 'endpoint', 'data-endpoint': ep.EndpointName },
      el('div', { class: 'endpoint-head' },
        el('span', { text: ep.EndpointName }),
        el('span', { class: 'status', text: ep.EndpointStatus }),
        el('span', { class: 'cost', text: cost }),
        del));
    for (const i of mine) {
      const cap = i.Capacity || {};
      const res = i.Reserved || {};
      card.append(el('div', { class: 'instance', 'data-instance': i.InstanceId },
        el('div', { class: 'instance-label', text: `${i.InstanceId} ${i.InstanceType} ${i.State}: `
          + `CPU ${(res.CpuMillicores / 1000).toFixed(2)}/${(cap.CpuMillicores / 1000).toFixed(2)} cores, `
          + `memory ${res.MemoryMb}/${cap.MemoryMb} MB`
          + (cap.AcceleratorDevices ? `, accelerators ${res.AcceleratorDevices}/${cap.AcceleratorDevices}` : '') }),
        capacityBar('cpu', cap.CpuMillicores, maxCpu, i.Copies || [], byName, (r) => r.cpuMilli),
        capacityBar('memory', cap.MemoryMb, maxMem, i.Copies || [], byName, (r) => r.memMb)));
    }
    return card;
  });
  $('endpoints').replaceChildren(...(cards.length ? cards : [el('p', { class: 'hint', text: 'No endpoints yet: deploy one below.' })]));
}

/** A button that acts on a second click within 5 s (no confirm() dialogs). */
function armedButton(button, armedText, action) {
  const idle = button.textContent;
  let timer = null;
  button.addEventListener('click', async () => {
    if (!button.dataset.armed) {
      button.dataset.armed = '1';
      button.textContent = armedText;
      timer = setTimeout(() => { delete button.dataset.armed; button.textContent = idle; }, 5000);
      return;
    }
    clearTimeout(timer);
    delete button.dataset.armed;
    button.textContent = idle;
    try {
      await action();
      refresh();
    } catch (e) {
      $('app-error').textContent = e.message;
    }
  });
}

// ------------------------------------------------------ inference components

const icCards = new Map(); // name -> card state

function makeIcCard(name) {
  const card = { name, metricsAt: 0, logTimer: null, logSeen: new Set(), logFrom: 0 };
  const scaleInput = el('input', { type: 'number', class: 'scale-input', min: '0', 'aria-label': `copies of ${name}` });
  const scaleButton = el('button', { type: 'button', text: 'Scale', class: 'scale' });
  scaleButton.addEventListener('click', async () => {
    card.error.textContent = '';
    try {
      await sm('UpdateInferenceComponentRuntimeConfig', {
        InferenceComponentName: name, DesiredRuntimeConfig: { CopyCount: num(scaleInput.value) },
      });
      refresh();
    } catch (e) { card.error.textContent = e.message; }
  });
  const updateButton = el('button', { type: 'button', text: 'Update', class: 'update' });
  updateButton.addEventListener('click', () => startUpdate(card.detail));
  const deleteButton = el('button', { type: 'button', text: 'Delete', class: 'delete' });
  armedButton(deleteButton, 'Confirm delete', () => sm('DeleteInferenceComponent', { InferenceComponentName: name }));
  const logButton = el('button', { type: 'button', text: 'Show logs', class: 'logs' });
  logButton.addEventListener('click', () => (card.logTimer ? stopLogs(card) : startLogs(card)));
  card.logButton = logButton;
  card.status = el('span', { class: 'ic-status' });
  card.copies = el('span', { class: 'ic-copies' });
  card.error = el('div', { class: 'ic-error', role: 'alert' });
  card.log = el('pre', { class: 'log', hidden: '' });
  card.charts = {
    copies: chartCanvas('copies', 'Copies'),
    perCopy: chartCanvas('invocations-per-copy', 'Invocations per copy (10 s)'),
    latency: chartCanvas('latency', 'Model latency (ms, mean)'),
  };
  const swatch = el('span', { class: 'swatch' });
  swatch.style.background = colourOf(name);
  card.root = el('div', { class: 'ic', 'data-ic': name },
    el('div', { class: 'ic-head' }, swatch, el('span', { class: 'ic-name', text: name }),
      card.status, card.copies, scaleInput, scaleButton, updateButton, deleteButton, logButton),
    card.error,
    el('div', { class: 'charts' }, ...Object.values(card.charts).map((c) => c.box)),
    card.log);
  card.scaleInput = scaleInput;
  return card;
}

function renderIcs(ics) {
  const names = new Set(ics.map((x) => x.InferenceComponentName));
  for (const [name, card] of icCards) {
    if (!names.has(name)) {
      stopLogs(card);
      card.root.remove();
      icCards.delete(name);
    }
  }
  for (const x of ics) {
    const name = x.InferenceComponentName;
    let card = icCards.get(name);
    if (!card) {
      card = makeIcCard(name);
      icCards.set(name, card);
      $('ics').append(card.root);
    }
    card.detail = x;
    const rc = x.RuntimeConfig || {};
    card.status.textContent = `${x.EndpointName} · ${x.InferenceComponentStatus}`;
    card.root.dataset.status = x.InferenceComponentStatus;
    card.copies.textContent = `copies ${rc.CurrentCopyCount ?? 0}/${rc.DesiredCopyCount ?? 0}`;
    card.root.dataset.currentCopies = String(rc.CurrentCopyCount ?? 0);
    if (document.activeElement !== card.scaleInput && !card.scaleInput.value) card.scaleInput.value = rc.DesiredCopyCount ?? '';
    if (x.FailureReason && !card.error.textContent) card.error.textContent = x.FailureReason;
    if (Date.now() - card.metricsAt >= METRICS_MS) {
      card.metricsAt = Date.now();
      loadCharts(card).catch((e) => { card.error.textContent = `metrics: ${e.message}`; });
    }
  }
  if (!ics.length) $('ics').replaceChildren(el('p', { class: 'hint', text: 'No inference components.' }));
  else $('ics').querySelector('p.hint')?.remove();
}

// ------------------------------------------------------------------ charts

function chartCanvas(kind, title) {
  const canvas = el('canvas', { class: 'chart', width: '300', height: '110', 'data-chart': kind });
  const label = el('div', { class: 'chart-title', text: title });
  return { canvas, label, title, box: el('div', {}, label, canvas) };
}

async function loadCharts(card) {
  const end = Date.now();
  const start = end - CHART_WINDOW_MS;
  const dims = [{ Name: 'InferenceComponentName', Value: card.name }];
  const q = (Id, MetricName, Stat) => ({
    Id, MetricStat: { Metric: { Namespace: 'AWS/SageMaker', MetricName, Dimensions: dims }, Period: PERIOD_S, Stat },
  });
  const r = await call('GraniteServiceVersion20100801.GetMetricData', {
    StartTime: Math.floor(start / 1000), EndTime: Math.ceil(end / 1000) + 10,
    MetricDataQueries: [q('copies', 'CopyCount', 'Maximum'), q('percopy', 'InvocationsPerCopy', 'Sum'),
      q('latency', 'ModelLatency', 'Average')],
  });
  const series = new Map((r.MetricDataResults || []).map((m) => [m.Id,
    (m.Timestamps || []).map((t, i) => [timeOf(t), m.Values[i]]).sort((a, b) => a[0] - b[0])]));
  drawChart(card.charts.copies, series.get('copies') || [], start, end, (v) => v);
  drawChart(card.charts.perCopy, series.get('percopy') || [], start, end, (v) => v);
  // ModelLatency is in microseconds (docs/metrics.md).
  drawChart(card.charts.latency, series.get('latency') || [], start, end, (v) => v / 1000);
}

/** Draws points [[ms, value]] over [start, end]; keeps their count and
 *  total on the canvas (data-points, data-total) for whoever checks it. */
function drawChart(chart, points, start, end, scale) {
  const { canvas } = chart;
  const g = canvas.getContext('2d');
  const w = canvas.width;
  const h = canvas.height;
  const pad = 22;
  const values = points.map(([, v]) => scale(v));
  const max = Math.max(1e-9, ...values);
  const total = values.reduce((s, v) => s + v, 0);
  canvas.dataset.points = String(points.length);
  canvas.dataset.total = String(total);
  canvas.dataset.last = values.length ? String(values[values.length - 1]) : '';
  chart.label.textContent = `${chart.title}: ${values.length ? +values[values.length - 1].toFixed(2) : 'no data'}`;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = '#b8bfca';
  g.beginPath();
  g.moveTo(pad, 4);
  g.lineTo(pad, h - 14);
  g.lineTo(w - 4, h - 14);
  g.stroke();
  g.fillStyle = '#556';
  g.font = '10px system-ui, sans-serif';
  g.fillText(String(+max.toPrecision(3)), 1, 12);
  g.fillText('0', 10, h - 14);
  g.fillText('-5 min', pad, h - 2);
  g.fillText('now', w - 24, h - 2);
  if (!points.length) return;
  const x = (t) => pad + ((t - start) / (end - start)) * (w - pad - 4);
  const y = (v) => h - 14 - (v / max) * (h - 22);
  // One bar per 10-second bucket, from its start.
  const bw = Math.max(1, x(start + PERIOD_S * 1000) - x(start) - 1);
  g.fillStyle = colourOf(canvas.closest('.ic')?.dataset.ic || '');
  points.forEach(([t], i) => {
    const left = Math.max(pad + 1, x(t));
    g.fillRect(left, y(values[i]), bw, h - 14 - y(values[i]));
  });
}

// -------------------------------------------------------------------- logs

function startLogs(card) {
  card.log.hidden = false;
  card.logButton.textContent = 'Hide logs';
  card.logFrom = Date.now() - 10 * 60 * 1000;
  const tick = async () => {
    try {
      const r = await call('Logs_20140328.FilterLogEvents', {
        logGroupName: `/aws/sagemaker/InferenceComponents/${card.name}`, startTime: card.logFrom, limit: 200,
      });
      const fresh = (r.events || []).filter((ev) => !card.logSeen.has(ev.eventId));
      for (const ev of fresh) {
        card.logSeen.add(ev.eventId);
        card.logFrom = Math.max(card.logFrom, ev.timestamp);
        card.log.append(`${new Date(ev.timestamp).toISOString().slice(11, 23)} ${ev.logStreamName} ${ev.message.replace(/\n$/, '')}\n`);
      }
      while (card.log.childNodes.length > LOG_LINES_MAX) card.log.firstChild.remove();
      if (card.logSeen.size > 4 * LOG_LINES_MAX) card.logSeen = new Set([...card.logSeen].slice(-LOG_LINES_MAX));
      if (fresh.length) card.log.scrollTop = card.log.scrollHeight;
    } catch (e) {
      if (!card.log.childNodes.length) card.log.textContent = `(no logs: ${e.message})\n`;
    }
    if (card.logTimer) card.logTimer = setTimeout(tick, LOG_MS);
  };
  card.logTimer = setTimeout(tick, 0);
}

function stopLogs(card) {
  clearTimeout(card.logTimer);
  card.logTimer = null;
  card.log.hidden = true;
  card.logButton.textContent = 'Show logs';
}

// ------------------------------------------------------------------ deploy

// Which form field an API message is about: the first of these names in it.
const FIELD_OF = [
  ['NumberOfCpuCoresRequired', 'cpus'], ['MinMemoryRequiredInMb', 'memory'],
  ['NumberOfAcceleratorDevicesRequired', 'accelerators'], ['CopyCount', 'copies'],
  ['ArtifactUrl', 'artifact'], ['Environment', 'env'], ['Image', 'image'],
  ['InstanceType', 'instance-type'], ['InitialInstanceCount', 'instance-count'],
  ['InferenceComponentName', 'ic'], ['EndpointName', 'endpoint'], ['MinCapacity', 'as-min'],
  ['MaxCapacity', 'as-max'], ['TargetValue', 'as-target'],
];

let updating = null; // the IC the form updates, or null to deploy

function clearErrors() {
  for (const e of document.querySelectorAll('#deploy-form .field-error')) e.textContent = '';
  $('deploy-error').textContent = '';
}

function showDeployError(err) {
  const msg = err.message || String(err);
  let best = null;
  for (const [word, field] of FIELD_OF) {
    const at = msg.indexOf(word);
    if (at >= 0 && (!best || at < best.at)) best = { at, field };
  }
  if (best) {
    $(`e-${best.field}`).textContent = msg;
    $(`f-${best.field}`).setAttribute('aria-invalid', 'true');
    $(`f-${best.field}`).focus();
  } else {
    $('deploy-error').textContent = msg;
  }
  $('deploy-status').textContent = '';
}

function formValues() {
  const env = {};
  for (const line of $('f-env').value.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    if (eq <= 0) throw Object.assign(new Error(`Environment: '${t}' is not KEY=value`), {});
    env[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return {
    endpoint: $('f-endpoint').value.trim(), instanceType: $('f-instance-type').value.trim(),
    instanceCount: num($('f-instance-count').value), ic: $('f-ic').value.trim(),
    image: $('f-image').value.trim(), artifact: $('f-artifact').value.trim(), env,
    cpus: num($('f-cpus').value), memory: num($('f-memory').value),
    accelerators: num($('f-accelerators').value), copies: num($('f-copies').value),
    asMin: num($('f-as-min').value), asMax: num($('f-as-max').value), asTarget: num($('f-as-target').value),
  };
}

function specification(v) {
  const container = { Image: v.image };
  if (v.artifact) container.ArtifactUrl = v.artifact;
  if (Object.keys(v.env).length) container.Environment = v.env;
  const compute = { NumberOfCpuCoresRequired: v.cpus, MinMemoryRequiredInMb: v.memory };
  if (v.accelerators !== undefined) compute.NumberOfAcceleratorDevicesRequired = v.accelerators;
  return { Container: container, ComputeResourceRequirements: compute };
}

/** The endpoint, created as `berth deploy` does when it does not exist, then InService. */
async function ensureEndpoint(v) {
  const status = $('deploy-status');
  let ep = await sm('DescribeEndpoint', { EndpointName: v.endpoint }).catch((e) => {
    if (e.type === 'ValidationException' && /Could not find/i.test(e.message)) return null;
    throw e;
  });
  if (!ep) {
    const config = `${v.endpoint}-config`;
    status.textContent = `creating endpoint ${v.endpoint}...`;
    await sm('CreateEndpointConfig', {
      EndpointConfigName: config,
      ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: v.instanceType, InitialInstanceCount: v.instanceCount }],
    }).catch((e) => { if (!/already exist/.test(e.message)) throw e; });
    await sm('CreateEndpoint', { EndpointName: v.endpoint, EndpointConfigName: config });
  }
  const deadline = Date.now() + 10 * 60 * 1000;
  for (;;) {
    ep = await sm('DescribeEndpoint', { EndpointName: v.endpoint });
    if (ep.EndpointStatus === 'InService') return;
    if (ep.EndpointStatus === 'Failed') throw new Error(`endpoint ${v.endpoint} failed: ${ep.FailureReason}`);
    if (Date.now() > deadline) throw new Error(`endpoint ${v.endpoint} is still ${ep.EndpointStatus} after 10 minutes`);
    status.textContent = `endpoint ${v.endpoint} is ${ep.EndpointStatus}...`;
    await sleep(500);
  }
}

async function autoscale(v) {
  if (v.asMin === undefined && v.asMax === undefined && v.asTarget === undefined) return;
  const target = {
    ServiceNamespace: 'sagemaker', ResourceId: `inference-component/${v.ic}`,
    ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount',
  };
  await call('AnyScaleFrontendService.RegisterScalableTarget', { ...target, MinCapacity: v.asMin, MaxCapacity: v.asMax });
  if (v.asTarget !== undefined) {
    await call('AnyScaleFrontendService.PutScalingPolicy', {
      ...target, PolicyName: `${v.ic}-invocations-per-copy`, PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: v.asTarget,
        PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentInvocationsPerCopy' },
      },
    });
  }
}

async function deploy(ev) {
  ev.preventDefault();
  clearErrors();
  for (const f of document.querySelectorAll('#deploy-form [aria-invalid]')) f.removeAttribute('aria-invalid');
  const submit = $('deploy-submit');
  submit.disabled = true;
  try {
    const v = formValues();
    if (updating) {
      await sm('UpdateInferenceComponent', {
        InferenceComponentName: updating, Specification: specification(v), RuntimeConfig: { CopyCount: v.copies },
      });
      await autoscale({ ...v, ic: updating });
      $('deploy-status').textContent = `updating ${updating}`;
      endUpdate();
    } else {
      await ensureEndpoint(v);
      $('deploy-status').textContent = `creating ${v.ic}...`;
      await sm('CreateInferenceComponent', {
        InferenceComponentName: v.ic, EndpointName: v.endpoint, VariantName: 'AllTraffic',
        Specification: specification(v), RuntimeConfig: { CopyCount: v.copies },
      });
      await autoscale(v);
      $('deploy-status').textContent = `created ${v.ic}: its copies appear above as they start`;
    }
    refresh();
  } catch (e) {
    showDeployError(e);
    refresh(); // what did get made (the endpoint) shows
  } finally {
    submit.disabled = false;
  }
}

function startUpdate(detail) {
  if (!detail) return;
  updating = detail.InferenceComponentName;
  const spec = detail.Specification || {};
  const c = spec.Container || {};
  const r = spec.ComputeResourceRequirements || {};
  $('f-endpoint').value = detail.EndpointName;
  $('f-ic').value = updating;
  $('f-image').value = c.Image || '';
  $('f-artifact').value = c.ArtifactUrl || '';
  $('f-env').value = Object.entries(c.Environment || {}).map(([k, val]) => `${k}=${val}`).join('\n');
  $('f-cpus').value = r.NumberOfCpuCoresRequired ?? '';
  $('f-memory').value = r.MinMemoryRequiredInMb ?? '';
  $('f-accelerators').value = r.NumberOfAcceleratorDevicesRequired ?? '';
  $('f-copies').value = detail.RuntimeConfig?.DesiredCopyCount ?? '';
  for (const id of ['f-endpoint', 'f-ic', 'f-instance-type', 'f-instance-count']) $(id).disabled = true;
  $('deploy-title').textContent = `Update ${updating}`;
  $('deploy-submit').textContent = 'Update';
  $('deploy-cancel').hidden = false;
  clearErrors();
  $('deploy-form').scrollIntoView();
}

function endUpdate() {
  updating = null;
  for (const id of ['f-endpoint', 'f-ic', 'f-instance-type', 'f-instance-count']) $(id).disabled = false;
  $('deploy-title').textContent = 'Deploy';
  $('deploy-submit').textContent = 'Deploy';
  $('deploy-cancel').hidden = true;
}

// ------------------------------------------------------------------- start

document.addEventListener('DOMContentLoaded', async () => {
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', signOut);
  $('deploy-form').addEventListener('submit', deploy);
  $('deploy-cancel').addEventListener('click', () => { endUpdate(); clearErrors(); });
  const r = await fetch('/console/session', { credentials: 'same-origin' }).catch(() => null);
  const j = r && r.ok ? await r.json() : null;
  if (j) showApp(j.KeyName);
  else signedOut();
});

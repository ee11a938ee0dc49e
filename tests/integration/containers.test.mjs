// Container images as copies: scripts/build-image.sh builds
// localhost/berth-model:latest offline with podman; the real SDK deploys it
// as an inference component, invokes it, scales it to 2 and to 0 copies and
// deletes it. The agent is killed with SIGKILL on the way: the controller
// restarts it, the new agent adopts the running containers and removes one
// that no copy owns. At the end no container with Berth's labels is left.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import {
  CreateInferenceComponentCommand, DeleteInferenceComponentCommand,
  DescribeInferenceComponentCommand, SageMakerClient, UpdateInferenceComponentRuntimeConfigCommand,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';

import { BUILD_DIR, SOURCE_DIR, TEST_TAG, control, freePort, modelPids, rolePids, startBerthd, stopAll, waitFor } from '../lib/berthd.mjs';
import { deployEndpoint } from '../lib/fixtures.mjs';

const PODMAN = ['/usr/bin/podman', '/usr/local/bin/podman'].find((p) => fs.existsSync(p));
if (!PODMAN) {
  // scripts/setup.sh installs podman; a machine without it cannot run this.
  process.stderr.write('containers: podman is not installed: skipped\n');
  process.exit(77);
}

// Names of this run only: another run on the same host sees the same podman.
const RUN = process.pid.toString(36);
const EP = `box-ep-${RUN}`;
const IMAGE = 'localhost/berth-model:latest';
const podman = (...args) => execFileSync(PODMAN, args, { encoding: 'utf8' }).trim();
/** Names of the containers (running or not) with a label, e.g. berth.endpoint=box-ep. */
const containers = (label) => {
  const out = podman('ps', '--all', '--filter', `label=${label}`, '--format', '{{.Names}}');
  return out ? out.split('\n').sort() : [];
};

let b;
let sm;
let rt;
before(async () => {
  const built = execFileSync(path.join(SOURCE_DIR, 'scripts/build-image.sh'), [BUILD_DIR], { encoding: 'utf8' });
  assert.equal(built.trim(), IMAGE);
  // The agent's own credentials (for artifacts) must reach no copy.
  b = await startBerthd({ env: { AWS_ACCESS_KEY_ID: 'AKIAAGENTONLY0000000', AWS_SECRET_ACCESS_KEY: 'agent-only-secret' } });
  sm = new SageMakerClient(b.sdk());
  rt = new SageMakerRuntimeClient(b.sdk(b.runtimeUrl));
});
after(async () => {
  sm?.destroy();
  rt?.destroy();
  await stopAll();
  // Whatever a failed run left behind.
  for (const n of containers(`berth.endpoint=${EP}`)) podman('rm', '--force', n);
});

const describe = (name) => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: name }));
const waitCopies = (name, n) => waitFor(() => describe(name), {
  timeoutMs: 90_000, what: `${name} to run ${n} copies`,
  until: (d) => d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === n,
});
const running = (ic) => podman('ps', '--filter', `label=berth.inference-component=${ic}`, '--format', '{{.Names}}')
  .split('\n').filter(Boolean).sort();

/** Whether a `podman pull IMAGE` process runs. */
function pulling(image) {
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (argv.includes('pull') && argv.includes(image)) return true;
    } catch { /* gone */ }
  }
  return false;
}

async function invokeOk(ic) {
  const out = await rt.send(new InvokeEndpointCommand({
    EndpointName: EP, InferenceComponentName: ic, ContentType: 'application/json',
    Body: JSON.stringify({ inputs: 'hello' }),
  }));
  return JSON.parse(Buffer.from(out.Body).toString());
}

test('an OCI image runs as copies, scales to 2 and 0, survives kill -9 of its agent, leaves nothing', { timeout: 300_000 }, async () => {
  await deployEndpoint(b.controlUrl, EP);
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: `boxed-${RUN}`, EndpointName: EP, VariantName: 'AllTraffic',
    Specification: {
      Container: { Image: IMAGE, Environment: { BERTH_MODEL_ID: `boxed-${RUN}`, BERTH_TEST_TAG: TEST_TAG, BERTH_CONTAINER_SHM_SIZE: '128m' } },
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 128, MaxMemoryRequiredInMb: 512 },
    },
    RuntimeConfig: { CopyCount: 1 },
  }));
  await waitCopies(`boxed-${RUN}`, 1);
  // The agent found podman and says so.
  const inst = await control(b.controlUrl, 'DescribeInstances', { EndpointName: EP }, { target: 'Berth.DescribeInstances' });
  assert.equal(inst.status, 200);
  assert.match(inst.json.Instances[0].ContainerRuntime, /^podman \d+\.\d+/);
  const answer = await invokeOk(`boxed-${RUN}`);
  assert.equal(answer.model_id, `boxed-${RUN}`, 'the container got the copy\'s Environment');

  // What the container was given.
  const [name] = running(`boxed-${RUN}`);
  assert.match(name, /^berth-agent-[0-9a-f]+-\d+$/);
  const info = JSON.parse(podman('inspect', name))[0];
  const labels = info.Config.Labels;
  assert.equal(labels['berth.endpoint'], EP);
  assert.equal(labels['berth.inference-component'], `boxed-${RUN}`);
  assert.match(labels['berth.copy'], /^\d+$/);
  assert.match(labels['berth.agent'], /^agent-[0-9a-f]+$/);
  assert.equal(info.HostConfig.NetworkMode, 'host');
  assert.ok(info.Config.Env.includes('SM_MODEL_DIR=/opt/ml/model'));
  const mount = info.Mounts.find((m) => m.Destination === '/opt/ml/model');
  assert.ok(mount && mount.RW === false, `the artifact is mounted read-only: ${JSON.stringify(info.Mounts)}`);
  assert.deepEqual(info.Config.Cmd, ['serve']);
  assert.equal(info.HostConfig.ShmSize, 128 * 1024 * 1024, 'BERTH_CONTAINER_SHM_SIZE is its /dev/shm');
  assert.ok(!info.Config.Env.some((e) => e.startsWith('BERTH_CONTAINER_')), 'Berth\'s own variables stay out');
  // Its limits: the copy's own cgroup (where the agent reads OOM kills)
  // holds the container, with MaxMemoryRequiredInMb and one whole core.
  const parent = info.HostConfig.CgroupParent;
  assert.equal(parent, `/berth/${labels['berth.agent']}/copy-${labels['berth.copy']}`);
  const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
  const limitFile = v2 ? `/sys/fs/cgroup${parent}/memory.max` : `/sys/fs/cgroup/memory${parent}/memory.limit_in_bytes`;
  assert.equal(fs.readFileSync(limitFile, 'utf8').trim(), String(512 * 1024 * 1024), 'MaxMemoryRequiredInMb is its memory limit');
  const cpusFile = v2 ? `/sys/fs/cgroup${parent}/cpuset.cpus` : `/sys/fs/cgroup/cpuset${parent}/cpuset.cpus`;
  assert.match(fs.readFileSync(cpusFile, 'utf8').trim(), /^\d+$/, 'one whole core, pinned');
  assert.ok(!info.Config.Env.some((e) => e.startsWith('AWS_SECRET_ACCESS_KEY=') || e.startsWith('BERTH_AGENT_TOKEN=')),
    'the agent\'s own environment stays out');

  await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({
    InferenceComponentName: `boxed-${RUN}`, DesiredRuntimeConfig: { CopyCount: 2 },
  }));
  await waitCopies(`boxed-${RUN}`, 2);
  const two = running(`boxed-${RUN}`);
  assert.equal(two.length, 2);
  // Neither container's server sees the agent's credentials.
  const servers = modelPids();
  assert.ok(servers.length >= 2, `the containers' servers run on this host: ${servers}`);
  for (const pid of servers) {
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
    assert.ok(!env.includes('agent-only-secret') && !env.includes('AKIAAGENTONLY'), `pid ${pid} has the agent's key`);
  }

  // A container of this agent that no copy owns (left by a crash).
  const agentId = labels['berth.agent'];
  const stray = `berth-${agentId}-999999`;
  podman('create', '--name', stray, '--label', `berth.agent=${agentId}`, '--label', `berth.endpoint=${EP}`, IMAGE);

  // kill -9 the agent: its copies keep serving, a new agent adopts them.
  const [agentPid] = rolePids('agent');
  assert.ok(agentPid, 'the local agent runs');
  process.kill(agentPid, 'SIGKILL');
  await waitFor(() => rolePids('agent'), {
    timeoutMs: 60_000, what: 'the controller to restart the agent', until: (p) => p.length === 1 && p[0] !== agentPid,
  });
  await waitFor(() => containers(`berth.agent=${agentId}`), {
    timeoutMs: 30_000, what: 'the new agent to remove the stray container',
    until: (names) => !names.includes(stray),
  });
  assert.deepEqual(running(`boxed-${RUN}`), two, 'the same containers serve after the restart');
  await waitCopies(`boxed-${RUN}`, 2);
  assert.equal((await invokeOk(`boxed-${RUN}`)).model_id, `boxed-${RUN}`);

  await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({
    InferenceComponentName: `boxed-${RUN}`, DesiredRuntimeConfig: { CopyCount: 0 },
  }));
  await waitFor(() => containers(`berth.inference-component=boxed-${RUN}`), {
    timeoutMs: 60_000, what: 'both containers to be stopped and removed', until: (n) => n.length === 0,
  });
  await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: `boxed-${RUN}` }));
  await waitFor(() => describe(`boxed-${RUN}`).then(() => null, (e) => e.name), {
    timeoutMs: 30_000, what: 'the IC to be gone', until: (e) => e === 'ValidationException',
  });
  assert.deepEqual(containers(`berth.endpoint=${EP}`), []);
  assert.deepEqual(containers(`berth.agent=${agentId}`), []);
  // Nor the copies' cgroups (the engine makes its own groups below them).
  await waitFor(() => fs.existsSync(v2 ? `/sys/fs/cgroup${parent}` : `/sys/fs/cgroup/memory${parent}`), {
    timeoutMs: 30_000, what: `the cgroup ${parent} to be removed`, until: (exists) => !exists,
  });
});

test('a missing image fails the IC with the registry\'s reason', { timeout: 120_000 }, async () => {
  // A registry on loopback that answers nothing: the pull fails at once.
  const port = await freePort();
  const image = `127.0.0.1:${port}/berth/no-such-model:1`;
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: `unpullable-${RUN}`, EndpointName: EP, VariantName: 'AllTraffic',
    Specification: {
      Container: { Image: image },
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 128 },
    },
    RuntimeConfig: { CopyCount: 1 },
  }));
  const d = await waitFor(() => describe(`unpullable-${RUN}`), {
    timeoutMs: 60_000, what: 'the IC to fail', until: (x) => x.InferenceComponentStatus === 'Failed',
  });
  assert.match(d.FailureReason, new RegExp(`could not pull Image "${image.replace(/[.]/g, '\\.')}"`));
  assert.match(d.FailureReason, /connection refused/, `the registry's own error is quoted: ${d.FailureReason}`);
  await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: `unpullable-${RUN}` }));
  assert.deepEqual(containers(`berth.inference-component=unpullable-${RUN}`), []);
});

test('a container past its MaxMemoryRequiredInMb is killed and the IC says so', { timeout: 120_000 }, async () => {
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: `boxed-hog-${RUN}`, EndpointName: EP, VariantName: 'AllTraffic',
    Specification: {
      Container: { Image: IMAGE, Environment: { BERTH_MODEL_ID: 'hog', BERTH_MODEL_MEMORY_MB: '400', BERTH_TEST_TAG: TEST_TAG } },
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 128, MaxMemoryRequiredInMb: 160 },
    },
    RuntimeConfig: { CopyCount: 1 },
  }));
  const d = await waitFor(() => describe(`boxed-hog-${RUN}`), {
    timeoutMs: 60_000, what: 'the IC to fail', until: (x) => x.InferenceComponentStatus === 'Failed',
  });
  assert.match(d.FailureReason, /memory limit/);
  assert.match(d.FailureReason, /MaxMemoryRequiredInMb \(160 MiB/);
  await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: `boxed-hog-${RUN}` }));
  await waitFor(() => containers(`berth.inference-component=boxed-hog-${RUN}`), {
    timeoutMs: 30_000, what: 'its container to be removed', until: (n) => n.length === 0,
  });
});

test('a pull in progress shows in the IC\'s status, and a deleted IC stops its pull', { timeout: 120_000 }, async () => {
  // A "registry" that accepts connections and never answers: the pull hangs.
  const held = [];
  const registry = net.createServer((sock) => held.push(sock));
  await new Promise((resolve) => registry.listen(0, '127.0.0.1', resolve));
  const image = `127.0.0.1:${registry.address().port}/berth/slow-model:1`;
  try {
    await sm.send(new CreateInferenceComponentCommand({
      InferenceComponentName: `slow-pull-${RUN}`, EndpointName: EP, VariantName: 'AllTraffic',
      Specification: {
        Container: { Image: image },
        ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 128 },
      },
      RuntimeConfig: { CopyCount: 1 },
    }));
    const raw = await waitFor(async () => {
      const r = await control(b.controlUrl, 'DescribeInferenceComponent', { InferenceComponentName: `slow-pull-${RUN}` });
      return r.json;
    }, {
      timeoutMs: 30_000, what: 'the pull to show in the IC\'s status',
      until: (x) => /^copy \d+: pulling its Image: Trying to pull /.test(x.StatusMessage ?? ''),
    });
    assert.equal(raw.InferenceComponentStatus, 'Creating');
    assert.ok(held.length > 0, 'podman reached the registry');
    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: `slow-pull-${RUN}` }));
    await waitFor(() => describe(`slow-pull-${RUN}`).then(() => null, (e) => e.name), {
      timeoutMs: 20_000, what: 'the IC to be gone while its pull hung', until: (e) => e === 'ValidationException',
    });
    await waitFor(() => pulling(image), { timeoutMs: 10_000, what: 'the pull to be stopped', until: (p) => !p });
  } finally {
    for (const s of held) s.destroy();
    registry.close();
  }
});

test('an Image or Environment that could pass for engine options is refused; host paths need --allow-artifact-dir', { timeout: 120_000 }, async () => {
  const create = (name, container) => control(b.controlUrl, 'CreateInferenceComponent', {
    InferenceComponentName: name, EndpointName: EP, VariantName: 'AllTraffic',
    Specification: { Container: container, ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 128 } },
    RuntimeConfig: { CopyCount: 1 },
  });
  const flag = await create(`flagged-${RUN}`, { Image: '--privileged' });
  assert.equal(flag.status, 400);
  assert.equal(flag.json.__type, 'ValidationException');
  assert.match(flag.json.message, /^Specification\.Container\.Image: Image '--privileged' is not a container image reference: it must be /);
  const star = await create(`starred-${RUN}`, { Image: IMAGE, Environment: { 'AWS_*': '' } });
  assert.equal(star.status, 400);
  assert.match(star.json.message, /Value 'AWS_\*' at 'Specification\.Container\.Environment' failed to satisfy constraint: .*\[a-zA-Z_\]\[a-zA-Z0-9_\]\*/);

  // A directory of the host would be read as root inside the container.
  const dir = fs.mkdtempSync('/tmp/berth-host-dir-');
  await sm.send(new CreateInferenceComponentCommand({
    InferenceComponentName: `hostdir-${RUN}`, EndpointName: EP, VariantName: 'AllTraffic',
    Specification: {
      Container: { Image: IMAGE, ArtifactUrl: dir },
      ComputeResourceRequirements: { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 128 },
    },
    RuntimeConfig: { CopyCount: 1 },
  }));
  const d = await waitFor(() => describe(`hostdir-${RUN}`), {
    timeoutMs: 30_000, what: 'the IC to fail', until: (x) => x.InferenceComponentStatus === 'Failed',
  });
  assert.match(d.FailureReason, new RegExp(`may not mount ArtifactUrl ${dir} into container Image "${IMAGE}": .*--allow-artifact-dir DIR`));
  await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: `hostdir-${RUN}` }));
  fs.rmSync(dir, { recursive: true, force: true });
});

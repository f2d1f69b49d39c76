// --runtime swarm on the real single-node swarm of the test environment: Sessions become
// one-replica services carrying our labels, restart policy, mounts, limits and stop grace period
// (in the service spec and in the task's container); status reports node, task state and address; an image
// change recreates, a resource change updates in place, Stopped scales to 0, a deleted Session's
// service goes, and a restarted agent recreates nothing. Every service here carries this run's
// unique agent name, and only those are removed.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { RunningAgent } from '../../agent/agent.ts';
import { startAgent } from '../../agent/agent.ts';
import { dockerCli, freePort, TEST_IMAGE } from '../support/docker.ts';
import { AgentWorld, metricValue } from '../support/agent-process.ts';
import { inProcessAgentConfig, testPolicy } from '../support/agent-config.ts';
import { consistently, eventually } from '../support/eventually.ts';
import { createSleepService, removeSwarmRun, requireTestSwarm, serviceTasks } from '../support/swarm.ts';
import { uniqueRunId } from '../support/docker.ts';

const sleeper = { command: ['sleep', 'infinity'] };
const KEYS = ['default/alpha', 'default/beta', 'default/gamma'] as const;

interface ServiceRow {
  id: string;
  key: string;
  replicas: number;
  image: string;
  memoryBytes: number;
  hash: string;
}

/** The parts of a service's Spec.TaskTemplate these tests read. */
interface TaskTemplateView {
  ContainerSpec: {
    Mounts?: { Type: string; Source?: string; Target: string; ReadOnly?: boolean; TmpfsOptions?: { SizeBytes?: number } }[];
    StopGracePeriod?: number;
  };
  Resources?: { Limits?: { NanoCPUs?: number; MemoryBytes?: number } };
  RestartPolicy?: { Condition?: string };
}

interface StatusView {
  metadata: { name: string; namespace?: string };
  status?: { phase?: string; containerID?: string; node?: string; taskState?: string; address?: string; endpoints?: string[]; conditions?: { type: string; status: string }[] };
}

/** This world's services as the docker CLI sees them, by Session key. */
async function services(world: AgentWorld): Promise<Map<string, ServiceRow>> {
  const ids = (await dockerCli(['service', 'ls', '--quiet', '--filter', `label=dockerlet.dev/agent=${world.agentName}`])).split('\n').filter(Boolean);
  const rows = new Map<string, ServiceRow>();
  if (ids.length === 0) return rows;
  const format =
    '{{.ID}}|{{index .Spec.Labels "dockerlet.dev/namespace"}}/{{index .Spec.Labels "dockerlet.dev/name"}}|{{.Spec.Mode.Replicated.Replicas}}|{{.Spec.TaskTemplate.ContainerSpec.Image}}|{{with .Spec.TaskTemplate.Resources}}{{with .Limits}}{{.MemoryBytes}}{{end}}{{end}}|{{index .Spec.Labels "dockerlet.dev/config-hash"}}';
  for (const line of (await dockerCli(['service', 'inspect', '--format', format, ...ids])).split('\n').filter(Boolean)) {
    const [id = '', key = '', replicas = '0', image = '', memory = '', hash = ''] = line.split('|');
    if (rows.has(key)) throw new Error(`two services for ${key}`);
    rows.set(key, { id, key, replicas: Number(replicas), image, memoryBytes: Number(memory || 0), hash });
  }
  return rows;
}

async function runningTaskIds(serviceId: string): Promise<string[]> {
  return (await serviceTasks(serviceId)).filter((t) => t.state === 'running').map((t) => t.id);
}

async function statuses(world: AgentWorld): Promise<Map<string, StatusView['status']>> {
  const result = await world.cli(['get', 'sessions', '-o', 'json']);
  if (result.code !== 0) throw new Error(`get sessions failed (${result.code}): ${result.stderr}`);
  const items = (JSON.parse(result.stdout) as { items: StatusView[] }).items;
  return new Map(items.map((s) => [`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`, s.status]));
}

describe('--runtime swarm on the real single-node swarm', () => {
  let world: AgentWorld | undefined;
  let agent: RunningAgent | undefined;
  let extraTag: string | undefined;
  let foreignRun: string | undefined;
  let extraVolume: string | undefined;

  beforeAll(requireTestSwarm);

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    if (world) {
      // Only this run's services: they carry its unique agent name.
      const ids = (await dockerCli(['service', 'ls', '--quiet', '--filter', `label=dockerlet.dev/agent=${world.agentName}`])).split('\n').filter(Boolean);
      if (ids.length > 0) await dockerCli(['service', 'rm', ...ids]);
      await world.cleanup();
    }
    if (extraTag) await dockerCli(['rmi', extraTag]).catch(() => undefined);
    if (foreignRun) await removeSwarmRun(foreignRun);
    // In use until Swarm has removed the task's container, a moment after its service.
    const volume = extraVolume;
    if (volume) {
      await eventually(() => dockerCli(['volume', 'rm', volume]).catch((error: unknown) => {
        if (!/no such volume/i.test(String(error))) throw error;
      }), { timeoutMs: 60_000, intervalMs: 500, message: `volume ${volume} removed` });
    }
    extraVolume = undefined;
    foreignRun = undefined;
    world = undefined;
    extraTag = undefined;
  });

  async function stopAgent(): Promise<void> {
    await agent?.stop();
    agent = undefined;
  }

  async function start(w: AgentWorld): Promise<RunningAgent> {
    // The bind-mount test mounts a directory of its world: the host policy must allow it.
    agent = await startAgent(await inProcessAgentConfig(w, { runtime: 'swarm', policy: testPolicy({ hostPathPrefixes: [w.root] }) }), { logger: pino({ level: 'silent' }) });
    return agent;
  }

  it('runs Sessions as one-replica services, reports node/state/address, adopts on restart, recreates on an image change, updates in place, scales to 0, removes', async () => {
    const w = (world = await AgentWorld.create());
    // gamma publishes a port (host mode), so its endpoint is the node's address and that port.
    const port = await freePort();
    const gammaPorts = { ports: [{ containerPort: 8080, hostPort: port }] };
    await w.writeSession({ name: 'alpha', spec: sleeper });
    await w.writeSession({ name: 'beta', spec: sleeper });
    await w.writeSession({ name: 'gamma', spec: { ...sleeper, ...gammaPorts } });
    await start(w);

    // 3 Sessions → 3 services with one running task each, carrying our labels.
    const first = await eventually(
      async () => {
        const rows = await services(w);
        expect([...rows.keys()].sort()).toEqual([...KEYS]);
        for (const row of rows.values()) {
          expect(row.replicas).toBe(1);
          expect(row.image).toBe(TEST_IMAGE);
          expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
          expect(await runningTaskIds(row.id)).toHaveLength(1);
        }
        return rows;
      },
      { timeoutMs: 60_000, message: 'three services with one running task each' },
    );
    const nodeName = (await dockerCli(['node', 'inspect', 'self', '--format', '{{.Description.Hostname}}'])).trim();
    await eventually(
      async () => {
        const byKey = await statuses(w);
        for (const key of KEYS) {
          const status = byKey.get(key);
          expect(status?.phase).toBe('Running');
          expect(status?.containerID).toBe(first.get(key)?.id);
          expect(status?.node).toBe(nodeName);
          expect(status?.taskState).toBe('running');
          expect(status?.address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        }
        expect(byKey.get('default/gamma')?.endpoints).toEqual([`127.0.0.1:${port}/tcp`]);
      },
      { timeoutMs: 30_000, message: 'status shows node, task state and address' },
    );
    // Where each Session runs is in the default table (after AGE) and in wide output (after CONTAINER).
    const table = await w.cli(['get', 'sessions']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/AGE\s+NODE\s+ADDRESS$/);
    expect(table.stdout).toContain(nodeName);
    const wide = await w.cli(['get', 'sessions', '-o', 'wide']);
    expect(wide.code).toBe(0);
    expect(wide.stdout.split('\n')[0]).toMatch(/CONTAINER\s+NODE\s+ADDRESS\s+ENDPOINTS/);

    // Agent restart: nothing is recreated, no task is replaced.
    const tasksBefore = new Map<string, string[]>();
    for (const row of first.values()) tasksBefore.set(row.id, await runningTaskIds(row.id));
    await stopAgent();
    await (await start(w)).resync();
    await consistently(
      async () => {
        const rows = await services(w);
        expect(new Map([...rows].map(([k, r]) => [k, r.id]))).toEqual(new Map([...first].map(([k, r]) => [k, r.id])));
        for (const [id, tasks] of tasksBefore) expect(await runningTaskIds(id)).toEqual(tasks);
      },
      { durationMs: 4_000, intervalMs: 500, message: 'no service recreated and no task replaced after an agent restart' },
    );

    // Image change (a config-hash field) → a new service replaces the old one.
    extraTag = `dockerlet-test/busybox:${w.agentName}`;
    await dockerCli(['tag', TEST_IMAGE, extraTag]);
    await w.writeSession({ name: 'alpha', spec: { ...sleeper, image: extraTag } });
    const alphaBefore = first.get('default/alpha')?.id;
    await eventually(
      async () => {
        const alpha = (await services(w)).get('default/alpha');
        expect(alpha?.image).toBe(extraTag);
        expect(alpha?.id).not.toBe(alphaBefore);
        expect(await runningTaskIds(alpha?.id ?? '')).toHaveLength(1);
      },
      { timeoutMs: 60_000, message: 'image change recreated the service' },
    );
    const gone = await dockerCli(['service', 'ls', '--quiet', '--filter', `id=${alphaBefore}`]);
    expect(gone).toBe('');

    // Resource change → the same service, updated in place.
    const betaId = first.get('default/beta')?.id;
    await w.writeSession({ name: 'beta', spec: { ...sleeper, resources: { memory: '64Mi' } } });
    await eventually(
      async () => {
        const beta = (await services(w)).get('default/beta');
        expect(beta?.id).toBe(betaId);
        expect(beta?.memoryBytes).toBe(64 * 1024 * 1024);
        expect(await runningTaskIds(betaId ?? '')).toHaveLength(1);
      },
      { timeoutMs: 60_000, message: 'memory limit updated in place' },
    );

    // Stopped → replicas 0, same service.
    const gammaId = first.get('default/gamma')?.id;
    await w.writeSession({ name: 'gamma', spec: { ...sleeper, ...gammaPorts, state: 'Stopped' } });
    await eventually(
      async () => {
        const gamma = (await services(w)).get('default/gamma');
        expect(gamma).toMatchObject({ id: gammaId, replicas: 0 });
        expect((await statuses(w)).get('default/gamma')?.phase).toBe('Stopped');
      },
      { timeoutMs: 30_000, message: 'Stopped scaled the service to 0' },
    );

    // Delete → service removed; the others stay.
    await w.removeFile('default-gamma.yaml');
    await eventually(
      async () => {
        const rows = await services(w);
        expect([...rows.keys()].sort()).toEqual(['default/alpha', 'default/beta']);
      },
      { timeoutMs: 30_000, message: "deleted Session's service removed" },
    );
  });

  it('carries restart policy, mounts (bind, volume, tmpfs), CPU and memory limits and the stop grace period into the service and its task; a restart policy or CPU change updates the same service', async () => {
    const w = (world = await AgentWorld.create());
    const hostDir = join(w.root, 'host');
    await mkdir(hostDir);
    await writeFile(join(hostDir, 'marker'), 'from the host\n');
    extraVolume = `${w.agentName}-data`;
    const storage = {
      volumes: [
        { name: 'host', hostPath: hostDir },
        { name: 'data', volume: extraVolume },
        { name: 'scratch', emptyDir: { sizeLimit: '16Mi' } },
      ],
      mounts: [
        { name: 'host', mountPath: '/host', readOnly: true },
        { name: 'data', mountPath: '/data' },
        { name: 'scratch', mountPath: '/scratch' },
      ],
    };
    await w.writeSession({ name: 'delta', spec: { ...sleeper, ...storage, restartPolicy: 'OnFailure', resources: { cpu: '500m', memory: '32Mi' } } });
    await start(w);

    const taskTemplate = async (id: string): Promise<TaskTemplateView> => JSON.parse(await dockerCli(['service', 'inspect', '--format', '{{json .Spec.TaskTemplate}}', id])) as TaskTemplateView;
    const service = await eventually(
      async () => {
        const delta = (await services(w)).get('default/delta');
        expect(delta).toBeDefined();
        expect(await runningTaskIds(delta!.id)).toHaveLength(1);
        return delta!;
      },
      { timeoutMs: 60_000, message: 'delta runs as a service' },
    );
    const template = await taskTemplate(service.id);
    expect(template.RestartPolicy?.Condition).toBe('on-failure');
    expect(template.Resources?.Limits).toEqual({ NanoCPUs: 500_000_000, MemoryBytes: 32 * 1024 * 1024 });
    expect(template.ContainerSpec.StopGracePeriod).toBe(1_000_000_000);
    const byTarget = new Map((template.ContainerSpec.Mounts ?? []).map((m) => [m.Target, m]));
    expect(byTarget.get('/host')).toMatchObject({ Type: 'bind', Source: hostDir, ReadOnly: true });
    expect(byTarget.get('/data')).toMatchObject({ Type: 'volume', Source: extraVolume });
    expect(byTarget.get('/data')?.ReadOnly ?? false).toBe(false);
    expect(byTarget.get('/scratch')).toMatchObject({ Type: 'tmpfs', TmpfsOptions: { SizeBytes: 16 * 1024 * 1024 } });
    expect(byTarget.size).toBe(3);

    // The task's container got them from Swarm: limits, and mounts that work.
    const [task] = (await serviceTasks(service.id)).filter((t) => t.state === 'running');
    const container = task!.containerId;
    expect(await dockerCli(['inspect', '--format', '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}', container])).toBe(`500000000 ${32 * 1024 * 1024}`);
    expect(await dockerCli(['exec', container, 'cat', '/host/marker'])).toBe('from the host');
    await expect(dockerCli(['exec', container, 'touch', '/host/written'])).rejects.toThrow(/Read-only file system/);
    await dockerCli(['exec', container, 'touch', '/data/written']);
    expect(await dockerCli(['volume', 'inspect', '--format', '{{.Name}}', extraVolume])).toBe(extraVolume);
    expect(await dockerCli(['exec', container, 'grep', ' /scratch ', '/proc/mounts'])).toMatch(/^tmpfs \/scratch tmpfs /);

    // Restart policy and CPU are changed in place: the same service, updated by Swarm.
    await w.writeSession({ name: 'delta', spec: { ...sleeper, ...storage, restartPolicy: 'Never', resources: { cpu: '1', memory: '32Mi' } } });
    await eventually(
      async () => {
        const updated = await taskTemplate(service.id);
        expect(updated.RestartPolicy?.Condition).toBe('none');
        expect(updated.Resources?.Limits?.NanoCPUs).toBe(1_000_000_000);
        expect((await services(w)).get('default/delta')?.id).toBe(service.id);
        expect(await runningTaskIds(service.id)).toHaveLength(1);
      },
      { timeoutMs: 60_000, message: 'restart policy and CPU updated in place' },
    );
  });

  it('resyncs with one list call; recreates a service removed by hand; collects an orphan and applies a change made while down; never touches another agent’s service; an empty store removes nothing', async () => {
    const w = (world = await AgentWorld.create());
    await w.writeSession({ name: 'keep', spec: sleeper });
    await w.writeSession({ name: 'orphan', spec: sleeper });
    await start(w);
    const first = await eventually(
      async () => {
        const rows = await services(w);
        expect([...rows.keys()].sort()).toEqual(['default/keep', 'default/orphan']);
        for (const row of rows.values()) expect(await runningTaskIds(row.id)).toHaveLength(1);
        expect([...(await statuses(w)).values()].map((s) => s?.phase)).toEqual(['Running', 'Running']);
        return rows;
      },
      { timeoutMs: 60_000, message: 'two running services' },
    );

    // A resync of settled services: one list call, no inspect (events and polls are quiet).
    const calls = async (op: string): Promise<number> => metricValue(await (agent as RunningAgent).registry.metrics(), 'dockerlet_docker_api_requests_total', { op });
    await eventually(async () => {
      const before = { list: await calls('list'), inspect: await calls('inspect'), tasks: await calls('task_list') };
      await agent?.resync();
      await new Promise((resolve) => setImmediate(resolve));
      expect({ list: await calls('list'), inspect: await calls('inspect'), tasks: await calls('task_list') }).toEqual({ ...before, list: before.list + 1 });
    }, { timeoutMs: 20_000, message: 'a resync costs one list call' });

    // A service removed by hand is recreated (its task container's events reach the agent).
    const keepId = first.get('default/keep')?.id ?? '';
    await dockerCli(['service', 'rm', keepId]);
    const recreated = await eventually(
      async () => {
        const keep = (await services(w)).get('default/keep');
        expect(keep?.id).toBeDefined();
        expect(keep?.id).not.toBe(keepId);
        expect(await runningTaskIds(keep?.id ?? '')).toHaveLength(1);
        return keep?.id ?? '';
      },
      { timeoutMs: 60_000, message: 'a service removed by hand is recreated' },
    );

    // Another agent's service with our other labels is not this agent's: never touched.
    foreignRun = uniqueRunId('swarm-foreign');
    const foreignLabels = ['dockerlet.dev/managed-by=dockerlet', `dockerlet.dev/agent=${foreignRun}`, 'dockerlet.dev/namespace=default', 'dockerlet.dev/name=orphan'];
    const foreign = await createSleepService(foreignRun, foreignRun, { replicas: 0, args: foreignLabels.flatMap((l) => ['--label', l]) });

    // While the agent is down: one Session deleted, one changed (env is a config-hash field).
    await stopAgent();
    await w.removeFile('default-orphan.yaml');
    await w.writeSession({ name: 'keep', spec: { ...sleeper, env: [{ name: 'CHANGED', value: '1' }] } });
    await start(w);
    await eventually(
      async () => {
        const rows = await services(w);
        expect([...rows.keys()]).toEqual(['default/keep']);
        const keep = rows.get('default/keep');
        expect(keep?.id).not.toBe(recreated);
        expect(await runningTaskIds(keep?.id ?? '')).toHaveLength(1);
      },
      { timeoutMs: 60_000, message: 'orphan collected and the change applied after the restart' },
    );
    const kept = (await services(w)).get('default/keep')?.id;

    // An empty store is not "delete everything".
    await stopAgent();
    await w.removeFile('default-keep.yaml');
    await (await start(w)).resync();
    await consistently(
      async () => {
        expect((await services(w)).get('default/keep')?.id).toBe(kept);
      },
      { durationMs: 4_000, intervalMs: 500, message: 'an empty store removes no service' },
    );
    expect(await dockerCli(['service', 'ls', '--quiet', '--filter', `name=${foreignRun}`])).toBe(foreign.slice(0, 12));
  });
});

// The session-grade container fields through the whole agent, on the real engine: each one is
// visible in `docker inspect` of the container the agent created (and, where a process can tell,
// from inside it); a file-sourced env value reaches the container and nothing else, and a changed
// file recreates it; a missing network or file is a Pending wait, not a crash or a hot loop.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { STATE_FILES } from '../../agent/state-layout.ts';
import { FileStatusStore } from '../../agent/status/file-status-store.ts';
import type { SessionStatus } from '../../crds/types.ts';
import { dockerCli, requireTestEngine, uniqueRunId } from '../support/docker.ts';
import { AgentWorld, metricValue } from '../support/agent-process.ts';
import { inProcessAgentConfig, testPolicy } from '../support/agent-config.ts';
import { consistently, eventually } from '../support/eventually.ts';

const MiB = 1024 * 1024;

interface Inspect {
  Id: string;
  Config: { User: string; WorkingDir: string; Hostname: string; StopSignal: string; StopTimeout?: number; Env: string[]; Labels: Record<string, string> };
  HostConfig: {
    ShmSize: number;
    NetworkMode: string;
    CapAdd: string[] | null;
    CapDrop: string[] | null;
    Devices: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[] | null;
    DeviceRequests: { Driver: string; Count: number; Capabilities: string[][] }[] | null;
    LogConfig: { Type: string; Config: Record<string, string> };
    Ulimits: { Name: string; Soft: number; Hard: number }[] | null;
    ReadonlyRootfs: boolean;
    Mounts: { Type: string; Target: string; TmpfsOptions?: { SizeBytes?: number; Mode?: number } }[] | null;
  };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
}

async function inspect(id: string): Promise<Inspect> {
  return (JSON.parse(await dockerCli(['inspect', id])) as Inspect[])[0] as Inspect;
}

describe('session-grade fields on the real engine', () => {
  let world: AgentWorld;
  let agent: RunningAgent | undefined;
  const networks: string[] = [];

  beforeAll(requireTestEngine);

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await world?.cleanup();
    // Only the networks this file created, once their containers are gone.
    for (const network of networks.splice(0)) await dockerCli(['network', 'rm', network]).catch(() => undefined);
  });

  async function start(): Promise<RunningAgent> {
    // What these Sessions take from the host (a capability, /dev/zero, GPUs, files of the world
    // read into env values) is refused by the default host policy: this agent allows it.
    const policy = testPolicy({ capabilities: ['SYS_PTRACE'], devices: ['/dev/zero', 'gpus'], envFilePrefixes: [world.root] });
    agent = await startAgent(await inProcessAgentConfig(world, { policy }), { logger: pino({ level: 'silent' }) });
    return agent;
  }

  async function network(name: string): Promise<string> {
    networks.push(name);
    await dockerCli(['network', 'create', '--label', `dockerlet.dev/test-run=${world.agentName}`, name]);
    return name;
  }

  async function status(key: string): Promise<SessionStatus | undefined> {
    return (await FileStatusStore.readSnapshot<SessionStatus>(join(world.stateDir, STATE_FILES.sessions))).get(key);
  }

  async function runningId(key: string, not?: string): Promise<string> {
    return eventually(
      async () => {
        const c = (await world.containers()).get(key);
        expect(c?.state).toBe('running');
        if (not) expect(c?.id).not.toBe(not);
        return c?.id ?? '';
      },
      { timeoutMs: 30_000, message: `${key} running` },
    );
  }

  it('creates the container with every field, visible in docker inspect and from inside', async () => {
    world = await AgentWorld.create();
    const front = await network(uniqueRunId('front'));
    const back = await network(uniqueRunId('back'));
    const secret = join(world.root, 'token');
    await writeFile(secret, 'first-secret-value');
    await world.writeSession({
      name: 'desk',
      spec: {
        command: ['sleep', 'infinity'],
        user: '1000:1000',
        workingDir: '/tmp',
        hostname: 'desk-1',
        shmSize: '96Mi',
        networks: [front, back],
        capabilities: { add: ['SYS_PTRACE'], drop: ['NET_RAW', 'MKNOD'] },
        devices: [{ hostPath: '/dev/zero', containerPath: '/dev/zero2', permissions: 'rw' }],
        env: [{ name: 'PLAIN', value: 'p' }, { name: 'TOKEN', valueFrom: { file: secret } }],
        stopSignal: 'SIGINT',
        stopGracePeriodSeconds: 7,
        logging: { driver: 'json-file', options: { 'max-size': '1m', 'max-file': '2' } },
        ulimits: [{ name: 'nofile', soft: 512, hard: 1024 }],
        readOnlyRootFilesystem: true,
        tmpfs: [{ mountPath: '/scratch', sizeLimit: '8Mi', mode: 0o700 }],
      },
    });
    await start();
    const id = await runningId('default/desk');
    const info = await inspect(id);
    expect(info.Config).toMatchObject({ User: '1000:1000', WorkingDir: '/tmp', Hostname: 'desk-1', StopSignal: 'SIGINT', StopTimeout: 7 });
    expect(info.Config.Env).toEqual(expect.arrayContaining(['PLAIN=p', 'TOKEN=first-secret-value']));
    expect(info.HostConfig).toMatchObject({
      ShmSize: 96 * MiB,
      NetworkMode: front,
      CapAdd: ['SYS_PTRACE'],
      CapDrop: ['NET_RAW', 'MKNOD'],
      Devices: [{ PathOnHost: '/dev/zero', PathInContainer: '/dev/zero2', CgroupPermissions: 'rw' }],
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } },
      Ulimits: [{ Name: 'nofile', Soft: 512, Hard: 1024 }],
      ReadonlyRootfs: true,
    });
    expect(info.HostConfig.Mounts).toEqual([expect.objectContaining({ Type: 'tmpfs', Target: '/scratch', TmpfsOptions: { SizeBytes: 8 * MiB, Mode: 0o700 } })]);
    expect(Object.keys(info.NetworkSettings.Networks).sort()).toEqual([front, back].sort());

    // What the process sees: its user, hostname, limits, devices, a read-only root and the tmpfs.
    const inside = await dockerCli([
      'exec',
      id,
      'sh',
      '-c',
      'id -u; id -g; hostname; ulimit -n; test -c /dev/zero2 && echo device; touch /root-write 2>/dev/null || echo read-only; df -k /dev/shm | tail -1; stat -c %a /scratch',
    ]);
    const [uid, gid, hostname, nofile, device, readOnly, shm, mode] = inside.split('\n');
    expect({ uid, gid, hostname, nofile, device, readOnly, mode }).toEqual({
      uid: '1000',
      gid: '1000',
      hostname: 'desk-1',
      nofile: '512',
      device: 'device',
      readOnly: 'read-only',
      mode: '700',
    });
    expect(shm?.split(/\s+/)[1]).toBe(String(96 * 1024));

    // The value is in the container's env and nowhere the agent writes.
    expect(JSON.stringify(info.Config.Labels)).not.toContain('first-secret-value');
    await eventually(async () => expect((await status('default/desk'))?.containerID).toBe(id));
    expect(await readFile(join(world.stateDir, STATE_FILES.sessions), 'utf8')).not.toContain('first-secret-value');
    const plan = await world.cli(['diff']);
    expect(plan.stdout + plan.stderr).not.toContain('first-secret-value');
    expect(plan.code).toBe(0);

    // A changed file is a changed hash: the container is recreated with the new value.
    await writeFile(secret, 'rotated-secret-value');
    await agent?.resync();
    const next = await runningId('default/desk', id);
    expect((await inspect(next)).Config.Env).toContain('TOKEN=rotated-secret-value');
  });

  it('waits on a missing network (Pending NetworkNotFound, no create, no hot loop) and converges once it exists', async () => {
    world = await AgentWorld.create();
    const name = uniqueRunId('late');
    await world.writeSession({ name: 'late', spec: { command: ['sleep', 'infinity'], networks: [name] } });
    const a = await start();
    await eventually(async () => {
      const s = await status('default/late');
      expect(s?.phase).toBe('Pending');
      expect(s?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'NetworkNotFound' });
      expect(s?.message).toContain(`no network ${name}`);
    });
    const inspects = async (): Promise<number> => metricValue(await a.registry.metrics(), 'dockerlet_docker_api_requests_total', { op: 'network_inspect' });
    const before = await inspects();
    await consistently(async () => expect((await world.containers()).has('default/late')).toBe(false), { durationMs: 3_000, intervalMs: 250 });
    // One look per 10 s requeue, not a loop.
    expect((await inspects()) - before).toBeLessThanOrEqual(1);
    expect(metricValue(await a.registry.metrics(), 'dockerlet_docker_api_requests_total', { op: 'create' })).toBe(0);

    await network(name);
    await a.resync();
    const id = await runningId('default/late');
    expect((await inspect(id)).HostConfig.NetworkMode).toBe(name);
  });

  it('keeps a Session whose env file is missing Pending, naming the variable and the path', async () => {
    world = await AgentWorld.create();
    const secret = join(world.root, 'absent');
    await world.writeSession({ name: 'nofile', spec: { command: ['sleep', 'infinity'], env: [{ name: 'DB_PASSWORD', valueFrom: { file: secret } }] } });
    const a = await start();
    await eventually(async () => {
      const s = await status('default/nofile');
      expect(s?.phase).toBe('Pending');
      expect(s?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
        status: 'False',
        reason: 'EnvFileUnreadable',
        message: `spec.env[0] (DB_PASSWORD): cannot read ${secret}: ENOENT`,
      });
    });
    await writeFile(secret, 'now-there');
    await a.resync();
    const id = await runningId('default/nofile');
    expect((await inspect(id)).Config.Env).toContain('DB_PASSWORD=now-there');
    await rm(secret);
  });

  it('asks the engine for GPUs with DeviceRequests; an engine without a GPU runtime refuses to start it, and status says so', async () => {
    world = await AgentWorld.create();
    await world.writeSession({ name: 'gpu', spec: { command: ['sleep', 'infinity'], gpus: { count: 1 } } });
    await start();
    const id = await eventually(async () => {
      const c = (await world.containers()).get('default/gpu');
      expect(c).toBeDefined();
      return c?.id ?? '';
    });
    expect((await inspect(id)).HostConfig.DeviceRequests).toEqual([expect.objectContaining({ Driver: '', Count: 1, Capabilities: [['gpu']] })]);
    // This machine has no GPU: dockerd 20.10 creates the container and refuses the start.
    await eventually(async () => {
      const s = await status('default/gpu');
      expect(s?.phase).toBe('Creating');
      expect(s?.message).toContain('could not select device driver "" with capabilities: [[gpu]]');
    });
  });
});

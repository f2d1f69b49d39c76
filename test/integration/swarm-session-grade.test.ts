// --runtime swarm and the session-grade fields on the real single-node swarm: those Swarm has a
// place for reach the service spec and the task's container (docker inspect), shmSize as a tmpfs
// on /dev/shm; devices and GPUs are refused (Stalled UnsupportedByRuntime, naming the field and
// the runtime) and no service is made. Every service carries this run's unique agent name.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { pino } from 'pino';
import type { RunningAgent } from '../../agent/agent.ts';
import { startAgent } from '../../agent/agent.ts';
import { STATE_FILES } from '../../agent/state-layout.ts';
import { FileStatusStore } from '../../agent/status/file-status-store.ts';
import type { SessionStatus } from '../../crds/types.ts';
import { dockerCli } from '../support/docker.ts';
import { AgentWorld } from '../support/agent-process.ts';
import { inProcessAgentConfig, testPolicy } from '../support/agent-config.ts';
import { consistently, eventually } from '../support/eventually.ts';
import { requireTestSwarm, serviceTasks } from '../support/swarm.ts';

const MiB = 1024 * 1024;

async function serviceIds(world: AgentWorld): Promise<string[]> {
  return (await dockerCli(['service', 'ls', '--quiet', '--filter', `label=dockerlet.dev/agent=${world.agentName}`])).split('\n').filter(Boolean);
}

describe('--runtime swarm: session-grade fields', () => {
  let world: AgentWorld | undefined;
  let agent: RunningAgent | undefined;

  beforeAll(requireTestSwarm);

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    if (world) {
      const ids = await serviceIds(world);
      if (ids.length > 0) await dockerCli(['service', 'rm', ...ids]);
      await world.cleanup();
    }
    world = undefined;
  });

  async function start(w: AgentWorld): Promise<RunningAgent> {
    // Allowed by the host policy, so what is judged is what Swarm can run (devices and GPUs: nothing).
    const policy = testPolicy({ capabilities: ['SYS_PTRACE'], devices: ['/dev/zero', 'gpus'] });
    agent = await startAgent(await inProcessAgentConfig(w, { runtime: 'swarm', policy }), { logger: pino({ level: 'silent' }) });
    return agent;
  }

  it('carries user, workingDir, hostname, shmSize, capabilities, stop signal and grace, logging, ulimits, read-only root and tmpfs into the service and its task', async () => {
    const w = (world = await AgentWorld.create());
    await w.writeSession({
      name: 'desk',
      spec: {
        command: ['sleep', 'infinity'],
        user: '1000:1000',
        workingDir: '/tmp',
        hostname: 'desk-1',
        shmSize: '48Mi',
        capabilities: { add: ['SYS_PTRACE'], drop: ['NET_RAW'] },
        stopSignal: 'SIGINT',
        stopGracePeriodSeconds: 5,
        logging: { driver: 'json-file', options: { 'max-size': '1m' } },
        ulimits: [{ name: 'nofile', soft: 256, hard: 512 }],
        readOnlyRootFilesystem: true,
        tmpfs: [{ mountPath: '/scratch', sizeLimit: '4Mi', mode: 0o700 }],
        readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 },
      },
    });
    await start(w);
    const { service, container } = await eventually(
      async () => {
        const [id] = await serviceIds(w);
        expect(id).toBeDefined();
        const [task] = (await serviceTasks(id!)).filter((t) => t.state === 'running');
        expect(task).toBeDefined();
        return { service: id!, container: task!.containerId };
      },
      { timeoutMs: 60_000, message: 'desk runs as a service' },
    );
    const template = JSON.parse(await dockerCli(['service', 'inspect', '--format', '{{json .Spec.TaskTemplate}}', service])) as {
      ContainerSpec: Record<string, unknown>;
      LogDriver?: { Name: string; Options?: Record<string, string> };
    };
    expect(template.ContainerSpec).toMatchObject({
      User: '1000:1000',
      Dir: '/tmp',
      Hostname: 'desk-1',
      StopSignal: 'SIGINT',
      StopGracePeriod: 5_000_000_000,
      ReadOnly: true,
      CapabilityAdd: ['SYS_PTRACE'],
      CapabilityDrop: ['NET_RAW'],
      Ulimits: [{ Name: 'nofile', Soft: 256, Hard: 512 }],
    });
    expect(template.LogDriver).toEqual({ Name: 'json-file', Options: { 'max-size': '1m' } });
    // The exec probe is the service's healthcheck; the task ran only once it passed, so it is Ready.
    // (A zero start period is left out by the engine.)
    const healthcheck = { Test: ['CMD', 'true'], Interval: 1e9, Timeout: 1e9, Retries: 3 };
    expect(template.ContainerSpec['Healthcheck']).toEqual(healthcheck);
    await eventually(async () => expect((await w.sessionStatus('default/desk'))?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' }), {
      timeoutMs: 20_000,
      message: 'desk Ready',
    });

    const info = (JSON.parse(await dockerCli(['inspect', container])) as Array<{ Config: Record<string, unknown>; HostConfig: Record<string, unknown> }>)[0]!;
    expect(info.Config).toMatchObject({ User: '1000:1000', WorkingDir: '/tmp', Hostname: 'desk-1', StopSignal: 'SIGINT', Healthcheck: healthcheck });
    expect(info.HostConfig).toMatchObject({
      CapAdd: ['SYS_PTRACE'],
      CapDrop: ['NET_RAW'],
      ReadonlyRootfs: true,
      Ulimits: [{ Name: 'nofile', Soft: 256, Hard: 512 }],
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
    });
    expect(info.HostConfig['Mounts']).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Type: 'tmpfs', Target: '/scratch', TmpfsOptions: { SizeBytes: 4 * MiB, Mode: 0o700 } }),
        expect.objectContaining({ Type: 'tmpfs', Target: '/dev/shm', TmpfsOptions: { SizeBytes: 48 * MiB } }),
      ]),
    );
    const [uid, shm] = (await dockerCli(['exec', container, 'sh', '-c', 'id -u; df -k /dev/shm | tail -1'])).split('\n');
    expect(uid).toBe('1000');
    expect(shm?.split(/\s+/)[1]).toBe(String(48 * 1024));
  });

  it('refuses devices and GPUs, naming the field and the runtime, and makes no service', async () => {
    const w = (world = await AgentWorld.create());
    await w.writeSession({ name: 'gpu', spec: { command: ['sleep', 'infinity'], devices: [{ hostPath: '/dev/zero' }], gpus: { all: true } } });
    await start(w);
    await eventually(async () => {
      const status = (await FileStatusStore.readSnapshot<SessionStatus>(join(w.stateDir, STATE_FILES.sessions))).get('default/gpu');
      const stalled = status?.conditions?.find((c) => c.type === 'Stalled');
      expect(status?.phase).toBe('Pending');
      expect(stalled).toMatchObject({ status: 'True', reason: 'UnsupportedByRuntime' });
      expect(stalled?.message).toContain('spec.devices: Forbidden: not supported with --runtime swarm');
      expect(stalled?.message).toContain('spec.gpus: Forbidden: not supported with --runtime swarm');
    });
    await consistently(async () => expect(await serviceIds(w)).toEqual([]), { durationMs: 1_500, intervalMs: 250 });
  });
});

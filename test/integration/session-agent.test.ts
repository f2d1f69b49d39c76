// The agent in-process against the real engine: drift repair, crash-loop back-off, ownership and
// garbage-collection safety, and the cost of a resync counted through the runtime's own metric.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import type { AgentConfig } from '../../agent/config.ts';
import { STATE_FILES } from '../../agent/state-layout.ts';
import { FileStatusStore } from '../../agent/status/file-status-store.ts';
import type { AgentStatus } from '../../crds/types.ts';
import { dockerCli, requireTestEngine, TEST_IMAGE } from '../support/docker.ts';
import { AgentWorld, condition, getSessions, metricValue } from '../support/agent-process.ts';
import { inProcessAgentConfig } from '../support/agent-config.ts';
import { consistently, eventually } from '../support/eventually.ts';

const sleeper = { command: ['sleep', 'infinity'] };

async function metrics(agent: RunningAgent): Promise<string> {
  return agent.registry.metrics();
}

describe('session agent against the real engine', () => {
  let world: AgentWorld;
  let agent: RunningAgent | undefined;

  beforeAll(requireTestEngine);

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await world?.cleanup();
  });

  async function start(overrides: Partial<AgentConfig> = {}): Promise<RunningAgent> {
    agent = await startAgent(await inProcessAgentConfig(world, overrides), { logger: pino({ level: 'silent' }) });
    return agent;
  }

  async function running(key: string): Promise<string> {
    return eventually(async () => {
      const c = (await world.containers()).get(key);
      expect(c?.state).toBe('running');
      return c?.id ?? '';
    });
  }

  it('repairs a removed or killed container within about a second', async () => {
    world = await AgentWorld.create();
    await world.writeSession({ name: 'drift', spec: sleeper });
    await start();
    const first = await running('default/drift');
    // Created by image ID (the engine's list then skips a name lookup per container), with the
    // name the Session gave in a label.
    const [configImage, imageId, imageLabel] = (
      await dockerCli(['inspect', '-f', '{{.Config.Image}} {{.Image}} {{index .Config.Labels "dockerlet.dev/image"}}', first])
    ).trim().split(' ');
    expect(configImage).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(configImage).toBe(imageId);
    expect(imageLabel).toBe(TEST_IMAGE);

    await dockerCli(['rm', '-f', first]);
    const second = await eventually(
      async () => {
        const c = (await world.containers()).get('default/drift');
        expect(c?.state).toBe('running');
        expect(c?.id).not.toBe(first);
        return c?.id ?? '';
      },
      { timeoutMs: 3_000, intervalMs: 50, message: 'recreated after docker rm -f' },
    );

    await dockerCli(['kill', second]);
    await eventually(async () => expect((await world.containers()).get('default/drift')).toEqual({ id: second, state: 'running' }), {
      timeoutMs: 3_000,
      intervalMs: 50,
      message: 'restarted after docker kill',
    });
  });

  it('restarts a container that exits at once with growing back-off, not in a hot loop', async () => {
    world = await AgentWorld.create();
    await world.writeSession({ name: 'crasher', spec: { command: ['sh', '-c', 'exit 3'] } });
    const a = await start();
    const id = await eventually(async () => {
      const c = (await world.containers()).get('default/crasher');
      expect(c).toBeDefined();
      return c?.id ?? '';
    });
    // Seven restarts: the engine's back-off (100 ms doubling) then exceeds the ~0.3-1.5 s a
    // container start costs on a small machine, so growth is visible above that noise.
    await eventually(
      async () => expect(Number(await dockerCli(['inspect', '--format', '{{.RestartCount}}', id]))).toBeGreaterThanOrEqual(7),
      { timeoutMs: 60_000, intervalMs: 250, message: 'seven restarts' },
    );
    const created = await dockerCli(['inspect', '--format', '{{.Created}}', id]);
    const events = await dockerCli(['events', '--since', created, '--until', new Date().toISOString(), '--filter', `container=${id}`, '--filter', 'event=start', '--format', '{{.TimeNano}}']);
    const starts = events.split('\n').filter(Boolean).map(Number);
    const gaps = starts.slice(1).map((t, i) => (t - (starts[i] ?? t)) / 1e6);
    // A hot loop would have started it hundreds of times by now.
    expect(starts.length).toBeLessThan(12);
    // The engine's back-off (100 ms doubling) is >= 3.2 s by the sixth restart and <= 0.2 s for the
    // first two; container start latency (seconds on a loaded 2-core machine) is in every gap, so
    // compare differences, not ratios.
    expect(Math.max(...gaps.slice(-2))).toBeGreaterThan(Math.min(...gaps.slice(0, 2)) + 1_500);
    // The agent started it once and left the crash loop to the engine: no start of its own raced
    // the engine's back-off, and the container was never replaced.
    expect(metricValue(await metrics(a), 'dockerlet_docker_api_requests_total', { op: 'start' })).toBe(1);
    expect(metricValue(await metrics(a), 'dockerlet_docker_api_requests_total', { op: 'create' })).toBe(1);
    expect((await world.containers()).get('default/crasher')?.id).toBe(id);
    await eventually(async () => {
      const status = condition((await getSessions(world)).find((v) => v.metadata.name === 'crasher'), 'Ready');
      expect(status?.reason).toBe('CrashLoopBackOff');
    });
  });

  it('never touches a container without our labels, and removes one with our labels and no Session', async () => {
    world = await AgentWorld.create();
    await world.writeSession({ name: 'kept', spec: sleeper });
    const foreign = await dockerCli(['run', '-d', '--label', `test.owner=${world.agentName}`, TEST_IMAGE, 'sleep', 'infinity']);
    const orphan = await dockerCli([
      'run',
      '-d',
      '--label',
      'dockerlet.dev/managed-by=dockerlet',
      '--label',
      `dockerlet.dev/agent=${world.agentName}`,
      '--label',
      'dockerlet.dev/namespace=default',
      '--label',
      'dockerlet.dev/name=orphan',
      TEST_IMAGE,
      'sleep',
      'infinity',
    ]);
    try {
      const a = await start();
      await running('default/kept');
      await eventually(async () => expect((await world.containers()).has('default/orphan')).toBe(false), { message: 'orphan removed' });
      await a.resync();
      await eventually(async () => expect(metricValue(await metrics(a), 'dockerlet_workqueue_depth')).toBe(0));
      expect(await dockerCli(['inspect', '--format', '{{.State.Status}}', foreign])).toBe('running');
      await expect(dockerCli(['inspect', orphan])).rejects.toThrow();
    } finally {
      await dockerCli(['rm', '-f', foreign]);
    }
  });

  it('removes nothing when the store directory is empty or missing', async () => {
    for (const mode of ['empty', 'missing'] as const) {
      world = await AgentWorld.create();
      await world.writeSession({ name: 'survivor', spec: sleeper });
      let a = await start();
      const id = await running('default/survivor');
      await a.stop();
      await world.removeFile('default-survivor.yaml');
      if (mode === 'missing') await rm(world.storeDir, { recursive: true });
      a = await start();
      await a.resync();
      await eventually(async () => expect(metricValue(await metrics(a), 'dockerlet_reconcile_total', { controller: 'session' })).toBeGreaterThanOrEqual(2));
      await a.resync();
      expect((await world.containers()).get('default/survivor')).toEqual({ id, state: 'running' });
      await a.stop();
      agent = undefined;
      await world.cleanup();
    }
  });

  it('keeps its own agent record Online with fresh string timestamps (status in the state dir)', async () => {
    world = await AgentWorld.create();
    await start({ heartbeatIntervalMs: 500, livenessGraceMs: 1_500 });
    const record = async (): Promise<AgentStatus | undefined> =>
      (await FileStatusStore.readSnapshot<AgentStatus>(join(world.stateDir, STATE_FILES.agents))).get(world.agentName);
    await eventually(async () => expect((await record())?.state).toBe('Online'));
    // Several grace periods: the liveness tick's re-reads must never lose a beat.
    await consistently(
      async () => {
        const status = await record();
        expect(status?.state).toBe('Online');
        expect(typeof status?.lastHeartbeatTime).toBe('string');
        // Still beating (the exact age also carries the 200 ms batched write and scheduling).
        expect(Date.now() - Date.parse(status?.lastHeartbeatTime ?? '')).toBeLessThan(3 * 1_500);
      },
      { durationMs: 5_000, intervalMs: 200, message: 'own record Online' },
    );
  });

  it('resyncs N running sessions with one list call and no inspect', async () => {
    world = await AgentWorld.create();
    const n = 10;
    for (let i = 0; i < n; i += 1) await world.writeSession({ name: `r${i}`, spec: sleeper });
    const a = await start();
    await eventually(async () => {
      const containers = await world.containers();
      expect([...containers.values()].filter((c) => c.state === 'running').length).toBe(n);
    });
    // Let the start-up reconciles and their events settle before counting.
    await eventually(async () => {
      const text = await metrics(a);
      expect(metricValue(text, 'dockerlet_workqueue_depth')).toBe(0);
      const successes = metricValue(text, 'dockerlet_reconcile_total', { controller: 'session', result: 'success' });
      expect(successes).toBeGreaterThanOrEqual(n);
    });
    const before = await metrics(a);
    const reconcilesBefore = metricValue(before, 'dockerlet_reconcile_total', { controller: 'session' });
    await a.resync();
    await eventually(async () => {
      const text = await metrics(a);
      expect(metricValue(text, 'dockerlet_reconcile_total', { controller: 'session' }) - reconcilesBefore).toBeGreaterThanOrEqual(n);
      expect(metricValue(text, 'dockerlet_workqueue_depth')).toBe(0);
    });
    const after = await metrics(a);
    const delta = (op: string): number =>
      metricValue(after, 'dockerlet_docker_api_requests_total', { op }) - metricValue(before, 'dockerlet_docker_api_requests_total', { op });
    expect(delta('list')).toBe(1);
    expect(delta('inspect')).toBe(0);
    for (const op of ['create', 'start', 'stop', 'remove', 'update', 'image_inspect', 'pull']) expect(delta(op), op).toBe(0);
    // The agent timed that resync itself, relist to last key reconciled.
    const timed = (text: string, name: string): number => metricValue(text, name, { controller: 'session' });
    expect(timed(after, 'dockerlet_resync_duration_seconds_count') - timed(before, 'dockerlet_resync_duration_seconds_count')).toBe(1);
    expect(timed(after, 'dockerlet_resync_duration_seconds_sum') - timed(before, 'dockerlet_resync_duration_seconds_sum')).toBeGreaterThan(0);
  });
});

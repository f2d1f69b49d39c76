// Probes through the whole agent, on the real engine: an httpGet readiness probe the agent runs
// against the container's bridge address keeps the Session Running but not Ready until it serves,
// then Ready within about one period; an exec probe is the container's own HEALTHCHECK (docker
// inspect shows it) and a failing exec liveness probe restarts the same container, counted.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import type { SessionStatus } from '../../crds/types.ts';
import { getCondition } from '../../reconciler/conditions.ts';
import { dockerCli, requireTestEngine } from '../support/docker.ts';
import { AgentWorld } from '../support/agent-process.ts';
import { inProcessAgentConfig } from '../support/agent-config.ts';
import { eventually } from '../support/eventually.ts';

interface Inspect {
  Id: string;
  RestartCount: number;
  Config: { Healthcheck?: { Test: string[]; Interval: number; Timeout: number; Retries: number; StartPeriod: number } };
  State: { Health?: { Status: string } };
}

async function inspect(id: string): Promise<Inspect> {
  return (JSON.parse(await dockerCli(['inspect', id])) as Inspect[])[0] as Inspect;
}

describe('probes on the real engine', () => {
  let world: AgentWorld;
  let agent: RunningAgent | undefined;

  beforeAll(requireTestEngine);

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await world?.cleanup();
  });

  async function start(): Promise<void> {
    agent = await startAgent(await inProcessAgentConfig(world), { logger: pino({ level: 'silent' }) });
  }

  const status = (key: string): Promise<SessionStatus | undefined> => world.sessionStatus(key);
  const runningId = (key: string): Promise<string> => world.runningContainer(key);

  it('httpGet readiness: Running but not Ready while it fails, Ready within one period once it serves', async () => {
    world = await AgentWorld.create();
    const periodSeconds = 2;
    await world.writeSession({
      name: 'web',
      spec: {
        command: ['sh', '-c', 'mkdir -p /www && exec httpd -f -p 8080 -h /www'],
        ports: [{ containerPort: 8080 }],
        readinessProbe: { httpGet: { port: 8080, path: '/ready.txt' }, periodSeconds, failureThreshold: 1 },
      },
    });
    await start();
    const id = await runningId('default/web');
    const failing = await eventually(
      async () => {
        const s = await status('default/web');
        expect(getCondition(s?.conditions, 'Ready')?.message).toContain('failed 1 times in a row: HTTP 404');
        return s;
      },
      { timeoutMs: 20_000, message: 'Ready=False with the probe output' },
    );
    expect(failing?.phase).toBe('Running');
    expect(getCondition(failing?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'ProbeFailed' });
    expect(getCondition(failing?.conditions, 'Reconciling')).toMatchObject({ status: 'True', reason: 'ProbeFailed' });

    await dockerCli(['exec', id, 'touch', '/www/ready.txt']);
    const servedAt = Date.now();
    // One period until the next check, plus a reconcile and a status write.
    await eventually(
      async () => expect(getCondition((await status('default/web'))?.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'Running' }),
      { timeoutMs: periodSeconds * 1000 + 1_500, message: 'Ready within one period' },
    );
    expect(Date.now() - servedAt).toBeLessThan(periodSeconds * 1000 + 1_500);
    expect((await status('default/web'))?.containerID).toBe(id);
    // httpGet is the agent's: the container has no HEALTHCHECK.
    expect((await inspect(id)).Config.Healthcheck).toBeUndefined();
  });

  it('exec readiness is the HEALTHCHECK (docker inspect); a failing exec liveness probe restarts the same container', async () => {
    world = await AgentWorld.create();
    const exec = { exec: { command: ['cat', '/tmp/ok'] }, periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 2, initialDelaySeconds: 3 };
    await world.writeSession({ name: 'ready', spec: { command: ['sleep', '3600'], readinessProbe: exec } });
    await world.writeSession({ name: 'live', spec: { command: ['sleep', '3600'], livenessProbe: { ...exec, initialDelaySeconds: 0 }, restartPolicy: 'Always' } });
    await start();

    const readyId = await runningId('default/ready');
    expect((await inspect(readyId)).Config.Healthcheck).toEqual({ Test: ['CMD', 'cat', '/tmp/ok'], Interval: 1e9, Timeout: 2e9, Retries: 2, StartPeriod: 3e9 });
    await eventually(
      async () => {
        const s = await status('default/ready');
        expect(s?.phase).toBe('Running');
        expect(getCondition(s?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'ProbeFailed' });
        expect(getCondition(s?.conditions, 'Ready')?.message).toContain("readinessProbe exec [cat /tmp/ok] failed 2 times in a row: cat: can't open '/tmp/ok'");
      },
      { timeoutMs: 20_000, message: 'exec readiness failing' },
    );
    await dockerCli(['exec', readyId, 'touch', '/tmp/ok']);
    await eventually(async () => expect(getCondition((await status('default/ready'))?.conditions, 'Ready')).toMatchObject({ status: 'True' }), {
      timeoutMs: 5_000,
      message: 'exec readiness passes',
    });

    const liveId = await runningId('default/live');
    await eventually(
      async () => {
        const s = await status('default/live');
        expect(s?.restartCount ?? 0).toBeGreaterThanOrEqual(2);
        expect(s?.containerID).toBe(liveId);
      },
      { timeoutMs: 30_000, message: 'restarted twice by liveness' },
    );
    expect((await world.containers()).get('default/live')?.id).toBe(liveId);
    // The agent stops and starts it: the engine's own restart count stays where it was.
    expect((await inspect(liveId)).RestartCount).toBe(0);
  });
});

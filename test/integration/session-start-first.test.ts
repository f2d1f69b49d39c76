// updateStrategy StartFirst through the whole agent, on the real engine: an image change starts the
// new container next to the old one and hands over only once its readiness probe passes; polled
// throughout, the Session always has a container that serves and status never leaves Ready. A new
// version that never gets Ready is given up after progressDeadlineSeconds: the old container keeps
// serving (same ID), the new one is gone, and the Session is Stalled ProgressDeadlineExceeded.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import type { SessionStatus } from '../../crds/types.ts';
import { getCondition } from '../../reconciler/conditions.ts';
import { dockerCli, requireTestEngine, TEST_IMAGE } from '../support/docker.ts';
import { AgentWorld } from '../support/agent-process.ts';
import { inProcessAgentConfig } from '../support/agent-config.ts';
import { eventually } from '../support/eventually.ts';

/** httpd that serves /ready.txt only after a moment, as a real service takes time to warm up. */
const SLOW_START = ['sh', '-c', 'mkdir -p /www && (sleep 2 && echo ok >/www/ready.txt) & exec httpd -f -p 8080 -h /www'];
const READINESS = { httpGet: { port: 8080, path: '/ready.txt' }, periodSeconds: 1, failureThreshold: 1 };

interface Inspect {
  Id: string;
  Name: string;
  State: { Running: boolean };
  NetworkSettings: { IPAddress: string };
}

describe('updateStrategy StartFirst on the real engine', () => {
  let world: AgentWorld;
  let agent: RunningAgent | undefined;

  beforeAll(requireTestEngine);

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await world?.cleanup();
  });

  const status = (): Promise<SessionStatus | undefined> => world.sessionStatus('default/web');

  /** The Session's containers, as the engine has them. */
  async function containers(): Promise<Inspect[]> {
    const ids = (await dockerCli(['ps', '--all', '--quiet', '--no-trunc', '--filter', `label=dockerlet.dev/agent=${world.agentName}`, '--filter', 'label=dockerlet.dev/name=web']))
      .split('\n')
      .filter(Boolean);
    // One by one: a container removed between the list and its inspect (the handover) is skipped.
    const found = await Promise.all(ids.map((id) => dockerCli(['inspect', id]).then((text) => (JSON.parse(text) as Inspect[])[0], () => undefined)));
    return found.filter((c): c is Inspect => c !== undefined);
  }

  /** Whether any container of the Session answers its readiness URL with 200. */
  async function serving(): Promise<boolean> {
    for (const c of await containers()) {
      if (!c.State.Running || !c.NetworkSettings.IPAddress) continue;
      const ok = await fetch(`http://${c.NetworkSettings.IPAddress}:8080/ready.txt`, { signal: AbortSignal.timeout(1_000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return true;
    }
    return false;
  }

  async function readyWith(id?: string): Promise<SessionStatus | undefined> {
    return eventually(
      async () => {
        const s = await status();
        expect(getCondition(s?.conditions, 'Ready')).toMatchObject({ status: 'True' });
        expect(getCondition(s?.conditions, 'Reconciling')).toMatchObject({ status: 'False' });
        if (id) expect(s?.containerID).not.toBe(id);
        return s;
      },
      { timeoutMs: 30_000, message: 'web Ready' },
    );
  }

  it('an image change never leaves the Session without a Ready container', async () => {
    world = await AgentWorld.create();
    const spec = { command: SLOW_START, ports: [{ containerPort: 8080 }], readinessProbe: READINESS, updateStrategy: { type: 'StartFirst' }, progressDeadlineSeconds: 60 };
    await world.writeSession({ name: 'web', spec });
    agent = await startAgent(await inProcessAgentConfig(world), { logger: pino({ level: 'silent' }) });
    const first = (await readyWith())?.containerID ?? '';

    // Poll throughout the rollout: some container serves, and status stays Ready.
    const gaps: string[] = [];
    let polls = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        polls += 1;
        const [s, up] = await Promise.all([status(), serving()]);
        if (!up) gaps.push(`poll ${polls}: no container serves`);
        if (getCondition(s?.conditions, 'Ready')?.status !== 'True') gaps.push(`poll ${polls}: Ready is ${getCondition(s?.conditions, 'Ready')?.status} (${getCondition(s?.conditions, 'Ready')?.reason})`);
      }
    })();

    // The same image by ID: a new config hash, so a new container.
    const imageId = (await dockerCli(['image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE])).trim();
    await world.writeSession({ name: 'web', spec: { ...spec, image: imageId } });
    const during = await eventually(
      async () => {
        const all = await containers();
        expect(all.map((c) => c.Name)).toContain(`/dockerlet_default_web_${world.agentName}-next`);
        return all;
      },
      { timeoutMs: 20_000, message: 'the new container starts next to the old one' },
    );
    expect(during.find((c) => c.Id === first)?.State.Running).toBe(true);
    const after = await readyWith(first);
    polling = false;
    await poller;

    expect(gaps).toEqual([]);
    expect(polls).toBeGreaterThan(3);
    const left = await containers();
    expect(left.map((c) => [c.Id, c.Name])).toEqual([[after?.containerID, `/dockerlet_default_web_${world.agentName}`]]);
  });

  it('a version that never gets Ready is given up after progressDeadlineSeconds; the old one keeps serving', async () => {
    world = await AgentWorld.create();
    const spec = { command: SLOW_START, ports: [{ containerPort: 8080 }], readinessProbe: READINESS, updateStrategy: { type: 'StartFirst' }, progressDeadlineSeconds: 4 };
    await world.writeSession({ name: 'web', spec });
    agent = await startAgent(await inProcessAgentConfig(world), { logger: pino({ level: 'silent' }) });
    const first = (await readyWith())?.containerID ?? '';

    // The new version never writes ready.txt.
    await world.writeSession({ name: 'web', spec: { ...spec, command: ['sh', '-c', 'mkdir -p /www && exec httpd -f -p 8080 -h /www'] } });
    const stalled = await eventually(
      async () => {
        const s = await status();
        expect(getCondition(s?.conditions, 'Stalled')).toMatchObject({ status: 'True', reason: 'ProgressDeadlineExceeded' });
        return s;
      },
      { timeoutMs: 30_000, message: 'Stalled ProgressDeadlineExceeded' },
    );
    expect(getCondition(stalled?.conditions, 'Stalled')?.message).toContain('not Ready within progressDeadlineSeconds (4 s)');
    expect(getCondition(stalled?.conditions, 'Ready')).toMatchObject({ status: 'True' });
    expect(stalled?.containerID).toBe(first);
    await eventually(async () => expect((await containers()).map((c) => c.Id)).toEqual([first]), { timeoutMs: 10_000, message: 'only the old container is left' });
    expect(await serving()).toBe(true);
  });
});

// The agent in-process as an elected leader (file backend, real flock helper, real engine, real
// HTTP server): stepping down with an engine call in flight, and /healthz for a leader that has
// missed its renew deadline without stepping down.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Logger } from 'pino';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import type { AgentConfig } from '../../agent/config.ts';
import type { Clock } from '../../reconciler/clock.ts';
import { FakeClock } from '../../reconciler/fake-clock.ts';
import { inProcessAgentConfig } from '../support/agent-config.ts';
import { AgentWorld, metricValue } from '../support/agent-process.ts';
import { dockerCli, requireTestEngine } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';

interface LogLine {
  msg: string;
  key?: string;
}

let world: AgentWorld | undefined;
let agent: RunningAgent | undefined;

beforeAll(requireTestEngine);

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await world?.cleanup();
  world = undefined;
});

function capture(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { logger: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) }), lines };
}

async function startLeader(overrides: Partial<AgentConfig>, deps: { logger: Logger; clock?: Clock }): Promise<{ agent: RunningAgent; config: AgentConfig }> {
  world = await AgentWorld.create();
  const config = await inProcessAgentConfig(world, { leaderElection: 'file', ...overrides });
  agent = await startAgent(config, deps);
  const started = agent;
  await eventually(() => expect(started.isLeader()).toBe(true), { message: 'the only replica leads' });
  return { agent: started, config };
}

describe('an agent stepping down', () => {
  it('with a docker stop in flight: the call is abandoned, the reconcile ends, then the lease is released', async () => {
    const { logger, lines } = capture();
    // sleep as PID 1 ignores SIGTERM: the engine would wait the whole stop timeout, then kill.
    const { agent: leader } = await startLeader({ stopTimeoutSeconds: 10 }, { logger });
    const w = world!;
    await w.writeSession({ name: 'slow', spec: { command: ['sleep', 'infinity'] } });
    const id = await eventually(async () => {
      const c = (await w.containers()).get('default/slow');
      expect(c?.state).toBe('running');
      return c!.id;
    });
    const since = new Date().toISOString();
    await w.writeSession({ name: 'slow', spec: { command: ['sleep', 'infinity'], state: 'Stopped' } });
    // The engine has the stop request once it has sent SIGTERM (its kill event).
    await eventually(
      async () => {
        const kills = await dockerCli(['events', '--since', since, '--until', new Date().toISOString(), '--filter', `container=${id}`, '--filter', 'event=kill', '--format', '{{.Action}}']);
        expect(kills).toContain('kill');
      },
      { timeoutMs: 15_000, message: 'the leader asked the engine to stop the container' },
    );

    const stopAt = Date.now();
    await leader.stop(); // what SIGTERM does
    agent = undefined;
    // Not the engine's 10 s: the request was abandoned, and had ended by the time stop() returned.
    expect(Date.now() - stopAt).toBeLessThan(5_000);
    expect(metricValue(await leader.registry.metrics(), 'dockerlet_docker_api_requests_total', { op: 'stop', result: 'error' })).toBe(1);
    // The cancelled reconcile (its refresh and status write after the abort) ended before the
    // elector let the lease go.
    const settled = lines.findIndex((l) => l.msg === 'abandoned reconcile settled' && l.key === 'default/slow');
    const released = lines.findIndex((l) => l.msg === 'leader election stopped');
    expect(settled).toBeGreaterThanOrEqual(0);
    expect(released).toBeGreaterThan(settled);
  });
});

describe('/healthz', () => {
  it('fails only while a leader is past renew deadline + retry period without having stepped down', async () => {
    // Time that moves while timers do not fire: a blocked event loop or a renewal stuck in a way
    // the elector's own deadline cannot catch. The only way to hold a real leader in that state.
    const timers = new FakeClock(Date.now());
    let skewMs = 0;
    const stuck: Clock = { now: () => timers.now() + skewMs, setTimeout: (fn, ms) => timers.setTimeout(fn, ms), clearTimeout: (h) => timers.clearTimeout(h) };
    const { agent: leader, config } = await startLeader({}, { logger: pino({ level: 'silent' }), clock: stuck });
    const healthz = async (): Promise<{ status: number; body: string }> => {
      const response = await fetch(`http://127.0.0.1:${config.listenPort}/healthz`);
      return { status: response.status, body: await response.text() };
    };
    expect(await healthz()).toEqual({ status: 200, body: 'ok\n' });

    // Since acquiring, no renewal has been sent (its timer never fired).
    skewMs = config.renewDeadlineMs + config.retryPeriodMs;
    expect((await healthz()).status).toBe(200);
    skewMs += 1;
    expect(await healthz()).toEqual({ status: 503, body: 'leader missed its renew deadline without stepping down\n' });

    // The timers fire: the elector sees the missed deadline and steps down; a standby is healthy.
    await timers.advanceAsync(config.retryPeriodMs);
    await eventually(() => expect(leader.isLeader()).toBe(false), { message: 'stepped down' });
    expect(await healthz()).toEqual({ status: 200, body: 'ok\n' });
  });
});

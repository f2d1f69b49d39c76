// High availability with real agent processes, a real engine and real Redis: exactly one leader
// at a time (proved by the fencing ledger every replica appends to), fast failover on kill -9
// and SIGTERM while Sessions converge, step-down when Redis goes away, and Online/Offline from
// heartbeats.
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { findOverlaps, readLedger } from '../../reconciler/leader-ledger.ts';
import { requireTestEngine } from '../support/docker.ts';
import { requireTestRedis, startPrivateRedis, TEST_REDIS_URL } from '../support/redis.ts';
import { AgentProcess, AgentWorld } from '../support/agent-process.ts';
import { consistently, eventually } from '../support/eventually.ts';

// Short timings keep ten failovers quick; the bounds below are stated in terms of them.
const LEASE_MS = 4_000;
const RETRY_MS = 500;
const TIMINGS = ['--lease-duration', `${LEASE_MS}ms`, '--renew-deadline', '3s', '--retry-period', `${RETRY_MS}ms`, '--heartbeat-interval', '1s'];
const sleeper = { command: ['sleep', 'infinity'] };

const worlds: AgentWorld[] = [];
const processes: AgentProcess[] = [];

async function newWorld(): Promise<AgentWorld> {
  const world = await AgentWorld.create();
  worlds.push(world);
  return world;
}

async function startReplica(world: AgentWorld, args: string[]): Promise<AgentProcess> {
  const replica = new AgentProcess(world, args);
  processes.push(replica);
  await replica.start();
  return replica;
}

async function theLeader(replicas: AgentProcess[]): Promise<AgentProcess> {
  return eventually(
    async () => {
      const leading = [];
      for (const r of replicas) if (await r.leading()) leading.push(r);
      expect(leading).toHaveLength(1);
      return leading[0] as AgentProcess;
    },
    { timeoutMs: 30_000, intervalMs: 50, message: 'exactly one leader' },
  );
}

afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
  await Promise.all(worlds.splice(0).map((w) => w.cleanup()));
});

beforeAll(async () => {
  await requireTestEngine();
  await requireTestRedis();
});

describe.each(['redis', 'file'] as const)('leader election with the %s backend', (backend) => {
  it('keeps exactly one leader through ten failovers (kill -9 and SIGTERM) while sessions converge', async () => {
    const world = await newWorld();
    const ledger = join(world.root, 'ledger.jsonl');
    const args = ['--leader-election', backend, '--leader-ledger', ledger, ...TIMINGS, ...(backend === 'redis' ? ['--redis', TEST_REDIS_URL] : [])];
    let replicas = await Promise.all([0, 1, 2].map(() => startReplica(world, args)));
    const deaths = new Map<string, Date>();
    const takeovers: { signal: string; ms: number }[] = [];

    for (let round = 0; round < 10; round += 1) {
      await world.writeSession({ name: `ha${round}`, spec: sleeper });
      const leader = await theLeader(replicas);
      const signal = round % 2 === 0 ? 'SIGKILL' : 'SIGTERM';
      const identity = leader.identity();
      const killedAt = Date.now();
      await leader.stop(signal);
      if (signal === 'SIGKILL') deaths.set(identity, new Date(killedAt));
      const survivors = replicas.filter((r) => r !== leader);
      await theLeader(survivors);
      takeovers.push({ signal, ms: Date.now() - killedAt });
      replicas = [...survivors, await startReplica(world, args)];
    }

    // A dead leader's lease must run out first; a released one is taken at the next retry.
    for (const { signal, ms } of takeovers) {
      expect(ms, `${signal} takeover`).toBeLessThanOrEqual(signal === 'SIGKILL' ? LEASE_MS + RETRY_MS + 1_500 : 2_000);
    }
    // Every session ends with exactly one running container (containers() throws on duplicates).
    await eventually(
      async () => {
        const containers = await world.containers();
        expect(containers.size).toBe(10);
        for (const c of containers.values()) expect(c.state).toBe('running');
      },
      { timeoutMs: 60_000, message: 'ten sessions, one container each' },
    );
    const entries = readLedger(ledger);
    expect(entries.filter((e) => e.event === 'start').length).toBeGreaterThanOrEqual(11);
    expect(findOverlaps(entries, { deaths })).toEqual([]);
    const tokens = entries.filter((e) => e.event === 'start').map((e) => e.token);
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(new Set(tokens).size).toBe(tokens.length);
  });
});

describe('redis outage', () => {
  it('the leader stops reconciling by its renew deadline, and one leader returns with Redis', async () => {
    const redis = await startPrivateRedis();
    try {
      const world = await newWorld();
      const args = ['--redis', redis.url, ...TIMINGS];
      const replicas = await Promise.all([0, 1].map(() => startReplica(world, args)));
      await world.writeSession({ name: 'before', spec: sleeper });
      await theLeader(replicas);
      await eventually(async () => expect((await world.containers()).get('default/before')?.state).toBe('running'));

      await redis.stop();
      const stoppedAt = Date.now();
      await eventually(
        async () => {
          for (const r of replicas) expect(await r.leading()).toBe(false);
        },
        { timeoutMs: 10_000, intervalMs: 50, message: 'no leader while Redis is down' },
      );
      expect(Date.now() - stoppedAt).toBeLessThanOrEqual(3_000 + RETRY_MS + 1_000);
      // Nobody reconciles now: a new Session waits.
      await world.writeSession({ name: 'during', spec: sleeper });
      await consistently(async () => expect((await world.containers()).has('default/during')).toBe(false), {
        durationMs: 2_000,
        message: 'no reconcile without a leader',
      });

      await redis.start();
      await theLeader(replicas);
      await eventually(async () => expect((await world.containers()).get('default/during')?.state).toBe('running'), { timeoutMs: 30_000 });
    } finally {
      await redis.dispose();
    }
  });
});

describe('agent heartbeats', () => {
  it('writes string timestamps; a stopped agent shows Offline after the grace period and Online within a beat of returning', async () => {
    const watcher = await newWorld();
    const subject = await newWorld();
    const args = ['--redis', TEST_REDIS_URL, '--heartbeat-interval', '1s', '--liveness-grace', '3s'];
    await startReplica(watcher, args);
    const agent = await startReplica(subject, args);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const record = async (): Promise<Record<string, unknown>> => JSON.parse((await redis.hget('dockerlet:agents', subject.agentName)) ?? '{}') as Record<string, unknown>;
      await eventually(async () => expect((await record()).state).toBe('Online'));
      const online = await record();
      expect(typeof online.lastHeartbeatTime).toBe('string');
      expect(new Date(online.lastHeartbeatTime as string).toISOString()).toBe(online.lastHeartbeatTime);

      // Stopped (SIGTERM releases its lease, so a restart leads and beats at once; a kill -9
      // restart waits out the old lease first, which the failover test covers).
      await agent.stop('SIGTERM');
      // The other agent's liveness controller writes Offline; nobody edits anything by hand.
      await eventually(async () => expect((await record()).state).toBe('Offline'), { timeoutMs: 15_000, message: 'marked Offline' });
      const shown = await subject.cli(['get', 'agents', '-o', 'json', '--redis', TEST_REDIS_URL]);
      expect(shown.stdout).toContain(subject.agentName);

      const restarted = new AgentProcess(subject, args);
      processes.push(restarted);
      const restartAt = Date.now();
      await restarted.start();
      await eventually(async () => expect((await record()).state).toBe('Online'), { timeoutMs: 5_000, intervalMs: 50 });
      expect(Date.now() - restartAt).toBeLessThan(10_000);
    } finally {
      redis.disconnect();
    }
  });
});

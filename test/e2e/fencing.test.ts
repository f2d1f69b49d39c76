// Fencing with real agent processes, the real engine and real Redis: the leader is frozen
// (SIGSTOP) for longer than its lease while Sessions change, a successor takes over and converges
// them, then the old leader is resumed (SIGCONT) with its timers due and its store watcher full of
// news. The evidence comes from records the old leader cannot write or rewrite: each replica
// reaches the engine through its own recording socket (test/support/engine-recorder.ts), and every
// status batch that reaches Redis is appended, written or refused, by Redis' own write script to
// the hash's write log (agent/status/redis-fenced-write.ts).
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readWriteLog } from '../../agent/status/redis-fenced-write.ts';
import type { WriteLogEntry } from '../../agent/status/redis-fenced-write.ts';
import { REDIS_KEYS } from '../../agent/state-layout.ts';
import { readLedger } from '../../reconciler/leader-ledger.ts';
import { AgentReplicas } from '../support/agent-replicas.ts';
import { requireTestEngine } from '../support/docker.ts';
import type { EngineRecorder } from '../support/engine-recorder.ts';
import { expectNoEngineWriteAfterSuccessor, freezeWhileStopping, leaderAndStandby, ledgerStart, resumeUntilStepDown, startRecordedReplicas } from '../support/frozen-leader.ts';
import { consistently, eventually } from '../support/eventually.ts';
import { requireTestRedis, TEST_REDIS_URL } from '../support/redis.ts';

// Short timings so the freeze outlasts the lease quickly (4 s: with 2 s, one run of the Kubernetes
// twin timed out at a load average of 27 on 2 cores); beats every 300 ms so the frozen leader has
// agent-record writes due (and often pending) when it wakes.
const LEASE_MS = 4_000;
const RETRY_MS = 500;
const TIMINGS = ['--lease-duration', `${LEASE_MS}ms`, '--renew-deadline', '3s', '--retry-period', `${RETRY_MS}ms`, '--heartbeat-interval', '300ms'];
const sleeper = (tag: string) => ({ command: ['sleep', 'infinity'], env: [{ name: 'TAG', value: tag }] });

const replicaSet = new AgentReplicas();
const recorders: EngineRecorder[] = [];
afterEach(async () => {
  await replicaSet.cleanup();
  await Promise.all(recorders.splice(0).map((r) => r.close()));
});

beforeAll(async () => {
  await requireTestEngine();
  await requireTestRedis();
});

/** Stream IDs ("ms-seq") in Redis' order. */
function streamOrder(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}

/** Entries of a write log (shared hashes: only these writers) that landed. */
function landed(log: WriteLogEntry[], writer: string): WriteLogEntry[] {
  return log.filter((e) => e.writer === writer && e.result === 'written');
}

describe('fencing with the redis backend', () => {
  it('a leader frozen past its lease sends no engine write and lands no status write after its successor\u2019s first', async () => {
    const world = await replicaSet.newWorld();
    const ledger = join(world.root, 'ledger.jsonl');
    const redis = new Redis(TEST_REDIS_URL);
    try {
      for (const name of ['s0', 's1', 's2']) await world.writeSession({ name, spec: sleeper('v1') });
      const replicas = await startRecordedReplicas(replicaSet, world, 2, ['--redis', TEST_REDIS_URL, '--leader-ledger', ledger, ...TIMINGS], recorders);
      const { old, next, oldId, nextId } = await leaderAndStandby(replicaSet, replicas);
      const s0Before = await world.runningContainer('default/s0');
      const s1Id = await world.runningContainer('default/s1');
      await world.runningContainer('default/s2');
      const oldToken = readLedger(ledger).filter((e) => e.event === 'start' && e.holder === oldId).at(-1)!.token;

      // Frozen in the middle of a reconcile: s1's stop is sent (the engine takes --stop-timeout, 2 s,
      // to answer: sleep ignores SIGTERM), so the final status of that reconcile is still to be
      // written; beats are due too, and the changes written below wait in its store watcher.
      await world.writeSession({ name: 's1', spec: { ...sleeper('v1'), state: 'Stopped' } });
      const frozenAt = await freezeWhileStopping(old, s1Id);
      const frozen = { old, oldId, oldToken, ledger, frozenAt };
      await world.writeSession({ name: 's0', spec: sleeper('v2') });
      await world.writeSession({ name: 's3', spec: sleeper('v1') });
      await world.removeFile('default-s2.yaml');

      // The successor leads once the lease ran out, and converges all three changes.
      const takeover = await ledgerStart(ledger, nextId);
      expect(takeover.token).toBeGreaterThan(oldToken);
      // The lease ran from the last renewal before the freeze (at most a retry period earlier).
      expect(takeover.at.getTime() - frozenAt).toBeGreaterThanOrEqual(LEASE_MS - 2 * RETRY_MS);
      await eventually(
        async () => {
          const containers = await world.containers();
          expect(containers.get('default/s0')?.id).not.toBe(s0Before);
          expect(containers.get('default/s0')?.state).toBe('running');
          expect(containers.get('default/s3')?.state).toBe('running');
          expect(containers.has('default/s2')).toBe(false);
          expect(containers.get('default/s1')?.state).toBe('exited');
          const status = JSON.parse((await redis.hget(REDIS_KEYS.sessions(world.agentName), 'default/s3')) ?? '{}') as { phase?: string };
          expect(status.phase).toBe('Running');
        },
        { timeoutMs: 30_000, message: 'the successor converged the changes and wrote their status' },
      );

      // Resumed: it finds its lease gone and steps down, with whatever it had in flight or due.
      const resumedAt = await resumeUntilStepDown(frozen);

      // Engine: the successor wrote (s0: remove, create, start; s3: create, start; s2: remove), the old leader nothing.
      expectNoEngineWriteAfterSuccessor(frozen, next, 4);

      // Status: in each write log, no batch of the old leader landed after the successor's first.
      const sessionLog = await readWriteLog(redis, REDIS_KEYS.sessions(world.agentName));
      const agentLog = (await readWriteLog(redis, REDIS_KEYS.agents)).filter((e) => e.writer === oldId || e.writer === nextId);
      const refusals: string[] = [];
      for (const [what, log] of [['session status', sessionLog], ['agent records', agentLog]] as const) {
        const first = landed(log, nextId)[0];
        expect(first, `${what}: the successor wrote`).toBeDefined();
        expect(first!.token).toBe(takeover.token);
        // (Should the old replica lead again later, under a new token, its batches are legitimate.)
        const late = landed(log, oldId).filter((e) => e.token <= oldToken && streamOrder(e.id, first!.id) > 0);
        expect(late, `${what}: old leader's batches after the successor's first`).toEqual([]);
        refusals.push(`${what}: ${log.filter((e) => e.writer === oldId && e.result === 'fenced').length} refused in Redis`);
      }
      const localRefusals = old.process.logs.filter((line) => line.includes('not sent')).length;
      console.info(`fencing (redis): frozen ${resumedAt - frozenAt} ms; successor token ${takeover.token} > ${oldToken}; ${refusals.join(', ')}; ${localRefusals} log lines of writes refused locally`);
    } finally {
      redis.disconnect();
    }
  });
});

describe('fencing with the file backend', () => {
  it('no successor leads while the leader is frozen (its flock helper keeps the lock); resumed, it steps down without another engine write', async () => {
    const world = await replicaSet.newWorld();
    const ledger = join(world.root, 'ledger.jsonl');
    for (const name of ['s0', 's1']) await world.writeSession({ name, spec: sleeper('v1') });
    const replicas = await startRecordedReplicas(replicaSet, world, 2, ['--leader-election', 'file', '--leader-ledger', ledger, ...TIMINGS], recorders);
    const { old, next, oldId, nextId } = await leaderAndStandby(replicaSet, replicas);
    const s0Before = await world.runningContainer('default/s0');
    const s1Id = await world.runningContainer('default/s1');

    await world.writeSession({ name: 's1', spec: { ...sleeper('v1'), state: 'Stopped' } });
    const oldToken = readLedger(ledger).filter((e) => e.event === 'start' && e.holder === oldId).at(-1)!.token;
    const frozenAt = await freezeWhileStopping(old, s1Id);
    const frozen = { old, oldId, oldToken, ledger, frozenAt };
    await world.writeSession({ name: 's0', spec: sleeper('v2') });
    await world.writeSession({ name: 's3', spec: sleeper('v1') });
    await consistently(() => expect(readLedger(ledger).some((e) => e.event === 'start' && e.holder === nextId)).toBe(false), {
      durationMs: 2 * LEASE_MS,
      message: 'nobody else leads while the holder is frozen',
    });

    old.process.freeze(false);
    await ledgerStart(ledger, nextId, 10_000);
    await eventually(
      async () => {
        const containers = await world.containers();
        expect(containers.get('default/s0')?.id).not.toBe(s0Before);
        expect(containers.get('default/s0')?.state).toBe('running');
        expect(containers.get('default/s3')?.state).toBe('running');
      },
      { timeoutMs: 30_000, message: 'the successor converged the changes' },
    );
    // s0: remove, create, start; s3: create, start.
    expectNoEngineWriteAfterSuccessor(frozen, next, 4);
  });
});

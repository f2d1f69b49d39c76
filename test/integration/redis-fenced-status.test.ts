// Fenced status writes against a real Redis: a leader's RedisStatusStore whose lease (a real
// RedisLeaseLock in the same Redis) passed to another replica has its pending batch refused by
// Redis itself, atomically, and the write log beside the hash shows who wrote and who was refused.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLeaseLock } from '../../agent/leader/redis-lock.ts';
import { readWriteLog } from '../../agent/status/redis-fenced-write.ts';
import { RedisStatusStore } from '../../agent/status/redis-status-store.ts';
import { FencedError } from '../../reconciler/errors.ts';
import type { Fence } from '../../reconciler/fence.ts';
import { eventually } from '../support/eventually.ts';
import { flushPrefix, requireTestRedis, TEST_REDIS_URL } from '../support/redis.ts';

const PREFIX = `dockerlet-test:${randomBytes(4).toString('hex')}:`;
const silent = pino({ level: 'silent' });
let redis: Redis;

beforeAll(async () => {
  await requireTestRedis();
  redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  await flushPrefix(PREFIX);
  redis.disconnect();
});

/** A fence that says the lease is ours under `token` (what a frozen process believes on waking). */
function believing(token: () => number): Fence {
  return { require: () => token(), confirm: async () => {} };
}

describe('RedisStatusStore fenced by a Redis lease', () => {
  it('writes under the current token, refuses a deposed leader\u2019s pending batch in Redis, and logs both', async () => {
    const lock = new RedisLeaseLock({ redis, key: `${PREFIX}leader` });
    const hash = `${PREFIX}sessions`;
    const grantA = await lock.tryAcquireOrRenew('replica-a', 300);
    expect(grantA).toBeDefined();
    const tokenA = grantA!.token;
    const fenceA = { fence: believing(() => tokenA), writer: 'replica-a', holderTokenKey: lock.holderTokenKey };
    const a = new RedisStatusStore<{ phase: string }>({ redis, key: hash, logger: silent, flushDelayMs: 60_000, fence: fenceA });
    await a.write('default/web', { phase: 'Running' });
    await a.flush();
    expect(await redis.hget(hash, 'default/web')).toBe('{"phase":"Running"}');

    // A decides something, then is frozen before its flush; its lease runs out and B takes it.
    await a.write('default/web', { phase: 'Stopped' });
    await a.write('default/old', { phase: 'Pending' });
    const grantB = await eventually(async () => {
      const grant = await lock.tryAcquireOrRenew('replica-b', 10_000);
      expect(grant).toBeDefined();
      return grant!;
    });
    expect(grantB.token).toBeGreaterThan(tokenA);
    const b = new RedisStatusStore<{ phase: string }>({
      redis,
      key: hash,
      logger: silent,
      flushDelayMs: 60_000,
      fence: { fence: believing(() => grantB.token), writer: 'replica-b', holderTokenKey: lock.holderTokenKey },
    });
    await b.load();
    await b.write('default/web', { phase: 'Creating' });
    await b.flush();

    // A resumes and flushes what it had pending: Redis refuses it, and A drops it (no retry).
    await a.flush();
    expect(a.pendingCount).toBe(0);
    expect(a.refusedCount).toBe(2);
    expect(await redis.hgetall(hash)).toEqual({ 'default/web': '{"phase":"Creating"}' });

    const log = await readWriteLog(redis, hash);
    expect(log.map((e) => [e.result, e.writer, e.token, e.sets])).toEqual([
      ['written', 'replica-a', tokenA, 1],
      ['written', 'replica-b', grantB.token, 1],
      ['fenced', 'replica-a', tokenA, 2],
    ]);
    expect(log[2]!.holderToken).toBe(String(grantB.token));
    // Stream IDs are Redis' clock and order: the refusal came after B's first write.
    expect(log[2]!.id > log[1]!.id).toBe(true);
  });

  it('refuses a write at once when the fence says the lease is not certainly ours', async () => {
    const hash = `${PREFIX}agents`;
    const fence: Fence = {
      require: (operation) => {
        throw new FencedError(operation, 5, 'renew deadline passed');
      },
      confirm: async () => {},
    };
    const store = new RedisStatusStore<{ state: string }>({ redis, key: hash, logger: silent, fence: { fence, writer: 'replica-a', holderTokenKey: `${PREFIX}none` } });
    await expect(store.write('agent-a', { state: 'Online' })).rejects.toBeInstanceOf(FencedError);
    expect(store.get('agent-a')).toBeUndefined();
    expect(store.pendingCount).toBe(0);
  });

  it('without the lease in Redis, asks the lock once per batch (Fence.confirm) and drops a refused batch', async () => {
    const hash = `${PREFIX}confirmed`;
    let holder = 'replica-a';
    let confirms = 0;
    const fence: Fence = {
      require: () => 3,
      confirm: async (operation, token) => {
        confirms += 1;
        if (holder !== 'replica-a') throw new FencedError(operation, token, `the lease is held by ${holder}`);
      },
    };
    const store = new RedisStatusStore<{ phase: string }>({ redis, key: hash, logger: silent, flushDelayMs: 60_000, fence: { fence, writer: 'replica-a' } });
    await store.write('default/a', { phase: 'Running' });
    await store.write('default/b', { phase: 'Running' });
    await store.flush();
    expect(confirms).toBe(1);
    expect(Object.keys(await redis.hgetall(hash)).sort()).toEqual(['default/a', 'default/b']);
    holder = 'replica-b';
    await store.write('default/a', { phase: 'Stopped' });
    await store.flush();
    expect(store.refusedCount).toBe(1);
    expect(await redis.hget(hash, 'default/a')).toBe('{"phase":"Running"}');
  });
});

// RedisStatusStore against a real Redis: the shared one from `hack/test-env up` (a unique hash key
// per test), and a private one this file stops and starts to cut Redis away mid-run.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import pino from 'pino';
import type { Logger } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AgentStatus, SessionStatus } from '../../crds/types.ts';
import { isRfc3339, parseAgentStatus } from '../../controllers/agent/record.ts';
import { beat } from '../../controllers/agent/heartbeat.ts';
import { readRedisSnapshot, RedisStatusStore } from '../../agent/status/redis-status-store.ts';
import type { RedisStatusStoreOptions } from '../../agent/status/redis-status-store.ts';
import { systemClock } from '../../reconciler/clock.ts';
import { eventually } from '../support/eventually.ts';
import { flushPrefix, requireTestRedis, startPrivateRedis, TEST_REDIS_URL } from '../support/redis.ts';

const PREFIX = `dockerlet-test:${randomBytes(4).toString('hex')}:`;
const silent = pino({ level: 'silent' });
let redis: Redis;
const stores: RedisStatusStore<unknown>[] = [];
let keyCount = 0;

/** A hash key no other test (or leftover run) uses. */
const uniqueKey = (what: string): string => `${PREFIX}${what}-${++keyCount}`;

function client(url: string, options: RedisOptions = {}): Redis {
  const r = new Redis(url, options);
  // ioredis prints every connection error of a client without a listener; outages are the point here.
  r.on('error', () => undefined);
  return r;
}

/** Without an offline queue a client refuses commands until it is connected. */
async function connected(r: Redis): Promise<Redis> {
  if (r.status !== 'ready') await new Promise((resolve) => r.once('ready', resolve));
  return r;
}

async function open<S>(options: Partial<RedisStatusStoreOptions<S>> & { key: string }): Promise<RedisStatusStore<S>> {
  const store = new RedisStatusStore<S>({ redis, logger: silent, flushDelayMs: 20, ...options });
  stores.push(store as RedisStatusStore<unknown>);
  await store.load();
  return store;
}

interface LogLine {
  level: number;
  msg: string;
  field?: string;
}

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { logger: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) }), lines };
}

beforeAll(() => {
  redis = client(TEST_REDIS_URL);
});

// Checked per test, not in beforeAll: a missing Redis must fail every test, not skip them.
beforeEach(async () => {
  await requireTestRedis();
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close().catch(() => undefined)));
});

afterAll(async () => {
  await flushPrefix(PREFIX);
  redis.disconnect();
});

describe('RedisStatusStore', () => {
  it('a second instance loads what the first wrote, without what it deleted', async () => {
    const key = uniqueKey('sessions');
    const first = await open<SessionStatus>({ key });
    await first.write('default/web', { phase: 'Running', observedGeneration: 2 });
    await first.write('default/api', { phase: 'Pending' });
    await first.write('default/old', { phase: 'Stopped' });
    await first.delete('default/old');
    expect(first.get('default/web')?.phase).toBe('Running'); // memory first
    await first.flush();

    const second = await open<SessionStatus>({ key });
    expect([...second.list().keys()]).toEqual(['default/api', 'default/web']);
    expect(second.get('default/web')).toEqual({ phase: 'Running', observedGeneration: 2 });
    expect(Object.isFrozen(second.get('default/web'))).toBe(true);
    expect(() => {
      (second.get('default/web') as SessionStatus).phase = 'Failed';
    }).toThrow(TypeError);

    await first.write('default/web', { phase: 'Failed' });
    await first.delete('default/api');
    await first.flush();
    await second.reload();
    expect([...second.list()]).toEqual([['default/web', { phase: 'Failed' }]]);
    expect(await readRedisSnapshot<SessionStatus>(redis, key)).toEqual(new Map([['default/web', { phase: 'Failed' }]]));
  });

  it('stores JSON, keeps memory equal to it, and freezes what it hands out', async () => {
    const key = uniqueKey('json');
    const store = await open<Record<string, unknown>>({ key });
    await store.write('a', { n: 1, gone: undefined, nested: { list: [1, 2] } });
    expect(store.get('a')).toEqual({ n: 1, nested: { list: [1, 2] } });
    expect('gone' in store.get('a')!).toBe(false);
    expect(Object.isFrozen((store.get('a')!['nested'] as { list: number[] }).list)).toBe(true);
    await store.flush();
    expect(await redis.hget(key, 'a')).toBe('{"n":1,"nested":{"list":[1,2]}}');
  });

  it('drops and logs a stored value that does not parse or decode, and loads the rest', async () => {
    const key = uniqueKey('corrupt');
    await redis.hset(key, 'good', '{"state":"Online","lastHeartbeatTime":"2026-01-01T00:00:00Z"}', 'broken', '{"state":', 'array', '[1]');
    // FIELD-NOTES row 3 on the read side: an epoch-number timestamp is refused by the agent decoder.
    await redis.hset(key, 'epoch', '{"state":"Online","lastHeartbeatTime":1767225600000}');
    const { logger, lines } = captureLogger();
    const store = await open<AgentStatus>({ key, logger, decode: parseAgentStatus });
    expect([...store.list().keys()]).toEqual(['good']);
    const dropped = lines.filter((l) => l.msg === 'stored status does not parse; dropped').map((l) => l.field);
    expect(dropped).toEqual(['array', 'broken', 'epoch']);

    const skipped: string[] = [];
    const snapshot = await readRedisSnapshot<AgentStatus>(redis, key, { decode: parseAgentStatus, onInvalid: (field) => skipped.push(field) });
    expect([...snapshot.keys()]).toEqual(['good']);
    expect(skipped).toEqual(['array', 'broken', 'epoch']);
  });

  it('a reload keeps local changes Redis has not taken yet', async () => {
    const key = uniqueKey('reload');
    await redis.hset(key, 'kept', '{"phase":"Running"}', 'removed-here', '{"phase":"Running"}');
    const store = await open<SessionStatus>({ key, flushDelayMs: 60_000 });
    await store.write('new-here', { phase: 'Creating' });
    await store.write('kept', { phase: 'Stopped' });
    await store.delete('removed-here');
    await store.reload();
    expect(Object.fromEntries(store.list())).toEqual({ kept: { phase: 'Stopped' }, 'new-here': { phase: 'Creating' } });

    // Changes made while HGETALL is on its way, even ones a flush confirms before the load resumes.
    const reloading = store.reload();
    await store.write('during-load', { phase: 'Running' });
    const flushing = store.flush();
    await store.write('during-load-unflushed', { phase: 'Pending' });
    await Promise.all([reloading, flushing]);
    expect(store.get('during-load')?.phase).toBe('Running');
    expect(store.get('during-load-unflushed')?.phase).toBe('Pending');
    await store.flush();
    expect(await redis.hgetall(key)).toEqual({
      kept: '{"phase":"Stopped"}',
      'new-here': '{"phase":"Creating"}',
      'during-load': '{"phase":"Running"}',
      'during-load-unflushed': '{"phase":"Pending"}',
    });
  });

  it('batches 300 writes into one MULTI/EXEC with one HSET', async () => {
    // Counted by MONITOR: what Redis actually executed, retries and stray commands included, not
    // what the store believes it sent (a wrapper around the client would trust the same code).
    const key = uniqueKey('batch');
    const store = await open<SessionStatus>({ key, flushDelayMs: 100 });
    const monitor = await redis.monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      const name = (args[0] ?? '').toUpperCase();
      if (['MULTI', 'EXEC'].includes(name) || (['HSET', 'HDEL'].includes(name) && args[1] === key)) seen.push(name);
    });
    try {
      await Promise.all(Array.from({ length: 300 }, (_, i) => store.write(`default/s${i}`, { phase: 'Running', restartCount: i })));
      await store.delete('default/s0');
      await eventually(async () => expect(await redis.hlen(key)).toBe(299));
      await store.flush();
      await eventually(() => expect(seen.filter((c) => c === 'EXEC')).toHaveLength(1), { timeoutMs: 5_000 });
      // s0 was written and deleted before the flush: one HDEL in the same transaction.
      expect(seen).toEqual(['MULTI', 'HSET', 'HDEL', 'EXEC']);
      expect(store.flushCount).toBe(1);
      expect(JSON.parse((await redis.hget(key, 'default/s299'))!)).toEqual({ phase: 'Running', restartCount: 299 });
    } finally {
      monitor.disconnect();
    }
  });

  it('heartbeat round trip: lastHeartbeatTime is an RFC 3339 string in Redis and after a reload', async () => {
    const key = uniqueKey('agents');
    const store = await open<AgentStatus>({ key, decode: parseAgentStatus });
    const before = Date.now();
    await beat({
      agentName: 'host-a',
      identity: 'replica-1',
      store,
      engine: () => ({ version: '27.5.1', apiVersion: '1.47', os: 'linux', arch: 'amd64', cpus: 4, memoryBytes: 8 << 30 }),
      activeSessions: () => 2,
      intervalMs: 5_000,
      clock: systemClock,
      logger: silent,
      signal: new AbortController().signal,
      token: () => 42,
    });
    await store.flush();

    const wire = JSON.parse((await redis.hget(key, 'host-a'))!) as Record<string, unknown>;
    expect(typeof wire['lastHeartbeatTime']).toBe('string');
    expect(isRfc3339(wire['lastHeartbeatTime'])).toBe(true);
    expect(Date.parse(wire['lastHeartbeatTime'] as string)).toBeGreaterThanOrEqual(before);
    expect(wire).toMatchObject({ state: 'Online', leader: 'replica-1', fencingToken: 42, activeSessions: 2 });

    const other = await open<AgentStatus>({ key, decode: parseAgentStatus });
    const loaded = other.get('host-a')!;
    expect(typeof loaded.lastHeartbeatTime).toBe('string');
    expect(loaded.lastHeartbeatTime).toBe(wire['lastHeartbeatTime']);
    expect(typeof (await readRedisSnapshot<AgentStatus>(redis, key)).get('host-a')?.lastHeartbeatTime).toBe('string');
  });
});

// The client is the caller's, so the store must cope with how it was configured: commands queued
// while disconnected (the default, failing after 20 reconnects), queued forever, or refused at once.
const CLIENTS: Array<[string, RedisOptions]> = [
  ['default client options', {}],
  ['an offline queue that never gives up', { maxRetriesPerRequest: null }],
  ['no offline queue', { enableOfflineQueue: false }],
];

describe('RedisStatusStore during a Redis outage', () => {
  it.each(CLIENTS)('keeps writes made while Redis is down and writes them once it is back, logging the outage once (%s)', async (_name, options) => {
    const server = await startPrivateRedis();
    const own = await connected(client(server.url, options));
    const check = client(server.url);
    const { logger, lines } = captureLogger();
    const key = uniqueKey('outage');
    const store = new RedisStatusStore<SessionStatus>({ redis: own, key, logger, flushDelayMs: 20, flushTimeoutMs: 1_000 });
    try {
      await store.load();
      await store.write('default/before', { phase: 'Running' });
      await store.flush();

      await server.stop();
      // Callers never see the outage: writes resolve and memory is current.
      await store.write('default/during-1', { phase: 'Creating' });
      await store.write('default/during-2', { phase: 'Running' });
      await store.write('default/during-1', { phase: 'Running', restartCount: 1 });
      await store.delete('default/before');
      expect(store.get('default/during-1')?.restartCount).toBe(1);
      await expect(store.flush()).rejects.toThrow(/still pending after 1000 ms/);
      expect(store.pendingCount).toBe(3);
      await new Promise((resolve) => setTimeout(resolve, 2_500)); // a few background retries

      // The private Redis keeps an append-only file, so `before` is back until our HDEL lands.
      await server.start();
      await eventually(
        async () =>
          expect(await check.hgetall(key)).toEqual({
            'default/during-1': '{"phase":"Running","restartCount":1}',
            'default/during-2': '{"phase":"Running"}',
          }),
        { timeoutMs: 20_000 },
      );
      await eventually(() => expect(store.pendingCount).toBe(0), { timeoutMs: 5_000 });
      await store.flush();
      const messages = lines.map((l) => l.msg);
      expect(messages.filter((m) => m === 'cannot write status to Redis; retrying')).toHaveLength(1);
      expect(messages.filter((m) => m === 'status writes to Redis resumed')).toHaveLength(1);
    } finally {
      await store.close().catch(() => undefined);
      own.disconnect();
      check.disconnect();
      await server.dispose();
    }
  });
});

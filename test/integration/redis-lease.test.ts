// RedisLeaseLock and LeaseLeaderElector against a real Redis: the shared test instance for lock
// semantics, a private redis-server for outages.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../agent/redis/redis-client.ts';
import { RedisLeaseLock } from '../../agent/leader/redis-lock.ts';
import type { LeaseTimings } from '../../reconciler/leader.ts';
import { FileLeadershipLedger, findOverlaps, readLedger } from '../../reconciler/leader-ledger.ts';
import { uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { currentLeaders, maxConcurrentLeaders, startReplica, takeoverAfterRelease } from '../support/leader-replicas.ts';
import type { LiveReplica } from '../support/leader-replicas.ts';
import { flushPrefix, requireTestRedis, startPrivateRedis, TEST_REDIS_URL } from '../support/redis.ts';
import type { PrivateRedis } from '../support/redis.ts';

const TIMINGS: LeaseTimings = { leaseDurationMs: 1_500, renewDeadlineMs: 1_000, retryPeriodMs: 250 };
const ERROR = 50;

interface LogLine {
  level: number;
  msg: string;
  identity?: string;
}

let prefix: string;
let clients: Redis[];
let replicas: LiveReplica[];
let privateRedis: PrivateRedis | undefined;
let lines: LogLine[];
let logger: Logger;
let ledgerDirs: string[];

/** A ledger file in a fresh directory, removed after the test. */
function ledgerFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dockerlet-ledger-'));
  ledgerDirs.push(dir);
  return join(dir, 'ledger.jsonl');
}

beforeEach(async () => {
  await requireTestRedis();
  prefix = `${uniqueRunId('dockerlet-test')}:`;
  clients = [];
  replicas = [];
  ledgerDirs = [];
  lines = [];
  logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
});

afterEach(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  for (const client of clients) client.disconnect();
  await privateRedis?.dispose();
  privateRedis = undefined;
  await flushPrefix(prefix);
  for (const dir of ledgerDirs) rmSync(dir, { recursive: true, force: true });
});

/** A client as the agent makes it, once connected (with no offline queue, commands before that fail). */
async function client(url = TEST_REDIS_URL): Promise<Redis> {
  const redis = createRedisClient(url, { logger });
  clients.push(redis);
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  return redis;
}

async function lock(name = 'leader', url = TEST_REDIS_URL): Promise<RedisLeaseLock> {
  return new RedisLeaseLock({ redis: await client(url), key: `${prefix}${name}` });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('RedisLeaseLock', () => {
  it('gives the lease to one identity at a time (SET NX)', async () => {
    const [a, b] = [await lock(), await lock()];
    const grant = await a.tryAcquireOrRenew('a', 5_000);
    expect(grant?.token).toBeGreaterThan(0);
    expect(await b.tryAcquireOrRenew('b', 5_000)).toBeUndefined();
    expect(await b.holder()).toEqual({ identity: 'a', token: grant!.token });
    expect(a.description).toBe(`redis lease ${prefix}leader`);
  });

  it('renews only for the holder, keeping its token', async () => {
    const [a, b] = [await lock(), await lock()];
    const redis = clients[0]!;
    const key = `${prefix}leader`;
    const { token } = (await a.tryAcquireOrRenew('a', 2_000))!;
    await sleep(300);
    const before = await redis.pttl(key);
    expect(await b.tryAcquireOrRenew('b', 60_000)).toBeUndefined();
    expect(await redis.pttl(key)).toBeLessThanOrEqual(before); // b did not extend it
    expect(await a.tryAcquireOrRenew('a', 60_000)).toEqual({ token });
    expect(await redis.pttl(key)).toBeGreaterThan(50_000);
    expect(await redis.pttl(`${key}:holder-token`)).toBeGreaterThan(50_000);
  });

  it('releases only for the holder', async () => {
    const [a, b] = [await lock(), await lock()];
    const first = (await a.tryAcquireOrRenew('a', 60_000))!;
    await b.release('b');
    expect(await a.holder()).toEqual({ identity: 'a', token: first.token });
    await a.release('a');
    expect(await a.holder()).toBeUndefined();
    const second = (await b.tryAcquireOrRenew('b', 60_000))!;
    expect(second.token).toBeGreaterThan(first.token);
  });

  it('hands out increasing tokens, even after the counter is lost', async () => {
    const a = await lock();
    const tokens: number[] = [];
    for (let i = 0; i < 5; i++) {
      tokens.push((await a.tryAcquireOrRenew(`r${i}`, 60_000))!.token);
      await a.release(`r${i}`);
    }
    // Redis restarted without persistence: counter and lease are gone. (A restart takes far longer
    // than the few milliseconds by which a burst of acquisitions can run the counter ahead of the clock.)
    await clients[0]!.del(`${prefix}leader:token`);
    await sleep(20);
    tokens.push((await a.tryAcquireOrRenew('after-loss', 60_000))!.token);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
    expect(tokens.every(Number.isSafeInteger)).toBe(true);
  });

  it('lets another identity take the lease once it expired', async () => {
    const [a, b] = [await lock(), await lock()];
    const first = (await a.tryAcquireOrRenew('a', 300))!;
    expect(await b.tryAcquireOrRenew('b', 300)).toBeUndefined();
    await sleep(400);
    expect(await a.holder()).toBeUndefined();
    const second = (await b.tryAcquireOrRenew('b', 300))!;
    expect(second.token).toBeGreaterThan(first.token);
    // a's late renewal does not take it back.
    expect(await a.tryAcquireOrRenew('a', 300)).toBeUndefined();
  });
});

describe('LeaseLeaderElector on Redis', () => {
  it('wakes standbys on a release: the lease is taken at once, not at the next retry', async () => {
    const takeoverMs = await takeoverAfterRelease({ lock: () => lock(), logger, lines, replicas, eventually });
    expect(takeoverMs).toBeLessThan(1_000);
    console.info(`redis: takeover after release with a 4 s retry period ${takeoverMs} ms`);
  });

  it('elects exactly one of three replicas, and another after the leader stops, with no overlap', async () => {
    const ledgerPath = ledgerFile();
    const ledger = new FileLeadershipLedger(ledgerPath);
    for (const identity of ['r1', 'r2', 'r3']) {
      replicas.push(startReplica({ identity, lock: await lock(), timings: TIMINGS, logger, ledger }));
    }
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 5_000 });
    expect(await maxConcurrentLeaders(replicas, 3 * TIMINGS.leaseDurationMs)).toBe(1);
    const first = currentLeaders(replicas)[0]!;
    expect(first.starts).toHaveLength(1); // renewed all along, never re-acquired

    const stoppedAt = Date.now();
    await first.stop();
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 5_000, intervalMs: 5 });
    const second = currentLeaders(replicas)[0]!;
    const takeoverMs = second.starts[0]!.at - stoppedAt;
    expect(takeoverMs).toBeLessThanOrEqual(TIMINGS.retryPeriodMs + 100);
    expect(second.starts[0]!.token).toBeGreaterThan(first.starts[0]!.token);
    expect(first.stops.map((s) => s.reason)).toEqual(['Released']);
    expect(first.aborts[0]!).toBeLessThanOrEqual(second.starts[0]!.at);
    expect(await maxConcurrentLeaders(replicas, TIMINGS.leaseDurationMs)).toBe(1);

    await Promise.all(replicas.map((r) => r.stop()));
    const entries = readLedger(ledgerPath);
    expect(entries.filter((e) => e.event === 'start')).toHaveLength(2);
    expect(findOverlaps(entries)).toEqual([]);
    expect(lines.filter((l) => l.level >= ERROR)).toEqual([]);
    console.info(`redis: takeover after release ${takeoverMs} ms`);
  });

  it('steps down by the renew deadline when Redis goes away, and elects one leader when it is back', async () => {
    privateRedis = await startPrivateRedis();
    const ledgerPath = ledgerFile();
    const ledger = new FileLeadershipLedger(ledgerPath);
    for (const identity of ['r1', 'r2', 'r3']) {
      replicas.push(startReplica({ identity, lock: await lock('leader', privateRedis.url), timings: TIMINGS, logger, ledger }));
    }
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 5_000 });
    const leader = currentLeaders(replicas)[0]!;
    await sleep(2 * TIMINGS.retryPeriodMs + 30); // somewhere between two renewals

    const stoppedAt = Date.now();
    await privateRedis.stop();
    await eventually(() => expect(leader.aborts).toHaveLength(1), { timeoutMs: 5_000, intervalMs: 5 });
    const stepDownMs = leader.aborts[0]! - stoppedAt;
    expect(leader.stops.map((s) => s.reason)).toEqual(['RenewDeadlineExceeded']);
    expect(stepDownMs).toBeLessThanOrEqual(TIMINGS.renewDeadlineMs + TIMINGS.retryPeriodMs);
    expect(currentLeaders(replicas)).toHaveLength(0);
    expect(replicas.every((r) => r.elector.healthy())).toBe(true);

    const restartedAt = Date.now();
    await privateRedis.start();
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 10_000, intervalMs: 5 });
    const recoveryMs = Date.now() - restartedAt;
    expect(await maxConcurrentLeaders(replicas, 2 * TIMINGS.leaseDurationMs)).toBe(1);
    // A new holder always gets a greater token. The old leader may get its own lease back with the
    // same token when Redis kept it (persisted, not yet expired): nobody held it in between.
    const terms = replicas.flatMap((r) => r.starts.map((s) => ({ ...s, identity: r.identity }))).sort((x, y) => x.at - y.at);
    for (let i = 1; i < terms.length; i++) {
      const [previous, next] = [terms[i - 1]!, terms[i]!];
      if (next.identity === previous.identity) expect(next.token).toBeGreaterThanOrEqual(previous.token);
      else expect(next.token).toBeGreaterThan(previous.token);
    }

    await Promise.all(replicas.map((r) => r.stop()));
    expect(findOverlaps(readLedger(ledgerPath))).toEqual([]);
    expect(lines.filter((l) => l.level >= ERROR)).toEqual([]);
    // One warning per client for the whole outage, not one per reconnect attempt.
    expect(lines.filter((l) => l.msg.startsWith('redis connection')).length).toBeLessThanOrEqual(2 * replicas.length);
    console.info(`redis outage: step-down ${stepDownMs} ms after stop, one leader ${recoveryMs} ms after restart`);
  });

  it('steps down by the renew deadline when Redis hangs (calls time out), and one replica leads after it resumes', async () => {
    privateRedis = await startPrivateRedis();
    const ledgerPath = ledgerFile();
    const ledger = new FileLeadershipLedger(ledgerPath);
    for (const identity of ['r1', 'r2']) {
      replicas.push(startReplica({ identity, lock: await lock('leader', privateRedis.url), timings: TIMINGS, logger, ledger }));
    }
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 5_000 });
    const leader = currentLeaders(replicas)[0]!;
    await sleep(TIMINGS.retryPeriodMs + 30);

    const pausedAt = Date.now();
    privateRedis.pause();
    await eventually(() => expect(leader.aborts).toHaveLength(1), { timeoutMs: 5_000, intervalMs: 5 });
    const stepDownMs = leader.aborts[0]! - pausedAt;
    expect(leader.stops.map((s) => s.reason)).toEqual(['RenewDeadlineExceeded']);
    expect(stepDownMs).toBeLessThanOrEqual(TIMINGS.renewDeadlineMs + TIMINGS.retryPeriodMs);
    await sleep(TIMINGS.leaseDurationMs); // longer than the lease: stale commands queue up meanwhile
    expect(currentLeaders(replicas)).toHaveLength(0);

    privateRedis.resume();
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 10_000, intervalMs: 5 });
    expect(await maxConcurrentLeaders(replicas, 2 * TIMINGS.leaseDurationMs)).toBe(1);
    await Promise.all(replicas.map((r) => r.stop()));
    expect(findOverlaps(readLedger(ledgerPath))).toEqual([]);
    console.info(`redis hung: step-down ${stepDownMs} ms after SIGSTOP`);
  });
});

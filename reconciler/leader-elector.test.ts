import { pino } from 'pino';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryLeaseLock } from '../test/support/memory-lease-lock.ts';
import type { Clock } from './clock.ts';
import { FakeClock, flushMicrotasks } from './fake-clock.ts';
import { DEFAULT_LEASE_TIMINGS } from './leader.ts';
import type { LeaseHolder, LeaseTimings, StepDownReason } from './leader.ts';
import { LeadershipEndedError, LeaseLeaderElector } from './leader-elector.ts';
import { findOverlaps } from './leader-ledger.ts';
import type { LedgerEntry, LeadershipLedger } from './leader-ledger.ts';
import { createLeaderMetrics } from './leader-metrics.ts';

const T0 = 1_000_000;
const { leaseDurationMs: LEASE, renewDeadlineMs: DEADLINE, retryPeriodMs: RETRY } = DEFAULT_LEASE_TIMINGS;
const ERROR = 50;

interface LogLine {
  level: number;
  msg: string;
  identity?: string;
  token?: number;
  previousToken?: number;
  reason?: string;
}

class MemoryLedger implements LeadershipLedger {
  readonly entries: LedgerEntry[] = [];
  started(entry: { token: number; holder: string; at: Date }): void {
    this.entries.push({ event: 'start', ...entry });
  }
  ended(entry: { token: number; holder: string; at: Date; reason: StepDownReason }): void {
    this.entries.push({ event: 'end', ...entry });
  }
}

interface Replica {
  elector: LeaseLeaderElector;
  /** [token, clock time] per onStartedLeading. */
  starts: Array<[number, number]>;
  /** [reason, clock time] per onStoppedLeading. */
  stops: Array<[StepDownReason, number]>;
  /** Clock time at which each leadership signal aborted. */
  aborts: number[];
  newLeaders: LeaseHolder[];
  /** Aborts run()'s signal and returns; time does not move. */
  requestStop(): void;
  /** Aborts run()'s signal and moves the fake clock until run() has returned. */
  stop(): Promise<void>;
  done: Promise<void>;
}

interface World {
  clock: FakeClock;
  lock: MemoryLeaseLock;
  lines: LogLine[];
  registry: Registry;
  ledger: MemoryLedger;
  replica(identity: string, options?: ReplicaOptions): Replica;
}

interface ReplicaOptions {
  clock?: Clock;
  onStoppedLeading?: (reason: StepDownReason) => void | Promise<void>;
}

const running: Replica[] = [];

function world(timings: LeaseTimings = DEFAULT_LEASE_TIMINGS): World {
  const clock = new FakeClock(T0);
  const lock = new MemoryLeaseLock(clock);
  const lines: LogLine[] = [];
  const logger: Logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  const registry = new Registry();
  const metrics = createLeaderMetrics(registry);
  const ledger = new MemoryLedger();
  return {
    clock,
    lock,
    lines,
    registry,
    ledger,
    replica(identity, options = {}) {
      const elector = new LeaseLeaderElector({ identity, lock, timings, clock: options.clock ?? clock, logger, metrics, ledger, name: 'agent-a' });
      const abort = new AbortController();
      const replica: Replica = {
        elector,
        starts: [],
        stops: [],
        aborts: [],
        newLeaders: [],
        done: Promise.resolve(),
        requestStop: () => abort.abort(),
        async stop() {
          abort.abort();
          // A release that hangs is bounded by a fake-clock timeout: move time until run() returns.
          let finished = false;
          void replica.done.then(() => (finished = true));
          for (let i = 0; i < 1000 && !finished; i++) await clock.advanceAsync(10);
          await replica.done;
        },
      };
      replica.done = elector.run(
        {
          onStartedLeading(grant, signal) {
            replica.starts.push([grant.token, clock.now()]);
            signal.addEventListener('abort', () => replica.aborts.push(clock.now()));
          },
          onStoppedLeading(reason) {
            replica.stops.push([reason, clock.now()]);
            return options.onStoppedLeading?.(reason);
          },
          onNewLeader: (holder) => void replica.newLeaders.push(holder),
        },
        abort.signal,
      );
      running.push(replica);
      return replica;
    },
  };
}

/** Runs the clock forward in steps, so every due timer and its promise chain get their turn. */
async function advance(clock: FakeClock, ms: number, step = 100): Promise<void> {
  for (let done = 0; done < ms; done += step) await clock.advanceAsync(Math.min(step, ms - done));
}

afterEach(async () => {
  for (const replica of running.splice(0)) await replica.stop();
});

describe('LeaseLeaderElector', () => {
  it('acquires a free lease at once and reports it through callbacks, metrics and the ledger', async () => {
    const w = world();
    const a = w.replica('a');
    await flushMicrotasks();
    expect(a.elector.isLeader()).toBe(true);
    expect(a.elector.token()).toBe(1);
    expect(a.starts).toEqual([[1, T0]]);
    expect(w.ledger.entries).toEqual([{ event: 'start', token: 1, holder: 'a', at: new Date(T0) }]);
    const text = await w.registry.metrics();
    expect(text).toContain('dockerlet_leader_election_master_status{name="agent-a"} 1');
    expect(text).toContain('dockerlet_leader_fencing_token{name="agent-a"} 1');
    expect(text).toContain('dockerlet_leader_transitions_total{name="agent-a"} 1');
    expect(text).not.toContain('identity');
    expect(w.lines.find((l) => l.msg === 'became leader')).toMatchObject({ identity: 'a', token: 1, reason: 'Acquired' });
  });

  it('renews every retry period and keeps one term with one token', async () => {
    const w = world();
    const a = w.replica('a');
    const b = w.replica('b');
    await advance(w.clock, 60_000);
    expect(a.starts).toEqual([[1, T0]]);
    expect(b.starts).toEqual([]);
    expect(w.lock.lease()).toMatchObject({ identity: 'a', token: 1 });
    // Renewed within the last retry period.
    expect(w.lock.lease()!.expiresAtMs).toBeGreaterThan(w.clock.now() + LEASE - RETRY - 1);
    expect(w.lock.calls.get('a')).toBeGreaterThanOrEqual(30);
    expect(b.newLeaders).toEqual([{ identity: 'a', token: 1 }]);
    expect(a.elector.healthy()).toBe(true);
  });

  it('steps down at the renew deadline when renewals fail, before the lease expires, and a standby takes over only after the lease duration', async () => {
    const w = world();
    const a = w.replica('a');
    const b = w.replica('b');
    await advance(w.clock, RETRY); // one successful renewal at T0 + 2 s
    const lastRenew = T0 + RETRY;
    expect(w.lock.lease()!.expiresAtMs).toBe(lastRenew + LEASE);
    w.lock.fault('a', 'throw');
    await advance(w.clock, DEADLINE - 100);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.elector.healthy()).toBe(true);
    await advance(w.clock, LEASE + 2 * RETRY);
    expect(a.aborts).toEqual([lastRenew + DEADLINE]);
    expect(a.stops).toEqual([['RenewDeadlineExceeded', lastRenew + DEADLINE]]);
    expect(a.aborts[0]!).toBeLessThan(lastRenew + LEASE);
    // b tried all along but could only take the lease once it expired.
    expect(b.starts).toHaveLength(1);
    const [token, at] = b.starts[0]!;
    expect(token).toBe(2);
    expect(at).toBeGreaterThanOrEqual(lastRenew + LEASE);
    expect(at).toBeLessThanOrEqual(lastRenew + LEASE + RETRY);
    expect(findOverlaps(w.ledger.entries)).toEqual([]);
  });

  it('bounds a hung renewal by the retry period and still steps down exactly at the deadline', async () => {
    const w = world();
    const a = w.replica('a');
    await advance(w.clock, RETRY);
    w.lock.fault('a', 'hang');
    await advance(w.clock, 3 * LEASE);
    expect(a.aborts).toEqual([T0 + RETRY + DEADLINE]);
    expect(a.stops.map(([reason]) => reason)).toEqual(['RenewDeadlineExceeded']);
    // A standby whose calls hang keeps trying instead of waiting forever.
    const before = w.lock.calls.get('a')!;
    await advance(w.clock, 5 * RETRY);
    expect(w.lock.calls.get('a')! - before).toBeGreaterThanOrEqual(2);
    expect(a.elector.isLeader()).toBe(false);
  });

  it('steps down at once when the renewal finds someone else holding the lease', async () => {
    const w = world();
    const a = w.replica('a');
    await advance(w.clock, RETRY);
    w.lock.steal('intruder', LEASE);
    await advance(w.clock, RETRY);
    expect(a.stops).toEqual([['LeaseLost', T0 + 2 * RETRY]]);
    await advance(w.clock, RETRY);
    expect(a.newLeaders).toEqual([{ identity: 'intruder', token: 2 }]);
  });

  it('releases on stop so that a standby acquires within one retry period', async () => {
    const w = world();
    const a = w.replica('a');
    const b = w.replica('b');
    await advance(w.clock, 5 * RETRY + 300);
    const stoppedAt = w.clock.now();
    await a.stop();
    expect(a.stops).toEqual([['Released', stoppedAt]]);
    expect(a.aborts).toEqual([stoppedAt]);
    expect(w.lock.lease()).toBeUndefined();
    await advance(w.clock, RETRY);
    expect(b.starts).toHaveLength(1);
    expect(b.starts[0]![1] - stoppedAt).toBeLessThanOrEqual(RETRY);
    expect(findOverlaps(w.ledger.entries)).toEqual([]);
  });

  it('hands out strictly increasing tokens across acquisitions', async () => {
    const w = world();
    const replicas = new Map(['a', 'b', 'c'].map((id) => [id, w.replica(id)]));
    const tokens: number[] = [];
    for (let round = 0; round < 6; round++) {
      await advance(w.clock, RETRY + 100);
      const [id, leader] = [...replicas].find(([, r]) => r.elector.isLeader())!;
      tokens.push(leader.elector.token()!);
      await leader.stop();
      replicas.set(id, w.replica(id)); // the same identity restarts as a standby
    }
    expect(tokens).toHaveLength(6);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
    expect(findOverlaps(w.ledger.entries)).toEqual([]);
    expect(w.lines.filter((l) => l.level >= ERROR)).toEqual([]);
  });

  it('logs an error when a token goes backwards (the backend lost its state)', async () => {
    const w = world();
    const first = w.replica('a');
    await flushMicrotasks();
    await first.stop();
    const a = w.replica('a');
    await flushMicrotasks();
    expect(a.elector.token()).toBe(2);
    w.lock.reset();
    await advance(w.clock, RETRY);
    // The renewal came back with a new token: that term ended and a new one began.
    expect(a.stops.map(([reason]) => reason)).toEqual(['LeaseLost']);
    expect(a.elector.token()).toBe(1);
    expect(w.lines.find((l) => l.level === ERROR)).toMatchObject({ identity: 'a', token: 1, previousToken: 2 });
  });

  it('healthy() is false only for a leader that missed its deadline without stepping down', async () => {
    const w = world();
    let skew = 0;
    // A clock whose time runs while its timers do not fire: a blocked event loop.
    const stuck: Clock = { now: () => w.clock.now() + skew, setTimeout: (fn, ms) => w.clock.setTimeout(fn, ms), clearTimeout: (h) => w.clock.clearTimeout(h) };
    const a = w.replica('a', { clock: stuck });
    const b = w.replica('b');
    await flushMicrotasks();
    expect(a.elector.isLeader()).toBe(true);
    skew = DEADLINE + RETRY;
    expect(a.elector.healthy()).toBe(true);
    skew += 1;
    expect(a.elector.healthy()).toBe(false);
    expect(b.elector.healthy()).toBe(true); // a standby is always healthy
  });

  it('waits for a promise from onStoppedLeading before releasing, at most leaseDuration - renewDeadline', async () => {
    const w = world();
    const a = w.replica('a', { onStoppedLeading: () => new Promise<void>((resolve) => w.clock.setTimeout(resolve, 1_000)) });
    await flushMicrotasks();
    a.requestStop();
    await w.clock.advanceAsync(999);
    expect(a.stops).toEqual([['Released', T0]]);
    expect(w.lock.lease()?.identity).toBe('a');
    await w.clock.advanceAsync(1);
    await a.done;
    expect(w.lock.lease()).toBeUndefined();

    const c = w.replica('c', { onStoppedLeading: () => new Promise<void>(() => {}) });
    await flushMicrotasks();
    c.requestStop();
    await advance(w.clock, LEASE - DEADLINE - 100);
    expect(w.lock.lease()?.identity).toBe('c');
    await advance(w.clock, 100);
    await c.done;
    expect(w.lock.lease()).toBeUndefined();
    expect(w.lines.some((l) => l.msg === 'onStoppedLeading did not finish in time; releasing the lease anyway')).toBe(true);
  });

  it('a late step-down waits for the work only as long as the lease has left', async () => {
    const w = world();
    let skew = 0;
    // Time runs on while timers do not fire (a blocked event loop): the step-down comes late.
    const stuck: Clock = { now: () => w.clock.now() + skew, setTimeout: (fn, ms) => w.clock.setTimeout(fn, ms), clearTimeout: (h) => w.clock.clearTimeout(h) };
    const a = w.replica('a', { clock: stuck, onStoppedLeading: () => new Promise<void>(() => {}) });
    await flushMicrotasks();
    expect(a.elector.isLeader()).toBe(true);
    const lateMs = 2_000;
    skew = DEADLINE + lateMs - RETRY;
    await w.clock.advanceAsync(RETRY); // the renewal timer fires; to the replica, lateMs past its deadline
    expect(a.stops).toEqual([['RenewDeadlineExceeded', T0 + RETRY]]);
    const leaseLeft = LEASE - DEADLINE - lateMs;
    await w.clock.advanceAsync(leaseLeft - 1);
    expect(w.lock.lease()?.identity).toBe('a');
    await w.clock.advanceAsync(1);
    expect(w.lock.lease()).toBeUndefined();
    expect(w.lines.find((l) => l.msg === 'onStoppedLeading did not finish in time; releasing the lease anyway')).toMatchObject({ graceMs: leaseLeft });
  });

  it('aborts the leadership signal with the step-down reason', async () => {
    const w = world();
    let signal: AbortSignal | undefined;
    const elector = new LeaseLeaderElector({ identity: 'a', lock: w.lock, clock: w.clock, logger: pino({ level: 'silent' }), name: 'x' });
    const stop = new AbortController();
    const done = elector.run({ onStartedLeading: (_grant, s) => (signal = s), onStoppedLeading: () => {} }, stop.signal);
    await flushMicrotasks();
    stop.abort();
    await w.clock.advanceAsync(0);
    await done;
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(LeadershipEndedError);
    expect((signal?.reason as LeadershipEndedError).reason).toBe('Released');
  });

  it('rejects unsafe timings with an explanation', () => {
    const base = { identity: 'a', lock: new MemoryLeaseLock(new FakeClock()), logger: pino({ level: 'silent' }), name: 'x' };
    expect(() => new LeaseLeaderElector({ ...base, timings: { leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } })).toThrow(
      /renewDeadlineMs \(10000\) must be less than leaseDurationMs \(10000\)/,
    );
    expect(() => new LeaseLeaderElector({ ...base, timings: { leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 } })).toThrow(
      /retryPeriodMs \(2000\) must be less than renewDeadlineMs/,
    );
    expect(() => new LeaseLeaderElector({ ...base, timings: { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 0 } })).toThrow(/positive/);
    expect(() => new LeaseLeaderElector({ ...base, identity: '' })).toThrow(/identity/);
  });
});

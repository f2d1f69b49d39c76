// The fence as a frozen leader meets it: time jumps on the monotonic clock while none of the
// elector's timers has run (what SIGSTOP then SIGCONT does), and the token is refused at once.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryLeaseLock } from '../test/support/memory-lease-lock.ts';
import { FencedError } from './errors.ts';
import { FakeClock, flushMicrotasks } from './fake-clock.ts';
import { electorFence, LateFence, termFence } from './fence.ts';
import { DEFAULT_LEASE_TIMINGS } from './leader.ts';
import { LeaseLeaderElector } from './leader-elector.ts';

const { renewDeadlineMs: DEADLINE, retryPeriodMs: RETRY } = DEFAULT_LEASE_TIMINGS;

function leader() {
  const clock = new FakeClock(1_000_000);
  const lock = new MemoryLeaseLock(clock);
  /** Monotonic time that moves without firing any timer: the process was frozen. */
  let frozenFor = 0;
  const elector = new LeaseLeaderElector({ identity: 'a', lock, clock, logger: pino({ level: 'silent' }), name: 'x', monotonicNow: () => clock.now() + frozenFor });
  const stop = new AbortController();
  let signal: AbortSignal | undefined;
  const done = elector.run({ onStartedLeading: (_grant, s) => (signal = s), onStoppedLeading: () => {} }, stop.signal);
  return {
    clock,
    lock,
    elector,
    fence: electorFence(elector, () => lock.holder()),
    freeze: (ms: number) => (frozenFor += ms),
    signal: () => signal,
    async stop() {
      stop.abort();
      await clock.advanceAsync(0);
      await done;
    },
  };
}

describe('LeaseLeaderElector.validToken and the elector fence', () => {
  it('gives the token while renewals succeed', async () => {
    const l = leader();
    await flushMicrotasks();
    expect(l.elector.validToken()).toBe(1);
    expect(l.fence.require('engine create')).toBe(1);
    // Renewed every retry period: valid long past one renew deadline.
    for (let i = 0; i < 20; i++) await l.clock.advanceAsync(RETRY);
    expect(l.fence.require('engine create')).toBe(1);
    await l.fence.confirm('status write', 1);
    await l.stop();
  });

  it('refuses the moment the monotonic clock passes the renew deadline, before the elector has run or aborted anything', async () => {
    const l = leader();
    await flushMicrotasks();
    l.freeze(DEADLINE - 1);
    expect(l.fence.require('engine start')).toBe(1);
    l.freeze(1);
    // The elector's timers have not fired: it still says it leads, and its signal is not aborted.
    expect(l.elector.isLeader()).toBe(true);
    expect(l.signal()?.aborted).toBe(false);
    expect(l.elector.validToken()).toBeUndefined();
    expect(() => l.fence.require('engine start')).toThrow(FencedError);
    expect(() => l.fence.require('engine start')).toThrow(/engine start not sent: this replica does not hold a lease/);
    await l.stop();
  });

  it('confirm fails when the lock names someone else, and a term fence refuses a later term', async () => {
    const l = leader();
    await flushMicrotasks();
    const term = termFence(l.fence, 1);
    expect(term.require('engine remove')).toBe(1);
    l.lock.steal('b', 15_000);
    const holder = await l.lock.holder();
    await expect(l.fence.confirm('status write', 1)).rejects.toThrow(new RegExp(`held by b with token ${holder?.token}`));
    // The elector finds out at its next renewal; then it leads under a new token only after a new acquisition.
    await l.stop();
    expect(() => term.require('engine remove')).toThrow(FencedError);
  });

  it('stops answering as soon as the lease is released', async () => {
    const l = leader();
    await flushMicrotasks();
    await l.stop();
    expect(l.elector.validToken()).toBeUndefined();
  });
});

describe('LateFence', () => {
  it('refuses until bound, then answers as the fence it was given', async () => {
    const late = new LateFence();
    expect(() => late.require('status write')).toThrow(/leader election has not started/);
    await expect(late.confirm('status write', 1)).rejects.toBeInstanceOf(FencedError);
    late.bind({ require: () => 7, confirm: async () => {} });
    expect(late.require('status write')).toBe(7);
  });
});

import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.ts';
import { startResync } from './resync.ts';

describe('startResync', () => {
  it('fires every period stretched by random * jitter, first after one period', () => {
    const clock = new FakeClock();
    const at: number[] = [];
    const randoms = [0, 1, 0.5];
    startResync({ periodMs: 1_000, jitter: 0.2, clock, random: () => randoms.shift() ?? 0, onResync: () => void at.push(clock.now()) });
    clock.advance(999);
    expect(at).toEqual([]);
    clock.advance(1 + 1_200 + 1_100);
    expect(at).toEqual([1_000, 2_200, 3_300]);
  });

  it('uses 10% jitter by default', () => {
    const clock = new FakeClock();
    const at: number[] = [];
    startResync({ periodMs: 1_000, clock, random: () => 1, onResync: () => void at.push(clock.now()) });
    clock.advance(3_300);
    expect(at).toEqual([1_100, 2_200, 3_300]);
  });

  it('stops on abort or on the returned function', () => {
    const clock = new FakeClock();
    let n = 0;
    const abort = new AbortController();
    startResync({ periodMs: 10, clock, random: () => 0, signal: abort.signal, onResync: () => void n++ });
    const stop = startResync({ periodMs: 10, clock, random: () => 0, onResync: () => void n++ });
    clock.advance(10);
    expect(n).toBe(2);
    abort.abort();
    stop();
    clock.advance(100);
    expect(n).toBe(2);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('does not start with a signal already aborted', () => {
    const clock = new FakeClock();
    let n = 0;
    startResync({ periodMs: 10, clock, signal: AbortSignal.abort(), onResync: () => void n++ });
    clock.advance(100);
    expect(n).toBe(0);
  });

  it('keeps going when onResync throws, and reports the error', () => {
    const clock = new FakeClock();
    const errors: unknown[] = [];
    let n = 0;
    startResync({
      periodMs: 10,
      clock,
      random: () => 0,
      onError: (e) => errors.push(e),
      onResync: () => {
        n++;
        throw new Error('list failed');
      },
    });
    clock.advance(30);
    expect(n).toBe(3);
    expect(errors).toHaveLength(3);
  });

  it('waits for an async onResync before starting the next period', async () => {
    const clock = new FakeClock();
    const at: number[] = [];
    let finish: () => void = () => {};
    startResync({
      periodMs: 10,
      clock,
      random: () => 0,
      onResync: () => {
        at.push(clock.now());
        return new Promise<void>((resolve) => (finish = resolve));
      },
    });
    await clock.advanceAsync(50);
    expect(at).toEqual([10]);
    finish();
    await clock.advanceAsync(0);
    await clock.advanceAsync(10);
    expect(at).toEqual([10, 60]);
  });

  it('rejects a bad period or jitter', () => {
    const clock = new FakeClock();
    expect(() => startResync({ periodMs: 0, clock, onResync: () => {} })).toThrow(RangeError);
    expect(() => startResync({ periodMs: 10, jitter: 2, clock, onResync: () => {} })).toThrow(RangeError);
  });
});

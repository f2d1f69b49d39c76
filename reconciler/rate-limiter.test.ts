import { describe, expect, it } from 'vitest';
import { ItemExponentialFailureRateLimiter } from './rate-limiter.ts';

describe('ItemExponentialFailureRateLimiter', () => {
  it('doubles from 5 ms per failure of a key', () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    expect([1, 2, 3, 4, 5].map(() => limiter.when('a'))).toEqual([5, 10, 20, 40, 80]);
    expect(limiter.numRequeues('a')).toBe(5);
  });

  it('counts each key separately', () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    limiter.when('a');
    limiter.when('a');
    expect(limiter.when('b')).toBe(5);
    expect(limiter.numRequeues('a')).toBe(2);
    expect(limiter.numRequeues('b')).toBe(1);
  });

  it('forget resets the backoff', () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    limiter.when('a');
    limiter.when('a');
    limiter.forget('a');
    expect(limiter.numRequeues('a')).toBe(0);
    expect(limiter.when('a')).toBe(5);
  });

  it('caps at the max (1000 s by default), even after very many failures', () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    let last = 0;
    for (let i = 0; i < 2000; i++) last = limiter.when('a');
    expect(last).toBe(1_000_000);
  });

  it('takes base and max', () => {
    const limiter = new ItemExponentialFailureRateLimiter({ baseDelayMs: 100, maxDelayMs: 350 });
    expect([1, 2, 3, 4].map(() => limiter.when('a'))).toEqual([100, 200, 350, 350]);
    const zero = new ItemExponentialFailureRateLimiter({ baseDelayMs: 0 });
    for (let i = 0; i < 1100; i++) expect(zero.when('a')).toBe(0);
  });

  it('rejects negative delays', () => {
    expect(() => new ItemExponentialFailureRateLimiter({ baseDelayMs: -1 })).toThrow(RangeError);
  });
});

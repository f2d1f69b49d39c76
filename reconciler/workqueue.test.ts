import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from './clock.ts';
import { FakeClock } from './fake-clock.ts';
import { WorkQueue } from './workqueue.ts';
import type { WorkQueueMetrics } from './workqueue.ts';

/** Lets every pending promise callback run (real setImmediate: these tests use FakeClock). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function newQueue(clock = new FakeClock(), metrics?: WorkQueueMetrics): WorkQueue {
  return new WorkQueue({ name: 'test', clock, ...(metrics ? { metrics } : {}) });
}

/** Resolves with what `get` returned, or 'pending' if it has not resolved yet. */
async function peek(p: Promise<string | undefined>): Promise<string | undefined | 'pending'> {
  return Promise.race([p, settle().then(() => 'pending' as const)]);
}

describe('WorkQueue', () => {
  it('dedupes a key that is already waiting, and hands keys out in FIFO order', async () => {
    const q = newQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('never hands out a key being processed; a re-add is queued again on done', async () => {
    const q = newQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0);
    const second = q.get();
    expect(await peek(second)).toBe('pending');
    q.done('a');
    expect(await peek(second)).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
    expect(q.processingCount()).toBe(0);
  });

  it('a key not re-added while processing is not queued again by done', async () => {
    const q = newQueue();
    q.add('a');
    await q.get();
    q.done('a');
    q.done('a'); // done of a key not being processed is ignored
    expect(q.len()).toBe(0);
  });

  it('gives a waiting getter the next added key', async () => {
    const q = newQueue();
    const waiting = q.get();
    expect(await peek(waiting)).toBe('pending');
    q.add('x');
    expect(await waiting).toBe('x');
  });

  it('two workers never process the same key at once, and every re-add is processed after', async () => {
    const q = newQueue();
    const active = new Map<string, number>();
    const lastAdded = new Map<string, number>();
    const lastStarted = new Map<string, number>();
    let seq = 0;
    let maxPerKey = 0;
    let maxTotal = 0;
    let total = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const key = await q.get();
        if (key === undefined) return;
        const n = (active.get(key) ?? 0) + 1;
        active.set(key, n);
        total++;
        maxPerKey = Math.max(maxPerKey, n);
        maxTotal = Math.max(maxTotal, total);
        lastStarted.set(key, ++seq);
        await settle();
        await settle();
        active.set(key, n - 1);
        total--;
        q.done(key);
      }
    };
    const workers = [worker(), worker()];
    const keys = ['a', 'b', 'c'];
    for (let i = 0; i < 200; i++) {
      const key = keys[(i * 7 + (i >> 2)) % keys.length] as string;
      q.add(key);
      lastAdded.set(key, ++seq);
      if (i % 3 === 0) await settle();
    }
    while (q.len() > 0 || q.processingCount() > 0) await settle();
    q.shutDown();
    await Promise.all(workers);

    expect(maxPerKey).toBe(1);
    expect(maxTotal).toBe(2);
    for (const key of keys) expect(lastStarted.get(key)).toBeGreaterThan(lastAdded.get(key) as number);
  });

  it('addRateLimited backs off 5, 10, 20 ms per key, and forget resets it', async () => {
    const clock = new FakeClock();
    const q = newQueue(clock);
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      const start = clock.now();
      q.addRateLimited('a');
      while (q.len() === 0) clock.advance(1);
      delays.push(clock.now() - start);
      expect(await q.get()).toBe('a');
      q.done('a');
    }
    expect(delays).toEqual([5, 10, 20]);
    expect(q.numRequeues('a')).toBe(3);

    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    q.addRateLimited('a');
    clock.advance(4);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
  });

  it('addAfter: a shorter delay for the same key replaces a longer one', async () => {
    const clock = new FakeClock();
    const q = newQueue(clock);
    q.addAfter('a', 100);
    q.addAfter('a', 10);
    expect(q.delayedCount()).toBe(1);
    clock.advance(10);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    clock.advance(200);
    expect(q.len()).toBe(0); // the 100 ms add was replaced, not kept as well
  });

  it('addAfter: a longer delay for a key already waiting is dropped', () => {
    const clock = new FakeClock();
    const q = newQueue(clock);
    q.addAfter('a', 10);
    q.addAfter('a', 100);
    clock.advance(10);
    expect(q.len()).toBe(1);
    expect(q.delayedCount()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('addAfter with a delay of 0 or less adds at once', () => {
    const q = newQueue();
    q.addAfter('a', 0);
    q.addAfter('b', -5);
    expect(q.len()).toBe(2);
  });

  it('shutDown drains: queued keys are still handed out, then get resolves undefined', async () => {
    const clock = new FakeClock();
    const q = newQueue(clock);
    q.add('a');
    q.add('b');
    q.addAfter('c', 10);
    q.shutDown();
    q.add('d');
    q.addAfter('e', 0);
    clock.advance(100);
    expect(clock.pendingTimers()).toBe(0);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(await q.get()).toBeUndefined();
    expect(await q.get()).toBeUndefined();
    expect(q.isShuttingDown()).toBe(true);
  });

  it('shutDown releases getters that are waiting', async () => {
    const q = newQueue();
    const waiting = [q.get(), q.get()];
    q.shutDown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
  });

  it('shutDownNow drops queued keys and re-adds of keys in flight', async () => {
    const q = newQueue();
    q.add('a');
    q.add('b');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.shutDownNow();
    expect(q.len()).toBe(0);
    expect(await q.get()).toBeUndefined();
    q.done('a');
    expect(q.len()).toBe(0);
    expect(q.processingCount()).toBe(0);
  });

  it('reports adds, depth, queue and work duration, and retries to its metrics hooks', async () => {
    const clock = new FakeClock();
    const calls = { added: 0, retries: 0, depth: [] as number[], queued: [] as number[], worked: [] as number[] };
    let probe: (() => number) | undefined;
    const q = newQueue(clock, {
      added: () => calls.added++,
      depth: (n) => calls.depth.push(n),
      queueDuration: (s) => calls.queued.push(s),
      workDuration: (s) => calls.worked.push(s),
      retry: () => calls.retries++,
      unfinishedWork: (p) => (probe = p),
    });
    q.add('a');
    q.add('a');
    clock.advance(250);
    expect(await q.get()).toBe('a');
    q.add('a'); // dirty while processing: counts as an add and as depth
    clock.advance(1500);
    expect(probe?.()).toBe(1.5);
    q.done('a');
    q.addAfter('b', 10);
    q.addRateLimited('c');

    expect(calls.added).toBe(2);
    expect(calls.retries).toBe(2);
    expect(calls.depth).toEqual([1, 0, 1]);
    expect(calls.queued).toEqual([0.25]);
    expect(calls.worked).toEqual([1.5]);
    expect(probe?.()).toBe(0);
  });

  describe('with vitest fake timers and the system clock', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('delays addAfter and addRateLimited by fake time', async () => {
      vi.useFakeTimers();
      const q = new WorkQueue({ name: 'test', clock: systemClock });
      q.addAfter('a', 1_000);
      q.addRateLimited('b');
      const next = q.get();
      await vi.advanceTimersByTimeAsync(5);
      expect(await next).toBe('b');
      await vi.advanceTimersByTimeAsync(994);
      expect(q.len()).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(q.len()).toBe(1);
      q.shutDown();
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});

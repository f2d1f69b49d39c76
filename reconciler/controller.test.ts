import { pino } from 'pino';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Controller, ReconcileCancelledError, ReconcileTimeoutError } from './controller.ts';
import type { ControllerOptions, ReconcileFn } from './controller.ts';
import { RequeueAfterError, TerminalError } from './errors.ts';
import { FakeClock } from './fake-clock.ts';
import { createReconcilerMetrics } from './metrics.ts';

/** Lets every pending promise callback run (real setImmediate: these tests use FakeClock). */
const settle = async (rounds = 3): Promise<void> => {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

interface LogLine {
  level: number;
  msg: string;
  controller?: string;
  key?: string;
  reconcileId?: string;
  reason?: string;
  err?: { type?: string; message?: string };
}

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'trace' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

const WARN = 40;
const ERROR = 50;

function setup(reconcile: ReconcileFn, options: Partial<ControllerOptions> = {}) {
  const clock = new FakeClock();
  const { logger, lines } = captureLogger();
  const registry = new Registry();
  const metrics = createReconcilerMetrics(registry);
  const controller = new Controller({ name: 'test', reconcile, logger, clock, metrics, workers: 1, ...options });
  return { clock, lines, registry, controller };
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Controller outcome mapping', () => {
  it('success: forgets the backoff and does not requeue', async () => {
    let calls = 0;
    const { controller, clock, lines } = setup(async () => {
      calls++;
      if (calls === 1) throw new Error('boom');
    });
    controller.start();
    controller.enqueue('ns/a');
    await settle();
    expect(controller.queue.numRequeues('ns/a')).toBe(1);
    await clock.advanceAsync(5);
    await settle();
    expect(calls).toBe(2);
    expect(controller.queue.numRequeues('ns/a')).toBe(0);
    await clock.advanceAsync(10_000);
    await settle();
    expect(calls).toBe(2);
    expect(lines.filter((l) => l.msg === 'reconcile succeeded')).toHaveLength(1);
    await controller.stop();
  });

  it('success with requeueAfterMs: reconciles again after that delay', async () => {
    const seen: number[] = [];
    const { controller, clock } = setup(async () => {
      seen.push(clock.now());
      return { requeueAfterMs: 30_000 };
    });
    controller.start();
    controller.enqueue('a');
    await settle();
    await clock.advanceAsync(29_999);
    expect(seen).toEqual([0]);
    await clock.advanceAsync(1);
    await settle();
    expect(seen).toEqual([0, 30_000]);
    expect(controller.queue.numRequeues('a')).toBe(0);
    await controller.stop();
  });

  it('terminal: no retry, backoff forgotten, one warning with the reason', async () => {
    let calls = 0;
    const { controller, clock, lines } = setup(async () => {
      calls++;
      throw new TerminalError('InvalidSpec', 'spec.image: required', 'spec.image');
    });
    controller.start();
    controller.enqueue('a');
    await settle();
    await clock.advanceAsync(2_000_000);
    await settle();
    expect(calls).toBe(1);
    expect(controller.queue.numRequeues('a')).toBe(0);
    expect(controller.queue.delayedCount()).toBe(0);
    const warnings = lines.filter((l) => l.level >= WARN);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: WARN, msg: 'reconcile stalled', reason: 'InvalidSpec', key: 'a' });
    await controller.stop();
  });

  it('terminal again for the same reason (a resync) does not warn again; a new reason does, and so does a stall after a recovery', async () => {
    let message = 'spec.image: required';
    let fail = true;
    const { controller, lines } = setup(async () => {
      if (fail) throw new TerminalError('InvalidSpec', message, 'spec.image');
    });
    controller.start();
    const warnings = (): number => lines.filter((l) => l.level >= WARN && l.msg === 'reconcile stalled').length;
    for (let i = 0; i < 3; i++) {
      controller.enqueue('a');
      await settle();
    }
    expect(warnings()).toBe(1);
    message = 'spec.image: must not contain spaces';
    controller.enqueue('a');
    await settle();
    expect(warnings()).toBe(2);
    fail = false;
    controller.enqueue('a');
    await settle();
    fail = true;
    controller.enqueue('a');
    await settle();
    expect(warnings()).toBe(3);
    await controller.stop();
  });

  it('requeueAfter: forgets the backoff and requeues after the asked delay, without an error', async () => {
    const seen: number[] = [];
    const { controller, clock, lines } = setup(async () => {
      seen.push(clock.now());
      if (seen.length <= 2) throw new RequeueAfterError(2_000, 'ImagePulling', 'pulling nginx');
    });
    controller.start();
    controller.enqueue('a');
    await settle();
    await clock.advanceAsync(1_999);
    expect(seen).toEqual([0]);
    await clock.advanceAsync(1);
    await settle();
    await clock.advanceAsync(2_000);
    await settle();
    expect(seen).toEqual([0, 2_000, 4_000]);
    expect(controller.queue.numRequeues('a')).toBe(0);
    expect(lines.filter((l) => l.level >= WARN)).toHaveLength(0);
    await controller.stop();
  });

  it('retry: backs off exponentially and logs each failure once at error, with constant message', async () => {
    const seen: number[] = [];
    const { controller, clock, lines } = setup(async () => {
      seen.push(clock.now());
      throw new Error('engine unreachable');
    });
    controller.start();
    controller.enqueue('a');
    await settle();
    for (let i = 0; i < 35; i++) {
      await clock.advanceAsync(1);
      await settle(1);
    }
    expect(seen).toEqual([0, 5, 15, 35]);
    expect(controller.queue.numRequeues('a')).toBe(4);
    const errors = lines.filter((l) => l.level >= ERROR);
    expect(errors).toHaveLength(4);
    for (const e of errors) {
      expect(e).toMatchObject({ msg: 'reconcile failed', controller: 'test', key: 'a' });
      expect(e.err?.message).toBe('engine unreachable');
    }
    expect(new Set(errors.map((e) => e.reconcileId)).size).toBe(4);
    await controller.stop();
  });
});

describe('Controller robustness', () => {
  it('a reconcile that throws synchronously does not kill the worker', async () => {
    const done: string[] = [];
    const reconcile: ReconcileFn = (key) => {
      if (key === 'bad') throw new Error('sync throw');
      done.push(key);
      return Promise.resolve();
    };
    const { controller } = setup(reconcile);
    controller.start();
    controller.enqueue('bad');
    controller.enqueue('good');
    await settle();
    expect(done).toEqual(['good']);
    expect(controller.queue.numRequeues('bad')).toBe(1);
    await controller.stop();
  });

  it('a hanging reconcile times out: its signal aborts, the worker moves on, the key is not run twice at once', async () => {
    const hang = deferred();
    const signals: AbortSignal[] = [];
    const started: string[] = [];
    const { controller, clock, lines } = setup(
      async (key, signal) => {
        started.push(key);
        signals.push(signal);
        if (key === 'stuck' && started.filter((k) => k === 'stuck').length === 1) await hang.promise; // ignores the signal
      },
      { reconcileTimeoutMs: 1_000 },
    );
    controller.start();
    controller.enqueue('stuck');
    controller.enqueue('other');
    await settle();
    expect(started).toEqual(['stuck']);

    await clock.advanceAsync(1_000);
    await settle();
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[0]?.reason).toBeInstanceOf(ReconcileTimeoutError);
    expect(started).toEqual(['stuck', 'other']); // the single worker is free again
    const failure = lines.find((l) => l.msg === 'reconcile failed');
    expect(failure?.err?.type).toBe('ReconcileTimeoutError');

    // The retry comes due, but the abandoned run still holds the key.
    await clock.advanceAsync(100);
    await settle();
    expect(started).toEqual(['stuck', 'other']);
    expect(controller.queue.processingCount()).toBe(1);

    hang.resolve();
    await settle();
    expect(started).toEqual(['stuck', 'other', 'stuck']);
    expect(controller.queue.processingCount()).toBe(0);
    await controller.stop();
  });

  it('a reconcile that honours its signal on timeout is retried', async () => {
    let calls = 0;
    const { controller, clock } = setup(
      (_key, signal) => {
        calls++;
        return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
      { reconcileTimeoutMs: 50 },
    );
    controller.start();
    controller.enqueue('a');
    await settle();
    await clock.advanceAsync(50);
    await settle();
    expect(controller.queue.numRequeues('a')).toBe(1);
    await clock.advanceAsync(5);
    await settle();
    expect(calls).toBe(2);
    // stop() waits for the second attempt, which only ends when its signal aborts.
    controller.cancelInFlight();
    await controller.stop();
  });

  it('cancelInFlight aborts running reconciles with ReconcileCancelledError', async () => {
    const signals: AbortSignal[] = [];
    const { controller, lines } = setup(
      (_key, signal) => {
        signals.push(signal);
        return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
      { workers: 2 },
    );
    controller.start();
    controller.enqueue('a');
    controller.enqueue('b');
    await settle();
    expect(signals).toHaveLength(2);
    controller.cancelInFlight();
    await settle();
    expect(signals.every((s) => s.reason instanceof ReconcileCancelledError)).toBe(true);
    expect(lines.filter((l) => l.msg === 'reconcile cancelled')).toHaveLength(2);
    expect(lines.filter((l) => l.level >= ERROR)).toHaveLength(0);
    await controller.stop();
  });

  it('stop waits for the reconcile in flight and drops queued keys', async () => {
    const gate = deferred();
    const started: string[] = [];
    const { controller } = setup(async (key) => {
      started.push(key);
      await gate.promise;
    });
    controller.start();
    controller.enqueue('a');
    controller.enqueue('b');
    await settle();
    let stopped = false;
    const stopping = controller.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(started).toEqual(['a']);
    expect(() => controller.start()).toThrow(/cannot start again/);
  });

  it('stop() returns once the workers moved on; settled() only once a cancelled reconcile has really ended', async () => {
    const cleanup = deferred();
    let ended = false;
    const { controller } = setup(async (_key, signal) => {
      // Honours the abort, then still has work to finish (a cache refresh, a status write).
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      await cleanup.promise;
      ended = true;
    });
    controller.start();
    controller.enqueue('a');
    await settle();
    controller.cancelInFlight();
    await controller.stop();
    expect(ended).toBe(false);

    let settled = false;
    const settling = controller.settled().then(() => (settled = true));
    await settle();
    expect(settled).toBe(false);
    cleanup.resolve();
    await settling;
    expect(ended).toBe(true);
  });

  it('settled() resolves at once when nothing runs, and after failed and timed-out reconciles too', async () => {
    const hang = deferred();
    const { controller, clock } = setup(
      async (key) => {
        if (key === 'fails') throw new Error('boom');
        await hang.promise; // ignores its signal
      },
      { reconcileTimeoutMs: 1_000, workers: 2 },
    );
    await controller.settled();
    controller.start();
    controller.enqueue('fails');
    controller.enqueue('hangs');
    await settle();
    await clock.advanceAsync(1_000);
    await controller.stop();
    let settled = false;
    const settling = controller.settled().then(() => (settled = true));
    await settle();
    expect(settled).toBe(false); // the timed-out one is still running
    hang.resolve();
    await settling;
  });

  it('two workers never reconcile the same key at once; a re-add while running runs again after', async () => {
    const active = new Map<string, number>();
    let maxPerKey = 0;
    let maxTotal = 0;
    let total = 0;
    let seq = 0;
    const lastEnqueued = new Map<string, number>();
    const lastStarted = new Map<string, number>();
    const { controller } = setup(
      async (key) => {
        const n = (active.get(key) ?? 0) + 1;
        active.set(key, n);
        total++;
        maxPerKey = Math.max(maxPerKey, n);
        maxTotal = Math.max(maxTotal, total);
        lastStarted.set(key, ++seq);
        await settle(1);
        active.set(key, n - 1);
        total--;
      },
      { workers: 2 },
    );
    controller.start();
    const keys = ['a', 'b', 'c'];
    for (let i = 0; i < 150; i++) {
      const key = keys[(i * 5 + (i >> 3)) % keys.length] as string;
      controller.enqueue(key);
      lastEnqueued.set(key, ++seq);
      if (i % 4 === 0) await settle(1);
    }
    while (controller.queue.len() > 0 || controller.queue.processingCount() > 0) await settle(1);
    expect(maxPerKey).toBe(1);
    expect(maxTotal).toBe(2);
    for (const key of keys) expect(lastStarted.get(key)).toBeGreaterThan(lastEnqueued.get(key) as number);
    await controller.stop();
  });
});

describe('Controller.whenProcessed', () => {
  it('resolves only after every named key finished a reconcile, failures included', async () => {
    const gates = new Map([['ns/a', deferred()], ['ns/b', deferred()]]);
    const { controller } = setup(async (key) => {
      await gates.get(key)?.promise;
      if (key === 'ns/b') throw new Error('b failed');
    }, { workers: 2 });
    controller.start();
    let done = false;
    void controller.whenProcessed(['ns/a', 'ns/b']).then(() => (done = true));
    controller.enqueue('ns/a');
    controller.enqueue('ns/b');
    await settle();
    gates.get('ns/a')!.resolve();
    await settle();
    expect(done).toBe(false);
    gates.get('ns/b')!.resolve();
    await settle();
    expect(done).toBe(true);
    await controller.stop();
  });

  it('resolves at once for no keys, and when the controller stops with keys never reconciled', async () => {
    const { controller } = setup(async () => {});
    await expect(controller.whenProcessed([])).resolves.toBeUndefined();
    let done = false;
    void controller.whenProcessed(['ns/never']).then(() => (done = true));
    await settle();
    expect(done).toBe(false);
    await controller.stop();
    await settle();
    expect(done).toBe(true);
    await expect(controller.whenProcessed(['ns/x'])).resolves.toBeUndefined();
  });
});

describe('Controller metrics', () => {
  it('counts results per controller and exposes them in registry.metrics()', async () => {
    const behaviour: Record<string, () => Promise<void | { requeueAfterMs: number }>> = {
      ok: async () => undefined,
      later: async () => ({ requeueAfterMs: 60_000 }),
      invalid: async () => {
        throw new TerminalError('InvalidSpec', 'bad');
      },
      pulling: async () => {
        throw new RequeueAfterError(60_000, 'ImagePulling', 'pulling');
      },
      broken: async () => {
        throw new Error('boom');
      },
    };
    const { controller, registry } = setup((key) => (behaviour[key] as () => Promise<void>)(), {
      name: 'sessions',
      workers: 2,
    });
    controller.start();
    for (const key of Object.keys(behaviour)) controller.enqueue(key);
    await settle();
    const text = await registry.metrics();
    expect(text).toContain('dockerlet_reconcile_total{controller="sessions",result="success"} 1');
    expect(text).toContain('dockerlet_reconcile_total{controller="sessions",result="requeue_after"} 1');
    expect(text).toContain('dockerlet_reconcile_total{controller="sessions",result="terminal"} 1');
    expect(text).toContain('dockerlet_reconcile_total{controller="sessions",result="requeue"} 1');
    expect(text).toContain('dockerlet_reconcile_total{controller="sessions",result="error"} 1');
    expect(text).toContain('dockerlet_reconcile_errors_total{controller="sessions"} 2');
    expect(text).toContain('dockerlet_reconcile_time_seconds_count{controller="sessions"} 5');
    expect(text).toContain('dockerlet_workqueue_adds_total{name="sessions"} 5');
    expect(text).toContain('dockerlet_workqueue_retries_total{name="sessions"} 3');
    expect(text).toContain('dockerlet_workqueue_depth{name="sessions"} 0');
    expect(text).toContain('dockerlet_workqueue_queue_duration_seconds_count{name="sessions"} 5');
    expect(text).toContain('dockerlet_workqueue_work_duration_seconds_count{name="sessions"} 5');
    expect(text).not.toMatch(/key=|ok"|broken"/);
    await controller.stop();
  });
});

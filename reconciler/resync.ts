// Periodic resync: the safety net that re-enqueues everything even when no event arrived. Each
// period is stretched by a random fraction (client-go's JitterUntil) so replicas and controllers
// started together do not all list at the same moment.
import { systemClock } from './clock.ts';
import type { Clock, TimerHandle } from './clock.ts';

export interface ResyncOptions {
  periodMs: number;
  /** Each wait is periodMs * (1 + random * jitter). 0..1, default 0.1. */
  jitter?: number;
  /** Called once per period. If it returns a promise, the next period starts after it settles. */
  onResync: () => void | Promise<void>;
  /** Called with whatever onResync threw; resync continues either way. */
  onError?: (err: unknown) => void;
  clock?: Clock;
  /** Aborting it stops the resync. */
  signal?: AbortSignal;
  /** Injectable for tests. Default Math.random. */
  random?: () => number;
}

/**
 * Calls `onResync` after every jittered period, first one period after the start (the initial
 * list is the caller's job). Returns a function that stops it, as aborting `signal` does.
 */
export function startResync(options: ResyncOptions): () => void {
  const { periodMs, onResync, onError, signal } = options;
  const jitter = options.jitter ?? 0.1;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  if (!(periodMs > 0)) throw new RangeError('periodMs must be positive');
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError('jitter must be between 0 and 1');

  let stopped = false;
  let timer: TimerHandle | undefined;

  const stop = (): void => {
    stopped = true;
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
    signal?.removeEventListener('abort', stop);
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = clock.setTimeout(tick, periodMs * (1 + random() * jitter));
  };

  const tick = (): void => {
    timer = undefined;
    if (stopped) return;
    let pending: void | Promise<void>;
    try {
      pending = onResync();
    } catch (err) {
      onError?.(err);
      schedule();
      return;
    }
    if (pending instanceof Promise) {
      pending.catch((err: unknown) => onError?.(err)).finally(schedule);
    } else {
      schedule();
    }
  };

  if (signal?.aborted) {
    stop();
    return stop;
  }
  signal?.addEventListener('abort', stop, { once: true });
  schedule();
  return stop;
}

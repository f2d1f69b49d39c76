// Time as a dependency. The queue, the controller and resync take a Clock so tests can drive
// time (FakeClock, or vitest fake timers through systemClock) instead of sleeping.

/** Opaque timer handle: only the clock that made it knows what it is. */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds since the epoch (or since any fixed origin; only differences are used). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock. The globals are looked up on every call, not captured at import, so that
 * `vi.useFakeTimers()` installed after this module loaded still takes effect.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

/** Waits `ms` on `clock`, or less when `signal` aborts. Never rejects. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Lets the process exit while only this timer is pending (Node's `unref`), for timers that retry
 * in the background. A fake clock's handle has no such thing and is left as it is.
 */
export function unrefTimer(handle: TimerHandle): void {
  (handle as { unref?: () => void } | null)?.unref?.();
}

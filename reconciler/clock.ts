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

// Per-key exponential backoff, as client-go's ItemExponentialFailureRateLimiter: the n-th
// consecutive failure of a key waits base * 2^n, capped at max, until the key is forgotten.

export interface RateLimiter {
  /** Delay before the key may be retried; counts one more failure for it. */
  when(key: string): number;
  /** Resets the key's failure count (after a success, or when the key is dropped). */
  forget(key: string): void;
  /** Consecutive failures counted for the key. */
  numRequeues(key: string): number;
}

export interface ExponentialRateLimiterOptions {
  /** Delay after the first failure. Default 5 ms (client-go). */
  baseDelayMs?: number;
  /** Ceiling for the delay. Default 1000 s (client-go). */
  maxDelayMs?: number;
}

export const DEFAULT_BASE_DELAY_MS = 5;
export const DEFAULT_MAX_DELAY_MS = 1_000_000;

export class ItemExponentialFailureRateLimiter implements RateLimiter {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly #failures = new Map<string, number>();

  constructor(options: ExponentialRateLimiterOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    this.maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    if (!(this.baseDelayMs >= 0) || !(this.maxDelayMs >= 0)) {
      throw new RangeError('rate limiter delays must be non-negative numbers');
    }
  }

  when(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    // 2 ** n overflows to Infinity after ~1000 failures; min() still yields the cap (and a zero
    // base must not turn into 0 * Infinity = NaN).
    if (this.baseDelayMs === 0) return 0;
    return Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
}

// The elector's time rules: which lease timings are safe, and waits that a hung backend call or a
// stop request cannot stretch. Everything runs on an injected Clock so tests drive time.
import type { Clock } from './clock.ts';
import type { LeaseTimings } from './leader.ts';

/**
 * Throws unless the timings keep the one-leader guarantee: a leader stops at renewDeadline after
 * its last renewal, which must come before the lease expires at leaseDuration (else a standby
 * could acquire while the old leader still acts), and it must get at least one retry before that.
 */
export function validateLeaseTimings(timings: LeaseTimings): LeaseTimings {
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = timings;
  for (const [name, value] of Object.entries({ leaseDurationMs, renewDeadlineMs, retryPeriodMs })) {
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`lease timing ${name} must be a positive number of milliseconds, got ${value}`);
  }
  if (!(renewDeadlineMs < leaseDurationMs)) {
    throw new RangeError(
      `renewDeadlineMs (${renewDeadlineMs}) must be less than leaseDurationMs (${leaseDurationMs}): ` +
        'a leader must stop leading before its lease can expire and a standby take it over',
    );
  }
  if (!(retryPeriodMs < renewDeadlineMs)) {
    throw new RangeError(
      `retryPeriodMs (${retryPeriodMs}) must be less than renewDeadlineMs (${renewDeadlineMs}): ` +
        'a leader needs at least one more renewal attempt before its deadline',
    );
  }
  return timings;
}

/** A lock operation that did not answer in time; the elector treats it like an unreachable backend. */
export class LeaseCallTimeoutError extends Error {
  override readonly name = 'LeaseCallTimeoutError';
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
  ) {
    super(`lease ${operation} did not answer within ${timeoutMs} ms`);
  }
}

/** The elector stopped (its run signal aborted) while a lock operation was in flight. */
export class LeaseCallAbortedError extends Error {
  override readonly name = 'LeaseCallAbortedError';
  constructor(readonly operation: string) {
    super(`lease ${operation} abandoned: the elector is stopping`);
  }
}

/**
 * Runs one lock operation, settling after at most `timeoutMs` or when `signal` aborts. A late
 * answer is dropped: acting on it could extend a leadership the elector has already given up.
 */
export function bounded<T>(clock: Clock, operation: string, work: () => Promise<T>, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new LeaseCallAbortedError(operation));
      return;
    }
    const finish = (settle: () => void): void => {
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const onAbort = (): void => finish(() => reject(new LeaseCallAbortedError(operation)));
    const timer = clock.setTimeout(() => finish(() => reject(new LeaseCallTimeoutError(operation, timeoutMs))), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    let pending: Promise<T>;
    try {
      pending = work();
    } catch (error) {
      finish(() => reject(error));
      return;
    }
    // Handlers are attached even when the timeout won, so a late rejection is never unhandled.
    pending.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}

/** Waits for `value` if it is a promise, at most `ms`. Never rejects: this is for best-effort waits. */
export async function settleWithin(clock: Clock, value: unknown, ms: number): Promise<'settled' | 'timeout'> {
  if (!isThenable(value)) return 'settled';
  try {
    await bounded(clock, 'wait', () => Promise.resolve(value), ms);
    return 'settled';
  } catch (error) {
    return error instanceof LeaseCallTimeoutError ? 'timeout' : 'settled';
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

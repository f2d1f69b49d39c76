// Typed errors whose class says what the work queue does next. The controller loop maps them to
// queue operations in one place (reconciler/controller.ts); nothing else decides about retries.

/** The object cannot converge until a human changes it (invalid spec). Stalled, no retry. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
  constructor(
    readonly reason: string,
    message: string,
    readonly fieldPath?: string,
  ) {
    super(message);
  }
}

/** Waiting on something expected to resolve by itself (image pulling, back-off). Requeue after a delay. */
export class RequeueAfterError extends Error {
  override readonly name = 'RequeueAfterError';
  constructor(
    readonly delayMs: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A write was not sent because this replica can no longer be sure it holds the lease (leadership
 * ended, its renew deadline passed on the monotonic clock, or the store saw a newer fencing token).
 * Not the object's failure and not retried: the replica that leads now reconciles it.
 */
export class FencedError extends Error {
  override readonly name = 'FencedError';
  constructor(
    /** What was refused, e.g. "engine create" or "status write". */
    readonly operation: string,
    /** The token the write was made under, when there was one. */
    readonly token: number | undefined,
    readonly why: string,
  ) {
    super(`${operation} not sent: ${why}${token === undefined ? '' : ` (fencing token ${token})`}`);
  }
}

/** What a successful reconcile asks of the queue. */
export interface ReconcileResult {
  /** Reconcile again after this many milliseconds (periodic checks, waits that are not errors). */
  requeueAfterMs?: number;
}

export type Outcome =
  | { kind: 'success'; requeueAfterMs?: number }
  | { kind: 'terminal'; error: TerminalError }
  | { kind: 'requeueAfter'; delayMs: number; error: RequeueAfterError }
  | { kind: 'fenced'; error: FencedError }
  | { kind: 'retry'; error: unknown };

/** Classifies a reconcile's result or thrown value. Pure, so the mapping is testable. */
export function classify(result: ReconcileResult | undefined, error: unknown, failed: boolean): Outcome {
  if (!failed) {
    return result?.requeueAfterMs !== undefined
      ? { kind: 'success', requeueAfterMs: result.requeueAfterMs }
      : { kind: 'success' };
  }
  if (error instanceof TerminalError) return { kind: 'terminal', error };
  if (error instanceof RequeueAfterError) return { kind: 'requeueAfter', delayMs: error.delayMs, error };
  if (error instanceof FencedError) return { kind: 'fenced', error };
  return { kind: 'retry', error };
}

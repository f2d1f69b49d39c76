// A per-call deadline as an AbortSignal. docker-modem only has a per-client socket idle timeout,
// which cannot express "a stop may take its grace period plus a bit" or "a pull may stream for
// minutes once it started", so every call gets its own signal instead.

export interface Deadline {
  /** Aborts when the deadline passes or the parent signal aborts. */
  readonly signal: AbortSignal;
  /** True once the deadline (not the parent) aborted the signal. */
  readonly expired: boolean;
  /** Stops the clock but keeps following the parent (a stream that has started answering). */
  stopClock(): void;
  /** Stops the clock and forgets the parent; call in `finally`, so no timer or listener outlives the call. */
  dispose(): void;
}

export function startDeadline(timeoutMs: number, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new Error(`no answer from the engine within ${timeoutMs} ms`));
  }, timeoutMs);
  const onParentAbort = (): void => controller.abort(parent?.reason);
  if (parent?.aborted === true) onParentAbort();
  else parent?.addEventListener('abort', onParentAbort, { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    stopClock() {
      clearTimeout(timer);
    },
    dispose() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParentAbort);
    },
  };
}

/**
 * Settles no later than the signal aborts, for the few dockerode calls that ignore abortSignal;
 * the late outcome of the abandoned call is swallowed.
 */
export function settleBy<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

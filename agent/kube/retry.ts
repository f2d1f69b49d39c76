// client-go retries a request the API server answered with 429 Too Many Requests (API priority
// and fairness, or a resource whose storage is being rebuilt after a CRD update) after the
// Retry-After it names; @kubernetes/client-node does not, so the calls that must not fail for a
// moment's overload go through this.
import { ApiException } from '@kubernetes/client-node';

export interface RetryOptions {
  /** Stop retrying once this much time was spent waiting. Default 10 s. */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_RETRY_AFTER_S = 1;
// A server asking for longer than this still gets retried, just sooner than it asked.
const MAX_SINGLE_WAIT_MS = 2_000;

export async function retryTooManyRequests<T>(call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const maxWaitMs = options.maxWaitMs ?? 10_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let waited = 0;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof ApiException) || error.code !== 429 || waited >= maxWaitMs) throw error;
      const header = Number(error.headers?.['retry-after']);
      const waitMs = Math.min((Number.isFinite(header) && header > 0 ? header : DEFAULT_RETRY_AFTER_S) * 1000, MAX_SINGLE_WAIT_MS, maxWaitMs - waited);
      waited += waitMs;
      await sleep(waitMs);
    }
  }
}

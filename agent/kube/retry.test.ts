// 429 Too Many Requests is retried after the Retry-After the server names, within a budget; any
// other failure is not retried.
import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { retryTooManyRequests } from './retry.ts';

const tooMany = (retryAfter?: string): ApiException<string> =>
  new ApiException(429, 'storage is (re)initializing', '', retryAfter === undefined ? {} : { 'retry-after': retryAfter });

function failing(errors: unknown[]): { call: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    call: async () => {
      const error = errors[calls++];
      if (error !== undefined) throw error;
      return 'ok';
    },
    calls: () => calls,
  };
}

describe('retryTooManyRequests', () => {
  it('waits the Retry-After (1 s when absent, at most 2 s) and tries again', async () => {
    const waits: number[] = [];
    const f = failing([tooMany('1'), tooMany(), tooMany('30')]);
    await expect(retryTooManyRequests(f.call, { sleep: async (ms) => void waits.push(ms) })).resolves.toBe('ok');
    expect(waits).toEqual([1_000, 1_000, 2_000]);
    expect(f.calls()).toBe(4);
  });

  it('gives up once the waiting budget is spent, with the last 429', async () => {
    const waits: number[] = [];
    const f = failing(Array.from({ length: 10 }, () => tooMany('1')));
    await expect(retryTooManyRequests(f.call, { maxWaitMs: 2_500, sleep: async (ms) => void waits.push(ms) })).rejects.toMatchObject({ code: 429 });
    expect(waits).toEqual([1_000, 1_000, 500]);
  });

  it('does not retry other errors', async () => {
    const f = failing([new ApiException(403, 'forbidden', '', {})]);
    await expect(retryTooManyRequests(f.call, { sleep: async () => undefined })).rejects.toMatchObject({ code: 403 });
    expect(f.calls()).toBe(1);
  });
});

// dockerlet_sessions{phase}: counted at scrape time from Session status, every phase present.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { SessionStatus } from '../../crds/types.ts';
import { MemoryStatusStore } from '../../test/support/memory-stores.ts';
import { registerSessionMetrics } from './metrics.ts';

async function counts(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('dockerlet_sessions')!.get();
  return Object.fromEntries(metric.values.map((v) => [String(v.labels['phase']), v.value]));
}

describe('dockerlet_sessions', () => {
  it('counts Sessions per phase at scrape time, zero for phases nobody is in', async () => {
    const registry = new Registry();
    const store = new MemoryStatusStore<SessionStatus>();
    registerSessionMetrics(registry, store);
    store.seed('default/a', { phase: 'Running' });
    store.seed('default/b', { phase: 'Running' });
    store.seed('team/c', { phase: 'Pending' });
    store.seed('team/d', {});
    expect(await counts(registry)).toEqual({ Pending: 1, Creating: 0, Running: 2, Stopped: 0, Failed: 0, Terminating: 0 });

    await store.write('team/c', { phase: 'Failed' });
    expect(await counts(registry)).toEqual({ Pending: 0, Creating: 0, Running: 2, Stopped: 0, Failed: 1, Terminating: 0 });
  });
});

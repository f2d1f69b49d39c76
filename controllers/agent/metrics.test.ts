// dockerlet_agents{state}: counted at scrape time from the agent records, registered once per
// registry however often a replica (re)registers it.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../crds/types.ts';
import { FakeClock } from '../../reconciler/fake-clock.ts';
import { MemoryStatusStore } from '../../test/support/memory-stores.ts';
import { registerAgentMetrics } from './metrics.ts';

const START = Date.parse('2026-01-01T00:00:00Z');
const at = (ms: number): string => new Date(ms).toISOString();

async function counts(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('dockerlet_agents')!.get();
  return Object.fromEntries(metric.values.map((v) => [String(v.labels['state']), v.value]));
}

describe('dockerlet_agents', () => {
  it('counts Online and Offline at scrape time, a stale beat counting as Offline', async () => {
    const registry = new Registry();
    const clock = new FakeClock(START);
    const store = new MemoryStatusStore<AgentStatus>();
    registerAgentMetrics(registry, { store, clock });
    expect(await counts(registry)).toEqual({ Online: 0, Offline: 0 });

    store.seed('a', { state: 'Online', lastHeartbeatTime: at(START) });
    store.seed('b', { state: 'Online', lastHeartbeatTime: at(START - 10_000) });
    store.seed('c', { state: 'Offline', lastHeartbeatTime: at(START - 60_000) });
    expect(await counts(registry)).toEqual({ Online: 2, Offline: 1 });

    clock.advance(6_000); // b's beat is now 16 s old: past the 15 s grace period
    expect(await counts(registry)).toEqual({ Online: 1, Offline: 2 });
    expect(await registry.metrics()).toContain('dockerlet_agents{state="Online"} 1');
  });

  it('registers once per registry; registering again switches the source', async () => {
    const registry = new Registry();
    const clock = new FakeClock(START);
    const first = new MemoryStatusStore<AgentStatus>();
    first.seed('a', { state: 'Online', lastHeartbeatTime: at(START) });
    const second = new MemoryStatusStore<AgentStatus>();
    registerAgentMetrics(registry, { store: first, clock });
    registerAgentMetrics(registry, { store: second, clock });
    expect(registry.getMetricsAsArray().filter((m) => m.name === 'dockerlet_agents')).toHaveLength(1);
    expect(await counts(registry)).toEqual({ Online: 0, Offline: 0 });

    registry.clear();
    registerAgentMetrics(registry, { store: first, clock, gracePeriodMs: 1_000 });
    expect(await counts(registry)).toEqual({ Online: 1, Offline: 0 });
  });
});

// dockerlet_agents{state}: how many agents are Online and Offline, counted from the agent records
// when Prometheus scrapes (no ticker, never stale). One label with two values: per-agent state
// lives in status, not in label values.
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { AgentStatus } from '../../crds/types.ts';
import { AGENT_STATES } from '../../crds/types.ts';
import type { AgentState } from '../../crds/types.ts';
import { DEFAULT_GRACE_PERIOD_MS, effectiveAgentState } from './record.ts';
import type { Clock } from '../../reconciler/clock.ts';
import type { StatusStore } from '../../reconciler/store.ts';

export const AGENTS_METRIC = 'dockerlet_agents' as const;

export interface AgentCountSource {
  store: Pick<StatusStore<AgentStatus>, 'list'>;
  clock: Clock;
  /** Default 15 s, as the liveness controller's. */
  gracePeriodMs?: number;
}

// The source the gauge of each registry reads at scrape time. Registering again (a new leadership
// term with a freshly loaded store) replaces the source; the gauge stays.
const sources = new WeakMap<Registry, AgentCountSource>();

/**
 * Registers the gauge on `registry`, or points the existing one at `source` (prom-client throws
 * on a duplicate name, and every replica registers at start and again on each leadership change).
 */
export function registerAgentMetrics(registry: Registry, source: AgentCountSource): void {
  sources.set(registry, source);
  const existing = registry.getSingleMetric(AGENTS_METRIC);
  if (existing !== undefined) {
    if (!(existing instanceof Gauge)) throw new Error(`metric ${AGENTS_METRIC} is already registered with a different type`);
    return;
  }
  new Gauge({
    name: AGENTS_METRIC,
    help: 'Number of agents per state (Online, Offline), from the agent records.',
    labelNames: ['state'],
    registers: [registry],
    collect(this: Gauge<'state'>) {
      const counts = countAgents(sources.get(registry));
      for (const state of AGENT_STATES) this.set({ state }, counts[state]);
    },
  });
}

/**
 * Counts by the state `get agents` shows: the stored state, but Offline once the beat is older than
 * the grace period, so the metric and the CLI agree even before liveness has written it (the
 * leader waits one grace period after taking over, and no one is left to write it if the only
 * agent is down).
 */
export function countAgents(source: AgentCountSource | undefined): Record<AgentState, number> {
  const counts: Record<AgentState, number> = { Online: 0, Offline: 0 };
  if (source === undefined) return counts;
  const now = source.clock.now();
  const grace = source.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
  for (const status of source.store.list().values()) counts[effectiveAgentState(status, now, grace)] += 1;
  return counts;
}

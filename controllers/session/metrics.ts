// dockerlet_sessions{phase}: Sessions per phase, counted from their status when Prometheus
// scrapes (no ticker, never stale): the twin of dockerlet_agents in controllers/agent/metrics.ts.
// One label with six values; per-Session state lives in status, not in label values.
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { SessionStatus } from '../../crds/types.ts';
import { SESSION_PHASES } from '../../crds/types.ts';
import type { StatusStore } from '../../reconciler/store.ts';

export const SESSIONS_METRIC = 'dockerlet_sessions' as const;

export function registerSessionMetrics(registry: Registry, store: Pick<StatusStore<SessionStatus>, 'list'>): void {
  new Gauge({
    name: SESSIONS_METRIC,
    help: 'Sessions by phase, from their status.',
    labelNames: ['phase'],
    registers: [registry],
    collect() {
      const counts = new Map<string, number>(SESSION_PHASES.map((p) => [p, 0]));
      for (const status of store.list().values()) if (status.phase) counts.set(status.phase, (counts.get(status.phase) ?? 0) + 1);
      for (const [phase, n] of counts) this.set({ phase }, n);
    },
  });
}

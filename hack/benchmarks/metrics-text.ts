// Reading the agent's Prometheus text: one sample by name and labels, summed across the labels not
// asked for. The suite compares two scrapes (before/after) far more often than it reads one.

/** Sum of the samples of `name` whose labels include every pair of `labels`. */
export function sampleSum(metricsText: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  const pattern = new RegExp(`^${name}(?:\\{([^}]*)\\})?\\s+([0-9.eE+-]+|NaN)$`, 'gm');
  for (const match of metricsText.matchAll(pattern)) {
    const text = match[1] ?? '';
    if (Object.entries(labels).every(([key, value]) => text.includes(`${key}="${value}"`))) total += Number(match[2]);
  }
  return total;
}

/** The counters the steady-state scenarios turn into "per resync" / "per restart" numbers. */
export interface AgentCounters {
  /** dockerlet_docker_api_requests_total by op. */
  calls: Record<string, number>;
  reconciles: number;
  reconcileSeconds: number;
  /** dockerlet_resync_duration_seconds: sum and count of whole resyncs (relist → every key reconciled). */
  resyncSeconds: number;
  resyncs: number;
  cpuSeconds: number;
}

export function agentCounters(metricsText: string): AgentCounters {
  const calls: Record<string, number> = {};
  const pattern = /^dockerlet_docker_api_requests_total\{([^}]*)\}\s+([0-9.eE+-]+)$/gm;
  for (const match of metricsText.matchAll(pattern)) {
    const op = /op="([^"]*)"/.exec(match[1] ?? '')?.[1] ?? '?';
    calls[op] = (calls[op] ?? 0) + Number(match[2]);
  }
  return {
    calls,
    reconciles: sampleSum(metricsText, 'dockerlet_reconcile_total', { controller: 'session' }),
    reconcileSeconds: sampleSum(metricsText, 'dockerlet_reconcile_time_seconds_sum', { controller: 'session' }),
    resyncSeconds: sampleSum(metricsText, 'dockerlet_resync_duration_seconds_sum', { controller: 'session' }),
    resyncs: sampleSum(metricsText, 'dockerlet_resync_duration_seconds_count', { controller: 'session' }),
    cpuSeconds: sampleSum(metricsText, 'dockerlet_process_cpu_seconds_total'),
  };
}

/** after − before, per op (ops that did not move are left out). */
export function callDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [op, n] of Object.entries(after)) {
    const d = n - (before[op] ?? 0);
    if (d !== 0) delta[op] = d;
  }
  return delta;
}

// Why an agent cannot take a Session, one short reason per agent, and the Unschedulable message
// made of them: "host-a: Offline; host-b: memory 3.5Gi/4Gi, needs 1Gi". Pure.
import type { AgentLoad, AgentView, SessionView } from './views.ts';

export const REFUSAL_KINDS = ['offline', 'cordoned', 'draining', 'selector', 'sessions', 'cpu', 'memory', 'leaving'] as const;
export type RefusalKind = (typeof REFUSAL_KINDS)[number];

export interface Refusal {
  agent: string;
  kind: RefusalKind;
  text: string;
}

/** The first reason `agent` cannot take `session`, or undefined when it can. */
export function refusalOf(agent: AgentView, load: AgentLoad, session: SessionView): Refusal | undefined {
  const refuse = (kind: RefusalKind, text: string): Refusal => ({ agent: agent.name, kind, text });
  if (agent.state !== 'Online') return refuse('offline', 'Offline');
  if (agent.draining) return refuse('draining', 'draining');
  if (agent.cordoned) return refuse('cordoned', 'cordoned');
  const mismatched = Object.entries(session.selector ?? {}).filter(([key, value]) => agent.labels[key] !== value);
  if (mismatched.length > 0) return refuse('selector', `labels do not match ${mismatched.map(([k, v]) => `${k}=${v}`).join(',')}`);
  const { capacity } = agent;
  if (capacity.sessions !== undefined && load.sessions + 1 > capacity.sessions) return refuse('sessions', `sessions ${load.sessions}/${capacity.sessions}`);
  const { nanoCpus, memoryBytes } = session.request;
  if (nanoCpus > 0 && capacity.nanoCpus !== undefined && load.nanoCpus + nanoCpus > capacity.nanoCpus) {
    return refuse('cpu', `cpu ${formatCpus(load.nanoCpus)}/${formatCpus(capacity.nanoCpus)}, needs ${formatCpus(nanoCpus)}`);
  }
  if (memoryBytes > 0 && capacity.memoryBytes !== undefined && load.memoryBytes + memoryBytes > capacity.memoryBytes) {
    return refuse('memory', `memory ${formatMemory(load.memoryBytes)}/${formatMemory(capacity.memoryBytes)}, needs ${formatMemory(memoryBytes)}`);
  }
  return undefined;
}

/** Agents named one by one up to this many; the rest are counted by reason. */
export const NAMED_REFUSALS = 8;

export function describeRefusals(refusals: readonly Refusal[]): string {
  if (refusals.length === 0) return 'no agents';
  const named = refusals.slice(0, NAMED_REFUSALS).map((r) => `${r.agent}: ${r.text}`);
  const rest = refusals.slice(NAMED_REFUSALS);
  if (rest.length === 0) return named.join('; ');
  const counts = new Map<RefusalKind, number>();
  for (const r of rest) counts.set(r.kind, (counts.get(r.kind) ?? 0) + 1);
  const summary = [...counts].map(([kind, n]) => `${n} ${kind}`).join(', ');
  return `${named.join('; ')}; ${rest.length} more (${summary})`;
}

/** Bytes as people write limits: 512Mi, 3.5Gi (one decimal at most). */
export function formatMemory(bytes: number): string {
  const units = [
    ['Ti', 2 ** 40],
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ] as const;
  for (const [unit, size] of units) if (bytes >= size) return `${trim(bytes / size)}${unit}`;
  return String(bytes);
}

/** NanoCPUs as cores: 2, 1.5, 0.25. */
export function formatCpus(nanoCpus: number): string {
  return trim(nanoCpus / 1e9, 2);
}

function trim(value: number, decimals = 1): string {
  return String(Number(value.toFixed(decimals)));
}

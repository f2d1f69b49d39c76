// The scheduler's metrics (README "Fleet"): bindings written by result, Sessions that cannot be
// placed now, moves off lost or draining agents, and how long a Session waited for its binding.
// No per-Session or per-agent labels; who is where lives in status.
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

export const BIND_RESULTS = ['ok', 'conflict', 'gone', 'error'] as const;
export type BindResultLabel = (typeof BIND_RESULTS)[number];

export interface SchedulerMetrics {
  bound(result: BindResultLabel): void;
  unschedulable(count: number): void;
  rescheduled(): void;
  /** Seconds from the scheduler first seeing a Session unbound to its binding being written. */
  latency(seconds: number): void;
  /** The fleet's agents as the last pass saw them. */
  agents(online: number, offline: number): void;
}

export function createSchedulerMetrics(registry: Registry): SchedulerMetrics {
  const bindings = new Counter({ name: 'dockerlet_scheduler_bindings_total', help: 'Binding writes by the scheduler, by result (conflict: another writer came first).', labelNames: ['result'] as const, registers: [registry] });
  for (const result of BIND_RESULTS) bindings.inc({ result }, 0);
  const unschedulable = new Gauge({ name: 'dockerlet_scheduler_unschedulable', help: 'Sessions no agent can take, as of the last scheduling pass.', registers: [registry] });
  const reschedules = new Counter({ name: 'dockerlet_scheduler_reschedules_total', help: 'Sessions moved to another agent (theirs Offline longer than --reschedule-after, or draining).', registers: [registry] });
  const latency = new Histogram({
    name: 'dockerlet_scheduler_scheduling_latency_seconds',
    help: 'From the scheduler first seeing a Session unbound to its binding being written.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const agents = new Gauge({ name: 'dockerlet_scheduler_agents', help: "The fleet's agents as the last scheduling pass saw them, by state.", labelNames: ['state'] as const, registers: [registry] });
  return {
    agents: (online, offline) => {
      agents.set({ state: 'Online' }, online);
      agents.set({ state: 'Offline' }, offline);
    },
    bound: (result) => bindings.inc({ result }),
    unschedulable: (count) => unschedulable.set(count),
    rescheduled: () => reschedules.inc(),
    latency: (seconds) => latency.observe(seconds),
  };
}

export const noSchedulerMetrics: SchedulerMetrics = { bound: () => {}, unschedulable: () => {}, rescheduled: () => {}, latency: () => {}, agents: () => {} };

// The scheduler: one pass reads the fleet (agent records, Sessions, bindings), runs place() and
// writes what changed: new bindings and moves (each conditional on the binding it was decided
// from), and the Scheduled condition. It runs only in the process that holds the fleet lease
// (agent/fleet/scheduler-work.ts), as a controller with one key: every change of a Session, a
// binding or an agent record enqueues that key, and the queue folds a burst into one pass.
import type { Logger } from 'pino';
import type { AgentStatus, Condition, ObjectKey, Session } from '../../crds/types.ts';
import { API_VERSION, splitKey } from '../../crds/types.ts';
import type { Clock } from '../../reconciler/clock.ts';
import { setCondition } from '../../reconciler/conditions.ts';
import type { ReconcileResult } from '../../reconciler/errors.ts';
import type { EventRecorder } from '../../reconciler/events.ts';
import type { DesiredStore, StatusStore } from '../../reconciler/store.ts';
import type { BindingStore, BindResult } from './bindings.ts';
import { SCHEDULED } from './bindings.ts';
import { fleetView } from './fleet-view.ts';
import type { SchedulerMetrics } from './metrics.ts';
import { noSchedulerMetrics } from './metrics.ts';
import type { Decision } from './place.ts';
import { decisionsToString, place } from './place.ts';

/** The one key of the scheduler's queue: a pass always looks at the whole fleet. */
export const FLEET_KEY = 'fleet' as const;

export interface SchedulerDeps {
  fleet: string;
  store: DesiredStore<Session>;
  agents: Pick<StatusStore<AgentStatus>, 'list'>;
  /** Re-reads the agent records when the copy is older than half a pass interval (a new agent is placed on at once). */
  rereadAgents?: () => Promise<void>;
  bindings: BindingStore;
  clock: Clock;
  logger: Logger;
  livenessGraceMs: number;
  /** 0: never move a Session off an Offline agent. */
  rescheduleAfterMs: number;
  /** Passes repeat at least this often (an agent going Offline changes nothing in any store). */
  passIntervalMs: number;
  /** Agents `dockerlet drain` was asked for. */
  draining?: () => ReadonlySet<string>;
  metrics?: SchedulerMetrics;
  events?: EventRecorder;
}

/** Binding and condition writes in flight at once in a pass (one PATCH or one Lua call each). */
const WRITE_CONCURRENCY = 16;

/** After a conflicting write, decide again this soon (the winner's write is on its way to us). */
const CONFLICT_RETRY_MS = 200;

export function createScheduler(deps: SchedulerDeps): (signal: AbortSignal) => Promise<ReconcileResult> {
  const metrics = deps.metrics ?? noSchedulerMetrics;
  /** When this scheduler first saw each unbound Session, for the latency histogram. */
  const firstSeen = new Map<ObjectKey, number>();
  /** A draining agent's Session moved off and where to: nothing more moves off it until that one runs there. */
  const drainMoves = new Map<string, { key: ObjectKey; to: string; since: number }>();
  let agentsReadAt = Number.NEGATIVE_INFINITY;

  return async function schedule(signal: AbortSignal): Promise<ReconcileResult> {
    if (deps.rereadAgents && deps.clock.now() - agentsReadAt > deps.passIntervalMs / 2) {
      await deps.rereadAgents().catch((error: unknown) => deps.logger.warn({ err: error }, 'reading agent records failed'));
      agentsReadAt = deps.clock.now();
    }
    const now = deps.clock.now();
    const log = deps.logger;
    // Deciding from bindings that may be stale could bind a Session twice over: wait for them.
    if (!deps.bindings.fresh()) return { requeueAfterMs: deps.passIntervalMs };
    const entries = deps.store.list().flatMap((e) => (e.object ? [{ key: e.key, object: e.object }] : []));
    const view = fleetView({
      fleet: deps.fleet,
      records: deps.agents.list(),
      sessions: entries,
      binding: (key) => deps.bindings.get(key),
      draining: deps.draining?.() ?? new Set(),
      now,
      livenessGraceMs: deps.livenessGraceMs,
    });
    for (const [agent, move] of drainMoves) {
      const settled = deps.bindings.get(move.key)?.agent !== move.to || view.agents.find((a) => a.name === move.to)?.state !== 'Online' || now - move.since > deps.rescheduleAfterMs;
      if (settled) drainMoves.delete(agent);
    }
    const decisions = place({ agents: view.agents, sessions: view.sessions, rescheduleAfterMs: deps.rescheduleAfterMs, drainBusy: new Set(drainMoves.keys()), now: new Date(now).toISOString() });
    const changes = decisions.filter((d) => d.change !== 'none');
    if (changes.length > 0) log.debug({ plan: decisionsToString(changes) }, 'scheduling pass');

    // Each write is conditional on its own Session's binding, so they are independent: a burst of
    // new Sessions is bound WRITE_CONCURRENCY at a time rather than one round trip after another.
    let conflicts = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < decisions.length && !signal.aborted) {
        const result = await write(decisions[next++]!, now);
        if (result === 'conflict') conflicts += 1;
      }
    };
    await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, decisions.length) }, worker));
    metrics.unschedulable(decisions.filter((d) => d.scheduled.status === 'False').length);
    const online = view.agents.filter((a) => a.state === 'Online').length;
    metrics.agents(online, view.agents.length - online);
    if (deps.store.isComplete()) await forgetDeleted(new Set(entries.map((e) => e.key)));
    for (const key of firstSeen.keys()) if (!deps.store.get(key)) firstSeen.delete(key);
    return { requeueAfterMs: conflicts > 0 ? CONFLICT_RETRY_MS : deps.passIntervalMs };
  };

  async function write(decision: Decision, now: number): Promise<BindResult | 'none'> {
    const { key } = decision;
    const stored = deps.bindings.scheduled(key);
    const condition = scheduledCondition(stored, decision, now);
    if (decision.change === 'none' || !decision.binding) {
      if (!decision.binding && !firstSeen.has(key)) firstSeen.set(key, now);
      if (sameCondition(stored, condition)) return 'none';
      return guarded(() => deps.bindings.setScheduled(key, condition), undefined);
    }
    const previous = deps.bindings.get(key);
    const result = await guarded(() => deps.bindings.bind({ key, ...(previous ? { previous } : {}), next: decision.binding!, scheduled: condition }), 'bind');
    if (result !== 'ok') return result;
    const { agent, epoch } = decision.binding;
    if (decision.change === 'bind') {
      const seen = firstSeen.get(key) ?? now;
      metrics.latency(Math.max(0, deps.clock.now() - seen) / 1000);
      firstSeen.delete(key);
      deps.logger.debug({ key, agent, epoch }, 'Session bound');
    } else {
      metrics.rescheduled();
      if (decision.binding.reason === 'Drained' && decision.from) drainMoves.set(decision.from, { key, to: agent, since: now });
      deps.logger.info({ key, from: decision.from, agent, epoch, cause: decision.cause }, 'Session moved to another agent');
      record(key, 'Rescheduled', `${decision.cause}: moved from ${decision.from} to ${agent} (epoch ${epoch})`);
    }
    return result;
  }

  /** A write's outcome for the metric; a failure is logged and counts as an error, and the pass goes on. */
  async function guarded(attempt: () => Promise<BindResult>, metric: 'bind' | undefined): Promise<BindResult | 'none'> {
    try {
      const result = await attempt();
      if (metric) metrics.bound(result);
      return result;
    } catch (error) {
      if (metric) metrics.bound('error');
      deps.logger.warn({ err: error }, 'writing a binding failed; the next pass tries again');
      return 'none';
    }
  }

  async function forgetDeleted(present: ReadonlySet<ObjectKey>): Promise<void> {
    for (const [key, binding] of deps.bindings.list()) {
      if (present.has(key)) continue;
      await deps.bindings.unbind(key, binding).catch((error: unknown) => deps.logger.debug({ err: error, key }, 'dropping the binding of a deleted Session failed'));
    }
  }

  function record(key: ObjectKey, reason: string, message: string): void {
    const { namespace, name } = splitKey(key);
    deps.events?.record({ apiVersion: API_VERSION, kind: 'Session', name, ...(namespace ? { namespace } : {}) }, 'Normal', reason, message);
  }
}

function scheduledCondition(stored: Condition | undefined, decision: Decision, now: number): Condition {
  const { status, reason, message } = decision.scheduled;
  const [condition] = setCondition(stored ? [stored] : [], { type: SCHEDULED, status, reason, message }, new Date(now));
  return condition!;
}

function sameCondition(a: Condition | undefined, b: Condition): boolean {
  return a?.status === b.status && a.reason === b.reason && a.message === b.message;
}

// The agent liveness controller: one reconcile per agent name, marking an agent Offline when its
// last heartbeat is older than the grace period. It never writes Online: only a heartbeat does
// (FIELD-NOTES row 4), so an agent that comes back is Online with its next beat, whoever leads.
import type { Logger } from 'pino';
import type { AgentStatus, ObjectKey } from '../../crds/types.ts';
import { AGENT_READY_REASONS, DEFAULT_GRACE_PERIOD_MS, heartbeatAgeMs, writeAgentRecord } from './record.ts';
import type { Clock } from '../../reconciler/clock.ts';
import { getCondition, READY, setCondition } from '../../reconciler/conditions.ts';
import { Controller } from '../../reconciler/controller.ts';
import type { ReconcileContext, ReconcileFn } from '../../reconciler/controller.ts';
import type { ReconcileResult } from '../../reconciler/errors.ts';
import type { ReconcilerMetrics } from '../../reconciler/metrics.ts';
import type { StatusStore } from '../../reconciler/store.ts';

export const LIVENESS_CONTROLLER = 'agent-liveness' as const;

export interface LivenessOptions {
  /** Every agent's record (shared): read for the beat's age, written only to mark Offline. */
  store: StatusStore<AgentStatus>;
  clock: Clock;
  logger: Logger;
  /** Default 15 s: three missed beats of the default 5 s interval. */
  gracePeriodMs?: number;
  /** clock.now() when this replica became leader. */
  startedAt: number;
}

/**
 * reconcile(agentName). Decides from the stored record and the clock only, so it gives the same
 * answer whatever woke it. Reads and writes with no await in between: a heartbeat in the same
 * process cannot land between the decision and the write.
 */
export function createLivenessReconciler(options: LivenessOptions): ReconcileFn {
  const grace = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
  if (!(grace > 0)) throw new RangeError('gracePeriodMs must be positive');
  return async (agentName: ObjectKey, _signal: AbortSignal, context?: ReconcileContext): Promise<ReconcileResult> => {
    const log = context?.log ?? options.logger.child({ controller: LIVENESS_CONTROLLER, agent: agentName });
    const record = options.store.get(agentName);
    // No record: the agent was removed, or never beat. Nothing to derive until it beats.
    if (record === undefined) return {};
    const now = options.clock.now();
    const age = heartbeatAgeMs(record, now);
    // +1: stale means strictly older than the grace period, so the check is due 1 ms after it. A
    // beat stamped in the future (a writer's clock ahead of ours) counts as just now.
    if (age <= grace) return { requeueAfterMs: grace - Math.max(age, 0) + 1 };

    // A new leader has not had the chance to see anyone's beat reach it yet (a standby's copy of
    // the records may be a grace period old): wait one grace period after taking over.
    const leading = now - options.startedAt;
    if (leading < grace) return { requeueAfterMs: grace - leading };

    const ready = getCondition(record.conditions, READY);
    const alreadyMarked = record.state === 'Offline' && ready?.status === 'False' && ready.reason === AGENT_READY_REASONS.missed;
    if (!alreadyMarked) {
      const message = Number.isFinite(age)
        ? `no heartbeat for ${Math.round(age / 1000)}s (grace period ${Math.round(grace / 1000)}s)`
        : 'no heartbeat recorded';
      const next: AgentStatus = {
        ...record,
        state: 'Offline',
        conditions: setCondition(record.conditions, { type: READY, status: 'False', reason: AGENT_READY_REASONS.missed, message }, new Date(now)),
      };
      await writeAgentRecord(options.store, agentName, next);
      log.info({ heartbeatAgeMs: Number.isFinite(age) ? age : null, gracePeriodMs: grace }, 'agent marked Offline');
    }
    // Nothing changes until a beat arrives (which sets Online itself); looking again every grace
    // period notices it and then schedules the next check from that beat.
    return { requeueAfterMs: grace };
  };
}

export interface LivenessControllerOptions extends LivenessOptions {
  metrics?: ReconcilerMetrics;
  /** Default 1: a reconcile is a map lookup and, rarely, one write. */
  workers?: number;
}

/** The controller, not started. Feed it every agent name with `enqueueAgents` after start. */
export function createLivenessController(options: LivenessControllerOptions): Controller {
  return new Controller({
    name: LIVENESS_CONTROLLER,
    reconcile: createLivenessReconciler(options),
    workers: options.workers ?? 1,
    logger: options.logger,
    clock: options.clock,
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
}

/**
 * Enqueues every agent the store knows. Each reconcile requeues itself, so once per leadership
 * term (plus for each agent that appears later) is enough; re-adding is harmless (the queue dedupes).
 */
export function enqueueAgents(controller: Controller, store: StatusStore<AgentStatus>, include: (record: AgentStatus) => boolean = () => true): number {
  let count = 0;
  for (const [name, record] of store.list()) {
    if (!include(record)) continue;
    controller.enqueue(name);
    count += 1;
  }
  return count;
}

// The fleet's one scheduler (README "Fleet"). Every agent process is a candidate for the fleet
// lease, an election separate from its own replicas' lease: whoever holds it runs the scheduling
// controller (controllers/scheduler/scheduler.ts) until the lease ends. Its passes are woken by
// every change of a Session or a binding, and by their own requeue every heartbeat interval (an
// agent going Offline writes nothing anywhere); a pass re-reads agent records older than half that.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AgentStatus, Session } from '../crds/types.ts';
import type { Clock } from '../reconciler/clock.ts';
import { Controller } from '../reconciler/controller.ts';
import type { EventRecorder } from '../reconciler/events.ts';
import { LeaseLeaderElector } from '../reconciler/leader-elector.ts';
import { createLeaderMetrics } from '../reconciler/leader-metrics.ts';
import type { ReconcilerMetrics } from '../reconciler/metrics.ts';
import type { DesiredStore, ManagedStatusStore } from '../reconciler/store.ts';
import { createScheduler, FLEET_KEY } from '../controllers/scheduler/scheduler.ts';
import { createLivenessController, enqueueAgents } from '../controllers/agent/liveness.ts';
import type { SchedulerMetrics } from '../controllers/scheduler/metrics.ts';
import type { AgentConfig } from './config.ts';
import type { FleetBackends } from './backends.ts';

/** The election's name: the label of dockerlet_leader_election_master_status for the fleet lease. */
export const SCHEDULER_ELECTION = 'scheduler' as const;

export interface FleetSchedulerDeps {
  config: AgentConfig;
  identity: string;
  logger: Logger;
  clock: Clock;
  registry: Registry;
  reconcilerMetrics: ReconcilerMetrics;
  schedulerMetrics: SchedulerMetrics;
  store: DesiredStore<Session>;
  agents: ManagedStatusStore<AgentStatus>;
  fleet: FleetBackends;
  events?: EventRecorder;
  /**
   * Whether this process may write agent records now: it leads its own agent's replicas (the
   * record store is fenced by that lease). The fleet's liveness judge writes only then.
   */
  mayWriteRecords: () => boolean;
}

export interface FleetScheduler {
  isLeader(): boolean;
  /** Resolves when the election has ended and the last pass returned (after the signal aborted). */
  done: Promise<void>;
}

export function startFleetScheduler(deps: FleetSchedulerDeps, lifetime: AbortSignal): FleetScheduler {
  const { config, clock } = deps;
  const logger = deps.logger.child({ component: 'scheduler', fleet: deps.fleet.name });
  const elector = new LeaseLeaderElector({
    identity: deps.identity,
    lock: deps.fleet.schedulerLock,
    timings: { leaseDurationMs: config.leaseDurationMs, renewDeadlineMs: config.renewDeadlineMs, retryPeriodMs: config.retryPeriodMs },
    clock,
    logger,
    metrics: createLeaderMetrics(deps.registry),
    name: SCHEDULER_ELECTION,
  });
  let term: Promise<void> | undefined;
  const done = elector
    .run(
      {
        onStartedLeading: (grant, signal) => {
          logger.info({ token: grant.token }, 'scheduling the fleet');
          term = lead(deps, logger, signal);
        },
        onStoppedLeading: (reason) => {
          logger.info({ reason }, 'stopped scheduling the fleet');
          return term;
        },
      },
      lifetime,
    )
    .then(() => term);
  return { isLeader: () => elector.isLeader(), done: done.then(() => undefined) };
}

/** One term as the fleet's scheduler: resolves once its controller has stopped. */
async function lead(deps: FleetSchedulerDeps, logger: Logger, signal: AbortSignal): Promise<void> {
  const { config, clock } = deps;
  const schedule = createScheduler({
    fleet: deps.fleet.name,
    store: deps.store,
    agents: deps.agents,
    rereadAgents: () => deps.agents.reload(),
    draining: () => deps.fleet.drains.requested(),
    bindings: deps.fleet.bindings,
    clock,
    logger,
    livenessGraceMs: config.livenessGraceMs,
    rescheduleAfterMs: config.rescheduleAfterMs,
    passIntervalMs: config.heartbeatIntervalMs,
    metrics: deps.schedulerMetrics,
    ...(deps.events ? { events: deps.events } : {}),
  });
  const controller = new Controller({
    name: SCHEDULER_ELECTION,
    // Every pass also hands the fleet's agents to the liveness judge (the queue folds repeats).
    // Drain requests are read on every pass (one SMEMBERS in Redis; on Kubernetes they come with the
    // agent records): a pass woken by a new Session must not place it on an agent just drained or undrained.
    reconcile: async (_key, reconcileSignal) => {
      judgeLiveness();
      await deps.fleet.drains.reload().catch((error: unknown) => logger.warn({ err: error }, 'reading drain requests failed; the last copy stands'));
      return schedule(reconcileSignal);
    },
    workers: 1,
    reconcileTimeoutMs: config.reconcileTimeoutMs,
    metrics: deps.reconcilerMetrics,
    logger,
    clock,
  });
  // The fleet's one liveness judge: marks its agents Offline when their beats stop (only beats write Online).
  const liveness = createLivenessController({ store: deps.agents, clock, logger, gracePeriodMs: config.livenessGraceMs, startedAt: clock.now(), metrics: deps.reconcilerMetrics });
  const ours = (record: AgentStatus): boolean => record.fleet === deps.fleet.name;
  const judgeLiveness = (): void => {
    if (deps.mayWriteRecords()) enqueueAgents(liveness, deps.agents, ours);
  };
  const enqueue = (): void => controller.enqueue(FLEET_KEY);
  const reread = async (): Promise<void> => {
    await Promise.all([deps.agents.reload(), deps.fleet.bindings.reload(), deps.fleet.drains.reload()]).catch((error: unknown) => logger.warn({ err: error }, 'reading agent records or bindings failed'));
  };
  // A predecessor's decisions and every agent's latest beat, before the first pass.
  await reread();
  if (signal.aborted) return;
  const unsubscribe = [deps.store.onChange(enqueue), deps.fleet.bindings.onChange(enqueue)];
  controller.start();
  liveness.start();
  enqueue();
  await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  for (const off of unsubscribe) off();
  controller.cancelInFlight();
  liveness.cancelInFlight();
  await Promise.all([controller.stop(), liveness.stop()]);
  await Promise.all([controller.settled(), liveness.settled()]);
}

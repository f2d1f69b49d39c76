// What only the leader does: reconcile Sessions, resync, write heartbeats and run the liveness
// controller. It all starts when leadership is granted and stops when its signal aborts (lost,
// deadline missed, released), cancelling reconciles in flight before anyone else can lead:
// `stopped` resolves only once every reconcile has actually ended, and the elector holds the
// lease until then (bounded by what is left of it).
import type { Logger } from 'pino';
import type { AgentSource, AgentStatus, ObjectKey, Session, SessionStatus } from '../crds/types.ts';
import type { Clock } from '../reconciler/clock.ts';
import { Controller, ReconcileCancelledError } from '../reconciler/controller.ts';
import type { ReconcilerMetrics } from '../reconciler/metrics.ts';
import type { DesiredStore, ManagedStatusStore } from '../reconciler/store.ts';
import { StartupAdoption } from '../controllers/session/adoption.ts';
import type { ContainerCache } from '../controllers/session/container-cache.ts';
import { ImagePresence } from '../controllers/session/image-presence.ts';
import { createSessionReconciler } from '../controllers/session/reconcile.ts';
import { createLivenessController, enqueueAgents } from '../controllers/agent/liveness.ts';
import type { SessionFinalizer } from '../controllers/session/finalizer.ts';
import type { EventRecorder } from '../reconciler/events.ts';
import type { AgentConfig } from './config.ts';
import type { DockerRuntime, EngineInfo } from '../controllers/runtime/docker-runtime.ts';
import { fencedRuntime } from '../controllers/runtime/fenced-runtime.ts';
import type { Fence } from '../reconciler/fence.ts';
import { startHeartbeat } from '../controllers/agent/heartbeat.ts';
import { allocationOf } from '../controllers/scheduler/allocation.ts';
import { assignedTo } from '../controllers/session/observe.ts';
import { Prober } from '../controllers/session/prober.ts';
import { netProbes } from './runtime/net-probes.ts';
import type { BindingReader } from '../controllers/scheduler/bindings.ts';
import type { ReplicaRegistry } from './leader/replicas.ts';

export interface LeaderWorkDeps {
  config: AgentConfig;
  identity: string;
  logger: Logger;
  clock: Clock;
  metrics: ReconcilerMetrics;
  store: DesiredStore<Session>;
  sessions: ManagedStatusStore<SessionStatus>;
  agents: ManagedStatusStore<AgentStatus>;
  runtime: DockerRuntime;
  cache: ContainerCache;
  replicas: ReplicaRegistry;
  engine: () => EngineInfo | undefined;
  token: () => number | undefined;
  /** This term's fence: every engine write asks it first (controllers/runtime/fenced-runtime.ts). */
  fence: Fence;
  /** Kubernetes mode: the Session finalizer and the Event recorder. */
  finalizer?: SessionFinalizer;
  events?: EventRecorder;
  /** Where desired state comes from and how far it got (Git stores), for the Agent record. */
  source?: () => AgentSource | undefined;
  /** The fleet this agent is one of, and its bindings (README "Fleet"); absent for a single agent. */
  fleet?: { name: string; bindings: BindingReader };
}

export interface LeaderWork {
  enqueue(key: ObjectKey): void;
  /** Relists the engine and reconciles every key. */
  resync(): Promise<void>;
  /** Resolves when everything started here has stopped. */
  stopped: Promise<void>;
}

export function startLeaderWork(deps: LeaderWorkDeps, signal: AbortSignal): LeaderWork {
  const { config, logger, clock, store, cache } = deps;
  const startedAt = clock.now();
  const adoption = new StartupAdoption(logger);
  const runtime = fencedRuntime(deps.runtime, deps.fence);
  const mayDeleteUndesired = (): boolean =>
    adoption.isComplete() && store.isComplete() && (config.pruneEmptyStore || store.size() > 0);
  // Probe state lives as long as this leadership: a new leader starts its checks over.
  const prober = new Prober({ clock, transport: netProbes, logger: logger.child({ component: 'prober' }), onChange: (key) => sessions.enqueue(key) });
  const reconcile = createSessionReconciler({
    agent: config.agentName,
    store,
    statusStore: deps.sessions,
    runtime,
    cache,
    images: new ImagePresence(runtime, clock),
    clock,
    logger,
    mayDeleteUndesired,
    stopTimeoutSeconds: config.stopTimeoutSeconds,
    policy: config.policy,
    prober,
    ...(deps.finalizer ? { finalizer: deps.finalizer } : {}),
    ...(deps.events ? { events: deps.events } : {}),
    ...(deps.fleet ? { bindings: deps.fleet.bindings } : {}),
  });
  const sessions = new Controller({
    name: 'session',
    reconcile: async (key, reconcileSignal, context) => {
      try {
        // A key a worker took just as leadership ended: its reconcile would not be cancelled.
        if (signal.aborted) throw new ReconcileCancelledError();
        return await reconcile(key, reconcileSignal, context);
      } finally {
        adoption.reconciled(key);
      }
    },
    workers: config.workers,
    reconcileTimeoutMs: config.reconcileTimeoutMs,
    metrics: deps.metrics,
    logger,
    clock,
  });
  const liveness = createLivenessController({ store: deps.agents, clock, logger, gracePeriodMs: config.livenessGraceMs, startedAt, metrics: deps.metrics });
  // In the abort itself, not after the await that follows it: any reconcile resuming in between
  // (an engine answer that just arrived) already sees its signal aborted and sends nothing more.
  const cancel = (): void => {
    prober.stop();
    sessions.cancelInFlight();
    liveness.cancelInFlight();
  };
  if (signal.aborted) cancel();
  else signal.addEventListener('abort', cancel, { once: true });

  const allKeys = (): Set<ObjectKey> => new Set([...store.list().map((e) => e.key), ...cache.keys()]);
  const resync = async (): Promise<void> => {
    const started = clock.now();
    // Relist first, then reconcile every key from the refreshed cache. (Reconciling while the list
    // is in flight was measured slower at N=300: the engine and the agent share the CPU, and the
    // answer waits for a busy event loop.)
    await cache.relist();
    const relistMs = clock.now() - started;
    const keys = allKeys();
    const reconciled = sessions.whenProcessed(keys);
    for (const key of keys) sessions.enqueue(key);
    await reconciled;
    if (signal.aborted) return; // leadership ended mid-resync: not a whole resync
    const durationMs = clock.now() - started;
    deps.metrics.resyncDuration.observe({ controller: 'session' }, durationMs / 1000);
    // hack/bench resync reads this line (wall time per resync, with the relist's share).
    logger.debug({ keys: keys.size, relistMs, durationMs }, 'resync: every key reconciled');
  };

  const timers: ReturnType<typeof setInterval>[] = [];
  const stopped = (async () => {
    // The previous leader wrote status since this replica last read it. Neither a failed re-read
    // nor a failed relist may leave a leader that holds the lease and reconciles nothing: status is
    // re-derived by every reconcile, and the periodic resync relists.
    const carryOn = (step: string) => (error: unknown) => logger.warn({ err: error, step }, 'start of leadership: a step failed; carrying on');
    await Promise.all([deps.sessions.reload().catch(carryOn('re-reading session status')), deps.agents.reload().catch(carryOn('re-reading agent records'))]);
    await cache.relist().catch(carryOn('relisting the engine'));
    if (signal.aborted) return;
    const initialKeys = allKeys();
    adoption.begin(initialKeys);
    logger.info({ sessions: store.size(), containers: cache.size(), storeComplete: store.isComplete() }, 'start-up adoption begins');
    sessions.start();
    liveness.start();
    for (const key of initialKeys) sessions.enqueue(key);
    let replicasSeen = [deps.identity];
    // In a fleet, the first beat waits until every key known at start was reconciled once: a
    // Session bound elsewhere while this agent was away has its copy here removed before the
    // agent reports Online again (README "Fleet").
    if (deps.fleet) {
      await Promise.race([adoption.done(), new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))]);
      if (signal.aborted) return;
      logger.info('start-up adoption done: reporting Online');
    }
    timers.push(
      setInterval(() => resync().catch((error: unknown) => logger.warn({ err: error }, 'periodic resync failed')), config.resyncPeriodMs * (1 + Math.random() * 0.1)),
      setInterval(() => {
        // Other agents' beats arrive in the shared record store: re-read it before judging liveness.
        deps.agents
          .reload()
          // The agents of this agent's own fleet are judged by the fleet's one scheduler
          // (agent/fleet-scheduler.ts): each of them writing the others' records Offline from its
          // own, possibly older, copy would roll their beats back.
          .then(() => enqueueAgents(liveness, deps.agents, (record) => !deps.fleet || record.fleet !== deps.fleet.name))
          .catch((error: unknown) => logger.warn({ err: error }, 'reading agent records failed'));
        deps.replicas.seen().then(
          (seen) => (replicasSeen = seen),
          (error: unknown) => logger.debug({ err: error }, 'listing replicas failed'),
        );
      }, config.heartbeatIntervalMs),
    );
    startHeartbeat({
      agentName: config.agentName,
      identity: deps.identity,
      store: deps.agents,
      engine: deps.engine,
      activeSessions: () => cache.keys().size,
      intervalMs: config.heartbeatIntervalMs,
      clock,
      logger,
      signal,
      token: deps.token,
      replicas: () => replicasSeen,
      placement: {
        labels: config.agentLabels,
        cordoned: config.cordon,
        allocated: () => allocationOf(store.list().flatMap((e) => (e.object && assignedTo(e.object, config.agentName, deps.fleet?.bindings, e.key) ? [e.object] : []))),
        ...(config.maxSessions !== undefined ? { maxSessions: config.maxSessions } : {}),
        ...(deps.fleet ? { fleet: deps.fleet.name } : {}),
      },
      ...(deps.source ? { source: deps.source } : {}),
    });
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  })().finally(async () => {
    for (const timer of timers) clearInterval(timer);
    cancel();
    await Promise.all([stopIfStarted(sessions), stopIfStarted(liveness)]);
    // The workers have moved on; a cancelled reconcile may still be finishing (its cache refresh
    // and status write). Leadership is over only when it has.
    await Promise.all([sessions.settled(), liveness.settled()]);
    await Promise.allSettled([deps.sessions.flush(), deps.agents.flush()]);
  });

  return { enqueue: (key) => sessions.enqueue(key), resync, stopped };
}

async function stopIfStarted(controller: Controller): Promise<void> {
  try {
    await controller.stop();
  } catch {
    // Never started (leadership ended during the first relist): nothing to stop.
  }
}

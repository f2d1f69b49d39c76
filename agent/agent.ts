// The agent process. Every replica watches the store and the engine, serves health and metrics,
// and takes part in the election; only the leader reconciles (agent/leader-work.ts). Wires the
// pieces together and decides nothing itself.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { ObjectKey } from '../crds/types.ts';
import { createReconcilerMetrics } from '../reconciler/metrics.ts';
import { systemClock } from '../reconciler/clock.ts';
import type { Clock } from '../reconciler/clock.ts';
import { ContainerCache } from '../controllers/session/container-cache.ts';
import { ownedBy } from '../controllers/session/labels.ts';
import { registerAgentMetrics } from '../controllers/agent/metrics.ts';
import { registerSessionMetrics } from '../controllers/session/metrics.ts';
import { LateFence, termFence } from '../reconciler/fence.ts';
import { openBackends } from './backends.ts';
import { STATE_FILES } from './state-layout.ts';
import type { AgentConfig } from './config.ts';
import type { DockerRuntime, EngineInfo } from '../controllers/runtime/docker-runtime.ts';
import { openRuntime } from './runtime/open-runtime.ts';
import { startHttpServer } from './http-server.ts';
import type { LeaderWork } from './leader-work.ts';
import { startLeaderWork } from './leader-work.ts';
import { openDesiredStore } from './sources/open-desired-store.ts';
import { describeStoreSpec, gitCurrentDir } from './sources/store-spec.ts';
import { openSwarmContext } from './leader/swarm/context.ts';
import { waitForEngine } from './runtime/wait-for-engine.ts';
import { fleetId, refuseFleetFlagsAlone, refuseUnsharedFleet } from './fleet.ts';
import { usesKubernetes } from './kube/kube-client.ts';
import { describeHostPolicy, resolveEngineSocket } from './policy-config.ts';
import { startFleetScheduler } from './fleet-scheduler.ts';
import type { FleetScheduler } from './fleet-scheduler.ts';
import { createSchedulerMetrics } from '../controllers/scheduler/metrics.ts';


export interface RunningAgent {
  identity: string;
  /** Resolves when the agent has stopped (after `stop()`). */
  done: Promise<void>;
  stop(): Promise<void>;
  /** Relist the engine and reconcile every key now, if this replica leads (what the periodic resync does). */
  resync(): Promise<void>;
  isLeader(): boolean;
  registry: Registry;
  runtime: DockerRuntime;
}

export interface AgentDeps {
  logger: Logger;
  clock?: Clock;
  runtime?: DockerRuntime;
}

/** hostname + random suffix: unique per process, readable in logs and `get agents`. */
export function replicaIdentity(): string {
  return `${hostname().toLowerCase()}-${randomBytes(3).toString('hex')}`;
}

export async function startAgent(given: AgentConfig, deps: AgentDeps): Promise<RunningAgent> {
  refuseFleetFlagsAlone(given);
  const config: AgentConfig = { ...given, policy: await resolveEngineSocket(given.policy) };
  const clock = deps.clock ?? systemClock;
  // In a swarm the identity is this replica's task, found from its own container (never DNS).
  const swarm = await openSwarmContext(config.leaderElection, { socketPath: config.dockerSocket, logger: deps.logger });
  const identity = config.leaderElection === 'swarm' && swarm ? swarm.identity : replicaIdentity();
  const logger = deps.logger.child({ identity });
  const lifetime = new AbortController();
  const registry = new Registry();
  // The event-loop lag histogram samples every 100 ms rather than prom-client's 10 ms: a timer
  // waking the process 100 times a second costs 0.5–0.9 % of a core at idle on its own (2 cores,
  // measured), a third of the agent's idle budget; the lag itself is still measured in ns.
  collectDefaultMetrics({ register: registry, prefix: 'dockerlet_', eventLoopMonitoringPrecision: 100 });
  const runtime =
    deps.runtime ??
    openRuntime({ runtime: config.runtime, socketPath: config.dockerSocket, registry, logger: logger.child({ component: 'docker' }), stopTimeoutSeconds: config.stopTimeoutSeconds });

  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  // What `get` and `diff` read without flags: the directory, or the Git revision applied last.
  const storeDir = config.store.kind === 'yaml' ? config.store.dir : config.store.kind === 'git' ? gitCurrentDir(config.stateDir, config.store) : undefined;
  await writeFile(
    join(config.stateDir, STATE_FILES.agent),
    `${JSON.stringify({ agentName: config.agentName, runtime: config.runtime, store: describeStoreSpec(config.store), storeDir, listen: `${config.listenHost}:${config.listenPort}`, redis: config.redis?.url, fleet: fleetId(config) }, null, 2)}\n`,
  );
  // The Kubernetes store's status and finalizer writes are leader-only, and it opens before the election.
  const storeFence = new LateFence();
  const opened = await openDesiredStore(config, { identity, logger: logger.child({ component: 'store' }), registry, fence: storeFence });
  const store = opened.store;
  const backends = await openBackends(config, identity, {
    logger,
    clock,
    registry,
    ...(opened.sessionStatus ? { sessionStatus: opened.sessionStatus } : {}),
    ...(opened.bindings ? { bindings: opened.bindings } : {}),
    ...(swarm ? { swarm } : {}),
  });
  storeFence.bind(backends.fence);
  const fleet = backends.fleet;
  await Promise.all([backends.sessions.load(), backends.agents.load()]);
  // Agent records in --state-dir (no Redis, no Kubernetes): another agent beating there shares the store without sharing status.
  if (!usesKubernetes(config)) refuseUnsharedFleet(config, backends.agents.list(), clock.now());
  const metrics = createReconcilerMetrics(registry);
  registerAgentMetrics(registry, { store: backends.agents, clock, gracePeriodMs: config.livenessGraceMs });
  registerSessionMetrics(registry, backends.sessions);

  let work: LeaderWork | undefined;
  const enqueue = (key: ObjectKey): void => work?.enqueue(key);
  const cache = new ContainerCache({ runtime, clock, selector: ownedBy(config.agentName), logger: logger.child({ component: 'cache' }), onChange: enqueue });

  // Every replica keeps its caches warm, so a new leader starts from what it already knows.
  let engine: EngineInfo | undefined = await waitForEngine(runtime, logger, lifetime.signal);
  runtime.watchEvents(
    ownedBy(config.agentName),
    {
      onEvent: (event) => cache.handleEvent(event),
      onReconnect: () => {
        logger.info('engine event stream reconnected; relisting');
        (work ? work.resync() : cache.relist()).catch((error: unknown) => logger.warn({ err: error }, 'relist after reconnect failed'));
        // A reconnect is how an engine restart (or upgrade) shows: refresh its version and capacity.
        runtime.info().then(
          (info) => (engine = info),
          (error: unknown) => logger.debug({ err: error }, 'reading engine info failed'),
        );
      },
      onDisconnect: (error) => logger.warn({ err: error }, 'engine event stream lost; reconnecting'),
    },
    lifetime.signal,
  );
  store.onChange(enqueue);
  fleet?.bindings.onChange(enqueue);
  await store.start();
  // Before the first reconcile: an agent must know what is bound to it before it runs anything.
  await fleet?.bindings.start();
  await cache.relist();

  const announce = (): void => {
    backends.replicas.announce().catch((error: unknown) => logger.debug({ err: error }, 'announcing this replica failed'));
  };
  announce();
  const announcer = setInterval(announce, config.heartbeatIntervalMs);

  const election = backends.elector.run(
    {
      onStartedLeading: (grant, signal) => {
        logger.info({ token: grant.token }, 'leading: reconciling');
        work = startLeaderWork(
          {
            config,
            identity,
            logger,
            clock,
            metrics,
            store,
            sessions: backends.sessions,
            agents: backends.agents,
            runtime,
            cache,
            replicas: backends.replicas,
            engine: () => engine,
            token: () => backends.elector.token(),
            fence: termFence(backends.fence, grant.token),
            ...(fleet ? { fleet: { name: fleet.name, bindings: fleet.bindings } } : {}),
            ...(opened.finalizer ? { finalizer: opened.finalizer } : {}),
            ...(opened.events ? { events: opened.events } : {}),
            ...(opened.source ? { source: opened.source } : {}),
          },
          signal,
        );
      },
      onStoppedLeading: (reason) => {
        logger.warn({ reason }, 'stopped leading: cancelling reconciles');
        const ending = work;
        work = undefined;
        // The elector releases the lease only after this settles: no successor while we still act.
        return ending?.stopped;
      },
      onNewLeader: (holder) => logger.info({ leader: holder.identity, token: holder.token }, 'standing by'),
    },
    lifetime.signal,
  );

  // Every agent process of a fleet is a candidate for its one scheduler.
  const scheduler: FleetScheduler | undefined = fleet
    ? startFleetScheduler(
        {
          config,
          identity,
          logger,
          clock,
          registry,
          reconcilerMetrics: metrics,
          schedulerMetrics: createSchedulerMetrics(registry),
          store,
          agents: backends.agents,
          fleet,
          ...(opened.events ? { events: opened.events } : {}),
          mayWriteRecords: () => backends.elector.isLeader(),
        },
        lifetime.signal,
      )
    : undefined;

  const server = await startHttpServer({
    host: config.listenHost,
    port: config.listenPort,
    registry,
    healthy: () => (backends.elector.healthy() ? [] : ['leader missed its renew deadline without stepping down']),
    // Ready means able to lead or stand by: leader and healthy standby alike.
    ready: () => [...(cache.hasSynced() ? [] : ['engine cache not synced']), ...store.loadProblems().map((p) => `store: ${p}`)],
    ...(opened.sync ? { gitFetch: opened.sync } : {}),
  });
  logger.info(
    { listen: `${config.listenHost}:${config.listenPort}`, runtime: config.runtime, store: describeStoreSpec(config.store), namespace: config.sessionNamespace, agent: config.agentName, leaderElection: config.leaderElection, policy: describeHostPolicy(config.policy) },
    'agent started',
  );

  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info('agent stopping');
      clearInterval(announcer);
      const leading = work;
      // Aborting the lifetime ends leadership (its signal aborts) and releases the lease.
      lifetime.abort();
      await election.catch((error: unknown) => logger.warn({ err: error }, 'leader election ended with an error'));
      await leading?.stopped;
      await scheduler?.done.catch((error: unknown) => logger.warn({ err: error }, 'the scheduler election ended with an error'));
      await opened.close();
      await Promise.allSettled([backends.sessions.close(), backends.agents.close()]);
      await backends.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      logger.info('agent stopped');
      resolveDone();
    })();
    return stopping;
  };
  return {
    identity,
    done,
    stop,
    resync: async () => {
      await (work ? work.resync() : cache.relist());
    },
    isLeader: () => backends.elector.isLeader(),
    registry,
    runtime,
  };
}

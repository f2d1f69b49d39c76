// The agent process for the embedded default: a YAML directory as desired state, the local
// engine, status in the state directory. Wires the pieces together; decides nothing itself.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { AgentStatus, ObjectKey, SessionStatus } from '../crds/types.ts';
import { SESSION_PHASES } from '../crds/types.ts';
import { Controller } from '../reconciler/controller.ts';
import { createReconcilerMetrics } from '../reconciler/metrics.ts';
import { systemClock } from '../reconciler/clock.ts';
import type { Clock } from '../reconciler/clock.ts';
import { ContainerCache } from '../controllers/session/container-cache.ts';
import { ownedBy } from '../controllers/session/labels.ts';
import { createSessionReconciler } from '../controllers/session/reconcile.ts';
import { StartupAdoption } from '../controllers/session/adoption.ts';
import { ImagePresence } from '../controllers/session/image-presence.ts';
import type { AgentConfig } from './config.ts';
import type { DockerRuntime, EngineInfo } from './docker/docker-runtime.ts';
import { DockerodeRuntime } from './docker/dockerode-runtime.ts';
import { startHeartbeat } from './heartbeat.ts';
import { startHttpServer } from './http-server.ts';
import { FileStatusStore } from './stores/file-status-store.ts';
import { openYamlStore } from './stores/open-yaml-store.ts';
import { waitForEngine } from './wait-for-engine.ts';

export interface RunningAgent {
  /** Resolves when the agent has stopped (after `stop()` or a fatal error). */
  done: Promise<void>;
  stop(): Promise<void>;
  /** Relist the engine and reconcile every key now (what the periodic resync does). */
  resync(): Promise<void>;
  registry: Registry;
  runtime: DockerRuntime;
}

export interface AgentDeps {
  logger: Logger;
  clock?: Clock;
  runtime?: DockerRuntime;
}

export const STATE_FILES = {
  sessions: 'sessions.status.json',
  agents: 'agents.status.json',
  generations: 'generations.json',
  /** Where this agent's store is, so `dockerlet get` finds it without flags. */
  agent: 'agent.json',
} as const;

export async function startAgent(config: AgentConfig, deps: AgentDeps): Promise<RunningAgent> {
  const { logger } = deps;
  const clock = deps.clock ?? systemClock;
  const lifetime = new AbortController();
  const identity = `${config.agentName}-${randomBytes(3).toString('hex')}`;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'dockerlet_' });
  const runtime = deps.runtime ?? new DockerodeRuntime({ socketPath: config.dockerSocket, registry, logger: logger.child({ component: 'docker' }) });

  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  await writeFile(
    join(config.stateDir, STATE_FILES.agent),
    `${JSON.stringify({ agentName: config.agentName, storeDir: config.storeDir, listen: `${config.listenHost}:${config.listenPort}` }, null, 2)}\n`,
  );
  const statusStore = new FileStatusStore<SessionStatus>({ path: join(config.stateDir, STATE_FILES.sessions), logger });
  const agentStore = new FileStatusStore<AgentStatus>({ path: join(config.stateDir, STATE_FILES.agents), logger });
  await Promise.all([statusStore.load(), agentStore.load()]);
  const opened = await openYamlStore({ dir: config.storeDir, stateDir: config.stateDir, logger: logger.child({ component: 'store' }) });
  const store = opened.store;

  let engine: EngineInfo | undefined;
  const adoption = new StartupAdoption(logger);
  const mayDeleteUndesired = (): boolean =>
    adoption.isComplete() && store.isComplete() && (config.pruneEmptyStore || store.list().length > 0);

  let controller: Controller | undefined;
  const enqueue = (key: ObjectKey): void => controller?.enqueue(key);
  const cache = new ContainerCache({ runtime, clock, selector: ownedBy(config.agentName), logger: logger.child({ component: 'cache' }), onChange: enqueue });
  const reconcile = createSessionReconciler({
    agent: config.agentName,
    store,
    statusStore,
    runtime,
    cache,
    images: new ImagePresence(runtime, clock),
    clock,
    logger,
    mayDeleteUndesired,
    stopTimeoutSeconds: config.stopTimeoutSeconds,
  });
  controller = new Controller({
    name: 'session',
    reconcile: async (key, signal, context) => {
      try {
        return await reconcile(key, signal, context);
      } finally {
        adoption.reconciled(key);
      }
    },
    workers: config.workers,
    reconcileTimeoutMs: config.reconcileTimeoutMs,
    metrics: createReconcilerMetrics(registry),
    logger,
    clock,
  });

  new Gauge({
    name: 'dockerlet_sessions',
    help: 'Sessions by phase, from their status.',
    labelNames: ['phase'],
    registers: [registry],
    collect() {
      const counts = new Map<string, number>(SESSION_PHASES.map((p) => [p, 0]));
      for (const status of statusStore.list().values()) if (status.phase) counts.set(status.phase, (counts.get(status.phase) ?? 0) + 1);
      for (const [phase, n] of counts) this.set({ phase }, n);
    },
  });

  const allKeys = (): Set<ObjectKey> => new Set([...store.list().map((e) => e.key), ...cache.keys()]);
  const resync = async (): Promise<void> => {
    await cache.relist();
    for (const key of allKeys()) enqueue(key);
  };

  // Watch before listing, so nothing that happens between the two is missed.
  engine = await waitForEngine(runtime, logger, lifetime.signal);
  runtime.watchEvents(
    ownedBy(config.agentName),
    {
      onEvent: (event) => cache.handleEvent(event),
      onReconnect: () => {
        logger.info('engine event stream reconnected; relisting');
        resync().catch((error: unknown) => logger.warn({ err: error }, 'relist after reconnect failed'));
      },
      onDisconnect: (error) => logger.warn({ err: error }, 'engine event stream lost; reconnecting'),
    },
    lifetime.signal,
  );
  store.onChange(enqueue);
  await store.start();
  await cache.relist();
  const initialKeys = allKeys();
  adoption.begin(initialKeys);
  logger.info({ sessions: store.list().length, containers: cache.size(), storeComplete: store.isComplete() }, 'start-up adoption begins');
  controller.start();
  for (const key of initialKeys) enqueue(key);

  const resyncLoop = setInterval(() => {
    resync().catch((error: unknown) => logger.warn({ err: error }, 'periodic resync failed'));
  }, config.resyncPeriodMs * (1 + Math.random() * 0.1));
  startHeartbeat({
    agentName: config.agentName,
    identity,
    store: agentStore,
    engine: () => engine,
    activeSessions: () => cache.keys().size,
    intervalMs: config.heartbeatIntervalMs,
    clock,
    logger,
    signal: lifetime.signal,
  });

  const server = await startHttpServer({
    host: config.listenHost,
    port: config.listenPort,
    registry,
    healthy: () => [],
    ready: () => [
      ...(cache.hasSynced() ? [] : ['engine cache not synced']),
      ...store.loadProblems().map((p) => `store: ${p}`),
    ],
  });
  logger.info({ listen: `${config.listenHost}:${config.listenPort}`, store: config.storeDir, agent: config.agentName, identity }, 'agent started');

  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info('agent stopping');
      clearInterval(resyncLoop);
      lifetime.abort();
      await controller.stop();
      await opened.close();
      await Promise.all([statusStore.close(), agentStore.close()]);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      logger.info('agent stopped');
      resolveDone();
    })();
    return stopping;
  };
  return { done, stop, resync, registry, runtime };
}

// Builds what the configuration chooses: where status lives (state dir, Redis, or Agent resources
// in Kubernetes), how replicas elect a leader (none, file, redis, kubernetes, swarm) and how they see
// each other. The agent only wires the result.
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AgentStatus, SessionStatus } from '../crds/types.ts';
import type { Clock } from '../reconciler/clock.ts';
import type { LeaderElector } from '../reconciler/leader.ts';
import { LeaseLeaderElector } from '../reconciler/leader-elector.ts';
import { FileLeadershipLedger } from '../reconciler/leader-ledger.ts';
import { createLeaderMetrics } from '../reconciler/leader-metrics.ts';
import type { ManagedStatusStore } from '../reconciler/store.ts';
import { parseAgentStatus } from '../controllers/agent/record.ts';
import type { AgentConfig, RedisConfig } from './config.ts';
import { FileLeaseLock } from './leader/file-lock.ts';
import { NoLeaderElection } from './leader/none.ts';
import { FileLockRefused } from './leader/file-lock-host.ts';
import { RedisLeaseLock } from './leader/redis-lock.ts';
import { SwarmLeaseLock } from './leader/swarm-lock.ts';
import type { SwarmContext } from './leader/swarm/context.ts';
import { swarmReplicas } from './leader/swarm/peers.ts';
import { fileBackendRefusal } from './leader/swarm/placement.ts';
import type { ReplicaRegistry } from './leader/replicas.ts';
import { fileReplicas, redisReplicas, soloReplica } from './leader/replicas.ts';
import { FileStatusStore } from './status/file-status-store.ts';
import { RedisStatusStore } from './status/redis-status-store.ts';

export const STATE_FILES = {
  sessions: 'sessions.status.json',
  agents: 'agents.status.json',
  generations: 'generations.json',
  /** Where this agent's store is, so `dockerlet get` finds it without flags. */
  agent: 'agent.json',
} as const;

/** Redis keys. Agents share one hash so `get agents` lists all of them. */
export const REDIS_KEYS = {
  sessions: (agent: string) => `dockerlet:${agent}:sessions`,
  agents: 'dockerlet:agents',
  leader: (agent: string) => `dockerlet:${agent}:leader`,
  replicas: (agent: string) => `dockerlet:${agent}:replicas`,
} as const;

export interface Backends {
  sessions: ManagedStatusStore<SessionStatus>;
  agents: ManagedStatusStore<AgentStatus>;
  elector: LeaderElector;
  replicas: ReplicaRegistry;
  /** Closes connections (after the stores were closed). */
  close(): Promise<void>;
}

/**
 * A client for `config`. ioredis is loaded here, on first use, not with the agent: an agent without
 * --redis (the default) never needs it, and loading it costs every such agent ~7 MB of RSS.
 */
export async function openRedis(config: RedisConfig, logger: Logger): Promise<Redis> {
  const { createRedisClient } = await import('./redis/redis-client.ts');
  return createRedisClient(config.url, {
    ...(config.password ? { password: config.password } : {}),
    tls: config.tls,
    ...(config.sentinels.length > 0 ? { sentinels: config.sentinels } : {}),
    ...(config.sentinelName ? { sentinelName: config.sentinelName } : {}),
    logger,
  });
}

/**
 * Resolves once the client is connected. Commands fail fast while it is not (no offline queue:
 * a lease renewal must fail now, not run late), so start-up waits here, saying so once.
 */
export async function redisReady(redis: Redis, logger: Logger): Promise<void> {
  if (redis.status === 'ready') return;
  logger.info('waiting for Redis');
  await new Promise<void>((resolve, reject) => {
    const onReady = (): void => {
      redis.off('end', onEnd);
      resolve();
    };
    const onEnd = (): void => {
      redis.off('ready', onReady);
      reject(new Error('Redis connection closed before it was ready'));
    };
    redis.once('ready', onReady);
    redis.once('end', onEnd);
  });
}

/**
 * Whether this agent talks to Kubernetes: then Agent records are Agent resources (status
 * subresource), whatever else holds Session status.
 */
export function usesKubernetes(config: AgentConfig): boolean {
  return config.leaderElection === 'kubernetes' || config.store.kind === 'kubernetes';
}

export interface BackendDeps {
  logger: Logger;
  clock: Clock;
  registry: Registry;
  /** Session status kept by the desired store itself (Kubernetes: the status subresource). */
  sessionStatus?: ManagedStatusStore<SessionStatus>;
  /** This replica's own Swarm task, service and API, when it runs as a Swarm task. */
  swarm?: SwarmContext;
}

export async function openBackends(config: AgentConfig, identity: string, deps: BackendDeps): Promise<Backends> {
  const { logger, clock, registry, swarm } = deps;
  const redis = config.redis ? await openRedis(config.redis, logger.child({ component: 'redis' })) : undefined;
  if (redis) await redisReady(redis, logger);
  // Like ioredis, the Kubernetes client is loaded only by agents that use it (it is large).
  const kube = usesKubernetes(config) ? await import('./kube/kube-backends.ts') : undefined;
  // Through kubeConfigFor, as --store kubernetes does: no kubeconfig is a start-up error naming
  // --kubeconfig, never a silent fallback to http://localhost:8080.
  const kubeConfig = kube?.kubeConfigFor(config.kubeconfig, config.store.kind === 'kubernetes' ? '--store kubernetes' : `--leader-election ${config.leaderElection}`);
  const sessions: ManagedStatusStore<SessionStatus> =
    deps.sessionStatus ??
    (redis
      ? new RedisStatusStore<SessionStatus>({ redis, key: REDIS_KEYS.sessions(config.agentName), logger })
      : new FileStatusStore<SessionStatus>({ path: join(config.stateDir, STATE_FILES.sessions), logger }));
  const agents: ManagedStatusStore<AgentStatus> =
    kube && kubeConfig
      ? new kube.KubeAgentStatusStore({ kubeConfig, logger })
      : redis
        ? new RedisStatusStore<AgentStatus>({ redis, key: REDIS_KEYS.agents, logger, decode: parseAgentStatus })
        : new FileStatusStore<AgentStatus>({ path: join(config.stateDir, STATE_FILES.agents), logger });

  const electorDeps = {
    identity,
    timings: { leaseDurationMs: config.leaseDurationMs, renewDeadlineMs: config.renewDeadlineMs, retryPeriodMs: config.retryPeriodMs },
    clock,
    logger: logger.child({ component: 'leader-election' }),
    metrics: createLeaderMetrics(registry),
    name: config.agentName,
    ...(config.leaderLedger ? { ledger: new FileLeadershipLedger(config.leaderLedger) } : {}),
  };
  let elector: LeaderElector;
  let replicas: ReplicaRegistry;
  let lockToClose: { close(): Promise<void> } | undefined;
  switch (config.leaderElection) {
    case 'none':
      elector = new NoLeaderElection({ identity });
      replicas = soloReplica(identity);
      break;
    case 'file': {
      if (swarm) {
        // In a Swarm service whose replicas may land on several nodes, each node would have its
        // own lock file (FIELD-NOTES #1): refuse before electing anyone.
        const service = await swarm.api.inspectService(swarm.self.serviceId);
        const refusal = fileBackendRefusal(service.name, service.spec);
        if (refusal) throw new FileLockRefused(refusal);
      }
      const lock = new FileLeaseLock({ dir: config.lockDir, logger: electorDeps.logger });
      // Refuse a lock directory shared across hosts now, at start, rather than electing two leaders.
      await lock.verify();
      elector = new LeaseLeaderElector({ ...electorDeps, lock });
      replicas = fileReplicas(config.lockDir, identity, config.livenessGraceMs, clock);
      lockToClose = lock;
      break;
    }
    case 'redis': {
      if (!redis) throw new Error('redis leader election needs a Redis connection');
      const lock = new RedisLeaseLock({ redis, key: REDIS_KEYS.leader(config.agentName) });
      elector = new LeaseLeaderElector({ ...electorDeps, lock });
      replicas = redisReplicas(redis, REDIS_KEYS.replicas(config.agentName), identity, config.livenessGraceMs, clock);
      lockToClose = lock;
      break;
    }
    case 'kubernetes': {
      if (!kube || !kubeConfig || !config.kubeLease) throw new Error('kubernetes leader election needs a kubeconfig and a Lease name');
      const lock = new kube.KubeLeaseLock({ kubeConfig, ...config.kubeLease, logger: electorDeps.logger, clock });
      elector = new LeaseLeaderElector({ ...electorDeps, lock });
      replicas = soloReplica(identity);
      lockToClose = lock;
      break;
    }
    case 'swarm': {
      if (!swarm) throw new Error('swarm leader election needs the agent to run as a Swarm task');
      const lock = new SwarmLeaseLock({ api: swarm.api, serviceId: swarm.self.serviceId, ownTaskId: swarm.self.taskId, clock });
      elector = new LeaseLeaderElector({ ...electorDeps, lock });
      replicas = swarmReplicas(swarm.api, { id: swarm.self.serviceId, name: swarm.self.serviceName });
      lockToClose = lock;
      break;
    }
  }
  return {
    sessions,
    agents,
    elector,
    replicas,
    close: async () => {
      await lockToClose?.close();
      redis?.disconnect();
    },
  };
}

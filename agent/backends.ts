// Opens what the configuration chooses, in order: the connections (Redis, Kubernetes), where
// status lives (agent/status/open-status-stores.ts) and how replicas elect a leader
// (agent/leader/open-elector.ts). The agent only wires the result.
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { AgentStatus, SessionStatus } from '../crds/types.ts';
import type { Clock } from '../reconciler/clock.ts';
import type { Fence } from '../reconciler/fence.ts';
import type { LeaderElector } from '../reconciler/leader.ts';
import type { ManagedStatusStore } from '../reconciler/store.ts';
import type { AgentConfig } from './config.ts';
import { openKubeClient } from './kube/kube-client.ts';
import type { KubeClient } from './kube/kube-client.ts';
import { openElection } from './leader/open-elector.ts';
import type { ReplicaRegistry } from './leader/replicas.ts';
import type { SwarmContext } from './leader/swarm/context.ts';
import { openRedis, redisReady } from './redis/open-redis.ts';
import { openStatusStores } from './status/open-status-stores.ts';
import type { BindingStore, DrainRequests } from '../controllers/scheduler/bindings.ts';
import type { LeaseLock } from '../reconciler/leader.ts';
import { fleetId, fleetRedisPrefix, schedulerLeaseName, schedulerLeaseNamespace } from './fleet.ts';
import { RedisBindingStore } from './status/redis-binding-store.ts';
import { RedisDrainRequests } from './status/redis-drain-requests.ts';
import { RedisLeaseLock } from './leader/redis-lock.ts';

/** A fleet (README "Fleet"): its name, where its bindings live, and the lease its one scheduler holds. */
export interface FleetBackends {
  name: string;
  bindings: BindingStore;
  schedulerLock: LeaseLock;
  /** Agents `dockerlet drain` was asked for. */
  drains: DrainRequests;
}

export interface Backends {
  sessions: ManagedStatusStore<SessionStatus>;
  agents: ManagedStatusStore<AgentStatus>;
  elector: LeaderElector;
  /** What leader-only writes ask first; the status stores already do. */
  fence: Fence;
  replicas: ReplicaRegistry;
  /** Absent for a single agent with no shared status. */
  fleet?: FleetBackends;
  /** Closes connections (after the stores were closed). */
  close(): Promise<void>;
}

export interface BackendDeps {
  logger: Logger;
  clock: Clock;
  registry: Registry;
  /** Session status kept by the desired store itself (Kubernetes: the status subresource). */
  sessionStatus?: ManagedStatusStore<SessionStatus>;
  /** This replica's own Swarm task, service and API, when it runs as a Swarm task. */
  swarm?: SwarmContext;
  /** Bindings kept by the desired store itself (Kubernetes: Session status). */
  bindings?: BindingStore;
}

export async function openBackends(config: AgentConfig, identity: string, deps: BackendDeps): Promise<Backends> {
  const { logger } = deps;
  const redis = config.redis ? await openRedis(config.redis, logger.child({ component: 'redis' })) : undefined;
  if (redis) await redisReady(redis, logger);
  const kube = await openKubeClient(config);
  const election = await openElection(config, {
    identity,
    logger,
    clock: deps.clock,
    registry: deps.registry,
    ...(redis ? { redis } : {}),
    ...(kube ? { kube } : {}),
    ...(deps.swarm ? { swarm: deps.swarm } : {}),
  });
  const stores = openStatusStores(config, {
    logger,
    identity,
    fence: election.fence,
    ...(election.redisHolderTokenKey !== undefined ? { redisHolderTokenKey: election.redisHolderTokenKey } : {}),
    ...(redis ? { redis } : {}),
    ...(kube ? { kube } : {}),
    ...(deps.sessionStatus ? { sessionStatus: deps.sessionStatus } : {}),
  });
  const fleet = openFleet(config, { logger, clock: deps.clock, agents: stores.agents, ...(redis ? { redis } : {}), ...(kube ? { kube } : {}), ...(deps.bindings ? { bindings: deps.bindings } : {}) });
  return {
    ...stores,
    elector: election.elector,
    fence: election.fence,
    replicas: election.replicas,
    ...(fleet ? { fleet } : {}),
    close: async () => {
      await election.close();
      await fleet?.schedulerLock.close();
      await fleet?.bindings.close();
      redis?.disconnect();
    },
  };
}

/**
 * The fleet's bindings and scheduler lease on the backend the fleet already shares: Session status
 * and a Lease on Kubernetes, or Redis. (Not a lock file: a fleet spans hosts, a lock file does not.)
 */
function openFleet(
  config: AgentConfig,
  deps: { logger: Logger; clock: Clock; agents: ManagedStatusStore<AgentStatus>; redis?: Redis; kube?: KubeClient; bindings?: BindingStore },
): FleetBackends | undefined {
  const name = fleetId(config);
  if (name === undefined) return undefined;
  if (config.store.kind === 'kubernetes') {
    if (!deps.kube || !deps.bindings) throw new Error('a Kubernetes fleet needs the Session store and a kubeconfig');
    const lock = new deps.kube.module.KubeLeaseLock({
      kubeConfig: deps.kube.kubeConfig,
      namespace: schedulerLeaseNamespace(config),
      name: schedulerLeaseName(name),
      logger: deps.logger.child({ component: 'scheduler-election' }),
      clock: deps.clock,
    });
    // The Agent objects' spec.drain, read with the records themselves (the scheduler re-reads those every pass).
    const { agents } = deps;
    if (!(agents instanceof deps.kube.module.KubeAgentStatusStore)) throw new Error('a Kubernetes fleet keeps its agent records as Agent objects');
    const drains: DrainRequests = { requested: () => agents.drainRequested(), reload: () => Promise.resolve() };
    return { name, bindings: deps.bindings, schedulerLock: lock, drains };
  }
  if (!deps.redis) throw new Error('a fleet on a YAML or Git store needs --redis');
  const prefix = fleetRedisPrefix(name);
  return {
    name,
    bindings: new RedisBindingStore({ redis: deps.redis, prefix, logger: deps.logger }),
    schedulerLock: new RedisLeaseLock({ redis: deps.redis, key: `${prefix}:scheduler` }),
    drains: new RedisDrainRequests(deps.redis, prefix),
  };
}

// Opens what the configuration chooses, in order: the connections (Redis, Kubernetes), where
// status lives (agent/status/open-status-stores.ts) and how replicas elect a leader
// (agent/leader/open-elector.ts). The agent only wires the result.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AgentStatus, SessionStatus } from '../crds/types.ts';
import type { Clock } from '../reconciler/clock.ts';
import type { Fence } from '../reconciler/fence.ts';
import type { LeaderElector } from '../reconciler/leader.ts';
import type { ManagedStatusStore } from '../reconciler/store.ts';
import type { AgentConfig } from './config.ts';
import { openKubeClient } from './kube/kube-client.ts';
import { openElection } from './leader/open-elector.ts';
import type { ReplicaRegistry } from './leader/replicas.ts';
import type { SwarmContext } from './leader/swarm/context.ts';
import { openRedis, redisReady } from './redis/open-redis.ts';
import { openStatusStores } from './status/open-status-stores.ts';

export interface Backends {
  sessions: ManagedStatusStore<SessionStatus>;
  agents: ManagedStatusStore<AgentStatus>;
  elector: LeaderElector;
  /** What leader-only writes ask first; the status stores already do. */
  fence: Fence;
  replicas: ReplicaRegistry;
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
  return {
    ...stores,
    elector: election.elector,
    fence: election.fence,
    replicas: election.replicas,
    close: async () => {
      await election.close();
      redis?.disconnect();
    },
  };
}

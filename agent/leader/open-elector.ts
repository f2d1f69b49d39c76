// How replicas of one agent elect a leader (none, file, redis, kubernetes, swarm) and how they see
// each other, as the configuration chooses.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock } from '../../reconciler/clock.ts';
import type { LeaderElector } from '../../reconciler/leader.ts';
import { LeaseLeaderElector } from '../../reconciler/leader-elector.ts';
import { electorFence } from '../../reconciler/fence.ts';
import type { Fence } from '../../reconciler/fence.ts';
import { FileLeadershipLedger } from '../../reconciler/leader-ledger.ts';
import { createLeaderMetrics } from '../../reconciler/leader-metrics.ts';
import type { AgentConfig } from '../config.ts';
import type { KubeClient } from '../kube/kube-client.ts';
import { REDIS_KEYS } from '../state-layout.ts';
import { FileLeaseLock } from './file-lock.ts';
import { FileLockRefused } from './file-lock-host.ts';
import { NoLeaderElection } from './none.ts';
import { RedisLeaseLock } from './redis-lock.ts';
import type { ReplicaRegistry } from './replicas.ts';
import { fileReplicas, redisReplicas, soloReplica } from './replicas.ts';
import { SwarmLeaseLock } from './swarm-lock.ts';
import type { SwarmContext } from './swarm/context.ts';
import { swarmReplicas } from './swarm/peers.ts';
import { fileBackendRefusal } from './swarm/placement.ts';

export interface Election {
  elector: LeaderElector;
  /** What leader-only writes ask first (reconciler/fence.ts). */
  fence: Fence;
  /** The lease's holder-token key when the lease is in Redis: status writes there compare with it. */
  redisHolderTokenKey?: string;
  replicas: ReplicaRegistry;
  /** Releases what the lock holds open (helper process, watch, subscription). */
  close(): Promise<void>;
}

export interface ElectionDeps {
  identity: string;
  logger: Logger;
  clock: Clock;
  registry: Registry;
  redis?: Redis;
  kube?: KubeClient;
  /** This replica's own Swarm task, service and API, when it runs as a Swarm task. */
  swarm?: SwarmContext;
}

export async function openElection(config: AgentConfig, deps: ElectionDeps): Promise<Election> {
  const { identity, clock, registry, redis, kube, swarm } = deps;
  const electorDeps = {
    identity,
    timings: { leaseDurationMs: config.leaseDurationMs, renewDeadlineMs: config.renewDeadlineMs, retryPeriodMs: config.retryPeriodMs },
    clock,
    logger: deps.logger.child({ component: 'leader-election' }),
    metrics: createLeaderMetrics(registry),
    name: config.agentName,
    ...(config.leaderLedger ? { ledger: new FileLeadershipLedger(config.leaderLedger) } : {}),
  };
  const nothingToClose = async (): Promise<void> => {};
  switch (config.leaderElection) {
    case 'none': {
      const elector = new NoLeaderElection({ identity });
      const fence = electorFence(elector, async () => ({ identity, token: NoLeaderElection.TOKEN }));
      return { elector, fence, replicas: soloReplica(identity), close: nothingToClose };
    }
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
      const elector = new LeaseLeaderElector({ ...electorDeps, lock });
      return {
        elector,
        fence: electorFence(elector, () => lock.holder()),
        replicas: fileReplicas(config.lockDir, identity, config.livenessGraceMs, clock),
        close: () => lock.close(),
      };
    }
    case 'redis': {
      if (!redis) throw new Error('redis leader election needs a Redis connection');
      const lock = new RedisLeaseLock({ redis, key: REDIS_KEYS.leader(config.agentName) });
      const elector = new LeaseLeaderElector({ ...electorDeps, lock });
      return {
        elector,
        fence: electorFence(elector, () => lock.holder()),
        redisHolderTokenKey: lock.holderTokenKey,
        replicas: redisReplicas(redis, REDIS_KEYS.replicas(config.agentName), identity, config.livenessGraceMs, clock),
        close: () => lock.close(),
      };
    }
    case 'kubernetes': {
      if (!kube || !config.kubeLease) throw new Error('kubernetes leader election needs a kubeconfig and a Lease name');
      const lock = new kube.module.KubeLeaseLock({ kubeConfig: kube.kubeConfig, ...config.kubeLease, logger: electorDeps.logger, clock });
      const elector = new LeaseLeaderElector({ ...electorDeps, lock });
      return { elector, fence: electorFence(elector, () => lock.holder()), replicas: soloReplica(identity), close: () => lock.close() };
    }
    case 'swarm': {
      if (!swarm) throw new Error('swarm leader election needs the agent to run as a Swarm task');
      const lock = new SwarmLeaseLock({ api: swarm.api, serviceId: swarm.self.serviceId, ownTaskId: swarm.self.taskId, clock });
      const elector = new LeaseLeaderElector({ ...electorDeps, lock });
      return {
        elector,
        fence: electorFence(elector, () => lock.holder()),
        replicas: swarmReplicas(swarm.api, { id: swarm.self.serviceId, name: swarm.self.serviceName }),
        close: () => lock.close(),
      };
    }
  }
}

// Where status lives, as the configuration chooses: Session status in the desired store itself
// (Kubernetes' status subresource), in Redis (shared by replicas) or in --state-dir; Agent records
// as Agent resources (Kubernetes), in Redis, or in --state-dir.
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AgentStatus, SessionStatus } from '../../crds/types.ts';
import type { Fence } from '../../reconciler/fence.ts';
import type { ManagedStatusStore } from '../../reconciler/store.ts';
import { parseAgentStatus } from '../../controllers/agent/record.ts';
import type { AgentConfig } from '../config.ts';
import type { KubeClient } from '../kube/kube-client.ts';
import { REDIS_KEYS, STATE_FILES } from '../state-layout.ts';
import { FileStatusStore } from './file-status-store.ts';
import { RedisStatusStore } from './redis-status-store.ts';

export interface StatusStores {
  sessions: ManagedStatusStore<SessionStatus>;
  agents: ManagedStatusStore<AgentStatus>;
}

export interface StatusStoreDeps {
  logger: Logger;
  redis?: Redis;
  kube?: KubeClient;
  /** Session status kept by the desired store itself (Kubernetes: the status subresource). */
  sessionStatus?: ManagedStatusStore<SessionStatus>;
  /** Leader-only writes (every status write) ask it first. */
  fence?: Fence;
  /** This replica, for the Redis write log. */
  identity?: string;
  /** When the lease is in the same Redis: its holder-token key, which Redis' write script compares. */
  redisHolderTokenKey?: string;
}

export function openStatusStores(config: AgentConfig, deps: StatusStoreDeps): StatusStores {
  const { logger, redis, kube, fence } = deps;
  const fenced = fence ? { fence } : {};
  const redisFence = fence
    ? { fence: { fence, writer: deps.identity ?? '', ...(deps.redisHolderTokenKey !== undefined ? { holderTokenKey: deps.redisHolderTokenKey } : {}) } }
    : {};
  const sessions: ManagedStatusStore<SessionStatus> =
    deps.sessionStatus ??
    (redis
      ? new RedisStatusStore<SessionStatus>({ redis, key: REDIS_KEYS.sessions(config.agentName), logger, ...redisFence })
      : new FileStatusStore<SessionStatus>({ path: join(config.stateDir, STATE_FILES.sessions), logger, ...fenced }));
  const agents: ManagedStatusStore<AgentStatus> = kube
    ? new kube.module.KubeAgentStatusStore({ kubeConfig: kube.kubeConfig, logger, ...fenced })
    : redis
      ? new RedisStatusStore<AgentStatus>({ redis, key: REDIS_KEYS.agents, logger, decode: parseAgentStatus, ...redisFence })
      : new FileStatusStore<AgentStatus>({ path: join(config.stateDir, STATE_FILES.agents), logger, ...fenced });
  return { sessions, agents };
}

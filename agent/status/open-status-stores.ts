// Where status lives, as the configuration chooses: Session status in the desired store itself
// (Kubernetes' status subresource), in Redis (shared by replicas) or in --state-dir; Agent records
// as Agent resources (Kubernetes), in Redis, or in --state-dir.
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AgentStatus, SessionStatus } from '../../crds/types.ts';
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
}

export function openStatusStores(config: AgentConfig, deps: StatusStoreDeps): StatusStores {
  const { logger, redis, kube } = deps;
  const sessions: ManagedStatusStore<SessionStatus> =
    deps.sessionStatus ??
    (redis
      ? new RedisStatusStore<SessionStatus>({ redis, key: REDIS_KEYS.sessions(config.agentName), logger })
      : new FileStatusStore<SessionStatus>({ path: join(config.stateDir, STATE_FILES.sessions), logger }));
  const agents: ManagedStatusStore<AgentStatus> = kube
    ? new kube.module.KubeAgentStatusStore({ kubeConfig: kube.kubeConfig, logger })
    : redis
      ? new RedisStatusStore<AgentStatus>({ redis, key: REDIS_KEYS.agents, logger, decode: parseAgentStatus })
      : new FileStatusStore<AgentStatus>({ path: join(config.stateDir, STATE_FILES.agents), logger });
  return { sessions, agents };
}

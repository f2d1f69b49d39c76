// The Kubernetes client an agent opens when it talks to an API server at all: for --store
// kubernetes, or --leader-election kubernetes (then Agent records are Agent resources too).
import type { KubeConfig } from '@kubernetes/client-node';
import type { AgentConfig } from '../config.ts';

export type KubeBackendsModule = typeof import('./kube-backends.ts');

export interface KubeClient {
  /** The lazily loaded Kubernetes pieces (the client library is large). */
  module: KubeBackendsModule;
  kubeConfig: KubeConfig;
}

/**
 * Whether this agent talks to Kubernetes: then Agent records are Agent resources (status
 * subresource), whatever else holds Session status.
 */
export function usesKubernetes(config: AgentConfig): boolean {
  return config.leaderElection === 'kubernetes' || config.store.kind === 'kubernetes';
}

/** Loads the client when the configuration needs it; undefined otherwise. */
export async function openKubeClient(config: AgentConfig): Promise<KubeClient | undefined> {
  if (!usesKubernetes(config)) return undefined;
  // Like ioredis, the Kubernetes client is loaded only by agents that use it (it is large).
  const module = await import('./kube-backends.ts');
  // Through kubeConfigFor, as --store kubernetes does: no kubeconfig is a start-up error naming
  // --kubeconfig, never a silent fallback to http://localhost:8080.
  const kubeConfig = module.kubeConfigFor(config.kubeconfig, config.store.kind === 'kubernetes' ? '--store kubernetes' : `--leader-election ${config.leaderElection}`);
  return { module, kubeConfig };
}

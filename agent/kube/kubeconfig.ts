// Where the Kubernetes client's credentials come from: an explicit file (--kubeconfig), else the
// usual places in client-go's order (KUBECONFIG, ~/.kube/config, then the in-cluster service
// account), which is what `loadFromDefault` does. Every part of the agent that talks to
// Kubernetes (--store kubernetes, --leader-election kubernetes) loads it through kubeConfigFor,
// so a missing or broken kubeconfig is one clear start-up error naming --kubeconfig.
import { KubeConfig } from '@kubernetes/client-node';
import { StartupError } from '../startup-error.ts';

export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/**
 * The kubeconfig the flags name, or a StartupError that says how to point the agent at one.
 * `neededBy` is the flag that made the agent talk to Kubernetes ("--store kubernetes").
 */
export function kubeConfigFor(kubeconfig: string | undefined, neededBy: string): KubeConfig {
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(kubeconfig);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    const where = kubeconfig ? `--kubeconfig ${kubeconfig}` : 'the default kubeconfig ($KUBECONFIG or ~/.kube/config)';
    throw new StartupError(`cannot load ${where}: ${why}`);
  }
  const cluster = kc.getCurrentCluster();
  // loadFromDefault falls back to http://localhost:8080 when it found nothing at all.
  if (!cluster || (!kubeconfig && cluster.name === 'cluster' && cluster.server === 'http://localhost:8080' && kc.getCurrentUser()?.name === 'user')) {
    throw new StartupError(
      `${neededBy}: no kubeconfig found (looked at $KUBECONFIG, ~/.kube/config and the in-cluster service account); pass --kubeconfig <path> or set DOCKERLET_KUBECONFIG`,
    );
  }
  return kc;
}

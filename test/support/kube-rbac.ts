// The shipped RBAC (deploy/kubernetes) applied to the test API server under names unique to one
// test run, and a kubeconfig that authenticates as its ServiceAccount (a TokenRequest token), so
// tests exercise exactly what ships while other runs on the same server are left alone.
import { CoreV1Api, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { loadKustomization } from './deploy-manifests.ts';
import type { Manifest } from './deploy-manifests.ts';
import { ensureNamespace, isApiStatus } from './kube-objects.ts';

const RBAC_KINDS = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];

export interface AppliedRbac {
  /** The agent's namespace (where the ServiceAccount and the Lease Role are). */
  namespace: string;
  serviceAccount: string;
  /** A kubeconfig for the ServiceAccount: same server and CA as `admin`, a bound token. */
  kubeConfig: KubeConfig;
  token: string;
  /** Deletes what was applied (never the namespace: it would stay Terminating without a controller-manager). */
  remove(): Promise<void>;
}

/** The shipped RBAC objects, each renamed `<name>-<suffix>` (roleRef and subjects follow). */
export function rbacManifests(suffix: string): Manifest[] {
  const renamed = (name: string): string => `${name}-${suffix}`;
  return loadKustomization()
    .filter((o) => RBAC_KINDS.includes(o.kind))
    .map((o) => {
      const copy = structuredClone(o);
      copy.metadata = { ...copy.metadata, name: renamed(o.metadata.name) };
      if (copy['roleRef']) copy['roleRef'] = { ...(copy['roleRef'] as object), name: renamed((o['roleRef'] as { name: string }).name) };
      if (copy['subjects']) copy['subjects'] = (o['subjects'] as Array<{ name: string }>).map((s) => ({ ...s, name: renamed(s.name) }));
      return copy;
    });
}

export async function applyRbac(admin: KubeConfig, suffix: string, tokenSeconds = 600): Promise<AppliedRbac> {
  const objects = rbacManifests(suffix);
  const sa = objects.find((o) => o.kind === 'ServiceAccount');
  if (!sa?.metadata.namespace) throw new Error('deploy/kubernetes has no namespaced ServiceAccount');
  const namespace = await ensureNamespace(admin, sa.metadata.namespace);
  const client = KubernetesObjectApi.makeApiClient(admin);
  const applied: KubernetesObject[] = [];
  const remove = async (): Promise<void> => {
    for (const object of applied.reverse()) {
      await client.delete(object).catch((error: unknown) => (isApiStatus(error, 404) ? undefined : Promise.reject(error)));
    }
  };
  try {
    for (const object of objects) applied.push(await client.create(object as KubernetesObject));
    const request = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      namespace,
      name: sa.metadata.name,
      body: { spec: { audiences: [], expirationSeconds: tokenSeconds } },
    });
    const token = request.status?.token;
    if (!token) throw new Error('TokenRequest returned no token');
    const cluster = admin.getCurrentCluster();
    if (!cluster) throw new Error('the admin kubeconfig names no cluster');
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ ...cluster, name: 'test' }],
      users: [{ name: sa.metadata.name, token }],
      contexts: [{ name: 'agent', cluster: 'test', user: sa.metadata.name, namespace }],
      currentContext: 'agent',
    });
    return { namespace, serviceAccount: sa.metadata.name, kubeConfig, token, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

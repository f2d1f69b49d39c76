// Small helpers for tests against the shared test kube-apiserver (test/support/kube.ts): a
// namespace that is created once and never deleted (there is no kube-controller-manager, so a
// deleted namespace would stay Terminating forever), and cleanup of what a test created.
import { ApiException, CoordinationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';

/** Where kube tests put their namespaced objects (Leases, ServiceAccounts), each with a unique name. */
export const TEST_NAMESPACE = 'dockerlet-test';

export function isApiStatus(error: unknown, code: number): boolean {
  return error instanceof ApiException && error.code === code;
}

/** Creates the namespace unless it exists. */
export async function ensureNamespace(kc: KubeConfig, name = TEST_NAMESPACE): Promise<string> {
  try {
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  } catch (error) {
    if (!isApiStatus(error, 409)) throw error;
  }
  return name;
}

export async function deleteLease(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  try {
    await kc.makeApiClient(CoordinationV1Api).deleteNamespacedLease({ namespace, name });
  } catch (error) {
    if (!isApiStatus(error, 404)) throw error;
  }
}

export interface AgentObject {
  metadata: { name: string; resourceVersion?: string };
  status?: Record<string, unknown>;
}

/** The Agent resource, or undefined when there is none. */
export async function readAgent(kc: KubeConfig, name: string): Promise<AgentObject | undefined> {
  try {
    return (await kc.makeApiClient(CustomObjectsApi).getClusterCustomObject({ group: 'dockerlet.dev', version: 'v1alpha1', plural: 'agents', name })) as AgentObject;
  } catch (error) {
    if (isApiStatus(error, 404)) return undefined;
    throw error;
  }
}

export async function deleteAgent(kc: KubeConfig, name: string): Promise<void> {
  try {
    await kc.makeApiClient(CustomObjectsApi).deleteClusterCustomObject({ group: 'dockerlet.dev', version: 'v1alpha1', plural: 'agents', name });
  } catch (error) {
    if (!isApiStatus(error, 404)) throw error;
  }
}

// `dockerlet drain` on a Kubernetes fleet: a merge patch of the Agent object's spec.drain, the field
// the scheduler reads with the agent records (agent-status-store.ts). Equivalent by hand:
//   kubectl patch agent NAME --type merge -p '{"spec":{"drain":true}}'
import { ApiException, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { AGENT_RESOURCE } from './agent-status-store.ts';

/** Sets (or clears) spec.drain on the Agent `name`; an Agent that does not exist is an error naming it. */
export async function patchAgentDrain(kubeConfig: KubeConfig, name: string, drain: boolean): Promise<void> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const { group, version, plural } = AGENT_RESOURCE;
  try {
    await api.patchClusterCustomObject({ group, version, plural, name, body: { spec: { drain: drain ? true : null } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) throw new Error(`no Agent "${name}" on ${kubeConfig.getCurrentCluster()?.server ?? 'the API server'}: see kubectl get agents`);
    throw error;
  }
}

// Agent records (cluster-scoped Agent resources) of a fleet's agents on the test API server: what
// the fleet tests read to know an agent is back, and remove afterwards.
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { statusOf } from './kube-world.ts';

const AGENTS = { group: 'dockerlet.dev', version: 'v1alpha1', plural: 'agents' } as const;

/** Whether `agent`'s record says Online with a beat later than `sinceMs` (false while it has none). */
export function kubeOnlineSince(kc: KubeConfig): (agent: string, sinceMs: number) => Promise<boolean> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  return async (agent, sinceMs) => {
    try {
      const record = (await custom.getClusterCustomObject({ ...AGENTS, name: agent })) as { status?: { state?: string; lastHeartbeatTime?: string } };
      return record.status?.state === 'Online' && Date.parse(record.status.lastHeartbeatTime ?? '') > sinceMs;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  };
}

/** Deletes the Agent records of `names` (gone already is fine). */
export async function deleteAgentRecords(kc: KubeConfig, names: readonly string[]): Promise<void> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (const name of names) {
    await custom.deleteClusterCustomObject({ ...AGENTS, name }).catch((error: unknown) => {
      if (statusOf(error) !== 404) throw error;
    });
  }
}

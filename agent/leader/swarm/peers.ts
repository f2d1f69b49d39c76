// The agent's peers in a swarm: the running tasks of its own service, from Swarm's task list,
// with their addresses from the tasks' network attachments. Never DNS: a service name resolves to
// one virtual IP, and tasks.<service> answers with whatever subset the resolver returns
// (FIELD-NOTES #7: 2 of 34 replicas found).
import type { ReplicaRegistry } from '../replicas.ts';
import { swarmTaskIdentity } from './self.ts';
import type { SwarmApi, SwarmTask } from '../../runtime/swarm/swarm-api.ts';

export interface SwarmPeer {
  identity: string;
  taskId: string;
  slot?: number;
  nodeId?: string;
  /** CIDR addresses, one per network the task is attached to. */
  addresses: string[];
}

/** Tasks Swarm wants running and that run: the live replicas. */
export function livePeers(serviceName: string, tasks: SwarmTask[]): SwarmPeer[] {
  return tasks
    .filter((task) => task.desiredState === 'running' && task.state === 'running')
    .map((task) => {
      const peer: SwarmPeer = { identity: swarmTaskIdentity(serviceName, task), taskId: task.id, addresses: task.addresses.map((a) => a.address) };
      if (task.slot !== undefined) peer.slot = task.slot;
      if (task.nodeId !== undefined) peer.nodeId = task.nodeId;
      return peer;
    })
    .sort((a, b) => a.identity.localeCompare(b.identity));
}

export interface SwarmReplicaRegistry extends ReplicaRegistry {
  peers(): Promise<SwarmPeer[]>;
}

/** Swarm already knows every task: nothing to announce, the task list is the registry. */
export function swarmReplicas(api: SwarmApi, service: { id: string; name: string }): SwarmReplicaRegistry {
  const peers = async (): Promise<SwarmPeer[]> => livePeers(service.name, await api.listTasks(service.id));
  return {
    announce: async () => {},
    seen: async () => (await peers()).map((peer) => peer.identity),
    peers,
  };
}

// Who this agent is in the swarm, found by inspecting its OWN container. Inside a container the
// hostname is the short container ID (unless the service sets --hostname); that container's
// labels name the task and service. Never guess a task ID from the hostname: a short container
// ID is not a task ID (FIELD-NOTES #2, a swarm election that never started).
import type { SwarmApi } from '../../runtime/swarm/swarm-api.ts';

export const SWARM_LABELS = {
  taskId: 'com.docker.swarm.task.id',
  taskName: 'com.docker.swarm.task.name',
  // Not set by Engine 20.10 (only id and name are); read when present, else the task's Slot.
  taskSlot: 'com.docker.swarm.task.slot',
  serviceId: 'com.docker.swarm.service.id',
  serviceName: 'com.docker.swarm.service.name',
  nodeId: 'com.docker.swarm.node.id',
} as const;

export interface SwarmSelf {
  containerId: string;
  taskId: string;
  /** Replicated services only; a global service's tasks are told apart by node. */
  slot?: number;
  serviceId: string;
  serviceName: string;
  nodeId?: string;
  /** How the container was found, for the start-up log. */
  foundBy: 'hostname' | 'mountinfo';
}

/**
 * The container IDs this process may be running in, most trusted first: the hostname when it
 * looks like a container ID, then any /var/lib/docker/containers/<id>/ bind mount (hostname,
 * hosts, resolv.conf), which Docker makes for every container whatever its hostname is set to.
 */
export function containerIdCandidates(hostname: string, mountinfo: string): Array<{ id: string; foundBy: SwarmSelf['foundBy'] }> {
  const candidates: Array<{ id: string; foundBy: SwarmSelf['foundBy'] }> = [];
  if (/^[0-9a-f]{12,64}$/.test(hostname)) candidates.push({ id: hostname, foundBy: 'hostname' });
  const fromMounts = /\/containers\/([0-9a-f]{64})\//.exec(mountinfo)?.[1];
  if (fromMounts && !fromMounts.startsWith(hostname)) candidates.push({ id: fromMounts, foundBy: 'mountinfo' });
  return candidates;
}

/**
 * This process's Swarm task, or undefined when it runs in no container the engine knows or in a
 * container that is not a Swarm task (plain `docker run`, or not in a container at all).
 */
export async function discoverSwarmSelf(api: SwarmApi, where: { hostname: string; mountinfo: string }): Promise<SwarmSelf | undefined> {
  for (const candidate of containerIdCandidates(where.hostname, where.mountinfo)) {
    const container = await api.inspectContainer(candidate.id);
    if (!container) continue;
    const labels = container.labels;
    const taskId = labels[SWARM_LABELS.taskId];
    const serviceId = labels[SWARM_LABELS.serviceId];
    if (!taskId || !serviceId) return undefined;
    const self: SwarmSelf = {
      containerId: container.id,
      taskId,
      serviceId,
      serviceName: labels[SWARM_LABELS.serviceName] ?? serviceId,
      foundBy: candidate.foundBy,
    };
    const nodeId = labels[SWARM_LABELS.nodeId];
    if (nodeId) self.nodeId = nodeId;
    const slotLabel = Number(labels[SWARM_LABELS.taskSlot]);
    if (Number.isInteger(slotLabel) && slotLabel > 0) {
      self.slot = slotLabel;
    } else {
      // The task object is authoritative for the slot (a global service's task has none).
      const task = await api.inspectTask(taskId);
      if (task?.slot !== undefined) self.slot = task.slot;
    }
    return self;
  }
  return undefined;
}

/**
 * The replica identity of a task: Swarm's own task name (`service.slot.taskID`, or
 * `service.nodeID.taskID` for a global service), unique per task and readable in logs.
 */
export function swarmTaskIdentity(serviceName: string, task: { id: string; slot?: number; nodeId?: string }): string {
  return `${serviceName}.${task.slot ?? task.nodeId ?? 'task'}.${task.id}`;
}

// Start-up in a swarm: find this agent's own task (self.ts) when the chosen backend
// cares — `swarm` needs it, `file` uses it to refuse a service whose replicas may span nodes.
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { LeaderElectionBackend } from '../../config.ts';
import { DockerodeSwarmApi } from '../../runtime/swarm/dockerode-swarm.ts';
import type { SwarmSelf } from './self.ts';
import { discoverSwarmSelf, swarmTaskIdentity } from './self.ts';
import type { SwarmApi } from '../../runtime/swarm/swarm-api.ts';

export interface SwarmContext {
  api: SwarmApi;
  self: SwarmSelf;
  /** This replica's election identity: its task name. */
  identity: string;
}

/** --leader-election swarm outside a Swarm task: nothing to elect through. */
export class NotASwarmTaskError extends Error {
  override readonly name = 'NotASwarmTaskError';
}

export async function openSwarmContext(
  backend: LeaderElectionBackend,
  options: { socketPath: string; logger: Logger; api?: SwarmApi },
): Promise<SwarmContext | undefined> {
  if (backend !== 'swarm' && backend !== 'file') return undefined;
  const api = options.api ?? new DockerodeSwarmApi({ socketPath: options.socketPath });
  const host = hostname();
  // Absent outside Linux; then only the hostname can name the container.
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const self = await discoverSwarmSelf(api, { hostname: host, mountinfo });
  if (!self) {
    if (backend === 'swarm') {
      throw new NotASwarmTaskError(
        `--leader-election swarm: this agent does not run as a Swarm task (no container named by hostname "${host}" or by /proc/self/mountinfo ` +
          `carries the label com.docker.swarm.task.id). Deploy it as a Swarm service (deploy/swarm/stack.yml) with the engine socket mounted, ` +
          `or use --leader-election redis.`,
      );
    }
    return undefined;
  }
  const identity = swarmTaskIdentity(self.serviceName, { id: self.taskId, ...(self.slot !== undefined ? { slot: self.slot } : {}), ...(self.nodeId ? { nodeId: self.nodeId } : {}) });
  options.logger.info(
    { taskId: self.taskId, slot: self.slot, serviceId: self.serviceId, service: self.serviceName, node: self.nodeId, container: self.containerId, foundBy: self.foundBy },
    'swarm task resolved from own container',
  );
  return { api, self, identity };
}

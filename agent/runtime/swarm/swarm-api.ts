// The few Swarm calls the swarm backend needs, as an interface so the lock, self-discovery and the
// placement rule are tested with a fake; agent/runtime/swarm/dockerode-swarm.ts talks to the real engine.
import type { ServiceSpec } from 'dockerode';

/** A service as inspected: its spec (posted back whole on update) and the version to compare. */
export interface SwarmService {
  id: string;
  name: string;
  /** Swarm's Raft version index; an update naming an older one is rejected. */
  version: number;
  spec: ServiceSpec;
}

/** What a container's labels say about the Swarm task it runs, if any. */
export interface ContainerIdentity {
  id: string;
  labels: Record<string, string>;
}

export interface SwarmTaskAddress {
  network: string;
  /** CIDR, as Swarm reports it (10.0.1.3/24). */
  address: string;
}

export interface SwarmTask {
  id: string;
  serviceId: string;
  nodeId?: string;
  /** Replicated services number their tasks; global ones have no slot. */
  slot?: number;
  desiredState: string;
  state: string;
  containerId?: string;
  addresses: SwarmTaskAddress[];
}

/** The update was made against an out-of-date version: someone else wrote in between. */
export class SwarmVersionConflictError extends Error {
  override readonly name = 'SwarmVersionConflictError';
}

export interface SwarmApi {
  /** undefined when no such container exists. */
  inspectContainer(idOrPrefix: string): Promise<ContainerIdentity | undefined>;
  inspectService(idOrName: string): Promise<SwarmService>;
  /** undefined when no such task exists. */
  inspectTask(id: string): Promise<SwarmTask | undefined>;
  listTasks(serviceId: string): Promise<SwarmTask[]>;
  /**
   * Replaces the service-level labels only (not the task template, so no task restarts),
   * compare-and-set on `service.version`. Throws SwarmVersionConflictError when it is stale.
   */
  setServiceLabels(service: SwarmService, labels: Record<string, string>): Promise<void>;
}

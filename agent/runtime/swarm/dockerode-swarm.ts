// SwarmApi over dockerode. Each call carries a timeout (the elector bounds its calls anyway; this
// keeps an abandoned call from holding a socket forever) and its error is mapped to our types.
import Docker from 'dockerode';
import { NotFoundError } from '../../../controllers/runtime/errors.ts';
import { toEngineError } from '../docker/error-mapping.ts';
import type { ContainerIdentity, SwarmApi, SwarmService, SwarmTask, SwarmTaskAddress } from './swarm-api.ts';
import { SwarmVersionConflictError } from './swarm-api.ts';

const REQUEST_TIMEOUT_MS = 10_000;

// Swarm's answer to a compare-and-set on a stale version: HTTP 500 with this gRPC text (20.10+).
const OUT_OF_SEQUENCE = /update out of sequence/i;

export class DockerodeSwarmApi implements SwarmApi {
  readonly #docker: Docker;

  constructor(options: { socketPath: string }) {
    this.#docker = new Docker({ socketPath: options.socketPath, timeout: REQUEST_TIMEOUT_MS });
  }

  async inspectContainer(idOrPrefix: string): Promise<ContainerIdentity | undefined> {
    try {
      const info = await this.#docker.getContainer(idOrPrefix).inspect();
      return { id: info.Id, labels: info.Config.Labels ?? {} };
    } catch (error) {
      const mapped = toEngineError(`inspect container ${idOrPrefix}`, error);
      if (mapped instanceof NotFoundError) return undefined;
      throw mapped;
    }
  }

  async inspectService(idOrName: string): Promise<SwarmService> {
    try {
      const info = (await this.#docker.getService(idOrName).inspect()) as { ID: string; Version?: { Index?: number }; Spec?: SwarmService['spec'] };
      const spec = info.Spec ?? {};
      return { id: info.ID, name: spec.Name ?? info.ID, version: info.Version?.Index ?? 0, spec };
    } catch (error) {
      throw toEngineError(`inspect service ${idOrName}`, error);
    }
  }

  async inspectTask(id: string): Promise<SwarmTask | undefined> {
    try {
      return toTask(await this.#docker.getTask(id).inspect());
    } catch (error) {
      const mapped = toEngineError(`inspect task ${id}`, error);
      if (mapped instanceof NotFoundError) return undefined;
      throw mapped;
    }
  }

  async listTasks(serviceId: string): Promise<SwarmTask[]> {
    try {
      const tasks = await this.#docker.listTasks({ filters: JSON.stringify({ service: [serviceId] }) });
      return tasks.map(toTask);
    } catch (error) {
      throw toEngineError(`list tasks of service ${serviceId}`, error);
    }
  }

  async setServiceLabels(service: SwarmService, labels: Record<string, string>): Promise<void> {
    try {
      // The whole spec goes back unchanged but for the service-level Labels: TaskTemplate is
      // untouched, so Swarm restarts no task (test/integration/swarm-lease.test.ts checks it).
      await this.#docker.getService(service.id).update({ ...service.spec, Labels: labels, version: service.version });
    } catch (error) {
      const mapped = toEngineError(`update service ${service.name}`, error);
      if (OUT_OF_SEQUENCE.test(mapped.message)) throw new SwarmVersionConflictError(`service ${service.name}: version ${service.version} is stale`, { cause: error });
      throw mapped;
    }
  }
}

interface RawTask {
  ID?: string;
  ServiceID?: string;
  NodeID?: string;
  Slot?: number;
  DesiredState?: string;
  Status?: { State?: string; ContainerStatus?: { ContainerID?: string } };
  NetworksAttachments?: Array<{ Network?: { Spec?: { Name?: string } }; Addresses?: string[] }>;
}

function toTask(value: unknown): SwarmTask {
  const raw = (typeof value === 'object' && value !== null ? value : {}) as RawTask;
  const addresses: SwarmTaskAddress[] = (raw.NetworksAttachments ?? []).flatMap((attachment) =>
    (attachment.Addresses ?? []).map((address) => ({ network: attachment.Network?.Spec?.Name ?? '', address })),
  );
  const task: SwarmTask = {
    id: raw.ID ?? '',
    serviceId: raw.ServiceID ?? '',
    desiredState: raw.DesiredState ?? '',
    state: raw.Status?.State ?? '',
    addresses,
  };
  if (raw.NodeID) task.nodeId = raw.NodeID;
  if (typeof raw.Slot === 'number' && raw.Slot > 0) task.slot = raw.Slot;
  if (raw.Status?.ContainerStatus?.ContainerID) task.containerId = raw.Status.ContainerStatus.ContainerID;
  return task;
}

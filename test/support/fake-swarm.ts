// An in-memory SwarmApi with Swarm's compare-and-set semantics (a global version index that grows
// on every write; an update naming an older version is rejected), for unit tests of the swarm
// lease, self-discovery and peers. `beforeUpdate` lets a test slip a competing write in between
// a locker's read and its write.
import type { ServiceSpec } from 'dockerode';
import type { ContainerIdentity, SwarmApi, SwarmService, SwarmTask } from '../../agent/runtime/swarm/swarm-api.ts';
import { SwarmVersionConflictError } from '../../agent/runtime/swarm/swarm-api.ts';

export class FakeSwarmApi implements SwarmApi {
  #index = 10;
  readonly services = new Map<string, { name: string; version: number; spec: ServiceSpec }>();
  readonly containers = new Map<string, ContainerIdentity>();
  readonly tasks: SwarmTask[] = [];
  /** Called once before each setServiceLabels is applied (after its read). */
  beforeUpdate: (() => void) | undefined;
  updates = 0;
  conflicts = 0;

  addService(id: string, spec: ServiceSpec): void {
    this.services.set(id, { name: spec.Name ?? id, version: ++this.#index, spec: structuredClone(spec) });
  }

  /** A write by someone else (an operator scaling, a competitor): bumps the version. */
  touch(id: string, labels: Record<string, string>): void {
    const service = this.#service(id);
    service.spec = { ...service.spec, Labels: labels };
    service.version = ++this.#index;
  }

  async inspectContainer(idOrPrefix: string): Promise<ContainerIdentity | undefined> {
    for (const container of this.containers.values()) if (container.id.startsWith(idOrPrefix)) return structuredClone(container);
    return undefined;
  }

  async inspectService(idOrName: string): Promise<SwarmService> {
    const service = this.#service(idOrName);
    return { id: idOrName, name: service.name, version: service.version, spec: structuredClone(service.spec) };
  }

  async inspectTask(id: string): Promise<SwarmTask | undefined> {
    const task = this.tasks.find((t) => t.id === id);
    return task ? structuredClone(task) : undefined;
  }

  async listTasks(serviceId: string): Promise<SwarmTask[]> {
    return structuredClone(this.tasks.filter((t) => t.serviceId === serviceId));
  }

  async setServiceLabels(update: SwarmService, labels: Record<string, string>): Promise<void> {
    const hook = this.beforeUpdate;
    this.beforeUpdate = undefined;
    hook?.();
    const service = this.#service(update.id);
    if (update.version !== service.version) {
      this.conflicts++;
      throw new SwarmVersionConflictError(`service ${update.id}: version ${update.version} is stale`);
    }
    this.updates++;
    service.spec = { ...update.spec, Labels: { ...labels } };
    service.version = ++this.#index;
  }

  labels(id: string): Record<string, string> {
    return { ...(this.#service(id).spec.Labels ?? {}) };
  }

  #service(id: string): { name: string; version: number; spec: ServiceSpec } {
    const service = this.services.get(id);
    if (!service) throw new Error(`no such service: ${id}`);
    return service;
  }
}

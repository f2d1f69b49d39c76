// --runtime swarm: the DockerRuntime seam implemented with Swarm services, so observe → plan →
// execute, the cache and the config-hash rules stay exactly those of containers. A Session's
// "container" is a one-replica service (agent/runtime/swarm/service-mapping.ts says how the states map):
// create makes it with 0 replicas, start scales it to 1 (or forces a new task after one ended),
// stop scales it to 0, update changes limits and restart policy (Swarm replaces the task), remove
// removes the service. Engine info, image calls and events go through the container runtime.
import Docker from 'dockerode';
import { pino, type Logger } from 'pino';
import { register as defaultRegistry, type Registry } from 'prom-client';
import { dockerApiCounter, type DockerApiCounter, type DockerApiOp } from '../docker/api-metrics.ts';
import { settleBy, startDeadline } from '../docker/deadline.ts';
import type {
  ContainerDetails,
  ContainerEvent,
  ContainerSummary,
  CreateContainerRequest,
  DockerRuntime,
  EngineInfo,
  EventStreamHandlers,
  FoundImage,
  FoundNetwork,
  UpdateContainerRequest,
} from '../../../controllers/runtime/docker-runtime.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS, DockerodeRuntime } from '../docker/dockerode-runtime.ts';
import { labelFilters } from '../docker/dockerode-mapping.ts';
import { EngineUnavailableError, NotFoundError } from '../../../controllers/runtime/errors.ts';
import { toEngineError } from '../docker/error-mapping.ts';
import { LABELS } from '../../../controllers/session/labels.ts';
import { StartupError } from '../../startup-error.ts';
import type { SessionSpec } from '../../../crds/types.ts';
import type { FieldProblem } from '../../../crds/problems.ts';
import { swarmSpecProblems } from './service-support.ts';
import type { RawService, RawServiceSpec, RawTask, TaskPlacement } from './service-mapping.ts';
import {
  RUNTIME_LABEL,
  SWARM_RUNTIME,
  SWARM_SERVICE_ID_LABEL,
  isTransitional,
  newestTask,
  replicasOf,
  serviceLabelsOfTaskContainer,
  serviceState,
  toServiceDetails,
  toServiceSpec,
  toServiceSummary,
  withForcedRestart,
  withReplicas,
  withUpdate,
} from './service-mapping.ts';

export interface SwarmServiceRuntimeOptions {
  socketPath: string;
  registry?: Registry;
  logger?: Logger;
  requestTimeoutMs?: number;
  /** Grace period between SIGTERM and SIGKILL when Swarm stops a task (--stop-timeout). */
  stopGracePeriodSeconds: number;
}

interface RawNode {
  ID?: string;
  Description?: { Hostname?: string };
  Status?: { Addr?: string };
}

interface RawContainer {
  NetworkSettings?: { IPAddress?: string; Networks?: Record<string, { IPAddress?: string }> };
}

/** Bounds the memo of task-container addresses (a task container's address never changes). */
const ADDRESS_MEMO_LIMIT = 1000;
/**
 * A service waiting for its task to start (see isTransitional) is looked at again every second for
 * its first minute of waiting, then every 15 s (a task no node can take may wait for a long time).
 */
export const TRANSITION_POLL_MS = 1_000;
export const TRANSITION_SLOW_POLL_MS = 15_000;
const TRANSITION_FAST_FOR_MS = 60_000;

interface Transition {
  labels: Record<string, string>;
  /** When this service was first seen waiting (ms). */
  since: number;
  dueAt: number;
}

export class SwarmServiceRuntime implements DockerRuntime {
  private readonly docker: Docker;
  private readonly containers: DockerodeRuntime;
  private readonly requests: DockerApiCounter;
  private readonly requestTimeoutMs: number;
  private readonly stopGracePeriodSeconds: number;
  private readonly nodes = new Map<string, { hostname: string; address?: string }>();
  private readonly addresses = new Map<string, string>();
  /** Services waiting for their task to start, and when to look at each again. */
  private readonly transitioning = new Map<string, Transition>();

  constructor(options: SwarmServiceRuntimeOptions) {
    // Pinned to the socket like DockerodeRuntime: docker-modem must not pick up DOCKER_HOST.
    this.docker = new Docker({ socketPath: options.socketPath, host: undefined, port: undefined, protocol: 'http', timeout: undefined });
    const registry = options.registry ?? defaultRegistry;
    this.containers = new DockerodeRuntime({
      socketPath: options.socketPath,
      registry,
      logger: options.logger ?? pino({ level: 'silent' }),
      ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    });
    this.requests = dockerApiCounter(registry);
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.stopGracePeriodSeconds = options.stopGracePeriodSeconds;
  }

  info(): Promise<EngineInfo> {
    return this.containers.info();
  }

  unsupported(spec: SessionSpec): FieldProblem[] {
    return swarmSpecProblems(spec);
  }

  /** One call: services with their running/desired task counts (status=true). */
  async listContainers(labelSelector: Record<string, string>): Promise<ContainerSummary[]> {
    const filters = JSON.stringify({ label: labelFilters(labelSelector) });
    try {
      const services = await this.call('list', 'list services', (signal) =>
        this.docker.listServices({ filters, status: true, abortSignal: signal } as Docker.ServiceListOptions),
      );
      return (services as RawService[]).map(toServiceSummary);
    } catch (error) {
      throw notAManager(error) ?? error;
    }
  }

  /** Service, its tasks, and (cached) the node of the newest one: 2 calls, 3 for a node not seen yet. */
  async inspectContainer(id: string): Promise<ContainerDetails> {
    const [service, tasks] = await Promise.all([this.inspectService(id), this.listTasks(id)]);
    const task = newestTask(tasks);
    const placement: TaskPlacement = {};
    if (task?.NodeID) {
      const node = await this.node(task.NodeID);
      placement.node = node.hostname;
      if (node.address) placement.nodeAddress = node.address;
    }
    const address = await this.localAddress(task);
    if (address) placement.containerAddress = address;
    if (isTransitional(service.Spec, tasks)) {
      const now = Date.now();
      const since = this.transitioning.get(id)?.since ?? now;
      const delayMs = now - since < TRANSITION_FAST_FOR_MS ? TRANSITION_POLL_MS : TRANSITION_SLOW_POLL_MS;
      this.transitioning.set(id, { labels: service.Spec?.Labels ?? {}, since, dueAt: now + delayMs });
    } else {
      this.transitioning.delete(id);
    }
    return toServiceDetails(service, tasks, placement);
  }

  async createContainer(request: CreateContainerRequest, signal?: AbortSignal): Promise<string> {
    const spec = toServiceSpec(request, this.stopGracePeriodSeconds);
    const created = await this.call(
      'create',
      `create service ${spec.Name}`,
      (callSignal) => this.docker.createService({ ...spec, abortSignal: callSignal } as unknown as Docker.CreateServiceOptions),
      signal,
    );
    return (created as unknown as { id?: string; ID?: string }).id ?? (created as unknown as { ID: string }).ID;
  }

  // The write operations read first (compare-and-set on the service's version); both the read and
  // the write follow the caller's signal, so an abort between them sends no update.
  async startContainer(id: string, signal?: AbortSignal): Promise<void> {
    const service = await this.inspectService(id, signal);
    const spec = service.Spec ?? {};
    if (replicasOf(spec) === 0) {
      await this.updateService(service, withReplicas(spec, 1), signal);
      return;
    }
    // Scaled up already: only a task that ended and that Swarm will not restart needs a new one.
    if (serviceState(spec, await this.listTasks(id, signal)) === 'exited') await this.updateService(service, withForcedRestart(spec), signal);
  }

  async stopContainer(id: string, _timeoutSeconds?: number, signal?: AbortSignal): Promise<void> {
    const service = await this.inspectService(id, signal);
    if (replicasOf(service.Spec) === 0) return;
    await this.updateService(service, withReplicas(service.Spec ?? {}, 0), signal);
  }

  async removeContainer(id: string, signal?: AbortSignal): Promise<void> {
    this.transitioning.delete(id);
    await this.call('remove', `remove service ${id}`, (callSignal) => this.docker.getService(id).remove({ abortSignal: callSignal }), signal);
  }

  /** Never asked for: StartFirst, the only caller, is refused under this runtime (swarmSpecProblems). */
  async renameContainer(id: string): Promise<void> {
    throw new Error(`renaming service ${id}: not supported with --runtime swarm`);
  }

  async updateContainer(id: string, request: UpdateContainerRequest, signal?: AbortSignal): Promise<void> {
    if (request.memoryBytes === undefined && request.nanoCpus === undefined && request.restartPolicy === undefined) return;
    const service = await this.inspectService(id, signal);
    await this.updateService(service, withUpdate(service.Spec ?? {}, request), signal);
  }

  /**
   * Always found, with no ID: the node that runs the task pulls the image (and uses a local one when
   * there is no registry) and resolves the name itself, so whether this engine has it says nothing.
   * imagePullPolicy Never cannot be checked here; a node without the image rejects the task, which
   * status reports.
   */
  async findImage(): Promise<FoundImage> {
    return {};
  }

  /** Networks are the manager's, swarm-scoped ones included. */
  findNetwork(name: string): Promise<FoundNetwork | undefined> {
    return this.containers.findNetwork(name);
  }

  /** Nothing to do here: each node pulls when it starts a task (see findImage). */
  async pullImage(): Promise<void> {}

  /**
   * Events of the task containers on this node, read as events of their service (its ID, and
   * never a destroy: a task container going away does not mean the service did). Tasks on other
   * nodes send no events here, and service events carry no labels to filter on: those changes are
   * seen at the periodic resync.
   */
  watchEvents(labelSelector: Record<string, string>, handlers: EventStreamHandlers, signal: AbortSignal): void {
    // Services between states are announced as if an event came now, until a read shows them settled.
    const poll = setInterval(() => {
      const now = Date.now();
      for (const [id, transition] of this.transitioning) {
        if (transition.dueAt > now) continue;
        // The read this causes sets the next time (or finds it settled); this is the fallback.
        transition.dueAt = now + TRANSITION_SLOW_POLL_MS;
        const event: ContainerEvent = { containerId: id, action: 'task-poll', labels: transition.labels, timeNano: now * 1_000_000 };
        handlers.onEvent(event);
      }
    }, TRANSITION_POLL_MS / 4);
    poll.unref();
    signal.addEventListener('abort', () => clearInterval(poll), { once: true });
    const { [LABELS.managedBy]: _managedBy, ...rest } = labelSelector;
    this.containers.watchEvents(
      { ...rest, [RUNTIME_LABEL]: SWARM_RUNTIME },
      {
        onEvent: (event) => {
          const serviceId = event.labels[SWARM_SERVICE_ID_LABEL];
          if (!serviceId) return;
          handlers.onEvent({ containerId: serviceId, action: `task-${event.action}`, labels: serviceLabelsOfTaskContainer(event.labels), timeNano: event.timeNano });
        },
        onReconnect: () => handlers.onReconnect(),
        onDisconnect: (error) => handlers.onDisconnect(error),
      },
      signal,
    );
  }

  private async inspectService(id: string, signal?: AbortSignal): Promise<RawService> {
    try {
      return (await this.call('inspect', `inspect service ${id}`, (callSignal) => this.docker.getService(id).inspect({ abortSignal: callSignal }), signal)) as RawService;
    } catch (error) {
      if (error instanceof NotFoundError) this.transitioning.delete(id);
      throw error;
    }
  }

  private async listTasks(serviceId: string, signal?: AbortSignal): Promise<RawTask[]> {
    const filters = JSON.stringify({ service: [serviceId] });
    const tasks = await this.call('task_list', `list tasks of service ${serviceId}`, (callSignal) => this.docker.listTasks({ filters, abortSignal: callSignal }), signal);
    // The filter also matches by name: keep only this service's own tasks.
    return (tasks as RawTask[]).filter((t) => t.ServiceID === serviceId);
  }

  /** Compare-and-set on the inspected version: a concurrent writer makes this fail and retry. */
  private async updateService(service: RawService, spec: RawServiceSpec, signal?: AbortSignal): Promise<void> {
    const id = service.ID ?? '';
    await this.call(
      'update',
      `update service ${spec.Name ?? id}`,
      (callSignal) => this.docker.getService(id).update({ ...spec, version: service.Version?.Index ?? 0, abortSignal: callSignal }),
      signal,
    );
  }

  private async node(nodeId: string): Promise<{ hostname: string; address?: string }> {
    const known = this.nodes.get(nodeId);
    if (known) return known;
    try {
      const raw = (await this.call('node_inspect', `inspect node ${nodeId}`, (signal) => this.docker.getNode(nodeId).inspect({ abortSignal: signal }))) as RawNode;
      const node = { hostname: raw.Description?.Hostname ?? nodeId, ...(raw.Status?.Addr ? { address: raw.Status.Addr } : {}) };
      this.nodes.set(nodeId, node);
      return node;
    } catch (error) {
      // A node that left is no reason to fail the inspect: show its ID.
      if (error instanceof NotFoundError) return { hostname: nodeId };
      throw error;
    }
  }

  /**
   * A running task that Swarm attached to no network (no ports, no networks: it runs on this
   * node's default bridge) has its address only on its container; read it if it is on this node.
   */
  private async localAddress(task: RawTask | undefined): Promise<string | undefined> {
    const containerId = task?.Status?.ContainerStatus?.ContainerID;
    if (!task || task.Status?.State !== 'running' || !containerId || (task.NetworksAttachments ?? []).length > 0) return undefined;
    const known = this.addresses.get(containerId);
    if (known) return known;
    try {
      const raw = (await this.call('inspect', `inspect container ${containerId}`, (signal) => this.docker.getContainer(containerId).inspect({ abortSignal: signal }))) as RawContainer;
      const settings = raw.NetworkSettings ?? {};
      const address = settings.IPAddress || Object.values(settings.Networks ?? {}).find((n) => n.IPAddress)?.IPAddress;
      if (!address) return undefined;
      if (this.addresses.size >= ADDRESS_MEMO_LIMIT) this.addresses.clear();
      this.addresses.set(containerId, address);
      return address;
    } catch (error) {
      // On another node: its address is not ours to read.
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  /** One engine call with a deadline; `signal` (the caller's) works as in DockerodeRuntime. */
  private async call<T>(op: DockerApiOp, what: string, run: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    const deadline = startDeadline(this.requestTimeoutMs, signal);
    try {
      const result = await settleBy(run(deadline.signal), deadline.signal);
      this.requests.inc({ op, result: 'success' });
      return result;
    } catch (error) {
      this.requests.inc({ op, result: 'error' });
      if (signal?.aborted === true) throw signal.reason;
      if (deadline.expired) throw new EngineUnavailableError(`${what}: no answer from the engine in time`, undefined, { cause: error });
      throw toEngineError(what, error);
    } finally {
      deadline.dispose();
    }
  }
}

/** The engine's answer when it is not a swarm manager (20.10: "This node is not a swarm manager…"). */
const NOT_A_MANAGER = /not a swarm manager|swarm is not active|not part of a swarm/i;

/** The first list at start fails this way on a worker or a plain engine: say which flag to change. */
export function notAManager(error: unknown): StartupError | undefined {
  const message = error instanceof Error ? error.message : String(error);
  if (!NOT_A_MANAGER.test(message)) return undefined;
  return new StartupError(
    `--runtime swarm needs a swarm manager, and this engine says: ${message} — run the agent on a manager node (docker swarm init, or join as a manager), or use --runtime docker`,
    { cause: error },
  );
}

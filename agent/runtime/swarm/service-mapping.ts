// --runtime swarm: how a Session's container request becomes a one-replica Swarm service, and how a
// service with its tasks reads back as the ContainerDetails that planning and status use. Pure, so
// the mapping is unit-tested and the plan stays the same pure function for both runtimes.
//
// The "container" of a Session is its service: its ID is the service ID, and it is
//   created  — replicas 0 (stopped on purpose, or created and not started yet), or its first task
//              has not started yet;
//   running  — the newest task runs;
//   restarting — the newest task ended (or is starting again after one ended) and Swarm's restart
//              policy will start another: the agent waits, Swarm does the restarting;
//   exited   — the newest task ended and the restart policy says Swarm will not restart it.
import { createHash } from 'node:crypto';
import type {
  ContainerDetails,
  ContainerState,
  ContainerSummary,
  CreateContainerRequest,
  EngineRestartPolicy,
  MountRequest,
  PublishedPort,
  UpdateContainerRequest,
} from '../../../controllers/runtime/docker-runtime.ts';
import { LABELS, MANAGED_BY } from '../../../controllers/session/labels.ts';
import { toHealthConfig } from '../docker/dockerode-mapping.ts';

/** On the task containers instead of managed-by, so a container-runtime agent never adopts them. */
export const RUNTIME_LABEL = 'dockerlet.dev/runtime';
export const SWARM_RUNTIME = 'swarm';
/** Swarm's own label on a task's container. */
export const SWARM_SERVICE_ID_LABEL = 'com.docker.swarm.service.id';

export type SwarmRestartCondition = 'none' | 'on-failure' | 'any';

export interface RawServiceSpec {
  Name?: string;
  Labels?: Record<string, string>;
  TaskTemplate?: {
    ContainerSpec?: {
      Image?: string;
      Labels?: Record<string, string>;
      Command?: string[];
      Args?: string[];
      Env?: string[];
      Mounts?: RawMount[];
      StopGracePeriod?: number;
      User?: string;
      Dir?: string;
      Hostname?: string;
      StopSignal?: string;
      ReadOnly?: boolean;
      CapabilityAdd?: string[];
      CapabilityDrop?: string[];
      Ulimits?: Array<{ Name: string; Soft: number; Hard: number }>;
      Healthcheck?: { Test: string[]; Interval: number; Timeout: number; Retries: number; StartPeriod: number };
    };
    Resources?: { Limits?: { NanoCPUs?: number; MemoryBytes?: number } };
    LogDriver?: { Name: string; Options?: Record<string, string> };
    Networks?: Array<{ Target: string }>;
    RestartPolicy?: { Condition?: string; MaxAttempts?: number; Delay?: number };
    ForceUpdate?: number;
  };
  Mode?: { Replicated?: { Replicas?: number }; Global?: object };
  EndpointSpec?: { Mode?: string; Ports?: RawPortConfig[] };
}

interface RawMount {
  Type: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

interface RawPortConfig {
  Protocol?: string;
  TargetPort?: number;
  PublishedPort?: number;
  PublishMode?: string;
}

export interface RawService {
  ID?: string;
  Version?: { Index?: number };
  CreatedAt?: string;
  Spec?: RawServiceSpec;
  /** Present when listed with status=true (API 1.41+). */
  ServiceStatus?: { RunningTasks?: number; DesiredTasks?: number };
}

export interface RawTask {
  ID?: string;
  ServiceID?: string;
  NodeID?: string;
  Slot?: number;
  CreatedAt?: string;
  DesiredState?: string;
  Version?: { Index?: number };
  Status?: {
    Timestamp?: string;
    State?: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
    PortStatus?: { Ports?: RawPortConfig[] };
  };
  NetworksAttachments?: Array<{ Network?: { Spec?: { Name?: string } }; Addresses?: string[] }>;
}

/** What the runtime learned besides the service and its tasks, for the status. */
export interface TaskPlacement {
  /** Hostname of the node running the newest task (its ID if the node could not be read). */
  node?: string;
  /** The node's address, where host-mode ports are published. */
  nodeAddress?: string;
  /** The task container's IP on its first network, when Swarm attached it to none (read locally). */
  containerAddress?: string;
}

/** States in which a task will never run again. */
const TERMINAL_TASK_STATES: ReadonlySet<string> = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove']);
/** Ended by itself (or refused by a node), not shut down by the orchestrator. */
const ENDED_BY_ITSELF: ReadonlySet<string> = new Set(['complete', 'failed', 'rejected']);

/**
 * Swarm service names are at most 63 characters of [A-Za-z0-9_-]. The container name is longer
 * than that for long namespaces or names, and agent names may hold dots: those names are cut and
 * made unique with a hash of the full name. Names are for humans; labels are the truth.
 */
export function serviceName(containerName: string): string {
  const cleaned = containerName.replace(/[^A-Za-z0-9_-]/g, '-');
  if (cleaned.length <= 63 && cleaned === containerName) return cleaned;
  const hash = createHash('sha256').update(containerName).digest('hex').slice(0, 8);
  return `${cleaned.slice(0, 54).replace(/[-_]+$/, '')}-${hash}`;
}

export function swarmRestartPolicy(policy: EngineRestartPolicy): { Condition: SwarmRestartCondition; MaxAttempts?: number } {
  switch (policy.name) {
    case 'always':
    case 'unless-stopped':
      return { Condition: 'any' };
    case 'on-failure':
      return policy.maximumRetryCount ? { Condition: 'on-failure', MaxAttempts: policy.maximumRetryCount } : { Condition: 'on-failure' };
    case 'no':
      return { Condition: 'none' };
  }
}

/** The inverse of swarmRestartPolicy, so the plan compares like with like (any ↔ unless-stopped). */
export function engineRestartPolicyOf(restart: { Condition?: string; MaxAttempts?: number } | undefined): EngineRestartPolicy {
  switch (restart?.Condition ?? 'any') {
    case 'none':
      return { name: 'no' };
    case 'on-failure':
      return restart?.MaxAttempts ? { name: 'on-failure', maximumRetryCount: restart.MaxAttempts } : { name: 'on-failure' };
    default:
      return { name: 'unless-stopped' };
  }
}

function toMount(mount: MountRequest): RawMount {
  const raw: RawMount = { Type: mount.type, Target: mount.target, ReadOnly: mount.readOnly };
  if (mount.source !== undefined) raw.Source = mount.source;
  if (mount.type === 'tmpfs' && (mount.tmpfsSizeBytes !== undefined || mount.tmpfsMode !== undefined)) {
    raw.TmpfsOptions = {
      ...(mount.tmpfsSizeBytes !== undefined ? { SizeBytes: mount.tmpfsSizeBytes } : {}),
      ...(mount.tmpfsMode !== undefined ? { Mode: mount.tmpfsMode } : {}),
    };
  }
  return raw;
}

/** Swarm's ContainerSpec has no ShmSize: a tmpfs on /dev/shm of that size is what it offers instead. */
export const SHM_PATH = '/dev/shm';

function mountsOf(request: CreateContainerRequest): RawMount[] {
  const mounts = request.mounts.map(toMount);
  if (request.shmSizeBytes !== undefined && request.shmSizeBytes > 0 && !request.mounts.some((m) => m.target === SHM_PATH)) {
    mounts.push({ Type: 'tmpfs', Target: SHM_PATH, ReadOnly: false, TmpfsOptions: { SizeBytes: request.shmSizeBytes } });
  }
  return mounts;
}

type RawContainerSpec = NonNullable<NonNullable<RawServiceSpec['TaskTemplate']>['ContainerSpec']>;

/** The session-grade fields Swarm has a place for; devices and GPUs it has not (see swarmSpecProblems). */
function addSessionGradeFields(containerSpec: RawContainerSpec, request: CreateContainerRequest): void {
  if (request.user !== undefined) containerSpec.User = request.user;
  if (request.workingDir !== undefined) containerSpec.Dir = request.workingDir;
  if (request.hostname !== undefined) containerSpec.Hostname = request.hostname;
  if (request.stopSignal !== undefined) containerSpec.StopSignal = request.stopSignal;
  if (request.readOnlyRootfs === true) containerSpec.ReadOnly = true;
  if (request.capAdd !== undefined) containerSpec.CapabilityAdd = request.capAdd;
  if (request.capDrop !== undefined) containerSpec.CapabilityDrop = request.capDrop;
  if (request.ulimits !== undefined) containerSpec.Ulimits = request.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard }));
  if (request.healthcheck !== undefined) containerSpec.Healthcheck = toHealthConfig(request.healthcheck);
}

function limits(memoryBytes: number, nanoCpus: number): { NanoCPUs?: number; MemoryBytes?: number } {
  return { ...(nanoCpus > 0 ? { NanoCPUs: nanoCpus } : {}), ...(memoryBytes > 0 ? { MemoryBytes: memoryBytes } : {}) };
}

/** Labels for the task containers: ours, but marked as a Swarm task's rather than managed-by. */
export function taskContainerLabels(labels: Record<string, string>): Record<string, string> {
  const { [LABELS.managedBy]: _managedBy, ...rest } = labels;
  return { ...rest, [RUNTIME_LABEL]: SWARM_RUNTIME };
}

/**
 * The service for a container request, created with 0 replicas: the plan's `start` scales it to
 * one, as it starts a created container. Ports with a hostPort are published in host mode, on the
 * node that runs the task (like a container's -p; the routing mesh would publish on every node);
 * Swarm cannot bind one host IP, so hostIP is not used. The image is used as named: no registry
 * digest is asked for (the CLI's --no-resolve-image), so a local-only image works.
 */
export function toServiceSpec(request: CreateContainerRequest, stopGracePeriodSeconds: number): RawServiceSpec {
  const containerSpec: RawContainerSpec = {
    Image: request.image,
    Labels: taskContainerLabels(request.labels),
    Env: request.env,
    Mounts: mountsOf(request),
    StopGracePeriod: (request.stopTimeoutSeconds ?? stopGracePeriodSeconds) * 1_000_000_000,
  };
  if (request.entrypoint) containerSpec.Command = request.entrypoint;
  if (request.cmd) containerSpec.Args = request.cmd;
  addSessionGradeFields(containerSpec, request);
  const published = request.ports.filter((p) => p.hostPort !== undefined);
  const template: NonNullable<RawServiceSpec['TaskTemplate']> = {
    ContainerSpec: containerSpec,
    Resources: { Limits: limits(request.memoryBytes, request.nanoCpus) },
    RestartPolicy: swarmRestartPolicy(request.restartPolicy),
  };
  if (request.logConfig) template.LogDriver = { Name: request.logConfig.driver, Options: request.logConfig.options };
  // Swarm attaches a task to swarm-scoped networks only (an overlay, or one created with --scope swarm).
  if (request.networks) template.Networks = request.networks.map((name) => ({ Target: name }));
  return {
    Name: serviceName(request.name),
    Labels: request.labels,
    TaskTemplate: template,
    Mode: { Replicated: { Replicas: 0 } },
    EndpointSpec: {
      Mode: 'vip',
      Ports: published.map((p) => ({ Protocol: p.protocol, TargetPort: p.containerPort, PublishedPort: p.hostPort ?? 0, PublishMode: 'host' })),
    },
  };
}

/** A copy of `spec` with the in-place changes applied (Swarm replaces the task to apply them). */
export function withUpdate(spec: RawServiceSpec, request: UpdateContainerRequest): RawServiceSpec {
  const template = spec.TaskTemplate ?? {};
  const current = template.Resources?.Limits ?? {};
  const memoryBytes = request.memoryBytes ?? current.MemoryBytes ?? 0;
  const nanoCpus = request.nanoCpus ?? current.NanoCPUs ?? 0;
  return {
    ...spec,
    TaskTemplate: {
      ...template,
      Resources: { ...template.Resources, Limits: limits(memoryBytes, nanoCpus) },
      RestartPolicy: request.restartPolicy ? swarmRestartPolicy(request.restartPolicy) : (template.RestartPolicy ?? { Condition: 'any' }),
    },
  };
}

export function replicasOf(spec: RawServiceSpec | undefined): number {
  return spec?.Mode?.Replicated?.Replicas ?? 1;
}

/** A copy of `spec` that runs `replicas` tasks; the task template is untouched, so no task restarts. */
export function withReplicas(spec: RawServiceSpec, replicas: number): RawServiceSpec {
  return { ...spec, Mode: { Replicated: { Replicas: replicas } } };
}

/** A copy of `spec` that makes Swarm start a new task (the way to restart an ended one). */
export function withForcedRestart(spec: RawServiceSpec): RawServiceSpec {
  const template = spec.TaskTemplate ?? {};
  return { ...spec, TaskTemplate: { ...template, ForceUpdate: (template.ForceUpdate ?? 0) + 1 } };
}

function createdSeconds(createdAt: string | undefined): number {
  const ms = createdAt ? Date.parse(createdAt) : NaN;
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
}

/** The task that says what the service does now: the newest one. */
export function newestTask(tasks: readonly RawTask[]): RawTask | undefined {
  const at = (t: RawTask): number => {
    const ms = t.CreatedAt ? Date.parse(t.CreatedAt) : NaN;
    return Number.isNaN(ms) ? 0 : ms;
  };
  return [...tasks].sort((a, b) => at(b) - at(a) || (b.Version?.Index ?? 0) - (a.Version?.Index ?? 0))[0];
}

function willRestart(condition: string, task: RawTask): boolean {
  if (condition === 'any') return true;
  if (condition === 'on-failure') return task.Status?.State !== 'complete';
  return false;
}

/** The state the plan sees; see the comment at the top of the file. */
export function serviceState(spec: RawServiceSpec | undefined, tasks: readonly RawTask[]): ContainerState {
  if (replicasOf(spec) === 0) return 'created';
  const task = newestTask(tasks);
  if (!task) return 'created';
  const state = task.Status?.State ?? '';
  if (state === 'running') return 'running';
  const condition = spec?.TaskTemplate?.RestartPolicy?.Condition ?? 'any';
  if (TERMINAL_TASK_STATES.has(state)) return willRestart(condition, task) ? 'restarting' : 'exited';
  // Not started yet: the first task, or a restart after an earlier one ended.
  const ended = tasks.some((t) => t !== task && ENDED_BY_ITSELF.has(t.Status?.State ?? ''));
  return ended ? 'restarting' : 'created';
}

/**
 * A task should run but has not started yet (scheduled, pulling, starting). Swarm 20.10 sends no
 * task events, and its task state lags the container's own events, so the runtime polls such a
 * service until it settles. ("restarting" needs no poll: the plan already looks again every second.)
 */
export function isTransitional(spec: RawServiceSpec | undefined, tasks: readonly RawTask[]): boolean {
  return replicasOf(spec) > 0 && serviceState(spec, tasks) === 'created';
}

function stripPrefixLength(address: string): string {
  return address.replace(/\/\d+$/, '');
}

export function toServiceDetails(service: RawService, tasks: readonly RawTask[], placement: TaskPlacement = {}): ContainerDetails {
  const spec = service.Spec ?? {};
  const template = spec.TaskTemplate ?? {};
  const task = newestTask(tasks);
  const state = serviceState(spec, tasks);
  const taskState = task?.Status?.State;
  const running = state === 'running';
  // What the last run ended with: the newest task's if it ended, else the newest that did (a
  // restart waiting to start says nothing of why the previous one stopped).
  const ended = task && TERMINAL_TASK_STATES.has(taskState ?? '') ? task : newestTask(tasks.filter((t) => ENDED_BY_ITSELF.has(t.Status?.State ?? '')));
  const details: ContainerDetails = {
    id: service.ID ?? '',
    name: spec.Name ?? '',
    image: template.ContainerSpec?.Image ?? '',
    state,
    labels: spec.Labels ?? {},
    created: createdSeconds(service.CreatedAt),
    exitCode: ended?.Status?.ContainerStatus?.ExitCode ?? 0,
    oomKilled: false,
    restartCount: tasks.filter((t) => t !== task && ENDED_BY_ITSELF.has(t.Status?.State ?? '')).length,
    memoryBytes: template.Resources?.Limits?.MemoryBytes ?? 0,
    nanoCpus: template.Resources?.Limits?.NanoCPUs ?? 0,
    restartPolicy: engineRestartPolicyOf(template.RestartPolicy),
    ports: running ? publishedPorts(task, placement.nodeAddress) : [],
  };
  if (running && task?.Status?.Timestamp) details.startedAt = task.Status.Timestamp;
  if (!running && task && taskState && TERMINAL_TASK_STATES.has(taskState) && task.Status?.Timestamp) details.finishedAt = task.Status.Timestamp;
  if (!running && ended?.Status?.Err) details.error = ended.Status.Err;
  const attached = (task?.NetworksAttachments ?? []).flatMap((a) => a.Addresses ?? [])[0];
  const address = attached ? stripPrefixLength(attached) : placement.containerAddress;
  if (running && address) details.ipAddress = address;
  // Swarm keeps a task "starting" until its healthcheck passes and replaces one that turns
  // unhealthy: a running task of a service with a healthcheck is a healthy one.
  if (template.ContainerSpec?.Healthcheck) details.health = { status: running ? 'healthy' : 'starting', failingStreak: 0 };
  if (task && replicasOf(spec) > 0) {
    details.task = { id: task.ID ?? '', state: taskState ?? '' };
    if (placement.node) details.task.node = placement.node;
  }
  return details;
}

/** Host-mode ports of the task; the engine lists one twice when it binds IPv4 and IPv6. */
function publishedPorts(task: RawTask | undefined, nodeAddress: string | undefined): PublishedPort[] {
  const seen = new Set<string>();
  const ports: PublishedPort[] = [];
  for (const p of task?.Status?.PortStatus?.Ports ?? []) {
    if (!p.PublishedPort || !p.TargetPort) continue;
    const protocol = p.Protocol === 'udp' ? ('udp' as const) : ('tcp' as const);
    const key = `${p.TargetPort}/${protocol}/${p.PublishedPort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    ports.push({ containerPort: p.TargetPort, protocol, hostIP: nodeAddress ?? '0.0.0.0', hostPort: p.PublishedPort });
  }
  return ports;
}

/**
 * A list entry. Its state is what the cache compares with the state it holds to decide whether a
 * service needs a fresh inspect; a list cannot tell every state apart, so a service that is neither
 * running nor scaled to zero reads "restarting" and is re-read on each relist.
 */
export function toServiceSummary(service: RawService): ContainerSummary {
  const spec = service.Spec ?? {};
  const replicas = replicasOf(spec);
  const running = service.ServiceStatus?.RunningTasks ?? 0;
  const state: ContainerState = replicas === 0 ? 'created' : running >= replicas ? 'running' : 'restarting';
  return {
    id: service.ID ?? '',
    name: spec.Name ?? '',
    image: spec.TaskTemplate?.ContainerSpec?.Image ?? '',
    state,
    labels: spec.Labels ?? {},
    created: createdSeconds(service.CreatedAt),
  };
}

/** A task container's event labels, read as the service's: managed-by is put back. */
export function serviceLabelsOfTaskContainer(labels: Record<string, string>): Record<string, string> {
  const { [RUNTIME_LABEL]: _runtime, ...rest } = labels;
  return { ...rest, [LABELS.managedBy]: MANAGED_BY };
}

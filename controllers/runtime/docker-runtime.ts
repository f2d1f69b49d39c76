// The engine port: the only interface through which dockerlet talks to a Docker engine, kept next
// to the controllers that consume it. The adapters live in agent/ (dockerode for containers, Swarm
// services for --runtime swarm); unit tests use a fake that implements this.
import type { SessionSpec } from '../../crds/types.ts';
import type { FieldProblem } from '../../crds/problems.ts';

export const CONTAINER_STATES = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'] as const;
export type ContainerState = (typeof CONTAINER_STATES)[number];

/** What one list call returns for each container. */
export interface ContainerSummary {
  id: string;
  /** Without the leading slash. */
  name: string;
  image: string;
  state: ContainerState;
  labels: Record<string, string>;
  /** Unix seconds. */
  created: number;
}

export interface PublishedPort {
  containerPort: number;
  protocol: 'tcp' | 'udp';
  hostIP: string;
  hostPort: number;
}

export interface EngineRestartPolicy {
  name: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  maximumRetryCount?: number;
}

/** What inspect returns, reduced to what planning and status need. */
export interface ContainerDetails extends ContainerSummary {
  exitCode: number;
  oomKilled: boolean;
  /** RFC 3339, absent when never started. */
  startedAt?: string;
  finishedAt?: string;
  /** Restarts done by the engine's own restart policy. */
  restartCount: number;
  /** Engine-reported error of the last start, if any. */
  error?: string;
  memoryBytes: number;
  nanoCpus: number;
  restartPolicy: EngineRestartPolicy;
  /** IP address on the default bridge or first network, if any. */
  ipAddress?: string;
  ports: PublishedPort[];
  /** --runtime swarm: the service's newest task (the "container" is then the service). */
  task?: SwarmTaskInfo;
  /** The engine's HEALTHCHECK verdict; absent when the container has none. */
  health?: ContainerHealth;
}

export const HEALTH_STATES = ['starting', 'healthy', 'unhealthy'] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

/**
 * What the engine says of its HEALTHCHECK. Only what changes with the verdict: the last check's
 * output is read with it (on the health_status event), not on every check, so the cache does not
 * see a change (and wake the Session) each period.
 */
export interface ContainerHealth {
  status: HealthState;
  /** Failed checks in a row. */
  failingStreak: number;
  /** Output of the newest check, as the engine kept it (it cuts at 4 KiB). */
  lastOutput?: string;
  lastExitCode?: number;
}

export interface SwarmTaskInfo {
  id: string;
  /** Swarm's task state: new, pending, …, running, complete, failed, rejected, shutdown. */
  state: string;
  /** Hostname of the node it was scheduled on. */
  node?: string;
}

export interface MountRequest {
  type: 'bind' | 'volume' | 'tmpfs';
  /** Host path (bind) or volume name (volume); absent for tmpfs. */
  source?: string;
  target: string;
  readOnly: boolean;
  tmpfsSizeBytes?: number;
  /** Permission bits of a tmpfs (e.g. 0o1777); absent: the engine's default. */
  tmpfsMode?: number;
}

export interface DeviceMapping {
  hostPath: string;
  containerPath: string;
  /** cgroup permissions, a subset of "rwm". */
  permissions: string;
}

export interface UlimitRequest {
  name: string;
  soft: number;
  hard: number;
}

export interface LogConfigRequest {
  driver: string;
  options: Record<string, string>;
}

export interface PortRequest {
  containerPort: number;
  protocol: 'tcp' | 'udp';
  hostPort?: number;
  hostIP?: string;
}

/** A network the engine has. */
export interface FoundNetwork {
  id: string;
  name: string;
}

/** An image the engine has. */
export interface FoundImage {
  /** Its ID, where the runtime creates containers by ID (the swarm runtime leaves that to each node). */
  id?: string;
}

export interface CreateContainerRequest {
  name: string;
  /** The image as the Session names it: what plans, events and the image label show. */
  image: string;
  /**
   * The ID `image` resolved to when the plan was made, if known: the container is created from it.
   * That pins the exact image the plan saw, and spares the engine a name lookup per container on
   * every list: it resolves a container's image name again for each list answer unless the
   * container was created by ID (300 containers: 34–70 ms by name, 10–28 ms by ID, same engine).
   */
  imageId?: string;
  /** Entrypoint override. */
  entrypoint?: string[];
  /** Cmd override. */
  cmd?: string[];
  env: string[];
  labels: Record<string, string>;
  ports: PortRequest[];
  mounts: MountRequest[];
  memoryBytes: number;
  nanoCpus: number;
  restartPolicy: EngineRestartPolicy;
  /** "uid", "uid:gid" or a user name; absent: the image's USER. */
  user?: string;
  workingDir?: string;
  hostname?: string;
  /** Size of /dev/shm; absent: the engine's default (64 MiB). */
  shmSizeBytes?: number;
  /** Engine networks to attach, the first as the primary one; absent: the engine's default bridge. */
  networks?: string[];
  /** Capability names without the CAP_ prefix. */
  capAdd?: string[];
  capDrop?: string[];
  devices?: DeviceMapping[];
  /** GPUs to request from the engine (DeviceRequests): a count, or -1 for all of them. */
  gpus?: { count: number };
  stopSignal?: string;
  /** Grace period of a stop the engine makes by itself (e.g. when the engine shuts down). */
  stopTimeoutSeconds?: number;
  logConfig?: LogConfigRequest;
  ulimits?: UlimitRequest[];
  readOnlyRootfs?: boolean;
  /** The engine's own HEALTHCHECK (exec probes): it runs even while the agent is down. */
  healthcheck?: HealthcheckRequest;
}

/** `docker run --health-*`: a command run in the container; exit code 0 is healthy. */
export interface HealthcheckRequest {
  /** The command, exec form (the engine's ["CMD", ...] without "CMD"). */
  command: string[];
  intervalSeconds: number;
  timeoutSeconds: number;
  /** Failures in a row before the engine reports unhealthy. */
  retries: number;
  /** Failures within this time after a start do not count. */
  startPeriodSeconds: number;
}

export interface UpdateContainerRequest {
  memoryBytes?: number;
  nanoCpus?: number;
  restartPolicy?: EngineRestartPolicy;
}

export interface EngineInfo {
  version: string;
  apiVersion: string;
  os: string;
  arch: string;
  cpus: number;
  memoryBytes: number;
}

export interface ContainerEvent {
  containerId: string;
  /** Docker's action: create, start, die, kill, stop, destroy, rename, update, oom, ... */
  action: string;
  labels: Record<string, string>;
  exitCode?: number;
  /** Unix nanoseconds as reported by the engine. */
  timeNano: number;
}

export interface EventStreamHandlers {
  onEvent(event: ContainerEvent): void;
  /**
   * Called when the stream is (re)established after the first connection; events may have been
   * missed, so the caller relists.
   */
  onReconnect(): void;
  /** Called when the stream drops; it is retried with backoff until the signal aborts. */
  onDisconnect(error: unknown): void;
}

/**
 * The calls that change the engine take the reconcile's AbortSignal. A signal that has aborted
 * (leadership ended, reconcile timed out) makes the call reject with its reason before anything is
 * sent, and one that aborts while the call waits makes it reject at once: the process issues no
 * new engine call after stepping down. The engine may still finish what it was already asked to do
 * (a container stop goes on after the client hangs up); the next leader sees the outcome when it
 * relists. Reads take no signal: every replica, leader or standby, reads to keep its cache true.
 */
export interface DockerRuntime {
  info(): Promise<EngineInfo>;
  /**
   * Fields of a Session this runtime cannot honour, as problems that name them; absent or empty:
   * everything is supported. Such a Session is refused, not run without what it asked for.
   */
  unsupported?(spec: SessionSpec): FieldProblem[];
  /** All containers (running or not) whose labels match every pair, in ONE engine call. */
  listContainers(labelSelector: Record<string, string>): Promise<ContainerSummary[]>;
  /** Throws NotFoundError. */
  inspectContainer(id: string): Promise<ContainerDetails>;
  /** Returns the new container's ID. Throws ConflictError if the name is taken. */
  createContainer(request: CreateContainerRequest, signal?: AbortSignal): Promise<string>;
  /** Starting a running container is not an error. */
  startContainer(id: string, signal?: AbortSignal): Promise<void>;
  /** Stopping a stopped container is not an error. */
  stopContainer(id: string, timeoutSeconds: number, signal?: AbortSignal): Promise<void>;
  /** Throws NotFoundError when it is already gone. */
  removeContainer(id: string, signal?: AbortSignal): Promise<void>;
  updateContainer(id: string, request: UpdateContainerRequest, signal?: AbortSignal): Promise<void>;
  /** Gives a container a new name (StartFirst hands the Session's name to the new container). Throws ConflictError if taken. */
  renameContainer(id: string, name: string, signal?: AbortSignal): Promise<void>;
  /** The image `reference` names on the engine, or undefined when the engine does not have it. */
  findImage(reference: string): Promise<FoundImage | undefined>;
  /** The network `name` names (name or ID) on the engine, or undefined when there is none. */
  findNetwork(name: string): Promise<FoundNetwork | undefined>;
  /** Resolves when the pull finished; throws on failure. */
  pullImage(reference: string, signal?: AbortSignal): Promise<void>;
  /**
   * Streams container events whose labels match the selector until the signal aborts, and
   * reconnects with backoff when the engine goes away.
   */
  watchEvents(labelSelector: Record<string, string>, handlers: EventStreamHandlers, signal: AbortSignal): void;
}

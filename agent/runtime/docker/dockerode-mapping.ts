// Engine JSON ⇄ our types, in one place. dockerode's typings promise non-null fields the engine
// does send as null (Labels, Env, port bindings), so every read here tolerates null/absent.
import type Dockerode from 'dockerode';
import {
  CONTAINER_STATES,
  type ContainerDetails,
  type ContainerEvent,
  type ContainerHealth,
  HEALTH_STATES,
  type ContainerState,
  type ContainerSummary,
  type CreateContainerRequest,
  type EngineRestartPolicy,
  type HealthcheckRequest,
  type MountRequest,
  type PortRequest,
  type PublishedPort,
  type UpdateContainerRequest,
} from '../../../controllers/runtime/docker-runtime.ts';

/**
 * Actions the event stream asks for: lifecycle changes that can need a reconcile, never exec_*
 * (the engine runs a HEALTHCHECK as an exec each period). `health_status` is matched as a prefix
 * by the engine ("health_status: unhealthy") and comes only when the verdict changes.
 */
export const WATCHED_ACTIONS = [
  'health_status',
  'create',
  'start',
  'die',
  'stop',
  'kill',
  'destroy',
  'rename',
  'update',
  'oom',
  'pause',
  'unpause',
  'restart',
] as const;

const RESTART_POLICY_NAMES = ['no', 'always', 'unless-stopped', 'on-failure'] as const;

/** Engine zero time ("0001-01-01T00:00:00Z") means "never"; it is reported as absent. */
const ZERO_TIME_PREFIX = '0001-01-01';

/** `{"a": "1"}` → `["a=1"]`, the form the engine's `label` filter takes. */
export function labelFilters(selector: Record<string, string>): string[] {
  return Object.entries(selector).map(([key, value]) => `${key}=${value}`);
}

export function matchesSelector(labels: Record<string, string>, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

function toState(value: unknown): ContainerState {
  const found = CONTAINER_STATES.find((state) => state === value);
  // The engine has no other states today; an unknown one is treated as unusable rather than
  // guessed to be running.
  return found ?? 'dead';
}

function toLabels(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {};
  const labels: Record<string, string> = {};
  for (const [key, raw] of Object.entries(value)) {
    if (typeof raw === 'string') labels[key] = raw;
  }
  return labels;
}

function toTime(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' && !value.startsWith(ZERO_TIME_PREFIX) ? value : undefined;
}

function toRestartPolicy(value: Dockerode.HostRestartPolicy | null | undefined): EngineRestartPolicy {
  const name = RESTART_POLICY_NAMES.find((candidate) => candidate === value?.Name) ?? 'no';
  if (name !== 'on-failure') return { name };
  return { name, maximumRetryCount: value?.MaximumRetryCount ?? 0 };
}

export function toContainerSummary(info: Dockerode.ContainerInfo): ContainerSummary {
  const rawName = info.Names?.[0] ?? '';
  return {
    id: info.Id,
    name: rawName.replace(/^\//, ''),
    image: info.Image,
    state: toState(info.State),
    labels: toLabels(info.Labels),
    created: info.Created,
  };
}

function toPorts(ports: Dockerode.ContainerInspectInfo['NetworkSettings']['Ports'] | null | undefined): PublishedPort[] {
  const published: PublishedPort[] = [];
  for (const [key, bindings] of Object.entries(ports ?? {})) {
    const [port, protocol] = key.split('/');
    if (protocol !== 'tcp' && protocol !== 'udp') continue;
    // An exposed but unpublished port has `null` bindings.
    for (const binding of bindings ?? []) {
      published.push({
        containerPort: Number(port),
        protocol,
        hostIP: binding.HostIp,
        hostPort: Number(binding.HostPort),
      });
    }
  }
  return published;
}

/** Inspect as engine 20.10+ sends it; the typings miss the legacy top-level IPAddress. */
export type InspectInfo = Dockerode.ContainerInspectInfo & {
  NetworkSettings: Dockerode.ContainerInspectInfo['NetworkSettings'] & { IPAddress?: string };
};

/** The primary network's address: HostConfig.NetworkMode names it (the engine's maps are sorted by name). */
function toIpAddress(settings: InspectInfo['NetworkSettings'], primary: string | undefined): string | undefined {
  if (settings.IPAddress) return settings.IPAddress;
  const preferred = primary ? settings.Networks?.[primary]?.IPAddress : undefined;
  if (preferred) return preferred;
  for (const network of Object.values(settings.Networks ?? {})) {
    if (network.IPAddress) return network.IPAddress;
  }
  return undefined;
}

interface RawHealth {
  Status?: unknown;
  FailingStreak?: unknown;
  Log?: { ExitCode?: unknown; Output?: unknown }[] | null;
}

/** State.Health, reduced to the verdict and the newest check; absent without a HEALTHCHECK. */
function toHealth(raw: RawHealth | null | undefined): ContainerHealth | undefined {
  const status = HEALTH_STATES.find((state) => state === raw?.Status);
  if (!raw || !status) return undefined;
  const health: ContainerHealth = { status, failingStreak: typeof raw.FailingStreak === 'number' ? raw.FailingStreak : 0 };
  const last = raw.Log?.[raw.Log.length - 1];
  if (typeof last?.Output === 'string') health.lastOutput = last.Output;
  if (typeof last?.ExitCode === 'number') health.lastExitCode = last.ExitCode;
  return health;
}

export function toContainerDetails(info: InspectInfo): ContainerDetails {
  const details: ContainerDetails = {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    image: info.Config.Image,
    state: toState(info.State.Status),
    labels: toLabels(info.Config.Labels),
    created: Math.floor(Date.parse(info.Created) / 1000),
    exitCode: info.State.ExitCode,
    oomKilled: info.State.OOMKilled,
    restartCount: info.RestartCount,
    memoryBytes: info.HostConfig.Memory ?? 0,
    nanoCpus: info.HostConfig.NanoCpus ?? 0,
    restartPolicy: toRestartPolicy(info.HostConfig.RestartPolicy),
    ports: toPorts(info.NetworkSettings.Ports),
  };
  const startedAt = toTime(info.State.StartedAt);
  if (startedAt !== undefined) details.startedAt = startedAt;
  const finishedAt = toTime(info.State.FinishedAt);
  if (finishedAt !== undefined) details.finishedAt = finishedAt;
  if (info.State.Error) details.error = info.State.Error;
  const ipAddress = toIpAddress(info.NetworkSettings, info.HostConfig.NetworkMode);
  if (ipAddress !== undefined) details.ipAddress = ipAddress;
  const health = toHealth((info.State as { Health?: RawHealth }).Health);
  if (health) details.health = health;
  return details;
}

function toEngineRestartPolicy(policy: EngineRestartPolicy): Dockerode.HostRestartPolicy {
  return policy.name === 'on-failure'
    ? { Name: policy.name, MaximumRetryCount: policy.maximumRetryCount ?? 0 }
    : { Name: policy.name };
}

function toMount(mount: MountRequest): Dockerode.MountSettings {
  if (mount.type === 'tmpfs') {
    const tmpfs: Dockerode.MountSettings = { Type: 'tmpfs', Target: mount.target, Source: '', ReadOnly: mount.readOnly };
    const size = mount.tmpfsSizeBytes !== undefined && mount.tmpfsSizeBytes > 0 ? mount.tmpfsSizeBytes : 0;
    // The engine reads 0 as "its default" for both: no size limit, mode 1777.
    if (size > 0 || mount.tmpfsMode !== undefined) tmpfs.TmpfsOptions = { SizeBytes: size, Mode: mount.tmpfsMode ?? 0 };
    return tmpfs;
  }
  return { Type: mount.type, Source: mount.source ?? '', Target: mount.target, ReadOnly: mount.readOnly };
}

/**
 * A port is published only when it has a hostPort (as with a Pod's hostPort): 0 lets the engine
 * pick a free port, a positive number binds that one. Without hostPort it is only exposed.
 */
function portBindings(ports: PortRequest[]): { exposed: Record<string, object>; bindings: Dockerode.PortMap } {
  const exposed: Record<string, object> = {};
  const bindings: Dockerode.PortMap = {};
  for (const port of ports) {
    const key = `${port.containerPort}/${port.protocol}`;
    exposed[key] = {};
    if (port.hostPort === undefined) continue;
    const binding: Dockerode.PortBinding = { HostPort: port.hostPort > 0 ? String(port.hostPort) : '' };
    if (port.hostIP !== undefined && port.hostIP !== '') binding.HostIp = port.hostIP;
    (bindings[key] ??= []).push(binding);
  }
  return { exposed, bindings };
}

/**
 * Memory and swap travel together: MemorySwap = Memory means "no swap" (as the kubelet does), and
 * setting both in one call avoids the engine's "Memory limit should be smaller than already set
 * memoryswap limit" when a limit is raised in place.
 */
function memoryFields(memoryBytes: number): { Memory: number; MemorySwap: number } | Record<string, never> {
  return memoryBytes > 0 ? { Memory: memoryBytes, MemorySwap: memoryBytes } : {};
}

export function toCreateOptions(request: CreateContainerRequest): Dockerode.ContainerCreateOptions {
  const { exposed, bindings } = portBindings(request.ports);
  const hostConfig: Dockerode.HostConfig = {
    PortBindings: bindings,
    Mounts: request.mounts.map(toMount),
    RestartPolicy: toEngineRestartPolicy(request.restartPolicy),
    ...memoryFields(request.memoryBytes),
  };
  if (request.nanoCpus > 0) hostConfig.NanoCpus = request.nanoCpus;
  const options: Dockerode.ContainerCreateOptions = {
    name: request.name,
    Image: request.imageId ?? request.image,
    Env: request.env,
    Labels: request.labels,
    ExposedPorts: exposed,
    HostConfig: hostConfig,
  };
  // An empty list would mean "no entrypoint" to some engines and "image default" to others;
  // absent is unambiguous.
  if (request.entrypoint !== undefined && request.entrypoint.length > 0) options.Entrypoint = request.entrypoint;
  if (request.cmd !== undefined && request.cmd.length > 0) options.Cmd = request.cmd;
  addSessionGradeOptions(options, hostConfig, request);
  return options;
}

/**
 * The session-grade fields, each only when the request sets it (absent keeps the engine's or
 * the image's default). Networks: the engine takes one endpoint at create (API < 1.44), so the
 * primary network is the network mode and the others are connected before the first start
 * (DockerodeRuntime.createContainer).
 */
function addSessionGradeOptions(options: Dockerode.ContainerCreateOptions, hostConfig: Dockerode.HostConfig, request: CreateContainerRequest): void {
  if (request.user !== undefined) options.User = request.user;
  if (request.workingDir !== undefined) options.WorkingDir = request.workingDir;
  if (request.hostname !== undefined) options.Hostname = request.hostname;
  if (request.stopSignal !== undefined) options.StopSignal = request.stopSignal;
  if (request.stopTimeoutSeconds !== undefined) options.StopTimeout = request.stopTimeoutSeconds;
  const primary = request.networks?.[0];
  if (primary !== undefined) {
    hostConfig.NetworkMode = primary;
    options.NetworkingConfig = { EndpointsConfig: { [primary]: {} } };
  }
  if (request.shmSizeBytes !== undefined && request.shmSizeBytes > 0) hostConfig.ShmSize = request.shmSizeBytes;
  if (request.capAdd !== undefined) hostConfig.CapAdd = request.capAdd;
  if (request.capDrop !== undefined) hostConfig.CapDrop = request.capDrop;
  if (request.devices !== undefined) {
    hostConfig.Devices = request.devices.map((d) => ({ PathOnHost: d.hostPath, PathInContainer: d.containerPath, CgroupPermissions: d.permissions }));
  }
  // `docker run --gpus N` / `--gpus all`: the engine picks the driver that offers "gpu".
  if (request.gpus !== undefined) hostConfig.DeviceRequests = [{ Driver: '', Count: request.gpus.count, Capabilities: [['gpu']] }];
  if (request.logConfig !== undefined) hostConfig.LogConfig = { Type: request.logConfig.driver, Config: request.logConfig.options };
  if (request.ulimits !== undefined) hostConfig.Ulimits = request.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard }));
  if (request.readOnlyRootfs === true) hostConfig.ReadonlyRootfs = true;
  if (request.healthcheck !== undefined) options.Healthcheck = toHealthConfig(request.healthcheck);
}

const NS_PER_SECOND = 1_000_000_000;

/** The engine's HealthConfig (durations in nanoseconds), shared by containers and swarm services. */
export function toHealthConfig(check: HealthcheckRequest): { Test: string[]; Interval: number; Timeout: number; Retries: number; StartPeriod: number } {
  return {
    Test: ['CMD', ...check.command],
    Interval: check.intervalSeconds * NS_PER_SECOND,
    Timeout: check.timeoutSeconds * NS_PER_SECOND,
    Retries: check.retries,
    StartPeriod: check.startPeriodSeconds * NS_PER_SECOND,
  };
}

/** Networks to connect after the create, in order (the first one is the network mode). */
export function secondaryNetworks(request: CreateContainerRequest): string[] {
  return (request.networks ?? []).slice(1);
}

export function toUpdateOptions(request: UpdateContainerRequest): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  if (request.memoryBytes !== undefined) Object.assign(options, memoryFields(request.memoryBytes));
  if (request.nanoCpus !== undefined && request.nanoCpus > 0) options['NanoCpus'] = request.nanoCpus;
  if (request.restartPolicy !== undefined) options['RestartPolicy'] = toEngineRestartPolicy(request.restartPolicy);
  return options;
}

/** Actor attributes that the engine adds next to the container's labels; not labels themselves. */
const ENGINE_ATTRIBUTES: ReadonlySet<string> = new Set(['name', 'image', 'exitCode', 'signal', 'oldName']);

interface RawEvent {
  Type?: unknown;
  Action?: unknown;
  id?: unknown;
  time?: unknown;
  timeNano?: unknown;
  Actor?: { ID?: unknown; Attributes?: unknown } | null;
}

/** One decoded /events line → ContainerEvent; anything that is not a container event → undefined. */
export function toContainerEvent(value: unknown): ContainerEvent | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const raw = value as RawEvent;
  if (raw.Type !== 'container' || typeof raw.Action !== 'string') return undefined;
  const containerId = typeof raw.Actor?.ID === 'string' ? raw.Actor.ID : typeof raw.id === 'string' ? raw.id : undefined;
  if (containerId === undefined) return undefined;
  const attributes = toLabels(raw.Actor?.Attributes);
  const labels: Record<string, string> = {};
  for (const [key, label] of Object.entries(attributes)) {
    if (!ENGINE_ATTRIBUTES.has(key)) labels[key] = label;
  }
  const timeNano =
    typeof raw.timeNano === 'number' ? raw.timeNano : typeof raw.time === 'number' ? raw.time * 1_000_000_000 : 0;
  const event: ContainerEvent = { containerId, action: raw.Action, labels, timeNano };
  const exitCode = attributes['exitCode'];
  if (exitCode !== undefined && /^-?\d+$/.test(exitCode)) event.exitCode = Number(exitCode);
  return event;
}

// Maps a Session to the container the engine should run. Pure: same Session, same request.
import type { EnvVar, RestartPolicy, Session, SessionSpec } from '../../crds/types.ts';
import { DEFAULT_NAMESPACE } from '../../crds/types.ts';
import { parseCpuToNanoCpus, parseMemoryToBytes } from '../../crds/quantity.ts';
import type { CreateContainerRequest, EngineRestartPolicy, MountRequest } from '../runtime/docker-runtime.ts';
import { configFieldHashes, configHash } from './hash.ts';
import type { EnvFiles } from './env-files.ts';
import { envFilePaths } from './env-files.ts';
import { LABELS, MANAGED_BY, containerName } from './labels.ts';
import { desiredHealthcheck } from './probe-spec.ts';

/**
 * The engine restarts crashed containers itself (with its own growing back-off, and even while the
 * agent is down); the agent repairs what the engine will not: containers stopped, killed or
 * removed by hand. `unless-stopped` keeps a Session stopped on purpose stopped across engine restarts.
 */
export function engineRestartPolicy(policy: RestartPolicy | undefined): EngineRestartPolicy {
  switch (policy ?? 'Always') {
    case 'Always':
      return { name: 'unless-stopped' };
    case 'OnFailure':
      return { name: 'on-failure' };
    case 'Never':
      return { name: 'no' };
  }
}

export interface DesiredResources {
  memoryBytes: number;
  nanoCpus: number;
}

export function desiredResources(session: Session): DesiredResources {
  const { cpu, memory } = session.spec.resources ?? {};
  return {
    memoryBytes: memory ? parseMemoryToBytes(memory) : 0,
    nanoCpus: cpu ? parseCpuToNanoCpus(cpu) : 0,
  };
}

/** spec.tmpfs as tmpfs mounts (after the volume mounts: the engine takes one Mounts list). */
function tmpfsMounts(session: Session): MountRequest[] {
  return (session.spec.tmpfs ?? []).map((t): MountRequest => {
    const mount: MountRequest = { type: 'tmpfs', target: t.mountPath, readOnly: false };
    if (t.sizeLimit) mount.tmpfsSizeBytes = parseMemoryToBytes(t.sizeLimit);
    if (t.mode !== undefined) mount.tmpfsMode = t.mode;
    return mount;
  });
}

function mounts(session: Session): MountRequest[] {
  const volumes = new Map((session.spec.volumes ?? []).map((v) => [v.name, v]));
  return (session.spec.mounts ?? []).map((mount): MountRequest => {
    const volume = volumes.get(mount.name);
    const readOnly = mount.readOnly ?? false;
    if (volume?.hostPath) return { type: 'bind', source: volume.hostPath, target: mount.mountPath, readOnly };
    if (volume?.volume) return { type: 'volume', source: volume.volume, target: mount.mountPath, readOnly };
    const sizeLimit = volume?.emptyDir?.sizeLimit;
    return sizeLimit
      ? { type: 'tmpfs', target: mount.mountPath, readOnly, tmpfsSizeBytes: parseMemoryToBytes(sizeLimit) }
      : { type: 'tmpfs', target: mount.mountPath, readOnly };
  });
}

/**
 * Requests already computed for a frozen Session (the stores deep-freeze what they hand out), per
 * agent. Every reconcile needs the request twice (observe, plan) and a resync reconciles every
 * Session: recomputing its eight sha256 hashes each time was a third of a no-op resync's CPU.
 * A frozen object cannot change, so neither can its request; a new version is a new object.
 */
const requests = new WeakMap<Session, Map<string, CreateContainerRequest>>();

function frozen<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) frozen(child);
  }
  return value;
}

/**
 * The container the engine should run for `session`. The result is shared: never modify it.
 * `envFiles` holds what observe read for spec.env[].valueFrom.file; a Session without such
 * entries needs none.
 */
export function desiredContainer(session: Session, agent: string, envFiles?: EnvFiles): CreateContainerRequest {
  // Only deep-frozen input may be remembered: a caller could still change a mutable one. A
  // file-sourced value can change while the Session does not: that request is built each time.
  if (!Object.isFrozen(session) || !Object.isFrozen(session.spec) || !Object.isFrozen(session.metadata)) return buildRequest(session, agent, envFiles);
  if (envFilePaths(session.spec).length > 0) return buildRequest(session, agent, envFiles);
  let byAgent = requests.get(session);
  if (!byAgent) requests.set(session, (byAgent = new Map()));
  let request = byAgent.get(agent);
  if (!request) byAgent.set(agent, (request = frozen(buildRequest(session, agent))));
  return request;
}

function envValue(e: EnvVar, envFiles: EnvFiles | undefined): string {
  if (!e.valueFrom) return e.value ?? '';
  const read = envFiles?.get(e.valueFrom.file);
  // The plan creates nothing while a file is unreadable (envFilesProblem): this is never sent.
  return read?.ok ? read.value : '';
}

function buildRequest(session: Session, agent: string, envFiles?: EnvFiles): CreateContainerRequest {
  const { spec, metadata } = session;
  const namespace = metadata.namespace ?? DEFAULT_NAMESPACE;
  const labels: Record<string, string> = {
    ...(spec.labels ?? {}),
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.agent]: agent,
    [LABELS.namespace]: namespace,
    [LABELS.name]: metadata.name,
    [LABELS.uid]: metadata.uid ?? '',
    [LABELS.configHash]: configHash(spec, envFiles),
    [LABELS.configFields]: configFieldHashes(spec, envFiles),
    [LABELS.image]: spec.image,
  };
  const { memoryBytes, nanoCpus } = desiredResources(session);
  const request: CreateContainerRequest = {
    name: containerName(agent, namespace, metadata.name),
    image: spec.image,
    env: (spec.env ?? []).map((e) => `${e.name}=${envValue(e, envFiles)}`),
    labels,
    ports: (spec.ports ?? []).map((p) => {
      const protocol = p.protocol === 'UDP' ? ('udp' as const) : ('tcp' as const);
      return p.hostPort === undefined
        ? { containerPort: p.containerPort, protocol }
        : { containerPort: p.containerPort, protocol, hostPort: p.hostPort, hostIP: p.hostIP ?? '127.0.0.1' };
    }),
    mounts: [...mounts(session), ...tmpfsMounts(session)],
    memoryBytes,
    nanoCpus,
    restartPolicy: engineRestartPolicy(spec.restartPolicy),
  };
  if (spec.command) request.entrypoint = spec.command;
  if (spec.args) request.cmd = spec.args;
  addSessionGradeFields(request, spec);
  return request;
}

/** The fields a session container needs beyond image, command and resources; each only when set. */
function addSessionGradeFields(request: CreateContainerRequest, spec: SessionSpec): void {
  if (spec.user !== undefined) request.user = spec.user;
  if (spec.workingDir !== undefined) request.workingDir = spec.workingDir;
  if (spec.hostname !== undefined) request.hostname = spec.hostname;
  if (spec.shmSize !== undefined) request.shmSizeBytes = parseMemoryToBytes(spec.shmSize);
  if (spec.networks && spec.networks.length > 0) request.networks = [...spec.networks];
  if (spec.capabilities?.add && spec.capabilities.add.length > 0) request.capAdd = [...spec.capabilities.add];
  if (spec.capabilities?.drop && spec.capabilities.drop.length > 0) request.capDrop = [...spec.capabilities.drop];
  if (spec.devices && spec.devices.length > 0) {
    request.devices = spec.devices.map((d) => ({ hostPath: d.hostPath, containerPath: d.containerPath ?? d.hostPath, permissions: d.permissions ?? 'rwm' }));
  }
  if (spec.gpus) request.gpus = { count: spec.gpus.all ? -1 : (spec.gpus.count ?? 1) };
  if (spec.stopSignal !== undefined) request.stopSignal = spec.stopSignal;
  if (spec.stopGracePeriodSeconds !== undefined) request.stopTimeoutSeconds = spec.stopGracePeriodSeconds;
  if (spec.logging) request.logConfig = { driver: spec.logging.driver, options: { ...(spec.logging.options ?? {}) } };
  if (spec.ulimits && spec.ulimits.length > 0) request.ulimits = spec.ulimits.map((u) => ({ name: u.name, soft: u.soft, hard: u.hard }));
  if (spec.readOnlyRootFilesystem === true) request.readOnlyRootfs = true;
  const healthcheck = desiredHealthcheck(spec);
  if (healthcheck) request.healthcheck = healthcheck;
}

// The config hash covers exactly the fields that need a new container when they change. Fields the
// engine can change in place (resources, restart policy) and fields that are not container config
// (state, agent, imagePullPolicy) are left out, so changing them never recreates.
//
// Fields added after the first release count only when they are set: an unset one adds nothing to
// the canonical form (canonicalJson drops undefined members) nor to the config-fields label, so a
// container created before the field existed keeps its hash and is adopted, not recreated.
import { createHash } from 'node:crypto';
import type { SessionSpec } from '../../crds/types.ts';
import { parseMemoryToBytes } from '../../crds/quantity.ts';
import { canonicalJson } from '../../reconciler/canonical-json.ts';
import type { EnvFiles } from './env-files.ts';
import { desiredHealthcheck } from './probe-spec.ts';

/** Bump when the canonical form changes, so old containers are recreated deliberately. */
const HASH_VERSION = 'v1';

export const HASHED_FIELDS = [
  'image',
  'command',
  'args',
  'env',
  'ports',
  'mounts',
  'labels',
  'user',
  'workingDir',
  'hostname',
  'shmSize',
  'networks',
  'capabilities',
  'devices',
  'gpus',
  'stopSignal',
  'stopGracePeriodSeconds',
  'logging',
  'ulimits',
  'readOnlyRootFilesystem',
  'tmpfs',
  // Only exec probes change the container (its HEALTHCHECK); httpGet and tcpSocket are run by the
  // agent, so changing them recreates nothing.
  'healthcheck',
] as const;
export type HashedField = (typeof HASHED_FIELDS)[number];

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const byText = (a: unknown, b: unknown): number => canonicalJson(a).localeCompare(canonicalJson(b));

/** undefined for an absent or empty list, so `[]` and no field hash alike. */
function nonEmpty<T>(list: readonly T[] | undefined): readonly T[] | undefined {
  return list && list.length > 0 ? list : undefined;
}

/**
 * The canonical value of each hashed field; order-insensitive lists are sorted. A file-sourced
 * env value is represented by the sha256 of the file (from `envFiles`), never by its content.
 */
export function hashedFieldValues(spec: SessionSpec, envFiles?: EnvFiles): Record<HashedField, unknown> {
  const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
  const mounts = (spec.mounts ?? [])
    .map((m) => {
      const volume = volumes.get(m.name);
      return {
        mountPath: m.mountPath,
        readOnly: m.readOnly ?? false,
        source: volume ? { hostPath: volume.hostPath, volume: volume.volume, emptyDir: volume.emptyDir } : undefined,
      };
    })
    .sort((a, b) => (a.mountPath < b.mountPath ? -1 : 1));
  const ports = (spec.ports ?? [])
    .map((p) => ({ containerPort: p.containerPort, hostPort: p.hostPort, hostIP: p.hostIP ?? '127.0.0.1', protocol: p.protocol ?? 'TCP' }))
    .sort(byText);
  const env = [...(spec.env ?? [])]
    .map((e) => {
      if (!e.valueFrom) return { name: e.name, value: e.value ?? '' };
      const read = envFiles?.get(e.valueFrom.file);
      return { name: e.name, file: e.valueFrom.file, sha256: read?.ok ? read.sha256 : undefined };
    })
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const { add, drop } = spec.capabilities ?? {};
  const capabilities = nonEmpty(add) || nonEmpty(drop) ? { add: [...(add ?? [])].sort(), drop: [...(drop ?? [])].sort() } : undefined;
  const devices = nonEmpty(spec.devices)
    ?.map((d) => ({ hostPath: d.hostPath, containerPath: d.containerPath ?? d.hostPath, permissions: d.permissions ?? 'rwm' }))
    .sort(byText);
  const tmpfs = nonEmpty(spec.tmpfs)
    ?.map((t) => ({ mountPath: t.mountPath, sizeBytes: t.sizeLimit ? parseMemoryToBytes(t.sizeLimit) : undefined, mode: t.mode }))
    .sort(byText);
  return {
    image: spec.image,
    command: spec.command ?? null,
    args: spec.args ?? null,
    env,
    ports,
    mounts,
    labels: spec.labels ?? {},
    user: spec.user,
    workingDir: spec.workingDir,
    hostname: spec.hostname,
    shmSize: spec.shmSize === undefined ? undefined : parseMemoryToBytes(spec.shmSize),
    // Order matters: the first network is the primary one.
    networks: nonEmpty(spec.networks),
    capabilities,
    devices,
    gpus: spec.gpus?.all ? { all: true } : spec.gpus?.count !== undefined ? { count: spec.gpus.count } : undefined,
    stopSignal: spec.stopSignal,
    stopGracePeriodSeconds: spec.stopGracePeriodSeconds,
    logging: spec.logging ? { driver: spec.logging.driver, options: spec.logging.options ?? {} } : undefined,
    ulimits: nonEmpty(spec.ulimits)?.map((u) => ({ name: u.name, soft: u.soft, hard: u.hard })).sort(byText),
    // false is the engine's default: writing it down must not recreate the container.
    readOnlyRootFilesystem: spec.readOnlyRootFilesystem === true ? true : undefined,
    tmpfs,
    healthcheck: desiredHealthcheck(spec),
  };
}

export function configHash(spec: SessionSpec, envFiles?: EnvFiles): string {
  return sha256(`${HASH_VERSION}:${canonicalJson(hashedFieldValues(spec, envFiles))}`);
}

/** "image:1a2b3c4d,command:..." — eight hex digits per field that is set, stored in a label. */
export function configFieldHashes(spec: SessionSpec, envFiles?: EnvFiles): string {
  const values = hashedFieldValues(spec, envFiles);
  return HASHED_FIELDS.filter((field) => values[field] !== undefined)
    .map((field) => `${field}:${sha256(canonicalJson(values[field])).slice(0, 8)}`)
    .join(',');
}

/** Fields whose short hashes differ between two config-fields labels; all fields if unknown. */
export function changedFields(previous: string | undefined, current: string): HashedField[] {
  const parse = (text: string | undefined): Map<string, string> =>
    new Map((text ?? '').split(',').filter(Boolean).map((pair) => pair.split(':') as [string, string]));
  const before = parse(previous);
  const after = parse(current);
  if (before.size === 0) return [...HASHED_FIELDS];
  return HASHED_FIELDS.filter((field) => before.get(field) !== after.get(field));
}

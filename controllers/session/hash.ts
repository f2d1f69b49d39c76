// The config hash covers exactly the fields that need a new container when they change. Fields the
// engine can change in place (resources, restart policy) and fields that are not container config
// (state, agent, imagePullPolicy) are left out, so changing them never recreates.
import { createHash } from 'node:crypto';
import type { SessionSpec } from '../../crds/types.ts';
import { canonicalJson } from '../../reconciler/canonical-json.ts';

/** Bump when the canonical form changes, so old containers are recreated deliberately. */
const HASH_VERSION = 'v1';

export const HASHED_FIELDS = ['image', 'command', 'args', 'env', 'ports', 'mounts', 'labels'] as const;
export type HashedField = (typeof HASHED_FIELDS)[number];

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The canonical value of each hashed field; order-insensitive lists are sorted. */
export function hashedFieldValues(spec: SessionSpec): Record<HashedField, unknown> {
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
    .sort((a, b) => canonicalJson(a).localeCompare(canonicalJson(b)));
  const env = [...(spec.env ?? [])]
    .map((e) => ({ name: e.name, value: e.value ?? '' }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    image: spec.image,
    command: spec.command ?? null,
    args: spec.args ?? null,
    env,
    ports,
    mounts,
    labels: spec.labels ?? {},
  };
}

export function configHash(spec: SessionSpec): string {
  return sha256(`${HASH_VERSION}:${canonicalJson(hashedFieldValues(spec))}`);
}

/** "image:1a2b3c4d,command:..." — eight hex digits per field, stored in a label. */
export function configFieldHashes(spec: SessionSpec): string {
  const values = hashedFieldValues(spec);
  return HASHED_FIELDS.map((field) => `${field}:${sha256(canonicalJson(values[field])).slice(0, 8)}`).join(',');
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

// Ownership is by labels on the container. A container without LABELS.managedBy = MANAGED_BY is
// never listed, changed or removed by dockerlet.
import type { ObjectKey } from '../../crds/types.ts';

export const LABEL_PREFIX = 'dockerlet.dev/';
export const MANAGED_BY = 'dockerlet';

export const LABELS = {
  managedBy: 'dockerlet.dev/managed-by',
  agent: 'dockerlet.dev/agent',
  namespace: 'dockerlet.dev/namespace',
  name: 'dockerlet.dev/name',
  uid: 'dockerlet.dev/uid',
  configHash: 'dockerlet.dev/config-hash',
  /** Short per-field hashes, so a recreate can say which fields changed ("image, env"). */
  configFields: 'dockerlet.dev/config-fields',
  /** spec.image as written: containers are created by image ID (see CreateContainerRequest.imageId). */
  image: 'dockerlet.dev/image',
  /** The fleet binding's epoch when the container was created (README "Fleet"); not part of the config hash. */
  epoch: 'dockerlet.dev/epoch',
} as const;

/** Label filter that selects exactly the containers this agent owns. */
export function ownedBy(agent: string): Record<string, string> {
  return { [LABELS.managedBy]: MANAGED_BY, [LABELS.agent]: agent };
}

/** The Session key a managed container belongs to, or undefined if its labels are incomplete. */
export function ownerKey(labels: Record<string, string>): ObjectKey | undefined {
  const namespace = labels[LABELS.namespace];
  const name = labels[LABELS.name];
  if (labels[LABELS.managedBy] !== MANAGED_BY || !namespace || !name) return undefined;
  return `${namespace}/${name}`;
}

/**
 * Docker container name for a Session. Names are global on an engine, so the agent is part of it:
 * two agents sharing an engine never collide. Kubernetes names never contain '_', so the parts stay
 * unambiguous; the name is only for humans, labels are the truth.
 */
export function containerName(agent: string, namespace: string, name: string): string {
  return `dockerlet_${namespace}_${name}_${agent}`;
}

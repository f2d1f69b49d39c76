// Builds the snapshot a plan is made from: the desired entry, this key's containers (from the
// cache: no engine call), the files spec.env[].valueFrom names (read each time), and, only when a
// container will have to be created, whether the image and the networks are on the engine (one
// call each).
import type { ObjectKey, Session } from '../../crds/types.ts';
import type { ContainerDetails, DockerRuntime } from '../runtime/docker-runtime.ts';
import type { DesiredEntry, DesiredStore } from '../../reconciler/store.ts';
import type { ContainerCache } from './container-cache.ts';
import type { ImagePresence } from './image-presence.ts';
import { desiredContainer } from './desired.ts';
import type { EnvFiles, FileReader } from './env-files.ts';
import { envFilePaths, hostFileReader, readEnvFiles } from './env-files.ts';
import { LABELS } from './labels.ts';
import type { HostPolicy } from './policy.ts';
import { policyPaths, policyViolations } from './policy.ts';
import type { PathResolver } from './host-paths.ts';
import { hostPathResolver, resolveHostPaths } from './host-paths.ts';
import type { BindingReader, Ownership } from '../scheduler/bindings.ts';
import { ownership } from '../scheduler/bindings.ts';

export interface Observation {
  entry?: DesiredEntry<Session>;
  /** The valid desired object, if this agent runs it. */
  desired?: Session;
  wantedHash?: string;
  containers: ContainerDetails[];
  /** Whose Session it is (a fleet's bindings, spec.agent); absent when the store has no valid object. */
  ownership?: Ownership;
  imagePresent?: boolean;
  /** The image's ID on the engine, when present and the runtime creates by ID. */
  imageId?: string;
  /** What spec.env[].valueFrom.file named, read now; absent when the Session has none. */
  envFiles?: EnvFiles;
  /** spec.networks the engine does not have; only looked up when a container must be created. */
  missingNetworks?: string[];
  /** How the desired Session breaks the host policy; when set, nothing else was looked up or read. */
  refused?: string[];
}

/** Whether this agent runs the Session: pinned to it, bound to it, or (no fleet) not pinned elsewhere. */
export function assignedTo(session: Session, agent: string, bindings?: BindingReader, key?: ObjectKey): boolean {
  if (!bindings || key === undefined) return !session.spec.agent || session.spec.agent === agent;
  return ownership(session, agent, bindings, key).kind === 'mine';
}

export interface ObserveDeps {
  agent: string;
  store: DesiredStore<Session>;
  cache: ContainerCache;
  images: ImagePresence;
  runtime: Pick<DockerRuntime, 'findNetwork'>;
  /** Where spec.env[].valueFrom.file is read; the host's filesystem by default. */
  files?: FileReader;
  /** What a Session may take from the host (policy.ts); undefined judges nothing (`dockerlet diff` without policy flags). */
  policy?: HostPolicy;
  /** How host paths are resolved for the policy (symlinks followed); the host's filesystem by default. */
  paths?: PathResolver;
  /** A fleet's bindings; absent for a single agent with no shared status (it runs every unpinned Session). */
  bindings?: BindingReader;
}

export async function observe(deps: ObserveDeps, key: ObjectKey): Promise<Observation> {
  const entry = deps.store.get(key);
  const owner = entry?.object ? ownership(entry.object, deps.agent, deps.bindings, key) : undefined;
  const desired = owner?.kind === 'mine' ? entry?.object : undefined;
  // A running container is kept fresh by events at no cost. One in any other state is about to
  // be acted on (started, waited for): read it from the engine now, so a plan never rests on a
  // transition the events have not caught up with (e.g. "created" while the engine restarts it).
  const unsettled = deps.cache.containersFor(key).filter((c) => c.state !== 'running');
  await Promise.all(unsettled.map((c) => deps.cache.refresh(c.id)));
  const containers = deps.cache.containersFor(key);
  if (!desired) return { ...(entry ? { entry } : {}), ...(owner ? { ownership: owner } : {}), containers };
  // Before any env file is read or image looked up: a refused Session costs the host nothing.
  if (deps.policy) {
    const paths = policyPaths(desired);
    const resolved = paths.length > 0 ? await resolveHostPaths(paths, deps.paths ?? hostPathResolver) : undefined;
    const refused = policyViolations(deps.policy, desired, resolved);
    if (refused.length > 0) return { entry, desired, containers, refused, ...(owner ? { ownership: owner } : {}) };
  }
  // Read on every reconcile: a changed file changes the hash, and so recreates the container.
  const envFiles = envFilePaths(desired.spec).length > 0 ? await readEnvFiles(desired.spec, deps.files ?? hostFileReader) : undefined;
  const wanted = desiredContainer(desired, deps.agent, envFiles);
  const wantedHash = wanted.labels[LABELS.configHash] ?? '';
  const hasMatch = containers.some((c) => c.labels[LABELS.configHash] === wantedHash);
  const observation: Observation = { entry, desired, wantedHash, containers, ...(owner ? { ownership: owner } : {}) };
  if (envFiles) observation.envFiles = envFiles;
  if (!hasMatch) {
    const [image, networks] = await Promise.all([
      deps.images.find(wanted.image),
      Promise.all((wanted.networks ?? []).map(async (name) => ((await deps.runtime.findNetwork(name)) ? undefined : name))),
    ]);
    observation.imagePresent = image !== undefined;
    if (image?.id) observation.imageId = image.id;
    const missing = networks.filter((name): name is string => name !== undefined);
    if (missing.length > 0) observation.missingNetworks = missing;
  }
  return observation;
}

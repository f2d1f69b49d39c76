// spec.updateStrategy StartFirst: a change that needs a new container starts the new one next to
// the one that serves (under a temporary name), and hands over only once the new one is Ready
// (its readiness probe passed, or it runs when it has none): remove the old one, rename the new one.
// Past progressDeadlineSeconds the new one is removed and the old one keeps serving (Stalled,
// ProgressDeadlineExceeded). Pure, one step per reconcile; plan.ts calls it.
import type { ContainerDetails } from '../runtime/docker-runtime.ts';
import { LABELS } from './labels.ts';
import type { Operation, Wait } from './operations.ts';
import { shortId } from './operations.ts';
import type { ProbeVerdict } from './probe-verdict.ts';

/** The new container's name while the old one still holds the Session's. */
export const START_FIRST_SUFFIX = '-next';

export interface StartFirstInput {
  key: string;
  containers: readonly ContainerDetails[];
  /** The desired config hash and Session uid. */
  hash: string;
  uid: string;
  /** The Session's container name (what the new container takes over). */
  name: string;
  /** Why a new container is needed ("config-hash changed: image"). */
  cause: (serving: ContainerDetails) => string;
  /** What the probes of the new container say (absent: it has none, or none runs). */
  probes?: ProbeVerdict;
  progressDeadlineSeconds: number;
  /** A hash whose rollout already ran out of time: not tried again until the Session changes. */
  failedHash?: string;
  now: number;
  /** The operations that pull (if needed), create under `name` and start a container, or a wait. */
  create: (name: string, cause: string) => Operation[] | Wait;
}

export interface StartFirstStep {
  operations: Operation[];
  wait?: Wait;
  stalled?: { reason: 'ProgressDeadlineExceeded'; message: string };
  /** The container that keeps serving while this step waits (status reports it). */
  serving?: string;
}

/** undefined when nothing serves an earlier version (the usual plan applies then). */
export function planStartFirst(input: StartFirstInput): StartFirstStep | undefined {
  const mine = input.containers.filter((c) => c.labels[LABELS.uid] === input.uid);
  const serving = mine.find((c) => c.labels[LABELS.configHash] !== input.hash && c.state === 'running');
  if (!serving) return undefined;
  const candidate = mine.filter((c) => c.labels[LABELS.configHash] === input.hash).sort((a, b) => b.created - a.created)[0];
  const operations: Operation[] = input.containers
    .filter((c) => c !== serving && c !== candidate)
    .map((c) => ({ type: 'remove' as const, container: { kind: 'existing' as const, id: c.id }, cause: `duplicate container for ${input.key} (keeping ${shortId(serving.id)})` }));
  const deadline = input.progressDeadlineSeconds;
  const kept = `; ${shortId(serving.id)} keeps serving`;

  if (!candidate) {
    if (input.failedHash === input.hash) {
      const message = `updateStrategy StartFirst: the new container was not Ready within progressDeadlineSeconds (${deadline} s)${kept}; change the Session to try again`;
      return { operations, stalled: { reason: 'ProgressDeadlineExceeded', message }, serving: serving.id };
    }
    const create = input.create(`${input.name}${START_FIRST_SUFFIX}`, `${input.cause(serving)} (StartFirst: next to ${shortId(serving.id)})`);
    if (!Array.isArray(create)) return { operations, wait: create, serving: serving.id };
    // Pull first: a failed pull must leave nothing half done.
    const pulls = create.filter((op) => op.type === 'pull');
    const rest = create.filter((op) => op.type !== 'pull');
    const wait: Wait = { delayMs: deadline * 1000, reason: 'Progressing', message: `updateStrategy StartFirst: starting the new container${kept}` };
    return { operations: [...pulls, ...operations, ...rest], wait, serving: serving.id };
  }

  const ref = { kind: 'existing' as const, id: candidate.id };
  const ready = candidate.state === 'running' && (input.probes?.ready ?? true);
  if (ready) {
    operations.push(
      { type: 'remove', container: { kind: 'existing', id: serving.id }, cause: `StartFirst: the new container ${shortId(candidate.id)} is Ready` },
      { type: 'rename', container: ref, name: input.name, cause: 'StartFirst: the new container takes over the Session' },
    );
    return { operations };
  }
  const why = candidate.state === 'running' ? (input.probes?.message ?? 'not Ready') : `container is ${candidate.state}`;
  const elapsedMs = input.now - candidate.created * 1000;
  if (elapsedMs >= deadline * 1000) {
    operations.push({ type: 'remove', container: ref, cause: `progressDeadlineSeconds (${deadline} s) passed before it was Ready: ${why}` });
    const message = `updateStrategy StartFirst: the new container was not Ready within progressDeadlineSeconds (${deadline} s): ${why}${kept}; change the Session to try again`;
    return { operations, stalled: { reason: 'ProgressDeadlineExceeded', message }, serving: serving.id };
  }
  if (candidate.state === 'created') operations.push({ type: 'start', container: ref, cause: 'StartFirst: the new container was created, not started' });
  const wait: Wait = {
    delayMs: deadline * 1000 - elapsedMs,
    reason: 'Progressing',
    message: `updateStrategy StartFirst: waiting for the new container ${shortId(candidate.id)} to be Ready (${why})${kept}`,
  };
  return { operations, wait, serving: serving.id };
}

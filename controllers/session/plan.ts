// plan(desired, observed) → operations. Pure: no I/O, no clock, no randomness; every input is in
// PlanInput, so a plan can be printed (`dockerlet diff`) and compared against golden text.
import type { ObjectKey, Session } from '../../crds/types.ts';
import type { ContainerDetails, EngineRestartPolicy, UpdateContainerRequest } from '../runtime/docker-runtime.ts';
import { changedFields } from './hash.ts';
import { desiredContainer, desiredResources } from './desired.ts';
import { LABELS } from './labels.ts';
import type { Operation, Wait } from './operations.ts';
import type { EnvFiles } from './env-files.ts';
import { envFilesProblem } from './env-files.ts';
import { describeOperation, formatBytes, formatNanoCpus, shortId } from './operations.ts';
import type { ProbeVerdict } from './probe-verdict.ts';
import { START_FIRST_SUFFIX, planStartFirst } from './plan-start-first.ts';
import type { Ownership } from '../scheduler/bindings.ts';

/** Agent-initiated restarts of the current container, for crash-loop back-off. */
export interface CrashLoopState {
  /** Restarts in a row of a container that did not stay up for CRASH_RESET_MS. */
  consecutiveRestarts: number;
  /** Epoch ms of the last agent-initiated start. */
  lastRestartAt?: number;
}

export interface PlanInput {
  key: ObjectKey;
  agent: string;
  /** The last valid desired object; undefined when the store has no Session for the key. */
  desired?: Session;
  /** Every container carrying this key's labels (normally zero or one). */
  containers: readonly ContainerDetails[];
  /** Whether the desired image is on the engine; only needed when a container must be created. */
  imagePresent?: boolean;
  /** The desired image's ID on the engine, when known: a container is created from it. */
  imageId?: string;
  /** What spec.env[].valueFrom.file named, as read by observe. */
  envFiles?: EnvFiles;
  /** spec.networks the engine lacks (looked up only when a container must be created). */
  missingNetworks?: readonly string[];
  /** How the Session breaks the agent's host policy (policy.ts), one message per field; nothing is created for it. */
  refused?: readonly string[];
  /** Why this runtime cannot run the Session as written (DockerRuntime.unsupported), one message per field. */
  unsupported?: readonly string[];
  /** False while the store is incomplete or start-up adoption is running: nothing is deleted then. */
  mayDeleteUndesired: boolean;
  /**
   * Whose Session it is in a fleet (controllers/scheduler/bindings.ts). Absent: the store has no
   * valid object, or this agent runs it alone. Bound elsewhere removes this agent's copy at once
   * (the binding is positive knowledge, unlike an absence); unbound or unknown keeps it.
   */
  ownership?: Ownership;
  /**
   * The Session exists but is being deleted (Kubernetes deletionTimestamp; `desired` is then
   * undefined): its containers go now, whatever `mayDeleteUndesired` says, since the deletion is
   * explicit rather than inferred from an absence.
   */
  deleting?: boolean;
  crashLoop: CrashLoopState;
  /** What the probes of the running, up-to-date container say (absent: it has none, or none runs). */
  probes?: ProbeVerdict;
  /** StartFirst: a config hash whose new container was not Ready in time (not tried again). */
  failedRollout?: string;
  /** Epoch ms. */
  now: number;
}

export interface Plan {
  key: ObjectKey;
  operations: Operation[];
  wait?: Wait;
  /** Nothing will change until the Session does: no operation, no retry. */
  stalled?: { reason: StalledReason; message: string };
  /** The plan restarts the container because this probe failed. */
  probeRestart?: NonNullable<ProbeVerdict['restart']>;
  /** StartFirst in progress (or given up): the container that keeps serving meanwhile. */
  serving?: string;
}

export const STALLED_REASONS = ['PolicyViolation', 'UnsupportedByRuntime', 'ProgressDeadlineExceeded'] as const;
export type StalledReason = (typeof STALLED_REASONS)[number];

/** A container that ran at least this long resets the crash-loop count. */
export const CRASH_RESET_MS = 10_000;
const CRASH_BACKOFF_BASE_MS = 1_000;
const CRASH_BACKOFF_MAX_MS = 300_000;
const TRANSITION_RECHECK_MS = 1_000;
const DEFERRED_DELETE_RECHECK_MS = 5_000;
const NEVER_PULL_RECHECK_MS = 30_000;
/** Nothing tells the agent when a network or a file appears: look again this often. */
const PRECONDITION_RECHECK_MS = 10_000;
/** While the bindings cannot be read: look again this often (a change of them enqueues at once). */
const BINDINGS_RECHECK_MS = 5_000;

export function crashBackoffMs(consecutiveRestarts: number): number {
  if (consecutiveRestarts <= 0) return 0;
  return Math.min(CRASH_BACKOFF_BASE_MS * 2 ** (consecutiveRestarts - 1), CRASH_BACKOFF_MAX_MS);
}

export function planToString(plan: Plan): string {
  const lines = [`plan ${plan.key}: ${plan.operations.length === 0 ? 'no changes' : `${plan.operations.length} operation(s)`}`];
  for (const op of plan.operations) lines.push(`  - ${describeOperation(op)}`);
  if (plan.wait) lines.push(`  wait ${plan.wait.delayMs} ms: ${plan.wait.reason}: ${plan.wait.message}`);
  if (plan.stalled) lines.push(`  stalled: ${plan.stalled.reason}: ${plan.stalled.message}`);
  return lines.join('\n');
}

function samePolicy(a: EngineRestartPolicy, b: EngineRestartPolicy): boolean {
  return a.name === b.name && (a.maximumRetryCount ?? 0) === (b.maximumRetryCount ?? 0);
}

/** Why `c` cannot serve the desired version (a new container is needed), or undefined if it can. */
function recreateCauseOf(key: ObjectKey, c: ContainerDetails, labels: Record<string, string>, uid: string): string | undefined {
  if (c.labels[LABELS.uid] !== uid) return `container belongs to an earlier Session ${key} (uid ${c.labels[LABELS.uid] ?? 'none'})`;
  if (c.labels[LABELS.configHash] === labels[LABELS.configHash]) return undefined;
  return `config-hash changed: ${changedFields(c.labels[LABELS.configFields], labels[LABELS.configFields] ?? '').join(', ')}`;
}

/** Prefer the container that matches the desired hash and uid, then a running one, then the newest. */
function pickKeeper(containers: readonly ContainerDetails[], hash: string, uid: string): ContainerDetails | undefined {
  const score = (c: ContainerDetails): number =>
    (c.labels[LABELS.configHash] === hash ? 4 : 0) + (c.state === 'running' ? 2 : 0) + (c.labels[LABELS.uid] === uid ? 1 : 0);
  return [...containers].sort((a, b) => score(b) - score(a) || b.created - a.created)[0];
}

function ranLongEnough(container: ContainerDetails): boolean {
  if (!container.startedAt || !container.finishedAt) return false;
  return Date.parse(container.finishedAt) - Date.parse(container.startedAt) >= CRASH_RESET_MS;
}

function planDeletion(input: PlanInput): Plan {
  const { key, containers, ownership } = input;
  if (containers.length === 0) return { key, operations: [] };
  if (ownership?.kind === 'elsewhere' && !ownership.pinned) {
    const epochs = containers.map((c) => c.labels[LABELS.epoch] ?? 'none').join(', ');
    return {
      key,
      operations: containers.map((c) => ({
        type: 'remove' as const,
        container: { kind: 'existing' as const, id: c.id },
        cause: `${key} is bound to ${ownership.agent} (epoch ${ownership.epoch}); this copy has epoch ${epochs}`,
      })),
    };
  }
  if (ownership?.kind === 'unbound' || ownership?.kind === 'unknown') {
    const why = ownership.kind === 'unbound' ? 'not bound to any agent yet' : 'the fleet bindings cannot be read';
    return { key, operations: [], wait: { delayMs: BINDINGS_RECHECK_MS, reason: 'AwaitingBinding', message: `${key} is ${why}; keeping this copy as it is` } };
  }
  if (input.deleting) {
    return {
      key,
      operations: containers.map((c) => ({
        type: 'remove' as const,
        container: { kind: 'existing' as const, id: c.id },
        cause: `Session ${key} is being deleted`,
      })),
    };
  }
  if (!input.mayDeleteUndesired) {
    return {
      key,
      operations: [],
      wait: {
        delayMs: DEFERRED_DELETE_RECHECK_MS,
        reason: 'DeletionDeferred',
        message: 'no Session in the store, but the store is incomplete or start-up adoption is running; removing nothing',
      },
    };
  }
  return {
    key,
    operations: containers.map((c) => ({
      type: 'remove' as const,
      container: { kind: 'existing' as const, id: c.id },
      cause: `no Session ${key} in the store`,
    })),
  };
}

/** In-place changes the engine can make, or a reason it cannot. */
function planInPlace(
  session: Session,
  container: ContainerDetails,
  wantedPolicy: EngineRestartPolicy,
): { changes?: UpdateContainerRequest; cause?: string; needsRecreate?: string } {
  const wanted = desiredResources(session);
  const changes: UpdateContainerRequest = {};
  const causes: string[] = [];
  // The engine ignores a zero limit on update, so a limit can be raised or lowered in place but
  // not removed: that takes a new container.
  if (wanted.memoryBytes !== container.memoryBytes) {
    if (wanted.memoryBytes === 0) return { needsRecreate: 'resources.memory removed (the engine cannot clear a limit in place)' };
    changes.memoryBytes = wanted.memoryBytes;
    causes.push(`resources.memory ${formatBytes(container.memoryBytes)} → ${formatBytes(wanted.memoryBytes)}`);
  }
  if (wanted.nanoCpus !== container.nanoCpus) {
    if (wanted.nanoCpus === 0) return { needsRecreate: 'resources.cpu removed (the engine cannot clear a limit in place)' };
    changes.nanoCpus = wanted.nanoCpus;
    causes.push(`resources.cpu ${formatNanoCpus(container.nanoCpus)} → ${formatNanoCpus(wanted.nanoCpus)}`);
  }
  if (!samePolicy(wantedPolicy, container.restartPolicy)) {
    changes.restartPolicy = wantedPolicy;
    causes.push(`restartPolicy ${container.restartPolicy.name} → ${wantedPolicy.name}`);
  }
  return causes.length === 0 ? {} : { changes, cause: `changed in place: ${causes.join('; ')}` };
}

function planCreate(input: PlanInput, session: Session, cause: string, name?: string): Operation[] | Wait {
  if (input.ownership?.kind === 'mine' && !input.ownership.mayCreate) {
    return { delayMs: BINDINGS_RECHECK_MS, reason: 'BindingsUnknown', message: 'the fleet bindings cannot be read: creating nothing until they can' };
  }
  const desired = desiredContainer(session, input.agent, input.envFiles);
  const epoch = input.ownership?.kind === 'mine' ? input.ownership.epoch : undefined;
  const bound = epoch === undefined ? desired : { ...desired, labels: { ...desired.labels, [LABELS.epoch]: String(epoch) } };
  const wanted = name ? { ...bound, name } : bound;
  if (input.missingNetworks && input.missingNetworks.length > 0) {
    const names = input.missingNetworks.join(', ');
    return {
      delayMs: PRECONDITION_RECHECK_MS,
      reason: 'NetworkNotFound',
      message: `spec.networks: the engine has no network ${names}; create it (docker network create ${input.missingNetworks[0]}) or fix the name`,
    };
  }
  const pullPolicy = session.spec.imagePullPolicy ?? 'IfNotPresent';
  // After a pull the ID seen before it may be stale: the engine resolves the name then.
  const pulls = pullPolicy === 'Always' || input.imagePresent === false;
  const request = input.imageId && !pulls ? { ...wanted, imageId: input.imageId } : wanted;
  const ops: Operation[] = [];
  if (pullPolicy === 'Always') {
    ops.push({ type: 'pull', image: request.image, cause: 'imagePullPolicy is Always' });
  } else if (input.imagePresent === false) {
    if (pullPolicy === 'Never') {
      return {
        delayMs: NEVER_PULL_RECHECK_MS,
        reason: 'ErrImageNeverPull',
        message: `image ${request.image} is not on the engine and imagePullPolicy is Never; load or build it there`,
      };
    }
    ops.push({ type: 'pull', image: request.image, cause: 'image not present on the engine' });
  }
  ops.push({ type: 'create', request, cause });
  if ((session.spec.state ?? 'Running') === 'Running') {
    ops.push({ type: 'start', container: { kind: 'new' }, cause: 'spec.state is Running' });
  }
  return ops;
}

/**
 * A failed liveness (or startup) probe restarts the same container: stopped with its grace period,
 * then started again, under the crash back-off of a container that exits, so one that never gets
 * healthy does not hammer the engine. A restart after it was healthy starts the back-off over.
 */
function planProbeRestart(input: PlanInput, session: Session, c: ContainerDetails, probes: ProbeVerdict): { ops: Operation[]; wait?: Wait } {
  const restart = probes.restart;
  if (!restart) return { ops: [] };
  const consecutive = probes.wasHealthy ? 0 : input.crashLoop.consecutiveRestarts;
  const backoff = crashBackoffMs(consecutive);
  const sinceLast = input.now - (input.crashLoop.lastRestartAt ?? 0);
  if (backoff > 0 && sinceLast < backoff) {
    return {
      ops: [],
      wait: { delayMs: backoff - sinceLast, reason: 'CrashLoopBackOff', message: `${restart.message}; restart ${consecutive + 1} in a row waits ${backoff} ms` },
    };
  }
  const ref = { kind: 'existing' as const, id: c.id };
  const grace = session.spec.stopGracePeriodSeconds;
  return {
    ops: [
      { type: 'stop', container: ref, cause: restart.message, ...(grace !== undefined ? { timeoutSeconds: grace } : {}) },
      { type: 'start', container: ref, cause: restart.message, restart: true },
    ],
  };
}

/** Operations (or a wait) that bring an existing, up-to-date container to the desired run state. */
function planRunState(input: PlanInput, session: Session, c: ContainerDetails): { ops: Operation[]; wait?: Wait } {
  const ref = { kind: 'existing' as const, id: c.id };
  if ((session.spec.state ?? 'Running') === 'Stopped') {
    const active = c.state === 'running' || c.state === 'restarting' || c.state === 'paused';
    if (!active) return { ops: [] };
    const grace = session.spec.stopGracePeriodSeconds;
    return { ops: [{ type: 'stop', container: ref, cause: 'spec.state is Stopped', ...(grace !== undefined ? { timeoutSeconds: grace } : {}) }] };
  }
  switch (c.state) {
    case 'running':
      return input.probes?.restart ? planProbeRestart(input, session, c, input.probes) : { ops: [] };
    case 'paused':
      return { ops: [] };
    case 'restarting':
      return {
        ops: [],
        wait: { delayMs: TRANSITION_RECHECK_MS, reason: 'EngineRestarting', message: `the engine is restarting the container (exit code ${c.exitCode})` },
      };
    case 'removing':
    case 'dead':
      return {
        ops: [],
        wait: { delayMs: TRANSITION_RECHECK_MS, reason: 'ContainerTransitioning', message: `container is ${c.state}` },
      };
    case 'created':
      return { ops: [{ type: 'start', container: ref, cause: 'container created but not started' }] };
    case 'exited':
      break;
  }
  const policy = session.spec.restartPolicy ?? 'Always';
  if (policy === 'Never' || (policy === 'OnFailure' && c.exitCode === 0)) return { ops: [] };
  const consecutive = ranLongEnough(c) ? 0 : input.crashLoop.consecutiveRestarts;
  const backoff = crashBackoffMs(consecutive);
  const sinceLast = input.now - (input.crashLoop.lastRestartAt ?? 0);
  if (backoff > 0 && sinceLast < backoff) {
    return {
      ops: [],
      wait: {
        delayMs: backoff - sinceLast,
        reason: 'CrashLoopBackOff',
        message: `container exited with code ${c.exitCode}; restart ${consecutive + 1} in a row waits ${backoff} ms`,
      },
    };
  }
  return {
    ops: [{ type: 'start', container: ref, cause: `container exited with code ${c.exitCode}; restartPolicy is ${policy}`, restart: true }],
  };
}

export function plan(input: PlanInput): Plan {
  const { key, desired } = input;
  if (!desired) return planDeletion(input);

  // Touch nothing (an earlier, allowed version may still run: it keeps running), as for a spec the
  // schema refuses. The host policy comes first: it is the operator's word, whatever the runtime.
  if (input.refused && input.refused.length > 0) {
    return { key, operations: [], stalled: { reason: 'PolicyViolation', message: input.refused.join('; ') } };
  }
  if (input.unsupported && input.unsupported.length > 0) {
    return { key, operations: [], stalled: { reason: 'UnsupportedByRuntime', message: input.unsupported.join('; ') } };
  }
  // Without the value of a file-sourced variable there is no desired container to compare with:
  // leave whatever runs as it is, and look again.
  const unreadable = envFilesProblem(desired.spec, input.envFiles);
  if (unreadable) {
    return { key, operations: [], wait: { delayMs: PRECONDITION_RECHECK_MS, reason: 'EnvFileUnreadable', message: unreadable } };
  }
  const request = desiredContainer(desired, input.agent, input.envFiles);
  const hash = request.labels[LABELS.configHash] ?? '';
  const uid = desired.metadata.uid ?? '';
  const wantRunning = (desired.spec.state ?? 'Running') === 'Running';
  if (wantRunning && desired.spec.updateStrategy?.type === 'StartFirst') {
    const step = planStartFirst({
      key,
      containers: input.containers,
      hash,
      uid,
      name: request.name,
      cause: (serving) => recreateCauseOf(key, serving, request.labels, uid) ?? 'outdated',
      ...(input.probes ? { probes: input.probes } : {}),
      progressDeadlineSeconds: desired.spec.progressDeadlineSeconds ?? 300,
      ...(input.failedRollout ? { failedHash: input.failedRollout } : {}),
      now: input.now,
      create: (name, cause) => planCreate(input, desired, cause, name),
    });
    if (step) return { key, ...step };
  }
  const keeper = pickKeeper(input.containers, hash, uid);
  const operations: Operation[] = [];

  for (const extra of input.containers) {
    if (extra === keeper) continue;
    operations.push({
      type: 'remove',
      container: { kind: 'existing', id: extra.id },
      cause: keeper ? `duplicate container for ${key} (keeping ${shortId(keeper.id)})` : `duplicate container for ${key}`,
    });
  }

  let recreateCause: string | undefined;
  if (keeper) {
    recreateCause = recreateCauseOf(key, keeper, request.labels, uid);
    if (!recreateCause) {
      const inPlace = planInPlace(desired, keeper, request.restartPolicy);
      if (inPlace.needsRecreate) recreateCause = inPlace.needsRecreate;
      else if (inPlace.changes && inPlace.cause) {
        operations.push({ type: 'update', container: { kind: 'existing', id: keeper.id }, changes: inPlace.changes, cause: inPlace.cause });
      }
    }
  }

  if (keeper && !recreateCause) {
    // A StartFirst handover cut short between its remove and its rename: finish it.
    if (keeper.name === `${request.name}${START_FIRST_SUFFIX}`) {
      operations.push({ type: 'rename', container: { kind: 'existing', id: keeper.id }, name: request.name, cause: 'StartFirst: the new container takes over the Session' });
    }
    const runState = planRunState(input, desired, keeper);
    operations.push(...runState.ops);
    const restart = keeper.state === 'running' && runState.ops.length > 0 ? input.probes?.restart : undefined;
    return { key, operations, ...(runState.wait ? { wait: runState.wait } : {}), ...(restart ? { probeRestart: restart } : {}) };
  }

  // No usable container: make one (after removing the old one, so its name and ports are free).
  if (!wantRunning) {
    if (keeper) operations.push({ type: 'remove', container: { kind: 'existing', id: keeper.id }, cause: recreateCause ?? 'outdated' });
    return { key, operations };
  }
  const create = planCreate(input, desired, recreateCause ?? 'no container for the Session');
  if (!Array.isArray(create)) return { key, operations, wait: create };
  const pulls = create.filter((op) => op.type === 'pull');
  const rest = create.filter((op) => op.type !== 'pull');
  // Pull first: a failed pull must not leave the Session with no container at all.
  operations.unshift(...pulls);
  if (keeper) operations.push({ type: 'remove', container: { kind: 'existing', id: keeper.id }, cause: recreateCause ?? 'outdated' });
  operations.push(...rest);
  return { key, operations };
}

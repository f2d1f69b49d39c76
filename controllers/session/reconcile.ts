// The session controller's reconcile: observe → plan → execute → status, for one key. It re-reads
// desired and actual state every time and never asks which event woke it.
import type { Logger } from 'pino';
import type { ObjectKey, Session, SessionStatus } from '../../crds/types.ts';
import type { DockerRuntime } from '../../agent/docker/docker-runtime.ts';
import { ConflictError, EngineUnavailableError, NotFoundError } from '../../agent/docker/errors.ts';
import type { ReconcileResult } from '../../reconciler/errors.ts';
import type { DesiredStore, StatusStore } from '../../reconciler/store.ts';
import type { Clock } from '../../reconciler/clock.ts';
import type { ReconcileContext } from '../../reconciler/controller.ts';
import type { ContainerCache } from './container-cache.ts';
import type { ImagePresence } from './image-presence.ts';
import { observe } from './observe.ts';
import { execute } from './execute.ts';
import { LABELS } from './labels.ts';
import type { CrashLoopState, Plan } from './plan.ts';
import { CRASH_RESET_MS, plan } from './plan.ts';
import { sessionStatus } from './status.ts';
import { isDeepStrictEqual } from 'node:util';

export interface SessionControllerDeps {
  agent: string;
  store: DesiredStore<Session>;
  statusStore: StatusStore<SessionStatus>;
  runtime: DockerRuntime;
  cache: ContainerCache;
  images: ImagePresence;
  clock: Clock;
  logger: Logger;
  /** False while the store is incomplete, empty without permission, or start-up adoption runs. */
  mayDeleteUndesired: () => boolean;
  stopTimeoutSeconds: number;
}

interface RestartBookkeeping extends CrashLoopState {
  containerId: string;
  /** Starts of an exited container made by the agent (the engine counts its own). */
  agentRestarts: number;
}

function failureOf(error: unknown): { reason: string; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof EngineUnavailableError) return { reason: 'EngineUnavailable', message };
  if (error instanceof ConflictError) return { reason: 'Conflict', message };
  if (error instanceof NotFoundError) return { reason: 'NotFound', message };
  return { reason: 'ReconcileError', message };
}

export function createSessionReconciler(deps: SessionControllerDeps) {
  const restarts = new Map<ObjectKey, RestartBookkeeping>();

  function bookkeeping(key: ObjectKey, containerId: string | undefined): RestartBookkeeping {
    const current = restarts.get(key);
    if (current && current.containerId === containerId) return current;
    const fresh: RestartBookkeeping = { containerId: containerId ?? '', consecutiveRestarts: 0, agentRestarts: 0 };
    restarts.set(key, fresh);
    return fresh;
  }

  return async function reconcileSession(key: ObjectKey, signal: AbortSignal, context?: ReconcileContext): Promise<ReconcileResult> {
    const log = context?.log ?? deps.logger.child({ controller: 'session', key });
    const previous = deps.statusStore.get(key);
    const now = deps.clock.now();
    const { entry, desired: assigned, wantedHash, containers, imagePresent } = await observe(deps, key);

    if (entry?.problem && !entry.object) {
      // Invalid from the start: report it and touch nothing.
      const status = sessionStatus({ agent: deps.agent, problem: entry.problem, upToDate: false, previous, restartCount: 0, now: new Date(now) });
      if (!isDeepStrictEqual(status, previous)) await deps.statusStore.write(key, status);
      return {};
    }
    const current = containers.find((c) => c.labels[LABELS.uid] === (assigned?.metadata.uid ?? '')) ?? containers[0];
    const book = bookkeeping(key, current?.id);

    // Plan.
    const thePlan: Plan = plan({
      key,
      agent: deps.agent,
      desired: assigned,
      containers,
      imagePresent,
      mayDeleteUndesired: deps.mayDeleteUndesired(),
      crashLoop: book,
      now,
    });
    if (thePlan.operations.length > 0) log.info({ plan: thePlan.operations.map((op) => `${op.type}: ${op.cause}`) }, 'executing plan');

    // Execute, and write the final status whatever happens.
    let failure: unknown;
    try {
      await execute(thePlan, { runtime: deps.runtime, cache: deps.cache, logger: log, stopTimeoutSeconds: deps.stopTimeoutSeconds }, signal);
    } catch (error) {
      failure = error;
      // A create that says "not found" means the image went away since we looked.
      if (error instanceof NotFoundError && assigned) deps.images.forget(assigned.spec.image);
    } finally {
      const after = deps.cache.containersFor(key);
      if (!assigned) {
        if (after.length === 0) {
          restarts.delete(key);
          // Another agent's status for a Session it runs is not ours to remove.
          if (previous && (!previous.agent || previous.agent === deps.agent)) await deps.statusStore.delete(key);
        }
      } else {
        const keeper = after.find((c) => c.labels[LABELS.configHash] === wantedHash) ?? after[0];
        const restartedNow = thePlan.operations.some((op) => op.type === 'start' && op.restart === true);
        const tracked = bookkeeping(key, keeper?.id);
        if (restartedNow && !failure) {
          const ranLong = current?.startedAt && current.finishedAt && Date.parse(current.finishedAt) - Date.parse(current.startedAt) >= CRASH_RESET_MS;
          tracked.consecutiveRestarts = ranLong ? 1 : tracked.consecutiveRestarts + 1;
          tracked.lastRestartAt = now;
          tracked.agentRestarts += 1;
        }
        const engineRestarts = keeper?.restartCount ?? 0;
        const carried = previous?.containerID && previous.containerID === keeper?.id ? (previous.restartCount ?? 0) : 0;
        const status = sessionStatus({
          agent: deps.agent,
          desired: assigned,
          problem: entry?.problem,
          container: keeper,
          upToDate: keeper?.labels[LABELS.configHash] === wantedHash,
          plan: thePlan,
          failure: failure === undefined ? undefined : failureOf(failure),
          previous,
          restartCount: Math.max(carried, engineRestarts + tracked.agentRestarts),
          now: new Date(deps.clock.now()),
        });
        if (!isDeepStrictEqual(status, previous)) await deps.statusStore.write(key, status);
      }
    }
    if (failure !== undefined) throw failure;
    return thePlan.wait ? { requeueAfterMs: thePlan.wait.delayMs } : {};
  };
}

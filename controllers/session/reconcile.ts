// The session controller's reconcile: observe → plan → execute → status, for one key. It re-reads
// desired and actual state every time and never asks which event woke it.
import type { Logger } from 'pino';
import type { ObjectKey, Session, SessionStatus } from '../../crds/types.ts';
import { API_VERSION, splitKey } from '../../crds/types.ts';
import type { DockerRuntime } from '../runtime/docker-runtime.ts';
import { ConflictError, EngineUnavailableError, NotFoundError } from '../runtime/errors.ts';
import { RequeueAfterError, TerminalError } from '../../reconciler/errors.ts';
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
import { sessionStatus, terminatingStatus } from './status.ts';
// fast-deep-equal: plain JSON-like data only, and 3–4× cheaper than util.isDeepStrictEqual on
// every no-op reconcile (a resync compares each key's status; profiled in hack/bench resync).
import deepEqual from 'fast-deep-equal';
import type { EventRecorder } from '../../reconciler/events.ts';
import { noEvents } from '../../reconciler/events.ts';
import { describeOperation } from './operations.ts';
import type { Operation } from './operations.ts';
import type { ContainerDetails } from '../runtime/docker-runtime.ts';
import { operationReason, sessionSubject } from './events.ts';
import type { SessionFinalizer } from './finalizer.ts';
import type { FileReader } from './env-files.ts';
import type { HostPolicy } from './policy.ts';
import type { PathResolver } from './host-paths.ts';
import { STALLED } from '../../reconciler/conditions.ts';
import type { Prober } from './prober.ts';
import { sessionProbes } from './probe-spec.ts';
import { probeVerdict } from './probe-verdict.ts';
import type { ProbeVerdict } from './probe-verdict.ts';
import type { BindingReader } from '../scheduler/bindings.ts';

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
  /** Holds deletions until the container is gone (Kubernetes); absent for the YAML store. */
  finalizer?: SessionFinalizer;
  /** Where operations and failures are reported (Kubernetes Events). Default: nowhere. */
  events?: EventRecorder;
  /** Where spec.env[].valueFrom.file is read; the host's filesystem by default. */
  files?: FileReader;
  /** What a Session may take from the host (--allow-* flags); a Session that breaks it gets no container. */
  policy: HostPolicy;
  /** How host paths are resolved for the policy; the host's filesystem by default. */
  paths?: PathResolver;
  /** Runs the httpGet and tcpSocket probes and reads the engine's HEALTHCHECK verdict. */
  prober: Prober;
  /** A fleet's bindings (README "Fleet"); absent for a single agent with no shared status. */
  bindings?: BindingReader;
}

/** While a deleted Session's container is still there, look again this soon. */
const TERMINATING_RECHECK_MS = 1_000;

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
  /** StartFirst: the config hash whose new container ran out of progressDeadlineSeconds, per key. */
  const failedRollouts = new Map<ObjectKey, string>();
  const events = deps.events ?? noEvents;

  function executeDeps(log: Logger, session: Session | undefined, thePlan: Plan) {
    return {
      runtime: deps.runtime,
      cache: deps.cache,
      logger: log,
      stopTimeoutSeconds: deps.stopTimeoutSeconds,
      onOperation: session
        ? (op: Operation) => events.record(sessionSubject(session), 'Normal', operationReason(op, thePlan), describeOperation(op))
        : undefined,
    };
  }

  /** What the probes of `container` say, if the Session has any (and stops probing if it has none). */
  function probesOf(key: ObjectKey, session: Session, container: ContainerDetails | undefined): ProbeVerdict | undefined {
    if (sessionProbes(session.spec).length === 0) {
      deps.prober.forget(key);
      return undefined;
    }
    return probeVerdict(session.spec, deps.prober.observe(key, session.spec, container));
  }

  /** A Session with a deletionTimestamp: remove its containers, then release the finalizer. */
  async function finalize(key: ObjectKey, session: Session, containers: ContainerDetails[], previous: SessionStatus | undefined, log: Logger, signal: AbortSignal): Promise<ReconcileResult> {
    const thePlan = plan({ key, agent: deps.agent, containers, mayDeleteUndesired: false, deleting: true, crashLoop: { consecutiveRestarts: 0 }, now: deps.clock.now() });
    const writeStatus = async (failure?: { reason: string; message: string }): Promise<void> => {
      const status = terminatingStatus({ agent: deps.agent, previous, now: new Date(deps.clock.now()), ...(failure ? { failure } : {}) });
      if (!deepEqual(status, previous)) await deps.statusStore.write(key, status);
    };
    if (thePlan.operations.length > 0) {
      log.info({ plan: thePlan.operations.map((op) => `${op.type}: ${op.cause}`) }, 'executing plan');
      await writeStatus();
      try {
        await execute(thePlan, executeDeps(log, session, thePlan), signal);
      } catch (error) {
        const failure = failureOf(error);
        events.record(sessionSubject(session), 'Warning', failure.reason, `removing the container of a deleted Session failed: ${failure.message}`);
        await writeStatus(failure);
        throw error;
      }
    }
    deps.prober.forget(key);
    if (deps.cache.containersFor(key).length > 0) return { requeueAfterMs: TERMINATING_RECHECK_MS };
    restarts.delete(key);
    if (deps.finalizer && (await deps.finalizer.release(session)) === 'changed') log.info({ finalizer: deps.finalizer.name }, 'container removed; finalizer released');
    await deps.statusStore.delete(key);
    return {};
  }

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
    const { entry, desired: assigned, ownership, wantedHash, containers, imagePresent, imageId, envFiles, missingNetworks, refused } = await observe(deps, key);

    if (entry?.problem && !entry.object) {
      // Invalid from the start: report it and touch nothing.
      const status = sessionStatus({ agent: deps.agent, problem: entry.problem, upToDate: false, previous, restartCount: 0, now: new Date(now) });
      if (!deepEqual(status, previous)) {
        await deps.statusStore.write(key, status);
        if (entry.problem.message !== previous?.message) {
          const { namespace, name } = splitKey(key);
          events.record({ apiVersion: API_VERSION, kind: 'Session', name, ...(namespace ? { namespace } : {}) }, 'Warning', entry.problem.reason, entry.problem.message);
        }
      }
      // Stalled until someone edits it: no retry (the next change of the object enqueues it).
      throw new TerminalError(entry.problem.reason, entry.problem.message, entry.problem.fieldPath);
    }
    if (assigned?.metadata.deletionTimestamp) return finalize(key, assigned, containers, previous, log, signal);
    // Before anything is created for it, so the Session cannot be deleted without us noticing.
    if (assigned && deps.finalizer && (await deps.finalizer.ensure(assigned)) === 'gone') return {};
    const current = containers.find((c) => c.labels[LABELS.uid] === (assigned?.metadata.uid ?? '')) ?? containers[0];
    const book = bookkeeping(key, current?.id);

    // Plan.
    const unsupported = assigned ? (deps.runtime.unsupported?.(assigned.spec) ?? []).map((p) => p.message) : [];
    const probesBefore = assigned ? probesOf(key, assigned, containers.find((c) => c.labels[LABELS.configHash] === wantedHash)) : undefined;
    const thePlan: Plan = plan({
      key,
      agent: deps.agent,
      desired: assigned,
      containers,
      imagePresent,
      imageId,
      ...(envFiles ? { envFiles } : {}),
      ...(missingNetworks ? { missingNetworks } : {}),
      ...(unsupported.length > 0 ? { unsupported } : {}),
      ...(refused ? { refused } : {}),
      ...(ownership ? { ownership } : {}),
      mayDeleteUndesired: deps.mayDeleteUndesired(),
      crashLoop: book,
      ...(probesBefore ? { probes: probesBefore } : {}),
      ...(failedRollouts.has(key) ? { failedRollout: failedRollouts.get(key) } : {}),
      now,
    });
    if (thePlan.operations.length > 0) log.info({ plan: thePlan.operations.map((op) => `${op.type}: ${op.cause}`) }, 'executing plan');
    if (assigned && thePlan.probeRestart) {
      // The cause, before the restart it leads to (Kubernetes mode: Event Unhealthy, then Restarted).
      log.warn({ probe: thePlan.probeRestart.probe, message: thePlan.probeRestart.message }, 'probe failed; restarting the container');
      events.record(sessionSubject(assigned), 'Warning', 'Unhealthy', thePlan.probeRestart.message);
    }

    // Execute, and write the final status whatever happens.
    let failure: unknown;
    try {
      await execute(thePlan, executeDeps(log, assigned, thePlan), signal);
    } catch (error) {
      failure = error;
      // A cancelled reconcile (leadership lost, shutdown) is not the Session's failure.
      if (assigned && !signal.aborted) events.record(sessionSubject(assigned), 'Warning', failureOf(error).reason, failureOf(error).message);
      // A create that says "not found" means the image went away since we looked.
      if (error instanceof NotFoundError && assigned) deps.images.forget(assigned.spec.image);
    } finally {
      const after = deps.cache.containersFor(key);
      if (!assigned) {
        if (after.length === 0) {
          deps.prober.forget(key);
          restarts.delete(key);
          // Another agent's status for a Session it runs is not ours to remove.
          if (previous && (!previous.agent || previous.agent === deps.agent)) await deps.statusStore.delete(key);
        }
      } else {
        // StartFirst in progress (or given up): the old container serves, and status reports it.
        const serving = thePlan.serving ? after.find((c) => c.id === thePlan.serving) : undefined;
        if (!thePlan.serving) failedRollouts.delete(key);
        else if (thePlan.stalled?.reason === 'ProgressDeadlineExceeded' && wantedHash) failedRollouts.set(key, wantedHash);
        const newest = after.find((c) => c.labels[LABELS.configHash] === wantedHash);
        const keeper = serving ?? newest ?? after[0];
        const restartedNow = thePlan.operations.some((op) => op.type === 'start' && op.restart === true);
        const tracked = bookkeeping(key, keeper?.id);
        if (restartedNow && !failure) {
          // A probe restart counts on only if the container never got healthy since it started.
          const ranLong = thePlan.probeRestart
            ? probesBefore?.wasHealthy === true
            : current?.startedAt && current.finishedAt && Date.parse(current.finishedAt) - Date.parse(current.startedAt) >= CRASH_RESET_MS;
          tracked.consecutiveRestarts = ranLong ? 1 : tracked.consecutiveRestarts + 1;
          tracked.lastRestartAt = now;
          tracked.agentRestarts += 1;
        }
        const engineRestarts = keeper?.restartCount ?? 0;
        // The new container is the one probed, also while the old one still serves.
        const probesOfNew = probesOf(key, assigned, newest);
        const probesAfter = serving ? undefined : probesOfNew;
        const carried = previous?.containerID && previous.containerID === keeper?.id ? (previous.restartCount ?? 0) : 0;
        const status = sessionStatus({
          agent: deps.agent,
          desired: assigned,
          problem: entry?.problem,
          container: keeper,
          upToDate: serving !== undefined || keeper?.labels[LABELS.configHash] === wantedHash,
          plan: thePlan,
          failure: failure === undefined ? undefined : failureOf(failure),
          previous,
          restartCount: Math.max(carried, engineRestarts + tracked.agentRestarts),
          ...(probesAfter ? { probes: probesAfter } : {}),
          now: new Date(deps.clock.now()),
        });
        if (!deepEqual(status, previous)) await deps.statusStore.write(key, status);
        // Refused (policy, runtime): one Warning per new refusal, not one per resync.
        const wasStalled = previous?.conditions?.find((c) => c.type === STALLED);
        if (thePlan.stalled && !(wasStalled?.status === 'True' && wasStalled.reason === thePlan.stalled.reason && (wasStalled.message ?? '').startsWith(thePlan.stalled.message))) {
          events.record(sessionSubject(assigned), 'Warning', thePlan.stalled.reason, thePlan.stalled.message);
        }
      }
    }
    if (failure !== undefined) throw failure;
    // The runtime cannot run it as written: only a change of the Session helps (it enqueues the key).
    if (thePlan.stalled) throw new TerminalError(thePlan.stalled.reason, thePlan.stalled.message);
    // Waiting for something that resolves by itself (an image, a crash back-off, the engine).
    if (thePlan.wait) throw new RequeueAfterError(thePlan.wait.delayMs, thePlan.wait.reason, thePlan.wait.message);
    return {};
  };
}

// Derives a Session's status from what was observed after executing the plan. Pure.
import type { Condition, ConditionStatus, Session, SessionPhase, SessionStatus } from '../../crds/types.ts';
import type { ContainerDetails } from '../runtime/docker-runtime.ts';
import type { ObjectProblem } from '../../reconciler/store.ts';
import { READY, RECONCILING, STALLED, setCondition } from '../../reconciler/conditions.ts';
import type { Plan } from './plan.ts';
import { PRECONDITION_WAITS } from './operations.ts';
import type { ProbeVerdict } from './probe-verdict.ts';

export interface StatusInput {
  agent: string;
  desired?: Session;
  problem?: ObjectProblem;
  /** The container kept for the Session, as observed after execution. */
  container?: ContainerDetails;
  /** Whether that container carries the desired config hash. */
  upToDate: boolean;
  plan?: Plan;
  /** What went wrong executing the plan, if anything: reason (CamelCase) and message. */
  failure?: { reason: string; message: string };
  previous?: SessionStatus;
  restartCount: number;
  /** What the probes of that container say; absent when it has none. */
  probes?: ProbeVerdict;
  now: Date;
}

interface Summary {
  phase: SessionPhase;
  ready: ConditionStatus;
  reason: string;
  message: string;
}

function summarizeContainer(session: Session, c: ContainerDetails | undefined, upToDate: boolean, plan?: Plan, probes?: ProbeVerdict): Summary {
  const wantRunning = (session.spec.state ?? 'Running') === 'Running';
  if (!c) {
    if (plan?.stalled) return { phase: 'Pending', ready: 'False', reason: plan.stalled.reason, message: plan.stalled.message };
    if (!wantRunning) return { phase: 'Stopped', ready: 'True', reason: 'Stopped', message: 'spec.state is Stopped; no container' };
    if (plan?.wait) return { phase: 'Pending', ready: 'False', reason: plan.wait.reason, message: plan.wait.message };
    return { phase: 'Pending', ready: 'False', reason: 'ContainerMissing', message: 'no container yet' };
  }
  if (!wantRunning) {
    const stopped = c.state !== 'running' && c.state !== 'restarting' && c.state !== 'paused';
    return stopped
      ? { phase: 'Stopped', ready: 'True', reason: 'Stopped', message: 'container stopped as spec.state asks' }
      : { phase: 'Running', ready: 'False', reason: 'Stopping', message: 'stopping the container' };
  }
  switch (c.state) {
    case 'running':
      if (!upToDate) return { phase: 'Running', ready: 'False', reason: 'Outdated', message: 'container runs an outdated config' };
      // Running is not serving: Ready waits for the readiness probe (and a startup probe first).
      if (probes && !probes.ready) return { phase: 'Running', ready: 'False', reason: 'ProbeFailed', message: plan?.wait?.message ?? probes.message ?? 'probe failed' };
      return { phase: 'Running', ready: 'True', reason: 'Running', message: 'container running' };
    case 'paused':
      return { phase: 'Running', ready: 'False', reason: 'Paused', message: 'container is paused on the engine' };
    case 'created':
      return { phase: 'Creating', ready: 'False', reason: 'Creating', message: 'container created, not started yet' };
    case 'restarting':
      return {
        phase: 'Pending',
        ready: 'False',
        reason: 'CrashLoopBackOff',
        message: `container exited with code ${c.exitCode}${c.oomKilled ? ' (OOM killed)' : ''}; the engine restarts it with back-off`,
      };
    case 'removing':
    case 'dead':
      return { phase: 'Pending', ready: 'False', reason: 'ContainerTransitioning', message: `container is ${c.state}` };
    case 'exited':
      break;
  }
  const policy = session.spec.restartPolicy ?? 'Always';
  const detail = `container exited with code ${c.exitCode}${c.oomKilled ? ' (OOM killed)' : ''}${c.error ? `: ${c.error}` : ''}`;
  if (policy === 'Never' || (policy === 'OnFailure' && c.exitCode === 0)) {
    return c.exitCode === 0
      ? { phase: 'Stopped', ready: 'True', reason: 'Completed', message: detail }
      : { phase: 'Failed', ready: 'False', reason: 'ContainerFailed', message: `${detail}; restartPolicy is ${policy}` };
  }
  const waiting = plan?.wait?.reason === 'CrashLoopBackOff';
  return { phase: 'Pending', ready: 'False', reason: waiting ? 'CrashLoopBackOff' : 'Restarting', message: plan?.wait?.message ?? detail };
}

function endpoints(c: ContainerDetails | undefined, session: Session): string[] {
  if (!c || c.state !== 'running') return [];
  const published = c.ports.map((p) => `${p.hostIP}:${p.hostPort}/${p.protocol}`);
  if (published.length > 0) return published;
  if (!c.ipAddress) return [];
  return (session.spec.ports ?? []).map((p) => `${c.ipAddress}:${p.containerPort}/${(p.protocol ?? 'TCP').toLowerCase()}`);
}

/** A refused version (policy, runtime) changes nothing: say what still runs, if anything. */
function refusedMessage(refused: NonNullable<Plan['stalled']>, container: ContainerDetails | undefined): string {
  if (!container) return refused.message;
  return `${refused.message} (the container of the last accepted version, ${container.id.slice(0, 12)}, keeps running as it was)`;
}

export function sessionStatus(input: StatusInput): SessionStatus {
  const { desired, previous, now } = input;
  let conditions: Condition[] = previous?.conditions ?? [];
  const generation = desired?.metadata.generation;
  const set = (type: string, status: ConditionStatus, reason: string, message: string): void => {
    conditions = setCondition(conditions, { type, status, reason, message, observedGeneration: generation }, now);
  };

  if (!desired) {
    // Only a problem with no valid version: nothing was touched.
    const problem = input.problem;
    set(STALLED, 'True', problem?.reason ?? 'InvalidSpec', problem?.message ?? 'invalid object');
    set(READY, 'False', problem?.reason ?? 'InvalidSpec', problem?.message ?? 'invalid object');
    set(RECONCILING, 'False', problem?.reason ?? 'InvalidSpec', 'waiting for a valid spec');
    return { ...previous, phase: previous?.phase ?? 'Pending', agent: input.agent, message: problem?.message ?? 'invalid object', conditions };
  }

  // An unreadable env file leaves the desired hash unknown: the running container is not known
  // to be outdated, only not yet checked.
  const precondition = input.plan?.wait && PRECONDITION_WAITS.has(input.plan.wait.reason) ? input.plan.wait : undefined;
  const upToDate = input.upToDate || precondition?.reason === 'EnvFileUnreadable';
  const summary = summarizeContainer(desired, input.container, upToDate, input.plan, input.probes);
  const failure = input.failure;
  const ready = failure ? 'False' : summary.ready;
  const reason = failure?.reason ?? summary.reason;
  const message = failure?.message ?? summary.message;
  set(READY, ready, reason, message);
  // A failed run under Never/OnFailure and a container paused by hand will not change by
  // themselves or by anything dockerlet does: that is Stalled, not Reconciling forever. Nor will
  // a Session the runtime refuses (plan.stalled) until it is changed.
  const refused = failure ? undefined : input.plan?.stalled;
  const stuck = !failure && (summary.phase === 'Failed' || summary.reason === 'Paused');
  const halt = refused ?? (stuck ? { reason, message } : undefined);
  const converged = (ready === 'True' && !input.plan?.wait) || halt !== undefined;
  const progress = !failure && precondition ? precondition : { reason, message };
  set(RECONCILING, converged ? 'False' : 'True', converged ? (halt?.reason ?? 'Converged') : progress.reason, converged ? (halt?.message ?? 'nothing to do') : progress.message);
  if (input.problem) set(STALLED, 'True', input.problem.reason, `${input.problem.message} (still running the last valid version)`);
  else if (refused) set(STALLED, 'True', refused.reason, refusedMessage(refused, input.container));
  else if (stuck) set(STALLED, 'True', reason, message);
  else set(STALLED, 'False', 'Reconciled', 'spec accepted');

  const status: SessionStatus = {
    phase: summary.phase,
    agent: input.agent,
    restartCount: input.restartCount,
    endpoints: endpoints(input.container, desired),
    message: input.problem ? `${message}; ${input.problem.message}` : refused ? refusedMessage(refused, input.container) : message,
    conditions,
  };
  if (input.container) status.containerID = input.container.id;
  // --runtime swarm: where the service's task runs, and how it is doing.
  const task = input.container?.task;
  if (task) {
    if (task.node) status.node = task.node;
    status.taskState = task.state;
    if (input.container?.state === 'running' && input.container.ipAddress) status.address = input.container.ipAddress;
  }
  if (input.container?.state === 'running' && input.container.startedAt) status.startedAt = input.container.startedAt;
  // observedGeneration moves only after a real success, and never for a refused newer version.
  const observed = !failure && !input.problem && !input.plan?.stalled ? generation : previous?.observedGeneration;
  if (observed !== undefined) status.observedGeneration = observed;
  return status;
}

/** Status of a Session being deleted while its container is removed (then the finalizer is released). */
export function terminatingStatus(input: { agent: string; previous?: SessionStatus; failure?: { reason: string; message: string }; now: Date }): SessionStatus {
  const { previous, failure, now } = input;
  const reason = failure?.reason ?? 'Terminating';
  const message = failure ? `removing the container failed: ${failure.message}` : 'Session is being deleted: removing its container';
  let conditions: Condition[] = previous?.conditions ?? [];
  conditions = setCondition(conditions, { type: READY, status: 'False', reason, message }, now);
  conditions = setCondition(conditions, { type: RECONCILING, status: 'True', reason, message }, now);
  const status: SessionStatus = { phase: 'Terminating', agent: input.agent, restartCount: previous?.restartCount ?? 0, endpoints: [], message, conditions };
  if (previous?.containerID) status.containerID = previous.containerID;
  if (previous?.observedGeneration !== undefined) status.observedGeneration = previous.observedGeneration;
  return status;
}

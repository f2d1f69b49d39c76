// Operations are what a plan is made of: each one engine call with the reason it is needed. The
// executor runs them in order and decides nothing.
import type { CreateContainerRequest, UpdateContainerRequest } from '../runtime/docker-runtime.ts';

/** Either a container that exists, or the one created earlier in the same plan. */
export type ContainerRef = { kind: 'existing'; id: string } | { kind: 'new' };

export type Operation =
  | { type: 'pull'; image: string; cause: string }
  | { type: 'create'; request: CreateContainerRequest; cause: string }
  /** `restart` marks the start of a container that exited, for crash-loop bookkeeping. */
  | { type: 'start'; container: ContainerRef; cause: string; restart?: true }
  /** `timeoutSeconds`: the Session's stopGracePeriodSeconds; absent, the agent's --stop-timeout. */
  | { type: 'stop'; container: ContainerRef; cause: string; timeoutSeconds?: number }
  | { type: 'update'; container: ContainerRef; changes: UpdateContainerRequest; cause: string }
  | { type: 'remove'; container: ContainerRef; cause: string }
  /** StartFirst: the new container takes over the Session's container name. */
  | { type: 'rename'; container: ContainerRef; name: string; cause: string };

export type OperationType = Operation['type'];

export const WAIT_REASONS = [
  'CrashLoopBackOff',
  'ErrImageNeverPull',
  'EngineRestarting',
  'ContainerTransitioning',
  'DeletionDeferred',
  'NetworkNotFound',
  'EnvFileUnreadable',
  'Progressing',
  'AwaitingBinding',
  'BindingsUnknown',
] as const;
export type WaitReason = (typeof WAIT_REASONS)[number];

/**
 * Waits on something outside the engine's containers (a network, a file): whatever runs keeps
 * running, and status names the wait rather than the container's state.
 */
export const PRECONDITION_WAITS: ReadonlySet<WaitReason> = new Set(['NetworkNotFound', 'EnvFileUnreadable', 'Progressing', 'BindingsUnknown']);

/** Nothing to do now, look again later; not an error. */
export interface Wait {
  delayMs: number;
  reason: WaitReason;
  message: string;
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

function describeRef(ref: ContainerRef): string {
  return ref.kind === 'new' ? '<new container>' : shortId(ref.id);
}

export function formatBytes(bytes: number): string {
  if (bytes === 0) return 'unlimited';
  const units = ['Ki', 'Mi', 'Gi', 'Ti'] as const;
  let value = bytes;
  let unit = '';
  for (const next of units) {
    if (value % 1024 !== 0) break;
    value /= 1024;
    unit = next;
  }
  return `${value}${unit}`;
}

export function formatNanoCpus(nanoCpus: number): string {
  return nanoCpus === 0 ? 'unlimited' : `${nanoCpus / 1e9}`;
}

/** One line per operation, stable text (golden tests and `dockerlet diff` print it). */
export function describeOperation(op: Operation): string {
  switch (op.type) {
    case 'pull':
      return `pull ${op.image}: ${op.cause}`;
    case 'create':
      return `create ${op.request.name} (image ${op.request.image}${op.request.imageId ? `, ID ${shortId(op.request.imageId.replace(/^sha256:/, ''))}` : ''}): ${op.cause}`;
    case 'stop':
      return `stop ${describeRef(op.container)}${op.timeoutSeconds !== undefined ? ` (grace ${op.timeoutSeconds} s)` : ''}: ${op.cause}`;
    case 'start':
    case 'remove':
      return `${op.type} ${describeRef(op.container)}: ${op.cause}`;
    case 'update':
      return `update ${describeRef(op.container)}: ${op.cause}`;
    case 'rename':
      return `rename ${describeRef(op.container)} to ${op.name}: ${op.cause}`;
  }
}

// Where a fleet keeps its bindings (README "Fleet"): which agent runs each Session, written by the
// one scheduler and read by every agent. Kubernetes keeps them in Session status (the status
// subresource, each write conditional on the resourceVersion the scheduler read); a YAML or Git
// store with --redis keeps them in a Redis hash, each write a compare-and-set script. A single
// agent with no shared status has no binding store at all: it runs every unpinned Session.
import type { Condition, ObjectKey, Session, SessionBinding } from '../../crds/types.ts';

/** The condition the scheduler owns on a Session; agents never write it. */
export const SCHEDULED = 'Scheduled' as const;

export interface BindingWrite {
  key: ObjectKey;
  /** The binding the decision was made from: the write fails if the stored one differs. */
  previous?: SessionBinding;
  next: SessionBinding;
  scheduled: Condition;
}

/** 'conflict': the stored binding (or object) changed since it was read; 'gone': the Session was deleted. */
export type BindResult = 'ok' | 'conflict' | 'gone';

/** What an agent reads: its own Sessions, and whether the answer is current. */
export interface BindingReader {
  get(key: ObjectKey): SessionBinding | undefined;
  /**
   * True while the bindings are known to be current (loaded, connection up). While false, `get`
   * answers from the last copy: an agent keeps what it runs and starts nothing new.
   */
  fresh(): boolean;
  /** Called with the key of every Session whose binding changed. */
  onChange(listener: (key: ObjectKey) => void): () => void;
}

/** What the scheduler writes through. */
export interface BindingStore extends BindingReader {
  list(): ReadonlyMap<ObjectKey, SessionBinding>;
  /** The Scheduled condition as stored, for the scheduler to write only what changed. */
  scheduled(key: ObjectKey): Condition | undefined;
  /** Conditional on `previous`; the new epoch must be greater than the previous one. */
  bind(write: BindingWrite): Promise<BindResult>;
  /** Drops the binding of a Session gone from the store (Redis); a no-op where it went with the object. */
  unbind(key: ObjectKey, previous: SessionBinding): Promise<BindResult>;
  /** The Scheduled condition alone (Unschedulable, or a message that changed); no binding change. */
  setScheduled(key: ObjectKey, condition: Condition): Promise<BindResult>;
  /** Reads the bindings once and starts following their changes (call before use). */
  start(): Promise<void>;
  /** Re-reads everything (a new scheduler leader, a periodic safety net). */
  reload(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The agents `dockerlet drain` was asked for (README "Fleet"): the scheduler takes no new Sessions
 * there and moves theirs off one at a time. Kept where the fleet's bindings are, not in the agent's
 * own record, so the agent's heartbeats never overwrite an operator's request.
 */
export interface DrainRequests {
  /** As last read. */
  requested(): ReadonlySet<string>;
  /** Reads the requests again (each scheduling pass that re-reads the agents). */
  reload(): Promise<void>;
}

/**
 * Whose Session it is, from this agent's point of view:
 * - mine: pinned here with spec.agent, bound here, or (no fleet) unpinned; bound here by the last
 *   copy of the bindings while they cannot be read: kept running, nothing created;
 * - elsewhere: pinned to or bound to another agent: this agent's copy, if any, must go;
 * - unbound: a fleet Session the scheduler has not bound yet: nobody runs it;
 * - unknown: the bindings cannot be read now and the last copy says nothing of this agent: keep
 *   whatever runs, start nothing.
 */
export type Ownership =
  | { kind: 'mine'; epoch?: number; /** False while the bindings cannot be read: keep, never create. */ mayCreate: boolean }
  | { kind: 'elsewhere'; agent: string; epoch?: number; pinned: boolean }
  | { kind: 'unbound' }
  | { kind: 'unknown' };

export function ownership(session: Session, agent: string, bindings: BindingReader | undefined, key: ObjectKey): Ownership {
  const pinned = session.spec.agent;
  if (pinned) return pinned === agent ? { kind: 'mine', mayCreate: true } : { kind: 'elsewhere', agent: pinned, pinned: true };
  if (!bindings) return { kind: 'mine', mayCreate: true };
  const binding = bindings.get(key);
  if (!bindings.fresh()) return binding?.agent === agent ? { kind: 'mine', epoch: binding.epoch, mayCreate: false } : { kind: 'unknown' };
  if (!binding) return { kind: 'unbound' };
  return binding.agent === agent
    ? { kind: 'mine', epoch: binding.epoch, mayCreate: true }
    : { kind: 'elsewhere', agent: binding.agent, epoch: binding.epoch, pinned: false };
}

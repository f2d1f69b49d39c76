// What the scheduler sees of agents and Sessions, and what a pass has bound to each agent so far:
// the inputs of place() and refusalOf(), in their own file so neither imports the other.
import type { AgentState, ObjectKey, SessionBinding } from '../../crds/types.ts';
import type { SessionRequest } from './allocation.ts';

export interface AgentView {
  name: string;
  /** As `get agents` shows it: Offline once the beat is older than the grace period. */
  state: AgentState;
  /** How long it has been Offline (beat age minus grace period); 0 while Online. */
  offlineForMs: number;
  labels: Readonly<Record<string, string>>;
  /** Undefined: unknown or unlimited. */
  capacity: { nanoCpus?: number; memoryBytes?: number; sessions?: number };
  /** spec.unschedulable or --cordon: no new bindings. */
  cordoned: boolean;
  /** dockerlet drain: cordoned, and its Sessions move off one at a time. */
  draining: boolean;
}

export interface SessionView {
  key: ObjectKey;
  namespace: string;
  /** spec.agent. */
  pinned?: string;
  /** spec.agentSelector.matchLabels. */
  selector?: Readonly<Record<string, string>>;
  request: SessionRequest;
  binding?: SessionBinding;
}

/** What is bound to an agent so far in a pass. */
export interface AgentLoad {
  nanoCpus: number;
  memoryBytes: number;
  sessions: number;
  byNamespace: Map<string, number>;
}

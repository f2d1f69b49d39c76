// What a scheduling pass sees, built from the stores: the fleet's agents (their records, judged by
// heartbeat age on the scheduler's clock) and its Sessions (with their bindings). Pure.
import type { AgentStatus, ObjectKey, Session, SessionBinding } from '../../crds/types.ts';
import { DEFAULT_NAMESPACE } from '../../crds/types.ts';
import { heartbeatAgeMs } from '../agent/record.ts';
import { sessionRequest } from './allocation.ts';
import type { AgentView, SessionView } from './views.ts';

export interface FleetViewInput {
  fleet: string;
  /** Every agent record the shared store holds (other fleets' too). */
  records: ReadonlyMap<string, AgentStatus>;
  sessions: readonly { key: ObjectKey; object: Session }[];
  binding: (key: ObjectKey) => SessionBinding | undefined;
  draining: ReadonlySet<string>;
  now: number;
  livenessGraceMs: number;
}

export interface FleetView {
  agents: AgentView[];
  sessions: SessionView[];
  /** Sessions bound to an agent of another fleet: not this scheduler's to move. */
  foreign: number;
}

export function fleetView(input: FleetViewInput): FleetView {
  const agents: AgentView[] = [];
  const others = new Set<string>();
  for (const [name, record] of input.records) {
    if (record.fleet !== input.fleet) {
      others.add(name);
      continue;
    }
    agents.push(agentView(name, record, input));
  }
  const sessions: SessionView[] = [];
  let foreign = 0;
  for (const { key, object } of input.sessions) {
    const binding = input.binding(key);
    if (binding && others.has(binding.agent)) {
      foreign += 1;
      continue;
    }
    const view: SessionView = { key, namespace: object.metadata.namespace ?? DEFAULT_NAMESPACE, request: sessionRequest(object) };
    if (object.spec.agent) view.pinned = object.spec.agent;
    const selector = object.spec.agentSelector?.matchLabels;
    if (selector && Object.keys(selector).length > 0) view.selector = selector;
    if (binding) view.binding = binding;
    sessions.push(view);
  }
  return { agents, sessions, foreign };
}

function agentView(name: string, record: AgentStatus, input: FleetViewInput): AgentView {
  // From the beat's age alone (DESIGN: Offline is derived only from heartbeat age): the stored state
  // may not have been written by anyone yet when the only agent to write it is the one that died.
  const age = heartbeatAgeMs(record, input.now);
  const online = age <= input.livenessGraceMs;
  const capacity: AgentView['capacity'] = {};
  if (record.capacity?.cpus !== undefined) capacity.nanoCpus = record.capacity.cpus * 1e9;
  if (record.capacity?.memoryBytes !== undefined) capacity.memoryBytes = record.capacity.memoryBytes;
  if (record.capacity?.sessions !== undefined) capacity.sessions = record.capacity.sessions;
  const draining = input.draining.has(name);
  return {
    name,
    state: online ? 'Online' : 'Offline',
    offlineForMs: online ? 0 : Math.max(0, age - input.livenessGraceMs),
    labels: record.labels ?? {},
    capacity,
    cordoned: record.unschedulable === true || draining,
    draining,
  };
}

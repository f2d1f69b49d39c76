// The agent's own record: on every beat it says it is Online, when, who leads, on which engine,
// and how many Sessions it runs. Offline is never written by a beat; the liveness controller
// derives it from the beat's age (FIELD-NOTES row 4: a beat that did not set state left an agent
// stuck Offline after a restart).
import type { Logger } from 'pino';
import type { AgentAllocated, AgentSource, AgentStatus } from '../../crds/types.ts';
import type { StatusStore } from '../../reconciler/store.ts';
import type { Clock } from '../../reconciler/clock.ts';
import { getCondition, READY, setCondition } from '../../reconciler/conditions.ts';
import type { EngineInfo } from '../runtime/docker-runtime.ts';
import { AGENT_READY_REASONS, writeAgentRecord } from './record.ts';

export interface HeartbeatOptions {
  agentName: string;
  /** This replica's identity (leader, when leader election is on). */
  identity: string;
  store: StatusStore<AgentStatus>;
  engine: () => EngineInfo | undefined;
  activeSessions: () => number;
  intervalMs: number;
  clock: Clock;
  logger: Logger;
  signal: AbortSignal;
  /** The fencing token of the current lease; undefined without leader election. */
  token?: () => number | undefined;
  /** Identities of the replicas seen (this one included or not; it is added). Default: just this one. */
  replicas?: () => string[];
  /** The desired-state source's progress (Git stores: revision applied, last error). */
  source?: () => AgentSource | undefined;
  /** What the scheduler places by (README "Fleet"): --agent-labels, --max-sessions, --cordon, and what is bound here. */
  placement?: PlacementReport;
}

export interface PlacementReport {
  labels: Record<string, string>;
  maxSessions?: number;
  cordoned: boolean;
  /** The fleet (shared store and scheduler) this agent is one of; absent for a single agent. */
  fleet?: string;
  /** The Sessions bound (or pinned) to this agent, and the sum of their limits. */
  allocated: () => AgentAllocated;
}

/** The fields a beat owns. Everything else in the record (conditions of other owners) is kept. */
type OwnedFields = Pick<
  AgentStatus,
  'state' | 'lastHeartbeatTime' | 'leader' | 'fencingToken' | 'replicas' | 'engineVersion' | 'capacity' | 'activeSessions' | 'source' | 'labels' | 'allocated' | 'unschedulable' | 'fleet'
>;

/**
 * The record after one beat, built on the stored one (`previous`): a read-modify-write, so
 * conditions and fields this code does not know survive. Pure apart from calling the option getters.
 */
export function agentStatus(options: HeartbeatOptions, previous?: AgentStatus): AgentStatus {
  const now = new Date(options.clock.now());
  const engine = options.engine();
  const token = options.token?.();
  const source = options.source?.();
  const owned: OwnedFields = {
    state: 'Online',
    // Always an RFC 3339 string (FIELD-NOTES row 3); writeAgentRecord checks it again.
    lastHeartbeatTime: now.toISOString(),
    leader: options.identity,
    replicas: [...new Set([options.identity, ...(options.replicas?.() ?? [])])].sort(),
    activeSessions: options.activeSessions(),
  };
  // Without a lease there is no token; a predecessor's would be a lie.
  if (token !== undefined) owned.fencingToken = token;
  if (source !== undefined) owned.source = source;
  const placement = options.placement;
  // An engine not (yet) reachable says nothing new about it: the last known values stay.
  if (engine) {
    owned.engineVersion = engine.version;
    owned.capacity = { cpus: engine.cpus, memoryBytes: engine.memoryBytes };
  }
  const sessionsCap = placement?.maxSessions;
  if (sessionsCap !== undefined) owned.capacity = { ...(owned.capacity ?? previous?.capacity), sessions: sessionsCap };
  else if (!engine && previous?.capacity) {
    // A cap from an earlier run with --max-sessions is not this run's.
    const { sessions: _cap, ...capacity } = previous.capacity;
    owned.capacity = capacity;
  }
  if (placement) {
    if (Object.keys(placement.labels).length > 0) owned.labels = { ...placement.labels };
    owned.allocated = placement.allocated();
    if (placement.cordoned) owned.unschedulable = true;
    if (placement.fleet !== undefined) owned.fleet = placement.fleet;
  }
  // What this run does not report (a Git store's source, labels, a cordon) must not linger from an earlier one.
  const { fencingToken: _dropped, source: _previousSource, labels: _labels, unschedulable: _cordon, fleet: _fleet, ...kept } = previous ?? {};
  const next: AgentStatus = { ...kept, ...owned };
  const conditions = readyAfterBeat(previous?.conditions, options.intervalMs, now);
  if (conditions !== undefined) next.conditions = conditions;
  return next;
}

/**
 * Ready=True/HeartbeatReceived, replacing liveness's Ready=False/HeartbeatMissed or setting it on a
 * record that has none. A Ready condition with any other reason belongs to someone else and stays.
 */
function readyAfterBeat(conditions: AgentStatus['conditions'], intervalMs: number, now: Date): AgentStatus['conditions'] {
  const ready = getCondition(conditions, READY);
  const ours: readonly string[] = Object.values(AGENT_READY_REASONS);
  if (ready !== undefined && !ours.includes(ready.reason)) return conditions;
  // A constant message: a per-beat one would rewrite the condition on every beat for nothing.
  const message = `heartbeats arrive every ${Math.round(intervalMs / 1000)}s`;
  return setCondition(conditions, { type: READY, status: 'True', reason: AGENT_READY_REASONS.received, message }, now);
}

/** One beat: read the stored record, apply the beat, write it back (checked for wire format). */
export function beat(options: HeartbeatOptions): Promise<void> {
  // Read and write with no await between them, so a liveness reconcile cannot interleave.
  const next = agentStatus(options, options.store.get(options.agentName));
  return writeAgentRecord(options.store, options.agentName, next);
}

/** Beats now and every interval until the signal aborts. */
export function startHeartbeat(options: HeartbeatOptions): void {
  let timer: unknown;
  options.signal.addEventListener('abort', () => options.clock.clearTimeout(timer), { once: true });
  const tick = (): void => {
    if (options.signal.aborted) return;
    let write: Promise<void>;
    try {
      write = beat(options);
    } catch (error) {
      // A record that fails the wire check throws before it is written: a failed beat like any other.
      write = Promise.reject(error);
    }
    write
      .catch((error: unknown) => options.logger.warn({ err: error }, 'heartbeat write failed'))
      .finally(() => {
        if (!options.signal.aborted) timer = options.clock.setTimeout(tick, options.intervalMs);
      });
  };
  tick();
}

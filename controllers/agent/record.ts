// The Agent record as it goes on the wire and into status. FIELD-NOTES row 3: a control plane
// rejected every heartbeat because a timestamp was not a JSON string. Every write of an agent
// record goes through `writeAgentRecord`, which refuses such a record before it leaves the process.
import type { AgentState, AgentStatus, Condition } from '../../crds/types.ts';
import { AGENT_STATES } from '../../crds/types.ts';
import type { StatusStore } from '../../reconciler/store.ts';

/** How often the leader beats unless configured otherwise (agent/config.ts: --heartbeat-interval). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;
/** An agent is Offline after this many missed beats (DESIGN: High availability). */
export const MISSED_BEATS_OFFLINE = 3;
export const DEFAULT_GRACE_PERIOD_MS = MISSED_BEATS_OFFLINE * DEFAULT_HEARTBEAT_INTERVAL_MS;

/** Ready condition reasons on an Agent. Only heartbeats set Ready=True; only liveness sets False. */
export const AGENT_READY_REASONS = { received: 'HeartbeatReceived', missed: 'HeartbeatMissed' } as const;
export type AgentReadyReason = (typeof AGENT_READY_REASONS)[keyof typeof AGENT_READY_REASONS];

// RFC 3339 section 5.6 date-time: a "T" separator, seconds required, a zone required. Date.parse
// alone is not enough: it takes "1 Jan 2026", and rolls 2026-02-30 over into March.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

export function isRfc3339(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const match = RFC3339.exec(value);
  if (!match) return false;
  const [year, month, day, hour, minute, second, offsetHour, offsetMinute] = match.slice(1).map((part) => Number(part ?? 0));
  // Date.UTC(y, m, 0) is the last day of month m (1-based m): 28, 29, 30 or 31.
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  // Leap seconds (:60) are valid RFC 3339, but JavaScript cannot represent them and nothing here writes one.
  const inRange = month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth && hour! <= 23 && minute! <= 59 && second! <= 59;
  return inRange && offsetHour! <= 23 && offsetMinute! <= 59 && !Number.isNaN(Date.parse(value));
}

/** Thrown when an agent record would go out (or came in) in a shape the CRD rejects. */
export class AgentRecordError extends TypeError {
  override readonly name = 'AgentRecordError';
}

/**
 * Throws AgentRecordError unless every timestamp is an RFC 3339 string and `state` is one of the
 * enum values. Checks the runtime value, not the type: a Date or epoch number slips past `as`
 * casts and JSON.stringify, and only the receiving end would notice.
 */
export function assertAgentStatusWire(status: AgentStatus): void {
  const record: unknown = status;
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new AgentRecordError(`agent status must be an object, got ${describe(record)}`);
  }
  const { state, lastHeartbeatTime, conditions } = record as Record<string, unknown>;
  if (state !== undefined && !(AGENT_STATES as readonly unknown[]).includes(state)) {
    throw new AgentRecordError(`status.state must be one of ${AGENT_STATES.join(', ')}, got ${describe(state)}`);
  }
  if (lastHeartbeatTime !== undefined && !isRfc3339(lastHeartbeatTime)) {
    throw new AgentRecordError(`status.lastHeartbeatTime must be an RFC 3339 string, got ${describe(lastHeartbeatTime)}`);
  }
  if (conditions === undefined) return;
  if (!Array.isArray(conditions)) throw new AgentRecordError(`status.conditions must be an array, got ${describe(conditions)}`);
  conditions.forEach((condition: unknown, i) => {
    const time = (condition as Partial<Condition> | null)?.lastTransitionTime;
    if (!isRfc3339(time)) {
      throw new AgentRecordError(`status.conditions[${i}].lastTransitionTime must be an RFC 3339 string, got ${describe(time)}`);
    }
  });
}

/** Decoder for status stores: a stored value that is not a valid agent record is refused. */
export function parseAgentStatus(value: unknown): AgentStatus {
  assertAgentStatusWire(value as AgentStatus);
  return value as AgentStatus;
}

/** The one way an agent record is written: checked first, so a bad record never reaches the store. */
export function writeAgentRecord(store: StatusStore<AgentStatus>, agentName: string, status: AgentStatus): Promise<void> {
  assertAgentStatusWire(status);
  return store.write(agentName, status);
}

/** Milliseconds since the last beat; Infinity when there never was one (or it does not parse). */
export function heartbeatAgeMs(status: AgentStatus | undefined, now: number): number {
  const beat = status?.lastHeartbeatTime === undefined ? Number.NaN : Date.parse(status.lastHeartbeatTime);
  return Number.isNaN(beat) ? Number.POSITIVE_INFINITY : now - beat;
}

/**
 * The state to show: the stored one, except that a record whose beat is older than the grace
 * period is Offline even if nobody wrote that yet (the only agent may be the one that is down).
 * A record that is fresh but says nothing is Offline too: Online is only ever claimed by a beat.
 */
export function effectiveAgentState(status: AgentStatus | undefined, now: number, gracePeriodMs: number): AgentState {
  if (heartbeatAgeMs(status, now) > gracePeriodMs) return 'Offline';
  return status?.state ?? 'Offline';
}

function describe(value: unknown): string {
  if (value instanceof Date) return `a Date (${Number.isNaN(value.getTime()) ? 'invalid' : value.toISOString()})`;
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  return `a ${Array.isArray(value) ? 'array' : typeof value}${typeof value === 'number' ? ` (${value})` : ''}`;
}

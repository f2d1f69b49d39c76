// Heartbeats: every beat says Online with an RFC 3339 string time (FIELD-NOTES rows 3 and 4),
// keeps what it does not own, and clears liveness's HeartbeatMissed. The wire guard refuses
// records that a control plane would reject.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AgentStatus, Condition } from '../../crds/types.ts';
import { getCondition } from '../../reconciler/conditions.ts';
import { FakeClock } from '../../reconciler/fake-clock.ts';
import { MemoryStatusStore } from '../../test/support/memory-stores.ts';
import { AgentRecordError, assertAgentStatusWire, effectiveAgentState, isRfc3339, parseAgentStatus, writeAgentRecord } from './record.ts';
import { agentStatus, beat, startHeartbeat } from './heartbeat.ts';
import type { HeartbeatOptions } from './heartbeat.ts';

const START = Date.parse('2026-01-01T00:00:00Z');
const ENGINE = { version: '27.5.1', apiVersion: '1.47', os: 'linux', arch: 'amd64', cpus: 4, memoryBytes: 8 << 30 };
const at = (ms: number): string => new Date(ms).toISOString();

function options(overrides: Partial<HeartbeatOptions> = {}): HeartbeatOptions & { store: MemoryStatusStore<AgentStatus>; clock: FakeClock } {
  return {
    agentName: 'host-a',
    identity: 'replica-2',
    store: new MemoryStatusStore<AgentStatus>(),
    engine: () => ENGINE,
    activeSessions: () => 3,
    intervalMs: 5_000,
    clock: new FakeClock(START),
    logger: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    token: () => 7,
    replicas: () => ['replica-3', 'replica-1'],
    ...overrides,
  } as HeartbeatOptions & { store: MemoryStatusStore<AgentStatus>; clock: FakeClock };
}

describe('heartbeat', () => {
  it('writes Online, the time as an RFC 3339 string, leader, token, replicas, engine and sessions', async () => {
    const o = options();
    await beat(o);
    const record = o.store.get('host-a')!;
    expect(record).toEqual({
      state: 'Online',
      lastHeartbeatTime: '2026-01-01T00:00:00.000Z',
      leader: 'replica-2',
      fencingToken: 7,
      replicas: ['replica-1', 'replica-2', 'replica-3'],
      engineVersion: '27.5.1',
      capacity: { cpus: 4, memoryBytes: 8 << 30 },
      activeSessions: 3,
      conditions: [{ type: 'Ready', status: 'True', reason: 'HeartbeatReceived', message: 'heartbeats arrive every 5s', lastTransitionTime: at(START) }],
    });
    expect(typeof record.lastHeartbeatTime).toBe('string');
    expect(isRfc3339(record.lastHeartbeatTime)).toBe(true);
  });

  it('reports labels, the session cap, what is bound here and a cordon; a later run without them drops them', async () => {
    const allocated = { nanoCpus: 1_500_000_000, memoryBytes: 3 << 29, sessions: 3 };
    const o = options({ placement: { labels: { zone: 'a', gpu: 'true' }, maxSessions: 10, cordoned: true, allocated: () => allocated } });
    await beat(o);
    expect(o.store.get('host-a')).toMatchObject({
      labels: { zone: 'a', gpu: 'true' },
      capacity: { cpus: 4, memoryBytes: 8 << 30, sessions: 10 },
      allocated,
      unschedulable: true,
    });
    // Restarted without --agent-labels, --max-sessions and --cordon, engine not reachable yet.
    await beat(options({ store: o.store, engine: () => undefined, placement: { labels: {}, cordoned: false, allocated: () => ({ nanoCpus: 0, memoryBytes: 0, sessions: 0 }) } }));
    const record = o.store.get('host-a')!;
    expect(record.labels).toBeUndefined();
    expect(record.unschedulable).toBeUndefined();
    expect(record.capacity).toEqual({ cpus: 4, memoryBytes: 8 << 30 });
    expect(record.allocated).toEqual({ nanoCpus: 0, memoryBytes: 0, sessions: 0 });
  });

  it("writes the store's source report on every beat, and drops a stale one when there is none", async () => {
    const source = { kind: 'git' as const, url: 'file:///srv/s.git', path: 's', lastAppliedRevision: 'abc123', lastFetchTime: at(START) };
    const o = options({ source: () => source });
    await beat(o);
    expect(o.store.get('host-a')?.source).toEqual(source);
    // The same agent restarted on a directory store: a Git report from before would be a lie.
    await beat(options({ store: o.store }));
    expect(o.store.get('host-a')?.source).toBeUndefined();
  });

  it('keeps what it does not own and replaces HeartbeatMissed with HeartbeatReceived', async () => {
    const o = options({ engine: () => undefined, token: () => undefined });
    const other: Condition = { type: 'EngineReachable', status: 'False', reason: 'Timeout', lastTransitionTime: at(START - 9_000) };
    o.store.seed('host-a', {
      state: 'Offline',
      lastHeartbeatTime: at(START - 60_000),
      leader: 'replica-1',
      fencingToken: 6,
      engineVersion: '27.0.0',
      capacity: { cpus: 2 },
      conditions: [
        other,
        { type: 'Ready', status: 'False', reason: 'HeartbeatMissed', message: 'no heartbeat for 45s', lastTransitionTime: at(START - 30_000) },
      ],
      ...({ futureField: 'kept' } as object),
    });
    await beat(o);
    const record = o.store.get('host-a')!;
    expect(record.state).toBe('Online');
    expect(record.leader).toBe('replica-2');
    // No lease, no token: the predecessor's would claim a term this replica does not hold.
    expect(record.fencingToken).toBeUndefined();
    // Engine unknown right now: the last known version and capacity stay.
    expect(record.engineVersion).toBe('27.0.0');
    expect(record.capacity).toEqual({ cpus: 2 });
    expect((record as Record<string, unknown>)['futureField']).toBe('kept');
    expect(getCondition(record.conditions, 'EngineReachable')).toEqual(other);
    expect(getCondition(record.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'HeartbeatReceived', lastTransitionTime: at(START) });
  });

  it('does not touch the lastTransitionTime of Ready on later beats, nor a Ready owned by someone else', () => {
    const o = options();
    const first = agentStatus(o);
    o.clock.advance(5_000);
    expect(getCondition(agentStatus(o, first).conditions, 'Ready')?.lastTransitionTime).toBe(at(START));

    const foreign: Condition = { type: 'Ready', status: 'False', reason: 'EngineUnreachable', lastTransitionTime: at(START) };
    expect(getCondition(agentStatus(o, { conditions: [foreign] }).conditions, 'Ready')).toEqual(foreign);
  });

  it('beats immediately and then every interval until the signal aborts', async () => {
    const stop = new AbortController();
    const o = options({ signal: stop.signal });
    startHeartbeat(o);
    expect(o.store.writes).toBe(1);
    await o.clock.advanceAsync(20_000);
    expect(o.store.writes).toBe(5);
    expect(o.store.get('host-a')?.lastHeartbeatTime).toBe(at(START + 20_000));
    stop.abort();
    await o.clock.advanceAsync(20_000);
    expect(o.store.writes).toBe(5);
  });

  it('keeps beating after a failed write', async () => {
    const stop = new AbortController();
    const o = options({ signal: stop.signal });
    let fail = true;
    const write = o.store.write.bind(o.store);
    o.store.write = async (key, status) => {
      if (fail) throw new Error('store down');
      return write(key, status);
    };
    startHeartbeat(o);
    await o.clock.advanceAsync(0);
    fail = false;
    await o.clock.advanceAsync(5_000);
    expect(o.store.get('host-a')?.state).toBe('Online');
    stop.abort();
  });
});

describe('agent record wire format', () => {
  it('accepts RFC 3339 strings, with Z or an offset, with or without fractions', () => {
    for (const time of ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.123456Z', '2026-01-01t01:00:00+01:00']) {
      expect(isRfc3339(time), time).toBe(true);
      expect(() => assertAgentStatusWire({ state: 'Online', lastHeartbeatTime: time })).not.toThrow();
    }
  });

  it('refuses a Date, an epoch number, and strings Date.parse would take but RFC 3339 does not', () => {
    const bad: unknown[] = [new Date(START), START, '1 Jan 2026', '2026-01-01', '2026-01-01T00:00:00', '2026-02-30T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:00+25:00', ''];
    for (const time of bad) {
      expect(() => assertAgentStatusWire({ lastHeartbeatTime: time as string }), String(time)).toThrow(AgentRecordError);
    }
    expect(() => assertAgentStatusWire({ lastHeartbeatTime: new Date(START) as unknown as string })).toThrow(
      /lastHeartbeatTime must be an RFC 3339 string, got a Date/,
    );
  });

  it('checks condition times and the state enum too', () => {
    const condition = { type: 'Ready', status: 'True', reason: 'HeartbeatReceived', lastTransitionTime: START } as unknown as Condition;
    expect(() => assertAgentStatusWire({ conditions: [condition] })).toThrow(/conditions\[0\]\.lastTransitionTime/);
    expect(() => assertAgentStatusWire({ state: 'online' as AgentStatus['state'] })).toThrow(/status\.state/);
    expect(() => parseAgentStatus(null)).toThrow(AgentRecordError);
  });

  it('writeAgentRecord refuses a bad record before it reaches the store', async () => {
    const store = new MemoryStatusStore<AgentStatus>();
    expect(() => writeAgentRecord(store, 'host-a', { lastHeartbeatTime: START as unknown as string })).toThrow(AgentRecordError);
    expect(store.writes).toBe(0);
  });

  it('derives Offline from the beat age, and never claims Online without a fresh beat', () => {
    const grace = 15_000;
    expect(effectiveAgentState({ state: 'Online', lastHeartbeatTime: at(START) }, START + grace, grace)).toBe('Online');
    expect(effectiveAgentState({ state: 'Online', lastHeartbeatTime: at(START) }, START + grace + 1, grace)).toBe('Offline');
    expect(effectiveAgentState({ state: 'Online' }, START, grace)).toBe('Offline');
    expect(effectiveAgentState({ lastHeartbeatTime: at(START) }, START, grace)).toBe('Offline');
    expect(effectiveAgentState(undefined, START, grace)).toBe('Offline');
  });
});

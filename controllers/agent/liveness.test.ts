// The liveness controller with a FakeClock and an in-memory agent store: Offline is derived from
// the beat's age only, a new leader waits one grace period, and only heartbeats write Online.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../crds/types.ts';
import { beat, startHeartbeat } from './heartbeat.ts';
import type { HeartbeatOptions } from './heartbeat.ts';
import { getCondition } from '../../reconciler/conditions.ts';
import type { ReconcileContext } from '../../reconciler/controller.ts';
import type { ReconcileResult } from '../../reconciler/errors.ts';
import { FakeClock } from '../../reconciler/fake-clock.ts';
import { MemoryStatusStore } from '../../test/support/memory-stores.ts';
import { createLivenessController, createLivenessReconciler, enqueueAgents } from './liveness.ts';

const AGENT = 'host-a';
const START = Date.parse('2026-01-01T00:00:00Z');
const GRACE = 15_000;
const BEAT = 5_000;
const logger = pino({ level: 'silent' });
const context: ReconcileContext = { log: logger, reconcileId: 'test' };

function onlineAt(ms: number, extra: Partial<AgentStatus> = {}): AgentStatus {
  return { state: 'Online', lastHeartbeatTime: new Date(ms).toISOString(), leader: 'replica-1', activeSessions: 2, ...extra };
}

function harness(options: { leaderSince?: number } = {}) {
  const clock = new FakeClock(START);
  const store = new MemoryStatusStore<AgentStatus>();
  const reconcileFn = createLivenessReconciler({ store, clock, logger, gracePeriodMs: GRACE, startedAt: options.leaderSince ?? START - 60_000 });
  const reconcile = async (name = AGENT): Promise<ReconcileResult> =>
    (await reconcileFn(name, new AbortController().signal, context)) ?? {};
  const heartbeat = (signal = new AbortController().signal): HeartbeatOptions => ({
    agentName: AGENT,
    identity: 'replica-1',
    store,
    engine: () => ({ version: '27.5.1', apiVersion: '1.47', os: 'linux', arch: 'amd64', cpus: 4, memoryBytes: 8 << 30 }),
    activeSessions: () => 2,
    intervalMs: BEAT,
    clock,
    logger,
    signal,
  });
  return { clock, store, reconcile, heartbeat };
}

const offlineWrites = (store: MemoryStatusStore<AgentStatus>) => store.history.filter((h) => h.status.state === 'Offline');

describe('agent liveness', () => {
  it('marks a stale agent Offline once its beat is older than the grace period, not before', async () => {
    const { clock, store, reconcile } = harness();
    store.seed(AGENT, onlineAt(START, { conditions: [{ type: 'EngineReachable', status: 'True', reason: 'Pinged', lastTransitionTime: new Date(START).toISOString() }] }));

    clock.advance(10_000);
    expect(await reconcile()).toEqual({ requeueAfterMs: 5_001 });
    clock.advance(5_000);
    expect(await reconcile()).toEqual({ requeueAfterMs: 1 }); // exactly the grace period: not yet
    expect(store.writes).toBe(0);

    clock.advance(1);
    expect(await reconcile()).toEqual({ requeueAfterMs: GRACE });
    const record = store.get(AGENT)!;
    expect(record.state).toBe('Offline');
    expect(getCondition(record.conditions, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'HeartbeatMissed',
      message: 'no heartbeat for 15s (grace period 15s)',
      lastTransitionTime: new Date(START + GRACE + 1).toISOString(),
    });
    // What it does not own is kept: the beat's time, leader, other conditions.
    expect(record.lastHeartbeatTime).toBe(new Date(START).toISOString());
    expect(record.leader).toBe('replica-1');
    expect(getCondition(record.conditions, 'EngineReachable')?.status).toBe('True');
  });

  it('does not rewrite an agent it already marked Offline', async () => {
    const { clock, store, reconcile } = harness();
    store.seed(AGENT, onlineAt(START));
    clock.advance(GRACE + 1);
    await reconcile();
    clock.advance(60_000);
    expect(await reconcile()).toEqual({ requeueAfterMs: GRACE });
    expect(store.writes).toBe(1);
  });

  it('keeps an agent Online while beats arrive, run by the Controller for two minutes', async () => {
    const { clock, store, heartbeat } = harness();
    const stop = new AbortController();
    startHeartbeat(heartbeat(stop.signal));
    const controller = createLivenessController({ store, clock, logger, gracePeriodMs: GRACE, startedAt: START - 60_000 });
    controller.start();
    expect(enqueueAgents(controller, store)).toBe(1);
    await clock.advanceAsync(120_000);

    expect(store.get(AGENT)?.state).toBe('Online');
    expect(offlineWrites(store)).toEqual([]);
    expect(store.writes).toBe(120_000 / BEAT + 1); // only heartbeats wrote
    stop.abort();
    await controller.stop();
  });

  it('after taking over, waits one grace period before marking anyone Offline', async () => {
    // The standby's copy says the last beat was a minute ago: it may just not have seen newer ones.
    const { clock, store, reconcile } = harness({ leaderSince: START });
    store.seed(AGENT, onlineAt(START - 60_000));

    expect(await reconcile()).toEqual({ requeueAfterMs: GRACE });
    clock.advance(GRACE - 1);
    expect(await reconcile()).toEqual({ requeueAfterMs: 1 });
    expect(store.writes).toBe(0);

    clock.advance(1);
    await reconcile();
    expect(store.get(AGENT)?.state).toBe('Offline');
  });

  it('after taking over, an agent that beats during the wait is never marked Offline', async () => {
    const { clock, store, reconcile, heartbeat } = harness({ leaderSince: START });
    store.seed(AGENT, onlineAt(START - 60_000));
    expect(await reconcile()).toEqual({ requeueAfterMs: GRACE });
    clock.advance(3_000);
    await beat(heartbeat());
    clock.advance(GRACE - 3_000);
    expect(await reconcile()).toEqual({ requeueAfterMs: 3_001 });
    expect(offlineWrites(store)).toEqual([]);
  });

  it('a beat after Offline sets Online (the heartbeat path) and liveness keeps it', async () => {
    const { clock, store, reconcile, heartbeat } = harness();
    store.seed(AGENT, onlineAt(START));
    clock.advance(GRACE + 1);
    await reconcile();
    expect(store.get(AGENT)?.state).toBe('Offline');

    clock.advance(20_000);
    await beat(heartbeat());
    const back = store.get(AGENT)!;
    expect(back.state).toBe('Online');
    expect(getCondition(back.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'HeartbeatReceived' });

    const writes = store.writes;
    clock.advance(1_000);
    expect(await reconcile()).toEqual({ requeueAfterMs: GRACE - 1_000 + 1 });
    expect(store.writes).toBe(writes);
    expect(store.get(AGENT)?.state).toBe('Online');
  });

  it('never writes Online: a fresh record that says Offline stays as it is until a beat', async () => {
    const { clock, store, reconcile } = harness();
    store.seed(AGENT, { ...onlineAt(START), state: 'Offline' });
    clock.advance(1_000);
    expect(await reconcile()).toEqual({ requeueAfterMs: GRACE - 1_000 + 1 });
    expect(store.writes).toBe(0);
    expect(store.get(AGENT)?.state).toBe('Offline');
  });

  it('marks a record that never beat Offline, and leaves a missing record alone', async () => {
    const { store, reconcile } = harness();
    store.seed(AGENT, { state: 'Online' });
    await reconcile();
    expect(store.get(AGENT)?.state).toBe('Offline');
    expect(getCondition(store.get(AGENT)?.conditions, 'Ready')?.message).toBe('no heartbeat recorded');

    expect(await reconcile('gone')).toEqual({});
    expect(store.get('gone')).toBeUndefined();
  });

  it('counts a beat stamped in the future as fresh, and looks again within one grace period', async () => {
    const { store, reconcile } = harness();
    store.seed(AGENT, onlineAt(START + 3_600_000));
    expect(await reconcile()).toEqual({ requeueAfterMs: GRACE + 1 });
    expect(store.writes).toBe(0);
  });

  it('end to end: Offline within grace + one check after the agent stops, Online within one beat of its return', async () => {
    const { clock, store, heartbeat } = harness();
    let stop = new AbortController();
    startHeartbeat(heartbeat(stop.signal));
    const controller = createLivenessController({ store, clock, logger, gracePeriodMs: GRACE, startedAt: START - 60_000 });
    controller.start();
    enqueueAgents(controller, store);
    await clock.advanceAsync(30_000);

    stop.abort(); // the last beat was at START + 30 s
    const lastBeat = START + 30_000;
    await clock.advanceAsync(GRACE);
    expect(store.get(AGENT)?.state).toBe('Online');
    await clock.advanceAsync(1);
    expect(store.get(AGENT)?.state).toBe('Offline');
    expect(offlineWrites(store)).toHaveLength(1);
    expect(clock.now() - lastBeat).toBe(GRACE + 1);

    await clock.advanceAsync(40_000);
    stop = new AbortController();
    startHeartbeat(heartbeat(stop.signal)); // the agent restarts: its first beat is immediate
    await clock.advanceAsync(0);
    expect(store.get(AGENT)?.state).toBe('Online');
    await clock.advanceAsync(60_000);
    expect(store.get(AGENT)?.state).toBe('Online');
    expect(offlineWrites(store)).toHaveLength(1);
    stop.abort();
    await controller.stop();
  });

  it('refuses a grace period that is not positive', () => {
    const { store, clock } = harness();
    expect(() => createLivenessReconciler({ store, clock, logger, gracePeriodMs: 0, startedAt: START })).toThrow(RangeError);
  });
});

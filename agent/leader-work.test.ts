// Stepping down with work in flight, above the runtime boundary: the leader's work with the real
// controllers, reconciler and cache, a fake engine and in-memory stores. After the leadership
// signal aborts no engine write is sent, and `stopped` (what the elector waits for before it
// releases the lease) resolves only once the reconciles in flight have really ended.
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Registry } from 'prom-client';
import { API_VERSION } from '../crds/types.ts';
import type { AgentStatus, Session, SessionSpec, SessionStatus } from '../crds/types.ts';
import { ContainerCache } from '../controllers/session/container-cache.ts';
import { ownedBy } from '../controllers/session/labels.ts';
import { LeadershipEndedError } from '../reconciler/leader-elector.ts';
import { FencedError } from '../reconciler/errors.ts';
import { createReconcilerMetrics } from '../reconciler/metrics.ts';
import { eventually } from '../test/support/eventually.ts';
import { FakeDockerRuntime, WRITE_OPS } from '../test/support/fake-runtime.ts';
import type { CallRecord } from '../test/support/fake-runtime.ts';
import { MemoryDesiredStore, MemoryStatusStore } from '../test/support/memory-stores.ts';
import type { ManagedStatusStore } from '../reconciler/store.ts';
import type { AgentConfig } from './config.ts';
import type { LeaderWork } from './leader-work.ts';
import { startLeaderWork } from './leader-work.ts';
import { soloReplica } from './leader/replicas.ts';

const AGENT = 'host-a';
const KEY = 'default/web';
const IMAGE = 'busybox:1';

class ManagedMemoryStatusStore<S> extends MemoryStatusStore<S> implements ManagedStatusStore<S> {
  async load(): Promise<void> {}
  async reload(): Promise<void> {}
  async close(): Promise<void> {}
}

function session(spec: Partial<SessionSpec> = {}, generation = 1, name = 'web'): Session {
  return {
    apiVersion: API_VERSION,
    kind: 'Session',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, generation },
    spec: { image: IMAGE, command: ['sleep', 'infinity'], ...spec },
  };
}

const config = {
  agentName: AGENT,
  workers: 2,
  reconcileTimeoutMs: 60_000,
  stopTimeoutSeconds: 10,
  resyncPeriodMs: 3_600_000,
  heartbeatIntervalMs: 3_600_000,
  livenessGraceMs: 10_800_000,
  pruneEmptyStore: false,
} as AgentConfig;

const lifetimes: AbortController[] = [];
afterEach(() => {
  for (const lifetime of lifetimes.splice(0)) lifetime.abort();
});

function lead() {
  const lifetime = new AbortController();
  lifetimes.push(lifetime);
  const runtime = new FakeDockerRuntime();
  runtime.addImage(IMAGE);
  const store = new MemoryDesiredStore();
  const statuses = new ManagedMemoryStatusStore<SessionStatus>();
  const logger = pino({ level: 'silent' });
  let work: LeaderWork | undefined;
  const cache = new ContainerCache({ runtime, selector: ownedBy(AGENT), logger, onChange: (key) => work?.enqueue(key) });
  // As in the agent: every replica follows the engine's events and the store, leader or not.
  runtime.watchEvents(ownedBy(AGENT), { onEvent: (event) => cache.handleEvent(event), onReconnect: () => {}, onDisconnect: () => {} }, lifetime.signal);
  store.onChange((key) => work?.enqueue(key));
  const leadership = new AbortController();
  lifetime.signal.addEventListener('abort', () => leadership.abort(), { once: true });
  // What the elector's fence says: the lease is certainly ours until the test says it ran out.
  let leaseValid = true;
  const fenceRefusals: string[] = [];
  const fence = {
    require(operation: string): number {
      if (leaseValid) return 1;
      fenceRefusals.push(operation);
      throw new FencedError(operation, 1, 'renew deadline passed');
    },
    confirm: async () => {},
  };
  const metrics = createReconcilerMetrics(new Registry());
  work = startLeaderWork(
    {
      config,
      identity: 'replica-1',
      logger,
      clock: { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
      metrics,
      store,
      sessions: statuses,
      agents: new ManagedMemoryStatusStore<AgentStatus>(),
      runtime,
      cache,
      replicas: soloReplica('replica-1'),
      engine: () => undefined,
      token: () => 1,
      fence,
    },
    leadership.signal,
  );
  let stopped = false;
  void work.stopped.then(() => (stopped = true));
  return {
    runtime,
    store,
    statuses,
    work,
    isStopped: () => stopped,
    fenceRefusals,
    metrics,
    /** The lease runs out without the elector noticing yet (a process resumed after SIGSTOP). */
    expireLease(): () => CallRecord[] {
      const from = runtime.log.length;
      leaseValid = false;
      return () => runtime.log.slice(from);
    },
    /** Steps down; returns what tells the engine calls made from then on. */
    stepDown(): () => CallRecord[] {
      const from = runtime.log.length;
      leadership.abort(new LeadershipEndedError('Released'));
      return () => runtime.log.slice(from);
    },
  };
}

type Leader = ReturnType<typeof lead>;

async function running(leader: Leader): Promise<string> {
  return eventually(() => {
    const [container] = leader.runtime.allContainers();
    expect(container?.state).toBe('running');
    expect(leader.statuses.get(KEY)?.phase).toBe('Running');
    return container!.id;
  });
}

/** Lets every callback that is ready run (promise jobs and I/O), a few rounds deep. */
async function letEverythingRun(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

const writes = (calls: CallRecord[]): CallRecord[] => calls.filter((c) => WRITE_OPS.includes(c.op));

describe('leader work whose lease ran out before its elector noticed', () => {
  it('sends no engine write: each is refused by the fence, and the reconcile is not retried as a failure', async () => {
    const leader = lead();
    leader.store.set(session());
    await running(leader);

    const callsSince = leader.expireLease();
    // A change the resumed process picks up before its leadership signal aborts.
    leader.store.set(session({ command: ['sleep', '3600'] }, 2));
    await eventually(() => expect(leader.fenceRefusals.length).toBeGreaterThan(0));
    await letEverythingRun();
    expect(writes(callsSince())).toEqual([]);
    expect(leader.fenceRefusals[0]).toMatch(/^engine (stop|remove)$/);
    const fenced = (await leader.metrics.reconcileTotal.get()).values.find((v) => v.labels.result === 'fenced');
    expect(fenced?.value).toBe(1);
    const failed = (await leader.metrics.reconcileTotal.get()).values.find((v) => v.labels.result === 'error');
    expect(failed?.value ?? 0).toBe(0);
    // Not requeued with back-off: nothing more is attempted.
    await letEverythingRun();
    expect(leader.fenceRefusals).toHaveLength(1);
  });
});

describe('leader work stepping down', () => {
  it('cancels a stop in flight, sends nothing more, and is stopped only once that reconcile has ended', async () => {
    const leader = lead();
    leader.store.set(session());
    const id = await running(leader);

    // The engine takes its time to answer the stop, and the refresh that follows is slow too.
    const stopAnswer = leader.runtime.hold('stop', id);
    const refresh = leader.runtime.hold('inspect', id);
    leader.store.set(session({ state: 'Stopped' }, 2));
    await eventually(() => expect(stopAnswer.caught).toBe(true));

    const callsSince = leader.stepDown();
    // The stop gave up at once; the reconcile is still refreshing what it touched (a read).
    await eventually(() => expect(refresh.caught).toBe(true));
    await letEverythingRun();
    expect(leader.isStopped()).toBe(false);

    refresh.release();
    await leader.work.stopped;
    expect(callsSince()).toEqual([{ op: 'inspect', target: id }]);
    // What the engine was asked before the abort it did anyway, as a real engine finishes a stop.
    expect(leader.runtime.container(id)?.state).toBe('exited');
    stopAnswer.release();
  });

  it('a recreate cut short after its remove creates nothing: the next leader does', async () => {
    const leader = lead();
    leader.store.set(session());
    const id = await running(leader);

    const removeAnswer = leader.runtime.hold('remove', id);
    leader.store.set(session({ command: ['sleep', '3600'] }, 2));
    await eventually(() => expect(removeAnswer.caught).toBe(true));

    const callsSince = leader.stepDown();
    await leader.work.stopped; // no gate released: every call in flight honoured the abort
    removeAnswer.release();
    await letEverythingRun();
    expect(writes(callsSince())).toEqual([]);
    expect(leader.runtime.allContainers()).toEqual([]);
  });

  it('takes no new key once leadership has ended', async () => {
    const leader = lead();
    leader.store.set(session());
    await running(leader);
    const callsSince = leader.stepDown();
    leader.store.set(session({}, 1, 'late'));
    leader.work.enqueue('default/late');
    await leader.work.stopped;
    await letEverythingRun();
    expect(callsSince()).toEqual([]);
  });
});

// The scheduling controller's pass on fakes (in-memory stores, a FakeClock): what it binds and
// writes, when it moves a Session off a silent agent, and what it leaves alone.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AgentStatus, Session } from '../../crds/types.ts';
import { FakeClock } from '../../reconciler/fake-clock.ts';
import type { EventType } from '../../reconciler/events.ts';
import { MemoryBindingStore } from '../../test/support/memory-bindings.ts';
import { MemoryDesiredStore, MemoryStatusStore } from '../../test/support/memory-stores.ts';
import type { SchedulerMetrics } from './metrics.ts';
import { createScheduler } from './scheduler.ts';

const START = Date.parse('2026-01-01T00:00:00Z');
const GRACE = 15_000;
const RESCHEDULE = 60_000;
const FLEET = 'fleet-1';
const logger = pino({ level: 'silent' });

function session(name: string, spec: Partial<Session['spec']> = {}): Session {
  return { apiVersion: 'dockerlet.dev/v1alpha1', kind: 'Session', metadata: { name, namespace: 'team', uid: `uid-${name}` }, spec: { image: 'busybox:1', ...spec } };
}

function harness() {
  const clock = new FakeClock(START);
  const store = new MemoryDesiredStore();
  const agents = new MemoryStatusStore<AgentStatus>();
  const bindings = new MemoryBindingStore();
  const events: string[] = [];
  const counted = { ok: 0, conflict: 0, gone: 0, error: 0, unschedulable: -1, reschedules: 0, latencies: [] as number[], online: -1 };
  const metrics: SchedulerMetrics = {
    bound: (result) => (counted[result] += 1),
    unschedulable: (n) => (counted.unschedulable = n),
    rescheduled: () => (counted.reschedules += 1),
    latency: (s) => counted.latencies.push(s),
    agents: (online) => (counted.online = online),
  };
  const schedule = createScheduler({
    fleet: FLEET,
    store,
    agents,
    bindings,
    clock,
    logger,
    livenessGraceMs: GRACE,
    rescheduleAfterMs: RESCHEDULE,
    passIntervalMs: 5_000,
    metrics,
    events: { record: (subject, type: EventType, reason, message) => events.push(`${type} ${reason} ${subject.namespace}/${subject.name}: ${message}`) },
  });
  const beat = async (name: string, extra: Partial<AgentStatus> = {}): Promise<void> => {
    await agents.write(name, { state: 'Online', lastHeartbeatTime: new Date(clock.now()).toISOString(), fleet: FLEET, capacity: { cpus: 4, memoryBytes: 8 << 30 }, ...extra });
  };
  const pass = () => schedule(new AbortController().signal);
  return { clock, store, agents, bindings, events, counted, beat, pass };
}

describe('scheduler', () => {
  it('writes the bindings of a burst side by side, each conditional on its own Session, and binds every one once', async () => {
    const h = harness();
    await h.beat('host-a');
    await h.beat('host-b');
    for (let i = 0; i < 40; i++) h.store.set(session(`s${String(i).padStart(2, '0')}`));
    // Every bind waits for a gate: how many are in flight before the first returns shows the pass does not go one by one.
    let inFlight = 0;
    let most = 0;
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const bind = h.bindings.bind.bind(h.bindings);
    h.bindings.bind = async (write) => {
      most = Math.max(most, ++inFlight);
      await gate;
      inFlight -= 1;
      return bind(write);
    };
    const pass = h.pass();
    await new Promise((resolve) => setImmediate(resolve));
    open();
    await pass;
    expect(most).toBe(16);
    expect(h.bindings.writes.filter((w) => w.startsWith('bind ')).length).toBe(40);
    expect(new Set(h.bindings.writes.map((w) => w.split(' ')[1])).size).toBe(40);
    expect(h.counted.ok).toBe(40);
  });

  it("binds unbound Sessions across its fleet's Online agents, least-loaded first, and says so in Scheduled", async () => {
    const h = harness();
    await h.beat('host-a');
    await h.beat('host-b');
    await h.beat('other', { fleet: 'another-fleet' });
    for (const name of ['s1', 's2', 's3', 's4']) h.store.set(session(name));
    h.clock.advance(250);
    expect(await h.pass()).toEqual({ requeueAfterMs: 5_000 });
    expect(h.bindings.writes).toEqual(['bind team/s1 host-a@1', 'bind team/s2 host-b@1', 'bind team/s3 host-a@1', 'bind team/s4 host-b@1']);
    expect(h.bindings.scheduled('team/s2')).toMatchObject({ type: 'Scheduled', status: 'True', reason: 'Bound', message: 'bound to host-b (epoch 1)' });
    expect(h.counted).toMatchObject({ ok: 4, conflict: 0, unschedulable: 0, online: 2 });
    expect(h.counted.latencies).toEqual([0, 0, 0, 0]);
    // A second pass with nothing new writes nothing.
    await h.pass();
    expect(h.bindings.writes).toHaveLength(4);
  });

  it('marks a Session no agent can take Unschedulable with the reason per agent, once, and binds it when room appears', async () => {
    const h = harness();
    await h.beat('host-a', { unschedulable: true });
    await h.beat('host-b', { labels: { zone: 'b' } });
    h.store.set(session('gpu', { agentSelector: { matchLabels: { zone: 'a' } } }));
    await h.pass();
    expect(h.bindings.writes).toEqual(['scheduled team/gpu False Unschedulable']);
    expect(h.bindings.scheduled('team/gpu')?.message).toBe('host-a: cordoned; host-b: labels do not match zone=a');
    expect(h.counted.unschedulable).toBe(1);
    await h.pass();
    expect(h.bindings.writes).toHaveLength(1);
    h.clock.advance(3_000);
    await h.beat('host-c', { labels: { zone: 'a' } });
    await h.pass();
    expect(h.bindings.writes.at(-1)).toBe('bind team/gpu host-c@1');
    expect(h.counted.latencies).toEqual([3]);
    expect(h.counted.unschedulable).toBe(0);
  });

  it('moves the Sessions of an agent silent longer than grace + reschedule-after, with epoch + 1 and the cause', async () => {
    const h = harness();
    await h.beat('host-a');
    await h.beat('host-b');
    h.store.set(session('s1'));
    h.store.set(session('s2'));
    await h.pass();
    expect(h.bindings.get('team/s1')?.agent).toBe('host-a');
    // host-a stops beating; host-b keeps on.
    for (let t = 0; t < GRACE + RESCHEDULE; t += 5_000) {
      h.clock.advance(5_000);
      await h.beat('host-b');
      await h.pass();
    }
    expect(h.bindings.get('team/s1')).toMatchObject({ agent: 'host-a', epoch: 1 });
    h.clock.advance(1_000);
    await h.beat('host-b');
    await h.pass();
    expect(h.bindings.get('team/s1')).toMatchObject({ agent: 'host-b', epoch: 2, reason: 'Rescheduled' });
    expect(h.bindings.scheduled('team/s1')?.message).toBe('agent host-a Offline for 61s; bound to host-b (epoch 2)');
    expect(h.events).toEqual(['Normal Rescheduled team/s1: agent host-a Offline for 61s: moved from host-a to host-b (epoch 2)']);
    expect(h.counted.reschedules).toBe(1);
  });

  it('decides again soon after a conflicting write, and binds from what is stored then', async () => {
    const h = harness();
    await h.beat('host-a');
    h.store.set(session('s1'));
    h.bindings.conflictOnce.add('team/s1');
    expect(await h.pass()).toEqual({ requeueAfterMs: 200 });
    expect(h.counted).toMatchObject({ ok: 0, conflict: 1 });
    await h.pass();
    expect(h.bindings.writes).toEqual(['bind team/s1 host-a@1']);
  });

  it('writes nothing while the bindings cannot be read, and leaves Sessions bound to another fleet alone', async () => {
    const h = harness();
    await h.beat('host-a');
    await h.beat('theirs', { fleet: 'another-fleet' });
    h.store.set(session('s1'));
    h.store.set(session('s2'));
    h.bindings.bindings.set('team/s2', { agent: 'theirs', epoch: 4 });
    h.bindings.current = false;
    await h.pass();
    expect(h.bindings.writes).toEqual([]);
    h.bindings.current = true;
    await h.pass();
    expect(h.bindings.writes).toEqual(['bind team/s1 host-a@1']);
    expect(h.bindings.get('team/s2')).toEqual({ agent: 'theirs', epoch: 4 });
  });

  it('drops the binding of a deleted Session only while the store is complete', async () => {
    const h = harness();
    await h.beat('host-a');
    h.store.set(session('s1'));
    await h.pass();
    h.store.remove('team/s1');
    h.store.setComplete(false, ['broken.yaml']);
    await h.pass();
    expect(h.bindings.get('team/s1')).toBeDefined();
    h.store.setComplete(true);
    await h.pass();
    expect(h.bindings.writes.at(-1)).toBe('unbind team/s1');
  });
});

// Golden tests of the pure placement: one pass of the scheduler printed as text.
import { describe, expect, it } from 'vitest';
import { decisionsToString, place } from './place.ts';
import type { PlaceInput } from './place.ts';
import type { AgentView, SessionView } from './views.ts';

const GiB = 2 ** 30;
const NOW = '2026-12-05T12:00:00Z';

function agent(name: string, extra: Partial<AgentView> = {}): AgentView {
  return { name, state: 'Online', offlineForMs: 0, labels: {}, capacity: {}, cordoned: false, draining: false, ...extra };
}

function session(key: string, extra: Partial<SessionView> = {}): SessionView {
  return { key, namespace: key.split('/')[0]!, request: { nanoCpus: 0, memoryBytes: 0 }, ...extra };
}

function run(input: Partial<PlaceInput> & Pick<PlaceInput, 'agents' | 'sessions'>): string {
  return decisionsToString(place({ rescheduleAfterMs: 60_000, drainBusy: new Set(), now: NOW, ...input }));
}

describe('place', () => {
  it('spreads a burst of unbound Sessions by least load, ties broken by name', () => {
    expect(run({ agents: [agent('host-b'), agent('host-a'), agent('host-c')], sessions: ['d/s1', 'd/s2', 'd/s3', 'd/s4'].map((k) => session(k)) }))
      .toBe(`bind d/s1 → host-a (epoch 1, Bound)
bind d/s2 → host-b (epoch 1, Bound)
bind d/s3 → host-c (epoch 1, Bound)
bind d/s4 → host-a (epoch 1, Bound)`);
  });

  it('counts what is already bound and pinned before placing anything new', () => {
    const bound = session('d/old', { binding: { agent: 'host-a', epoch: 1, time: NOW, reason: 'Bound' } });
    const pinned = session('d/pin', { pinned: 'host-b', binding: { agent: 'host-b', epoch: 1, time: NOW, reason: 'Pinned' } });
    expect(run({ agents: [agent('host-a'), agent('host-b'), agent('host-c')], sessions: [bound, pinned, session('d/new')] })).toBe(
      'bind d/new → host-c (epoch 1, Bound)',
    );
  });

  it('says per agent why a Session cannot be placed: Offline, cordoned, selector, memory', () => {
    const agents = [
      agent('host-a', { state: 'Offline', offlineForMs: 5_000 }),
      agent('host-b', { capacity: { memoryBytes: 4 * GiB } }),
      agent('host-c', { cordoned: true }),
      agent('host-d', { labels: { zone: 'b' }, capacity: { memoryBytes: 2 * GiB } }),
    ];
    const heavy = session('d/heavy', { request: { nanoCpus: 0, memoryBytes: 5 * GiB } });
    const zoned = session('d/zoned', { selector: { zone: 'a' } });
    expect(run({ agents, sessions: [heavy, zoned] })).toBe(
      `unschedulable d/heavy: host-a: Offline; host-b: memory 0/4Gi, needs 5Gi; host-c: cordoned; host-d: memory 0/2Gi, needs 5Gi
unschedulable d/zoned: host-a: Offline; host-b: labels do not match zone=a; host-c: cordoned; host-d: labels do not match zone=a`,
    );
  });

  it('moves Sessions off an agent Offline longer than reschedule-after with epoch + 1, never a pinned one', () => {
    const lost = agent('host-a', { state: 'Offline', offlineForMs: 61_000 });
    const bound = session('d/s1', { binding: { agent: 'host-a', epoch: 2, time: NOW, reason: 'Bound' } });
    const pinned = session('d/s2', { pinned: 'host-a', binding: { agent: 'host-a', epoch: 1, time: NOW, reason: 'Pinned' } });
    const sessions = [bound, pinned];
    expect(run({ agents: [lost, agent('host-b')], sessions })).toBe('move d/s1 host-a → host-b (epoch 3, Rescheduled): agent host-a Offline for 61s');
    expect(run({ agents: [lost, agent('host-b')], sessions, rescheduleAfterMs: 0 })).toBe('no changes');
    expect(run({ agents: [{ ...lost, offlineForMs: 30_000 }, agent('host-b')], sessions })).toBe('no changes');
  });

  it('drains one Session at a time off a draining agent', () => {
    const draining = agent('host-a', { draining: true });
    const sessions = ['d/s1', 'd/s2'].map((k) => session(k, { binding: { agent: 'host-a', epoch: 1, time: NOW, reason: 'Bound' } }));
    expect(run({ agents: [draining, agent('host-b')], sessions })).toBe('move d/s1 host-a → host-b (epoch 2, Drained): agent host-a is draining');
    expect(run({ agents: [draining, agent('host-b')], sessions, drainBusy: new Set(['host-a']) })).toBe('no changes');
  });
});

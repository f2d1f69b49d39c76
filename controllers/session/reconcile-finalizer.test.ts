// Kubernetes mode's additions to the session reconcile, above the API boundary: the finalizer is
// added before a container is created, a deleted Session's container is removed before the
// finalizer is released (whatever start-up adoption says), and every action becomes an Event.
import { describe, expect, it } from 'vitest';
import { API_VERSION } from '../../crds/types.ts';
import type { Session, SessionSpec } from '../../crds/types.ts';
import { EngineUnavailableError } from '../runtime/errors.ts';
import type { EventRecorder, EventType } from '../../reconciler/events.ts';
import type { SessionFinalizer } from './finalizer.ts';
import { sessionHarness } from '../../test/support/session-harness.ts';

const AGENT = 'host-a';
const KEY = 'team/web';
const FINALIZER = 'dockerlet.dev/container';

function session(spec: Partial<SessionSpec> = {}, meta: Partial<Session['metadata']> = {}): Session {
  return {
    apiVersion: API_VERSION,
    kind: 'Session',
    metadata: { name: 'web', namespace: 'team', uid: 'uid-1', generation: 1, ...meta },
    spec: { image: 'busybox:1', ...spec },
  };
}

function harness() {
  const log: string[] = [];
  // The API server's side: finalizers on the stored object, changed only through the helper.
  const finalizers = new Map<string, string[]>();
  const events: { type: EventType; reason: string; message: string; uid?: string }[] = [];
  const recorder: EventRecorder = { record: (subject, type, reason, message) => events.push({ type, reason, message, ...(subject.uid ? { uid: subject.uid } : {}) }) };
  const h = sessionHarness({
    agent: AGENT,
    key: KEY,
    images: ['busybox:1', 'busybox:2'],
    mayDelete: false,
    extra: ({ runtime }) => {
      const finalizer: SessionFinalizer = {
        name: FINALIZER,
        ensure: async (s) => {
          const list = finalizers.get(s.metadata.name) ?? [];
          if (list.includes(FINALIZER)) return 'unchanged';
          log.push(`finalizer added (containers: ${runtime.allContainers().length})`);
          finalizers.set(s.metadata.name, [...list, FINALIZER]);
          return 'changed';
        },
        release: async (s) => {
          const list = finalizers.get(s.metadata.name) ?? [];
          if (!list.includes(FINALIZER)) return 'unchanged';
          log.push(`finalizer released (containers: ${runtime.allContainers().length})`);
          finalizers.set(s.metadata.name, list.filter((f) => f !== FINALIZER));
          return 'changed';
        },
      };
      return { finalizer, events: recorder };
    },
  });
  return { runtime: h.runtime, store: h.store, statusStore: h.statusStore, finalizers, events, log, world: h.world, run: () => h.run() };
}

describe('session reconcile with a finalizer and events', () => {
  it('adds the finalizer before creating the container and records Created and Started', async () => {
    const h = harness();
    h.store.set(session());
    await h.run();
    expect(h.log).toEqual(['finalizer added (containers: 0)']);
    expect(h.runtime.allContainers()).toHaveLength(1);
    expect(h.events.map((e) => `${e.type} ${e.reason}`)).toEqual(['Normal Created', 'Normal Started']);
    expect(h.events[0]?.message).toMatch(/^create host-a\.team\.web|^create .*: no container for the Session$/);
    expect(h.events[0]?.uid).toBe('uid-1');
  });

  it('records a recreate with the changed field as its cause, and an in-place update', async () => {
    const h = harness();
    h.store.set(session());
    await h.run();
    h.events.length = 0;
    h.store.set(session({ image: 'busybox:2' }, { generation: 2 }));
    await h.run();
    expect(h.events.map((e) => e.reason)).toEqual(['Removed', 'Recreated', 'Started']);
    expect(h.events[1]?.message).toContain('config-hash changed: image');
    h.events.length = 0;
    h.store.set(session({ image: 'busybox:2', resources: { memory: '64Mi' } }, { generation: 3 }));
    await h.run();
    expect(h.events.map((e) => e.reason)).toEqual(['Updated']);
    expect(h.events[0]?.message).toContain('resources.memory unlimited → 64Mi');
  });

  it('on deletion removes the container first, then releases the finalizer, even during start-up adoption', async () => {
    const h = harness();
    h.store.set(session());
    await h.run();
    h.events.length = 0;
    h.log.length = 0;
    // mayDeleteUndesired is false (adoption running): an explicit deletion still proceeds.
    h.store.set(session({}, { deletionTimestamp: '2026-01-01T00:01:00Z', finalizers: [FINALIZER] }));
    await expect(h.run()).resolves.toEqual({});
    expect(h.runtime.allContainers()).toHaveLength(0);
    expect(h.log).toEqual(['finalizer released (containers: 0)']);
    expect(h.events.map((e) => `${e.reason}: ${e.message}`)).toEqual([expect.stringMatching(/^Removed: remove [0-9a-f]{12}: Session team\/web is being deleted$/)]);
    expect(h.statusStore.get(KEY)).toBeUndefined();
  });

  it('keeps the finalizer and reports Terminating when removing the container fails', async () => {
    const h = harness();
    h.store.set(session());
    await h.run();
    h.log.length = 0;
    h.store.set(session({}, { deletionTimestamp: '2026-01-01T00:01:00Z', finalizers: [FINALIZER] }));
    h.runtime.failNext('remove', new EngineUnavailableError('engine down'));
    await expect(h.run()).rejects.toThrow('engine down');
    expect(h.log).toEqual([]);
    expect(h.finalizers.get('web')).toEqual([FINALIZER]);
    expect(h.statusStore.get(KEY)?.phase).toBe('Terminating');
    expect(h.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'EngineUnavailable' });
    await h.run();
    expect(h.runtime.allContainers()).toHaveLength(0);
    expect(h.finalizers.get('web')).toEqual([]);
  });
});

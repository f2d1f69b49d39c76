// The session reconciler under the host policy, above the runtime boundary (fake engine, memory
// stores): a refused Session gets no container and no engine call, is Stalled PolicyViolation
// (TerminalError: no retry until it changes) with one Warning Event, its env files are never read,
// and a container of an earlier allowed version keeps running.
import { describe, expect, it } from 'vitest';
import { API_VERSION } from '../../crds/types.ts';
import type { Session, SessionSpec } from '../../crds/types.ts';
import { getCondition } from '../../reconciler/conditions.ts';
import type { EventType } from '../../reconciler/events.ts';
import { sessionHarness } from '../../test/support/session-harness.ts';
import type { FileReader } from './env-files.ts';
import { defaultHostPolicy } from './policy.ts';
import type { HostPolicy } from './policy.ts';

const KEY = 'default/web';

function session(spec: Partial<SessionSpec> = {}, generation = 1): Session {
  return { apiVersion: API_VERSION, kind: 'Session', metadata: { name: 'web', namespace: 'default', uid: 'uid-1', generation }, spec: { image: 'busybox:1', ...spec } };
}

function harness(policy: HostPolicy = defaultHostPolicy('/var/run/docker.sock')) {
  const events: { type: EventType; reason: string; message: string }[] = [];
  const reads: string[] = [];
  const files: FileReader = {
    read: async (path) => {
      reads.push(path);
      return new TextEncoder().encode('secret');
    },
  };
  const h = sessionHarness({
    agent: 'host-a',
    key: KEY,
    mayDelete: true,
    extra: () => ({ policy, files, events: { record: (_s, type, reason, message) => events.push({ type, reason, message }) } }),
  });
  return { ...h, events, reads };
}

const SOCKET = session({ volumes: [{ name: 'd', hostPath: '/var/run/docker.sock' }], mounts: [{ name: 'd', mountPath: '/var/run/docker.sock' }] }, 2);

describe('session reconcile under the host policy', () => {
  it('creates nothing for a refused Session: Stalled PolicyViolation naming the field, one Warning, no retry', async () => {
    const h = harness();
    h.store.set(SOCKET);
    await expect(h.run()).resolves.toEqual({ stalled: 'PolicyViolation' });
    expect(h.totalCalls()).toBe(0);
    expect(h.runtime.allContainers()).toEqual([]);
    const status = h.status();
    const message = 'spec.volumes[0].hostPath: "/var/run/docker.sock" is the engine socket (--allow-dangerous-host-paths); refused by policy';
    expect(status).toMatchObject({ phase: 'Pending', message });
    expect(getCondition(status?.conditions ?? [], 'Stalled')).toMatchObject({ status: 'True', reason: 'PolicyViolation', message });
    expect(h.events).toEqual([{ type: 'Warning', reason: 'PolicyViolation', message }]);
    // A resync of the same refusal says nothing new.
    await expect(h.run()).resolves.toEqual({ stalled: 'PolicyViolation' });
    expect(h.events).toHaveLength(1);
  });

  it('never reads an env file the policy refuses', async () => {
    const h = harness();
    h.store.set(session({ env: [{ name: 'LEAK', valueFrom: { file: '/proc/self/environ' } }] }));
    await expect(h.run()).resolves.toEqual({ stalled: 'PolicyViolation' });
    expect(h.reads).toEqual([]);
    expect(h.runtime.allContainers()).toEqual([]);
  });

  it('runs what an allowed prefix covers', async () => {
    const h = harness({ ...defaultHostPolicy('/var/run/docker.sock'), envFilePrefixes: ['/run/secrets'] });
    h.store.set(session({ env: [{ name: 'TOKEN', valueFrom: { file: '/run/secrets/token' } }] }));
    await expect(h.run()).resolves.toEqual({});
    expect(h.reads).toEqual(['/run/secrets/token']);
    expect(h.only().state).toBe('running');
  });

  it('keeps the container of the last allowed version running when the Session is edited into a violation, and says so', async () => {
    const h = harness();
    h.store.set(session({}, 1));
    await h.run();
    const kept = h.only();
    h.runtime.resetCalls();
    h.store.set(SOCKET);
    await expect(h.run()).resolves.toEqual({ stalled: 'PolicyViolation' });
    expect(h.totalCalls()).toBe(0);
    expect(h.only()).toMatchObject({ id: kept.id, state: 'running' });
    const status = h.status();
    expect(status?.containerID).toBe(kept.id);
    expect(status?.observedGeneration).toBe(1);
    expect(status?.message).toContain('keeps running as it was');
    expect(getCondition(status?.conditions ?? [], 'Stalled')).toMatchObject({ status: 'True', reason: 'PolicyViolation' });
    // Edited back into the policy: converges again, and Stalled clears.
    h.store.set(session({}, 3));
    await expect(h.run()).resolves.toEqual({});
    expect(h.only().id).toBe(kept.id);
    expect(getCondition(h.status()?.conditions ?? [], 'Stalled')).toMatchObject({ status: 'False' });
  });
});

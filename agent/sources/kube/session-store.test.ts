import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { ApiException } from '@kubernetes/client-node';
import { FakeInformer } from '../../../test/support/fake-informer.ts';
import { FakeClock } from '../../../reconciler/fake-clock.ts';
import { KubeSessionStore } from './session-store.ts';
import type { KubeSessionObject } from './session-api.ts';

const logger = pino({ level: 'silent' });

function session(name: string, spec: Record<string, unknown>, extra: { rv?: string; status?: Record<string, unknown>; generation?: number } = {}): KubeSessionObject {
  return {
    apiVersion: 'dockerlet.dev/v1alpha1',
    kind: 'Session',
    metadata: {
      name,
      namespace: 'team',
      uid: `uid-${name}`,
      generation: extra.generation ?? 1,
      resourceVersion: extra.rv ?? '1',
      creationTimestamp: '2026-01-01T00:00:00Z',
      managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
    },
    spec,
    ...(extra.status ? { status: extra.status } : {}),
  } as unknown as KubeSessionObject;
}

function setup(onStart?: (informer: FakeInformer<KubeSessionObject>, attempt: number) => void) {
  const informer = new FakeInformer<KubeSessionObject>();
  if (onStart) informer.onStart = onStart;
  const clock = new FakeClock();
  const store = new KubeSessionStore({ informer, logger, server: 'https://api.test', initialBackoffMs: 5, maxBackoffMs: 20, clock });
  const changed: string[] = [];
  store.onChange((key) => changed.push(key));
  return { informer, store, changed, clock };
}

describe('KubeSessionStore', () => {
  it('is complete after a successful list, with validated, defaulted objects keyed namespace/name', async () => {
    const { store, changed } = setup((inf) => {
      inf.add(session('web', { image: 'nginx' }));
      inf.add(session('db', { image: 'postgres' }));
    });
    expect(store.isComplete()).toBe(false);
    await store.start();
    expect(store.isComplete()).toBe(true);
    expect(store.loadProblems()).toEqual([]);
    expect(changed.sort()).toEqual(['team/db', 'team/web']);
    const web = store.get('team/web')?.object;
    expect(web?.spec.restartPolicy).toBe('Always');
    expect(web?.metadata.uid).toBe('uid-web');
    // Per-write churn is not desired state.
    expect(web?.metadata.resourceVersion).toBeUndefined();
    expect(Object.isFrozen(web)).toBe(true);
  });

  it('does not notify for a status-only update, but exposes the server status', async () => {
    const { informer, store, changed } = setup((inf) => inf.add(session('web', { image: 'nginx' })));
    await store.start();
    changed.length = 0;
    informer.update(session('web', { image: 'nginx' }, { rv: '2', status: { phase: 'Running' } }));
    expect(changed).toEqual([]);
    expect(store.serverStatus('team/web')).toEqual({ phase: 'Running' });
    informer.update(session('web', { image: 'nginx:2' }, { rv: '3', generation: 2 }));
    expect(changed).toEqual(['team/web']);
    expect(store.get('team/web')?.object?.spec.image).toBe('nginx:2');
  });

  it('turns an invalid object into a problem with the field path, keeping the last valid version', async () => {
    const { informer, store } = setup((inf) => inf.add(session('bad', { command: ['x'] })));
    await store.start();
    const bad = store.get('team/bad');
    expect(bad?.object).toBeUndefined();
    expect(bad?.problem).toMatchObject({ reason: 'InvalidSpec', fieldPath: 'spec.image' });
    expect(bad?.problem?.message).toContain('sessions.dockerlet.dev team/bad: spec.image: Required value');

    informer.update(session('bad', { image: 'nginx' }, { rv: '2' }));
    expect(store.get('team/bad')?.problem).toBeUndefined();
    informer.update(session('bad', { image: 'nginx', labels: { 'dockerlet.dev/uid': 'x' } }, { rv: '3', generation: 2 }));
    const entry = store.get('team/bad');
    expect(entry?.object?.spec.image).toBe('nginx');
    expect(entry?.problem?.message).toContain('spec.labels[dockerlet.dev/uid]: Invalid value');
    // The store stays complete: one bad object is not a broken store.
    expect(store.isComplete()).toBe(true);
  });

  it('forgets a deleted object and notifies its key', async () => {
    const { informer, store, changed } = setup((inf) => inf.add(session('web', { image: 'nginx' })));
    await store.start();
    changed.length = 0;
    informer.delete(session('web', { image: 'nginx' }));
    expect(store.get('team/web')).toBeUndefined();
    expect(store.serverStatus('team/web')).toBeUndefined();
    expect(changed).toEqual(['team/web']);
  });

  it('restarts the informer after any error, incomplete while down, keeping what it had', async () => {
    const { informer, store, clock } = setup((inf, attempt) => {
      if (attempt === 1) inf.add(session('web', { image: 'nginx' }));
      // The first two restarts fail like a refused connection would.
      if (attempt === 2 || attempt === 3) inf.fail(new Error('connect ECONNREFUSED 127.0.0.1:6444'));
    });
    await store.start();
    expect(store.isComplete()).toBe(true);
    informer.fail(new Error('socket hang up'));
    expect(store.isComplete()).toBe(false);
    expect(store.loadProblems()[0]).toContain('cannot list/watch Sessions on https://api.test');
    expect(store.get('team/web')?.object).toBeDefined();
    // Restarts after 5, 10 and 20 ms (each ± 20 % jitter); the first two fail, the third succeeds.
    // Each step covers the longest jitter of its delay and none of the next one's shortest.
    await clock.advanceAsync(5 * 1.2);
    expect(informer.starts).toBe(2);
    await clock.advanceAsync(10 * 1.2);
    expect(informer.starts).toBe(3);
    expect(store.isComplete()).toBe(false);
    await clock.advanceAsync(20 * 1.2);
    expect(informer.starts).toBe(4);
    expect(store.isComplete()).toBe(true);
    await store.stop();
  });

  it('says how to install the CRD when the API server does not know Sessions', async () => {
    const { store, informer, clock } = setup((inf, attempt) => {
      if (attempt === 1) inf.fail(new ApiException(404, 'Not Found', '{}', {}));
    });
    await store.start();
    expect(store.isComplete()).toBe(false);
    expect(store.loadProblems()[0]).toMatch(/Session CRD \(sessions\.dockerlet\.dev\) is not installed on https:\/\/api\.test: run `kubectl apply -k deploy\/kubernetes` or `kubectl apply -f crds\/`/);
    await clock.advanceAsync(5 * 1.2);
    expect(store.isComplete()).toBe(true);
    expect(informer.starts).toBe(2);
    await store.stop();
  });

  it('stops restarting once stopped', async () => {
    const { store, informer, clock } = setup((inf) => inf.fail(new Error('boom')));
    await store.start();
    await store.stop();
    const starts = informer.starts;
    expect(clock.pendingTimers()).toBe(0);
    await clock.advanceAsync(60_000);
    expect(informer.starts).toBe(starts);
  });
});

import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { SessionStatus } from '../../../crds/types.ts';
import { eventually } from '../../../test/support/eventually.ts';
import { KubeStatusStore } from './status-store.ts';
import type { ServerStatusSource } from './status-store.ts';

const logger = pino({ level: 'silent' });

class FakeApi {
  calls: { namespace: string; name: string; status: Record<string, unknown> }[] = [];
  failNext = 0;
  gone = new Set<string>();
  async patchStatus(namespace: string, name: string, patch: { status: Record<string, unknown> }): Promise<'ok' | 'gone'> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('503 Service Unavailable');
    }
    if (this.gone.has(`${namespace}/${name}`)) return 'gone';
    this.calls.push({ namespace, name, status: patch.status });
    return 'ok';
  }
}

class FakeSource implements ServerStatusSource {
  statuses = new Map<string, SessionStatus>();
  serverStatus(key: string) {
    return this.statuses.get(key);
  }
  serverStatuses() {
    return this.statuses;
  }
}

function setup() {
  const api = new FakeApi();
  const source = new FakeSource();
  const store = new KubeStatusStore({ api, source, logger, flushDelayMs: 20, retryDelayMs: 10 });
  return { api, source, store };
}

describe('KubeStatusStore', () => {
  it('coalesces writes of one key into one merge patch of the last status', async () => {
    const { api, store } = setup();
    await store.write('team/web', { phase: 'Creating', agent: 'a' });
    await store.write('team/web', { phase: 'Running', agent: 'a', observedGeneration: 2 });
    await store.write('team/db', { phase: 'Pending', agent: 'a' });
    expect(store.get('team/web')?.phase).toBe('Running');
    await store.flush();
    expect(api.calls).toEqual([
      { namespace: 'team', name: 'web', status: { phase: 'Running', agent: 'a', observedGeneration: 2 } },
      { namespace: 'team', name: 'db', status: { phase: 'Pending', agent: 'a' } },
    ]);
    expect(store.patches).toBe(2);
  });

  it('sends a field that disappeared as null, so the merge patch removes it', async () => {
    const { api, source, store } = setup();
    source.statuses.set('team/web', { phase: 'Running', containerID: 'abc', startedAt: '2026-01-01T00:00:00Z' });
    await store.write('team/web', { phase: 'Stopped', agent: 'a' });
    await store.flush();
    expect(api.calls[0]?.status).toEqual({ phase: 'Stopped', agent: 'a', containerID: null, startedAt: null });
  });

  it('reads the server copy until this replica writes, and again after a reload', async () => {
    const { source, store } = setup();
    source.statuses.set('team/web', { phase: 'Running' });
    expect(store.get('team/web')?.phase).toBe('Running');
    await store.write('team/web', { phase: 'Failed' });
    expect(store.get('team/web')?.phase).toBe('Failed');
    expect(store.list().get('team/web')?.phase).toBe('Failed');
    await store.reload();
    source.statuses.set('team/web', { phase: 'Stopped' });
    expect(store.get('team/web')?.phase).toBe('Stopped');
  });

  it('keeps a failed write pending and retries it with back-off', async () => {
    const { api, store } = setup();
    api.failNext = 2;
    await store.write('team/web', { phase: 'Running' });
    await eventually(() => expect(api.calls).toHaveLength(1), { timeoutMs: 2_000, intervalMs: 5 });
    expect(api.calls[0]?.status).toEqual({ phase: 'Running' });
  });

  it('drops the status of a Session that no longer exists', async () => {
    const { api, store } = setup();
    api.gone.add('team/web');
    await store.write('team/web', { phase: 'Running' });
    await store.flush();
    expect(api.calls).toEqual([]);
    expect(store.get('team/web')).toBeUndefined();
  });

  it('writes nothing for a deleted key', async () => {
    const { api, store } = setup();
    await store.write('team/web', { phase: 'Running' });
    await store.delete('team/web');
    await store.flush();
    expect(api.calls).toEqual([]);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../reconciler/fake-clock.ts';
import { FakeSwarmApi } from '../../test/support/fake-swarm.ts';
import { SwarmLeaseLock } from './swarm-lock.ts';

const LEASE_MS = 15_000;
const SERVICE = 'svc1';

describe('SwarmLeaseLock', () => {
  let api: FakeSwarmApi;
  let clock: FakeClock;
  const lock = (): SwarmLeaseLock => new SwarmLeaseLock({ api, serviceId: SERVICE, clock });

  beforeEach(() => {
    api = new FakeSwarmApi();
    clock = new FakeClock(1_000_000);
    api.addService(SERVICE, {
      Name: 'agents',
      Labels: { team: 'ops' },
      TaskTemplate: { ContainerSpec: { Image: 'agent:1' } },
      Mode: { Replicated: { Replicas: 3 } },
    });
  });

  it('acquires a free lease with a token at least the service version, keeping other labels and the task template', async () => {
    const versionBefore = (await api.inspectService(SERVICE)).version;
    const grant = await lock().tryAcquireOrRenew('a', LEASE_MS);
    expect(grant?.token).toBeGreaterThanOrEqual(versionBefore);
    const labels = api.labels(SERVICE);
    expect(labels).toMatchObject({ team: 'ops', 'dockerlet.dev/lease.holder': 'a', 'dockerlet.dev/lease.token': String(grant?.token) });
    expect((await api.inspectService(SERVICE)).spec.TaskTemplate).toEqual({ ContainerSpec: { Image: 'agent:1' } });
  });

  it('renews with the same token; a standby that keeps seeing renewals never takes over', async () => {
    const a = lock();
    const b = lock();
    const first = await a.tryAcquireOrRenew('a', LEASE_MS);
    for (let i = 0; i < 20; i++) {
      clock.advance(2_000);
      expect(await a.tryAcquireOrRenew('a', LEASE_MS)).toEqual(first);
      expect(await b.tryAcquireOrRenew('b', LEASE_MS)).toBeUndefined();
    }
    expect(await b.holder()).toEqual({ identity: 'a', token: first?.token });
  });

  it('lets a standby take over only after it has seen the record unchanged for the lease duration, with a greater token', async () => {
    const a = lock();
    const b = lock();
    const first = await a.tryAcquireOrRenew('a', LEASE_MS);
    expect(await b.tryAcquireOrRenew('b', LEASE_MS)).toBeUndefined();
    clock.advance(LEASE_MS - 1);
    expect(await b.tryAcquireOrRenew('b', LEASE_MS)).toBeUndefined();
    clock.advance(1);
    const second = await b.tryAcquireOrRenew('b', LEASE_MS);
    expect(second?.token).toBeGreaterThan(first?.token ?? Infinity);
    // The old holder finds someone else holds it now.
    expect(await a.tryAcquireOrRenew('a', LEASE_MS)).toBeUndefined();
  });

  it('times expiry from its own first sight of the record, not from the writer clock (no skew)', async () => {
    await lock().tryAcquireOrRenew('a', LEASE_MS);
    // A standby that starts much later must still wait a whole lease from when it first looked.
    clock.advance(10 * LEASE_MS);
    const late = lock();
    expect(await late.tryAcquireOrRenew('late', LEASE_MS)).toBeUndefined();
    clock.advance(LEASE_MS);
    expect(await late.tryAcquireOrRenew('late', LEASE_MS)).toBeDefined();
  });

  it('treats a stale version as a conflict: re-reads and backs off when a competitor took the lease in between', async () => {
    const a = lock();
    api.beforeUpdate = () => {
      // b's write lands between a's read and a's write (what a competing replica's update does).
      api.touch(SERVICE, { ...api.labels(SERVICE), 'dockerlet.dev/lease.holder': 'b', 'dockerlet.dev/lease.token': '99', 'dockerlet.dev/lease.renew-time': '1' });
    };
    expect(await a.tryAcquireOrRenew('a', LEASE_MS)).toBeUndefined();
    expect(api.conflicts).toBe(1);
    expect(api.labels(SERVICE)['dockerlet.dev/lease.holder']).toBe('b');
  });

  it('retries a renewal that lost a race with an unrelated service update (an operator scaling)', async () => {
    const a = lock();
    const grant = await a.tryAcquireOrRenew('a', LEASE_MS);
    api.beforeUpdate = () => api.touch(SERVICE, { ...api.labels(SERVICE), scaled: 'yes' });
    expect(await a.tryAcquireOrRenew('a', LEASE_MS)).toEqual(grant);
    expect(api.conflicts).toBe(1);
    expect(api.labels(SERVICE)).toMatchObject({ scaled: 'yes', 'dockerlet.dev/lease.holder': 'a' });
  });

  it('gives up after repeated conflicts by throwing, so the elector counts a failed attempt', async () => {
    const a = lock();
    let races = 0;
    const race = (): void => {
      races++;
      api.touch(SERVICE, { ...api.labels(SERVICE), n: String(races) });
      api.beforeUpdate = race;
    };
    api.beforeUpdate = race;
    await expect(a.tryAcquireOrRenew('a', LEASE_MS)).rejects.toThrow(/stale/);
    api.beforeUpdate = undefined;
    expect(races).toBe(3);
  });

  it('release frees the lease at once for a standby and keeps the token counter, so the next token is greater', async () => {
    const a = lock();
    const b = lock();
    const first = await a.tryAcquireOrRenew('a', LEASE_MS);
    expect(await b.tryAcquireOrRenew('b', LEASE_MS)).toBeUndefined();
    await a.release('a');
    expect(await b.holder()).toBeUndefined();
    expect(api.labels(SERVICE)['dockerlet.dev/lease.token']).toBe(String(first?.token));
    const second = await b.tryAcquireOrRenew('b', LEASE_MS);
    expect(second?.token).toBeGreaterThan(first?.token ?? Infinity);
  });

  it('release by a non-holder changes nothing', async () => {
    await lock().tryAcquireOrRenew('a', LEASE_MS);
    const updates = api.updates;
    await lock().release('b');
    expect(api.updates).toBe(updates);
    expect(api.labels(SERVICE)['dockerlet.dev/lease.holder']).toBe('a');
  });

  it('hands out growing tokens even when the labels were wiped (a stack redeploy), from the version floor', async () => {
    const first = await lock().tryAcquireOrRenew('a', LEASE_MS);
    api.touch(SERVICE, { team: 'ops' });
    const second = await lock().tryAcquireOrRenew('b', LEASE_MS);
    expect(second?.token).toBeGreaterThan(first?.token ?? Infinity);
  });

  describe('a holder Swarm reports dead', () => {
    const task = (id: string, state: string) => ({ id, serviceId: SERVICE, slot: 1, desiredState: 'running', state, addresses: [] });

    it.each(['failed', 'complete', 'shutdown', 'rejected'])('frees the lease at once when the holder task is %s, with a greater token', async (state) => {
      api.tasks.push(task('task-a', 'running'));
      const a = new SwarmLeaseLock({ api, serviceId: SERVICE, clock, ownTaskId: 'task-a' });
      const b = new SwarmLeaseLock({ api, serviceId: SERVICE, clock, ownTaskId: 'task-b' });
      const first = await a.tryAcquireOrRenew('a', LEASE_MS);
      expect(api.labels(SERVICE)['dockerlet.dev/lease.holder-task']).toBe('task-a');
      expect(await b.tryAcquireOrRenew('b', LEASE_MS)).toBeUndefined();
      api.tasks[0]!.state = state;
      const second = await b.tryAcquireOrRenew('b', LEASE_MS);
      expect(second?.token).toBeGreaterThan(first?.token ?? Infinity);
      expect(api.labels(SERVICE)['dockerlet.dev/lease.holder-task']).toBe('task-b');
    });

    it('frees it when the holder task no longer exists', async () => {
      const a = new SwarmLeaseLock({ api, serviceId: SERVICE, clock, ownTaskId: 'gone' });
      await a.tryAcquireOrRenew('a', LEASE_MS);
      expect(await lock().tryAcquireOrRenew('b', LEASE_MS)).toBeDefined();
    });

    it.each(['running', 'orphaned', 'remove', 'starting'])('waits the lease out when the holder task is %s (it may still run)', async (state) => {
      api.tasks.push(task('task-a', state));
      await new SwarmLeaseLock({ api, serviceId: SERVICE, clock, ownTaskId: 'task-a' }).tryAcquireOrRenew('a', LEASE_MS);
      const b = lock();
      expect(await b.tryAcquireOrRenew('b', LEASE_MS)).toBeUndefined();
      clock.advance(LEASE_MS);
      expect(await b.tryAcquireOrRenew('b', LEASE_MS)).toBeDefined();
    });
  });
});

// A fleet's binding stores against the real thing (README "Fleet"): two schedulers that both read
// a Session unbound and both bind it, on Redis (the compare-and-set script) and on the real
// kube-apiserver (a status write conditional on resourceVersion): exactly one wins. The agent's
// own status writes leave the binding and the Scheduled condition alone.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { Condition, SessionBinding } from '../../crds/types.ts';
import { RedisBindingStore } from '../../agent/status/redis-binding-store.ts';
import { openKubeStore } from '../../agent/sources/kube/open-kube-store.ts';
import type { OpenedKubeStore } from '../../agent/sources/kube/open-kube-store.ts';
import { uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { installCrds, requireTestKube, TEST_KUBECONFIG } from '../support/kube.ts';
import { KubeWorld } from '../support/kube-world.ts';
import { flushPrefix, requireTestRedis, TEST_REDIS_URL } from '../support/redis.ts';

const logger = pino({ level: 'silent' });
const TIME = '2026-01-01T00:00:00.000Z';

function binding(agent: string, epoch: number): SessionBinding {
  return { agent, epoch, time: TIME, reason: epoch === 1 ? 'Bound' : 'Rescheduled' };
}

function scheduled(message: string): Condition {
  return { type: 'Scheduled', status: 'True', reason: 'Bound', message, lastTransitionTime: TIME };
}

describe('Redis bindings: the compare-and-set script', () => {
  let prefix = '';
  let redis: Redis[] = [];
  let stores: RedisBindingStore[] = [];

  beforeEach(async () => {
    await requireTestRedis();
    prefix = `dockerlet:fleet:${uniqueRunId('bind')}`;
    redis = [new Redis(TEST_REDIS_URL), new Redis(TEST_REDIS_URL)];
    stores = redis.map((r) => new RedisBindingStore({ redis: r, prefix, logger, refreshMs: 60_000 }));
    await Promise.all(stores.map((s) => s.start()));
  });

  afterEach(async () => {
    await Promise.all(stores.map((s) => s.close()));
    for (const r of redis) r.disconnect();
    await flushPrefix(prefix);
  });

  it('lets exactly one of two schedulers bind a Session both read unbound; the other learns of it', async () => {
    const [a, b] = stores as [RedisBindingStore, RedisBindingStore];
    const changed: string[] = [];
    b.onChange((key) => changed.push(key));
    const results = await Promise.all([
      a.bind({ key: 'team/s1', next: binding('host-a', 1), scheduled: scheduled('bound to host-a (epoch 1)') }),
      b.bind({ key: 'team/s1', next: binding('host-b', 1), scheduled: scheduled('bound to host-b (epoch 1)') }),
    ]);
    expect([...results].sort()).toEqual(['conflict', 'ok']);
    const winner = results[0] === 'ok' ? 'host-a' : 'host-b';
    await eventually(() => {
      expect(a.get('team/s1')?.agent).toBe(winner);
      expect(b.get('team/s1')?.agent).toBe(winner);
    });
    expect(changed).toContain('team/s1');
    expect(b.scheduled('team/s1')?.message).toBe(`bound to ${winner} (epoch 1)`);
  });

  it('moves only from the binding stored now, and only to a greater epoch', async () => {
    const [a] = stores as [RedisBindingStore];
    expect(await a.bind({ key: 'team/s1', next: binding('host-a', 1), scheduled: scheduled('1') })).toBe('ok');
    // Decided from a stale read (unbound): refused.
    expect(await a.bind({ key: 'team/s1', next: binding('host-b', 1), scheduled: scheduled('x') })).toBe('conflict');
    // The epoch does not grow: refused.
    expect(await a.bind({ key: 'team/s1', previous: binding('host-a', 1), next: binding('host-b', 1), scheduled: scheduled('x') })).toBe('conflict');
    expect(await a.bind({ key: 'team/s1', previous: binding('host-a', 1), next: binding('host-b', 2), scheduled: scheduled('2') })).toBe('ok');
    // A deposed scheduler that still thinks it is at epoch 1: refused.
    expect(await a.bind({ key: 'team/s1', previous: binding('host-a', 1), next: binding('host-c', 2), scheduled: scheduled('x') })).toBe('conflict');
    expect(a.get('team/s1')).toMatchObject({ agent: 'host-b', epoch: 2 });
    expect(await a.unbind('team/s1', binding('host-b', 2))).toBe('ok');
    expect(a.get('team/s1')).toBeUndefined();
  });

  it('says it is not fresh when Redis does not answer, and keeps the last copy', async () => {
    const [a] = stores as [RedisBindingStore];
    await a.bind({ key: 'team/s1', next: binding('host-a', 1), scheduled: scheduled('1') });
    expect(a.fresh()).toBe(true);
    redis[0]!.disconnect();
    await eventually(() => expect(a.fresh()).toBe(false));
    expect(a.get('team/s1')?.agent).toBe('host-a');
  });
});

describe('Kubernetes bindings: status writes conditional on resourceVersion', () => {
  let kc: KubeConfig;
  let world: KubeWorld;
  let opened: OpenedKubeStore[] = [];

  beforeAll(async () => {
    kc = await requireTestKube();
    await installCrds(kc);
    world = await KubeWorld.create(kc, 'dlt-bind');
  });

  afterEach(async () => {
    await Promise.all(opened.map((o) => o.close()));
    opened = [];
  });

  afterAll(async () => {
    await world?.cleanup();
  });

  it('lets exactly one of two schedulers bind a Session both read unbound; an agent status write keeps the binding', async () => {
    await world.createSession('s1');
    const key = `${world.namespace}/s1`;
    opened = [0, 1].map(() => openKubeStore({ kubeconfig: TEST_KUBECONFIG, namespace: world.namespace }, { logger, identity: 'test' }));
    await Promise.all(opened.map((o) => o.store.start()));
    await eventually(() => opened.forEach((o) => expect(o.bindings.fresh() && o.store.resourceVersion(key)).toBeTruthy()));
    const [a, b] = opened as [OpenedKubeStore, OpenedKubeStore];
    const results = await Promise.all([
      a.bindings.bind({ key, next: binding('host-a', 1), scheduled: scheduled('bound to host-a (epoch 1)') }),
      b.bindings.bind({ key, next: binding('host-b', 1), scheduled: scheduled('bound to host-b (epoch 1)') }),
    ]);
    expect([...results].sort()).toEqual(['conflict', 'ok']);
    const winner = results[0] === 'ok' ? 'host-a' : 'host-b';
    await eventually(async () => expect((await world.getSession('s1'))?.status).toMatchObject({ binding: { agent: winner, epoch: 1 } }));
    await eventually(() => expect(b.bindings.get(key)?.agent).toBe(winner));

    // The winner's agent writes its status (without binding or Scheduled in it): both stay.
    await a.statusStore.write(key, { phase: 'Running', agent: winner, conditions: [{ type: 'Ready', status: 'True', reason: 'Running', message: 'up', lastTransitionTime: TIME }] });
    await a.statusStore.flush();
    const status = (await world.getSession('s1'))?.status as { binding?: SessionBinding; phase?: string; conditions?: Condition[] };
    expect(status.phase).toBe('Running');
    expect(status.binding).toMatchObject({ agent: winner, epoch: 1 });
    expect(status.conditions?.map((c) => c.type).sort()).toEqual(['Ready', 'Scheduled']);

    // A move decided from the binding before the one stored now is refused.
    await eventually(() => expect(a.store.serverStatus(key)?.phase).toBe('Running'));
    expect(await a.bindings.bind({ key, next: binding('host-c', 2), scheduled: scheduled('x') })).toBe('conflict');
    expect(await a.bindings.bind({ key, previous: binding(winner, 1), next: binding('host-c', 2), scheduled: scheduled('moved') })).toBe('ok');
    await eventually(async () => expect((await world.getSession('s1'))?.status).toMatchObject({ binding: { agent: 'host-c', epoch: 2 }, phase: 'Running' }));
  });
});

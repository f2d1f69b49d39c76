// Fenced Session status on the real API server: a KubeStatusStore whose leader's Lease (a real
// KubeLeaseLock) passed to another replica reads the Lease before its batch, finds another holder,
// and sends nothing; the Session's status on the server stays what it was.
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeLeaseLock } from '../../agent/leader/kube-lease-lock.ts';
import { KubeSessionApi } from '../../agent/sources/kube/session-api.ts';
import { KubeStatusStore } from '../../agent/status/kube/status-store.ts';
import type { SessionStatus } from '../../crds/types.ts';
import { FencedError } from '../../reconciler/errors.ts';
import { electorFence } from '../../reconciler/fence.ts';
import { eventually } from '../support/eventually.ts';
import { installCrds, requireTestKube } from '../support/kube.ts';
import { KubeWorld } from '../support/kube-world.ts';

const silent = pino({ level: 'silent' });
let kc: KubeConfig;
let kube: KubeWorld;

beforeAll(async () => {
  kc = await requireTestKube();
  await installCrds(kc);
  kube = await KubeWorld.create(kc, 'dlt-fenced-status');
});

afterAll(async () => {
  await kube?.cleanup();
});

const noServerCopy = { serverStatus: () => undefined, serverStatuses: () => new Map<string, SessionStatus>() };

describe('KubeStatusStore fenced by a Kubernetes Lease', () => {
  it('writes while the Lease names this replica with its token, and sends nothing once another replica holds it', async () => {
    await kube.createSession('web');
    const key = `${kube.namespace}/web`;
    const lockA = new KubeLeaseLock({ kubeConfig: kc, namespace: kube.namespace, name: 'fenced-status', logger: silent });
    const lockB = new KubeLeaseLock({ kubeConfig: kc, namespace: kube.namespace, name: 'fenced-status', logger: silent });
    const grantA = await lockA.tryAcquireOrRenew('replica-a', 1_000);
    expect(grantA).toBeDefined();
    // Replica A as a frozen process sees itself on waking: its elector still has the token.
    const fence = electorFence({ identity: 'replica-a', validToken: () => grantA!.token }, () => lockA.holder());
    const store = new KubeStatusStore({ api: new KubeSessionApi(kc), source: noServerCopy, logger: silent, flushDelayMs: 60_000, fence });

    await store.write(key, { phase: 'Running', message: 'written by a' });
    await store.flush();
    expect((await kube.getSession('web'))?.status).toMatchObject({ phase: 'Running', message: 'written by a' });

    await store.write(key, { phase: 'Failed', message: 'decided by a before its freeze' });
    // B sees the Lease unchanged for its whole duration (its own clock) and takes it.
    await lockB.tryAcquireOrRenew('replica-b', 1_000);
    const grantB = await eventually(async () => {
      const grant = await lockB.tryAcquireOrRenew('replica-b', 10_000);
      expect(grant).toBeDefined();
      return grant!;
    });
    expect(grantB.token).toBeGreaterThan(grantA!.token);
    await expect(fence.confirm('status write', grantA!.token)).rejects.toBeInstanceOf(FencedError);

    await store.flush();
    expect(store.patches).toBe(1);
    expect((await kube.getSession('web'))?.status).toMatchObject({ phase: 'Running', message: 'written by a' });
    await Promise.all([lockA.close(), lockB.close()]);
  });
});

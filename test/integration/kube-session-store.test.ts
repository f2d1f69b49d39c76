// The Kubernetes store's pieces against the real kube-apiserver: list+watch of one namespace,
// status through the status subresource, the finalizer's test-op patches, and the informer's
// restart after the connection to the API server breaks (through a TCP proxy the test cuts).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { KubeConfig, makeInformer } from '@kubernetes/client-node';
import pino from 'pino';
import type { Session } from '../../crds/types.ts';
import { openKubeStore, sessionFinalizer, sessionsPath, SESSION_FINALIZER } from '../../agent/sources/kube/open-kube-store.ts';
import type { OpenedKubeStore } from '../../agent/sources/kube/open-kube-store.ts';
import { KubeSessionApi } from '../../agent/sources/kube/session-api.ts';
import type { KubeSessionObject } from '../../agent/sources/kube/session-api.ts';
import { KubeSessionStore } from '../../agent/sources/kube/session-store.ts';
import { installCrds, requireTestKube, TEST_KUBECONFIG } from '../support/kube.ts';
import { KubeWorld } from '../support/kube-world.ts';
import { eventually } from '../support/eventually.ts';
import { freePort } from '../support/docker.ts';

const logger = pino({ level: 'silent' });

describe('Kubernetes session store against the real API server', () => {
  let kc: KubeConfig;
  let world: KubeWorld;
  let opened: OpenedKubeStore | undefined;

  beforeAll(async () => {
    kc = await requireTestKube();
    await installCrds(kc);
    world = await KubeWorld.create(kc, 'dlt-store');
  });

  afterEach(async () => {
    await opened?.close();
    opened = undefined;
  });

  afterAll(async () => {
    await world?.cleanup();
  });

  it('lists, then follows creates, edits and deletes in its namespace only', async () => {
    await world.createSession('early', { state: 'Stopped' });
    const other = await KubeWorld.create(kc, 'dlt-other');
    try {
      await other.createSession('elsewhere');
      opened = openKubeStore({ kubeconfig: TEST_KUBECONFIG, namespace: world.namespace }, { logger, identity: 'test' });
      const { store } = opened;
      const changed: string[] = [];
      store.onChange((key) => changed.push(key));
      await store.start();
      expect(store.isComplete()).toBe(true);
      expect(store.list().map((e) => e.key)).toEqual([`${world.namespace}/early`]);
      const early = store.get(`${world.namespace}/early`)?.object;
      // Defaults come from the API server (structural schema), validation from crds/validate.ts.
      expect(early?.spec).toMatchObject({ state: 'Stopped', restartPolicy: 'Always', imagePullPolicy: 'IfNotPresent' });
      expect(early?.metadata.generation).toBe(1);

      await world.createSession('late');
      await eventually(() => expect(store.get(`${world.namespace}/late`)?.object).toBeDefined(), { timeoutMs: 10_000 });
      await world.patchSpec('late', { image: 'dockerlet-test/busybox:other' });
      await eventually(() => expect(store.get(`${world.namespace}/late`)?.object?.spec.image).toBe('dockerlet-test/busybox:other'), { timeoutMs: 10_000 });
      expect(store.get(`${world.namespace}/late`)?.object?.metadata.generation).toBe(2);
      await world.deleteSession('early');
      await eventually(() => expect(store.get(`${world.namespace}/early`)).toBeUndefined(), { timeoutMs: 10_000 });
      expect(changed).toEqual(expect.arrayContaining([`${world.namespace}/early`, `${world.namespace}/late`]));
      expect(store.list().some((e) => e.key.startsWith(`${other.namespace}/`))).toBe(false);
    } finally {
      await other.cleanup();
    }
  });

  it('writes status through the status subresource; generation stays, a dropped field is removed', async () => {
    await world.createSession('status');
    opened = openKubeStore({ kubeconfig: TEST_KUBECONFIG, namespace: world.namespace }, { logger, identity: 'test' });
    const { store, statusStore } = opened;
    await store.start();
    const key = `${world.namespace}/status`;
    const changed: string[] = [];
    store.onChange((k) => changed.push(k));
    await statusStore.write(key, { phase: 'Creating', agent: 'a1' });
    await statusStore.write(key, { phase: 'Running', agent: 'a1', containerID: 'c0ffee', observedGeneration: 1, restartCount: 0 });
    await statusStore.flush();
    expect(statusStore.patches).toBe(1);
    const written = await world.getSession('status');
    expect(written?.status).toMatchObject({ phase: 'Running', agent: 'a1', containerID: 'c0ffee', observedGeneration: 1 });
    expect(written?.metadata.generation).toBe(1);
    // The informer sees the status; a status-only change is not a change of desired state.
    await eventually(() => expect(store.serverStatus(key)?.phase).toBe('Running'), { timeoutMs: 10_000 });
    expect(changed).toEqual([]);

    await statusStore.write(key, { phase: 'Stopped', agent: 'a1', observedGeneration: 1, restartCount: 0 });
    await statusStore.flush();
    const after = await world.getSession('status');
    expect(after?.status?.phase).toBe('Stopped');
    expect(after?.status?.containerID).toBeUndefined();
  });

  it('adds its finalizer next to someone else’s and removes only its own, from stale reads', async () => {
    const created = await world.createSession('final');
    await world.patchMetadata('final', { finalizers: ['example.com/keep'] });
    const finalizer = sessionFinalizer(new KubeSessionApi(kc));
    // A cached copy from before example.com/keep was added: the test op fails, the live list wins.
    const stale = { apiVersion: 'dockerlet.dev/v1alpha1', kind: 'Session', metadata: { name: 'final', namespace: world.namespace, uid: created.metadata.uid }, spec: { image: 'x' } } as Session;
    expect(await finalizer.ensure(stale)).toBe('changed');
    expect((await world.getSession('final'))?.metadata.finalizers).toEqual(['example.com/keep', SESSION_FINALIZER]);
    expect(await finalizer.ensure({ ...stale, metadata: { ...stale.metadata, finalizers: ['example.com/keep', SESSION_FINALIZER] } })).toBe('unchanged');

    // Stale again: ours at index 0 in the cache, at 1 on the server. Never removes example.com/keep.
    expect(await finalizer.release({ ...stale, metadata: { ...stale.metadata, finalizers: [SESSION_FINALIZER] } })).toBe('changed');
    expect((await world.getSession('final'))?.metadata.finalizers).toEqual(['example.com/keep']);
    await world.deleteSession('final');
    expect(await finalizer.release(stale)).toBe('unchanged');
  });

  it('restarts list+watch after the connection breaks, incomplete meanwhile, and catches up', async () => {
    const target = new URL(kc.getCurrentCluster()!.server);
    const proxy = new Proxy(Number(target.port), target.hostname);
    const port = await freePort();
    await proxy.listen(port);
    const viaProxy = new KubeConfig();
    viaProxy.loadFromOptions({
      clusters: kc.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${port}` })),
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
    const api = new KubeSessionApi(viaProxy);
    const informer = makeInformer<KubeSessionObject>(viaProxy, sessionsPath(world.namespace), () => api.list(world.namespace));
    const store = new KubeSessionStore({ informer, logger, server: 'proxy', initialBackoffMs: 100, maxBackoffMs: 500 });
    try {
      await store.start();
      expect(store.isComplete()).toBe(true);
      await proxy.cut();
      await eventually(() => expect(store.isComplete()).toBe(false), { timeoutMs: 10_000 });
      expect(store.loadProblems()[0]).toContain('cannot list/watch Sessions on proxy');
      // What was known stays; a change made while it was down arrives after the restart.
      await world.createSession('while-down');
      await proxy.listen(port);
      await eventually(() => {
        expect(store.isComplete()).toBe(true);
        expect(store.get(`${world.namespace}/while-down`)?.object).toBeDefined();
      }, { timeoutMs: 15_000 });
    } finally {
      await store.stop();
      await proxy.cut();
    }
  });
});

/** A TCP forwarder that can be cut (listener closed, every connection destroyed) and reopened. */
class Proxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  constructor(
    private readonly targetPort: number,
    private readonly targetHost: string,
  ) {}

  listen(port: number): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  }

  cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

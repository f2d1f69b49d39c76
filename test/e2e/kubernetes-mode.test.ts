// Kubernetes mode as a user runs it: `dockerlet agent --store kubernetes --kubeconfig ...` next to
// the real engine, Sessions created, edited and deleted through the real kube-apiserver, observed
// through the API (status, printer columns, finalizers, Events) and the docker CLI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { dockerCli, requireTestEngine, TEST_IMAGE } from '../support/docker.ts';
import { AgentProcess, AgentWorld, metricValue, runCli } from '../support/agent-process.ts';
import { consistently, eventually } from '../support/eventually.ts';
import { installCrds, requireTestKube, TEST_KUBECONFIG } from '../support/kube.ts';
import { KubeWorld } from '../support/kube-world.ts';
import type { KubeSession } from '../support/kube-world.ts';

const N = 10;
const names = Array.from({ length: N }, (_, i) => `s${String(i).padStart(2, '0')}`);
const FINALIZER = 'dockerlet.dev/container';
const MI = 1024 * 1024;

function ready(session: KubeSession | undefined): string | undefined {
  return session?.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

describe('Kubernetes mode: Session CRs on a real API server + local engine', () => {
  let kc: KubeConfig;
  let kube: KubeWorld;
  let world: AgentWorld;
  let agent: AgentProcess;
  const key = (name: string): string => `${kube.namespace}/${name}`;
  const startAgent = async (): Promise<AgentProcess> => {
    const process = new AgentProcess(world, ['--store', 'kubernetes', '--kubeconfig', TEST_KUBECONFIG, '--namespace', kube.namespace]);
    await process.start();
    return process;
  };

  beforeAll(async () => {
    await requireTestEngine();
    kc = await requireTestKube();
    await installCrds(kc);
    kube = await KubeWorld.create(kc, 'dlt-e2e');
    world = await AgentWorld.create();
    agent = await startAgent();
  });

  afterAll(async () => {
    await agent?.stop('SIGTERM');
    await kube?.cleanup();
    await world?.cleanup();
  });

  it(`converges ${N} Sessions: containers running, status Ready, finalizer set, printer columns filled, Events recorded`, async () => {
    for (const name of names) await kube.createSession(name, { resources: { memory: '32Mi' } });
    await eventually(
      async () => {
        const containers = await world.containers();
        for (const name of names) expect(containers.get(key(name))?.state, name).toBe('running');
        for (const session of await kube.listSessions()) {
          const name = session.metadata.name;
          expect(session.status?.phase, name).toBe('Running');
          expect(ready(session), name).toBe('True');
          expect(session.status?.observedGeneration, name).toBe(1);
          expect(session.status?.containerID, name).toBe(containers.get(key(name))?.id);
          expect(session.metadata.finalizers, name).toEqual([FINALIZER]);
        }
      },
      { timeoutMs: 120_000, message: `${N} Sessions Running and Ready` },
    );
    expect((await world.containers()).size).toBe(N);

    // What `kubectl get sessions` prints: the server's table from the CRD's printer columns.
    const table = await kube.table();
    expect(table.columns).toEqual(['Name', 'Phase', 'Agent', 'Image', 'Age']);
    expect(table.rows).toHaveLength(N);
    for (const row of table.rows) expect(row).toMatchObject({ Phase: 'Running', Agent: world.agentName, Image: TEST_IMAGE });

    const events = await kube.events();
    for (const name of names) {
      const reasons = events.filter((e) => e.involvedObject.name === name).map((e) => e.reason);
      expect(reasons, name).toEqual(expect.arrayContaining(['Created', 'Started']));
    }
    expect(events.find((e) => e.reason === 'Created')?.message).toContain('no container for the Session');
  });

  it('edit: an image change recreates the container, a memory change updates it in place', async () => {
    const before = await world.containers();
    const imageId = (await dockerCli(['image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE])).trim();
    await kube.patchSpec('s01', { image: imageId });
    await kube.patchSpec('s02', { resources: { memory: '64Mi' } });
    await eventually(
      async () => {
        const after = await world.containers();
        expect(after.get(key('s01'))?.id).not.toBe(before.get(key('s01'))?.id);
        expect(after.get(key('s01'))?.state).toBe('running');
        expect(await world.inspectMemory(key('s02'))).toBe(64 * MI);
        const s01 = await kube.getSession('s01');
        const s02 = await kube.getSession('s02');
        expect(s01?.status?.observedGeneration).toBe(2);
        expect(s02?.status?.observedGeneration).toBe(2);
        expect(s01?.status?.containerID).toBe(after.get(key('s01'))?.id);
      },
      { timeoutMs: 60_000, message: 'image change recreated, memory updated in place' },
    );
    const after = await world.containers();
    expect(after.get(key('s02'))?.id).toBe(before.get(key('s02'))?.id);
    for (const name of names.filter((n) => n !== 's01')) expect(after.get(key(name))?.id, name).toBe(before.get(key(name))?.id);
    const events = await kube.events();
    const recreated = events.find((e) => e.involvedObject.name === 's01' && e.reason === 'Recreated');
    expect(recreated?.message).toContain('config-hash changed: image');
    expect(events.find((e) => e.involvedObject.name === 's02' && e.reason === 'Updated')?.message).toContain('resources.memory 32Mi → 64Mi');
  });

  it(`an agent restarted under ${N} running Sessions recreates none of them`, async () => {
    const before = await world.containers();
    const running = [...before.values()].filter((c) => c.state === 'running').length;
    expect(running).toBe(N);
    await agent.stop('SIGTERM');
    agent = await startAgent();
    // The new leader has reconciled every Session at least once...
    await eventually(
      async () => expect(metricValue(await agent.metrics(), 'dockerlet_reconcile_total', { controller: 'session' })).toBeGreaterThanOrEqual(N),
      { timeoutMs: 60_000, message: 'new agent reconciled every Session' },
    );
    // ...and every container is the one it adopted.
    await consistently(async () => expect(await world.containers()).toEqual(before), { durationMs: 3_000, intervalMs: 500 });
    for (const session of await kube.listSessions()) expect(session.status?.phase, session.metadata.name).toBe('Running');
    // A change made after the restart is applied by the new agent.
    await kube.patchSpec('s03', { state: 'Stopped' });
    await eventually(async () => {
      expect((await world.containers()).get(key('s03'))).toEqual({ id: before.get(key('s03'))?.id, state: 'exited' });
      expect((await kube.getSession('s03'))?.status?.phase).toBe('Stopped');
    }, { timeoutMs: 30_000 });
  });

  it('delete: the container goes first, then the finalizer, then the object', async () => {
    expect((await world.containers()).has(key('s09'))).toBe(true);
    await kube.deleteSession('s09');
    await eventually(
      async () => {
        expect((await world.containers()).has(key('s09'))).toBe(false);
        expect(await kube.getSession('s09')).toBeUndefined();
      },
      { timeoutMs: 30_000, message: 'container removed and Session gone' },
    );
    const removed = (await kube.events()).find((e) => e.involvedObject.name === 's09' && e.reason === 'Removed');
    expect(removed?.message).toContain(`Session ${key('s09')} is being deleted`);
  });

  it('keeps a foreign finalizer: the object waits for it after our container is gone', async () => {
    await kube.patchMetadata('s08', { finalizers: [FINALIZER, 'example.com/hold'] });
    await kube.deleteSession('s08');
    await eventually(
      async () => {
        expect((await world.containers()).has(key('s08'))).toBe(false);
        expect((await kube.getSession('s08'))?.metadata.finalizers).toEqual(['example.com/hold']);
      },
      { timeoutMs: 30_000, message: 'our finalizer released, the other kept' },
    );
    await kube.patchMetadata('s08', { finalizers: null });
    await eventually(async () => expect(await kube.getSession('s08')).toBeUndefined(), { timeoutMs: 10_000 });
  });
});

describe('Kubernetes mode: what the CLI says when it cannot start', () => {
  it('names --kubeconfig when the file cannot be loaded, and exits 2', async () => {
    const world = await AgentWorld.create();
    try {
      const result = await runCli(['agent', ...world.flags(), '--store', 'kubernetes', '--kubeconfig', '/nonexistent/kubeconfig']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('error: cannot load --kubeconfig /nonexistent/kubeconfig');
    } finally {
      await world.cleanup();
    }
  });

  it('refuses --namespace with a YAML store, and points get/diff at kubectl', async () => {
    const world = await AgentWorld.create();
    try {
      const agent = await runCli(['agent', ...world.flags(), '--namespace', 'team']);
      expect(agent.code).toBe(2);
      expect(agent.stderr).toContain('--namespace is only used with --store kubernetes');
      const get = await runCli(['get', 'sessions', '--store', 'kubernetes', '--state-dir', world.stateDir]);
      expect(get.code).toBe(2);
      expect(get.stderr).toContain('use `kubectl get sessions -A`');
    } finally {
      await world.cleanup();
    }
  });
});

// An agent on a Docker host outside the cluster, set up as deploy/kubernetes/external/README.md
// says: the shipped RBAC, a kubeconfig from make-kubeconfig.sh (a TokenRequest token for the
// agent's ServiceAccount, made with the test environment's kubectl), and `dockerlet agent
// --kubeconfig`. With nothing but the ServiceAccount's permissions, two replicas elect a leader
// through the Lease and keep their Agent resource Online, first over a YAML store, then as the
// shipped Deployment runs them: --store kubernetes --leader-election kubernetes, Sessions applied,
// edited and deleted with kubectl, status, finalizers and core/v1 Events written — and the same
// credentials read no Secrets.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoordinationV1Api, CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, AgentWorld, REPO } from '../support/agent-process.ts';
import { requireTestEngine, uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { deploymentAgentArgs } from '../support/deploy-manifests.ts';
import { deleteAgent, deleteLease, readAgent } from '../support/kube-objects.ts';
import { applyRbac } from '../support/kube-rbac.ts';
import type { AppliedRbac } from '../support/kube-rbac.ts';
import { KubeWorld } from '../support/kube-world.ts';
import type { KubeSession } from '../support/kube-world.ts';
import { installCrds, requireTestKube } from '../support/kube.ts';
import { kubectl, kubectlEnv, requireTestKubectl } from '../support/kubectl.ts';

const run = promisify(execFile);
const SCRIPT = join(REPO, 'deploy/kubernetes/external/make-kubeconfig.sh');
const FINALIZER = 'dockerlet.dev/container';
const MI = 1024 * 1024;

let admin: KubeConfig;
let rbac: AppliedRbac;
/** The file make-kubeconfig.sh wrote: the agent's only credentials. */
let agentKubeconfig: string;
const worlds: AgentWorld[] = [];
const processes: AgentProcess[] = [];

beforeAll(async () => {
  await requireTestEngine();
  admin = await requireTestKube();
  await installCrds(admin);
  await requireTestKubectl();
  rbac = await applyRbac(admin, uniqueRunId('ext').slice('ext-'.length));
  const home = await AgentWorld.create();
  worlds.push(home);
  // The script runs plain `kubectl`: the test environment's, first on PATH, as the admin.
  const { stdout } = await run('bash', [SCRIPT, '--namespace', rbac.namespace, '--service-account', rbac.serviceAccount, '--duration', '10m'], { env: kubectlEnv() });
  agentKubeconfig = join(home.root, 'agent.kubeconfig');
  await writeFile(agentKubeconfig, stdout, { mode: 0o600 });
  expect(stdout).not.toContain(admin.getCurrentUser()?.token ?? 'no admin token');
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  for (const world of worlds) {
    await deleteLease(admin, rbac.namespace, `dockerlet-${world.agentName}`);
    await deleteAgent(admin, world.agentName);
    await world.cleanup();
  }
  await rbac?.remove();
});

/** Starts two replicas and waits until exactly one leads. */
async function startReplicas(world: AgentWorld, args: string[]): Promise<{ replicas: AgentProcess[]; leader: AgentProcess }> {
  const replicas: AgentProcess[] = [];
  for (let i = 0; i < 2; i++) {
    const replica = new AgentProcess(world, args);
    processes.push(replica);
    replicas.push(replica);
    await replica.start();
  }
  const leader = await eventually(
    async () => {
      const leading = [];
      for (const p of replicas) if (await p.leading()) leading.push(p);
      expect(leading).toHaveLength(1);
      return leading[0]!;
    },
    { timeoutMs: 30_000, intervalMs: 100, message: 'exactly one leader' },
  );
  return { replicas, leader };
}

/** The Lease names the leader and the Agent resource says Online with it. */
async function expectLeaseAndAgent(world: AgentWorld, leader: AgentProcess): Promise<void> {
  const lease = await admin.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: rbac.namespace, name: `dockerlet-${world.agentName}` });
  expect(lease.spec?.holderIdentity).toBe(leader.identity());
  await eventually(async () => expect((await readAgent(admin, world.agentName))?.status).toMatchObject({ state: 'Online', leader: leader.identity() }));
}

function expectNothingRefused(replicas: AgentProcess[]): void {
  const logs = replicas.flatMap((p) => p.logs).join('\n');
  expect(logs).not.toMatch(/HTTP-Code: 403|forbidden/i);
}

describe('an agent outside the cluster, with the kubeconfig make-kubeconfig.sh makes', () => {
  it('elects, converges and beats with only the ServiceAccount RBAC (YAML store)', async () => {
    const world = await AgentWorld.create();
    worlds.push(world);
    await world.writeSession({ name: 'outside', spec: { command: ['sleep', 'infinity'] } });
    const args = ['--leader-election', 'kubernetes', '--kubeconfig', agentKubeconfig, '--lease-namespace', rbac.namespace, '--heartbeat-interval', '1s'];
    const { replicas, leader } = await startReplicas(world, args);
    await eventually(async () => expect((await world.containers()).get('default/outside')?.state).toBe('running'));
    await expectLeaseAndAgent(world, leader);
    expectNothingRefused(replicas);
  });

  it('runs as the shipped Deployment does (--store kubernetes --leader-election kubernetes): apply, edit, delete, Events, no Secrets', async () => {
    const world = await AgentWorld.create();
    worlds.push(world);
    const kube = await KubeWorld.create(admin, 'dlt-sa');
    const secretName = `not-for-agents-${world.agentName}`;
    try {
      // deployment.yaml's arguments; AgentProcess points the machine's flags (engine socket, state
      // dir, listen port, log format) at the test engine and a free port.
      const shipped = deploymentAgentArgs({ POD_NAMESPACE: rbac.namespace, NODE_NAME: world.agentName }, ['--docker-socket', '--state-dir', '--listen', '--log-format']);
      expect(shipped).toEqual(expect.arrayContaining(['--store=kubernetes', '--leader-election=kubernetes']));
      // --namespace: the shared test server holds other tests' unassigned Sessions, which an agent
      // watching every namespace (as the Deployment does) would claim. That the ServiceAccount may
      // watch Sessions in every namespace is checked below with its own credentials.
      const { replicas, leader } = await startReplicas(world, [...shipped, '--kubeconfig', agentKubeconfig, '--namespace', kube.namespace]);

      // kubectl apply, as a user does (admin credentials).
      const names = ['sa-a', 'sa-b', 'sa-c'];
      const manifest = join(world.root, 'sessions.json');
      await writeFile(manifest, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: names.map((n) => kube.body(n, { resources: { memory: '32Mi' } })) }));
      const applied = await kubectl(['apply', '-f', manifest]);
      expect(applied.code, applied.stderr).toBe(0);
      const key = (name: string): string => `${kube.namespace}/${name}`;
      const ready = (s: KubeSession | undefined): string | undefined => s?.status?.conditions?.find((c) => c.type === 'Ready')?.status;
      await eventually(
        async () => {
          const containers = await world.containers();
          for (const name of names) {
            const session = await kube.getSession(name);
            expect(containers.get(key(name))?.state, name).toBe('running');
            expect(session?.status, name).toMatchObject({ phase: 'Running', agent: world.agentName, observedGeneration: 1, containerID: containers.get(key(name))?.id });
            expect(ready(session), name).toBe('True');
            expect(session?.metadata.finalizers, name).toEqual([FINALIZER]);
          }
        },
        { timeoutMs: 90_000, message: 'Sessions Running and Ready, written by the ServiceAccount' },
      );

      // Edit: a memory change is applied in place, and status catches up with the generation.
      const before = (await world.containers()).get(key('sa-b'))?.id;
      const patched = await kubectl(['patch', 'session.dockerlet.dev', 'sa-b', '-n', kube.namespace, '--type', 'merge', '-p', '{"spec":{"resources":{"memory":"64Mi"}}}']);
      expect(patched.code, patched.stderr).toBe(0);
      await eventually(
        async () => {
          expect(await world.inspectMemory(key('sa-b'))).toBe(64 * MI);
          expect((await kube.getSession('sa-b'))?.status?.observedGeneration).toBe(2);
        },
        { timeoutMs: 60_000, message: 'memory updated in place' },
      );
      expect((await world.containers()).get(key('sa-b'))?.id).toBe(before);

      // Delete: the container goes, then our finalizer, then the object.
      const deleted = await kubectl(['delete', 'session.dockerlet.dev', 'sa-c', '-n', kube.namespace, '--wait=false']);
      expect(deleted.code, deleted.stderr).toBe(0);
      await eventually(
        async () => {
          expect((await world.containers()).has(key('sa-c'))).toBe(false);
          expect(await kube.getSession('sa-c')).toBeUndefined();
        },
        { timeoutMs: 30_000, message: 'container removed and Session gone' },
      );

      // core/v1 Events, written with the ServiceAccount's `create events`.
      await eventually(async () => {
        const events = await kube.events();
        const reasons = (name: string): (string | undefined)[] => events.filter((e) => e.involvedObject.name === name).map((e) => e.reason);
        for (const name of names) expect(reasons(name), name).toEqual(expect.arrayContaining(['Created', 'Started']));
        expect(reasons('sa-b')).toContain('Updated');
        expect(reasons('sa-c')).toContain('Removed');
      });

      await expectLeaseAndAgent(world, leader);
      expectNothingRefused(replicas);

      // The Deployment watches every namespace: the same credentials may (a watch that sees a change here).
      const agentConfig = new KubeConfig();
      agentConfig.loadFromFile(agentKubeconfig);
      const seen: string[] = [];
      let watchError: unknown;
      const watch = await new Watch(agentConfig).watch(
        '/apis/dockerlet.dev/v1alpha1/sessions',
        {},
        (_phase: string, object: KubeSession) => seen.push(`${object.metadata.namespace}/${object.metadata.name}`),
        (error: unknown) => (watchError = error),
      );
      try {
        await kube.patchMetadata('sa-a', { labels: { touched: 'yes' } });
        await eventually(() => {
          expect(watchError).toBeUndefined();
          expect(seen).toContain(key('sa-a'));
        });
      } finally {
        watch.abort();
      }

      // And read no Secrets: not one the admin made in the Sessions' namespace, not any.
      await admin.makeApiClient(CoreV1Api).createNamespacedSecret({ namespace: kube.namespace, body: { metadata: { name: secretName }, stringData: { key: 'value' } } });
      for (const args of [['get', 'secret', secretName, '-n', kube.namespace], ['get', 'secrets', '-n', rbac.namespace], ['get', 'secrets', '--all-namespaces']]) {
        const refused = await kubectl(args, { kubeconfig: agentKubeconfig });
        expect(refused.code, args.join(' ')).not.toBe(0);
        expect(refused.stderr, args.join(' ')).toMatch(/Forbidden.*cannot (get|list) resource "secrets"/);
      }
    } finally {
      await admin.makeApiClient(CoreV1Api).deleteNamespacedSecret({ namespace: kube.namespace, name: secretName }).catch(() => undefined);
      await kube.cleanup();
    }
  });
});

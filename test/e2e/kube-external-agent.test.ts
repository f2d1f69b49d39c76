// An agent on a Docker host outside the cluster, set up as deploy/kubernetes/external/README.md
// says: the shipped RBAC, a kubeconfig from make-kubeconfig.sh (a TokenRequest token for the
// agent's ServiceAccount), and `dockerlet agent --kubeconfig`. Two replicas elect a leader
// through the Lease, converge a Session on the real engine and keep their Agent resource Online,
// with nothing but the ServiceAccount's permissions.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoordinationV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, AgentWorld, REPO } from '../support/agent-process.ts';
import { requireTestEngine, uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { deleteAgent, deleteLease, readAgent } from '../support/kube-objects.ts';
import { applyRbac } from '../support/kube-rbac.ts';
import type { AppliedRbac } from '../support/kube-rbac.ts';
import { installCrds, requireTestKube, TEST_KUBECONFIG } from '../support/kube.ts';

const run = promisify(execFile);
const SCRIPT = join(REPO, 'deploy/kubernetes/external/make-kubeconfig.sh');

let admin: KubeConfig;
let rbac: AppliedRbac;
let world: AgentWorld;
const processes: AgentProcess[] = [];

beforeAll(async () => {
  await requireTestEngine();
  admin = await requireTestKube();
  await installCrds(admin);
  try {
    await run('kubectl', ['version', '--client']);
  } catch (error) {
    throw new Error('make-kubeconfig.sh needs kubectl on PATH (install it, e.g. the kubectl package of your distribution)', { cause: error });
  }
  rbac = await applyRbac(admin, uniqueRunId('ext').slice('ext-'.length));
  world = await AgentWorld.create();
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  if (world) {
    await deleteLease(admin, rbac.namespace, `dockerlet-${world.agentName}`);
    await deleteAgent(admin, world.agentName);
    await world.cleanup();
  }
  await rbac?.remove();
});

describe('an agent outside the cluster, with the kubeconfig make-kubeconfig.sh makes', () => {
  it('elects, converges and beats with only the ServiceAccount RBAC', async () => {
    const { stdout } = await run('bash', [SCRIPT, '--namespace', rbac.namespace, '--service-account', rbac.serviceAccount, '--duration', '10m'], {
      env: { ...process.env, KUBECONFIG: TEST_KUBECONFIG },
    });
    const kubeconfig = join(world.root, 'agent.kubeconfig');
    await writeFile(kubeconfig, stdout, { mode: 0o600 });
    expect(stdout).not.toContain(admin.getCurrentUser()?.token ?? 'no admin token');

    await world.writeSession({ name: 'outside', spec: { command: ['sleep', 'infinity'] } });
    const args = ['--leader-election', 'kubernetes', '--kubeconfig', kubeconfig, '--lease-namespace', rbac.namespace, '--heartbeat-interval', '1s'];
    for (let i = 0; i < 2; i++) {
      const replica = new AgentProcess(world, args);
      processes.push(replica);
      await replica.start();
    }
    const leader = await eventually(
      async () => {
        const leading = [];
        for (const p of processes) if (await p.leading()) leading.push(p);
        expect(leading).toHaveLength(1);
        return leading[0]!;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'exactly one leader' },
    );
    await eventually(async () => expect((await world.containers()).get('default/outside')?.state).toBe('running'));
    const lease = await admin.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: rbac.namespace, name: `dockerlet-${world.agentName}` });
    expect(lease.spec?.holderIdentity).toBe(leader.identity());
    await eventually(async () => expect((await readAgent(admin, world.agentName))?.status).toMatchObject({ state: 'Online', leader: leader.identity() }));
    // Nothing was refused along the way.
    const logs = processes.flatMap((p) => p.logs).join('\n');
    expect(logs).not.toMatch(/HTTP-Code: 403|forbidden/i);
  });
});

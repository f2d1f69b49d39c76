// The host policy in Kubernetes mode, as an operator runs it: `dockerlet agent --store kubernetes
// --allow-host-paths DIR`, Sessions created through the real kube-apiserver. A Session that mounts
// the engine socket gets no container, its status is Stalled PolicyViolation naming the field, and
// a Warning Event says the same (once); one under the allowed prefix runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { requireTestEngine, TEST_DOCKER_SOCKET } from '../support/docker.ts';
import { AgentProcess, AgentWorld } from '../support/agent-process.ts';
import { consistently, eventually } from '../support/eventually.ts';
import { installCrds, requireTestKube, TEST_KUBECONFIG } from '../support/kube.ts';
import { KubeWorld } from '../support/kube-world.ts';

describe('host policy in Kubernetes mode', () => {
  let kube: KubeWorld;
  let world: AgentWorld;
  let agent: AgentProcess;
  let allowed: string;

  beforeAll(async () => {
    await requireTestEngine();
    const kc = await requireTestKube();
    await installCrds(kc);
    kube = await KubeWorld.create(kc, 'dlt-policy');
    world = await AgentWorld.create();
    allowed = join(await realpath(world.root), 'allowed');
    await mkdir(allowed);
    agent = new AgentProcess(world, ['--store', 'kubernetes', '--kubeconfig', TEST_KUBECONFIG, '--namespace', kube.namespace, '--allow-host-paths', allowed]);
    await agent.start();
  });

  afterAll(async () => {
    await agent?.stop('SIGTERM');
    await kube?.cleanup();
    await world?.cleanup();
  });

  it('refuses the engine socket with a Stalled status and one Warning Event, and runs an allowed hostPath', async () => {
    const mount = (path: string) => ({ command: ['sleep', 'infinity'], volumes: [{ name: 'h', hostPath: path }], mounts: [{ name: 'h', mountPath: '/h' }] });
    await kube.createSession('sock', mount(TEST_DOCKER_SOCKET));
    await kube.createSession('ok', mount(allowed));
    const message = `spec.volumes[0].hostPath: ${JSON.stringify(TEST_DOCKER_SOCKET)} is the engine socket (--allow-dangerous-host-paths); refused by policy`;

    await world.runningContainer(`${kube.namespace}/ok`, 60_000);
    await eventually(
      async () => {
        const sock = await kube.getSession('sock');
        expect(sock?.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'PolicyViolation', message });
        const warnings = (await kube.events()).filter((e) => e.involvedObject.name === 'sock' && e.reason === 'PolicyViolation');
        expect(warnings.map((e) => [e.type, e.message])).toEqual([['Warning', message]]);
      },
      { timeoutMs: 60_000, message: 'sock Stalled PolicyViolation with its Event' },
    );
    await consistently(
      async () => {
        expect((await world.containers()).has(`${kube.namespace}/sock`)).toBe(false);
      },
      { durationMs: 2_000, message: 'no container for the refused Session' },
    );
  }, 120_000);
});

// The agent image run with the shipped Deployment's pod: deployment.yaml's arguments and security
// context mapped onto `docker run` (no kubelet here) — uid 10001, the Docker socket's group as a
// supplemental group, read-only root with emptyDirs as tmpfs, no capabilities, no privilege
// escalation — authenticated with make-kubeconfig.sh's ServiceAccount kubeconfig. It must reach
// the engine as that non-root user and converge a Session from the API server (FIELD-NOTES #8).
import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../support/agent-process.ts';
import { dockerCli, freePort, removeContainersByLabel, requireTestEngine, TEST_DOCKER_SOCKET, uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { deploymentAgentArgs, deploymentPod } from '../support/deploy-manifests.ts';
import { deleteAgent, deleteLease, readAgent } from '../support/kube-objects.ts';
import { applyRbac } from '../support/kube-rbac.ts';
import type { AppliedRbac } from '../support/kube-rbac.ts';
import { KubeWorld } from '../support/kube-world.ts';
import { installCrds, requireTestKube } from '../support/kube.ts';
import { kubectlEnv, requireTestKubectl } from '../support/kubectl.ts';
import { buildAgentImage, TEST_AGENT_IMAGE } from '../support/swarm-agent.ts';

const run = promisify(execFile);
const AGENT_KUBECONFIG = '/etc/dockerlet/kubeconfig';

let admin: KubeConfig;
let rbac: AppliedRbac;
let kube: KubeWorld;
let dir: string;
const agentName = uniqueRunId('pod');
const container = `dockerlet-test-${agentName}`;

beforeAll(async () => {
  await requireTestEngine();
  admin = await requireTestKube();
  await installCrds(admin);
  await requireTestKubectl();
  await buildAgentImage();
  rbac = await applyRbac(admin, agentName.slice('pod-'.length));
  kube = await KubeWorld.create(admin, 'dlt-pod');
  dir = await mkdtemp(join(tmpdir(), 'dockerlet-pod-'));
});

afterAll(async () => {
  await dockerCli(['rm', '--force', container]).catch(() => undefined);
  await removeContainersByLabel(`dockerlet.dev/agent=${agentName}`);
  await kube?.cleanup();
  if (rbac) await deleteLease(admin, rbac.namespace, `dockerlet-${agentName}`);
  await deleteAgent(admin, agentName);
  await rbac?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `docker run` flags for deployment.yaml's pod security context and volumes; the socket's gid as the overlay would set it. */
async function podRunFlags(): Promise<string[]> {
  const pod = deploymentPod();
  const agent = pod.containers.find((c) => c.name === 'agent')!;
  const socketGid = (await stat(TEST_DOCKER_SOCKET)).gid;
  const security = pod.securityContext ?? {};
  expect(security.runAsNonRoot).toBe(true);
  expect(security.supplementalGroups).toHaveLength(1);
  const flags = ['--user', `${security.runAsUser}:${security.runAsGroup}`, '--group-add', String(socketGid)];
  if (agent.securityContext?.readOnlyRootFilesystem) flags.push('--read-only');
  for (const capability of agent.securityContext?.capabilities?.drop ?? []) flags.push('--cap-drop', capability);
  if (agent.securityContext?.allowPrivilegeEscalation === false) flags.push('--security-opt', 'no-new-privileges');
  for (const mount of agent.volumeMounts ?? []) {
    const volume = pod.volumes?.find((v) => v.name === mount.name);
    if (volume?.emptyDir) flags.push('--tmpfs', mount.mountPath);
    else if (volume?.hostPath) flags.push('--volume', `${volume.hostPath.path === '/var/run/docker.sock' ? TEST_DOCKER_SOCKET : volume.hostPath.path}:${mount.mountPath}`);
    else throw new Error(`deployment.yaml mounts ${mount.name}, which this test does not know how to give the container`);
  }
  return flags;
}

describe('the agent image with the Deployment pod security context', () => {
  it('runs as uid 10001 in the socket group, read-only, and converges a Session with the ServiceAccount', async () => {
    const { stdout } = await run('bash', [join(REPO, 'deploy/kubernetes/external/make-kubeconfig.sh'), '--namespace', rbac.namespace, '--service-account', rbac.serviceAccount, '--duration', '10m'], { env: kubectlEnv() });
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, stdout, { mode: 0o600 });
    const pod = deploymentPod();
    await chown(kubeconfig, pod.securityContext!.runAsUser!, pod.securityContext!.runAsGroup!); // like a mounted Secret for that user

    const port = await freePort();
    const args = deploymentAgentArgs({ POD_NAMESPACE: rbac.namespace, NODE_NAME: agentName }, ['--listen']);
    // Host network: the test API server listens on loopback only; so --listen is a free loopback port.
    await dockerCli([
      'run', '--detach', '--name', container, '--label', `dockerlet.dev/test=${agentName}`, '--network', 'host',
      ...(await podRunFlags()),
      '--volume', `${kubeconfig}:${AGENT_KUBECONFIG}:ro`,
      TEST_AGENT_IMAGE, 'agent', ...args, '--listen', `127.0.0.1:${port}`, '--kubeconfig', AGENT_KUBECONFIG, '--namespace', kube.namespace,
    ]);
    const logs = async (): Promise<string> => (await run('docker', ['--host', `unix://${TEST_DOCKER_SOCKET}`, 'logs', container]).then((r) => `${r.stdout}${r.stderr}`, (e: Error) => e.message)).slice(-2000);
    await eventually(
      async () => {
        const state = await dockerCli(['inspect', '--format', '{{.State.Status}}', container]);
        if (state !== 'running') throw new Error(`agent container ${state}: ${await logs()}`);
        const response = await fetch(`http://127.0.0.1:${port}/readyz`);
        expect(response.status, await logs()).toBe(200);
      },
      { timeoutMs: 90_000, message: 'agent container ready' },
    );
    const inspected = JSON.parse(await dockerCli(['inspect', container])) as Array<{ Config: { User: string }; HostConfig: { ReadonlyRootfs: boolean; GroupAdd: string[] } }>;
    expect(inspected[0]?.Config.User).toBe('10001:10001');
    expect(inspected[0]?.HostConfig.ReadonlyRootfs).toBe(true);

    await kube.createSession('in-pod');
    await eventually(
      async () => {
        const session = await kube.getSession('in-pod');
        expect(session?.status, await logs()).toMatchObject({ phase: 'Running', agent: agentName, observedGeneration: 1 });
        const id = await dockerCli(['ps', '--quiet', '--no-trunc', '--filter', `label=dockerlet.dev/agent=${agentName}`, '--filter', 'label=dockerlet.dev/name=in-pod']);
        expect(session?.status?.containerID).toBe(id);
      },
      { timeoutMs: 90_000, message: 'Session Running, converged by the non-root agent' },
    );
    await eventually(async () => expect((await readAgent(admin, agentName))?.status).toMatchObject({ state: 'Online' }));
    expect(await logs()).not.toMatch(/EACCES|EROFS|HTTP-Code: 403|forbidden/i);
  });
});

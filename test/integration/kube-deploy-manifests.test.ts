// deploy/kubernetes as the real API server sees it: `kubectl apply -k --dry-run=server` with strict
// field validation (an unknown or misspelt field is an error, not silently dropped), so what ships
// — the Deployment's non-root security context above all — is accepted, defaulted and admitted
// exactly as a cluster would, without creating anything. Also the per-node overlay.
import { join } from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../support/agent-process.ts';
import { ensureNamespace } from '../support/kube-objects.ts';
import { installCrds, requireTestKube } from '../support/kube.ts';
import { kubectl, requireTestKubectl } from '../support/kubectl.ts';

interface Applied {
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** What `kubectl apply -k <dir> --dry-run=server` answers: every object as the server would store it. */
async function dryRun(dir: string): Promise<Applied[]> {
  const result = await kubectl(['apply', '-k', join(REPO, dir), '--dry-run=server', '--validate=strict', '-o', 'json']);
  expect(result.code, result.stderr).toBe(0);
  const output = JSON.parse(result.stdout) as { kind: string; items?: Applied[] };
  return output.kind === 'List' ? (output.items ?? []) : [output as unknown as Applied];
}

function deploymentIn(objects: Applied[]): V1Deployment {
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  expect(deployments).toHaveLength(1);
  return deployments[0] as V1Deployment;
}

beforeAll(async () => {
  const admin = await requireTestKube();
  await requireTestKubectl();
  await installCrds(admin);
  // A dry run does not create the Namespace it applies, and the Deployment's dry run needs it.
  await ensureNamespace(admin, 'dockerlet-system');
});

describe('deploy/kubernetes on a real API server (server-side dry run)', () => {
  it('is accepted whole; the Deployment runs as uid 10001 in the socket group, never as root', async () => {
    const objects = await dryRun('deploy/kubernetes');
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['CustomResourceDefinition', 'Namespace', 'ServiceAccount', 'ClusterRole', 'Role', 'Deployment']));
    const pod = deploymentIn(objects).spec?.template.spec;
    expect(pod?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, supplementalGroups: [999], seccompProfile: { type: 'RuntimeDefault' } });
    const agent = pod?.containers.find((c) => c.name === 'agent');
    expect(agent?.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(agent?.securityContext).not.toHaveProperty('runAsUser');
    expect(agent?.securityContext).not.toHaveProperty('privileged');
    // The read-only root needs a writable /tmp (tsx's compile cache) and state dir.
    expect(agent?.volumeMounts?.map((m) => m.mountPath).sort()).toEqual(['/tmp', '/var/lib/dockerlet', '/var/run/docker.sock']);
  });

  it('takes the socket group and node from the per-node overlay', async () => {
    const pod = deploymentIn(await dryRun('deploy/kubernetes-node-overlay')).spec?.template.spec;
    expect(pod?.securityContext?.supplementalGroups).toEqual([998]);
    expect(pod?.securityContext?.runAsUser).toBe(10001);
    expect(pod?.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'docker-node-1' });
  });
});

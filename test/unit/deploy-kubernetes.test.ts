// deploy/kubernetes stays consistent with the code: the CRDs it installs are crds/ itself, the
// RBAC stays least-privilege (exactly the verbs the code sends; no Secrets, no wildcards, no
// delete), the bindings name the ServiceAccount the Deployment runs as, every flag the Deployment
// passes exists, and the agent runs as a non-root user.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { agentOptions, commonOptions } from '../../agent/config.ts';
import { REPO } from '../support/agent-process.ts';
import { loadKustomization } from '../support/deploy-manifests.ts';
import type { Manifest } from '../support/deploy-manifests.ts';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

const objects = loadKustomization();
const byKind = (kind: string): Manifest[] => objects.filter((o) => o.kind === kind);
const one = (kind: string): Manifest => {
  const found = byKind(kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};

describe('deploy/kubernetes', () => {
  it('installs exactly the CRDs in crds/, unchanged', () => {
    const crdDir = join(REPO, 'crds');
    const files = readdirSync(crdDir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    const shipped = byKind('CustomResourceDefinition');
    expect(shipped.map((c) => c.metadata.name).sort()).toEqual(files.map((f) => (parse(readFileSync(join(crdDir, f), 'utf8')) as Manifest).metadata.name).sort());
    for (const file of files) {
      const crd = parse(readFileSync(join(crdDir, file), 'utf8')) as Manifest;
      expect(shipped.find((c) => c.metadata.name === crd.metadata.name)).toEqual(crd);
    }
  });

  it('grants no Secrets, no wildcards and no delete', () => {
    const rules = [...byKind('ClusterRole'), ...byKind('Role')].flatMap((r) => r['rules'] as Rule[]);
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect(rule.resources).not.toContain('secrets');
      expect(rule.resources).not.toContain('*');
      expect(rule.verbs).not.toContain('*');
      expect(rule.apiGroups).not.toContain('*');
      expect(rule.verbs).not.toContain('delete');
      expect(rule.verbs).not.toContain('deletecollection');
    }
    // Leases only through the namespaced Role: an agent cannot touch other namespaces' leases.
    const clusterRules = one('ClusterRole')['rules'] as Rule[];
    expect(clusterRules.some((r) => r.resources.includes('leases'))).toBe(false);
  });

  it('grants exactly the verbs the agent sends, each for a call in the code', () => {
    // What each grant is for; a grant with no call behind it is extra privilege, a call with no
    // grant a 403 (test/e2e/kube-external-agent.test.ts runs the agent with only these).
    const used: Record<string, { verbs: string[]; by: string }> = {
      'dockerlet.dev/sessions': { verbs: ['get', 'list', 'watch', 'patch'], by: 'informer list+watch, finalizer read and JSON Patch (agent/sources/kube/session-api.ts)' },
      'dockerlet.dev/sessions/status': { verbs: ['patch'], by: 'status merge patch (KubeSessionApi.patchStatus)' },
      'dockerlet.dev/agents': { verbs: ['get', 'list', 'create'], by: 'KubeAgentStatusStore: load (list), create on first beat, re-read on conflict' },
      'dockerlet.dev/agents/status': { verbs: ['update'], by: 'KubeAgentStatusStore: status PUT with resourceVersion' },
      '/events': { verbs: ['create'], by: 'KubeEventRecorder: core/v1 createNamespacedEvent' },
      'coordination.k8s.io/leases': { verbs: ['create', 'get', 'update', 'watch'], by: 'KubeLeaseLock: read, create, replace, watch for release' },
    };
    const granted: Record<string, string[]> = {};
    for (const rule of [...byKind('ClusterRole'), ...byKind('Role')].flatMap((r) => r['rules'] as Rule[])) {
      for (const group of rule.apiGroups) for (const resource of rule.resources) (granted[`${group}/${resource}`] ??= []).push(...rule.verbs);
    }
    const sorted = (record: Record<string, string[]>): Record<string, string[]> => Object.fromEntries(Object.entries(record).map(([k, v]) => [k, [...new Set(v)].sort()]).sort());
    expect(sorted(granted)).toEqual(sorted(Object.fromEntries(Object.entries(used).map(([k, v]) => [k, v.verbs]))));
  });

  it('binds both roles to the ServiceAccount the Deployment runs as', () => {
    const sa = one('ServiceAccount');
    const deployment = one('Deployment');
    const pod = (deployment['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
    expect(pod['serviceAccountName']).toBe(sa.metadata.name);
    expect(deployment.metadata.namespace).toBe(sa.metadata.namespace);
    for (const binding of [one('ClusterRoleBinding'), one('RoleBinding')]) {
      expect(binding['subjects']).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
    }
    expect((one('RoleBinding')['roleRef'] as { name: string }).name).toBe(one('Role').metadata.name);
    expect((one('ClusterRoleBinding')['roleRef'] as { name: string }).name).toBe(one('ClusterRole').metadata.name);
    expect(one('Role').metadata.namespace).toBe(sa.metadata.namespace);
    expect(one('Namespace').metadata.name).toBe(sa.metadata.namespace);
  });

  it('passes the agent only flags it has, and mounts the Docker socket as a socket', () => {
    const known = new Set([...agentOptions(), ...commonOptions()].map((o) => o.long));
    const pod = (one('Deployment')['spec'] as { template: { spec: { containers: Array<{ args: string[] }>; volumes: Array<{ hostPath?: { path: string; type: string } }> } } }).template.spec;
    const args = pod.containers[0]!.args;
    expect(args[0]).toBe('agent');
    for (const arg of args.slice(1)) expect(known, arg).toContain(arg.split('=')[0]);
    expect(args).toContain('--leader-election=kubernetes');
    expect(pod.volumes.map((v) => v.hostPath).filter(Boolean)).toEqual([{ path: '/var/run/docker.sock', type: 'Socket' }]);
  });

  it('runs the agent as a non-root user in the Docker socket group, on a read-only root with a writable /tmp (FIELD-NOTES #8)', () => {
    interface Pod {
      securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; supplementalGroups?: number[] };
      containers: Array<{ securityContext?: Record<string, unknown>; volumeMounts?: Array<{ mountPath: string }> }>;
    }
    const pod = (one('Deployment')['spec'] as { template: { spec: Pod } }).template.spec;
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(pod.securityContext?.supplementalGroups).toHaveLength(1);
    const container = pod.containers[0]!;
    expect(container.securityContext).not.toHaveProperty('runAsUser');
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(container.volumeMounts?.map((m) => m.mountPath)).toContain('/tmp');
  });
});

// Reads deploy/kubernetes the way `kubectl apply -k` does for what it uses: the kustomization's
// `resources`, files (multi-document YAML) or directories with their own kustomization. Tests use
// it to apply the shipped manifests to the test API server, so they test exactly what ships.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO } from './agent-process.ts';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export const DEPLOY_DIR = join(REPO, 'deploy', 'kubernetes');

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/** Every object the kustomization in `dir` includes, in order. Only `resources` is supported (all we use). */
export function loadKustomization(dir = DEPLOY_DIR): Manifest[] {
  const file = KUSTOMIZATION_FILES.map((name) => join(dir, name)).find((path) => existsSync(path));
  if (!file) throw new Error(`${dir} has no kustomization`);
  const kustomization = parseDocuments(file)[0] as { resources?: string[] } & Record<string, unknown>;
  const unsupported = Object.keys(kustomization).filter((key) => !['apiVersion', 'kind', 'resources'].includes(key));
  if (unsupported.length > 0) throw new Error(`${file}: loadKustomization does not support ${unsupported.join(', ')}; extend it`);
  return (kustomization.resources ?? []).flatMap((entry) => {
    const path = resolve(dir, entry);
    return statSync(path).isDirectory() ? loadKustomization(path) : (parseDocuments(path) as Manifest[]);
  });
}

function parseDocuments(path: string): unknown[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]!.message}`);
      return doc.toJS() as unknown;
    })
    .filter((value) => value !== null && value !== undefined);
}

/** The parts of deployment.yaml's pod template that tests run the agent with. */
export interface AgentPodSpec {
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; supplementalGroups?: number[] };
  containers: Array<{
    name: string;
    args: string[];
    securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
    volumeMounts?: Array<{ name: string; mountPath: string }>;
  }>;
  volumes?: Array<{ name: string; emptyDir?: object; hostPath?: { path: string } }>;
}

/** The pod template of the one Deployment in deploy/kubernetes. */
export function deploymentPod(): AgentPodSpec {
  const deployments = loadKustomization().filter((o) => o.kind === 'Deployment');
  if (deployments.length !== 1) throw new Error(`deploy/kubernetes has ${deployments.length} Deployments, expected 1`);
  return (deployments[0]!['spec'] as { template: { spec: AgentPodSpec } }).template.spec;
}

/**
 * The agent's arguments in deployment.yaml, without the leading `agent`, its $(VAR)s filled in
 * from `vars` and the flags named in `omit` left out (for the test to set to this machine's values).
 */
export function deploymentAgentArgs(vars: Record<string, string>, omit: string[] = []): string[] {
  const args = deploymentPod().containers[0]?.args ?? [];
  if (args[0] !== 'agent') throw new Error(`deployment.yaml runs "${args[0]}", not the agent`);
  return args
    .slice(1)
    .filter((arg) => !omit.includes(arg.split('=')[0]!))
    .map((arg) =>
      arg.replace(/\$\((\w+)\)/g, (_, name: string) => {
        const value = vars[name];
        if (value === undefined) throw new Error(`deployment.yaml uses $(${name}); give the test a value for it`);
        return value;
      }),
    );
}

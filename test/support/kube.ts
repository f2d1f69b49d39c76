// The real kube-apiserver (+ etcd) for integration and e2e tests: the shared instance that
// `hack/test-env up` starts on loopback and describes in an admin kubeconfig. Tests fail (never
// skip) when it does not answer, with the command that fixes it.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiException, ApiextensionsV1Api, Health, KubeConfig, loadYaml } from '@kubernetes/client-node';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { eventually } from './eventually.ts';

const TEST_STATE = process.env['DOCKERLET_TEST_STATE'] ?? '/tmp/dockerlet-test-env';

/** Same default as hack/test-env: the admin kubeconfig of the shared test API server. */
export const TEST_KUBECONFIG = process.env['DOCKERLET_TEST_KUBECONFIG'] ?? join(TEST_STATE, 'kube', 'admin.kubeconfig');

const HOW_TO_START = 'run `bash hack/test-env up` first (it builds, once, and starts kube-apiserver and etcd on loopback)';

let ready: Promise<KubeConfig> | undefined;

/**
 * The admin KubeConfig of the shared test API server, after checking that `/readyz` answers.
 * Checked once per file; call it in `beforeAll`/`beforeEach` so a missing server fails the tests.
 */
export function requireTestKube(): Promise<KubeConfig> {
  ready ??= (async () => {
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(TEST_KUBECONFIG);
    } catch (error) {
      throw new Error(`cannot read the test kubeconfig ${TEST_KUBECONFIG}: ${HOW_TO_START}`, { cause: error });
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`${TEST_KUBECONFIG} names no current cluster: ${HOW_TO_START}`);
    try {
      if (!(await new Health(kc).readyz({ timeout: 5_000 }))) throw new Error('/readyz did not answer ok');
    } catch (error) {
      throw new Error(`no kube-apiserver answers at ${cluster.server}: ${HOW_TO_START}`, { cause: error });
    }
    return kc;
  })();
  return ready;
}

const CRD_DIR = new URL('../../crds/', import.meta.url);

/**
 * Creates or replaces every CRD in crds/ and waits until each is Established, so tests always
 * run against the schema in the working tree. Idempotent; safe for tests that run in sequence.
 */
export async function installCrds(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const files = (await readdir(CRD_DIR)).filter((file) => file.endsWith('.yaml'));
  for (const file of files) {
    // Through client-node's loadYaml, not a plain YAML parse: the client serializes a typed body
    // by its own field names (`_enum`, `x_kubernetes_validations`, ...) and silently drops keys
    // spelled as in the YAML (`enum`, `x-kubernetes-validations`, `default`, list types).
    const body = loadYaml<V1CustomResourceDefinition>(await readFile(new URL(file, CRD_DIR), 'utf8'));
    const name = body.metadata?.name;
    if (!name) throw new Error(`crds/${file} has no metadata.name`);
    try {
      const existing = await api.readCustomResourceDefinition({ name });
      body.metadata = { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion };
      await api.replaceCustomResourceDefinition({ name, body });
    } catch (error) {
      if (!(error instanceof ApiException) || error.code !== 404) throw error;
      await api.createCustomResourceDefinition({ body });
    }
    await eventually(async () => {
      const crd = await api.readCustomResourceDefinition({ name });
      const established = crd.status?.conditions?.find((c) => c.type === 'Established');
      if (established?.status !== 'True') throw new Error(`CRD ${name} is not Established yet`);
    }, { timeoutMs: 30_000 });
  }
}

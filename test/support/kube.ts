// The real kube-apiserver (+ etcd) for integration and e2e tests: the shared instance that
// `hack/test-env up` starts on loopback and describes in an admin kubeconfig. Tests fail (never
// skip) when it does not answer, with the command that fixes it.
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiException, ApiextensionsV1Api, CustomObjectsApi, Health, KubeConfig, loadYaml } from '@kubernetes/client-node';
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

/** On each installed CRD: the hash of the file it came from, so an unchanged CRD is not replaced. */
const CRD_HASH_ANNOTATION = 'dockerlet.dev/test-crd-sha256';

/**
 * Creates or replaces every CRD in crds/ and waits until each is Established, so tests always
 * run against the schema in the working tree. Idempotent; safe for tests that run in sequence.
 * An unchanged CRD is left alone: every replace makes the API server rebuild the resource's
 * storage, and requests meanwhile (other test files, other runs) get 429 "storage is
 * (re)initializing".
 */
export async function installCrds(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const files = (await readdir(CRD_DIR)).filter((file) => file.endsWith('.yaml'));
  for (const file of files) {
    const text = await readFile(new URL(file, CRD_DIR), 'utf8');
    // Through client-node's loadYaml, not a plain YAML parse: the client serializes a typed body
    // by its own field names (`_enum`, `x_kubernetes_validations`, ...) and silently drops keys
    // spelled as in the YAML (`enum`, `x-kubernetes-validations`, `default`, list types).
    const body = loadYaml<V1CustomResourceDefinition>(text);
    const name = body.metadata?.name;
    if (!name) throw new Error(`crds/${file} has no metadata.name`);
    // The prefix names how the body was built: CRDs installed by an earlier, lossy parse get replaced.
    const hash = createHash('sha256').update('loadYaml\n').update(text).digest('hex');
    body.metadata = { ...body.metadata, annotations: { ...body.metadata?.annotations, [CRD_HASH_ANNOTATION]: hash } };
    try {
      const existing = await api.readCustomResourceDefinition({ name });
      if (existing.metadata?.annotations?.[CRD_HASH_ANNOTATION] !== hash) {
        body.metadata = { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion };
        await api.replaceCustomResourceDefinition({ name, body });
      }
    } catch (error) {
      if (!(error instanceof ApiException) || error.code !== 404) throw error;
      await api.createCustomResourceDefinition({ body });
    }
    await eventually(async () => {
      const crd = await api.readCustomResourceDefinition({ name });
      const established = crd.status?.conditions?.find((c) => c.type === 'Established');
      if (established?.status !== 'True') throw new Error(`CRD ${name} is not Established yet`);
    }, { timeoutMs: 30_000 });
    // Established comes before the storage behind it answers (429 "storage is (re)initializing").
    const { group, names, versions } = body.spec;
    const version = versions.find((v) => v.storage)?.name ?? versions[0]!.name;
    const objects = kc.makeApiClient(CustomObjectsApi);
    await eventually(
      () =>
        body.spec.scope === 'Cluster'
          ? objects.listClusterCustomObject({ group, version, plural: names.plural, limit: 1 })
          : objects.listCustomObjectForAllNamespaces({ group, version, plural: names.plural, limit: 1 }),
      { timeoutMs: 30_000, message: `${name} served` },
    );
  }
}

// The shipped RBAC (deploy/kubernetes/rbac.yaml) on the real kube-apiserver, authenticated as the
// agent's ServiceAccount with a TokenRequest token: it can do what the agent does (Sessions
// list/watch/update, status and finalizers; Agents and their status; Events; Leases in its own
// namespace) and nothing more — no Secrets, no creating or deleting Sessions, no Leases elsewhere.
// The objects are applied under names unique to this run and deleted afterwards.
import { AuthorizationV1Api, CoreV1Api, CustomObjectsApi, EventsV1Api, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { beat } from '../../agent/heartbeat.ts';
import { KubeAgentStatusStore } from '../../agent/kube/agent-status-store.ts';
import { KubeLeaseLock } from '../../agent/leader/kube-lease-lock.ts';
import { FakeClock } from '../../reconciler/fake-clock.ts';
import { uniqueRunId } from '../support/docker.ts';
import { loadKustomization } from '../support/deploy-manifests.ts';
import type { Manifest } from '../support/deploy-manifests.ts';
import { deleteAgent, deleteLease, ensureNamespace, isApiStatus, readAgent, TEST_NAMESPACE } from '../support/kube-objects.ts';
import { installCrds, requireTestKube } from '../support/kube.ts';

const logger = pino({ level: 'silent' });
const RBAC_KINDS = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];

let admin: KubeConfig;
let agent: KubeConfig;
let applied: KubernetesObject[];
let agentNamespace: string;
let serviceAccount: string;
const suffix = uniqueRunId('rbac').slice('rbac-'.length);
const agentName = `rbac-agent-${suffix}`;
const leaseName = `dockerlet-${agentName}`;

/** The shipped RBAC objects, each renamed with this run's suffix (references follow). */
function rbacForThisRun(): Manifest[] {
  const objects = loadKustomization().filter((o) => RBAC_KINDS.includes(o.kind));
  const renamed = (name: string): string => `${name}-${suffix}`;
  return objects.map((o) => {
    const copy = structuredClone(o);
    copy.metadata = { ...copy.metadata, name: renamed(o.metadata.name) };
    if (copy['roleRef']) copy['roleRef'] = { ...(copy['roleRef'] as object), name: renamed((o['roleRef'] as { name: string }).name) };
    if (copy['subjects']) copy['subjects'] = (o['subjects'] as Array<{ name: string }>).map((s) => ({ ...s, name: renamed(s.name) }));
    return copy;
  });
}

async function can(verb: string, resource: string, options: { group?: string; subresource?: string; namespace?: string } = {}): Promise<boolean> {
  const review = await agent.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
    body: { spec: { resourceAttributes: { verb, resource, group: options.group ?? '', subresource: options.subresource ?? '', namespace: options.namespace ?? '' } } },
  });
  return review.status?.allowed === true;
}

beforeAll(async () => {
  admin = await requireTestKube();
  await installCrds(admin);
  await ensureNamespace(admin, TEST_NAMESPACE);
  const objects = rbacForThisRun();
  const sa = objects.find((o) => o.kind === 'ServiceAccount')!;
  agentNamespace = await ensureNamespace(admin, sa.metadata.namespace!);
  serviceAccount = sa.metadata.name;
  const client = KubernetesObjectApi.makeApiClient(admin);
  applied = [];
  for (const object of objects) applied.push(await client.create(object as KubernetesObject));

  const token = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    namespace: agentNamespace,
    name: serviceAccount,
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  const cluster = admin.getCurrentCluster()!;
  agent = new KubeConfig();
  agent.loadFromOptions({
    clusters: [{ ...cluster, name: 'test' }],
    users: [{ name: 'agent', token: token.status?.token ?? '' }],
    contexts: [{ name: 'agent', cluster: 'test', user: 'agent' }],
    currentContext: 'agent',
  });
});

afterAll(async () => {
  await deleteLease(admin, agentNamespace, leaseName);
  await deleteAgent(admin, agentName);
  const client = KubernetesObjectApi.makeApiClient(admin);
  for (const object of applied.reverse()) await client.delete(object).catch((error: unknown) => (isApiStatus(error, 404) ? undefined : Promise.reject(error)));
});

describe('the agent ServiceAccount with the shipped RBAC', () => {
  it('is who it says: the token authenticates as the ServiceAccount', async () => {
    const review = await agent.makeApiClient(AuthorizationV1Api).createSelfSubjectRulesReview({ body: { spec: { namespace: agentNamespace } } });
    expect(review.status?.incomplete).toBe(false);
    expect(await can('list', 'sessions', { group: 'dockerlet.dev' })).toBe(true);
  });

  it('may do everything the agent does with Sessions, cluster-wide, and no more', async () => {
    const group = 'dockerlet.dev';
    for (const verb of ['get', 'list', 'watch', 'update', 'patch']) expect(await can(verb, 'sessions', { group }), verb).toBe(true);
    for (const subresource of ['status', 'finalizers']) {
      for (const verb of ['update', 'patch']) expect(await can(verb, 'sessions', { group, subresource, namespace: TEST_NAMESPACE }), `${verb} sessions/${subresource}`).toBe(true);
    }
    for (const verb of ['create', 'delete', 'deletecollection']) expect(await can(verb, 'sessions', { group, namespace: TEST_NAMESPACE }), verb).toBe(false);
    // A real list across all namespaces, as the informer starts with.
    const api = agent.makeApiClient(CustomObjectsApi);
    await expect(api.listCustomObjectForAllNamespaces({ group, version: 'v1alpha1', plural: 'sessions' })).resolves.toHaveProperty('items');
  });

  it('writes its own Agent resource and status (created on the first beat), and reads every agent', async () => {
    const agents = new KubeAgentStatusStore({ kubeConfig: agent, logger, flushDelayMs: 10 });
    await agents.load();
    await beat({
      agentName,
      identity: 'rbac-replica',
      store: agents,
      engine: () => undefined,
      activeSessions: () => 0,
      intervalMs: 5_000,
      clock: new FakeClock(Date.now()),
      logger,
      signal: new AbortController().signal,
    });
    await agents.close();
    expect((await readAgent(admin, agentName))?.status).toMatchObject({ state: 'Online', leader: 'rbac-replica' });
    expect(await can('delete', 'agents', { group: 'dockerlet.dev' })).toBe(false);
  });

  it('elects through a Lease in its own namespace (acquire, renew, release, watch) but not in others', async () => {
    const lock = new KubeLeaseLock({ kubeConfig: agent, namespace: agentNamespace, name: leaseName, logger });
    try {
      const grant = await lock.tryAcquireOrRenew('rbac-replica', 15_000);
      expect(grant?.token).toBeGreaterThan(0);
      expect(await lock.tryAcquireOrRenew('rbac-replica', 15_000)).toEqual(grant);
      await lock.release('rbac-replica');
      expect(await lock.holder()).toBeUndefined();
    } finally {
      await lock.close();
    }
    expect(await can('watch', 'leases', { group: 'coordination.k8s.io', namespace: agentNamespace })).toBe(true);
    const elsewhere = new KubeLeaseLock({ kubeConfig: agent, namespace: TEST_NAMESPACE, name: leaseName, logger });
    await expect(elsewhere.tryAcquireOrRenew('rbac-replica', 15_000)).rejects.toMatchObject({ code: 403 });
    expect(await can('delete', 'leases', { group: 'coordination.k8s.io', namespace: agentNamespace })).toBe(false);
  });

  it('records Events', async () => {
    const now = new Date();
    const event = await agent.makeApiClient(EventsV1Api).createNamespacedEvent({
      namespace: TEST_NAMESPACE,
      body: {
        metadata: { generateName: 'rbac-test-' },
        eventTime: now,
        reportingController: 'dockerlet.dev/agent',
        reportingInstance: 'rbac-replica',
        action: 'Create',
        reason: 'Created',
        type: 'Normal',
        note: 'rbac test',
        regarding: { apiVersion: 'dockerlet.dev/v1alpha1', kind: 'Session', namespace: TEST_NAMESPACE, name: 'rbac-test' },
      },
    });
    expect(event.metadata?.name).toMatch(/^rbac-test-/);
    expect(await can('create', 'events', { namespace: TEST_NAMESPACE })).toBe(true);
    expect(await can('patch', 'events', { namespace: TEST_NAMESPACE })).toBe(true);
  });

  it('cannot read Secrets, anywhere', async () => {
    const core = agent.makeApiClient(CoreV1Api);
    await expect(core.listSecretForAllNamespaces()).rejects.toMatchObject({ code: 403 });
    await expect(core.listNamespacedSecret({ namespace: agentNamespace })).rejects.toMatchObject({ code: 403 });
    for (const verb of ['get', 'list', 'watch']) expect(await can(verb, 'secrets', { namespace: agentNamespace }), verb).toBe(false);
    expect(await can('get', 'configmaps', { namespace: agentNamespace })).toBe(false);
    expect(await can('create', 'pods', { namespace: agentNamespace })).toBe(false);
  });
});

// The shipped RBAC (deploy/kubernetes/rbac.yaml) on the real kube-apiserver, authenticated as the
// agent's ServiceAccount with a TokenRequest token: it can do what the agent does (Sessions
// get/list/watch/patch and status patch; Agents created, listed, read, status written; core/v1
// Events; Leases in its own namespace) and nothing more — no Secrets, no updating, creating or
// deleting Sessions, no Leases elsewhere.
// The objects are applied under names unique to this run and deleted afterwards.
import { AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { beat } from '../../controllers/agent/heartbeat.ts';
import { KubeAgentStatusStore } from '../../agent/status/kube/agent-status-store.ts';
import { coreV1EventSink } from '../../agent/sources/kube/event-recorder.ts';
import { KubeLeaseLock } from '../../agent/leader/kube-lease-lock.ts';
import { FakeClock } from '../../reconciler/fake-clock.ts';
import { uniqueRunId } from '../support/docker.ts';
import { applyRbac } from '../support/kube-rbac.ts';
import type { AppliedRbac } from '../support/kube-rbac.ts';
import { deleteAgent, deleteLease, ensureNamespace, readAgent, TEST_NAMESPACE } from '../support/kube-objects.ts';
import { installCrds, requireTestKube } from '../support/kube.ts';

const logger = pino({ level: 'silent' });
let admin: KubeConfig;
let agent: KubeConfig;
let rbac: AppliedRbac;
let agentNamespace: string;
let serviceAccount: string;
const suffix = uniqueRunId('rbac').slice('rbac-'.length);
const agentName = `rbac-agent-${suffix}`;
const leaseName = `dockerlet-${agentName}`;

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
  rbac = await applyRbac(admin, suffix);
  agent = rbac.kubeConfig;
  agentNamespace = rbac.namespace;
  serviceAccount = rbac.serviceAccount;
});

afterAll(async () => {
  await deleteLease(admin, agentNamespace, leaseName);
  await deleteAgent(admin, agentName);
  await rbac?.remove();
});

describe('the agent ServiceAccount with the shipped RBAC', () => {
  it('is who it says: the token authenticates as the ServiceAccount', async () => {
    const review = await agent.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${agentNamespace}:${serviceAccount}`);
    expect(review.status?.userInfo?.groups).not.toContain('system:masters');
  });

  it('may do everything the agent does with Sessions, cluster-wide, and no more', async () => {
    const group = 'dockerlet.dev';
    for (const verb of ['get', 'list', 'watch', 'patch']) expect(await can(verb, 'sessions', { group }), verb).toBe(true);
    expect(await can('patch', 'sessions', { group, subresource: 'status', namespace: TEST_NAMESPACE }), 'patch sessions/status').toBe(true);
    // Every write the agent makes is a patch: no update, not even of status.
    expect(await can('update', 'sessions', { group, subresource: 'status', namespace: TEST_NAMESPACE }), 'update sessions/status').toBe(false);
    for (const verb of ['update', 'patch']) expect(await can(verb, 'sessions', { group, subresource: 'finalizers', namespace: TEST_NAMESPACE }), `${verb} sessions/finalizers`).toBe(false);
    for (const verb of ['update', 'create', 'delete', 'deletecollection']) expect(await can(verb, 'sessions', { group, namespace: TEST_NAMESPACE }), verb).toBe(false);
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
    for (const verb of ['watch', 'update', 'patch', 'delete']) expect(await can(verb, 'agents', { group: 'dockerlet.dev' }), `${verb} agents`).toBe(false);
    expect(await can('patch', 'agents', { group: 'dockerlet.dev', subresource: 'status' }), 'patch agents/status').toBe(false);
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

  it('records core/v1 Events, as the event recorder writes them, and nothing more', async () => {
    await coreV1EventSink(agent)(TEST_NAMESPACE, {
      metadata: { name: `rbac-test.${suffix}`, namespace: TEST_NAMESPACE },
      involvedObject: { apiVersion: 'dockerlet.dev/v1alpha1', kind: 'Session', namespace: TEST_NAMESPACE, name: 'rbac-test' },
      type: 'Normal',
      reason: 'Created',
      message: 'rbac test',
      source: { component: 'dockerlet-agent' },
    });
    const written = await admin.makeApiClient(CoreV1Api).readNamespacedEvent({ namespace: TEST_NAMESPACE, name: `rbac-test.${suffix}` });
    expect(written.reason).toBe('Created');
    await admin.makeApiClient(CoreV1Api).deleteNamespacedEvent({ namespace: TEST_NAMESPACE, name: `rbac-test.${suffix}` });
    expect(await can('patch', 'events', { namespace: TEST_NAMESPACE })).toBe(false);
    expect(await can('create', 'events', { group: 'events.k8s.io', namespace: TEST_NAMESPACE })).toBe(false);
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

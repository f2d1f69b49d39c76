// SwarmLeaseLock, self-discovery and peers against the real single-node swarm (hack/test-env up):
// the lease lives in a real service's labels and is taken with Swarm's version-checked update.
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SwarmLeaseLock } from '../../agent/leader/swarm-lock.ts';
import { DockerodeSwarmApi } from '../../agent/runtime/swarm/dockerode-swarm.ts';
import { swarmReplicas } from '../../agent/leader/swarm/peers.ts';
import { fileBackendRefusal } from '../../agent/leader/swarm/placement.ts';
import { discoverSwarmSelf } from '../../agent/leader/swarm/self.ts';
import { SwarmVersionConflictError } from '../../agent/runtime/swarm/swarm-api.ts';
import type { LeaseLock, LeaseTimings } from '../../reconciler/leader.ts';
import { dockerCli, TEST_DOCKER_SOCKET, uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { currentLeaders, startReplica } from '../support/leader-replicas.ts';
import type { LiveReplica } from '../support/leader-replicas.ts';
import { createSleepService, removeSwarmRun, requireTestSwarm, serviceTasks, SWARM_TEST_LABEL } from '../support/swarm.ts';

const LEASE_MS = 15_000;
const api = new DockerodeSwarmApi({ socketPath: TEST_DOCKER_SOCKET });
let runId: string;
let replicas: LiveReplica[];

beforeEach(async () => {
  await requireTestSwarm();
  runId = uniqueRunId('dlsw');
  replicas = [];
});

afterEach(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await removeSwarmRun(runId);
});

async function runningTasks(service: string, n: number): Promise<Awaited<ReturnType<typeof serviceTasks>>> {
  return eventually(
    async () => {
      const tasks = (await serviceTasks(service)).filter((t) => t.state === 'running');
      expect(tasks).toHaveLength(n);
      return tasks;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}

describe('SwarmLeaseLock on a real service', () => {
  it('takes, renews and releases the lease in service labels without restarting any task', async () => {
    const serviceId = await createSleepService(runId, runId, { replicas: 2 });
    const before = await runningTasks(runId, 2);
    const a = new SwarmLeaseLock({ api, serviceId });
    const b = new SwarmLeaseLock({ api, serviceId });

    const first = await a.tryAcquireOrRenew('a', LEASE_MS);
    expect(first?.token).toBeGreaterThan(0);
    expect(await b.tryAcquireOrRenew('b', LEASE_MS)).toBeUndefined();
    for (let i = 0; i < 5; i++) expect(await a.tryAcquireOrRenew('a', LEASE_MS)).toEqual(first);
    const labels = JSON.parse(await dockerCli(['service', 'inspect', '--format', '{{json .Spec.Labels}}', serviceId])) as Record<string, string>;
    expect(labels).toMatchObject({ 'dockerlet.dev/lease.holder': 'a', 'dockerlet.dev/lease.token': String(first?.token), [SWARM_TEST_LABEL]: runId });

    await a.release('a');
    expect(await b.holder()).toBeUndefined();
    const second = await b.tryAcquireOrRenew('b', LEASE_MS);
    expect(second?.token).toBeGreaterThan(first?.token ?? Infinity);

    // Seven label updates later the same tasks run in the same containers: nothing restarted.
    const after = await serviceTasks(runId);
    expect(after.map((t) => `${t.id} ${t.containerId} ${t.state}`).sort()).toEqual(before.map((t) => `${t.id} ${t.containerId} ${t.state}`).sort());
  });

  it('is rejected by Swarm when it writes with a stale version (the compare-and-set)', async () => {
    const serviceId = await createSleepService(runId, runId);
    const stale = await api.inspectService(serviceId);
    await api.setServiceLabels(stale, { ...stale.spec.Labels, winner: 'first' });
    const error = await api.setServiceLabels(stale, { ...stale.spec.Labels, winner: 'second' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SwarmVersionConflictError);
    expect((await api.inspectService(serviceId)).spec.Labels?.['winner']).toBe('first');
  });

  it('with two electors, exactly one leads; when it stops renewing the other takes over with a greater token', async () => {
    const serviceId = await createSleepService(runId, runId);
    const timings: LeaseTimings = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };
    const logger = pino({ level: 'silent' });
    const a = startReplica({ identity: 'a', lock: withoutRelease(new SwarmLeaseLock({ api, serviceId })), timings, logger });
    replicas.push(a);
    await eventually(() => expect(a.leading()).toBe(true), { timeoutMs: 10_000 });
    const b = startReplica({ identity: 'b', lock: new SwarmLeaseLock({ api, serviceId }), timings, logger });
    replicas.push(b);
    // b keeps seeing a's renewals for longer than a lease: it never leads meanwhile.
    const until = Date.now() + 2 * timings.leaseDurationMs;
    while (Date.now() < until) {
      expect(currentLeaders(replicas).map((r) => r.identity)).toEqual(['a']);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // a dies without releasing (a crashed task): its renewals stop, the lease ages out for b.
    const killedAt = Date.now();
    await a.stop();
    await eventually(() => expect(b.leading()).toBe(true), { timeoutMs: 15_000, intervalMs: 50 });
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThanOrEqual(timings.leaseDurationMs + timings.retryPeriodMs + 2_000);
    expect(b.starts[0]?.token).toBeGreaterThan(a.starts[0]?.token ?? Infinity);
  });
});

describe('SwarmLeaseLock and a holder Swarm reports dead', () => {
  it('frees the lease as soon as the holder task container is force-removed, long before the lease expires', async () => {
    const serviceId = await createSleepService(runId, runId);
    const [task] = await runningTasks(runId, 1);
    const longLease = 120_000;
    const a = new SwarmLeaseLock({ api, serviceId, ownTaskId: task!.id });
    const b = new SwarmLeaseLock({ api, serviceId });
    const first = await a.tryAcquireOrRenew('a', longLease);
    expect(await b.tryAcquireOrRenew('b', longLease)).toBeUndefined();
    const killedAt = Date.now();
    await dockerCli(['rm', '--force', task!.containerId]);
    const second = await eventually(
      async () => {
        const grant = await b.tryAcquireOrRenew('b', longLease);
        expect(grant).toBeDefined();
        return grant!;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(Date.now() - killedAt).toBeLessThan(longLease / 4);
    expect(second.token).toBeGreaterThan(first?.token ?? Infinity);
  });
});

/** A lock whose release does nothing: stopping its elector then looks like a killed task. */
function withoutRelease(lock: LeaseLock): LeaseLock {
  return {
    description: lock.description,
    tryAcquireOrRenew: (identity, ms) => lock.tryAcquireOrRenew(identity, ms),
    release: async () => {},
    holder: () => lock.holder(),
    close: () => lock.close(),
  };
}

describe('swarm identity and peers on a real service', () => {
  it('resolves each task from its own container (hostname = short container ID), and lists peers with their overlay addresses', async () => {
    const network = `${runId}-net`;
    await dockerCli(['network', 'create', '--driver', 'overlay', '--label', `${SWARM_TEST_LABEL}=${runId}`, network]);
    const serviceId = await createSleepService(runId, runId, { replicas: 3, args: ['--network', network] });
    const tasks = await runningTasks(runId, 3);
    for (const task of tasks) {
      const hostname = await dockerCli(['inspect', '--format', '{{.Config.Hostname}}', task.containerId]);
      expect(hostname).toBe(task.containerId.slice(0, 12));
      const self = await discoverSwarmSelf(api, { hostname, mountinfo: '' });
      expect(self).toMatchObject({ taskId: task.id, slot: task.slot, serviceId, serviceName: runId, containerId: task.containerId, foundBy: 'hostname' });
    }
    const peers = await swarmReplicas(api, { id: serviceId, name: runId }).peers();
    expect(peers.map((p) => p.taskId).sort()).toEqual(tasks.map((t) => t.id).sort());
    for (const peer of peers) expect(peer.addresses).toEqual([expect.stringMatching(/^\d+\.\d+\.\d+\.\d+\/\d+$/)]);
  });

  it('finds that a real 3-replica service would put file-lock replicas on several nodes, and a pinned one would not', async () => {
    const spread = await createSleepService(runId, runId, { replicas: 3 });
    expect(fileBackendRefusal(runId, (await api.inspectService(spread)).spec)).toMatch(/3 replicas/);
    const nodeId = await dockerCli(['info', '--format', '{{.Swarm.NodeID}}']);
    const pinned = await createSleepService(`${runId}-pinned`, runId, { replicas: 3, args: ['--constraint', `node.id==${nodeId}`] });
    expect(fileBackendRefusal(`${runId}-pinned`, (await api.inspectService(pinned)).spec)).toBeUndefined();
  });
});

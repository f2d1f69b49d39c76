// Real agent processes with `--leader-election kubernetes` against the real kube-apiserver and
// engine: one leader per agent through a coordination.k8s.io/v1 Lease, takeover after kill -9
// once the lease runs out, and Agent resources whose status the heartbeats and the liveness
// controller keep (Offline after the grace period, Online when the agent returns).
import { CoordinationV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findOverlaps, readLedger } from '../../reconciler/leader-ledger.ts';
import type { AgentProcess, AgentWorld } from '../support/agent-process.ts';
import { AgentReplicas } from '../support/agent-replicas.ts';
import { requireTestEngine } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { deleteAgent, deleteLease, ensureNamespace, readAgent } from '../support/kube-objects.ts';
import { installCrds, requireTestKube, TEST_KUBECONFIG } from '../support/kube.ts';

// Short timings keep the test quick; the bounds below are stated in terms of them. The Lease
// counts whole seconds.
const LEASE_MS = 4_000;
const RETRY_MS = 500;
const TIMINGS = ['--lease-duration', `${LEASE_MS}ms`, '--renew-deadline', '3s', '--retry-period', `${RETRY_MS}ms`, '--heartbeat-interval', '1s'];
const sleeper = { command: ['sleep', 'infinity'] };

let kc: KubeConfig;
let namespace: string;
const replicaSet = new AgentReplicas();

function kubeArgs(): string[] {
  return ['--leader-election', 'kubernetes', '--kubeconfig', TEST_KUBECONFIG, '--lease-namespace', namespace];
}

const newWorld = () => replicaSet.newWorld();
const startReplica = (world: AgentWorld, args: string[]) => replicaSet.startReplica(world, args);
const theLeader = (replicas: AgentProcess[]) => replicaSet.theLeader(replicas);

async function leaseHolder(world: AgentWorld): Promise<string | undefined> {
  const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name: `dockerlet-${world.agentName}` });
  return lease.spec?.holderIdentity || undefined;
}

beforeAll(async () => {
  await requireTestEngine();
  kc = await requireTestKube();
  await installCrds(kc);
  namespace = await ensureNamespace(kc);
});

afterEach(() =>
  replicaSet.cleanup(async (world) => {
    await deleteLease(kc, namespace, `dockerlet-${world.agentName}`);
    await deleteAgent(kc, world.agentName);
  }),
);

describe('leader election with the kubernetes backend', () => {
  it('one leader of two; after kill -9 the other takes over once the lease ran out, adopting the running session', async () => {
    const world = await newWorld();
    const ledger = join(world.root, 'ledger.jsonl');
    const args = [...kubeArgs(), '--leader-ledger', ledger, ...TIMINGS];
    const replicas = await Promise.all([0, 1].map(() => startReplica(world, args)));
    await world.writeSession({ name: 'web', spec: sleeper });
    const leader = await theLeader(replicas);
    const identity = leader.identity();
    expect(await leaseHolder(world)).toBe(identity);
    const running = await eventually(async () => {
      const container = (await world.containers()).get('default/web');
      expect(container?.state).toBe('running');
      return container!;
    });
    await eventually(async () => expect((await readAgent(kc, world.agentName))?.status).toMatchObject({ state: 'Online', leader: identity }));

    const killedAt = Date.now();
    await leader.stop('SIGKILL');
    const survivor = replicas.find((r) => r !== leader)!;
    await theLeader([survivor]);
    const takeoverMs = Date.now() - killedAt;
    // client-go semantics: the standby counts the lease from when it SAW the last renewal (its own
    // clock, at most one retry period late), then notices expiry at its next retry: lease + 2 retries.
    expect(takeoverMs).toBeLessThanOrEqual(LEASE_MS + 2 * RETRY_MS + 1_500);
    expect(takeoverMs).toBeGreaterThanOrEqual(LEASE_MS - RETRY_MS - 500); // it did wait the lease out
    expect(await leaseHolder(world)).toBe(survivor.identity());
    await eventually(async () => expect((await readAgent(kc, world.agentName))?.status).toMatchObject({ state: 'Online', leader: survivor.identity() }));
    // Adopted, not recreated.
    expect((await world.containers()).get('default/web')).toEqual(running);

    const entries = readLedger(ledger);
    const starts = entries.filter((e) => e.event === 'start');
    expect(starts.map((e) => e.holder)).toEqual([identity, survivor.identity()]);
    expect(starts[1]!.token).toBeGreaterThan(starts[0]!.token);
    expect(findOverlaps(entries, { deaths: new Map([[identity, new Date(killedAt)]]) })).toEqual([]);
    console.info(`kubernetes: takeover after kill -9 ${takeoverMs} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`);
  });

  it('SIGTERM releases the Lease: the standby takes over at once', async () => {
    const world = await newWorld();
    const replicas = await Promise.all([0, 1].map(() => startReplica(world, [...kubeArgs(), ...TIMINGS])));
    const leader = await theLeader(replicas);
    const stoppedAt = Date.now();
    await leader.stop('SIGTERM');
    const survivor = replicas.find((r) => r !== leader)!;
    await theLeader([survivor]);
    const takeoverMs = Date.now() - stoppedAt;
    expect(takeoverMs).toBeLessThan(LEASE_MS - 1_000); // did not wait the lease out
    expect(await leaseHolder(world)).toBe(survivor.identity());
    console.info(`kubernetes: takeover after SIGTERM ${takeoverMs} ms`);
  });
});

describe('agent heartbeats on Agent resources', () => {
  it('a stopped agent shows Offline after the grace period and Online within a beat of returning', async () => {
    const watcher = await newWorld();
    const subject = await newWorld();
    const args = [...kubeArgs(), '--heartbeat-interval', '1s', '--liveness-grace', '3s'];
    await startReplica(watcher, args);
    const agent = await startReplica(subject, args);
    const status = async (): Promise<Record<string, unknown>> => (await readAgent(kc, subject.agentName))?.status ?? {};
    await eventually(async () => expect((await status())['state']).toBe('Online'));
    const online = await status();
    expect(new Date(online['lastHeartbeatTime'] as string).toISOString()).toBe(online['lastHeartbeatTime']);

    await agent.stop('SIGTERM');
    // The other agent's liveness controller writes Offline to the Agent's status.
    const stoppedAt = Date.now();
    await eventually(async () => expect((await status())['state']).toBe('Offline'), { timeoutMs: 15_000, message: 'marked Offline' });
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(2_000); // not before the grace period (3 s after the last beat)

    const restarted = replicaSet.replica(subject, args);
    const restartAt = Date.now();
    await restarted.start();
    // From the moment it serves /readyz (process start-up on a loaded machine is not the point):
    // it takes the released Lease at once and beats within one interval.
    const readyAt = Date.now();
    await eventually(async () => expect((await status())['state']).toBe('Online'), { timeoutMs: 10_000, intervalMs: 50 });
    const onlineMs = Date.now() - readyAt;
    expect(onlineMs).toBeLessThan(5_000);
    console.info(`kubernetes: Online ${onlineMs} ms after the restarted agent was ready (${readyAt - restartAt} ms start-up)`);
  });
});

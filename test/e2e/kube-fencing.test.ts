// Fencing with real agent processes, the real engine and the real kube-apiserver (Sessions in a
// namespace, a coordination.k8s.io Lease, Agent resources): the leader is frozen (SIGSTOP) past
// its lease while Sessions change, the successor converges them, the old leader resumes (SIGCONT).
// Evidence the old leader cannot touch: its engine socket's recorder (test/support/engine-recorder.ts)
// and the API server's own watch streams of the Agent and the Sessions, each event in the order the
// API server committed it. An Agent record names its writer (status.leader, status.fencingToken);
// a Session status write of the old leader would bring back a container the successor replaced.
import { Watch } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from '../../reconciler/leader-ledger.ts';
import { AgentReplicas } from '../support/agent-replicas.ts';
import { requireTestEngine } from '../support/docker.ts';
import type { EngineRecorder } from '../support/engine-recorder.ts';
import { expectNoEngineWriteAfterSuccessor, freezeWhileStopping, leaderAndStandby, ledgerStart, resumeUntilStepDown, startRecordedReplicas } from '../support/frozen-leader.ts';
import { eventually } from '../support/eventually.ts';
import { deleteAgent, deleteLease } from '../support/kube-objects.ts';
import { installCrds, requireTestKube, TEST_KUBECONFIG } from '../support/kube.ts';
import { KubeWorld } from '../support/kube-world.ts';
import type { KubeSession } from '../support/kube-world.ts';

const LEASE_MS = 4_000;
const RETRY_MS = 500;
const TIMINGS = ['--lease-duration', `${LEASE_MS}ms`, '--renew-deadline', '3s', '--retry-period', `${RETRY_MS}ms`, '--heartbeat-interval', '300ms'];

interface Seen<T> {
  at: number;
  phase: string;
  object: T;
}
interface AgentSeen {
  status?: { leader?: string; fencingToken?: number; state?: string; lastHeartbeatTime?: string };
}

let kc: KubeConfig;
const replicaSet = new AgentReplicas();
const recorders: EngineRecorder[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  await requireTestEngine();
  kc = await requireTestKube();
  await installCrds(kc);
});

afterEach(async () => {
  await replicaSet.cleanup();
  await Promise.all(recorders.splice(0).map((r) => r.close()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** Every event of a watch from now on, as the API server sends them. */
async function record<T>(path: string, query: Record<string, string>): Promise<Seen<T>[]> {
  const seen: Seen<T>[] = [];
  const watching = await new Watch(kc).watch(path, query, (phase: string, object: T) => seen.push({ at: Date.now(), phase, object }), () => undefined);
  cleanups.push(async () => watching.abort());
  return seen;
}

describe('fencing with the kubernetes backend', () => {
  it('a leader frozen past its Lease sends no engine write and lands no status write after its successor\u2019s first', async () => {
    const world = await replicaSet.newWorld();
    const kube = await KubeWorld.create(kc, 'dlt-fence');
    cleanups.push(() => kube.cleanup());
    cleanups.push(() => deleteAgent(kc, world.agentName));
    cleanups.push(() => deleteLease(kc, kube.namespace, `dockerlet-${world.agentName}`));
    const ledger = join(world.root, 'ledger.jsonl');
    const spec = (tag: string) => ({ agent: world.agentName, env: [{ name: 'TAG', value: tag }] });
    const key = (name: string) => `${kube.namespace}/${name}`;
    for (const name of ['s0', 's1', 's2']) await kube.createSession(name, spec('v1'));
    const args = ['--store', 'kubernetes', '--kubeconfig', TEST_KUBECONFIG, '--namespace', kube.namespace, '--leader-election', 'kubernetes', '--lease-namespace', kube.namespace, '--leader-ledger', ledger, ...TIMINGS];
    const replicas = await startRecordedReplicas(replicaSet, world, 2, args, recorders);
    const { old, next, oldId, nextId } = await leaderAndStandby(replicaSet, replicas);
    const s0Before = await world.runningContainer(key('s0'));
    const s1Id = await world.runningContainer(key('s1'));
    await world.runningContainer(key('s2'));
    await eventually(async () => expect((await kube.getSession('s0'))?.status?.phase).toBe('Running'));
    const oldToken = readLedger(ledger).filter((e) => e.event === 'start' && e.holder === oldId).at(-1)!.token;
    const agentEvents = await record<AgentSeen>('/apis/dockerlet.dev/v1alpha1/agents', { fieldSelector: `metadata.name=${world.agentName}` });
    const sessionEvents = await record<KubeSession>(`/apis/dockerlet.dev/v1alpha1/namespaces/${kube.namespace}/sessions`, {});

    // Frozen in the middle of a reconcile: s1's stop is sent (the engine takes --stop-timeout, 2 s,
    // to answer: sleep ignores SIGTERM), so the final status of that reconcile is still to be written.
    await kube.patchSpec('s1', { state: 'Stopped' });
    const frozenAt = await freezeWhileStopping(old, s1Id);
    const frozen = { old, oldId, oldToken, ledger, frozenAt };
    await kube.patchSpec('s0', spec('v2'));
    await kube.createSession('s3', spec('v1'));
    await kube.deleteSession('s2');

    const takeover = await ledgerStart(ledger, nextId);
    expect(takeover.token).toBeGreaterThan(oldToken);
    const converged = await eventually(
      async () => {
        const containers = await world.containers();
        const s0 = containers.get(key('s0'));
        const s3 = containers.get(key('s3'));
        expect(s0?.id).not.toBe(s0Before);
        expect(s0?.state).toBe('running');
        expect(s3?.state).toBe('running');
        expect(containers.has(key('s2'))).toBe(false);
        expect(containers.get(key('s1'))?.state).toBe('exited');
        expect((await kube.getSession('s1'))?.status?.phase).toBe('Stopped');
        expect(await kube.getSession('s2')).toBeUndefined(); // finalizer released
        for (const [name, id] of [['s0', s0!.id], ['s3', s3!.id]] as const) expect((await kube.getSession(name))?.status).toMatchObject({ phase: 'Running', containerID: id });
        return { s0: s0!.id, s3: s3!.id };
      },
      { timeoutMs: 30_000, message: 'the successor converged the changes and wrote their status' },
    );

    const resumedAt = await resumeUntilStepDown(frozen);

    expectNoEngineWriteAfterSuccessor(frozen, next, 4); // s0: remove, create, start; s3: create, start; s2: remove

    // Agent record: after the successor's first beat, no record written by the old leader.
    const firstBeat = agentEvents.findIndex((e) => e.object.status?.leader === nextId);
    expect(firstBeat, 'the successor beat').toBeGreaterThanOrEqual(0);
    expect(agentEvents[firstBeat]!.object.status?.fencingToken).toBe(takeover.token);
    // (Should the old replica lead again later, under a new token, its records are legitimate.)
    const lateBeats = agentEvents.slice(firstBeat).filter((e) => e.object.status?.leader === oldId && (e.object.status.fencingToken ?? 0) <= oldToken);
    const shown = (e: Seen<AgentSeen>) => ({ msAfterFreeze: e.at - frozenAt, phase: e.phase, ...e.object.status });
    expect(lateBeats.map(shown), `Agent records of the old leader after the successor\u2019s first (${JSON.stringify(agentEvents.map(shown))})`).toEqual([]);

    // Sessions: once the successor's status names a container, no later status names another one.
    for (const [name, id] of [['s0', converged.s0], ['s3', converged.s3]] as const) {
      const events = sessionEvents.filter((e) => e.object.metadata.name === name);
      const first = events.findIndex((e) => e.object.status?.containerID === id);
      expect(first, `${name}: the successor's status`).toBeGreaterThanOrEqual(0);
      const stale = events.slice(first).filter((e) => e.object.status?.containerID !== id || e.object.status?.phase !== 'Running');
      expect(stale.map((e) => e.object.status), `${name}: status written after the successor's by someone else`).toEqual([]);
    }
    // s1, whose reconcile the freeze interrupted: once the successor says Stopped, nobody says otherwise.
    const s1Events = sessionEvents.filter((e) => e.object.metadata.name === 's1');
    const s1Stopped = s1Events.findIndex((e) => e.object.status?.phase === 'Stopped');
    expect(s1Stopped, 's1: the status says Stopped').toBeGreaterThanOrEqual(0);
    expect(s1Events.slice(s1Stopped).filter((e) => e.object.status?.phase !== 'Stopped').map((e) => e.object.status), 's1: status after Stopped').toEqual([]);
    const refusals = old.process.logs.filter((line) => line.includes('not sent') || line.includes('refused by the fence')).length;
    console.info(`fencing (kubernetes): frozen ${resumedAt - frozenAt} ms; successor token ${takeover.token} > ${oldToken}; ${agentEvents.length} Agent and ${sessionEvents.length} Session events watched; ${refusals} log lines of the old leader's writes refused`);
  });
});

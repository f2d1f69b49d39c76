// Agent records as Agent custom resources on the real kube-apiserver: heartbeats and the liveness
// controller writing through the status subresource, with the CRD's schema enforcing the wire
// format (RFC 3339 strings, FIELD-NOTES row 3) and resourceVersion preconditions refusing stale
// writes. Each test uses its own agent names and deletes the Agents it made.
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_HEARTBEAT_INTERVAL_MS } from '../../controllers/agent/record.ts';
import { beat } from '../../controllers/agent/heartbeat.ts';
import type { HeartbeatOptions } from '../../controllers/agent/heartbeat.ts';
import { KubeAgentStatusStore } from '../../agent/status/kube/agent-status-store.ts';
import { createLivenessReconciler } from '../../controllers/agent/liveness.ts';
import type { AgentStatus } from '../../crds/types.ts';
import { FakeClock } from '../../reconciler/fake-clock.ts';
import { uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { deleteAgent, readAgent } from '../support/kube-objects.ts';
import { installCrds, requireTestKube, TEST_KUBECONFIG } from '../support/kube.ts';
import { runCli } from '../support/agent-process.ts';

const logger = pino({ level: 'silent' });
const context = { log: logger, reconcileId: 'test' };
const GRACE_MS = 3 * DEFAULT_HEARTBEAT_INTERVAL_MS;

let kc: KubeConfig;
let names: string[];
let stores: KubeAgentStatusStore[];

beforeAll(async () => {
  kc = await requireTestKube();
  await installCrds(kc);
});

beforeEach(() => {
  names = [];
  stores = [];
});

afterEach(async () => {
  await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
  await Promise.all(names.map((n) => deleteAgent(kc, n)));
});

function agentName(): string {
  const name = uniqueRunId('agent');
  names.push(name);
  return name;
}

async function store(): Promise<KubeAgentStatusStore> {
  const created = new KubeAgentStatusStore({ kubeConfig: kc, logger, flushDelayMs: 10 });
  stores.push(created);
  await created.load();
  return created;
}

function heartbeat(name: string, agents: KubeAgentStatusStore, clock: FakeClock, identity = 'replica-1'): HeartbeatOptions {
  return {
    agentName: name,
    identity,
    store: agents,
    engine: () => ({ version: '20.10.24', apiVersion: '1.41', os: 'linux', arch: 'amd64', cpus: 2, memoryBytes: 4 << 30 }),
    activeSessions: () => 2,
    intervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
    clock,
    logger,
    signal: new AbortController().signal,
    token: () => 1_763_800_000_123,
  };
}

describe('KubeAgentStatusStore', () => {
  it('creates the Agent on the first beat and writes status through the subresource', async () => {
    const name = agentName();
    const agents = await store();
    const clock = new FakeClock(Date.parse('2026-11-22T10:00:00Z'));
    await beat(heartbeat(name, agents, clock));
    await agents.flush();
    const object = await readAgent(kc, name);
    expect(object?.status).toMatchObject({
      state: 'Online',
      lastHeartbeatTime: '2026-11-22T10:00:00.000Z',
      leader: 'replica-1',
      fencingToken: 1_763_800_000_123,
      engineVersion: '20.10.24',
      capacity: { cpus: 2, memoryBytes: 4 << 30 },
      activeSessions: 2,
    });
    expect(typeof object?.status?.['lastHeartbeatTime']).toBe('string');

    // A second replica (or `dockerlet get agents`) reads the same record back.
    const other = await store();
    expect(other.get(name)).toEqual(agents.get(name));
  });

  it('marks an agent Offline on the Agent resource after the grace period, and Online with its next beat', async () => {
    const name = agentName();
    const subject = await store();
    const watcher = await store();
    const clock = new FakeClock(Date.now());
    const startedAt = clock.now() - GRACE_MS; // the watcher has led longer than one grace period
    await beat(heartbeat(name, subject, clock));
    await subject.flush();
    await watcher.reload();
    const reconcile = createLivenessReconciler({ store: watcher, clock, logger, gracePeriodMs: GRACE_MS, startedAt });

    expect(await reconcile(name, new AbortController().signal, context)).toEqual({ requeueAfterMs: GRACE_MS + 1 });
    clock.advance(GRACE_MS + 1);
    await reconcile(name, new AbortController().signal, context);
    await watcher.flush();
    const offline = (await readAgent(kc, name))?.status;
    expect(offline?.['state']).toBe('Offline');
    expect(offline?.['conditions']).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'False', reason: 'HeartbeatMissed' }));

    await subject.reload(); // the agent comes back: it reads its record (now Offline) and beats
    expect(subject.get(name)?.state).toBe('Offline');
    await beat(heartbeat(name, subject, clock, 'replica-2'));
    await subject.flush();
    const online = (await readAgent(kc, name))?.status;
    expect(online).toMatchObject({ state: 'Online', leader: 'replica-2' });
    expect(online?.['conditions']).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True', reason: 'HeartbeatReceived' }));
  });

  it('refuses a write decided on a stale read: a fresh beat is never overwritten by an Offline from an old copy', async () => {
    const name = agentName();
    const subject = await store();
    const watcher = await store();
    const clock = new FakeClock(Date.now());
    await beat(heartbeat(name, subject, clock));
    await subject.flush();
    await watcher.reload(); // the watcher's copy, soon stale
    clock.advance(1_000);
    await beat(heartbeat(name, subject, clock)); // the agent beats again meanwhile
    await subject.flush();
    const fresh = (await readAgent(kc, name))?.status;

    const stale = watcher.get(name)!;
    const offline: AgentStatus = { ...stale, state: 'Offline' };
    await watcher.write(name, offline);
    await watcher.flush();
    expect((await readAgent(kc, name))?.status).toEqual(fresh);
    // The refused writer now holds the newer record, to decide again from.
    expect(watcher.get(name)).toEqual(fresh);
  });

  it('reads spec.drain as `dockerlet drain` sets it, and the heartbeats that follow leave it alone', async () => {
    const name = agentName();
    const agents = await store();
    const clock = new FakeClock(Date.now());
    await beat(heartbeat(name, agents, clock));
    await agents.flush();
    const cli = await runCli(['drain', name, '--store', 'kubernetes', '--kubeconfig', TEST_KUBECONFIG]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(`agent ${name}: draining`);
    clock.advance(DEFAULT_HEARTBEAT_INTERVAL_MS);
    await beat(heartbeat(name, agents, clock));
    await agents.flush();
    const scheduler = await store();
    expect([...scheduler.drainRequested()]).toContain(name);
    expect((await readAgent(kc, name))?.status).toMatchObject({ state: 'Online' });
    expect((await runCli(['drain', name, '--undo', '--store', 'kubernetes', '--kubeconfig', TEST_KUBECONFIG])).code).toBe(0);
    await scheduler.reload();
    expect([...scheduler.drainRequested()]).not.toContain(name);
    // An Agent that does not exist is named, not created.
    const missing = await runCli(['drain', `${name}-nope`, '--store', 'kubernetes', '--kubeconfig', TEST_KUBECONFIG]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`no Agent "${name}-nope"`);
  });

  it('keeps its own unsent changes over an older listing, and deletes the Agent on delete', async () => {
    const name = agentName();
    const agents = await store();
    const clock = new FakeClock(Date.now());
    await beat(heartbeat(name, agents, clock));
    await agents.flush();
    clock.advance(5_000);
    const reloading = agents.reload();
    await beat(heartbeat(name, agents, clock));
    await reloading;
    expect(agents.get(name)?.lastHeartbeatTime).toBe(new Date(clock.now()).toISOString());
    await agents.flush();
    await agents.delete(name);
    await agents.flush();
    await eventually(async () => expect(await readAgent(kc, name)).toBeUndefined());
    expect(agents.get(name)).toBeUndefined();
  });
});

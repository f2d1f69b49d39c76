// Acceptance on the real single-node swarm (hack/test-env up): the agent deployed as a Swarm
// service of 3 replicas from the locally built image, electing through Swarm itself.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findOverlaps, readLedger } from '../../reconciler/leader-ledger.ts';
import type { LeaseTimings } from '../../reconciler/leader.ts';
import { dockerCli, uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { removeSwarmRun, requireTestSwarm, serviceTasks } from '../support/swarm.ts';
import type { TaskRow } from '../support/swarm.ts';
import { agentLogs, buildAgentImage, deployAgentService, ledgerDirectory, serviceLogs } from '../support/swarm-agent.ts';

// Shorter than the 15/10/2 s defaults so the test is quick, but with room for a 2-core machine
// shared with other suites: every lease call is a manager API call (inspect + update, through Raft).
const TIMINGS: LeaseTimings = { leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 1_000 };
// A standby's lease clock starts at the last renewal it saw (at most one retry period before the
// kill) and it notices expiry at its next try: lease + retry. Plus one call's latency on a busy engine.
const FAILOVER_BOUND_MS = TIMINGS.leaseDurationMs + TIMINGS.retryPeriodMs + 1_500;

let runId: string;
let ledgerDir: string | undefined;

beforeEach(async () => {
  await requireTestSwarm();
  await buildAgentImage();
  runId = uniqueRunId('dlsw');
  ledgerDir = await ledgerDirectory();
});

afterEach(async () => {
  await removeSwarmRun(runId);
  if (ledgerDir) await rm(ledgerDir, { recursive: true, force: true });
});

async function running(service: string, n: number): Promise<TaskRow[]> {
  return eventually(
    async () => {
      const tasks = (await serviceTasks(service)).filter((t) => t.desiredState === 'running' && t.state === 'running');
      expect(tasks).toHaveLength(n);
      return tasks;
    },
    { timeoutMs: 120_000, intervalMs: 500, message: `${n} running tasks of ${service}` },
  );
}

describe('agents as a 3-replica Swarm service with --leader-election swarm', () => {
  it('elects exactly one leader, resolves each task from its own container, and fails over after docker rm -f of the leader', async () => {
    const service = runId;
    const ledger = join(ledgerDir!, 'ledger.jsonl');
    const serviceId = await deployAgentService({ name: service, runId, replicas: 3, backend: 'swarm', timings: TIMINGS, ledgerDir: ledgerDir! });
    const tasks = await running(service, 3);

    // Every replica resolved its task ID, slot and service from its own container's labels,
    // having found the container by its hostname (the short container ID), not from DNS.
    await eventually(
      async () => {
        for (const task of tasks) {
          const resolved = (await agentLogs(task.containerId)).find((l) => l.msg === 'swarm task resolved from own container');
          expect(resolved).toMatchObject({ taskId: task.id, slot: task.slot, serviceId, service, container: task.containerId, foundBy: 'hostname' });
        }
      },
      { timeoutMs: 120_000, intervalMs: 1_000, message: 'every replica logs its resolved task' },
    );

    // Exactly one leader, and it stays the only one.
    const first = await eventually(
      () => {
        const starts = readLedger(ledger).filter((e) => e.event === 'start');
        expect(starts).toHaveLength(1);
        return starts[0]!;
      },
      { timeoutMs: 60_000, intervalMs: 250, message: 'one leader in the ledger' },
    );
    const identities = tasks.map((t) => `${service}.${t.slot}.${t.id}`);
    expect(identities).toContain(first.holder);
    await new Promise((resolve) => setTimeout(resolve, 2 * TIMINGS.leaseDurationMs));
    expect(readLedger(ledger).filter((e) => e.event === 'start')).toHaveLength(1);

    // The others stand by, naming the leader.
    for (const task of tasks.filter((t) => first.holder !== `${service}.${t.slot}.${t.id}`)) {
      const logs = await agentLogs(task.containerId);
      expect(logs.some((l) => l.msg === 'standing by' && l['leader'] === first.holder)).toBe(true);
    }

    // The leader's Agent record lists the three task identities: peers come from Swarm's task list.
    const leaderTask = tasks.find((t) => first.holder === `${service}.${t.slot}.${t.id}`)!;
    const record = await eventually(
      async () => {
        const text = await dockerCli(['exec', leaderTask.containerId, '/usr/bin/node', '-e', 'process.stdout.write(require("fs").readFileSync("/var/lib/dockerlet/agents.status.json","utf8"))']);
        const file = JSON.parse(text) as { items: Record<string, { replicas?: string[] }> };
        const replicas = file.items[service]?.replicas ?? [];
        expect([...replicas].sort()).toEqual([...identities].sort());
        return replicas;
      },
      { timeoutMs: 30_000, intervalMs: 1_000, message: 'the Agent record lists every task' },
    );
    expect(record).toHaveLength(3);

    // docker rm -f of the leader's task container: another replica leads within lease + retry.
    const killedAt = new Date();
    await dockerCli(['rm', '--force', leaderTask.containerId]);
    const second = await eventually(
      () => {
        const start = readLedger(ledger).find((e) => e.event === 'start' && e.holder !== first.holder);
        expect(start).toBeDefined();
        return start!;
      },
      { timeoutMs: 60_000, intervalMs: 100, message: 'a new leader after the kill' },
    );
    const failoverMs = second.at.getTime() - killedAt.getTime();
    expect(failoverMs).toBeLessThanOrEqual(FAILOVER_BOUND_MS);
    expect(second.token).toBeGreaterThan(first.token);
    expect(identities).toContain(second.holder);

    // Swarm replaces the killed task; the replacement joins as a standby.
    const replaced = await running(service, 3);
    const newcomer = replaced.find((t) => !tasks.some((old) => old.id === t.id));
    expect(newcomer?.slot).toBe(leaderTask.slot);
    const newcomerIdentity = `${service}.${newcomer!.slot}.${newcomer!.id}`;
    await eventually(
      async () => {
        const logs = await agentLogs(newcomer!.containerId);
        expect(logs.find((l) => l.msg === 'swarm task resolved from own container')).toMatchObject({ taskId: newcomer!.id, slot: leaderTask.slot });
        expect(logs.some((l) => l.msg === 'standing by' && l['leader'] === second.holder)).toBe(true);
      },
      { timeoutMs: 120_000, intervalMs: 1_000, message: 'the replacement stands by' },
    );
    const entries = readLedger(ledger);
    expect(entries.some((e) => e.holder === newcomerIdentity && e.event === 'start')).toBe(false);
    expect(findOverlaps(entries, { deaths: new Map([[first.holder, killedAt]]) })).toEqual([]);
  });
});

describe('--leader-election file in a Swarm service', () => {
  it('refuses to start when the replicas may land on more than one node, naming the backend to use', async () => {
    const service = runId;
    await deployAgentService({ name: service, runId, replicas: 2, backend: 'file', timings: TIMINGS, ledgerDir: ledgerDir!, restartCondition: 'none' });
    const finished = await eventually(
      async () => {
        const tasks = await serviceTasks(service);
        expect(tasks).toHaveLength(2);
        for (const task of tasks) expect(['failed', 'complete']).toContain(task.state);
        return tasks;
      },
      { timeoutMs: 120_000, intervalMs: 500, message: 'both tasks exit' },
    );
    expect(finished.every((t) => t.state === 'failed')).toBe(true);
    const exitCodes = await dockerCli(['inspect', '--format', '{{.Status.ContainerStatus.ExitCode}}', ...finished.map((t) => t.id)]);
    expect(exitCodes.split('\n')).toEqual(['2', '2']);
    const logs = await serviceLogs(service);
    expect(logs).toContain(`--leader-election file cannot elect one leader in Swarm service "${service}"`);
    expect(logs).toContain('Use --leader-election swarm');
    expect(readLedger(join(ledgerDir!, 'ledger.jsonl'))).toEqual([]);
  });
});

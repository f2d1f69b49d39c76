// Failover of the swarm leader-election backend, measured the way an operator causes it:
// `docker rm -f` of the leading agent's task container. Deploys the agent as a 3-replica Swarm
// service (local image, hack/images/build-agent.sh) on the test swarm (hack/test-env up), then
// per run: kill the leader's container, time until another replica's ledger start, wait until
// Swarm's replacement stands by. Prints every run, the median and the worst.
//   npx tsx hack/swarm-failover.ts [--runs 10] [--lease 15s] [--renew 10s] [--retry 2s]
// Removes only what it created (label dev.dockerlet.test.swarm=<run id>).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { durationMs } from '../agent/config.ts';
import { readLedger } from '../reconciler/leader-ledger.ts';
import { dockerCli, uniqueRunId } from '../test/support/docker.ts';
import { eventually } from '../test/support/eventually.ts';
import { removeSwarmRun, requireTestSwarm, serviceTasks } from '../test/support/swarm.ts';
import type { TaskRow } from '../test/support/swarm.ts';
import { agentLogs, buildAgentImage, deployAgentService, ledgerDirectory } from '../test/support/swarm-agent.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    lease: { type: 'string', default: '15s' },
    renew: { type: 'string', default: '10s' },
    retry: { type: 'string', default: '2s' },
  },
});
const runs = Number(values.runs);
const timings = { leaseDurationMs: durationMs('--lease')(values.lease), renewDeadlineMs: durationMs('--renew')(values.renew), retryPeriodMs: durationMs('--retry')(values.retry) };
const log = (message: string): void => void process.stderr.write(`swarm-failover: ${message}\n`);

const runId = uniqueRunId('dlsw-bench');
const service = runId;
const ledgerDir = await ledgerDirectory();
const ledger = join(ledgerDir, 'ledger.jsonl');
const identityOf = (t: TaskRow): string => `${service}.${t.slot}.${t.id}`;

async function runningTasks(): Promise<TaskRow[]> {
  return eventually(
    async () => {
      const tasks = (await serviceTasks(service)).filter((t) => t.desiredState === 'running' && t.state === 'running');
      if (tasks.length !== 3) throw new Error(`${tasks.length} of 3 tasks running`);
      return tasks;
    },
    { timeoutMs: 180_000, intervalMs: 500 },
  );
}

/** Every running replica has joined the election (leading or standing by). */
async function allJoined(): Promise<TaskRow[]> {
  return eventually(
    async () => {
      const tasks = await runningTasks();
      for (const task of tasks) {
        const logs = await agentLogs(task.containerId);
        if (!logs.some((l) => l.msg === 'standing by' || l.msg === 'leading: reconciling')) throw new Error(`${task.id} has not joined yet`);
      }
      return tasks;
    },
    { timeoutMs: 180_000, intervalMs: 1_000 },
  );
}

const cleanup = async (): Promise<void> => {
  await removeSwarmRun(runId).catch((error: unknown) => log(`cleanup failed: ${String(error)}`));
  await rm(ledgerDir, { recursive: true, force: true });
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  await requireTestSwarm();
  log('building the agent image (if the code changed)');
  await buildAgentImage();
  log(`deploying ${service}: 3 replicas, lease ${timings.leaseDurationMs} ms, renew ${timings.renewDeadlineMs} ms, retry ${timings.retryPeriodMs} ms`);
  await deployAgentService({ name: service, runId, replicas: 3, backend: 'swarm', timings, ledgerDir });
  const results: number[] = [];
  for (let run = 1; run <= runs; run++) {
    const tasks = await allJoined();
    const starts = readLedger(ledger).filter((e) => e.event === 'start');
    const current = starts.at(-1);
    const leader = tasks.find((t) => current && identityOf(t) === current.holder);
    if (!current || !leader) throw new Error('no running leader in the ledger');
    const killedAt = Date.now();
    await dockerCli(['rm', '--force', leader.containerId]);
    const next = await eventually(
      () => {
        const start = readLedger(ledger).filter((e) => e.event === 'start').find((e) => e.token > current.token);
        if (!start) throw new Error('no new leader yet');
        return start;
      },
      { timeoutMs: 120_000, intervalMs: 50 },
    );
    const ms = next.at.getTime() - killedAt;
    results.push(ms);
    log(`run ${run}: ${current.holder} killed, ${next.holder} leads after ${ms} ms (token ${current.token} → ${next.token})`);
  }
  const sorted = [...results].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  process.stdout.write(
    `${JSON.stringify({ backend: 'swarm', runs, timings, failoverMs: results, medianMs: median, worstMs: sorted.at(-1), bestMs: sorted[0] })}\n`,
  );
} finally {
  await cleanup();
}

// Scenario "converge": N Sessions on an empty engine, until all N containers run.
//   floor     a plain dockerode create+start loop, `concurrency` at a time (what any tool must pay)
//   dockerlet the agent as a child process with --workers = concurrency, N Session files waiting
// Rounds interleave floor and dockerlet so machine noise (other jobs, page cache, the engine's own
// state) hits both; the report is the ratio of medians.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { AgentFailedError, AgentProcess, counterTotal, engineCallsByOp } from './agent-process.ts';
import { deferCleanup, interruptSignal } from './cleanup.ts';
import { BENCH_IMAGE, pool, removeByLabel, sleep, waitAllRunning } from './engine.ts';
import type { Machine } from './machine.ts';
import { markdownTable, median, ms, ratio, summarize, times } from './stats.ts';
import type { Summary } from './stats.ts';

export interface ConvergeOptions {
  sessions: number;
  repeat: number;
  /** Floor's parallel create+start calls, and the agent's --workers. */
  concurrency: number;
  /** Per run, spawn (or first create) to all running. */
  timeoutMs: number;
  /** How often the engine is asked "how many run?" while the agent converges. */
  pollMs: number;
  agentLogLevel: string;
  agentLogDir?: string;
  cpuProfDir?: string;
}

export interface FloorRun {
  round: number;
  /** First create to the list answer that showed all N running. */
  allRunningMs: number;
  /** First create to the last start returning. */
  loopMs: number;
  /** Sum of create+start durations / N: how long a worker is busy per container. */
  workerMsPerContainer: number;
}

export interface DockerletRun {
  round: number;
  agentName: string;
  spawnToRunningMs: number;
  spawnToReadyMs: number;
  /** Negative if the containers ran before /readyz answered (the server listens last). */
  readyToRunningMs: number;
  /** dockerlet_docker_api_requests_total by op, scraped when all N ran. */
  engineCalls: Record<string, number>;
  reconciles: number;
  /** Sum of reconcile durations / N (dockerlet_reconcile_time_seconds_sum): the floor's workerMsPerContainer. */
  reconcileMsPerSession: number;
  agentExit: { code: number | null; signal: string | null; killed: boolean };
}

export interface ConvergeReport {
  scenario: 'converge';
  options: ConvergeOptions;
  machine: Machine;
  floor: FloorRun[];
  dockerlet: DockerletRun[];
  summary: {
    floorAllRunning: Summary;
    dockerletSpawnToRunning: Summary;
    dockerletSpawnToReady: Summary;
    dockerletReadyToRunning: Summary;
    /** median(dockerlet spawn → all running) / median(floor). */
    ratioSpawnToRunning: number;
    /** median(dockerlet ready → all running) / median(floor). */
    ratioReadyToRunning: number;
    engineCallsPerSession: number;
    floorWorkerMsPerContainer: number;
    dockerletReconcileMsPerSession: number;
  };
}

/** Lets the engine finish background work (network, overlay teardown) between runs. */
const SETTLE_MS = 1_000;
const BENCH_RUN_LABEL = 'dockerlet-bench.run';
const BENCH_ID_LABEL = 'dockerlet-bench.id';

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

function shortId(): string {
  return randomBytes(3).toString('hex');
}

export async function runFloor(docker: Docker, options: ConvergeOptions, round: number, runId: string): Promise<FloorRun> {
  const id = `${runId}-floor${round}`;
  const label = `${BENCH_ID_LABEL}=${id}`;
  const cleanup = deferCleanup(`floor containers ${label}`, async () => {
    await removeByLabel(docker, label, options.concurrency);
  });
  try {
    const started = performance.now();
    const deadline = started + options.timeoutMs;
    const stopPolling = new AbortController();
    // Polled exactly as the dockerlet run is, from the first create on: the list calls cost the
    // engine the same on both sides, and "all running" means the same thing (a list answer).
    const allRunning = waitAllRunning(docker, label, options.sessions, {
      intervalMs: options.pollMs,
      deadline,
      signal: AbortSignal.any([stopPolling.signal, interruptSignal]),
    });
    // Awaited below; until then a deadline rejection must not count as unhandled.
    allRunning.catch(() => undefined);
    let workerMs = 0;
    try {
      // The same container dockerlet creates for the Session: entrypoint, labels, restart policy.
      await pool(
        options.sessions,
        options.concurrency,
        async (i) => {
          const opStarted = performance.now();
          const container = await docker.createContainer({
            name: `dlbench-${id}-${String(i).padStart(4, '0')}`,
            Image: BENCH_IMAGE,
            Entrypoint: ['sleep', 'infinity'],
            Labels: { [BENCH_RUN_LABEL]: runId, [BENCH_ID_LABEL]: id },
            HostConfig: { RestartPolicy: { Name: 'unless-stopped' } },
          });
          await container.start();
          workerMs += performance.now() - opStarted;
        },
        interruptSignal,
      );
    } catch (error) {
      stopPolling.abort();
      await allRunning.catch(() => undefined);
      throw error;
    }
    const loopDone = performance.now();
    const confirmed = await allRunning;
    return { round, allRunningMs: confirmed - started, loopMs: loopDone - started, workerMsPerContainer: workerMs / options.sessions };
  } finally {
    await cleanup();
  }
}

function sessionYaml(name: string, namespace: string): string {
  return [
    'apiVersion: dockerlet.dev/v1alpha1',
    'kind: Session',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${namespace}`,
    'spec:',
    `  image: ${BENCH_IMAGE}`,
    '  command: [sleep, infinity]',
    '',
  ].join('\n');
}

export async function runDockerlet(docker: Docker, options: ConvergeOptions, round: number): Promise<DockerletRun> {
  const agentName = `bench-${shortId()}`;
  // Its own namespace too: container names (dockerlet_<ns>_<name>) never meet another run's.
  const namespace = agentName;
  const label = `dockerlet.dev/agent=${agentName}`;
  const root = await mkdtemp(join(tmpdir(), 'dockerlet-bench-'));
  const storeDir = join(root, 'store');
  const stateDir = join(root, 'state');
  let agent: AgentProcess | undefined;
  const cleanup = deferCleanup(`agent ${agentName} and its containers`, async () => {
    // Stop first: a live agent would recreate what we remove.
    if (agent) await agent.stop();
    await removeByLabel(docker, label, options.concurrency);
    await rm(root, { recursive: true, force: true });
  });
  try {
    await mkdir(storeDir);
    for (let i = 0; i < options.sessions; i++) {
      const name = `s-${String(i).padStart(4, '0')}`;
      await writeFile(join(storeDir, `${name}.yaml`), sessionYaml(name, namespace));
    }
    agent = await AgentProcess.start({
      storeDir,
      stateDir,
      agentName,
      workers: options.concurrency,
      logLevel: options.agentLogLevel,
      ...(options.agentLogDir ? { logFile: join(options.agentLogDir, `${agentName}.log`) } : {}),
      ...(options.cpuProfDir ? { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] } : {}),
    });
    const running = agent;
    const deadline = running.spawnedAt + options.timeoutMs;
    const giveUp = new AbortController();
    const stopWaiting = AbortSignal.any([giveUp.signal, interruptSignal]);
    const ready = running.waitReady(deadline, stopWaiting);
    ready.catch(() => giveUp.abort());
    const allRunning = waitAllRunning(docker, label, options.sessions, {
      intervalMs: options.pollMs,
      deadline,
      signal: stopWaiting,
      onTick: () => running.assertAlive(),
    });
    const [readyAt, allRunningAt] = await Promise.all([ready, allRunning]).catch((error: unknown) => {
      // Whatever went wrong (deadline, engine error), the agent's own words come with it.
      if (error instanceof AgentFailedError || interruptSignal.aborted) throw error;
      throw new AgentFailedError(error instanceof Error ? error.message : String(error), running.lastLines());
    });
    const metrics = await running.metrics();
    const exit = await running.stop();
    return {
      round,
      agentName,
      spawnToRunningMs: allRunningAt - running.spawnedAt,
      spawnToReadyMs: readyAt - running.spawnedAt,
      readyToRunningMs: allRunningAt - readyAt,
      engineCalls: engineCallsByOp(metrics),
      reconciles: counterTotal(metrics, 'dockerlet_reconcile_total'),
      reconcileMsPerSession: (counterTotal(metrics, 'dockerlet_reconcile_time_seconds_sum') * 1000) / options.sessions,
      agentExit: exit,
    };
  } finally {
    await cleanup();
  }
}

export async function runConverge(docker: Docker, options: ConvergeOptions, machine: Machine): Promise<ConvergeReport> {
  const runId = `converge-${shortId()}`;
  if (options.agentLogDir) await mkdir(options.agentLogDir, { recursive: true });
  if (options.cpuProfDir) await mkdir(options.cpuProfDir, { recursive: true });
  const floor: FloorRun[] = [];
  const dockerlet: DockerletRun[] = [];
  try {
    for (let round = 1; round <= options.repeat; round++) {
      const f = await runFloor(docker, options, round, runId);
      floor.push(f);
      log(`round ${round}/${options.repeat}: floor ${ms(f.allRunningMs)}`);
      await sleep(SETTLE_MS);
      interruptSignal.throwIfAborted();
      const d = await runDockerlet(docker, options, round);
      dockerlet.push(d);
      log(
        `round ${round}/${options.repeat}: dockerlet spawn→running ${ms(d.spawnToRunningMs)}, ready→running ${ms(d.readyToRunningMs)}`,
      );
      await sleep(SETTLE_MS);
      interruptSignal.throwIfAborted();
    }
  } finally {
    // Safety net for the whole run: anything with this run's label, whatever happened above.
    await removeByLabel(docker, `${BENCH_RUN_LABEL}=${runId}`, options.concurrency);
  }
  const floorMedian = median(floor.map((r) => r.allRunningMs));
  const spawnToRunning = summarize(dockerlet.map((r) => r.spawnToRunningMs));
  const readyToRunning = summarize(dockerlet.map((r) => r.readyToRunningMs));
  const totalCalls = (r: DockerletRun): number => Object.values(r.engineCalls).reduce((a, b) => a + b, 0);
  return {
    scenario: 'converge',
    options,
    machine,
    floor,
    dockerlet,
    summary: {
      floorAllRunning: summarize(floor.map((r) => r.allRunningMs)),
      dockerletSpawnToRunning: spawnToRunning,
      dockerletSpawnToReady: summarize(dockerlet.map((r) => r.spawnToReadyMs)),
      dockerletReadyToRunning: readyToRunning,
      ratioSpawnToRunning: ratio(spawnToRunning.median, floorMedian),
      ratioReadyToRunning: ratio(readyToRunning.median, floorMedian),
      engineCallsPerSession: median(dockerlet.map((r) => totalCalls(r) / options.sessions)),
      floorWorkerMsPerContainer: median(floor.map((r) => r.workerMsPerContainer)),
      dockerletReconcileMsPerSession: median(dockerlet.map((r) => r.reconcileMsPerSession)),
    },
  };
}

function formatCalls(calls: Record<string, number>): string {
  return Object.entries(calls)
    .sort(([, a], [, b]) => b - a)
    .map(([op, n]) => `${op} ${n}`)
    .join(', ');
}

export function formatConverge(report: ConvergeReport): string {
  const { options, machine, summary } = report;
  const header = [
    'round',
    'floor: create+start → all running',
    'dockerlet: spawn → all running',
    'dockerlet: spawn → ready',
    'dockerlet: ready → all running',
    'engine calls / session',
  ];
  const rows = report.floor.map((f, i) => {
    const d = report.dockerlet[i];
    const calls = d ? Object.values(d.engineCalls).reduce((a, b) => a + b, 0) / options.sessions : Number.NaN;
    return [
      String(f.round),
      ms(f.allRunningMs),
      d ? ms(d.spawnToRunningMs) : 'n/a',
      d ? ms(d.spawnToReadyMs) : 'n/a',
      d ? ms(d.readyToRunningMs) : 'n/a',
      Number.isFinite(calls) ? calls.toFixed(2) : 'n/a',
    ];
  });
  rows.push([
    '**median**',
    `**${ms(summary.floorAllRunning.median)}**`,
    `**${ms(summary.dockerletSpawnToRunning.median)}**`,
    `**${ms(summary.dockerletSpawnToReady.median)}**`,
    `**${ms(summary.dockerletReadyToRunning.median)}**`,
    `**${summary.engineCallsPerSession.toFixed(2)}**`,
  ]);
  const last = report.dockerlet.at(-1);
  return [
    `## converge: ${options.sessions} sessions, concurrency ${options.concurrency}, ${options.repeat} round(s)`,
    '',
    markdownTable(header, rows),
    '',
    markdownTable(
      ['ratio (median dockerlet / median floor)', 'value'],
      [
        ['spawn → all running', `**${times(summary.ratioSpawnToRunning)}**`],
        ['ready → all running', `**${times(summary.ratioReadyToRunning)}**`],
      ],
    ),
    '',
    `Worker time per container (median): floor create+start ${ms(summary.floorWorkerMsPerContainer)}, ` +
      `dockerlet reconciles ${ms(summary.dockerletReconcileMsPerSession)} (floor: 2 engine calls per container).`,
    last ? `Engine calls by op (round ${last.round}, at convergence): ${formatCalls(last.engineCalls)}; reconciles: ${last.reconciles}.` : '',
    `Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, ` +
      `Docker ${machine.engine.version} (${machine.engine.storageDriver}), node ${machine.node}, ${machine.date}` +
      (machine.git ? `, commit ${machine.git.commit.slice(0, 12)}${machine.git.dirty ? ' (dirty tree)' : ''}` : '') +
      '.',
    '',
  ].join('\n');
}

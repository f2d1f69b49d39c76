// Scenario "failover": three replicas of one agent; each round kills the leader and times
//   takeover           signal → exactly one survivor reports leading (its master_status gauge)
//   reconciling again  signal → the container of a Session written right after it runs
// then restarts the killed replica so every round starts from three. One group of replicas per
// backend × signal (fresh agent name, store and state dir), so no group inherits another's lease.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { deferCleanup, interruptSignal } from './cleanup.ts';
import { removeByLabel, sleep, waitAllRunning } from './engine.ts';
import { forgetAgent } from './failover-redis.ts';
import { boundMs, summarizeGroup } from './failover-report.ts';
import type { FailoverGroup, FailoverReport, FailoverRound } from './failover-report.ts';
import type { Backend, FailoverOptions, FailoverSignal } from './failover-options.ts';
import type { Machine } from './machine.ts';
import { ReplicaSet } from './replica-set.ts';
import { sessionYaml } from './session-files.ts';
import type { LeaderSeen } from './replica-set.ts';
import { ms } from './stats.ts';


const REPLICAS = 3;
/** Start-up of three replicas (tsx compiles on each start) and the first convergence. */
const START_TIMEOUT_MS = 120_000;
/** Past its bound a round is already a failure; this only keeps a broken run from hanging. */
const HARD_MARGIN_MS = 60_000;
/** A SIGTERMed agent that has not exited by then is a finding of its own. */
const EXIT_TIMEOUT_MS = 60_000;

const SIGNAL_NAMES: Record<FailoverSignal, NodeJS.Signals> = { kill: 'SIGKILL', term: 'SIGTERM' };

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** The agent flags of one group: backend, where it lives, and the timings the bounds come from. */
function agentArgs(backend: Backend, options: FailoverOptions): string[] {
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = options.timings;
  return [
    '--leader-election', backend,
    ...(backend === 'redis' ? ['--redis', options.redisUrl] : []),
    // Always explicit, defaults included: the bounds are computed from these very numbers.
    '--lease-duration', `${leaseDurationMs}ms`,
    '--renew-deadline', `${renewDeadlineMs}ms`,
    '--retry-period', `${retryPeriodMs}ms`,
  ];
}

/**
 * Polls with one list call per tick (running containers with the agent's label, filtered by the
 * engine) until the Session `name`'s container is among them; returns when that answer arrived.
 */
async function waitSessionRunning(
  docker: Docker,
  agentName: string,
  name: string,
  options: { intervalMs: number; deadline: number; signal: AbortSignal },
): Promise<number> {
  for (;;) {
    const tickStart = performance.now();
    const running = await docker.listContainers({ filters: { label: [`dockerlet.dev/agent=${agentName}`], status: ['running'] } });
    const at = performance.now();
    if (running.some((c) => c.Labels['dockerlet.dev/name'] === name)) return at;
    options.signal.throwIfAborted();
    if (at > options.deadline) throw new Error(`the container of Session ${name} was not running by the deadline`);
    await sleep(Math.max(0, options.intervalMs - (at - tickStart)));
  }
}

/**
 * Every step is tried even when an earlier one failed (Redis gone must not leave the temp dir
 * behind); each failure is said here, where it is handled, and the first is rethrown.
 */
async function cleanUpGroup(steps: readonly (readonly [string, () => Promise<void>])[]): Promise<void> {
  let first: unknown;
  for (const [what, step] of steps) {
    try {
      await step();
    } catch (error) {
      log(`cleanup: could not ${what}: ${error instanceof Error ? error.message : String(error)}`);
      first ??= error;
    }
  }
  if (first !== undefined) throw first;
}

interface GroupContext {
  docker: Docker;
  options: FailoverOptions;
  backend: Backend;
  signal: FailoverSignal;
  agentName: string;
  storeDir: string;
  set: ReplicaSet;
  boundMs: number;
}

/**
 * Runs `tasks` together; the first failure aborts the others (they take the signal) and is
 * rethrown once all have settled, so no poll outlives the round.
 */
async function together<T extends unknown[]>(tasks: { [K in keyof T]: (signal: AbortSignal) => Promise<T[K]> }): Promise<T> {
  const failed = new AbortController();
  const signal = AbortSignal.any([failed.signal, interruptSignal]);
  const running = tasks.map((task) => task(signal).catch((error: unknown) => {
    failed.abort(error);
    throw error;
  }));
  const settled = await Promise.allSettled(running);
  const failure = settled.find((s) => s.status === 'rejected');
  if (failure) throw failure.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as T;
}

async function runRound(ctx: GroupContext, round: number): Promise<FailoverRound> {
  const { docker, options, set, agentName } = ctx;
  // A replica attempts to acquire right before it answers /readyz, then every retry period, so a
  // signal sent as soon as the replacement is ready would always meet its next attempt ~1 retry
  // period later. A random wait makes the signal's moment independent of the standbys' cadence,
  // as a real crash is; at least one period also lets the replacement settle as a standby.
  await sleep(options.timings.retryPeriodMs * (1 + Math.random()));
  interruptSignal.throwIfAborted();
  const poll = { intervalMs: options.pollMs, signal: interruptSignal };
  const { leader: old } = await set.waitSingleLeader(set.current, { ...poll, deadline: performance.now() + ctx.boundMs + HARD_MARGIN_MS });
  const survivors = set.current.filter((r) => r !== old);
  const session = `${ctx.signal}-${round}`;

  const t0 = performance.now();
  old.signal(SIGNAL_NAMES[ctx.signal]);
  // Right after the signal: whoever reconciles it must be the successor.
  await writeFile(join(ctx.storeDir, `${session}.yaml`), sessionYaml(session));
  const deadline = t0 + ctx.boundMs + HARD_MARGIN_MS;
  const [seen, runningAt, exit] = await together<[LeaderSeen, number, { at: number }]>([
    (signal) => set.waitSingleLeader(survivors, { intervalMs: options.pollMs, deadline, signal }),
    (signal) => waitSessionRunning(docker, agentName, session, { intervalMs: options.pollMs, deadline, signal }),
    () => old.waitExit(EXIT_TIMEOUT_MS),
  ]);
  const restartReadyMs = await set.replace(old, performance.now() + START_TIMEOUT_MS, interruptSignal);
  return {
    round,
    takeoverMs: seen.at - t0,
    reconcilingAgainMs: runningAt - t0,
    oldLeaderExitMs: exit.at - t0,
    restartReadyMs,
    mostLeading: seen.mostLeading,
  };
}

async function runGroup(docker: Docker, options: FailoverOptions, backend: Backend, signal: FailoverSignal): Promise<FailoverGroup> {
  const agentName = `bench-failover-${randomBytes(3).toString('hex')}`;
  const label = `dockerlet.dev/agent=${agentName}`;
  const root = await mkdtemp(join(tmpdir(), 'dockerlet-bench-failover-'));
  const storeDir = join(root, 'store');
  const set = new ReplicaSet({
    agentName,
    storeDir,
    stateDir: join(root, 'state'),
    agentArgs: agentArgs(backend, options),
    logLevel: options.agentLogLevel,
    ...(options.agentLogDir ? { logDir: options.agentLogDir } : {}),
  });
  const cleanup = deferCleanup(`failover replicas ${agentName}, their containers and ${root}`, () =>
    cleanUpGroup([
      // Replicas first: a live leader would recreate what we remove.
      [`stop the replicas of ${agentName}`, () => set.stopAll()],
      [`remove containers with ${label}`, () => removeByLabel(docker, label).then(() => undefined)],
      ...(backend === 'redis' ? ([[`delete the Redis keys of ${agentName}`, () => forgetAgent(options.redisUrl, agentName)]] as const) : []),
      [`remove ${root}`, () => rm(root, { recursive: true, force: true })],
    ]),
  );
  const ctx: GroupContext = { docker, options, backend, signal, agentName, storeDir, set, boundMs: boundMs(signal, options.timings) };
  const rounds: FailoverRound[] = [];
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  try {
    await mkdir(storeDir);
    for (let i = 0; i < options.sessions; i++) await writeFile(join(storeDir, `initial-${i}.yaml`), sessionYaml(`initial-${i}`));
    const deadline = performance.now() + START_TIMEOUT_MS;
    await set.start(REPLICAS, deadline, interruptSignal);
    // A leader that has converged: the rounds measure a handover of real work, not a cold start.
    await waitAllRunning(docker, label, options.sessions, { intervalMs: options.pollMs, deadline, signal: interruptSignal });
    log(`${backend}/${signal}: ${REPLICAS} replicas of ${agentName} ready, ${options.sessions} sessions running`);
    for (let round = 1; round <= options.repeat; round++) {
      const r = await runRound(ctx, round);
      rounds.push(r);
      log(
        `${backend}/${signal} round ${round}/${options.repeat}: takeover ${ms(r.takeoverMs)}, reconciling again ${ms(r.reconcilingAgainMs)} ` +
          `(bound ${ms(ctx.boundMs)}); old leader gone after ${ms(r.oldLeaderExitMs)}, restart ready in ${ms(r.restartReadyMs)}`,
      );
    }
  } finally {
    await cleanup();
  }
  return summarizeGroup({ backend, signal, agentName, boundMs: ctx.boundMs, rounds, loadAverage: { start: loadAtStart, end: loadavg()[0] ?? Number.NaN } });
}

export async function runFailover(docker: Docker, options: FailoverOptions, machine: Machine): Promise<FailoverReport> {
  if (options.agentLogDir) await mkdir(options.agentLogDir, { recursive: true });
  const groups: FailoverGroup[] = [];
  for (const backend of options.backends) {
    for (const signal of options.signals) {
      interruptSignal.throwIfAborted();
      groups.push(await runGroup(docker, options, backend, signal));
    }
  }
  return { scenario: 'failover', options, machine, groups, violations: groups.flatMap((g) => g.violations) };
}

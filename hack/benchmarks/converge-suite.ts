// Scenarios "converge" and "teardown" share their rounds: each round brings N containers up with
// one contender (timed), then removes them (timed). Rounds interleave the contenders, so machine
// noise (other jobs, page cache, the engine's own state) hits all of them; reports are medians.
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { interruptSignal } from './cleanup.ts';
import type { Contender, ContenderName, ContenderRun } from './contender.ts';
import { runRound } from './contender.ts';
import { ComposeContender } from './contender-compose.ts';
import { DockerletContender } from './contender-dockerlet.ts';
import { FloorContender } from './contender-floor.ts';
import { SwarmContender } from './contender-swarm.ts';
import { median, ms, ratio, summarize } from './stats.ts';
import type { Summary } from './stats.ts';

export interface ConvergeSuiteOptions {
  sizes: number[];
  repeat: number;
  concurrency: number;
  contenders: ContenderName[];
  pollMs: number;
  timeoutMs: number;
  agentLogLevel: string;
  agentLogDir?: string;
  cpuProfDir?: string;
}

/** A dockerlet run also knows how long its agent took from spawn to its first /readyz 200. */
export interface ConvergeRun extends ContenderRun {
  readyMs?: number;
  /** dockerlet: its engine calls by op and its reconciles when all N ran. */
  engineCalls?: Record<string, number>;
  reconciles?: number;
  /** dockerlet: the agent's CPU seconds from spawn until all N ran. */
  agentCpuSeconds?: number;
  /** Why this run has no numbers (they are NaN then): the contender failed or timed out. */
  error?: string;
}

export interface ContenderSummary {
  /** Rounds that failed (not in the numbers below). */
  failed: number;
  /** The first failure's message, if any. */
  error?: string;
  up: Summary;
  command: Summary;
  down: Summary;
  ready?: Summary;
  /** The round whose up time is the median one: the line the plot draws. */
  medianSeries: [number, number][];
}

export interface ConvergeSize {
  sessions: number;
  runs: ConvergeRun[];
  contenders: Partial<Record<ContenderName, ContenderSummary>>;
  /** median(contender up) / median(floor up), and the same for teardown. */
  upRatioToFloor: Partial<Record<ContenderName, number>>;
  downRatioToFloor: Partial<Record<ContenderName, number>>;
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

function shortId(): string {
  return randomBytes(3).toString('hex');
}

function contender(docker: Docker, name: ContenderName, sessions: number, options: ConvergeSuiteOptions): Contender {
  const id = `${name.slice(0, 2)}${shortId()}`;
  switch (name) {
    case 'floor':
      return new FloorContender(docker, id, sessions, options.concurrency);
    case 'dockerlet':
      return new DockerletContender(docker, `bench-${id}`, {
        sessions,
        workers: options.concurrency,
        logLevel: options.agentLogLevel,
        timeoutMs: options.timeoutMs,
        ...(options.agentLogDir ? { logDir: options.agentLogDir } : {}),
        ...(options.cpuProfDir ? { cpuProfDir: options.cpuProfDir } : {}),
      });
    case 'compose':
      return new ComposeContender(docker, id, sessions, options.timeoutMs);
    case 'swarm':
      return new SwarmContender(docker, id, sessions);
  }
}

function summarizeContender(all: ConvergeRun[]): ContenderSummary {
  const runs = all.filter((r) => r.error === undefined);
  const failure = all.find((r) => r.error !== undefined);
  const up = summarize(runs.map((r) => r.upMs));
  const medianRun = [...runs].sort((a, b) => Math.abs(a.upMs - up.median) - Math.abs(b.upMs - up.median))[0];
  const ready = runs.map((r) => r.readyMs).filter((v): v is number => v !== undefined);
  return {
    failed: all.length - runs.length,
    ...(failure?.error ? { error: failure.error } : {}),
    up,
    command: summarize(runs.map((r) => r.commandMs)),
    down: summarize(runs.map((r) => r.downMs)),
    ...(ready.length > 0 ? { ready: summarize(ready) } : {}),
    medianSeries: medianRun?.series ?? [],
  };
}

export async function runConvergeSuite(docker: Docker, options: ConvergeSuiteOptions): Promise<ConvergeSize[]> {
  const results: ConvergeSize[] = [];
  for (const sessions of options.sizes) {
    const runs: ConvergeRun[] = [];
    for (let round = 1; round <= options.repeat; round++) {
      for (const name of options.contenders) {
        interruptSignal.throwIfAborted();
        const c = contender(docker, name, sessions, options);
        let run: ConvergeRun;
        try {
          run = await runRound(docker, c, { sessions, round, pollMs: options.pollMs, timeoutMs: options.timeoutMs });
          if (c instanceof DockerletContender) Object.assign(run, { readyMs: c.spawnToReadyMs, engineCalls: c.engineCalls, reconciles: c.reconciles, agentCpuSeconds: c.cpuSeconds });
          log(`converge N=${sessions} round ${round}/${options.repeat}: ${name} up ${ms(run.upMs)} (command ${ms(run.commandMs)}), down ${ms(run.downMs)}`);
        } catch (error) {
          // One contender failing (Compose deadlocking, a timeout) is a result, not the end of
          // the run; runRound has removed what it made. An interrupt still stops everything.
          if (interruptSignal.aborted) throw error;
          // The command's first line and the tool's own last word (its stderr ends with the cause).
          const lines = (error instanceof Error ? error.message : String(error)).split('\n').filter((l) => l.trim() !== '');
          const message = lines.length > 1 ? `${lines[0]} ${lines.at(-1)}` : (lines[0] ?? 'failed');
          run = { contender: name, sessions, round, upMs: Number.NaN, commandMs: Number.NaN, downMs: Number.NaN, series: [], error: message };
          log(`converge N=${sessions} round ${round}/${options.repeat}: ${name} FAILED: ${message}`);
        }
        runs.push(run);
      }
    }
    const contenders: ConvergeSize['contenders'] = {};
    for (const name of options.contenders) contenders[name] = summarizeContender(runs.filter((r) => r.contender === name));
    const floorUp = median(runs.filter((r) => r.contender === 'floor').map((r) => r.upMs));
    const floorDown = median(runs.filter((r) => r.contender === 'floor').map((r) => r.downMs));
    const upRatioToFloor: ConvergeSize['upRatioToFloor'] = {};
    const downRatioToFloor: ConvergeSize['downRatioToFloor'] = {};
    for (const name of options.contenders) {
      upRatioToFloor[name] = ratio(contenders[name]!.up.median, floorUp);
      downRatioToFloor[name] = ratio(contenders[name]!.down.median, floorDown);
    }
    results.push({ sessions, runs, contenders, upRatioToFloor, downRatioToFloor });
  }
  return results;
}

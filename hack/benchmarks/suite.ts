// The issue's benchmark suite in one run: `bash hack/bench all --sizes 100,300 --repeat 3`, or one
// scenario of it. Runs the scenarios in order (converge and teardown share rounds; drift, restart
// and resync share one fleet of N running Sessions per size; footprint has its own), judges every
// target, prints the Markdown and, with --out-dir (default docs for `all`), writes
// benchmarks.md, benchmarks.json and benchmarks-converge.png there.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { installSignalCleanup } from './cleanup.ts';
import { run } from './command.ts';
import { COMPOSE } from './contender-compose.ts';
import { ensureSwarm } from './contender-swarm.ts';
import { runConvergeSuite } from './converge-suite.ts';
import { runDrift } from './drift.ts';
import { engineClient, requireEngineAndImage } from './engine.ts';
import { Fleet } from './fleet.ts';
import type { FleetOptions } from './fleet.ts';
import { FLEET_SECTION_MARKER } from './fleet-bench-report.ts';
import { runFootprint } from './footprint.ts';
import { describeMachine } from './machine.ts';
import { plotConverge } from './plot.ts';
import { runRestart } from './restart.ts';
import { runResync } from './resync.ts';
import { SUITE_HELP, suiteOptions } from './suite-options.ts';
import type { SuiteOptions } from './suite-options.ts';
import { evaluateTargets, formatSuite } from './suite-report.ts';
import type { SuiteReport } from './suite-report.ts';

export { isSuiteScenario, SUITE_HELP } from './suite-options.ts';

const SUITE_USAGE = `Usage: bash hack/bench <scenario> [options]

${SUITE_HELP}`;

/** Pause between one repaired container and the next kill. */
const DRIFT_GAP_MS = 300;

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

async function requireCompose(): Promise<void> {
  try {
    await run(COMPOSE, ['version']);
  } catch (error) {
    throw new Error(`${COMPOSE} is missing: run through \`bash hack/bench\`, which installs Debian's docker-compose (or --contenders without compose)`, { cause: error });
  }
}

async function convergeAndTeardown(docker: Docker, options: SuiteOptions, report: Omit<SuiteReport, 'targets'>): Promise<void> {
  if (options.contenders.includes('compose')) await requireCompose();
  const leaveSwarm = options.contenders.includes('swarm') ? await ensureSwarm(docker) : async () => {};
  try {
    report.converge = await runConvergeSuite(docker, {
      sizes: options.sizes,
      repeat: options.repeat,
      concurrency: options.concurrency,
      contenders: options.contenders,
      pollMs: options.pollMs,
      timeoutMs: options.timeoutMs,
      agentLogLevel: options.agentLogLevel,
      ...(options.agentLogDir ? { agentLogDir: options.agentLogDir } : {}),
      ...(options.cpuProfDir ? { cpuProfDir: options.cpuProfDir } : {}),
    });
  } finally {
    await leaveSwarm();
  }
}

function fleetOptions(options: SuiteOptions, sessions: number): FleetOptions {
  return {
    sessions,
    workers: options.concurrency,
    logLevel: options.agentLogLevel,
    pollMs: options.pollMs,
    timeoutMs: options.timeoutMs,
    ...(options.agentLogDir ? { agentLogDir: options.agentLogDir } : {}),
    ...(options.cpuProfDir ? { cpuProfDir: options.cpuProfDir } : {}),
  };
}

async function steadyState(docker: Docker, options: SuiteOptions, report: Omit<SuiteReport, 'targets'>): Promise<void> {
  const wanted = options.scenarios.filter((s) => s === 'drift' || s === 'restart' || s === 'resync');
  if (wanted.length === 0) return;
  for (const sessions of options.sizes) {
    const fleet = await Fleet.start(docker, fleetOptions(options, sessions));
    try {
      // Drift first: it wants the agent that converged the fleet, default flags and all.
      if (wanted.includes('drift')) report.drift.push(await runDrift(docker, fleet, { kills: Math.min(options.kills, sessions), gapMs: DRIFT_GAP_MS }));
      if (wanted.includes('restart')) report.restart.push(await runRestart(fleet, { repeat: options.repeat, timeoutMs: options.timeoutMs }));
      if (wanted.includes('resync')) report.resync.push(await runResync(fleet, { resyncPeriodMs: options.resyncPeriodMs, resyncs: options.resyncs }));
    } finally {
      await fleet.close();
    }
  }
}

async function footprint(docker: Docker, options: SuiteOptions, report: Omit<SuiteReport, 'targets'>): Promise<void> {
  // The baseline first (an agent with no Session), then the same with N: their difference is
  // what the Sessions cost; the baseline is what the runtime costs before any of them.
  for (const sessions of [0, options.footprintSessions]) {
    const fleet = await Fleet.start(docker, fleetOptions(options, sessions));
    try {
      const result = await runFootprint(fleet, { idleSeconds: options.idleSeconds, repeat: options.repeat });
      if (sessions === 0) report.footprintBaseline = result;
      else report.footprint = result;
    } finally {
      await fleet.close();
    }
  }
}

/** The fleet scenario's section (its own run, `bash hack/bench fleet`), which `all` does not measure. */
async function keptFleetSection(path: string): Promise<string> {
  const old = await readFile(path, 'utf8').catch(() => '');
  const at = old.indexOf(FLEET_SECTION_MARKER);
  return at < 0 ? '' : `\n${old.slice(at)}`;
}

async function writeOutputs(report: SuiteReport, options: SuiteOptions): Promise<string> {
  const outDir = options.outDir;
  if (outDir) {
    await mkdir(outDir, { recursive: true });
    if (report.converge && report.scenarios.includes('converge')) {
      const m = report.machine;
      const title = `Containers running over time, converging N from empty\n${m.nproc} CPUs, Docker ${m.engine.version}, ${m.date.slice(0, 10)}`;
      if (await plotConverge(report.converge, title, join(outDir, 'benchmarks-converge.png'))) report.plot = 'benchmarks-converge.png';
    }
  }
  const markdown = formatSuite(report);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (outDir) {
    await writeFile(join(outDir, 'benchmarks.md'), markdown + (await keptFleetSection(join(outDir, 'benchmarks.md'))));
    await writeFile(join(outDir, 'benchmarks.json'), json);
    log(`report written to ${join(outDir, 'benchmarks.md')} and benchmarks.json${report.plot ? ` and ${report.plot}` : ''}`);
  }
  if (options.json) await writeFile(options.json, json);
  return markdown;
}

export async function runSuite(scenario: string, args: string[]): Promise<number> {
  const { options, help } = suiteOptions(scenario, args);
  if (help) {
    process.stdout.write(`${SUITE_USAGE}\n`);
    return 0;
  }
  installSignalCleanup();
  for (const dir of [options.cpuProfDir, options.agentLogDir]) if (dir) await mkdir(dir, { recursive: true });
  const docker = engineClient();
  await requireEngineAndImage(docker);
  const started = performance.now();
  const loadAverage = loadavg();
  log(`load average at start: ${loadAverage.map((l) => l.toFixed(2)).join(', ')}`);
  const partial: Omit<SuiteReport, 'targets'> = {
    command: `bash hack/bench ${[scenario, ...args].join(' ')}`,
    scenarios: options.scenarios,
    options,
    machine: await describeMachine(docker),
    loadAverage,
    drift: [],
    restart: [],
    resync: [],
    durationSeconds: 0,
  };
  if (options.scenarios.includes('converge') || options.scenarios.includes('teardown')) await convergeAndTeardown(docker, options, partial);
  await steadyState(docker, options, partial);
  if (options.scenarios.includes('footprint')) await footprint(docker, options, partial);
  partial.durationSeconds = (performance.now() - started) / 1000;
  const report: SuiteReport = { ...partial, targets: evaluateTargets(partial) };
  process.stdout.write(await writeOutputs(report, options));
  const misses = report.targets.filter((t) => t.result === 'MISS');
  for (const miss of misses) log(`MISS: ${miss.scenario}: ${miss.target}: ${miss.measured}`);
  return misses.length === 0 ? 0 : 1;
}

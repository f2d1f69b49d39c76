// Benchmark entry: `bash hack/bench <scenario> [options]`. Benchmarks run on demand, never in the
// test suite, and report against something fixed: a floor measured in the same run (converge) or
// the bound DESIGN.md promises (failover). Progress goes to stderr; stdout is the Markdown report
// only, so it can be pasted or redirected as is.
import { writeFile } from 'node:fs/promises';
import { UsageError } from './args.ts';
import { installSignalCleanup, interruptSignal } from './cleanup.ts';
import { engineClient, requireEngineAndImage } from './engine.ts';
import { runFailover } from './failover.ts';
import { FAILOVER_HELP, failoverOptions } from './failover-options.ts';
import { requireRedis } from './failover-redis.ts';
import { formatFailover } from './failover-report.ts';
import { runFleetBench } from './fleet-bench.ts';
import { FLEET_HELP, fleetBenchOptions } from './fleet-bench-options.ts';
import { fleetViolations, formatFleetBench } from './fleet-bench-report.ts';
import { describeMachine } from './machine.ts';
import { runSchedulerPass, SCHEDULER_PASS_HELP } from './scheduler-pass.ts';
import { isSuiteScenario, runSuite, SUITE_HELP } from './suite.ts';
import { SUITE_SCENARIOS } from './suite-options.ts';

const USAGE = `Usage: bash hack/bench <scenario> [options]

Scenarios:
${FAILOVER_HELP}

${FLEET_HELP}

${SCHEDULER_PASS_HELP}

${SUITE_HELP}`;

const FAILOVER_USAGE = `Usage: bash hack/bench failover [options]

${FAILOVER_HELP}`;

async function main(argv: string[]): Promise<number> {
  const [scenario, ...rest] = argv;
  if (scenario === undefined || scenario === '-h' || scenario === '--help' || scenario === 'help') {
    // Asked for: stdout, success. Not asked for (no scenario): stderr, usage error.
    (scenario === undefined ? process.stderr : process.stdout).write(`${USAGE}\n`);
    return scenario === undefined ? 2 : 0;
  }
  if (isSuiteScenario(scenario)) return runSuite(scenario, rest);
  if (scenario === 'failover') return failover(rest);
  if (scenario === 'fleet') return fleet(rest);
  if (scenario === 'scheduler-pass') return runSchedulerPass(rest);
  throw new UsageError(`unknown scenario "${scenario}" (known: failover, fleet, scheduler-pass, ${SUITE_SCENARIOS.join(', ')})`);
}

async function fleet(args: string[]): Promise<number> {
  const { options, help } = fleetBenchOptions(args);
  if (help) {
    process.stdout.write(`Usage: bash hack/bench fleet [options]\n\n${FLEET_HELP}\n`);
    return 0;
  }
  installSignalCleanup();
  const docker = engineClient();
  await requireEngineAndImage(docker);
  const report = await runFleetBench(docker, options, await describeMachine(docker));
  process.stdout.write(formatFleetBench(report));
  if (options.json) {
    await writeFile(options.json, `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`bench: JSON report written to ${options.json}\n`);
  }
  const violations = fleetViolations(report);
  for (const violation of violations) process.stderr.write(`bench: GOAL MISSED: ${violation}\n`);
  return violations.length === 0 ? 0 : 1;
}

async function failover(args: string[]): Promise<number> {
  const { options, json, help } = failoverOptions(args);
  if (help) {
    process.stdout.write(`${FAILOVER_USAGE}\n`);
    return 0;
  }
  installSignalCleanup();
  const docker = engineClient();
  await requireEngineAndImage(docker);
  if (options.backends.includes('redis')) await requireRedis(options.redisUrl);
  const machine = await describeMachine(docker);
  const report = await runFailover(docker, options, machine);
  process.stdout.write(formatFailover(report));
  if (json) {
    await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`bench: JSON report written to ${json}\n`);
  }
  // The report is out either way; the exit code says whether every round met its bound.
  for (const violation of report.violations) process.stderr.write(`bench: OVER BOUND: ${violation}\n`);
  return report.violations.length === 0 ? 0 : 1;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`bench: ${(error as Error).message}\n(run bash hack/bench --help for usage)\n`);
    process.exitCode = 2;
  } else if (interruptSignal.aborted) {
    process.stderr.write('bench: interrupted; everything it created is removed\n');
    process.exitCode = 130;
  } else {
    process.stderr.write(`bench: FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}

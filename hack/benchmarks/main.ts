// Benchmark entry: `bash hack/bench <scenario> [options]`. Benchmarks run on demand, never in the
// test suite, and report against something fixed: a floor measured in the same run (converge) or
// the bound DESIGN.md promises (failover). Progress goes to stderr; stdout is the Markdown report
// only, so it can be pasted or redirected as is.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { positiveInt, UsageError } from './args.ts';
import { installSignalCleanup, interruptSignal } from './cleanup.ts';
import { formatConverge, runConverge } from './converge.ts';
import type { ConvergeOptions } from './converge.ts';
import { engineClient, requireEngineAndImage } from './engine.ts';
import { runFailover } from './failover.ts';
import { FAILOVER_HELP, failoverOptions } from './failover-options.ts';
import { requireRedis } from './failover-redis.ts';
import { formatFailover } from './failover-report.ts';
import { describeMachine } from './machine.ts';
import { isSuiteScenario, runSuite, SUITE_HELP } from './suite.ts';

const USAGE = `Usage: bash hack/bench <scenario> [options]

Scenarios:
  converge   N Sessions on an empty engine until all N containers run: the dockerlet agent
             (spawned as a child process) against a floor, a plain dockerode create+start loop.

Options (converge):
  --sessions <n>          Sessions / containers per run (default 100)
  --repeat <n>            rounds; each runs the floor, then dockerlet (default 3)
  --concurrency <n>       floor's parallel create+start, and the agent's --workers (default 8)
  --json <file>           also write the full report (runs, medians, machine) as JSON
  --timeout <seconds>     give up on one run after this long (default 300)
  --poll <ms>             interval of the "how many run?" list call (default 50)
  --agent-log-level <l>   the agent's --log-level (default warn; debug to profile)
  --agent-log-dir <dir>   keep each agent's whole output as <dir>/<agent-name>.log
  --cpu-prof <dir>        run the agent under node --cpu-prof; profiles land in <dir>
  -h, --help              this text

Reports per-run times, medians and median(dockerlet) / median(floor), both from process spawn
and from the agent's first /readyz 200 (start-up, i.e. tsx compiling, is a fixed cost).
Everything it creates carries a bench label or agent name and is removed, also on failure.

Example:
  bash hack/bench converge --sessions 100 --repeat 3 --json /tmp/converge.json

${FAILOVER_HELP}

${SUITE_HELP}`;

const FAILOVER_USAGE = `Usage: bash hack/bench failover [options]

${FAILOVER_HELP}`;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

function convergeOptions(args: string[]): { options: ConvergeOptions; json?: string; help: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      sessions: { type: 'string' },
      repeat: { type: 'string' },
      concurrency: { type: 'string' },
      json: { type: 'string' },
      timeout: { type: 'string' },
      poll: { type: 'string' },
      'agent-log-level': { type: 'string' },
      'agent-log-dir': { type: 'string' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals.join(' ')}`);
  const logLevel = values['agent-log-level'] ?? 'warn';
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--agent-log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const options: ConvergeOptions = {
    sessions: positiveInt('--sessions', values.sessions, 100),
    repeat: positiveInt('--repeat', values.repeat, 3),
    concurrency: positiveInt('--concurrency', values.concurrency, 8),
    timeoutMs: positiveInt('--timeout', values.timeout, 300) * 1000,
    pollMs: positiveInt('--poll', values.poll, 50),
    agentLogLevel: logLevel,
  };
  if (values['agent-log-dir']) options.agentLogDir = values['agent-log-dir'];
  if (values['cpu-prof']) options.cpuProfDir = values['cpu-prof'];
  return { options, ...(values.json ? { json: values.json } : {}), help: values.help === true };
}

async function main(argv: string[]): Promise<number> {
  const [scenario, ...rest] = argv;
  if (scenario === undefined || scenario === '-h' || scenario === '--help' || scenario === 'help') {
    // Asked for: stdout, success. Not asked for (no scenario): stderr, usage error.
    (scenario === undefined ? process.stderr : process.stdout).write(`${USAGE}\n`);
    return scenario === undefined ? 2 : 0;
  }
  if (isSuiteScenario(scenario)) return runSuite(scenario, rest);
  if (scenario === 'failover') return failover(rest);
  if (scenario !== 'converge') throw new UsageError(`unknown scenario "${scenario}" (known: converge, failover)`);
  const { options, json, help } = convergeOptions(rest);
  if (help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  installSignalCleanup();
  const docker = engineClient();
  await requireEngineAndImage(docker);
  const machine = await describeMachine(docker);
  const report = await runConverge(docker, options, machine);
  process.stdout.write(formatConverge(report));
  if (json) {
    await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`bench: JSON report written to ${json}\n`);
  }
  return 0;
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

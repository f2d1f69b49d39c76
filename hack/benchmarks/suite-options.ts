// Flags of the issue's benchmark suite: `bash hack/bench all|converge|resync|drift|restart|teardown|
// footprint`. Every scenario takes the same flags; each reads the ones it needs.
import { parseArgs } from 'node:util';
import { agentLogLevel, duration, positiveInt, UsageError } from './args.ts';
import { CONTENDERS } from './contender.ts';
import type { ContenderName } from './contender.ts';

export const SUITE_SCENARIOS = ['all', 'converge', 'resync', 'drift', 'restart', 'teardown', 'footprint'] as const;
export type SuiteScenario = (typeof SUITE_SCENARIOS)[number];
export type Scenario = Exclude<SuiteScenario, 'all'>;
/** `all`, in the order it runs them: the steady-state ones share one fleet per size. */
export const ALL_SCENARIOS: readonly Scenario[] = ['converge', 'teardown', 'drift', 'restart', 'resync', 'footprint'];

/** One scenario, `all`, or several joined by commas (`drift,restart`): they share fleets then. */
export function isSuiteScenario(name: string): boolean {
  return name.split(',').every((part) => (SUITE_SCENARIOS as readonly string[]).includes(part));
}

function scenarioList(name: string): Scenario[] {
  const parts = name.split(',') as SuiteScenario[];
  if (parts.includes('all')) return [...ALL_SCENARIOS];
  // In `all`'s order, whatever order they were given in.
  return ALL_SCENARIOS.filter((s) => parts.includes(s));
}

export interface SuiteOptions {
  scenarios: Scenario[];
  sizes: number[];
  repeat: number;
  concurrency: number;
  contenders: ContenderName[];
  pollMs: number;
  timeoutMs: number;
  kills: number;
  resyncPeriodMs: number;
  resyncs: number;
  footprintSessions: number;
  idleSeconds: number;
  agentLogLevel: string;
  agentLogDir?: string;
  cpuProfDir?: string;
  /** Where benchmarks.md, benchmarks.json and benchmarks-converge.png go (`all`: docs). */
  outDir?: string;
  json?: string;
}

export const SUITE_HELP = `  all        every scenario below, in one run; writes docs/benchmarks.md (the table with each
             target, measured value and PASS/MISS), docs/benchmarks.json and
             docs/benchmarks-converge.png (sessions running over time per contender).
             Several scenarios, comma-separated (drift,restart), run like all but only those.
  converge   N containers from empty, until all run: dockerlet (agent spawned on N Session
             files) vs the floor (a plain dockerode create+start loop at the same concurrency),
             docker-compose up -d (Debian's, installed when missing; COMPOSE_PARALLEL_LIMIT
             above 2N, since v1 deadlocks below N services) and a Swarm service with
             N replicas (the engine joins a loopback-only swarm for the run if it is in none)
  teardown   the same contenders removing their N containers until the engine has none left
             (dockerlet: every Session file deleted; converge and teardown share their rounds)
  drift      docker kill of a managed container until it runs again (--kills of them, p50/p99)
  restart    the agent restarted under N running Sessions: spawn → all Ready; recreated (0)
  resync     one periodic resync with N running and nothing to do: engine calls, CPU, wall time
  footprint  agent RSS and idle CPU with --footprint-sessions running (default flags)

Options (all, converge, teardown, drift, restart, resync, footprint):
  --sizes <n,n>           N per run, comma-separated (default 100,300)
  --repeat <n>            rounds per size (converge, teardown, restart) and idle windows
                          (footprint); reports are medians (default 3)
  --concurrency <n>       the floor's parallel calls and the agent's --workers (default 8)
  --contenders <list>     converge/teardown contenders (default floor,dockerlet,compose,swarm)
  --kills <n>             drift: containers killed, one at a time (default 50)
  --resync-period <d>     resync: the agent's --resync-period while measured (default 2s)
  --resyncs <n>           resync: resyncs observed per pass (default 10)
  --footprint-sessions <n> footprint: Sessions running (default 1000)
  --idle-seconds <n>      footprint: length of an idle window (default 60)
  --poll <ms>             interval of the "how many run?" list call (default 100)
  --timeout <seconds>     give up on one phase after this long (default 600)
  --out-dir <dir>         write benchmarks.md, .json and -converge.png there (default: docs for
                          all, none for one scenario: its Markdown goes to stdout either way)
  --json <file>           also write the JSON report here
  --agent-log-level <l>   the agents' --log-level (default warn)
  --agent-log-dir <dir>   keep every agent's whole output in <dir>
  --cpu-prof <dir>        run every agent under node --cpu-prof; profiles land in <dir>
  -h, --help              this text

Example:
  bash hack/bench all --sizes 100,300 --repeat 3`;


function sizes(value: string | undefined): number[] {
  if (value === undefined) return [100, 300];
  const list = value.split(',').map((part) => positiveInt('--sizes', part.trim(), 0));
  if (list.length === 0) throw new UsageError('--sizes needs at least one number');
  return list;
}

function contenders(value: string | undefined): ContenderName[] {
  if (value === undefined) return [...CONTENDERS];
  const list = value.split(',').map((part) => part.trim());
  for (const name of list) {
    if (!(CONTENDERS as readonly string[]).includes(name)) throw new UsageError(`--contenders: unknown "${name}" (known: ${CONTENDERS.join(', ')})`);
  }
  return list as ContenderName[];
}

export function suiteOptions(scenario: string, args: string[]): { options: SuiteOptions; help: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      sizes: { type: 'string' },
      // The older single-size spelling of `converge`.
      sessions: { type: 'string' },
      repeat: { type: 'string' },
      concurrency: { type: 'string' },
      contenders: { type: 'string' },
      kills: { type: 'string' },
      'resync-period': { type: 'string' },
      resyncs: { type: 'string' },
      'footprint-sessions': { type: 'string' },
      'idle-seconds': { type: 'string' },
      poll: { type: 'string' },
      timeout: { type: 'string' },
      'out-dir': { type: 'string' },
      json: { type: 'string' },
      'agent-log-level': { type: 'string' },
      'agent-log-dir': { type: 'string' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals.join(' ')}`);
  const logLevel = agentLogLevel(values['agent-log-level']);
  if (values.sizes !== undefined && values.sessions !== undefined) throw new UsageError('--sizes and --sessions: give one');
  const options: SuiteOptions = {
    scenarios: scenarioList(scenario),
    sizes: values.sessions !== undefined ? [positiveInt('--sessions', values.sessions, 0)] : sizes(values.sizes),
    repeat: positiveInt('--repeat', values.repeat, 3),
    concurrency: positiveInt('--concurrency', values.concurrency, 8),
    contenders: contenders(values.contenders),
    pollMs: positiveInt('--poll', values.poll, 100),
    timeoutMs: positiveInt('--timeout', values.timeout, 600) * 1000,
    kills: positiveInt('--kills', values.kills, 50),
    resyncPeriodMs: duration('--resync-period', values['resync-period'], 2_000),
    resyncs: positiveInt('--resyncs', values.resyncs, 10),
    footprintSessions: positiveInt('--footprint-sessions', values['footprint-sessions'], 1000),
    idleSeconds: positiveInt('--idle-seconds', values['idle-seconds'], 60),
    agentLogLevel: logLevel,
  };
  if (options.contenders.length === 0) throw new UsageError('--contenders needs at least one');
  if (values['agent-log-dir']) options.agentLogDir = values['agent-log-dir'];
  if (values['cpu-prof']) options.cpuProfDir = values['cpu-prof'];
  const outDir = values['out-dir'] ?? (scenario === 'all' ? 'docs' : undefined);
  if (outDir) options.outDir = outDir;
  if (values.json) options.json = values.json;
  return { options, help: values.help === true };
}

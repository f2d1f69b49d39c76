// Flags of `bash hack/bench fleet`: how many agents, how many Sessions each, the fleet timings the
// reschedule bound is computed from, and where the API server is. Durations are parsed by the
// agent's own parser, since they are passed on to the agents as text.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { agentLogLevel, duration, positiveInt, UsageError } from './args.ts';

export const FLEET_FLOORS = ['engine', 'agent', 'none'] as const;
export type FleetFloor = (typeof FLEET_FLOORS)[number];

export interface FleetBenchOptions {
  agents: number;
  /** Sessions per agent: agents × sessions in all. */
  sessions: number;
  floor: FleetFloor;
  /** Create+start calls in flight for the engine floor (the converge suite's default). */
  concurrency: number;
  heartbeatMs: number;
  livenessGraceMs: number;
  rescheduleAfterMs: number;
  kubeconfig: string;
  kubectl: string;
  /** kube-apiserver's pid file, for its RSS. */
  apiserverPidFile: string;
  pollMs: number;
  timeoutMs: number;
  agentLogLevel: string;
  agentLogDir?: string;
  json?: string;
}

const TEST_STATE = process.env['DOCKERLET_TEST_STATE'] ?? '/tmp/dockerlet-test-env';

export const FLEET_HELP = `  fleet      N agent processes (distinct --agent-name, one engine) on one kube-apiserver, one fleet:
             kubectl apply of N × M Sessions → all Running (status, as kubectl shows it; the
             engine counted too), against the single-host floor measured in the same run;
             binding latency p50/p99 (watch: Session added → status.binding seen); status writes
             per Session (watch, and the API server's apiserver_request_total); then kill -9 one
             agent (its containers removed: the host is gone) and time until its Sessions run on
             the others; agents' and API server's RSS.

Options (fleet):
  --agents <n>            agent processes (default 10)
  --sessions <m>          Sessions per agent, N × M in all (default 100)
  --floor <f>             the single-host floor: engine (a dockerode create+start loop of N × M
                          containers, --concurrency at a time), agent (one agent, N × M Sessions,
                          same API server) or none (default engine)
  --concurrency <n>       engine floor: create+start calls in flight (default 8)
  --heartbeat-interval <d> the agents' --heartbeat-interval (default 1s)
  --liveness-grace <d>    the agents' --liveness-grace (default 5s)
  --reschedule-after <d>  the agents' --reschedule-after (default 5s); bound: Offline → all moved
                          within reschedule-after + 5 s
  --kubeconfig <file>     the API server (default hack/test-env's admin kubeconfig)
  --timeout <d>           give up on one phase after this long (default 30m)
  --poll <ms>             interval of the engine and Agent polls (default 250)
  --json <file>           also write the full report as JSON
  --agent-log-level <l>   the agents' --log-level (default warn)
  --agent-log-dir <dir>   keep each agent's whole output as <dir>/<agent-name>.log

The issue's size, 10 × 100, needs an engine whose default bridge takes 1,000 more containers (a
Linux bridge has 1,024 ports); on 2 busy cores, lengthen --liveness-grace so starved beats are not
taken for a dead agent. Measured (docs/benchmarks.md):
  bash hack/bench fleet --agents 10 --sessions 30 --heartbeat-interval 2s --liveness-grace 15s --reschedule-after 5s`;

export function fleetBenchOptions(args: string[]): { options: FleetBenchOptions; help: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      agents: { type: 'string' },
      sessions: { type: 'string' },
      floor: { type: 'string' },
      concurrency: { type: 'string' },
      'heartbeat-interval': { type: 'string' },
      'liveness-grace': { type: 'string' },
      'reschedule-after': { type: 'string' },
      kubeconfig: { type: 'string' },
      timeout: { type: 'string' },
      poll: { type: 'string' },
      json: { type: 'string' },
      'agent-log-level': { type: 'string' },
      'agent-log-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals.join(' ')}`);
  const floor = values.floor ?? 'engine';
  if (!(FLEET_FLOORS as readonly string[]).includes(floor)) throw new UsageError(`--floor must be one of ${FLEET_FLOORS.join(', ')}, got "${floor}"`);
  const logLevel = agentLogLevel(values['agent-log-level']);
  const agents = positiveInt('--agents', values.agents, 10);
  if (agents < 2) throw new UsageError('--agents must be at least 2: one is killed and its Sessions must go somewhere');
  const options: FleetBenchOptions = {
    agents,
    sessions: positiveInt('--sessions', values.sessions, 100),
    floor: floor as FleetFloor,
    concurrency: positiveInt('--concurrency', values.concurrency, 8),
    heartbeatMs: duration('--heartbeat-interval', values['heartbeat-interval'], 1_000),
    livenessGraceMs: duration('--liveness-grace', values['liveness-grace'], 5_000),
    rescheduleAfterMs: duration('--reschedule-after', values['reschedule-after'], 5_000),
    kubeconfig: values.kubeconfig ?? join(TEST_STATE, 'kube', 'admin.kubeconfig'),
    kubectl: process.env['DOCKERLET_TEST_KUBECTL'] ?? join(TEST_STATE, 'kube', 'bin', 'kubectl'),
    apiserverPidFile: join(TEST_STATE, 'kube', 'kube-apiserver.pid'),
    pollMs: positiveInt('--poll', values.poll, 250),
    timeoutMs: duration('--timeout', values.timeout, 30 * 60_000),
    agentLogLevel: logLevel,
  };
  if (options.livenessGraceMs <= options.heartbeatMs) throw new UsageError('--liveness-grace must be longer than --heartbeat-interval');
  if (values['agent-log-dir']) options.agentLogDir = values['agent-log-dir'];
  if (values.json) options.json = values.json;
  return { options, help: values.help === true };
}

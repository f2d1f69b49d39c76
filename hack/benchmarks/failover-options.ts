// Flags of `bash hack/bench failover`. Lease timings default to the agent's own defaults and are
// checked by the agent's own rules, so a bad combination fails here, before any replica starts.
import { parseArgs } from 'node:util';
import { DEFAULT_LEASE_TIMINGS } from '../../reconciler/leader.ts';
import type { LeaseTimings } from '../../reconciler/leader.ts';
import { validateLeaseTimings } from '../../reconciler/leader-timing.ts';
import { agentLogLevel, choiceOrAll, duration, positiveInt, UsageError } from './args.ts';

export const BACKENDS = ['redis', 'file'] as const;
export type Backend = (typeof BACKENDS)[number];
export const SIGNALS = ['kill', 'term'] as const;
export type FailoverSignal = (typeof SIGNALS)[number];

export interface FailoverOptions {
  backends: Backend[];
  signals: FailoverSignal[];
  repeat: number;
  /** Sessions written before the replicas start, so the first leader has work to lead. */
  sessions: number;
  timings: LeaseTimings;
  redisUrl: string;
  /** Interval of the /metrics and container-list polls. */
  pollMs: number;
  agentLogLevel: string;
  agentLogDir?: string;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6390';

export const FAILOVER_HELP = `  failover   3 replicas of one agent (same name, store and state dir) with leader election;
             each round kills the leader and times the takeover by a survivor and the first
             container reconciled after it, then restarts the killed replica.

Options (failover):
  --backend <b>           redis, file or all (default all)
  --signal <s>            kill (SIGKILL), term (SIGTERM) or all (default all)
  --repeat <n>            rounds per backend × signal (default 10)
  --sessions <n>          Sessions converged before the first round (default 3)
  --lease-duration <d>    the agents' --lease-duration (default 15s)
  --renew-deadline <d>    the agents' --renew-deadline (default 10s)
  --retry-period <d>      the agents' --retry-period (default 2s)
  --redis <url>           Redis for the redis backend (default ${DEFAULT_REDIS_URL}, hack/test-env's)
  --poll <ms>             interval of the /metrics and container-list polls (default 25)
  --json <file>           also write the full report (every round, bounds, machine) as JSON
  --agent-log-level <l>   the agents' --log-level (default warn)
  --agent-log-dir <dir>   keep each replica's whole output as <dir>/<agent-name>-<n>.log
  -h, --help              this text

Bounds (from DESIGN.md): kill: lease duration + retry period (17 s with the defaults: the dead
leader's lease must run out); term: 2 s (SIGTERM releases the lease). Takeover and reconciling
again must both stay within the bound in every round, else it exits 1 and says which.
A kill round takes about lease duration + a replica start (~20 s with the defaults).

Example:
  bash hack/bench failover --backend all --signal all --repeat 10 --json /tmp/failover.json`;

export function failoverOptions(args: string[]): { options: FailoverOptions; json?: string; help: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      backend: { type: 'string' },
      signal: { type: 'string' },
      repeat: { type: 'string' },
      sessions: { type: 'string' },
      'lease-duration': { type: 'string' },
      'renew-deadline': { type: 'string' },
      'retry-period': { type: 'string' },
      redis: { type: 'string' },
      poll: { type: 'string' },
      json: { type: 'string' },
      'agent-log-level': { type: 'string' },
      'agent-log-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals.join(' ')}`);
  const logLevel = agentLogLevel(values['agent-log-level']);
  const timings = {
    leaseDurationMs: duration('--lease-duration', values['lease-duration'], DEFAULT_LEASE_TIMINGS.leaseDurationMs),
    renewDeadlineMs: duration('--renew-deadline', values['renew-deadline'], DEFAULT_LEASE_TIMINGS.renewDeadlineMs),
    retryPeriodMs: duration('--retry-period', values['retry-period'], DEFAULT_LEASE_TIMINGS.retryPeriodMs),
  };
  try {
    validateLeaseTimings(timings);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const options: FailoverOptions = {
    backends: choiceOrAll('--backend', values.backend, BACKENDS, BACKENDS),
    signals: choiceOrAll('--signal', values.signal, SIGNALS, SIGNALS),
    repeat: positiveInt('--repeat', values.repeat, 10),
    sessions: positiveInt('--sessions', values.sessions, 3),
    timings,
    redisUrl: values.redis ?? DEFAULT_REDIS_URL,
    pollMs: positiveInt('--poll', values.poll, 25),
    agentLogLevel: logLevel,
  };
  if (values['agent-log-dir']) options.agentLogDir = values['agent-log-dir'];
  return { options, ...(values.json ? { json: values.json } : {}), help: values.help === true };
}

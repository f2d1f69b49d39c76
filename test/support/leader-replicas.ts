// In-process replicas of a LeaseLeaderElector on the real clock, recording when each one started
// and stopped leading, for the lease backends' integration tests.
import type { Logger } from 'pino';
import type { LeaseLock, LeaseTimings, StepDownReason } from '../../reconciler/leader.ts';
import { LeaseLeaderElector } from '../../reconciler/leader-elector.ts';
import type { LeadershipLedger } from '../../reconciler/leader-ledger.ts';

export interface LiveReplica {
  identity: string;
  elector: LeaseLeaderElector;
  /** Tokens and Date.now() of each onStartedLeading. */
  starts: Array<{ token: number; at: number }>;
  /** Date.now() when each leadership signal aborted. */
  aborts: number[];
  stops: Array<{ reason: StepDownReason; at: number }>;
  /** Between onStartedLeading and the abort of its signal. */
  leading(): boolean;
  /** Aborts run() and waits for it (the lease is released). */
  stop(): Promise<void>;
  done: Promise<void>;
}

export interface ReplicaOptions {
  identity: string;
  lock: LeaseLock;
  timings: LeaseTimings;
  logger: Logger;
  ledger?: LeadershipLedger;
  name?: string;
}

export function startReplica(options: ReplicaOptions): LiveReplica {
  const elector = new LeaseLeaderElector({ name: 'test', ...options });
  const abort = new AbortController();
  let signal: AbortSignal | undefined;
  const replica: LiveReplica = {
    identity: options.identity,
    elector,
    starts: [],
    aborts: [],
    stops: [],
    leading: () => signal !== undefined && !signal.aborted,
    async stop() {
      abort.abort();
      await replica.done;
    },
    done: Promise.resolve(),
  };
  replica.done = elector.run(
    {
      onStartedLeading(grant, leadership) {
        signal = leadership;
        replica.starts.push({ token: grant.token, at: Date.now() });
        leadership.addEventListener('abort', () => replica.aborts.push(Date.now()));
      },
      onStoppedLeading(reason) {
        replica.stops.push({ reason, at: Date.now() });
      },
    },
    abort.signal,
  );
  return replica;
}

/**
 * Samples the replicas every few milliseconds for `ms` and returns the most that led at once.
 * In-process replicas share one event loop, so a sample sees a consistent state.
 */
export async function maxConcurrentLeaders(replicas: readonly LiveReplica[], ms: number): Promise<number> {
  let most = 0;
  const until = Date.now() + ms;
  while (Date.now() < until) {
    most = Math.max(most, replicas.filter((r) => r.leading()).length);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return most;
}

export function currentLeaders(replicas: readonly LiveReplica[]): LiveReplica[] {
  return replicas.filter((r) => r.leading());
}

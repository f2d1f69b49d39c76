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

/**
 * Two replicas with a long retry period; the leader stops (releasing the lease) once the standby
 * is waiting. Returns how long until the standby led: without the release hint it would be up to
 * the retry period (4 s).
 */
export async function takeoverAfterRelease(options: {
  lock: () => Promise<LeaseLock> | LeaseLock;
  logger: Logger;
  /** Log lines the logger captured (the standby's "another replica leads" says it is waiting). */
  lines: ReadonlyArray<{ msg: string; identity?: string }>;
  replicas: LiveReplica[];
  eventually: <T>(check: () => T | Promise<T>, options?: { timeoutMs?: number; intervalMs?: number }) => Promise<T>;
}): Promise<number> {
  const slow = { leaseDurationMs: 8_000, renewDeadlineMs: 6_000, retryPeriodMs: 4_000 };
  for (const identity of ['w1', 'w2']) options.replicas.push(startReplica({ identity, lock: await options.lock(), timings: slow, logger: options.logger }));
  const leaderNow = async (): Promise<LiveReplica> =>
    options.eventually(
      () => {
        const leaders = currentLeaders(options.replicas);
        if (leaders.length !== 1) throw new Error(`${leaders.length} leaders`);
        return leaders[0] as LiveReplica;
      },
      { timeoutMs: 10_000, intervalMs: 5 },
    );
  const first = await leaderNow();
  const standby = options.replicas.find((r) => r !== first) as LiveReplica;
  // Tried once and saw the leader: waiting out its retry period, its release subscription in place.
  await options.eventually(() => {
    if (!options.lines.some((l) => l.msg === 'another replica leads' && l.identity === standby.identity)) throw new Error('standby not waiting yet');
  });
  const stoppedAt = Date.now();
  await first.stop();
  const second = await leaderNow();
  return (second.starts[0]?.at ?? Number.POSITIVE_INFINITY) - stoppedAt;
}

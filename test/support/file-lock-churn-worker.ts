// One process of the file-lock stress test (test/integration/file-lease-stress.test.ts): runs
// several replicas, each a LeaseLeaderElector over its own FileLeaseLock on a shared directory,
// with tiny timings so that many backend calls outlive their bound and are abandoned, and churns
// them (stop = release, then a new replica with a new identity and a new lock). Every term goes
// to the shared ledger. Prints one JSON summary line on stdout when done.
//
// argv: <lock dir> <ledger path> <duration ms> <replicas> <name> [helper-kills]
import { pino } from 'pino';
import { FileLeaseLock } from '../../agent/leader/file-lock.ts';
import type { LeaseGrant, LeaseHolder, LeaseLock, LeaseTimings } from '../../reconciler/leader.ts';
import { FileLeadershipLedger } from '../../reconciler/leader-ledger.ts';
import { startReplica } from './leader-replicas.ts';

/** What a worker prints when done. */
export interface ChurnSummary {
  name: string;
  terms: number;
  replicasStarted: number;
  helperKills: number;
  /** Backend calls that outlived their bound and were abandoned (logged as warnings). */
  abandoned: number;
  /** Calls that got their answer from the real lock but were held back past the bound. */
  delayed: number;
  /** Log lines at error level (the elector's "token went backwards" is one). */
  errors: string[];
}

// Bounds of 100 ms: on a busy machine a helper spawn plus two fsyncs often take longer, so calls
// are abandoned while they still run.
export const CHURN_TIMINGS: LeaseTimings = { leaseDurationMs: 1_000, renewDeadlineMs: 700, retryPeriodMs: 100 };

const [dir, ledgerPath, durationArg, replicasArg, name, mode] = process.argv.slice(2);
if (dir === undefined || ledgerPath === undefined || durationArg === undefined || replicasArg === undefined || name === undefined) {
  throw new Error('usage: file-lock-churn-worker.ts <dir> <ledger> <duration ms> <replicas> <name> [helper-kills]');
}
const durationMs = Number(durationArg);
const killHelpers = mode === 'helper-kills';
const summary: ChurnSummary = { name, terms: 0, replicasStarted: 0, helperKills: 0, abandoned: 0, delayed: 0, errors: [] };
const logger = pino(
  { level: 'warn' },
  {
    write: (line: string) => {
      const { level } = JSON.parse(line) as { level: number };
      if (level >= 50) summary.errors.push(line.trim());
      // Standbys log the first failure of a run of failures, leaders every one.
      if (line.includes('did not answer within')) summary.abandoned += 1;
    },
  },
);
const ledger = new FileLeadershipLedger(ledgerPath);
const until = Date.now() + durationMs;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The real lock, except that every fifth acquire-or-renew answers only after the elector's bound:
 * the call has taken (or kept) the flock and maybe a token, and the elector has given up on it.
 * That happens on any loaded machine; here it happens on a quiet one too.
 */
class LateAnswers implements LeaseLock {
  readonly description: string;
  #calls = 0;
  constructor(readonly inner: FileLeaseLock) {
    this.description = inner.description;
  }
  async tryAcquireOrRenew(identity: string, leaseDurationMs: number): Promise<LeaseGrant | undefined> {
    const answer = await this.inner.tryAcquireOrRenew(identity, leaseDurationMs);
    this.#calls += 1;
    if (this.#calls % 5 === 0) {
      summary.delayed += 1;
      await pause(CHURN_TIMINGS.retryPeriodMs * (1 + Math.random()));
    }
    return answer;
  }
  release(identity: string): Promise<void> {
    return this.inner.release(identity);
  }
  holder(): Promise<LeaseHolder | undefined> {
    return this.inner.holder();
  }
  onReleased(listener: () => void): () => void {
    return this.inner.onReleased(listener);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

async function slot(index: number): Promise<void> {
  for (let generation = 0; Date.now() < until; generation += 1) {
    const lock = new FileLeaseLock({ dir: dir as string, logger });
    const replica = startReplica({ identity: `${name}-${index}-${generation}`, lock: new LateAnswers(lock), timings: CHURN_TIMINGS, logger, ledger });
    summary.replicasStarted += 1;
    // A replica stops soon after it leads (a release, so the next acquisition comes quickly), or
    // after a while as a standby (its abandoned calls may still hold the flock when it stops).
    let lifeEnd = Math.min(until, Date.now() + 100 + Math.random() * 500);
    let ledAt: number | undefined;
    while (Date.now() < lifeEnd) {
      await pause(10);
      if (ledAt === undefined && replica.leading()) {
        ledAt = Date.now();
        lifeEnd = Math.min(lifeEnd, ledAt + Math.random() * 150);
      }
      // The zombie case: the helper dies while the replica believes it leads.
      if (killHelpers && replica.leading() && Math.random() < 0.05) {
        const pid = lock.helperPid();
        if (pid !== undefined) {
          try {
            process.kill(pid, 'SIGKILL');
            summary.helperKills += 1;
          } catch {
            // Already gone.
          }
        }
      }
    }
    await replica.stop();
    summary.terms += replica.starts.length;
    await lock.close();
  }
}

await Promise.all(Array.from({ length: Number(replicasArg) }, (_, index) => slot(index)));
process.stdout.write(`${JSON.stringify(summary)}\n`);

// One process of the file-lock stress test (test/integration/file-lease-stress.test.ts): runs
// several replicas, each a LeaseLeaderElector over its own FileLeaseLock on a shared directory,
// with tiny timings so that many backend calls outlive their bound and are abandoned, and churns
// them (stop = release, then a new replica with a new identity and a new lock). Every term goes
// to the shared ledger. Says "ready" on stdout once loaded, starts when <control dir>/go exists,
// stops when <control dir>/stop exists (the test decides when enough has happened, so a slow
// machine gets more time, not a vacuous run), then prints one JSON summary line.
//
// argv: <lock dir> <ledger path> <control dir> <replicas> <name> [helper-kills]
import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { FileLeaseLock } from '../../agent/leader/file-lock.ts';
import type { LeaseGrant, LeaseHolder, LeaseLock } from '../../reconciler/leader.ts';
import { FileLeadershipLedger } from '../../reconciler/leader-ledger.ts';
import { CHURN_GO, CHURN_GRANTS, CHURN_STOP, CHURN_TIMINGS } from './file-lock-churn.ts';
import type { ChurnSummary } from './file-lock-churn.ts';
import { startReplica } from './leader-replicas.ts';

const [dir, ledgerPath, control, replicasArg, name, mode] = process.argv.slice(2);
if (dir === undefined || ledgerPath === undefined || control === undefined || replicasArg === undefined || name === undefined) {
  throw new Error('usage: file-lock-churn-worker.ts <dir> <ledger> <control dir> <replicas> <name> [helper-kills]');
}
const killHelpers = mode === 'helper-kills';
const summary: ChurnSummary = { name, terms: 0, replicasStarted: 0, helperKills: 0, abandoned: 0, delayed: 0, acquisitions: 0, errors: [] };
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
/** `identity token` pairs already reported: a renewal is not a new grant. */
const tokensGranted = new Set<string>();
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
    if (answer !== undefined && !tokensGranted.has(`${identity} ${answer.token}`)) {
      // Appended before this lock can let go of the flock (that needs another call and a helper
      // exit), so the file's order is the order in which tokens were granted, across processes.
      appendFileSync(join(control as string, CHURN_GRANTS), `${JSON.stringify({ token: answer.token, holder: identity })}\n`);
      tokensGranted.add(`${identity} ${answer.token}`);
      summary.acquisitions += 1;
    }
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
  for (let generation = 0; !stopping(); generation += 1) {
    const lock = new FileLeaseLock({ dir: dir as string, logger });
    const replica = startReplica({ identity: `${name}-${index}-${generation}`, lock: new LateAnswers(lock), timings: CHURN_TIMINGS, logger, ledger });
    summary.replicasStarted += 1;
    // A replica stops soon after it leads (a release, so the next acquisition comes quickly), or
    // after a while as a standby (its abandoned calls may still hold the flock when it stops).
    let lifeEnd = Date.now() + 100 + Math.random() * 500;
    let ledAt: number | undefined;
    while (Date.now() < lifeEnd && !stopping()) {
      await pause(10);
      if (ledAt === undefined && replica.leading()) {
        ledAt = Date.now();
        lifeEnd = Math.min(lifeEnd, ledAt + Math.random() * 150);
      }
      // The zombie case: the helper dies while the replica leads, or while a call the elector
      // abandoned holds the flock for it.
      if (killHelpers && Math.random() < (replica.leading() ? 0.05 : 0.01)) {
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

const stopping = (): boolean => existsSync(join(control, CHURN_STOP));
process.stdout.write('ready\n');
while (!existsSync(join(control, CHURN_GO))) await pause(10);
await Promise.all(Array.from({ length: Number(replicasArg) }, (_, index) => slot(index)));
process.stdout.write(`${JSON.stringify(summary)}\n`);

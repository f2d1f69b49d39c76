// The elector loop, client-go's leaderelection over a LeaseLock: a standby tries to acquire every
// retry period; the leader renews every retry period and stops leading once renewDeadline has
// passed since its last successful renewal. Because renewDeadline < leaseDuration and the lock's
// lease runs from that same renewal, the leadership signal aborts before anyone else can acquire.
import type { Logger } from 'pino';
import { sleep, systemClock } from './clock.ts';
import type { Clock } from './clock.ts';
import { DEFAULT_LEASE_TIMINGS } from './leader.ts';
import type { LeaderElector, LeadershipCallbacks, LeaseGrant, LeaseHolder, LeaseLock, LeaseTimings, StepDownReason } from './leader.ts';
import type { LeadershipLedger } from './leader-ledger.ts';
import type { LeaderElectionMetrics, LeaderMetrics } from './leader-metrics.ts';
import { bounded, settleWithin, validateLeaseTimings } from './leader-timing.ts';

export interface LeaseLeaderElectorOptions {
  /** This replica, unique among its peers and across restarts (e.g. host + pid + random). */
  identity: string;
  lock: LeaseLock;
  timings?: LeaseTimings;
  clock?: Clock;
  logger: Logger;
  metrics?: LeaderMetrics;
  ledger?: LeadershipLedger;
  /** Election name, the metric label (the agent name); never the identity. */
  name: string;
  /**
   * Milliseconds on a monotonic clock, for validToken(). Default: performance.now() with the system
   * clock (wall-clock steps must not stretch a lease), else the injected clock's now() (tests).
   */
  monotonicNow?: () => number;
}

/** The leadership signal's abort reason. */
export class LeadershipEndedError extends Error {
  override readonly name = 'LeadershipEndedError';
  constructor(readonly reason: StepDownReason) {
    super(`leadership ended: ${reason}`);
  }
}

// Standbys wait a little less than a retry period, at random, so they do not move in lockstep;
// never more, so a released lease is taken within one retry period.
const STANDBY_JITTER = 0.1;

interface Term {
  grant: LeaseGrant;
  /** monotonicNow() when the last successful renewal (or the acquisition) was sent. */
  renewedMono: number;
  /**
   * The lease may be ours until released or lost: validToken() answers while this is true, also
   * during a step-down's wind-down (the lease is released only after it).
   */
  holds: boolean;
  abort: AbortController;
  /** clock.now() when the last successful renewal (or the acquisition) was sent. */
  lastRenewMs: number;
  sinceMs: number;
}

/** A grant and when the call that obtained it was sent (the lease runs from no earlier than that). */
interface Acquired {
  grant: LeaseGrant;
  sentMs: number;
  sentMono: number;
}

type Attempt = { kind: 'granted'; grant: LeaseGrant } | { kind: 'held' } | { kind: 'failed'; error: unknown };

export class LeaseLeaderElector implements LeaderElector {
  readonly identity: string;
  readonly name: string;
  readonly timings: LeaseTimings;
  readonly #lock: LeaseLock;
  readonly #clock: Clock;
  readonly #mono: () => number;
  readonly #log: Logger;
  readonly #metrics: LeaderElectionMetrics | undefined;
  readonly #ledger: LeadershipLedger | undefined;
  #term: Term | undefined;
  /** The term whose lease may still be ours: #term, or one winding down until its release. */
  #holding: Term | undefined;
  #lastToken: number | undefined;
  #observed: LeaseHolder | undefined;
  #failing = false;
  #running = false;

  constructor(options: LeaseLeaderElectorOptions) {
    if (options.identity === '') throw new Error('leader election identity must not be empty');
    this.identity = options.identity;
    this.name = options.name;
    this.timings = validateLeaseTimings(options.timings ?? DEFAULT_LEASE_TIMINGS);
    this.#lock = options.lock;
    this.#clock = options.clock ?? systemClock;
    const clock = this.#clock;
    this.#mono = options.monotonicNow ?? (clock === systemClock ? () => performance.now() : () => clock.now());
    this.#log = options.logger.child({ election: options.name });
    this.#metrics = options.metrics?.forElection(options.name);
    this.#ledger = options.ledger;
  }

  isLeader(): boolean {
    return this.#term !== undefined;
  }

  token(): number | undefined {
    return this.#term?.grant.token;
  }

  validToken(): number | undefined {
    const term = this.#holding;
    if (term === undefined || !term.holds) return undefined;
    if (this.#mono() - term.renewedMono >= this.timings.renewDeadlineMs) return undefined;
    return term.grant.token;
  }

  healthy(): boolean {
    if (this.#term === undefined) return true;
    return this.#clock.now() - this.#term.lastRenewMs <= this.timings.renewDeadlineMs + this.timings.retryPeriodMs;
  }

  async run(callbacks: LeadershipCallbacks, signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error(`leader elector ${this.identity} is already running`);
    this.#running = true;
    this.#log.info({ identity: this.identity, lock: this.#lock.description, ...this.timings }, 'leader election started');
    // A release wakes a waiting standby early; without the hook it waits for its next retry. A
    // hint that arrives while the standby is not sleeping (mid-attempt) is latched, not lost.
    let hinted = false;
    let wake: (() => void) | undefined;
    const unsubscribe = this.#lock.onReleased?.(() => {
      hinted = true;
      wake?.();
    });
    try {
      let acquired: Acquired | undefined;
      while (!signal.aborted) {
        if (acquired === undefined) {
          const sentMs = this.#clock.now();
          const sentMono = this.#mono();
          const attempt = await this.#attempt(signal, this.timings.retryPeriodMs);
          // Granted just as we stop: the release below gives it straight back.
          if (signal.aborted) break;
          if (attempt.kind === 'granted') {
            acquired = { grant: attempt.grant, sentMs, sentMono };
          } else {
            await this.#standby(attempt, callbacks, signal);
            if (!hinted) {
              const woken = new AbortController();
              wake = () => woken.abort();
              await sleep(this.#clock, this.timings.retryPeriodMs * (1 - STANDBY_JITTER * Math.random()), AbortSignal.any([signal, woken.signal]));
              wake = undefined;
            }
            hinted = false;
            continue;
          }
        }
        acquired = await this.#lead(acquired, callbacks, signal);
        if (acquired === undefined) await sleep(this.#clock, this.timings.retryPeriodMs, signal);
      }
    } finally {
      unsubscribe?.();
      // Also when standing by: a backend may hold something for us (the file lock's helper).
      await this.#release('stopping');
      this.#running = false;
      this.#log.info({ identity: this.identity }, 'leader election stopped');
    }
  }

  /** One term: renews until stopped, lost or past the deadline. Returns a new grant to lead at once. */
  async #lead(acquired: Acquired, callbacks: LeadershipCallbacks, signal: AbortSignal): Promise<Acquired | undefined> {
    const term = this.#begin(acquired, callbacks);
    const { renewDeadlineMs, retryPeriodMs } = this.timings;
    const left = (): number => term.lastRenewMs + renewDeadlineMs - this.#clock.now();
    let reason: StepDownReason;
    let next: Acquired | undefined;
    for (;;) {
      if (left() > 0) await sleep(this.#clock, Math.min(retryPeriodMs, left()), signal);
      if (signal.aborted) {
        reason = 'Released';
        break;
      }
      const remaining = left();
      if (remaining <= 0) {
        reason = 'RenewDeadlineExceeded';
        break;
      }
      const sentMs = this.#clock.now();
      const sentMono = this.#mono();
      // Bounded by the deadline too: a hung call must not keep us leading past it.
      const attempt = await this.#attempt(signal, Math.min(retryPeriodMs, remaining));
      if (signal.aborted) {
        reason = 'Released';
        break;
      }
      if (attempt.kind === 'held') {
        term.holds = false;
        reason = 'LeaseLost';
        break;
      }
      if (attempt.kind === 'failed') {
        this.#log.warn(
          { err: attempt.error, identity: this.identity, token: term.grant.token, msUntilDeadline: Math.max(0, left()) },
          'lease renewal failed; retrying until the renew deadline',
        );
        continue;
      }
      if (attempt.grant.token === term.grant.token) {
        term.lastRenewMs = sentMs;
        term.renewedMono = Math.max(term.renewedMono, sentMono);
        continue;
      }
      // The lease lapsed and the backend handed it to us again: someone else could have held it in
      // between, so this term ends and a new one starts under the new token.
      this.#log.warn({ identity: this.identity, token: term.grant.token, newToken: attempt.grant.token }, 'renewal returned a new fencing token');
      term.holds = false;
      reason = 'LeaseLost';
      next = { grant: attempt.grant, sentMs, sentMono };
      break;
    }
    await this.#end(term, reason, callbacks);
    return next;
  }

  #begin(acquired: Acquired, callbacks: LeadershipCallbacks): Term {
    const { token } = acquired.grant;
    const previousToken = this.#lastToken;
    if (previousToken !== undefined && token < previousToken) {
      // Invariant: tokens only grow. A backend that lost its state (a Redis restarted without
      // persistence, a deleted token file) breaks fencing for everyone downstream.
      this.#log.error(
        { identity: this.identity, token, previousToken, lock: this.#lock.description },
        'BUG: fencing token went backwards across acquisitions; the lock backend lost its state and fencing cannot be trusted',
      );
    } else if (previousToken === token) {
      // Same lease kept by the backend across our step-down (a failed release): nobody held it in between.
      this.#log.warn({ identity: this.identity, token }, 'acquired the lease we held before, same fencing token');
    }
    this.#lastToken = Math.max(token, previousToken ?? token);
    const now = this.#clock.now();
    const term: Term = { grant: acquired.grant, abort: new AbortController(), lastRenewMs: acquired.sentMs, sinceMs: now, renewedMono: acquired.sentMono, holds: true };
    this.#term = term;
    this.#holding = term;
    this.#observed = undefined;
    this.#metrics?.leading(true);
    this.#metrics?.token(token);
    this.#metrics?.acquired();
    this.#record(() => this.#ledger?.started({ token, holder: this.identity, at: new Date(now) }));
    this.#log.info({ identity: this.identity, token, reason: 'Acquired', lock: this.#lock.description }, 'became leader');
    try {
      callbacks.onStartedLeading(acquired.grant, term.abort.signal);
    } catch (error) {
      this.#log.error({ err: error, identity: this.identity, token }, 'onStartedLeading threw');
    }
    return term;
  }

  async #end(term: Term, reason: StepDownReason, callbacks: LeadershipCallbacks): Promise<void> {
    // The signal first: work must stop before anything lets a successor in.
    term.abort.abort(new LeadershipEndedError(reason));
    this.#term = undefined;
    const now = this.#clock.now();
    const { token } = term.grant;
    this.#metrics?.leading(false);
    this.#record(() => this.#ledger?.ended({ token, holder: this.identity, at: new Date(now), reason }));
    const fields = { identity: this.identity, token, reason, ledMs: now - term.sinceMs };
    if (reason === 'Released') this.#log.info(fields, 'stopped leading');
    else this.#log.warn(fields, 'stopped leading');
    let stopping: unknown;
    try {
      stopping = callbacks.onStoppedLeading(reason);
    } catch (error) {
      this.#log.error({ err: error, identity: this.identity, token }, 'onStoppedLeading threw');
    }
    if (reason === 'LeaseLost') {
      if (this.#holding === term) this.#holding = undefined;
      return;
    }
    // Before giving the lease away, let work wind down (when onStoppedLeading returns a promise), as
    // long as a missed deadline would have given it (lease − renew deadline), and never past the
    // moment the lease can expire for the others: a step-down that came late (a busy event loop)
    // has less time left.
    const leaseLeftMs = term.lastRenewMs + this.timings.leaseDurationMs - this.#clock.now();
    const graceMs = Math.max(0, Math.min(this.timings.leaseDurationMs - this.timings.renewDeadlineMs, leaseLeftMs));
    if ((await settleWithin(this.#clock, stopping, graceMs)) === 'timeout') {
      this.#log.warn({ identity: this.identity, token, graceMs }, 'onStoppedLeading did not finish in time; releasing the lease anyway');
    }
    // After a missed deadline the backend may still list us as holder; a stop releases in run().
    if (reason === 'RenewDeadlineExceeded') await this.#release('after missing the renew deadline');
  }

  async #attempt(signal: AbortSignal, timeoutMs: number): Promise<Attempt> {
    try {
      const grant = await bounded(
        this.#clock,
        'tryAcquireOrRenew',
        () => this.#lock.tryAcquireOrRenew(this.identity, this.timings.leaseDurationMs),
        timeoutMs,
        signal,
      );
      if (this.#failing) {
        this.#failing = false;
        this.#log.info({ identity: this.identity, lock: this.#lock.description }, 'lease backend reachable again');
      }
      return grant === undefined ? { kind: 'held' } : { kind: 'granted', grant };
    } catch (error) {
      return { kind: 'failed', error };
    }
  }

  /** After an attempt that did not make us leader: log once per outage, report a new leader. */
  async #standby(attempt: Attempt, callbacks: LeadershipCallbacks, signal: AbortSignal): Promise<void> {
    if (attempt.kind === 'failed') {
      if (!this.#failing) {
        this.#failing = true;
        this.#log.warn({ err: attempt.error, identity: this.identity, lock: this.#lock.description }, 'cannot reach the lease backend; retrying');
      }
      return;
    }
    let holder: LeaseHolder | undefined;
    try {
      holder = await bounded(this.#clock, 'holder', () => this.#lock.holder(), this.timings.retryPeriodMs, signal);
    } catch {
      return; // Only for logs and status; the next attempt asks again.
    }
    if (holder === undefined || holder.identity === this.identity) return;
    if (this.#observed?.identity === holder.identity && this.#observed.token === holder.token) return;
    this.#observed = holder;
    this.#log.info({ identity: this.identity, leader: holder.identity, token: holder.token }, 'another replica leads');
    try {
      callbacks.onNewLeader?.(holder);
    } catch (error) {
      this.#log.error({ err: error, identity: this.identity }, 'onNewLeader threw');
    }
  }

  async #release(why: string): Promise<void> {
    // From the moment the release may reach the lock, nothing may be written under its token.
    if (this.#holding) this.#holding.holds = false;
    this.#holding = undefined;
    try {
      await bounded(this.#clock, 'release', () => this.#lock.release(this.identity), this.timings.retryPeriodMs);
    } catch (error) {
      // The lease then simply expires after leaseDuration.
      this.#log.warn({ err: error, identity: this.identity, why }, 'could not release the lease');
    }
  }

  /** The ledger is evidence, not a dependency: a failed write is logged, never fatal. */
  #record(write: () => void): void {
    try {
      write();
    } catch (error) {
      this.#log.error({ err: error, identity: this.identity }, 'leadership ledger write failed');
    }
  }
}

// An in-memory LeaseLock with Redis-like semantics (a lease expires leaseDuration after its last
// renewal; the token grows on every new acquisition) and knobs for faults, for elector unit tests.
import type { Clock } from '../../reconciler/clock.ts';
import type { LeaseGrant, LeaseHolder, LeaseLock } from '../../reconciler/leader.ts';

export const LOCK_FAULTS = ['throw', 'hang'] as const;
/** `throw`: the backend is unreachable for that replica; `hang`: its calls never answer. */
export type LockFault = (typeof LOCK_FAULTS)[number];

export interface MemoryLease {
  identity: string;
  token: number;
  expiresAtMs: number;
}

export class MemoryLeaseLock implements LeaseLock {
  readonly description = 'memory lease';
  readonly #clock: Clock;
  #lease: MemoryLease | undefined;
  #nextToken = 1;
  readonly #faults = new Map<string, LockFault>();
  /** tryAcquireOrRenew calls per identity, faulty ones included. */
  readonly calls = new Map<string, number>();
  closed = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Sets or clears (undefined) a fault for one replica's calls. */
  fault(identity: string, fault: LockFault | undefined): void {
    if (fault === undefined) this.#faults.delete(identity);
    else this.#faults.set(identity, fault);
  }

  /** The lease as the backend sees it, expired or not. */
  lease(): MemoryLease | undefined {
    return this.#lease === undefined ? undefined : { ...this.#lease };
  }

  /** Someone outside the elector takes the lease (an operator, a buggy peer). */
  steal(identity: string, leaseDurationMs: number): void {
    this.#lease = { identity, token: this.#nextToken++, expiresAtMs: this.#clock.now() + leaseDurationMs };
  }

  /** The backend loses its state (a Redis restarted without persistence): tokens start over. */
  reset(): void {
    this.#lease = undefined;
    this.#nextToken = 1;
  }

  async tryAcquireOrRenew(identity: string, leaseDurationMs: number): Promise<LeaseGrant | undefined> {
    this.calls.set(identity, (this.calls.get(identity) ?? 0) + 1);
    await this.#faultFor(identity);
    const now = this.#clock.now();
    const lease = this.#lease;
    const valid = lease !== undefined && lease.expiresAtMs > now;
    if (valid && lease.identity === identity) {
      lease.expiresAtMs = now + leaseDurationMs;
      return { token: lease.token };
    }
    if (valid) return undefined;
    this.#lease = { identity, token: this.#nextToken++, expiresAtMs: now + leaseDurationMs };
    return { token: this.#lease.token };
  }

  async release(identity: string): Promise<void> {
    await this.#faultFor(identity);
    if (this.#lease?.identity === identity) this.#lease = undefined;
  }

  async holder(): Promise<LeaseHolder | undefined> {
    const lease = this.#lease;
    if (lease === undefined || lease.expiresAtMs <= this.#clock.now()) return undefined;
    return { identity: lease.identity, token: lease.token };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  #faultFor(identity: string): Promise<void> {
    const fault = this.#faults.get(identity);
    if (fault === 'throw') return Promise.reject(new Error(`memory lease unreachable for ${identity}`));
    if (fault === 'hang') return new Promise<void>(() => {});
    return Promise.resolve();
  }
}

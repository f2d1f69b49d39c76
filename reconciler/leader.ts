// Leader election, kind-agnostic: the elector loop (leader-elector.ts) follows client-go's
// leaderelection semantics over a LeaseLock, and backends (agent/leader/: none, file, redis;
// later kubernetes, swarm) only implement the lock's three operations.

/** Timings, client-go defaults: lease 15 s, renew deadline 10 s, retry period 2 s. */
export interface LeaseTimings {
  /** How long a lease is valid after its last renewal; a standby may take it over after this. */
  leaseDurationMs: number;
  /** A leader that has not renewed for this long stops leading (must be < leaseDurationMs). */
  renewDeadlineMs: number;
  /** How often to try acquiring (standby) or renewing (leader). */
  retryPeriodMs: number;
}

export const DEFAULT_LEASE_TIMINGS: LeaseTimings = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** What a successful acquisition or renewal returns. */
export interface LeaseGrant {
  /** Fencing token: strictly greater for every new acquisition, the same across renewals. */
  token: number;
}

/** Current holder as the lock sees it, for logs and `get agents`. */
export interface LeaseHolder {
  identity: string;
  token?: number;
}

/**
 * The backend's primitive operations. Each is one attempt; the elector does the looping, timing
 * and stepping down. Implementations must be atomic with respect to other replicas.
 */
export interface LeaseLock {
  /** Human-readable description for logs, e.g. "redis lease dockerlet:leader:host-a". */
  readonly description: string;
  /**
   * Take the lease if it is free or expired, or renew it if `identity` holds it. Returns the
   * grant, or undefined when someone else holds a valid lease. Throws when the backend cannot be
   * reached (the elector treats that like a failed renewal).
   */
  tryAcquireOrRenew(identity: string, leaseDurationMs: number): Promise<LeaseGrant | undefined>;
  /** Give the lease up if `identity` holds it (SIGTERM), so a successor need not wait it out. */
  release(identity: string): Promise<void>;
  /** Who holds the lease now, if anyone. */
  holder(): Promise<LeaseHolder | undefined>;
  /**
   * Optional: calls `listener` when a holder releases the lease, so standbys try at once instead
   * of at their next retry (a SIGTERM'd leader's successor takes over in milliseconds). Returns
   * the unsubscribe function. Only a hint: standbys keep retrying on their timer regardless.
   */
  onReleased?(listener: () => void): () => void;
  /** Free resources (connections, helper processes). */
  close(): Promise<void>;
}

export interface LeadershipCallbacks {
  /**
   * This replica became leader. `signal` aborts when leadership ends (lost, deadline missed,
   * released); everything started here must stop on it.
   */
  onStartedLeading(grant: LeaseGrant, signal: AbortSignal): void;
  /** Leadership ended; called after the signal aborted. */
  onStoppedLeading(reason: StepDownReason): void;
  /** Another replica was seen holding the lease (for logs and status). */
  onNewLeader?(holder: LeaseHolder): void;
}

export const STEP_DOWN_REASONS = ['RenewDeadlineExceeded', 'LeaseLost', 'Released', 'Stopped'] as const;
export type StepDownReason = (typeof STEP_DOWN_REASONS)[number];

export interface LeaderElector {
  readonly identity: string;
  /** Runs the election until the signal aborts; then releases the lease if held. */
  run(callbacks: LeadershipCallbacks, signal: AbortSignal): Promise<void>;
  isLeader(): boolean;
  /** Current fencing token while leading. */
  token(): number | undefined;
  /**
   * The fencing token while the lease is certainly still this replica's: leading (or stepping down
   * and not yet released), and the last successful renewal sent less than the renew deadline ago,
   * measured on the monotonic clock, so a process that was frozen past its lease finds it invalid
   * the moment it resumes, before its elector has run. Undefined otherwise. No I/O.
   */
  validToken(): number | undefined;
  /**
   * Liveness: false when this replica believes it leads but has not renewed within the renew
   * deadline and has not stepped down (a stuck event loop, a hung backend call).
   */
  healthy(): boolean;
}

// A lease kept in Swarm's own Raft store, as labels of the agent's own service, taken and renewed
// with the compare-and-set Swarm already offers: a service update names the version it read and
// a stale version is rejected ("update out of sequence"). No extra service to run.
//
// Only the service-level Labels change, never the TaskTemplate, so no task restarts.
//
// Expiry follows client-go, not wall clocks: a standby never compares its clock with the holder's.
// It remembers when it last saw the lease record CHANGE (holder, token, renew time) on its own
// clock, and takes the lease over once it has seen no change for the lease duration. Clock skew
// between nodes therefore cannot make a lease look expired early.
//
// One addition to client-go's rule, because Swarm can prove a holder dead: the holder records its
// task ID, and when Swarm reports that task in a terminal state its node's executor has seen the
// container exit (failed, complete, shutdown, rejected) or the task is gone from the store, so
// the lease is free at once instead of after the lease duration (`docker rm -f` of the leader
// fails over in about a retry period). "orphaned" and "remove" do not count: a node cut off from
// the managers may still run that container.
//
// The fencing token is the last one handed out plus one, floored at the service's version index
// (Raft's index only grows), kept in a label that release leaves in place: tokens grow across
// releases, and even if someone wiped the labels or recreated the service.
import type { Clock } from '../../reconciler/clock.ts';
import { systemClock } from '../../reconciler/clock.ts';
import type { LeaseGrant, LeaseHolder, LeaseLock } from '../../reconciler/leader.ts';
import type { SwarmApi, SwarmService } from '../runtime/swarm/swarm-api.ts';
import { SwarmVersionConflictError } from '../runtime/swarm/swarm-api.ts';

export const DEFAULT_LEASE_LABEL_PREFIX = 'dockerlet.dev/lease';

export interface SwarmLeaseLockOptions {
  api: SwarmApi;
  /** The service whose labels hold the lease: the agent's own. */
  serviceId: string;
  /** Label prefix; several elections on one service need different ones. */
  labelPrefix?: string;
  /** This replica's own task, recorded with the lease so standbys can see when its holder died. */
  ownTaskId?: string;
  clock?: Clock;
}

/** Task states the node reports after the container stopped (or never ran): the holder is dead. */
export const DEAD_TASK_STATES: ReadonlySet<string> = new Set(['complete', 'failed', 'shutdown', 'rejected']);

/** The lease as its labels say. */
export interface SwarmLeaseRecord {
  holder?: string;
  /** Last token handed out (kept after release). */
  token: number;
  renewTimeMs?: number;
  leaseDurationMs?: number;
  /** The holder's Swarm task, when it runs in one. */
  holderTask?: string;
}

// A conflict means someone else wrote between our read and our write (a competitor, or an
// operator scaling the service): read again and decide again, a few times within one attempt.
const MAX_CONFLICT_RETRIES = 3;

export class SwarmLeaseLock implements LeaseLock {
  readonly description: string;
  readonly #api: SwarmApi;
  readonly #serviceId: string;
  readonly #clock: Clock;
  readonly #labels: { holder: string; token: string; renewTime: string; duration: string; holderTask: string };
  readonly #ownTaskId: string | undefined;
  /** The record as last seen, and when (our clock) it was first seen like that. */
  #observed: { key: string; atMs: number } | undefined;

  constructor(options: SwarmLeaseLockOptions) {
    if (options.serviceId === '') throw new Error('swarm lease: service id must not be empty');
    const prefix = options.labelPrefix ?? DEFAULT_LEASE_LABEL_PREFIX;
    this.#api = options.api;
    this.#serviceId = options.serviceId;
    this.#clock = options.clock ?? systemClock;
    this.#labels = { holder: `${prefix}.holder`, token: `${prefix}.token`, renewTime: `${prefix}.renew-time`, duration: `${prefix}.duration-ms`, holderTask: `${prefix}.holder-task` };
    this.#ownTaskId = options.ownTaskId;
    this.description = `swarm lease on service ${options.serviceId} (labels ${prefix}.*)`;
  }

  async tryAcquireOrRenew(identity: string, leaseDurationMs: number): Promise<LeaseGrant | undefined> {
    if (!Number.isInteger(leaseDurationMs) || leaseDurationMs <= 0) throw new RangeError(`lease duration must be a positive integer of ms, got ${leaseDurationMs}`);
    return this.#withRetries(async (service, record) => {
      const now = this.#clock.now();
      let token: number;
      if (record.holder === identity && record.token > 0) {
        token = record.token;
      } else if (record.holder && !this.#expired(record, leaseDurationMs, now) && !(await this.#holderDead(record))) {
        return { done: true, value: undefined };
      } else {
        token = Math.max(record.token + 1, service.version);
      }
      const next: SwarmLeaseRecord = { holder: identity, token, renewTimeMs: now, leaseDurationMs, ...(this.#ownTaskId ? { holderTask: this.#ownTaskId } : {}) };
      await this.#api.setServiceLabels(service, this.#write(service, next));
      this.#observe(next, now);
      return { done: true, value: { token } };
    });
  }

  async release(identity: string): Promise<void> {
    await this.#withRetries(async (service, record) => {
      if (record.holder !== identity) return { done: true, value: undefined };
      // The token stays: the next acquisition must hand out a greater one.
      await this.#api.setServiceLabels(service, this.#write(service, { token: record.token }));
      return { done: true, value: undefined };
    });
  }

  async holder(): Promise<LeaseHolder | undefined> {
    const service = await this.#api.inspectService(this.#serviceId);
    const record = this.#read(service);
    this.#observe(record, this.#clock.now());
    return record.holder ? { identity: record.holder, token: record.token } : undefined;
  }

  async close(): Promise<void> {}

  /** Reads, lets `step` decide and write; on a version conflict reads again. */
  async #withRetries<T>(step: (service: SwarmService, record: SwarmLeaseRecord) => Promise<{ done: true; value: T }>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const service = await this.#api.inspectService(this.#serviceId);
      const record = this.#read(service);
      this.#observe(record, this.#clock.now());
      try {
        return (await step(service, record)).value;
      } catch (error) {
        if (!(error instanceof SwarmVersionConflictError) || attempt >= MAX_CONFLICT_RETRIES) throw error;
      }
    }
  }

  /** Swarm says the holder's task has ended (or no longer exists): its process is gone. */
  async #holderDead(record: SwarmLeaseRecord): Promise<boolean> {
    if (!record.holderTask) return false;
    const task = await this.#api.inspectTask(record.holderTask);
    return task === undefined || DEAD_TASK_STATES.has(task.state);
  }

  #expired(record: SwarmLeaseRecord, leaseDurationMs: number, now: number): boolean {
    const duration = record.leaseDurationMs ?? leaseDurationMs;
    return this.#observed === undefined || now >= this.#observed.atMs + duration;
  }

  #observe(record: SwarmLeaseRecord, now: number): void {
    const key = `${record.holder ?? ''}|${record.token}|${record.renewTimeMs ?? ''}`;
    if (this.#observed?.key !== key) this.#observed = { key, atMs: now };
  }

  #read(service: SwarmService): SwarmLeaseRecord {
    const labels = service.spec.Labels ?? {};
    const record: SwarmLeaseRecord = { token: nonNegative(labels[this.#labels.token]) ?? 0 };
    const holder = labels[this.#labels.holder];
    if (holder) record.holder = holder;
    const renewTime = nonNegative(labels[this.#labels.renewTime]);
    if (renewTime !== undefined) record.renewTimeMs = renewTime;
    const duration = nonNegative(labels[this.#labels.duration]);
    if (duration) record.leaseDurationMs = duration;
    const holderTask = labels[this.#labels.holderTask];
    if (holderTask) record.holderTask = holderTask;
    return record;
  }

  /** The service's labels with ours replaced; every other label is kept as it is. */
  #write(service: SwarmService, record: SwarmLeaseRecord): Record<string, string> {
    const labels: Record<string, string> = { ...(service.spec.Labels ?? {}) };
    for (const key of Object.values(this.#labels)) delete labels[key];
    labels[this.#labels.token] = String(record.token);
    if (record.holder) labels[this.#labels.holder] = record.holder;
    if (record.renewTimeMs !== undefined) labels[this.#labels.renewTime] = String(record.renewTimeMs);
    if (record.leaseDurationMs !== undefined) labels[this.#labels.duration] = String(record.leaseDurationMs);
    if (record.holderTask) labels[this.#labels.holderTask] = record.holderTask;
    return labels;
  }
}

function nonNegative(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

// A coordination.k8s.io/v1 Lease as a LeaseLock, with client-go's LeaseLock semantics:
// - every write carries the resourceVersion that was read, so of two replicas racing for the same
//   Lease exactly one succeeds and the other gets 409 Conflict (= someone else won);
// - expiry is judged on the observer's own clock: a Lease counts as held until leaseDurationSeconds
//   after this replica last saw its record change, never by comparing renewTime (another host's
//   clock) with ours, so clock skew between hosts cannot make two leaders;
// - release (SIGTERM) clears holderIdentity and shortens leaseDurationSeconds to 1, as client-go's
//   ReleaseOnCancel does, so a successor need not wait the lease out.
// Fencing token: the annotation dockerlet.dev/fencing-token, set to max(previous + 1, now in ms)
// on every acquisition by a new holder, in the same conditional write that takes the Lease, so two
// acquisitions can never hand out the same token. Not spec.leaseTransitions: it is an int32 that
// client-go bumps only when the holder changes, and it restarts at 0 when the Lease is deleted and
// recreated; the clock floor keeps our tokens growing across such a recreation too (like the
// Redis lock's floor at the server's clock).
import { ApiException, CoordinationV1Api, V1MicroTime, Watch } from '@kubernetes/client-node';
import type { KubeConfig, V1Lease, V1LeaseSpec } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { systemClock } from '../../reconciler/clock.ts';
import type { Clock } from '../../reconciler/clock.ts';
import type { LeaseGrant, LeaseHolder, LeaseLock } from '../../reconciler/leader.ts';

export const FENCING_TOKEN_ANNOTATION = 'dockerlet.dev/fencing-token';
const MAX_REWATCH_DELAY_MS = 30_000;
/** Conflicting writes a release reads past before it gives up (the elector then logs it). */
const MAX_RELEASE_ATTEMPTS = 3;

/** The Lease calls the lock makes. */
export type LeaseApi = Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;

export interface KubeLeaseLockOptions {
  kubeConfig: KubeConfig;
  /** Default: a CoordinationV1Api from kubeConfig. Tests wrap it to stage a write between two calls. */
  api?: LeaseApi;
  namespace: string;
  name: string;
  logger: Logger;
  clock?: Clock;
  /** After a watch ends (error or server timeout), wait this long before watching again; doubles while it keeps failing, up to 30 s. Default 1 s. */
  rewatchDelayMs?: number;
}

/** The record as last seen, and when (our clock): client-go's observedRecord/observedTime. */
interface Observed {
  key: string;
  atMs: number;
}

export class KubeLeaseLock implements LeaseLock {
  readonly description: string;
  readonly #api: LeaseApi;
  readonly #kubeConfig: KubeConfig;
  readonly #namespace: string;
  readonly #name: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #rewatchDelayMs: number;
  #observed: Observed | undefined;
  readonly #listeners = new Set<() => void>();
  #watch: AbortController | undefined;
  #rewatchTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Consecutive watches that ended with an error, for the back-off. */
  #watchFailures = 0;

  constructor(options: KubeLeaseLockOptions) {
    if (options.namespace === '' || options.name === '') throw new Error('kubernetes lease namespace and name must not be empty');
    this.#kubeConfig = options.kubeConfig;
    this.#api = options.api ?? options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#namespace = options.namespace;
    this.#name = options.name;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger.child({ lease: `${options.namespace}/${options.name}` });
    this.#rewatchDelayMs = options.rewatchDelayMs ?? 1_000;
    this.description = `kubernetes lease ${options.namespace}/${options.name}`;
  }

  async tryAcquireOrRenew(identity: string, leaseDurationMs: number): Promise<LeaseGrant | undefined> {
    if (!Number.isInteger(leaseDurationMs) || leaseDurationMs <= 0) throw new RangeError(`lease duration must be a positive integer of ms, got ${leaseDurationMs}`);
    // The API counts whole seconds; rounding up never shortens what the elector relies on.
    const leaseDurationSeconds = Math.ceil(leaseDurationMs / 1000);
    const now = this.#clock.now();
    const current = await this.#read();
    if (current === undefined) {
      const token = nextToken(undefined, now);
      try {
        const created = await this.#api.createNamespacedLease({
          namespace: this.#namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.#name, namespace: this.#namespace, annotations: { [FENCING_TOKEN_ANNOTATION]: String(token) } },
            spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: new V1MicroTime(now), renewTime: new V1MicroTime(now), leaseTransitions: 0 },
          },
        });
        this.#observe(created, now);
        return { token };
      } catch (error) {
        if (isStatus(error, 409)) return undefined; // another replica created it first
        throw error;
      }
    }

    this.#observe(current, now);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const previousToken = readToken(current);
    if (holder !== '' && holder !== identity) {
      const durationMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
      if (this.#observed!.atMs + durationMs > now) return undefined; // held, not expired by our clock
    }

    // Our own Lease (a renewal) keeps its token: the resourceVersion check guarantees nobody held it
    // in between. A free, released or expired Lease is a new acquisition: a greater token.
    const renewing = holder === identity && previousToken !== undefined;
    const token = renewing ? previousToken : nextToken(previousToken, now);
    const next: V1LeaseSpec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: new V1MicroTime(now),
      acquireTime: renewing && spec.acquireTime ? spec.acquireTime : new V1MicroTime(now),
      leaseTransitions: holder === identity ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
    };
    const body: V1Lease = {
      ...current,
      metadata: { ...current.metadata, annotations: { ...current.metadata?.annotations, [FENCING_TOKEN_ANNOTATION]: String(token) } },
      spec: next,
    };
    try {
      const updated = await this.#api.replaceNamespacedLease({ namespace: this.#namespace, name: this.#name, body });
      this.#observe(updated, now);
      return { token };
    } catch (error) {
      // 409: someone wrote the Lease since we read it (they won); 404: deleted meanwhile, next try creates it.
      if (isStatus(error, 409) || isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async release(identity: string): Promise<void> {
    // A 409 does not always mean someone else took it: a renewal of ours that the elector gave up
    // on at the step-down can still land between this read and this write. Read again and release
    // while we are still the holder; otherwise the Lease stays ours until it expires and a
    // successor waits it out (seen once: 3.4 s instead of ~0.1 s, with a 3 s lease).
    for (let attempt = 1; ; attempt++) {
      const current = await this.#read();
      if (current?.spec?.holderIdentity !== identity) return;
      const now = this.#clock.now();
      const body: V1Lease = {
        ...current,
        spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: new V1MicroTime(now), renewTime: new V1MicroTime(now) },
      };
      try {
        this.#observe(await this.#api.replaceNamespacedLease({ namespace: this.#namespace, name: this.#name, body }), now);
        return;
      } catch (error) {
        if (isStatus(error, 404)) return; // deleted: nothing left to release
        if (!isStatus(error, 409) || attempt >= MAX_RELEASE_ATTEMPTS) throw error;
      }
    }
  }

  async holder(): Promise<LeaseHolder | undefined> {
    const current = await this.#read();
    const identity = current?.spec?.holderIdentity;
    if (!identity) return undefined;
    const token = readToken(current);
    return token === undefined ? { identity } : { identity, token };
  }

  /** Watches this one Lease and calls listeners when it is released (holder cleared) or deleted. */
  onReleased(listener: () => void): () => void {
    this.#listeners.add(listener);
    if (!this.#watch && this.#rewatchTimer === undefined) this.#startWatch();
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    clearTimeout(this.#rewatchTimer);
    this.#rewatchTimer = undefined;
    this.#watch?.abort();
    this.#watch = undefined;
  }

  async #read(): Promise<V1Lease | undefined> {
    try {
      return await this.#api.readNamespacedLease({ namespace: this.#namespace, name: this.#name });
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  /** client-go: observedTime moves only when the record itself changed, not on every read. */
  #observe(lease: V1Lease, now: number): void {
    const spec = lease.spec ?? {};
    const key = JSON.stringify([spec.holderIdentity ?? '', spec.leaseDurationSeconds, String(spec.renewTime ?? ''), String(spec.acquireTime ?? ''), spec.leaseTransitions]);
    if (this.#observed?.key !== key) this.#observed = { key, atMs: now };
  }

  #startWatch(): void {
    if (this.#closed) return;
    const path = `/apis/coordination.k8s.io/v1/namespaces/${this.#namespace}/leases`;
    const rewatch = (error: unknown): void => {
      this.#watch = undefined;
      if (this.#closed) return;
      // A hint only: standbys keep retrying on their timer, so a broken watch costs latency, no more.
      // Back off while it keeps failing (a watch RBAC refuses fails at once, every time).
      if (error) {
        this.#watchFailures += 1;
        this.#log.debug({ err: error, failures: this.#watchFailures }, 'lease watch ended; watching again');
      } else {
        this.#watchFailures = 0;
      }
      const delayMs = Math.min(this.#rewatchDelayMs * 2 ** Math.min(this.#watchFailures, 5), MAX_REWATCH_DELAY_MS);
      this.#rewatchTimer = setTimeout(() => {
        this.#rewatchTimer = undefined;
        this.#startWatch();
      }, delayMs);
      this.#rewatchTimer.unref();
    };
    new Watch(this.#kubeConfig)
      .watch(
        path,
        { fieldSelector: `metadata.name=${this.#name}` },
        (phase: string, object: V1Lease) => {
          this.#watchFailures = 0; // it works
          if (phase === 'DELETED' || (phase === 'MODIFIED' && !object.spec?.holderIdentity)) {
            for (const notify of this.#listeners) notify();
          }
        },
        rewatch,
      )
      .then(
        (controller) => {
          if (this.#closed) controller.abort();
          else this.#watch = controller;
        },
        rewatch,
      );
  }
}

function nextToken(previous: number | undefined, nowMs: number): number {
  return Math.max((previous ?? 0) + 1, Math.floor(nowMs));
}

function readToken(lease: V1Lease | undefined): number | undefined {
  const text = lease?.metadata?.annotations?.[FENCING_TOKEN_ANNOTATION];
  if (text === undefined) return undefined;
  const token = Number(text);
  return Number.isSafeInteger(token) && token > 0 ? token : undefined;
}

function isStatus(error: unknown, code: number): boolean {
  return error instanceof ApiException && error.code === code;
}

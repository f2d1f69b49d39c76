// A work queue with client-go semantics (workqueue.Typed + delaying + rate-limiting queue):
//  - a key waiting in the queue is not added twice (dedupe);
//  - a key being processed is never handed out again until `done(key)`; if it is added meanwhile
//    it is marked dirty and queued again by `done` — so one key is never worked on concurrently;
//  - `addAfter` keeps one pending delayed add per key, and a shorter delay replaces a longer one;
//  - `addRateLimited` delays by the key's exponential backoff until `forget(key)`.
// The queue is single-threaded JS, so "waiting for an item" is a promise resolved by `add`.
import { systemClock } from './clock.ts';
import type { Clock, TimerHandle } from './clock.ts';
import { ItemExponentialFailureRateLimiter } from './rate-limiter.ts';
import type { RateLimiter } from './rate-limiter.ts';

/** Hooks the queue calls; reconciler/metrics.ts implements them with prom-client. */
export interface WorkQueueMetrics {
  /** A key became pending (it was not already waiting). */
  added(): void;
  /** Keys waiting to be handed out, including keys re-added while being processed. */
  depth(n: number): void;
  /** Seconds a key waited between its first add and being handed out by `get`. */
  queueDuration(seconds: number): void;
  /** Seconds between `get` and `done`. */
  workDuration(seconds: number): void;
  /** A delayed add was requested (addAfter or addRateLimited), counted as client-go does. */
  retry(): void;
  /** Receives a probe for seconds of work in progress, read when metrics are scraped. */
  unfinishedWork?(probe: () => number): void;
}

export interface WorkQueueOptions {
  /** Metric label; one name per controller. */
  name: string;
  clock?: Clock;
  /** Default: 5 ms doubling up to 1000 s per key (client-go's default item limiter). */
  rateLimiter?: RateLimiter;
  metrics?: WorkQueueMetrics;
}

interface DelayedAdd {
  readyAt: number;
  handle: TimerHandle;
}

type Getter = (key: string | undefined) => void;

export class WorkQueue {
  readonly name: string;
  readonly #clock: Clock;
  readonly #rateLimiter: RateLimiter;
  readonly #metrics: WorkQueueMetrics | undefined;

  /** Keys ready to hand out, in FIFO order. Every key here is also in #dirty. */
  readonly #queue: string[] = [];
  /** Keys that need processing: queued ones plus ones re-added while being processed. */
  readonly #dirty = new Set<string>();
  /** Keys handed out by `get` and not yet `done`. */
  readonly #processing = new Set<string>();
  readonly #addedAt = new Map<string, number>();
  readonly #startedAt = new Map<string, number>();
  readonly #delayed = new Map<string, DelayedAdd>();
  /** Callers of `get` waiting for a key. Only non-empty while #queue is empty. */
  readonly #getters: Getter[] = [];
  #shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.#clock = options.clock ?? systemClock;
    this.#rateLimiter = options.rateLimiter ?? new ItemExponentialFailureRateLimiter();
    this.#metrics = options.metrics;
    this.#metrics?.unfinishedWork?.(() => this.unfinishedWorkSeconds());
  }

  /** Marks the key as needing processing. Ignored after shutdown. */
  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#metrics?.added();
    this.#dirty.add(key);
    this.#addedAt.set(key, this.#clock.now());
    this.#reportDepth();
    // Being processed: `done` queues it again, so no worker gets it while another holds it.
    if (this.#processing.has(key)) return;
    this.#queue.push(key);
    this.#dispatch();
  }

  /**
   * Resolves with the next key, waiting for one if needed. The key belongs to the caller until
   * `done(key)`. Resolves `undefined` once the queue is shut down and has nothing left to hand
   * out: after `shutDown()` keys already queued are still handed out (client-go drain
   * semantics); after `shutDownNow()` nothing is.
   */
  get(): Promise<string | undefined> {
    if (this.#queue.length > 0) return Promise.resolve(this.#take());
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise<string | undefined>((resolve) => this.#getters.push(resolve));
  }

  /** Ends processing of a key handed out by `get`; queues it again if it was added meanwhile. */
  done(key: string): void {
    if (!this.#processing.delete(key)) return;
    const startedAt = this.#startedAt.get(key);
    this.#startedAt.delete(key);
    if (startedAt !== undefined) this.#metrics?.workDuration(this.#seconds(startedAt));
    if (this.#dirty.has(key)) {
      this.#queue.push(key);
      this.#dispatch();
    }
  }

  /**
   * Adds the key after `ms`. One delayed add is kept per key: an earlier deadline replaces a
   * later one, a later one is dropped. A delay of 0 or less adds at once.
   */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    this.#metrics?.retry();
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.#clock.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending !== undefined) {
      if (pending.readyAt <= readyAt) return;
      this.#clock.clearTimeout(pending.handle);
    }
    const entry: DelayedAdd = {
      readyAt,
      handle: this.#clock.setTimeout(() => {
        if (this.#delayed.get(key) === entry) this.#delayed.delete(key);
        this.add(key);
      }, ms),
    };
    this.#delayed.set(key, entry);
  }

  /** Adds the key after its backoff delay, and counts one more failure for it. */
  addRateLimited(key: string): void {
    if (this.#shuttingDown) return;
    this.addAfter(key, this.#rateLimiter.when(key));
  }

  /** Resets the key's backoff. Does not remove it from the queue. */
  forget(key: string): void {
    this.#rateLimiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.#rateLimiter.numRequeues(key);
  }

  /** Keys ready to be handed out now (not counting delayed adds or keys being processed). */
  len(): number {
    return this.#queue.length;
  }

  /** Keys handed out and not yet done. */
  processingCount(): number {
    return this.#processing.size;
  }

  /** Delayed adds not yet due. */
  delayedCount(): number {
    return this.#delayed.size;
  }

  isShuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * client-go ShutDown: new adds and pending delayed adds are dropped; keys already queued are
   * still handed out by `get`, which resolves `undefined` once the queue is empty. Idempotent.
   */
  shutDown(): void {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      for (const { handle } of this.#delayed.values()) this.#clock.clearTimeout(handle);
      this.#delayed.clear();
    }
    // Getters wait only while the queue is empty, so all of them are told to stop.
    for (const getter of this.#getters.splice(0)) getter(undefined);
  }

  /**
   * Like `shutDown`, but also discards queued keys (and re-adds of keys being processed), so
   * every `get` resolves `undefined` at once. Keys in flight still need `done`.
   */
  shutDownNow(): void {
    this.shutDown();
    this.#queue.length = 0;
    this.#dirty.clear();
    this.#addedAt.clear();
    this.#reportDepth();
  }

  /** Seconds spent so far on keys handed out and not yet done (client-go unfinished_work). */
  unfinishedWorkSeconds(): number {
    const now = this.#clock.now();
    let totalMs = 0;
    for (const startedAt of this.#startedAt.values()) totalMs += now - startedAt;
    return totalMs / 1000;
  }

  /** Hands queued keys to waiting getters. */
  #dispatch(): void {
    while (this.#getters.length > 0 && this.#queue.length > 0) {
      const getter = this.#getters.shift();
      getter?.(this.#take());
    }
  }

  /** Moves the head of the queue to processing. Caller ensures the queue is not empty. */
  #take(): string {
    const key = this.#queue.shift() as string;
    this.#dirty.delete(key);
    this.#processing.add(key);
    const addedAt = this.#addedAt.get(key);
    this.#addedAt.delete(key);
    if (addedAt !== undefined) this.#metrics?.queueDuration(this.#seconds(addedAt));
    this.#startedAt.set(key, this.#clock.now());
    this.#reportDepth();
    return key;
  }

  #seconds(sinceMs: number): number {
    return Math.max(0, this.#clock.now() - sinceMs) / 1000;
  }

  #reportDepth(): void {
    this.#metrics?.depth(this.#dirty.size);
  }
}

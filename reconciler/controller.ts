// The controller loop: N workers take keys from the work queue, run the reconcile function with a
// deadline, and map its outcome to the queue in one switch (controller-runtime's
// reconcileHandler). A reconcile that throws or hangs never takes a worker down.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { systemClock } from './clock.ts';
import type { Clock } from './clock.ts';
import { classify } from './errors.ts';
import type { Outcome, ReconcileResult } from './errors.ts';
import type { ReconcileResultLabel, ReconcilerMetrics } from './metrics.ts';
import { WorkQueue } from './workqueue.ts';

/** Passed to every reconcile so its own logs carry the same reconcileId as the controller's. */
export interface ReconcileContext {
  /** pino child with `{controller, key, reconcileId}`. */
  log: Logger;
  reconcileId: string;
}

export type ReconcileFn = (
  key: string,
  signal: AbortSignal,
  context: ReconcileContext,
) => Promise<ReconcileResult | void>;

export interface ControllerOptions {
  /** Controller name: metric label, log field, default queue name. */
  name: string;
  reconcile: ReconcileFn;
  /** Concurrent reconciles (of different keys). Default 4. */
  workers?: number;
  /** The reconcile's signal aborts after this long, and the worker moves on. Default 60 s. */
  reconcileTimeoutMs?: number;
  /** Default: a new WorkQueue named after the controller, with `metrics` hooks. */
  queue?: WorkQueue;
  metrics?: ReconcilerMetrics;
  logger: Logger;
  clock?: Clock;
}

/** The abort reason when a reconcile ran past `reconcileTimeoutMs`. */
export class ReconcileTimeoutError extends Error {
  override readonly name = 'ReconcileTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`reconcile did not finish within ${timeoutMs} ms`);
  }
}

/** The abort reason when `cancelInFlight()` stopped a reconcile (leadership lost, shutdown). */
export class ReconcileCancelledError extends Error {
  override readonly name = 'ReconcileCancelledError';
  constructor() {
    super('reconcile cancelled');
  }
}

type Attempt = { failed: false; result: ReconcileResult | undefined } | { failed: true; error: unknown };

type State = 'new' | 'running' | 'stopped';

/**
 * A reconcile that has not settled yet, as `cancelInFlight`, its deadline and `settled()` see it:
 * it stays in flight after a cancel until it has really returned.
 */
interface InFlight {
  /** Aborts its signal and lets the worker move on at once. */
  cancel(reason: Error): void;
  /** Resolves when the reconcile has returned or thrown. */
  settled: Promise<unknown>;
}

/**
 * Reconcile IDs: unique within the process (a random prefix per process, then a counter), for
 * correlating log lines. Cheaper than a UUID per reconcile, which was 4 % of a no-op resync's CPU.
 */
const reconcileIdPrefix = randomBytes(4).toString('hex');
let reconcileIdCounter = 0;
function nextReconcileId(): string {
  reconcileIdCounter += 1;
  return `${reconcileIdPrefix}-${reconcileIdCounter.toString(36)}`;
}

export class Controller {
  readonly name: string;
  readonly #reconcile: ReconcileFn;
  readonly #workers: number;
  readonly #timeoutMs: number;
  readonly #queue: WorkQueue;
  readonly #metrics: ReconcilerMetrics | undefined;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #inFlight = new Set<InFlight>();
  /**
   * Why each stalled key stalled, so a stall is logged at warn once and not again on every resync
   * that finds it unchanged (the object's status says it all along). Cleared by any other outcome.
   */
  readonly #stalled = new Map<string, string>();
  /** Callbacks waiting for a key's next reconcile to finish (see whenProcessed). */
  readonly #processedWaiters = new Map<string, (() => void)[]>();
  #running: Promise<void>[] = [];
  #state: State = 'new';

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.#reconcile = options.reconcile;
    this.#workers = options.workers ?? 4;
    this.#timeoutMs = options.reconcileTimeoutMs ?? 60_000;
    if (!Number.isInteger(this.#workers) || this.#workers < 1) throw new RangeError('workers must be a positive integer');
    if (!(this.#timeoutMs > 0)) throw new RangeError('reconcileTimeoutMs must be positive');
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#queue =
      options.queue ??
      new WorkQueue({ name: options.name, clock: this.#clock, metrics: options.metrics?.forQueue(options.name) });
    this.#metrics?.initController(this.name);
  }

  /** The queue, for metrics and tests. Feed it through `enqueue`/`enqueueAfter`. */
  get queue(): WorkQueue {
    return this.#queue;
  }

  /**
   * Starts the workers. A controller runs once: after `stop()` make a new one (for instance on
   * regaining leadership); its queue is shut down for good.
   */
  start(): void {
    if (this.#state === 'running') return;
    if (this.#state === 'stopped') throw new Error(`controller ${this.name} was stopped and cannot start again`);
    this.#state = 'running';
    for (let i = 0; i < this.#workers; i++) this.#running.push(this.#work());
  }

  /**
   * Stops handing out keys (queued keys are dropped: the next start re-lists everything) and
   * resolves when every worker has finished its current reconcile, which takes at most
   * `reconcileTimeoutMs`. A reconcile that ignored its aborted signal may still be running:
   * `settled()` waits for it.
   */
  async stop(): Promise<void> {
    this.#state = 'stopped';
    this.#queue.shutDownNow();
    await Promise.all(this.#running);
    // Dropped keys will never be reconciled by this controller: release whoever waits on them.
    for (const waiters of this.#processedWaiters.values()) for (const resolve of waiters) resolve();
    this.#processedWaiters.clear();
  }

  /**
   * Resolves once each of `keys` has finished a reconcile after this call (or the controller
   * stopped). A key already being reconciled counts when that reconcile finishes. What a resync
   * uses to time "relist → every key reconciled" without a log line per key.
   */
  whenProcessed(keys: Iterable<string>): Promise<void> {
    if (this.#state === 'stopped') return Promise.resolve();
    return new Promise((resolve) => {
      let pending = 1;
      const one = (): void => {
        if (--pending === 0) resolve();
      };
      for (const key of keys) {
        pending++;
        const waiters = this.#processedWaiters.get(key);
        if (waiters) waiters.push(one);
        else this.#processedWaiters.set(key, [one]);
      }
      one();
    });
  }

  /** Aborts the signal of every running reconcile. The queue keeps running; pair with `stop()`. */
  cancelInFlight(): void {
    for (const reconcile of this.#inFlight) reconcile.cancel(new ReconcileCancelledError());
  }

  /**
   * Resolves once no reconcile started by this controller is still running, including those its
   * workers gave up on (aborted by a timeout or `cancelInFlight`, but not returned yet: a cleanup
   * in `finally`, a call that ignores its signal). After `stop()`, this is when the controller has
   * really stopped acting; `stop()` alone only waits for the workers. Unbounded: a caller that
   * cannot wait forever races it against its own deadline.
   */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight].map((reconcile) => reconcile.settled));
  }

  enqueue(key: string): void {
    this.#queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.#queue.addAfter(key, ms);
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.#queue.get();
      if (key === undefined) return;
      await this.#process(key);
    }
  }

  /** Never rejects: whatever happens, the key is released and the worker continues. */
  async #process(key: string): Promise<void> {
    const reconcileId = nextReconcileId();
    let release = true;
    let log = this.#logger;
    try {
      log = this.#logger.child({ controller: this.name, key, reconcileId });
      const started = this.#clock.now();
      const { attempt, abandoned } = await this.#attempt(key, { log, reconcileId });
      if (abandoned !== undefined) {
        // It ignored its aborted signal. The key stays "processing" until it settles, so a re-add
        // waits for it instead of running concurrently with it.
        release = false;
        void abandoned.then(() => {
          log.debug('abandoned reconcile settled');
          this.#queue.done(key);
        });
      }
      const outcome = attempt.failed ? classify(undefined, attempt.error, true) : classify(attempt.result, undefined, false);
      const result = this.#apply(key, outcome, log);
      this.#metrics?.reconcileTotal.inc({ controller: this.name, result });
      this.#metrics?.reconcileTime.observe({ controller: this.name }, Math.max(0, this.#clock.now() - started) / 1000);
    } catch (err) {
      // Only a bug in the bookkeeping above lands here; the reconcile's own errors are outcomes.
      log.error({ err }, 'reconcile bookkeeping failed');
    } finally {
      if (release) this.#queue.done(key);
      const waiters = this.#processedWaiters.get(key);
      if (waiters) {
        this.#processedWaiters.delete(key);
        for (const resolve of waiters) resolve();
      }
    }
  }

  /**
   * Runs the reconcile until it settles or its signal aborts (timeout or cancel), whichever comes
   * first. On abort, `abandoned` resolves when the reconcile finally settles.
   */
  async #attempt(key: string, context: ReconcileContext): Promise<{ attempt: Attempt; abandoned?: Promise<void> }> {
    const abort = new AbortController();
    // Cancelling resolves `aborted` directly rather than through an 'abort' listener on the
    // signal: adding one per reconcile was a tenth of a no-op resync's CPU.
    let onAborted: (attempt: Attempt) => void = () => {};
    const aborted = new Promise<Attempt>((resolve) => (onAborted = resolve));
    const cancel = (reason: Error): void => {
      abort.abort(reason);
      onAborted({ failed: true, error: reason });
    };
    const timer = this.#clock.setTimeout(() => cancel(new ReconcileTimeoutError(this.#timeoutMs)), this.#timeoutMs);
    let settled = false;
    const run: Promise<Attempt> = (async () => this.#reconcile(key, abort.signal, context))()
      .then(
        (result): Attempt => ({ failed: false, result: result ?? undefined }),
        (error: unknown): Attempt => ({ failed: true, error }),
      )
      .finally(() => {
        settled = true;
        this.#clock.clearTimeout(timer);
        this.#inFlight.delete(inFlight);
      });
    const inFlight: InFlight = { cancel, settled: run };
    this.#inFlight.add(inFlight);
    const attempt = await Promise.race([run, aborted]);
    return settled ? { attempt } : { attempt, abandoned: run.then(() => undefined) };
  }

  /** The one place where an outcome becomes queue operations. Returns the metric result label. */
  #apply(key: string, outcome: Outcome, log: Logger): ReconcileResultLabel {
    if (outcome.kind !== 'terminal') this.#stalled.delete(key);
    switch (outcome.kind) {
      case 'success':
        this.#queue.forget(key);
        // At trace, as controller-runtime logs it at V(5): a resync succeeds once per key, and a line
        // each at debug slowed the resync it reports on.
        if (outcome.requeueAfterMs === undefined) {
          log.trace('reconcile succeeded');
          return 'success';
        }
        this.#queue.addAfter(key, outcome.requeueAfterMs);
        log.trace({ requeueAfterMs: outcome.requeueAfterMs }, 'reconcile succeeded');
        return 'requeue_after';
      case 'terminal': {
        this.#queue.forget(key);
        this.#metrics?.reconcileErrors.inc({ controller: this.name });
        const why = `${outcome.error.reason}: ${outcome.error.message}`;
        const unchanged = this.#stalled.get(key) === why;
        this.#stalled.set(key, why);
        log[unchanged ? 'debug' : 'warn']({ reason: outcome.error.reason, fieldPath: outcome.error.fieldPath, err: outcome.error }, 'reconcile stalled');
        return 'terminal';
      }
      case 'fenced':
        // Leadership is over (or about to be): whoever leads now reconciles the key; retrying here
        // would only be refused again.
        this.#queue.forget(key);
        log.info({ operation: outcome.error.operation, token: outcome.error.token, why: outcome.error.why }, 'reconcile fenced: a write was not sent');
        return 'fenced';
      case 'requeueAfter':
        this.#queue.forget(key);
        this.#queue.addAfter(key, outcome.delayMs);
        log.debug({ reason: outcome.error.reason, delayMs: outcome.delayMs }, 'reconcile waiting');
        return 'requeue';
      case 'retry':
        this.#queue.addRateLimited(key);
        this.#metrics?.reconcileErrors.inc({ controller: this.name });
        if (outcome.error instanceof ReconcileCancelledError) {
          // Expected when leadership is lost; not worth an error line per key.
          log.info({ retries: this.#queue.numRequeues(key) }, 'reconcile cancelled');
        } else {
          log.error({ err: outcome.error, retries: this.#queue.numRequeues(key) }, 'reconcile failed');
        }
        return 'error';
    }
  }
}

// Status in one Redis hash (field = object key, value = the status as JSON), for replicas that
// share state. As in FileStatusStore, memory is the truth while this replica leads and Redis is
// the shared durable copy, written in batches: a resync that writes 300 statuses costs one
// MULTI/EXEC round trip, not 300. A Redis outage never reaches callers of `write`: changes stay
// pending and are retried until Redis answers again.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ObjectKey } from '../../crds/types.ts';
import { FencedError } from '../../reconciler/errors.ts';
import type { Fence } from '../../reconciler/fence.ts';
import type { StatusStore } from '../../reconciler/store.ts';
import { deepFreeze } from '../sources/yaml/object-meta.ts';
import { fencedHashWrite } from './redis-fenced-write.ts';

/** The commands the store needs; a Redis (or a test double) provides them. */
export type RedisStatusClient = Pick<Redis, 'hgetall' | 'multi' | 'eval'>;

/**
 * Writes only a leader with a valid lease may make (README "High availability", fencing): each
 * write takes the token `fence.require` gives (or is refused at once), and each batch goes out only
 * under that token: checked by Redis in the write script when the lease lives in this Redis
 * (`holderTokenKey`), else by `fence.confirm` (one round trip to the lock) before the batch.
 */
export interface RedisStatusFence {
  fence: Fence;
  /** This replica, recorded in the write log. */
  writer: string;
  /** The lease's holder-token key, when the lease is a RedisLeaseLock on this same Redis. */
  holderTokenKey?: string;
}

/** Turns a parsed JSON value into an S, or throws to have the value dropped. */
export type StatusDecoder<S> = (value: unknown) => S;

export interface RedisStatusStoreOptions<S> {
  /** Owned by the caller: the store never connects, quits or listens for its `error` events. */
  redis: RedisStatusClient;
  /** The hash, e.g. `dockerlet:<agent>:sessions`. */
  key: string;
  logger: Logger;
  /** How long writes are collected before one round trip. Default 100 ms. */
  flushDelayMs?: number;
  /**
   * How long `flush()`, `close()` and `load()` wait for Redis before rejecting. Default 5 s: a
   * shutdown flush must end well inside `docker stop`'s 10 s grace period, and a leader that cannot
   * reach Redis for 5 s is about to lose its 10 s renew deadline anyway.
   */
  flushTimeoutMs?: number;
  /** Checks a stored value when loading; one that throws is logged and dropped. Default: any JSON object. */
  decode?: StatusDecoder<S>;
  /** Leader-only writes (the agent's stores); absent: unfenced (tests, tools). */
  fence?: RedisStatusFence;
}

export interface SnapshotOptions<S> {
  decode?: StatusDecoder<S>;
  /** Told about each value that does not parse; it is left out of the snapshot either way. */
  onInvalid?: (field: string, error: unknown) => void;
}

/** A change not yet confirmed by Redis: the JSON to HSET, or null to HDEL. */
interface Pending {
  readonly json: string | null;
  /** The fencing token it was decided under (0 when unfenced): it goes out under that one only. */
  readonly token: number;
}

// While Redis is down, the background retry runs this often; `flush()` retries faster because
// someone is waiting on it (with the default offline queue an attempt simply waits for reconnect).
const RETRY_DELAY_MS = 1_000;
const FLUSH_RETRY_DELAY_MS = 100;
// Keeps single commands moderate when thousands of statuses change at once; still one MULTI.
const FIELDS_PER_COMMAND = 500;

export class RedisStatusStore<S> implements StatusStore<S> {
  private readonly redis: RedisStatusClient;
  private readonly key: string;
  private readonly logger: Logger;
  private readonly flushDelayMs: number;
  private readonly flushTimeoutMs: number;
  private readonly decode: StatusDecoder<S>;
  private readonly fence: RedisStatusFence | undefined;
  /** The last token whose writes were refused, so the refusal is logged once per term. */
  private fencedToken: number | undefined;
  private refused = 0;
  private items = new Map<ObjectKey, S>();
  /** Newest unconfirmed change per key. An entry leaves only when Redis confirmed that very entry. */
  private readonly pending = new Map<ObjectKey, Pending>();
  /** Keys changed while a load was waiting for Redis: the load must not overwrite them. */
  private readonly touchedDuringLoads = new Set<Set<ObjectKey>>();
  private timer: NodeJS.Timeout | undefined;
  /** Round trips run one at a time, in order; a failed one does not break the chain. */
  private chain: Promise<void> = Promise.resolve();
  private outageSince: number | undefined;
  private closed = false;
  private written = 0;

  constructor(options: RedisStatusStoreOptions<S>) {
    this.redis = options.redis;
    this.key = options.key;
    this.logger = options.logger.child({ component: 'status-store', redisKey: options.key });
    this.flushDelayMs = options.flushDelayMs ?? 100;
    this.flushTimeoutMs = options.flushTimeoutMs ?? 5_000;
    this.decode = options.decode ?? decodeObject<S>;
    this.fence = options.fence;
  }

  /**
   * Reads the hash into memory (call once, before use). A value that does not parse or decode is
   * logged and dropped: its status is rebuilt by the next reconcile, while crashing would stop
   * every object from converging. Changes not yet in Redis win over what Redis holds. Rejects if
   * Redis does not answer within flushTimeoutMs.
   */
  async load(): Promise<void> {
    const touched = new Set<ObjectKey>(this.pending.keys());
    this.touchedDuringLoads.add(touched);
    try {
      const raw = await withTimeout(this.redis.hgetall(this.key), this.flushTimeoutMs, `HGETALL ${this.key}`);
      const next = decodeHash(raw, this.decode, (field, error) =>
        this.logger.warn({ field, err: error }, 'stored status does not parse; dropped'),
      );
      for (const value of next.values()) deepFreeze(value);
      for (const key of touched) {
        const mine = this.items.get(key);
        if (mine === undefined) next.delete(key);
        else next.set(key, mine);
      }
      this.items = next;
    } finally {
      this.touchedDuringLoads.delete(touched);
    }
  }

  /** Same as `load`: a standby that becomes leader calls it to pick up its predecessor's writes. */
  reload(): Promise<void> {
    return this.load();
  }

  /** Read-only view of a hash, for the CLI. */
  static readSnapshot<S>(redis: Pick<Redis, 'hgetall'>, key: string, options: SnapshotOptions<S> = {}): Promise<Map<ObjectKey, S>> {
    return readRedisSnapshot(redis, key, options);
  }

  /** Successful round trips to Redis; for metrics and tests. */
  get flushCount(): number {
    return this.written;
  }

  /** Changes dropped because the lease had passed to another token (fencing); for tests. */
  get refusedCount(): number {
    return this.refused;
  }

  /** Keys whose newest change Redis has not confirmed yet. */
  get pendingCount(): number {
    return this.pending.size;
  }

  get(key: ObjectKey): S | undefined {
    return this.items.get(key);
  }

  /** Values are frozen: copy before changing (`structuredClone`), then `write`. */
  list(): ReadonlyMap<ObjectKey, S> {
    return this.items;
  }

  /**
   * Updates memory at once and resolves; Redis follows within flushDelayMs, or after an outage.
   * Memory holds the JSON round trip of `status`, i.e. exactly what a reload would read back.
   * Rejects for a value JSON cannot represent (a bug in the caller), and with FencedError when this
   * replica does not certainly hold the lease (nothing is changed then).
   */
  async write(key: ObjectKey, status: S): Promise<void> {
    const json = JSON.stringify(status);
    if (json === undefined) throw new TypeError(`status for ${key} is not JSON-serializable`);
    const token = this.fence ? this.fence.fence.require('status write') : 0;
    this.items.set(key, deepFreeze(JSON.parse(json) as S));
    this.change(key, { json, token });
  }

  async delete(key: ObjectKey): Promise<void> {
    if (!this.items.has(key)) return;
    const token = this.fence ? this.fence.fence.require('status delete') : 0;
    this.items.delete(key);
    this.change(key, { json: null, token });
  }

  /**
   * Resolves when every change made before the call is in Redis. Retries while Redis is down and
   * rejects after flushTimeoutMs; the changes stay pending and the background retry continues.
   */
  flush(): Promise<void> {
    const deadline = Date.now() + this.flushTimeoutMs;
    this.cancelTimer();
    const run = this.chain.then(() => this.flushUntil(deadline));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Flushes (bounded by flushTimeoutMs) and stops retrying. Does not close the Redis client. */
  async close(): Promise<void> {
    this.closed = true;
    try {
      await this.flush();
    } finally {
      this.cancelTimer();
      if (this.pending.size > 0) this.logger.error({ pending: this.pending.size }, 'closed with status writes Redis never took');
    }
  }

  private change(key: ObjectKey, entry: Pending): void {
    this.pending.set(key, entry);
    for (const touched of this.touchedDuringLoads) touched.add(key);
    this.schedule(this.flushDelayMs);
  }

  private schedule(delayMs: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const run = this.chain.then(() => this.attempt(this.flushTimeoutMs));
      this.chain = run.catch(() => undefined);
      // attempt() already logged the outage; the retry is all that is left to do.
      run.catch(() => this.schedule(RETRY_DELAY_MS));
    }, delayMs);
    // A pending retry must not keep a process alive that is otherwise done; close() flushes.
    this.timer.unref();
  }

  private cancelTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async flushUntil(deadline: number): Promise<void> {
    for (;;) {
      try {
        await this.attempt(Math.max(0, deadline - Date.now()));
        return;
      } catch (error) {
        if (Date.now() + FLUSH_RETRY_DELAY_MS >= deadline) {
          this.schedule(RETRY_DELAY_MS);
          throw new Error(`redis status store ${this.key}: ${this.pending.size} changes still pending after ${this.flushTimeoutMs} ms`, { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, FLUSH_RETRY_DELAY_MS));
      }
    }
  }

  /**
   * Every pending change, one round trip per fencing token (one, unless a term ended with changes
   * pending). Rejects on failure or after timeoutMs; a batch refused by the fence is dropped, not
   * retried: those writes belong to a term that is over.
   */
  private async attempt(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0) return;
    const byToken = new Map<number, Map<ObjectKey, Pending>>();
    for (const [key, entry] of this.pending) {
      const batch = byToken.get(entry.token) ?? new Map<ObjectKey, Pending>();
      batch.set(key, entry);
      byToken.set(entry.token, batch);
    }
    for (const [token, batch] of byToken) await this.attemptBatch(token, batch, timeoutMs);
  }

  /** One MULTI/EXEC (or one fenced write script) with the changes of one token. */
  private async attemptBatch(token: number, batch: Map<ObjectKey, Pending>, timeoutMs: number): Promise<void> {
    const sets: string[] = [];
    const dels: string[] = [];
    for (const [key, entry] of batch) {
      if (entry.json === null) dels.push(key);
      else sets.push(key, entry.json);
    }
    const done = (): void => {
      for (const [key, entry] of batch) if (this.pending.get(key) === entry) this.pending.delete(key);
    };
    // Confirms even when it lands after the timeout (it sat in ioredis' offline queue): Redis has
    // it then. Commands on one connection run in order, so a late batch never overtakes a newer one.
    const exec = this.send(token, sets, dels).then((outcome) => {
      done();
      if (outcome !== 'written') {
        this.refused += batch.size;
        if (this.fencedToken !== token) {
          this.fencedToken = token;
          this.logger.warn({ token, changes: batch.size, why: outcome.why }, 'status writes refused by the fence: another replica leads now; dropped');
        }
        return;
      }
      this.written += 1;
      if (this.outageSince !== undefined) {
        this.logger.info({ outageMs: Date.now() - this.outageSince }, 'status writes to Redis resumed');
        this.outageSince = undefined;
      }
    });
    try {
      await withTimeout(exec, timeoutMs, `MULTI on ${this.key}`);
    } catch (error) {
      // Logged once per outage, not once per retry.
      if (this.outageSince === undefined) {
        this.outageSince = Date.now();
        this.logger.error({ err: error, pending: this.pending.size }, 'cannot write status to Redis; retrying');
      }
      throw error;
    }
  }

  /** Sends one token's changes: fenced by Redis, fenced by a lock round trip, or plainly. */
  private async send(token: number, sets: string[], dels: string[]): Promise<'written' | { why: string }> {
    const fence = this.fence;
    if (fence?.holderTokenKey !== undefined) {
      const result = await fencedHashWrite(this.redis, { hash: this.key, holderTokenKey: fence.holderTokenKey }, token, fence.writer, sets, dels);
      return result.written ? 'written' : { why: `the lease holds token ${result.holderToken || 'none'}` };
    }
    if (fence) {
      try {
        await fence.fence.confirm('status write', token);
      } catch (error) {
        if (error instanceof FencedError) return { why: error.why };
        throw error;
      }
    }
    const multi = this.redis.multi();
    for (let i = 0; i < sets.length; i += 2 * FIELDS_PER_COMMAND) multi.hset(this.key, ...sets.slice(i, i + 2 * FIELDS_PER_COMMAND));
    for (let i = 0; i < dels.length; i += FIELDS_PER_COMMAND) multi.hdel(this.key, ...dels.slice(i, i + FIELDS_PER_COMMAND));
    const results = await multi.exec();
    const failed = results === null ? new Error('MULTI aborted') : results.find(([error]) => error !== null)?.[0];
    if (failed) throw failed;
    return 'written';
  }
}

/** Read-only view of a status hash, for the CLI. Values that do not parse are left out. */
export async function readRedisSnapshot<S>(
  redis: Pick<Redis, 'hgetall'>,
  key: string,
  options: SnapshotOptions<S> = {},
): Promise<Map<ObjectKey, S>> {
  const raw = await redis.hgetall(key);
  return decodeHash(raw, options.decode ?? decodeObject<S>, options.onInvalid ?? (() => undefined));
}

function decodeHash<S>(
  raw: Record<string, string>,
  decode: StatusDecoder<S>,
  onInvalid: (field: string, error: unknown) => void,
): Map<ObjectKey, S> {
  const items = new Map<ObjectKey, S>();
  for (const field of Object.keys(raw).sort()) {
    try {
      items.set(field, decode(JSON.parse(raw[field]!)));
    } catch (error) {
      onInvalid(field, error);
    }
  }
  return items;
}

/** Every status is a JSON object; anything else in the hash was not written by us. */
function decodeObject<S>(value: unknown): S {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError('status is not a JSON object');
  return value as S;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  // The loser must not become an unhandled rejection.
  promise.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

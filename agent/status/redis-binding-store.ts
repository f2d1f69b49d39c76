// A fleet's bindings in Redis (YAML or Git store + --redis): one hash of bindings and one of
// Scheduled conditions per fleet, field = Session key. Every binding write is one Lua script that
// compares the stored binding with the one the scheduler decided from and refuses an epoch that
// does not grow, so two schedulers (a deposed leader that has not noticed yet) can never both bind
// one Session. Agents read the hash at start, re-read one field when the script publishes its key,
// and re-read all of it every `refreshMs` (the safety net behind a missed message).
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Condition, ObjectKey, SessionBinding } from '../../crds/types.ts';
import type { BindingStore, BindingWrite, BindResult } from '../../controllers/scheduler/bindings.ts';
import { deepFreeze } from '../sources/yaml/object-meta.ts';

// KEYS: bindings hash, scheduled hash. ARGV: field, expected agent ('' = none), expected epoch
// (0 = none), next binding JSON ('' = delete), next epoch, Scheduled JSON ('' = leave), channel.
// 1: written; 0: the stored binding is not the expected one; -1: the epoch would not grow.
const COMPARE_AND_SET = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
local agent, epoch = '', 0
if current then
  local ok, stored = pcall(cjson.decode, current)
  if ok and type(stored) == 'table' then
    agent = tostring(stored.agent or '')
    epoch = tonumber(stored.epoch) or 0
  end
end
if agent ~= ARGV[2] or epoch ~= tonumber(ARGV[3]) then return 0 end
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  if tonumber(ARGV[5]) <= epoch then return -1 end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[6]) end
redis.call('PUBLISH', ARGV[7], ARGV[1])
return 1
`;

export interface RedisBindingStoreOptions {
  /** Owned by the caller; the subscriber connection is duplicated from it and owned here. */
  redis: Redis;
  /** e.g. `dockerlet:fleet:<fleet>`: the hashes are `<prefix>:bindings` and `<prefix>:scheduled`. */
  prefix: string;
  logger: Logger;
  /** Full re-read interval. Default 5 s. */
  refreshMs?: number;
}

export class RedisBindingStore implements BindingStore {
  private readonly redis: Redis;
  private readonly bindingsKey: string;
  private readonly scheduledKey: string;
  private readonly channel: string;
  private readonly logger: Logger;
  private readonly refreshMs: number;
  private bindings = new Map<ObjectKey, SessionBinding>();
  private conditions = new Map<ObjectKey, Condition>();
  private readonly listeners = new Set<(key: ObjectKey) => void>();
  private subscriber: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The last full read succeeded and nothing failed since. */
  private current = false;

  constructor(options: RedisBindingStoreOptions) {
    this.redis = options.redis;
    this.bindingsKey = `${options.prefix}:bindings`;
    this.scheduledKey = `${options.prefix}:scheduled`;
    this.channel = `${options.prefix}:bindings:changed`;
    this.logger = options.logger.child({ component: 'bindings', redisKey: this.bindingsKey });
    this.refreshMs = options.refreshMs ?? 5_000;
  }

  /** Reads both hashes, subscribes to changes and starts the periodic re-read. */
  async start(): Promise<void> {
    const subscriber = this.redis.duplicate({ enableOfflineQueue: true });
    subscriber.on('message', (channel: string, key: string) => {
      if (channel === this.channel) void this.refreshOne(key);
    });
    // A reconnect may have missed messages: read everything again.
    subscriber.on('ready', () => void this.reload().catch(() => undefined));
    subscriber.on('error', () => undefined);
    this.subscriber = subscriber;
    await subscriber.subscribe(this.channel);
    await this.reload();
    this.timer = setInterval(() => void this.reload().catch(() => undefined), this.refreshMs);
    this.timer.unref();
  }

  async reload(): Promise<void> {
    try {
      const [bindings, scheduled] = await Promise.all([this.redis.hgetall(this.bindingsKey), this.redis.hgetall(this.scheduledKey)]);
      const next = decodeAll(bindings, decodeBinding);
      const changed = new Set<ObjectKey>();
      for (const [key, binding] of next) if (!sameBinding(this.bindings.get(key), binding)) changed.add(key);
      for (const key of this.bindings.keys()) if (!next.has(key)) changed.add(key);
      this.bindings = next;
      this.conditions = decodeAll(scheduled, decodeCondition);
      if (!this.current) this.logger.info({ bindings: next.size }, 'fleet bindings read');
      this.current = true;
      for (const key of changed) this.notify(key);
    } catch (error) {
      if (this.current) this.logger.warn({ err: error }, 'cannot read the fleet bindings; keeping what runs, starting nothing new');
      this.current = false;
      throw error;
    }
  }

  fresh(): boolean {
    return this.current && this.redis.status === 'ready';
  }

  get(key: ObjectKey): SessionBinding | undefined {
    return this.bindings.get(key);
  }

  list(): ReadonlyMap<ObjectKey, SessionBinding> {
    return this.bindings;
  }

  scheduled(key: ObjectKey): Condition | undefined {
    return this.conditions.get(key);
  }

  onChange(listener: (key: ObjectKey) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async bind(write: BindingWrite): Promise<BindResult> {
    const result = await this.compareAndSet(write.key, write.previous, write.next, write.scheduled);
    if (result === 'ok') {
      this.bindings.set(write.key, deepFreeze({ ...write.next }));
      this.conditions.set(write.key, write.scheduled);
      // The agent in this same process learns of it now, not from its own published message
      // (which then finds nothing new).
      this.notify(write.key);
    }
    return result;
  }

  /** Drops the binding of a Session that is gone from the store (compared like a bind). */
  async unbind(key: ObjectKey, previous: SessionBinding): Promise<BindResult> {
    const result = await this.compareAndSet(key, previous, undefined, undefined);
    if (result === 'ok') {
      this.bindings.delete(key);
      this.conditions.delete(key);
      this.notify(key);
    }
    return result;
  }

  async setScheduled(key: ObjectKey, condition: Condition): Promise<BindResult> {
    await this.redis.hset(this.scheduledKey, key, JSON.stringify(condition));
    this.conditions.set(key, condition);
    return 'ok';
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.listeners.clear();
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }

  private async compareAndSet(key: ObjectKey, previous: SessionBinding | undefined, next: SessionBinding | undefined, scheduled: Condition | undefined): Promise<BindResult> {
    const reply = await this.redis.eval(
      COMPARE_AND_SET,
      2,
      this.bindingsKey,
      this.scheduledKey,
      key,
      previous?.agent ?? '',
      String(previous?.epoch ?? 0),
      next ? JSON.stringify(next) : '',
      String(next?.epoch ?? 0),
      scheduled ? JSON.stringify(scheduled) : '',
      this.channel,
    );
    if (reply === 1) return 'ok';
    // Someone else wrote first (or the epoch would go back): read what is there now.
    await this.refreshOne(key);
    return 'conflict';
  }

  private async refreshOne(key: ObjectKey): Promise<void> {
    try {
      const [raw, condition] = await Promise.all([this.redis.hget(this.bindingsKey, key), this.redis.hget(this.scheduledKey, key)]);
      const binding = raw === null ? undefined : decodeOrUndefined(raw, decodeBinding);
      const scheduled = condition === null ? undefined : decodeOrUndefined(condition, decodeCondition);
      if (scheduled) this.conditions.set(key, scheduled);
      else this.conditions.delete(key);
      if (sameBinding(this.bindings.get(key), binding)) return;
      if (binding) this.bindings.set(key, binding);
      else this.bindings.delete(key);
      this.notify(key);
    } catch (error) {
      this.logger.debug({ err: error, key }, 'reading one binding failed; the periodic re-read catches up');
    }
  }

  private notify(key: ObjectKey): void {
    for (const listener of this.listeners) listener(key);
  }
}

function sameBinding(a: SessionBinding | undefined, b: SessionBinding | undefined): boolean {
  return a?.agent === b?.agent && a?.epoch === b?.epoch;
}

function decodeAll<T>(raw: Record<string, string>, decode: (value: unknown) => T): Map<ObjectKey, T> {
  const out = new Map<ObjectKey, T>();
  for (const [key, text] of Object.entries(raw)) {
    const value = decodeOrUndefined(text, decode);
    if (value !== undefined) out.set(key, value);
  }
  return out;
}

function decodeOrUndefined<T>(text: string, decode: (value: unknown) => T): T | undefined {
  try {
    return decode(JSON.parse(text));
  } catch {
    return undefined;
  }
}

export function decodeBinding(value: unknown): SessionBinding {
  const v = value as Partial<SessionBinding> | null;
  if (typeof v?.agent !== 'string' || typeof v.epoch !== 'number' || !(v.epoch >= 1)) throw new TypeError('not a binding');
  return deepFreeze({ agent: v.agent, epoch: v.epoch, ...(typeof v.time === 'string' ? { time: v.time } : {}), ...(typeof v.reason === 'string' ? { reason: v.reason } : {}) });
}

function decodeCondition(value: unknown): Condition {
  const v = value as Partial<Condition> | null;
  if (typeof v?.type !== 'string' || typeof v.status !== 'string') throw new TypeError('not a condition');
  return deepFreeze(v as Condition);
}

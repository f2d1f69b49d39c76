// A lease in Redis: `SET key identity NX PX leaseMs`, renewed and released only by its holder,
// each step one Lua script so it is atomic against every other replica. Keys:
//   <key>               holder identity, expires with the lease
//   <key>:holder-token  the holder's fencing token, same expiry
//   <key>:token         last token handed out, never expires
import type { Redis } from 'ioredis';
import type { LeaseGrant, LeaseHolder, LeaseLock } from '../../reconciler/leader.ts';

export interface RedisLeaseLockOptions {
  /** Owned by the caller, who closes it (several locks and stores may share one connection). */
  redis: Redis;
  /** e.g. `dockerlet:leader:<agent>`. In a Redis Cluster wrap the agent in {braces} so all three keys share a slot. */
  key: string;
}

// Acquire or renew in one step, so a crash can never leave a lease without its token.
// The token is the counter plus one, floored at the server's clock in milliseconds: a Redis that
// lost its data (restarted without persistence, failed over to a replica that missed the last
// INCR) then still hands out tokens greater than any it handed out before, instead of 1 again.
const ACQUIRE_OR_RENEW = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  local token = redis.call('GET', KEYS[3])
  if token then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    redis.call('PEXPIRE', KEYS[3], ARGV[2])
    return tonumber(token)
  end
elseif holder then
  return false
end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local token = math.max(last + 1, now_ms)
local text = string.format('%d', token)
redis.call('SET', KEYS[2], text)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[3], text, 'PX', ARGV[2])
return token
`;

// Publishing in the same script means no standby can miss a release that happened.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  local deleted = redis.call('DEL', KEYS[1], KEYS[3])
  redis.call('PUBLISH', ARGV[2], ARGV[1])
  return deleted
end
return 0
`;

export class RedisLeaseLock implements LeaseLock {
  readonly description: string;
  readonly #redis: Redis;
  readonly #keys: [string, string, string];
  readonly #releasedChannel: string;
  /** A second connection in subscriber mode, opened on the first onReleased. */
  #subscriber: Redis | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(options: RedisLeaseLockOptions) {
    if (options.key === '') throw new Error('redis lease key must not be empty');
    this.#redis = options.redis;
    this.#keys = [options.key, `${options.key}:token`, `${options.key}:holder-token`];
    this.description = `redis lease ${options.key}`;
    this.#releasedChannel = `${options.key}:released`;
  }

  /** The key holding the current holder's token: what fenced status writes compare with (redis-fenced-write.ts). */
  get holderTokenKey(): string {
    return this.#keys[2];
  }

  async tryAcquireOrRenew(identity: string, leaseDurationMs: number): Promise<LeaseGrant | undefined> {
    if (!Number.isInteger(leaseDurationMs) || leaseDurationMs <= 0) throw new RangeError(`lease duration must be a positive integer of ms, got ${leaseDurationMs}`);
    const reply = await this.#redis.eval(ACQUIRE_OR_RENEW, 3, ...this.#keys, identity, String(leaseDurationMs));
    if (reply === null) return undefined;
    return { token: toToken(reply) };
  }

  async release(identity: string): Promise<void> {
    await this.#redis.eval(RELEASE, 3, ...this.#keys, identity, this.#releasedChannel);
  }

  onReleased(listener: () => void): () => void {
    this.#listeners.add(listener);
    if (!this.#subscriber) {
      // Subscriber mode needs its own connection; it may queue until connected (unlike the lease
      // commands), and ioredis re-subscribes after a reconnect.
      const subscriber = this.#redis.duplicate({ enableOfflineQueue: true });
      subscriber.on('message', (channel: string) => {
        if (channel === this.#releasedChannel) for (const notify of this.#listeners) notify();
      });
      // Errors are the main connection's to report; a missed hint only costs one retry period.
      subscriber.on('error', () => undefined);
      subscriber.subscribe(this.#releasedChannel).catch(() => undefined);
      this.#subscriber = subscriber;
    }
    return () => this.#listeners.delete(listener);
  }

  async holder(): Promise<LeaseHolder | undefined> {
    const [identity, token] = await this.#redis.mget(this.#keys[0], this.#keys[2]);
    if (identity === null || identity === undefined) return undefined;
    return token === null || token === undefined ? { identity } : { identity, token: toToken(token) };
  }

  /** The main connection belongs to the caller; only the subscriber connection is ours. */
  async close(): Promise<void> {
    this.#listeners.clear();
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
  }
}

function toToken(reply: unknown): number {
  const token = typeof reply === 'number' ? reply : typeof reply === 'string' ? Number(reply) : Number.NaN;
  if (!Number.isSafeInteger(token) || token <= 0) throw new Error(`redis lease: unexpected token reply ${String(reply)}`);
  return token;
}

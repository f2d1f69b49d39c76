// The Redis side of the failover scenario: fail fast when nobody answers (an agent would wait for
// Redis forever, quietly), and remove what the replicas left there, as the engine side removes
// containers.
import { Redis } from 'ioredis';
import { REDIS_KEYS } from '../../agent/state-layout.ts';

function connect(url: string): Redis {
  // No retries and no offline queue: a benchmark wants "not there" now, not a reconnect loop.
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  // Failures reach the caller through the commands' rejections; without a listener ioredis would
  // also print each one as an "Unhandled error event".
  redis.on('error', () => undefined);
  return redis;
}

export async function requireRedis(url: string): Promise<void> {
  const redis = connect(url);
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`no Redis answers on ${url}: run \`bash hack/test-env up\` (or pass --redis)`, { cause: error });
  } finally {
    redis.disconnect();
  }
}

/**
 * Deletes the agent's keys (status, lease, fencing token, replicas: all under
 * `dockerlet:<agent>:`) and its record in the shared agents hash. The agent name is unique to one
 * run, so the pattern matches nothing of anyone else's.
 */
export async function forgetAgent(url: string, agentName: string): Promise<void> {
  const redis = connect(url);
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `dockerlet:${agentName}:*`, 'COUNT', 100);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await redis.hdel(REDIS_KEYS.agents, agentName);
  } finally {
    redis.disconnect();
  }
}

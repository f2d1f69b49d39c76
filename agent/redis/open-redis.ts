// The Redis connection an agent (or `dockerlet get --redis`) opens from its configuration.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConfig } from '../config.ts';

/**
 * A client for `config`. ioredis is loaded here, on first use, not with the agent: an agent without
 * --redis (the default) never needs it, and loading it costs every such agent ~7 MB of RSS.
 */
export async function openRedis(config: RedisConfig, logger: Logger): Promise<Redis> {
  const { createRedisClient } = await import('./redis-client.ts');
  return createRedisClient(config.url, {
    ...(config.password ? { password: config.password } : {}),
    tls: config.tls,
    ...(config.sentinels.length > 0 ? { sentinels: config.sentinels } : {}),
    ...(config.sentinelName ? { sentinelName: config.sentinelName } : {}),
    logger,
  });
}

/**
 * Resolves once the client is connected. Commands fail fast while it is not (no offline queue:
 * a lease renewal must fail now, not run late), so start-up waits here, saying so once.
 */
export async function redisReady(redis: Redis, logger: Logger): Promise<void> {
  if (redis.status === 'ready') return;
  logger.info('waiting for Redis');
  await new Promise<void>((resolve, reject) => {
    const onReady = (): void => {
      redis.off('end', onEnd);
      resolve();
    };
    const onEnd = (): void => {
      redis.off('ready', onReady);
      reject(new Error('Redis connection closed before it was ready'));
    };
    redis.once('ready', onReady);
    redis.once('end', onEnd);
  });
}

import { describe, expect, it } from 'vitest';
import { parseRedisUrl, redisOptions } from './redis-client.ts';

describe('redisOptions', () => {
  it('fails fast: no offline queue, one retry, reconnects capped at 2 s', () => {
    const options = redisOptions('redis://127.0.0.1:6390', {});
    expect(options).toMatchObject({ host: '127.0.0.1', port: 6390, db: 0, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    expect(options.retryStrategy?.(1)).toBe(200);
    expect(options.retryStrategy?.(100)).toBe(2_000);
    expect(options.tls).toBeUndefined();
  });

  it('takes user, password, db and TLS from the URL; explicit options win', () => {
    expect(redisOptions('rediss://me:s%40cret@redis.example:6380/2', {})).toMatchObject({
      host: 'redis.example',
      port: 6380,
      db: 2,
      username: 'me',
      password: 's@cret',
      tls: {},
    });
    expect(redisOptions('redis://:a@h', { password: 'b', tls: true })).toMatchObject({ password: 'b', tls: {}, port: 6379 });
  });

  it('passes sentinels, the master name and TLS through', () => {
    const options = redisOptions('redis://:pw@ignored/1', { sentinels: ['s1:26379', '[::1]:26380'], sentinelName: 'mymaster', tls: true });
    expect(options).toMatchObject({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'mymaster',
      password: 'pw',
      sentinelPassword: 'pw',
      db: 1,
      enableTLSForSentinelMode: true,
    });
    expect(options).not.toHaveProperty('host');
    expect(() => redisOptions('redis://h', { sentinels: ['s1:26379'] })).toThrow(/sentinelName/);
    expect(() => redisOptions('redis://h', { sentinels: ['s1'], sentinelName: 'm' })).toThrow(/host:port/);
  });

  it('rejects what is not a redis URL', () => {
    expect(() => parseRedisUrl('http://h')).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => parseRedisUrl('nonsense')).toThrow(/invalid URL/);
    expect(() => parseRedisUrl('redis://h/x')).toThrow(/database/);
  });
});

// Which replicas of this agent are alive, for the Agent record's `replicas`. Every replica
// announces itself each heartbeat interval (leader and standby alike); the leader reports the ones
// seen within the grace period. Peers are found through the shared backend, never through DNS.
import { mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Clock } from '../../reconciler/clock.ts';

export interface ReplicaRegistry {
  announce(): Promise<void>;
  /** Identities announced within the grace period, sorted. */
  seen(): Promise<string[]>;
}

/** One replica, nothing shared: it sees only itself. */
export function soloReplica(identity: string): ReplicaRegistry {
  return { announce: async () => {}, seen: async () => [identity] };
}

/** Redis: a sorted set scored by the last announcement (ms), trimmed as it is read. */
export function redisReplicas(redis: Redis, key: string, identity: string, graceMs: number, clock: Clock): ReplicaRegistry {
  return {
    announce: async () => {
      await redis.zadd(key, clock.now(), identity);
    },
    seen: async () => {
      const cutoff = clock.now() - graceMs;
      await redis.zremrangebyscore(key, '-inf', `(${cutoff}`);
      return (await redis.zrangebyscore(key, cutoff, '+inf')).sort();
    },
  };
}

/** Replicas on one host sharing the lock directory: one file per replica, its mtime the announcement. */
export function fileReplicas(dir: string, identity: string, graceMs: number, clock: Clock): ReplicaRegistry {
  const replicasDir = join(dir, 'replicas');
  return {
    announce: async () => {
      await mkdir(replicasDir, { recursive: true, mode: 0o700 });
      const file = join(replicasDir, identity);
      const now = new Date(clock.now());
      await writeFile(file, '', { flag: 'a' });
      await utimes(file, now, now);
    },
    seen: async () => {
      const cutoff = clock.now() - graceMs;
      const names = await readdir(replicasDir).catch(() => [] as string[]);
      const mtimes = await Promise.all(names.map(async (name) => (await stat(join(replicasDir, name)).catch(() => undefined))?.mtimeMs ?? 0));
      // Every restart is a new identity: forget the long gone, so the directory does not grow.
      const forgotten = clock.now() - 10 * graceMs;
      await Promise.all(names.map((name, i) => ((mtimes[i] ?? 0) < forgotten ? rm(join(replicasDir, name), { force: true }) : undefined)));
      return names.filter((_, i) => (mtimes[i] ?? 0) >= cutoff).sort();
    },
  };
}

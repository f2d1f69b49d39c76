// An ioredis client set up for leases: fail now rather than later. During an outage a command
// must fail at once (the elector retries on its own schedule), never sit in a queue and run 30 s
// later, renewing a lease this replica has already given up.
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

export interface RedisClientOptions {
  /** Overrides a password in the URL. */
  password?: string;
  /** TLS to Redis (and to the sentinels); also on for a `rediss://` URL. */
  tls?: boolean;
  /** Sentinel addresses, `host:port`; the URL's host is then ignored, its password and db kept. */
  sentinels?: string[];
  /** Name of the monitored master; required with `sentinels`. */
  sentinelName?: string;
  logger: Logger;
}

/** Reconnect quickly at first, then every 2 s: an elector retries every retryPeriod (2 s by default). */
export const RECONNECT_CAP_MS = 2_000;

export function createRedisClient(url: string, options: RedisClientOptions): Redis {
  const client = new Redis(redisOptions(url, options));
  watchConnection(client, options.logger.child({ redis: redactedTarget(url, options) }));
  return client;
}

/** The ioredis options, separate from the client so they can be checked without a server. */
export function redisOptions(url: string, options: Omit<RedisClientOptions, 'logger'>): RedisOptions {
  const parsed = parseRedisUrl(url);
  const tls = options.tls ?? parsed.tls;
  const password = options.password ?? parsed.password;
  const common: RedisOptions = {
    // One retry over one reconnect, then the command fails; the elector has its own retries.
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (attempt) => Math.min(attempt * 200, RECONNECT_CAP_MS),
    // A connection attempt to an unreachable host must not stall reconnecting for 10 s.
    connectTimeout: 5_000,
    connectionName: 'dockerlet',
    db: parsed.db,
    ...(parsed.username !== undefined ? { username: parsed.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(tls ? { tls: {} } : {}),
  };
  if (options.sentinels === undefined || options.sentinels.length === 0) {
    return { ...common, host: parsed.host, port: parsed.port };
  }
  if (options.sentinelName === undefined || options.sentinelName === '') {
    throw new Error('redis: sentinels given without sentinelName (the name of the monitored master)');
  }
  return {
    ...common,
    sentinels: options.sentinels.map(parseHostPort),
    name: options.sentinelName,
    ...(password !== undefined ? { sentinelPassword: password } : {}),
    ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    sentinelRetryStrategy: (attempt) => Math.min(attempt * 200, RECONNECT_CAP_MS),
  };
}

interface ParsedUrl {
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username?: string;
  password?: string;
}

export function parseRedisUrl(url: string): ParsedUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`redis: invalid URL ${JSON.stringify(url)}; expected redis://[user:password@]host[:port][/db]`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`redis: URL scheme must be redis:// or rediss://, got ${parsed.protocol}//`);
  }
  const dbText = parsed.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new Error(`redis: bad database number ${JSON.stringify(dbText)} in URL`);
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    db,
    tls: parsed.protocol === 'rediss:',
    ...(parsed.username !== '' ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password !== '' ? { password: decodeURIComponent(parsed.password) } : {}),
  };
}

function parseHostPort(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (match === null) throw new Error(`redis: sentinel address must be host:port, got ${JSON.stringify(address)}`);
  return { host: match[1]!, port: Number(match[2]) };
}

/** For logs: where we connect, never the password. */
function redactedTarget(url: string, options: Omit<RedisClientOptions, 'logger'>): string {
  if (options.sentinels !== undefined && options.sentinels.length > 0) return `sentinel ${options.sentinelName ?? '?'} via ${options.sentinels.join(',')}`;
  const { host, port, db } = parseRedisUrl(url);
  return `${host}:${port}/${db}`;
}

/**
 * One warning when the connection goes, one line when it is back: during an outage ioredis emits
 * an error on every reconnect attempt (every 2 s), and the elector already logs what it means.
 * Listening also stops ioredis from printing "Unhandled error event" to stderr.
 */
function watchConnection(client: Redis, log: Logger): void {
  let down = false;
  let everReady = false;
  client.on('error', (error: Error) => {
    if (down) return;
    down = true;
    log.warn({ err: error }, everReady ? 'redis connection lost; reconnecting' : 'cannot connect to redis; retrying');
  });
  client.on('ready', () => {
    if (down) log.info('redis connection back');
    else if (!everReady) log.debug('redis connected');
    down = false;
    everReady = true;
  });
  client.on('close', () => {
    // A close without an error (server shutdown) is an outage too; the next error is not news.
    if (everReady && !down && client.status !== 'end') {
      down = true;
      log.warn('redis connection closed; reconnecting');
    }
  });
}

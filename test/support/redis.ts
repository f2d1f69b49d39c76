// Redis for integration tests: the shared instance `hack/test-env up` starts on 127.0.0.1:6390,
// and private redis-servers on free ports for tests that stop and start Redis (outages), which
// must not disturb anyone else.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './docker.ts';

/** Same default as hack/test-env. */
export const TEST_REDIS_URL = process.env['DOCKERLET_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6390';

const HOW_TO_START = 'run `bash hack/test-env up` first (it starts the shared test Redis on 127.0.0.1:6390)';

let ready: Promise<void> | undefined;

/**
 * Fails (never skips) when the shared test Redis does not answer, with the command that fixes it.
 * Checked once per file; call it in `beforeEach` so a missing Redis shows as failed tests.
 */
export function requireTestRedis(): Promise<void> {
  ready ??= (async () => {
    const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3_000 });
    redis.on('error', () => {}); // reported through connect() below
    try {
      await redis.connect();
      const pong = await redis.ping();
      if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
    } catch (error) {
      throw new Error(`no Redis answers on ${TEST_REDIS_URL}: ${HOW_TO_START}`, { cause: error });
    } finally {
      redis.disconnect();
    }
  })();
  return ready;
}

/** Deletes every key starting with `prefix` (SCAN, never KEYS: the instance is shared). */
export async function flushPrefix(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  if (prefix === '') throw new Error('flushPrefix: refusing an empty prefix');
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

export interface PrivateRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, as a shutdown would) and waits until it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data directory; waits for PING. */
  start(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers (a hung server, a blackholed network). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Stops it for good and removes its data. */
  dispose(): Promise<void>;
}

/**
 * A redis-server of our own on a free loopback port. It keeps an append-only file, like a
 * production Redis that must not lose its token counter across a restart.
 */
// A test run that dies must not leave servers behind: kill what is still running on exit.
const livePrivateServers = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of livePrivateServers) child.kill('SIGKILL');
});

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'dockerlet-redis-'));
  let child: ChildProcess | undefined;
  let output = '';
  const start = async (): Promise<void> => {
    if (child !== undefined) return;
    output = '';
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--daemonize', 'no'];
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    started.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    started.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    const spawnError = new Promise<never>((_, reject) =>
      started.once('error', (error) => reject(new Error(`cannot run redis-server (install it or run bash hack/test-env up): ${error.message}`))),
    );
    child = started;
    livePrivateServers.add(started);
    started.once('exit', () => {
      livePrivateServers.delete(started);
      if (child === started) child = undefined;
    });
    await Promise.race([waitForPing(port, 10_000, () => output), spawnError]);
  };
  const stop = async (): Promise<void> => {
    const running = child;
    if (running === undefined || running.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    async dispose() {
      child?.kill('SIGCONT');
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPing(port: number, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ping(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms; output:\n${output()}`);
}

/** One PING over a raw socket: true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

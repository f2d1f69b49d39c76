// Helpers for tests that run against the real engine started by `hack/test-env up`.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';

/** Built by hack/images/build-busybox.sh from Debian's busybox-static; no registry involved. */
export const TEST_IMAGE = 'dockerlet-test/busybox:latest';

/** Same override as hack/test-env, so both talk to the same engine. */
export const TEST_DOCKER_SOCKET = process.env['DOCKERLET_DOCKER_SOCKET'] ?? '/var/run/docker.sock';

const HOW_TO_START = 'run `bash hack/test-env up` first (it starts a Docker engine and builds the test images)';

/**
 * Runs the docker CLI on the test engine (or the engine on `socket`, e.g. a simulated host's);
 * resolves to stdout without the trailing newline.
 */
export function dockerCli(args: string[], options: { timeoutMs?: number; env?: Record<string, string>; socket?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'docker',
      ['--host', `unix://${options.socket ?? TEST_DOCKER_SOCKET}`, ...args],
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, ...(options.env ? { env: { ...process.env, ...options.env } } : {}) },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`docker ${args.join(' ')} failed: ${stderr.trim() || error.message}`, { cause: error }));
          return;
        }
        resolve(stdout.trimEnd());
      },
    );
  });
}

/**
 * Fails (never skips) when the engine or the test image is missing, with the command that fixes
 * it: an integration suite that silently skips proves nothing.
 */
export async function requireTestEngine(): Promise<void> {
  try {
    await dockerCli(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 });
  } catch (error) {
    throw new Error(`no Docker engine answers on ${TEST_DOCKER_SOCKET}: ${HOW_TO_START}`, { cause: error });
  }
  try {
    await dockerCli(['image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE], { timeoutMs: 10_000 });
  } catch (error) {
    throw new Error(`test image ${TEST_IMAGE} is missing: ${HOW_TO_START}`, { cause: error });
  }
}

let engineReady: Promise<void> | undefined;

/**
 * requireTestEngine, checked once per test file and then remembered. Use it in `beforeEach`, not
 * `beforeAll`: when beforeAll fails vitest reports the tests as skipped, and a missing engine
 * must show as failed tests.
 */
export function testEngineReady(): Promise<void> {
  engineReady ??= requireTestEngine();
  return engineReady;
}

/** Force-removes every container carrying `label` ("key=value" or "key"), with its anonymous volumes. */
export async function removeContainersByLabel(label: string): Promise<void> {
  const ids = (await dockerCli(['ps', '--all', '--quiet', '--filter', `label=${label}`])).split('\n').filter(Boolean);
  if (ids.length > 0) await dockerCli(['rm', '--force', '--volumes', ...ids]);
}

/** A label value unique to this test run, so parallel or leftover runs never see each other. */
export function uniqueRunId(prefix = 'dockerlet-test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A TCP port that is free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

// External tools as a user runs them (docker-compose, the docker CLI for Swarm), each on the
// engine's unix socket whatever DOCKER_HOST says. A failure carries the tool's last lines.
import { spawn } from 'node:child_process';
import { DOCKER_SOCKET } from './engine.ts';

const KEPT_CHARS = 4_000;

export class CommandFailedError extends Error {
  override readonly name = 'CommandFailedError';
}

export interface CommandOptions {
  cwd?: string;
  /** Added to this process's environment. */
  env?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Runs `command args…`; resolves with its stdout, rejects (with its output) on a non-zero exit. */
export function run(command: string, args: readonly string[], options: CommandOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, DOCKER_HOST: `unix://${DOCKER_SOCKET}`, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: options.signal,
      timeout: options.timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    // Compose reports progress on stderr: keep only the tail, enough to explain a failure.
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-KEPT_CHARS)));
    child.once('error', (error) => reject(new CommandFailedError(`${command} ${args.join(' ')}: ${error.message}`, { cause: error })));
    child.once('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new CommandFailedError(`${command} ${args.slice(0, 4).join(' ')}… failed (${signal ?? `exit code ${code}`}):\n${stderr.trim() || stdout.slice(-KEPT_CHARS)}`));
    });
  });
}

/** The docker CLI, pinned to our socket. */
export function dockerCli(args: readonly string[], options: CommandOptions = {}): Promise<string> {
  return run('docker', ['--host', `unix://${DOCKER_SOCKET}`, ...args], options);
}

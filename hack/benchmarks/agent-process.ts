// The dockerlet agent as a user runs it (`node bin/dockerlet.js agent ...`), as a child process the
// benchmark can time, probe, scrape and stop. Its output is kept (the last lines in memory, all of
// it in a file on request) so a failed start can be explained.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DOCKER_SOCKET, sleep } from './engine.ts';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(REPO, 'bin/dockerlet.js');
const KEPT_LINES = 40;

export interface AgentProcessOptions {
  storeDir: string;
  stateDir: string;
  agentName: string;
  workers: number;
  logLevel: string;
  /** Everything the agent prints goes here too. */
  logFile?: string;
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir', DIR]. */
  nodeFlags?: string[];
  /** Extra `dockerlet agent` flags, e.g. ['--leader-election', 'redis']. */
  agentArgs?: string[];
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

export class AgentFailedError extends Error {
  override readonly name = 'AgentFailedError';
  constructor(message: string, readonly lastLines: string[]) {
    super(`${message}\n--- last agent output ---\n${lastLines.join('\n') || '(none)'}`);
  }
}

/** A TCP port free on 127.0.0.1 right now (the agent binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolvePort(port) : reject(new Error('no free port'))));
    });
  });
}

export class AgentProcess {
  /** performance.now() just before spawn: the start of "spawn → all running". */
  readonly spawnedAt: number;
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private readonly logStream: WriteStream | undefined;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private hasExited = false;
  /** performance.now() of the exit event, once it came. */
  private exitedAt = Number.NaN;
  private exitDescription = '';

  private constructor(options: AgentProcessOptions, readonly port: number) {
    const args = [
      ...(options.nodeFlags ?? []),
      BIN,
      'agent',
      '--store', options.storeDir,
      '--state-dir', options.stateDir,
      '--agent-name', options.agentName,
      '--docker-socket', DOCKER_SOCKET,
      '--listen', `127.0.0.1:${port}`,
      '--log-format', 'json',
      '--log-level', options.logLevel,
      '--workers', String(options.workers),
      ...(options.agentArgs ?? []),
    ];
    this.logStream = options.logFile ? createWriteStream(options.logFile) : undefined;
    this.spawnedAt = performance.now();
    this.child = spawn(process.execPath, args, { cwd: REPO, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolveExit) => {
      this.child.once('exit', (code, signal) => {
        this.exitedAt = performance.now();
        this.hasExited = true;
        this.exitDescription = signal ? `killed by ${signal}` : `exit code ${code}`;
        resolveExit({ code, signal });
      });
    });
    this.keep(this.child.stdout);
    this.keep(this.child.stderr);
  }

  static async start(options: AgentProcessOptions): Promise<AgentProcess> {
    return new AgentProcess(options, await freePort());
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.hasExited;
  }

  /**
   * Sends `signal` now, without waiting (a benchmark times what follows the signal). `waitExit`
   * tells when the process was gone.
   */
  signal(signal: NodeJS.Signals): void {
    if (!this.hasExited) this.child.kill(signal);
  }

  /** Resolves with the exit and its moment (performance.now()); rejects after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AgentFailedError(`the agent did not exit within ${timeoutMs} ms`, this.lastLines())), timeoutMs);
    });
    try {
      const result = await Promise.race([this.exited, timeout]);
      return { ...result, at: this.exitedAt };
    } finally {
      clearTimeout(timer);
    }
  }

  lastLines(): string[] {
    return [...this.lines];
  }

  /** Polls /readyz until it answers 200; returns when that answer arrived (performance.now()). */
  async waitReady(deadline: number, signal: AbortSignal, intervalMs = 20): Promise<number> {
    for (;;) {
      signal.throwIfAborted();
      if (this.hasExited) throw new AgentFailedError(`the agent exited before it was ready (${this.exitDescription})`, this.lastLines());
      try {
        const response = await fetch(`http://127.0.0.1:${this.port}/readyz`, { signal: AbortSignal.timeout(2_000) });
        const answeredAt = performance.now();
        await response.text();
        if (response.status === 200) return answeredAt;
      } catch {
        // Not listening yet.
      }
      if (performance.now() > deadline) throw new AgentFailedError('the agent was not ready before the deadline', this.lastLines());
      await sleep(intervalMs);
    }
  }

  /** Throws with the agent's last lines if it has exited (call while waiting for convergence). */
  assertAlive(): void {
    if (this.hasExited) throw new AgentFailedError(`the agent exited while converging (${this.exitDescription})`, this.lastLines());
  }

  /** The Prometheus text of /metrics. */
  async metrics(): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.port}/metrics`, { signal: AbortSignal.timeout(5_000) });
    return response.text();
  }

  /**
   * SIGTERM, then SIGKILL if it has not exited after `graceMs`. Containers keep running (by
   * design); the caller removes them only after this resolves, or the agent would recreate them.
   */
  async stop(graceMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
    let killed = false;
    if (!this.hasExited) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        killed = true;
        this.child.kill('SIGKILL');
      }, graceMs);
      try {
        await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    const result = await this.exited;
    await new Promise<void>((done) => (this.logStream ? this.logStream.end(done) : done()));
    return { ...result, killed };
  }

  private keep(stream: Readable | null): void {
    if (!stream) return;
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.logStream?.write(chunk);
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.trim() !== '') this.remember(line);
    });
    stream.on('end', () => {
      if (partial.trim() !== '') this.remember(partial);
      partial = '';
    });
  }

  private remember(line: string): void {
    this.lines.push(line);
    if (this.lines.length > KEPT_LINES) this.lines.shift();
  }
}

/** Sums of `dockerlet_docker_api_requests_total` by op (successes and errors together). */
export function engineCallsByOp(metricsText: string): Record<string, number> {
  const calls: Record<string, number> = {};
  const pattern = /^dockerlet_docker_api_requests_total\{([^}]*)\}\s+([0-9.eE+-]+)$/gm;
  for (const match of metricsText.matchAll(pattern)) {
    const op = /op="([^"]*)"/.exec(match[1] ?? '')?.[1] ?? '?';
    calls[op] = (calls[op] ?? 0) + Number(match[2]);
  }
  return calls;
}

/** Sum of a counter's samples across labels, e.g. dockerlet_reconcile_total. */
export function counterTotal(metricsText: string, name: string): number {
  let total = 0;
  const pattern = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.eE+-]+)$`, 'gm');
  for (const match of metricsText.matchAll(pattern)) total += Number(match[1]);
  return total;
}

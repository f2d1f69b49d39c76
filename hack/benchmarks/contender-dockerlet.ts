// dockerlet as a user runs it: `dockerlet agent` (a child process, --workers = the floor's
// concurrency) started on a store that already holds N Session files. Up is timed from the
// spawn, so the agent's own start-up (node + tsx compiling) is inside the number; teardown is
// deleting every file (with --prune-empty-store, since an empty store otherwise removes nothing).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { AgentProcess } from './agent-process.ts';
import { agentCounters } from './metrics-text.ts';
import type { Contender } from './contender.ts';
import { removeByLabel } from './engine.ts';
import { deleteSessions, writeSessions } from './session-files.ts';

export interface DockerletContenderOptions {
  sessions: number;
  workers: number;
  logLevel: string;
  /** Keep the agent's output in this directory, as <agent-name>.log. */
  logDir?: string;
  /** Run the agent under node --cpu-prof; the profile lands here. */
  cpuProfDir?: string;
  timeoutMs: number;
}

export class DockerletContender implements Contender {
  readonly name = 'dockerlet' as const;
  readonly label: string;
  /** Agent spawn → its first /readyz 200, once up() resolved. */
  spawnToReadyMs = Number.NaN;
  /** The agent's engine calls by op and its reconciles, when all N ran. */
  engineCalls: Record<string, number> = {};
  reconciles = Number.NaN;
  /** The agent's CPU seconds (all threads) from spawn until all N ran. */
  cpuSeconds = Number.NaN;
  private agent: AgentProcess | undefined;
  private root = '';

  constructor(
    private readonly docker: Docker,
    private readonly agentName: string,
    private readonly options: DockerletContenderOptions,
  ) {
    this.label = `dockerlet.dev/agent=${agentName}`;
  }

  private get storeDir(): string {
    return join(this.root, 'store');
  }

  async prepare(): Promise<void> {
    this.root = await mkdtemp(join(tmpdir(), 'dockerlet-bench-'));
    await mkdir(this.storeDir);
    // Its own namespace too: container names never meet another run's.
    await writeSessions(this.storeDir, this.options.sessions, this.agentName);
  }

  async up(signal: AbortSignal): Promise<void> {
    this.agent = await AgentProcess.start({
      storeDir: this.storeDir,
      stateDir: join(this.root, 'state'),
      agentName: this.agentName,
      workers: this.options.workers,
      logLevel: this.options.logLevel,
      agentArgs: ['--prune-empty-store'],
      ...(this.options.logDir ? { logFile: join(this.options.logDir, `${this.agentName}.log`) } : {}),
      ...(this.options.cpuProfDir ? { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', this.options.cpuProfDir] } : {}),
    });
    const readyAt = await this.agent.waitReady(this.agent.spawnedAt + this.options.timeoutMs, signal);
    this.spawnToReadyMs = readyAt - this.agent.spawnedAt;
  }

  async afterUp(): Promise<void> {
    const counters = agentCounters(await this.agent!.metrics());
    this.engineCalls = counters.calls;
    this.reconciles = counters.reconciles;
    this.cpuSeconds = counters.cpuSeconds;
  }

  async down(): Promise<void> {
    await deleteSessions(this.storeDir);
  }

  check(): void {
    this.agent?.assertAlive();
  }

  async dispose(): Promise<void> {
    // Stop first: a live agent would recreate what we remove.
    await this.agent?.stop();
    await removeByLabel(this.docker, this.label);
    if (this.root) await rm(this.root, { recursive: true, force: true });
  }
}

// N Sessions running under one dockerlet agent: the steady state that the resync, drift, restart
// and footprint scenarios measure. The agent can be replaced (SIGTERM, then a new one on the same
// store and state dir, with other flags) while the containers keep running, as in production.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { STATE_FILES } from '../../agent/state-layout.ts';
import type { SessionStatus } from '../../crds/types.ts';
import { AgentFailedError, AgentProcess } from './agent-process.ts';
import { deferCleanup, interruptSignal } from './cleanup.ts';
import { removeByLabel, sleep, waitAllRunning } from './engine.ts';
import { sampleSum } from './metrics-text.ts';
import { writeSessions } from './session-files.ts';

export interface FleetOptions {
  sessions: number;
  workers: number;
  logLevel: string;
  pollMs: number;
  timeoutMs: number;
  agentLogDir?: string;
  /** Run every agent under node --cpu-prof; profiles land here. */
  cpuProfDir?: string;
}

export interface AgentFlags {
  /** Extra `dockerlet agent` flags; none means the defaults (resync period 60 s). */
  args?: string[];
  logLevel?: string;
  /** Everything the agent prints also goes here. */
  logFile?: string;
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

export class Fleet {
  readonly agentName: string;
  /** "key=value" on every container of this fleet. */
  readonly label: string;
  private agentProcess: AgentProcess | undefined;
  private agentCount = 0;
  private release: (() => Promise<void>) | undefined;

  private constructor(
    private readonly docker: Docker,
    readonly options: FleetOptions,
    private readonly root: string,
  ) {
    this.agentName = `bench-${randomBytes(3).toString('hex')}`;
    this.label = `dockerlet.dev/agent=${this.agentName}`;
  }

  get sessions(): number {
    return this.options.sessions;
  }

  get storeDir(): string {
    return join(this.root, 'store');
  }

  get stateDir(): string {
    return join(this.root, 'state');
  }

  get agent(): AgentProcess {
    if (!this.agentProcess) throw new Error('the fleet has no agent running');
    return this.agentProcess;
  }

  /** Writes N Sessions, starts an agent with default flags, waits until all run and it is quiet. */
  static async start(docker: Docker, options: FleetOptions): Promise<Fleet> {
    const root = await mkdtemp(join(tmpdir(), 'dockerlet-bench-fleet-'));
    const fleet = new Fleet(docker, options, root);
    fleet.release = deferCleanup(`fleet ${fleet.agentName}`, () => fleet.dispose());
    try {
      await mkdir(fleet.storeDir);
      await writeSessions(fleet.storeDir, options.sessions, fleet.agentName);
      const started = performance.now();
      const agent = await fleet.startAgent({});
      await Promise.all([
        agent.waitReady(started + options.timeoutMs, interruptSignal),
        waitAllRunning(docker, fleet.label, options.sessions, {
          intervalMs: Math.max(options.pollMs, 250),
          deadline: started + options.timeoutMs,
          signal: interruptSignal,
          onTick: () => agent.assertAlive(),
        }),
      ]);
      await fleet.waitQuiet();
      log(`fleet ${fleet.agentName}: ${options.sessions} sessions running after ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return fleet;
    } catch (error) {
      await fleet.close();
      throw error;
    }
  }

  /** Spawns an agent on this fleet's store and state dir (no waiting). */
  async startAgent(flags: AgentFlags): Promise<AgentProcess> {
    if (this.agentProcess?.alive) throw new Error('an agent of this fleet is still running');
    this.agentCount += 1;
    const logFile = flags.logFile ?? (this.options.agentLogDir ? join(this.options.agentLogDir, `${this.agentName}-${this.agentCount}.log`) : undefined);
    this.agentProcess = await AgentProcess.start({
      storeDir: this.storeDir,
      stateDir: this.stateDir,
      agentName: this.agentName,
      workers: this.options.workers,
      logLevel: flags.logLevel ?? this.options.logLevel,
      ...(flags.args ? { agentArgs: flags.args } : {}),
      ...(logFile ? { logFile } : {}),
      ...(this.options.cpuProfDir ? { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', this.options.cpuProfDir] } : {}),
    });
    return this.agentProcess;
  }

  /** SIGTERM the agent and wait for its exit; containers keep running. Returns how long it took. */
  async stopAgent(): Promise<number> {
    const agent = this.agentProcess;
    if (!agent) return 0;
    const started = performance.now();
    const exit = await agent.stop();
    if (exit.killed) log(`fleet ${this.agentName}: the agent ignored SIGTERM and was killed`);
    return performance.now() - started;
  }

  /** Replaces the agent by one with `flags`, waits until it is ready and quiet. */
  async replaceAgent(flags: AgentFlags): Promise<AgentProcess> {
    await this.stopAgent();
    const agent = await this.startAgent(flags);
    await agent.waitReady(agent.spawnedAt + this.options.timeoutMs, interruptSignal);
    await this.waitQuiet();
    return agent;
  }

  /**
   * Until the agent has nothing to do: queue empty and no reconcile for two scrapes 500 ms apart.
   * Scrapes cost the agent a little CPU, so this is for settling, never inside a measurement.
   */
  async waitQuiet(): Promise<void> {
    const deadline = performance.now() + this.options.timeoutMs;
    let previous = Number.NaN;
    for (;;) {
      interruptSignal.throwIfAborted();
      this.agent.assertAlive();
      const text = await this.agent.metrics();
      const reconciles = sampleSum(text, 'dockerlet_reconcile_total', { controller: 'session' });
      const depth = sampleSum(text, 'dockerlet_workqueue_depth', { name: 'session' });
      if (depth === 0 && reconciles === previous) return;
      previous = reconciles;
      if (performance.now() > deadline) throw new AgentFailedError('the agent did not settle before the deadline', this.agent.lastLines());
      await sleep(500);
    }
  }

  /** IDs of the fleet's containers, in any state. */
  async containerIds(): Promise<Set<string>> {
    const containers = await this.docker.listContainers({ all: true, filters: { label: [this.label] } });
    return new Set(containers.map((c) => c.Id));
  }

  /** How many Sessions the state dir's status file shows with Ready=True. */
  async readyInStatusFile(): Promise<number> {
    const text = await readFile(join(this.stateDir, STATE_FILES.sessions), 'utf8');
    const items = (JSON.parse(text) as { items: Record<string, SessionStatus> }).items;
    return Object.values(items).filter((s) => s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  }

  /** Stops the agent, removes every container and the files. Idempotent. */
  async close(): Promise<void> {
    const release = this.release;
    this.release = undefined;
    if (release) await release();
    else await this.dispose();
  }

  private async dispose(): Promise<void> {
    await this.stopAgent();
    this.agentProcess = undefined;
    await removeByLabel(this.docker, this.label, this.options.workers);
    await rm(this.root, { recursive: true, force: true });
  }
}

// Replicas of one agent: the same --agent-name, --store and --state-dir (the file backend's lock
// dir defaults to the state dir), each its own process and port. Who leads is read the way an
// operator would, from each replica's `dockerlet_leader_election_master_status{name}` gauge.
import { join } from 'node:path';
import { AgentProcess } from './agent-process.ts';
import { sleep } from './engine.ts';

export interface ReplicaSetOptions {
  agentName: string;
  storeDir: string;
  stateDir: string;
  /** Backend and timing flags, identical for every replica. */
  agentArgs: string[];
  logLevel: string;
  /** Keep each replica's output as <dir>/<agent-name>-<n>.log. */
  logDir?: string;
}

const LEADER_GAUGE = 'dockerlet_leader_election_master_status';
/** A scrape slower than this counts as "not leading" for that tick rather than stalling the poll. */
const SCRAPE_TIMEOUT_MS = 1_000;
const WORKERS = 8;

/** Whether the Prometheus text says this replica leads the election `agentName`. */
export function reportsLeading(metricsText: string, agentName: string): boolean {
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(`${LEADER_GAUGE}{`) || !line.includes(`name="${agentName}"`)) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1)) === 1;
  }
  return false;
}

/**
 * The caller's environment minus DOCKERLET_*: every setting the replicas run with is on their
 * command line, so a variable left in the shell (a lock dir, a Redis URL) cannot change what is
 * measured.
 */
function agentEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('DOCKERLET_')));
}

export interface LeaderSeen {
  leader: AgentProcess;
  /** performance.now() when the tick that showed exactly one leader had all its answers. */
  at: number;
  /** Most replicas seen leading in one tick while waiting (more than 1 breaks the one-leader rule). */
  mostLeading: number;
}

export class ReplicaSet {
  /** The live replicas, in a stable order; a replaced one takes its predecessor's slot. */
  readonly current: AgentProcess[] = [];
  private spawned = 0;

  constructor(private readonly options: ReplicaSetOptions) {}

  /** Spawns `count` replicas and waits until every one answers /readyz. */
  async start(count: number, deadline: number, signal: AbortSignal): Promise<void> {
    for (let i = 0; i < count; i++) this.current.push(await this.spawn());
    await Promise.all(this.current.map((r) => r.waitReady(deadline, signal)));
  }

  /** Replaces an exited replica with a fresh process; resolves when it is ready (ms from spawn). */
  async replace(old: AgentProcess, deadline: number, signal: AbortSignal): Promise<number> {
    const slot = this.current.indexOf(old);
    if (slot < 0) throw new Error('replace: not a current replica');
    // Already exited: this only waits for the exit and closes its log file.
    await old.stop();
    const fresh = await this.spawn();
    // In the set before it is ready, so a failed start is still stopped by stopAll().
    this.current[slot] = fresh;
    const readyAt = await fresh.waitReady(deadline, signal);
    return readyAt - fresh.spawnedAt;
  }

  /** Which of `among` report leading right now; a replica that does not answer does not lead. */
  async leading(among: readonly AgentProcess[]): Promise<AgentProcess[]> {
    const answers = await Promise.all(
      among.map(async (replica) => {
        if (!replica.alive) return false;
        try {
          const response = await fetch(`http://127.0.0.1:${replica.port}/metrics`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
          return reportsLeading(await response.text(), this.options.agentName);
        } catch {
          return false;
        }
      }),
    );
    return among.filter((_, i) => answers[i]);
  }

  /**
   * Polls every replica in `among` each `intervalMs` (start to start) until exactly one reports
   * leading. Throws past `deadline`, or if one of them exits meanwhile (a crash is a finding).
   */
  async waitSingleLeader(among: readonly AgentProcess[], options: { intervalMs: number; deadline: number; signal: AbortSignal }): Promise<LeaderSeen> {
    let mostLeading = 0;
    for (;;) {
      const tickStart = performance.now();
      const leaders = await this.leading(among);
      const at = performance.now();
      mostLeading = Math.max(mostLeading, leaders.length);
      if (leaders.length === 1) return { leader: leaders[0]!, at, mostLeading };
      options.signal.throwIfAborted();
      for (const replica of among) replica.assertAlive();
      if (at > options.deadline) throw new Error(`${leaders.length} of ${among.length} replicas report leading, not 1, at the deadline`);
      await sleep(Math.max(0, options.intervalMs - (at - tickStart)));
    }
  }

  /** SIGTERM every live replica (SIGKILL after `graceMs`) and wait for all of them. */
  async stopAll(graceMs = 10_000): Promise<void> {
    await Promise.all(this.current.map((r) => r.stop(graceMs)));
  }

  private spawn(): Promise<AgentProcess> {
    const n = ++this.spawned;
    const { agentName, storeDir, stateDir, agentArgs, logLevel, logDir } = this.options;
    return AgentProcess.start({
      storeDir,
      stateDir,
      agentName,
      workers: WORKERS,
      logLevel,
      agentArgs,
      env: agentEnv(),
      ...(logDir ? { logFile: join(logDir, `${agentName}-${n}.log`) } : {}),
    });
  }
}

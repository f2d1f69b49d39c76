// Runs dockerlet the way a user does: `node bin/dockerlet.js ...` as a child process. Used by
// e2e tests (and integration tests that need a real process to kill).
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { dockerCli, freePort, removeContainersByLabel, TEST_DOCKER_SOCKET, TEST_IMAGE, uniqueRunId } from './docker.ts';
import { eventually } from './eventually.ts';
import { STATE_FILES } from '../../agent/state-layout.ts';
import { FileStatusStore } from '../../agent/status/file-status-store.ts';
import type { SessionStatus } from '../../crds/types.ts';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(REPO, 'bin/dockerlet.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one dockerlet command to completion. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: REPO, env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error && typeof error.code === 'number' ? error.code : error ? 1 : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

export interface SessionFixture {
  name: string;
  namespace?: string;
  spec: Record<string, unknown>;
}

export function sessionYaml(fixture: SessionFixture): string {
  return stringify({
    apiVersion: 'dockerlet.dev/v1alpha1',
    kind: 'Session',
    metadata: { name: fixture.name, ...(fixture.namespace ? { namespace: fixture.namespace } : {}) },
    spec: { image: TEST_IMAGE, ...fixture.spec },
  });
}

/** A store directory, a state directory and an agent name unique to one test. */
export class AgentWorld {
  readonly agentName: string;
  private constructor(
    readonly root: string,
    readonly storeDir: string,
    readonly stateDir: string,
  ) {
    this.agentName = uniqueRunId('e2e');
  }

  static async create(): Promise<AgentWorld> {
    const root = await mkdtemp(join(tmpdir(), 'dockerlet-e2e-'));
    const world = new AgentWorld(root, join(root, 'store'), join(root, 'state'));
    await mkdir(world.storeDir, { recursive: true });
    return world;
  }

  async writeSession(fixture: SessionFixture, file = `${fixture.namespace ?? 'default'}-${fixture.name}.yaml`): Promise<string> {
    const path = join(this.storeDir, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, sessionYaml(fixture));
    return path;
  }

  async writeFile(file: string, text: string): Promise<string> {
    const path = join(this.storeDir, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
    return path;
  }

  async removeFile(file: string): Promise<void> {
    await rm(join(this.storeDir, file), { force: true });
  }

  /** Flags every command needs to look at this world. */
  flags(): string[] {
    return ['--store', this.storeDir, '--state-dir', this.stateDir, '--agent-name', this.agentName, '--docker-socket', TEST_DOCKER_SOCKET];
  }

  cli(args: string[]): Promise<CliResult> {
    return runCli([...args, ...this.flags()]);
  }

  /** Containers this world's agent owns: name → {id, state}. */
  async containers(): Promise<Map<string, { id: string; state: string }>> {
    const out = await dockerCli([
      'ps',
      '--all',
      '--no-trunc',
      '--filter',
      `label=dockerlet.dev/agent=${this.agentName}`,
      '--format',
      '{{.Label "dockerlet.dev/namespace"}}/{{.Label "dockerlet.dev/name"}} {{.ID}} {{.State}}',
    ]);
    const result = new Map<string, { id: string; state: string }>();
    for (const line of out.split('\n').filter(Boolean)) {
      const [key, id, state] = line.split(' ');
      if (key && id && state) {
        if (result.has(key)) throw new Error(`duplicate containers for ${key}`);
        result.set(key, { id, state });
      }
    }
    return result;
  }

  /** The status the in-process agent wrote for `key` (namespace/name), read from its state dir. */
  async sessionStatus(key: string): Promise<SessionStatus | undefined> {
    return (await FileStatusStore.readSnapshot<SessionStatus>(join(this.stateDir, STATE_FILES.sessions))).get(key);
  }

  /** Waits until the container of `key` (namespace/name) runs; returns its ID. */
  runningContainer(key: string, timeoutMs = 30_000): Promise<string> {
    return eventually(
      async () => {
        const c = (await this.containers()).get(key);
        if (c?.state !== 'running') throw new Error(`the container of ${key} is ${c?.state ?? 'missing'}`);
        return c.id;
      },
      { timeoutMs, message: `the container of ${key} running` },
    );
  }

  /** HostConfig.Memory of the container of `key`, in bytes. */
  async inspectMemory(key: string): Promise<number> {
    const container = (await this.containers()).get(key);
    if (!container) throw new Error(`no container for ${key}`);
    return Number(await dockerCli(['inspect', '--format', '{{.HostConfig.Memory}}', container.id]));
  }

  async cleanup(): Promise<void> {
    await removeContainersByLabel(`dockerlet.dev/agent=${this.agentName}`);
    await rm(this.root, { recursive: true, force: true });
  }
}

/** One `dockerlet agent` process. */
export class AgentProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  readonly logs: string[] = [];
  port = 0;

  constructor(
    private readonly world: AgentWorld,
    private readonly extraArgs: string[] = [],
  ) {}

  async start(): Promise<void> {
    this.port = await freePort();
    const child = spawn(
      process.execPath,
      // sleep as PID 1 ignores SIGTERM: a short stop timeout keeps Stopped tests quick.
      [BIN, 'agent', ...this.world.flags(), '--listen', `127.0.0.1:${this.port}`, '--log-format', 'json', '--stop-timeout', '2', ...this.extraArgs],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    const collect = (chunk: Buffer): void => {
      this.logs.push(...chunk.toString().split('\n').filter(Boolean));
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise((resolvePromise) => child.once('exit', (code) => resolvePromise(code)));
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}: ${this.logs.slice(-5).join('\n')}`);
        const response = await fetch(`http://127.0.0.1:${this.port}/readyz`);
        if (!response.ok) throw new Error(`readyz ${response.status}: ${await response.text()}`);
      },
      { timeoutMs: 60_000, message: 'agent ready' },
    );
  }

  /** SIGTERM (graceful) or SIGKILL (crash); waits for the exit. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    this.child.kill(signal);
    return this.exited ?? null;
  }

  /** Freezes (SIGSTOP) or resumes (SIGCONT) the process without ending it. */
  freeze(frozen: boolean): void {
    if (!this.child || this.child.exitCode !== null) throw new Error('agent is not running');
    this.child.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  async metrics(): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.port}/metrics`);
    return response.text();
  }

  /** The replica identity the agent logs with every line. */
  identity(): string {
    for (const line of this.logs) {
      try {
        const identity = (JSON.parse(line) as { identity?: unknown }).identity;
        if (typeof identity === 'string') return identity;
      } catch {
        // not a log line
      }
    }
    throw new Error('agent has not logged its identity yet');
  }

  /** Whether this replica says it leads (its leader-election gauge), false if it does not answer. */
  async leading(): Promise<boolean> {
    if (!this.alive()) return false;
    try {
      return metricValue(await this.metrics(), 'dockerlet_leader_election_master_status', { name: this.world.agentName }) === 1;
    } catch {
      return false;
    }
  }

  alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }
}

/** Reads a counter/gauge value from Prometheus text, summing every series that matches the labels. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

export interface SessionView {
  metadata: { name: string; namespace?: string };
  spec: { image: string };
  status?: { phase?: string; containerID?: string; restartCount?: number; message?: string; conditions?: { type: string; status: string; reason: string; message?: string }[] };
}

/** `dockerlet get sessions -o json`, parsed. */
export async function getSessions(world: AgentWorld): Promise<SessionView[]> {
  const result = await world.cli(['get', 'sessions', '-o', 'json']);
  if (result.code !== 0) throw new Error(`get sessions failed (${result.code}): ${result.stderr}`);
  return (JSON.parse(result.stdout) as { items: SessionView[] }).items;
}

export function condition(view: SessionView | undefined, type: string): { status: string; reason: string; message?: string } | undefined {
  return view?.status?.conditions?.find((c) => c.type === type);
}

export { TEST_IMAGE };

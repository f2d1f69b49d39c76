// Several agents of one fleet (README "Fleet") for integration tests: distinct --agent-name and
// state directories, one store, one engine. The engine is the judge: copies of each Session are
// counted across every agent by the namespace label, whoever created them.
import { expect } from 'vitest';
import type { Redis } from 'ioredis';
import { AgentProcess, AgentWorld } from './agent-process.ts';
import { dockerCli } from './docker.ts';
import { eventually } from './eventually.ts';

export interface Copy {
  agent: string;
  id: string;
  state: string;
  epoch: string;
}

/**
 * Short enough for a test, long enough for two busy cores (event-loop stalls of 5-7 s were seen at
 * load 20-27, and a stalled agent rightly looks Offline): beat 1 s, Offline after 10 s, moved after
 * 3 s more; a scheduler lease that a killed holder leaves within 10 s, before that.
 */
export const FAST_FLEET_FLAGS = [
  '--heartbeat-interval', '1s',
  '--liveness-grace', '10s',
  '--reschedule-after', '3s',
  '--lease-duration', '10s',
  '--renew-deadline', '8s',
  '--retry-period', '1s',
] as const;
export const FAST_RESCHEDULE_AFTER_MS = 3_000;
export const FAST_LIVENESS_GRACE_MS = 10_000;

export class FleetOfAgents {
  readonly worlds: AgentWorld[] = [];
  readonly processes = new Map<string, AgentProcess>();

  private constructor(private readonly args: (world: AgentWorld) => string[]) {}

  /** `size` agents, each started with `args(world)` after its own flags (later flags win). */
  static async create(size: number, args: (world: AgentWorld) => string[]): Promise<FleetOfAgents> {
    const fleet = new FleetOfAgents(args);
    for (let i = 0; i < size; i += 1) fleet.worlds.push(await AgentWorld.create());
    return fleet;
  }

  names(): string[] {
    return this.worlds.map((w) => w.agentName);
  }

  async startAll(): Promise<void> {
    await Promise.all(this.worlds.map((w) => this.start(w.agentName)));
  }

  async start(agent: string): Promise<AgentProcess> {
    const world = this.worlds.find((w) => w.agentName === agent);
    if (!world) throw new Error(`no agent ${agent} in this fleet`);
    const process = new AgentProcess(world, this.args(world));
    this.processes.set(agent, process);
    await process.start();
    return process;
  }

  async kill(agent: string): Promise<void> {
    await this.processes.get(agent)?.stop('SIGKILL');
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.processes.values()].map((p) => p.stop('SIGKILL')));
    for (const world of this.worlds) await world.cleanup();
  }
}

/** Every managed container of `namespace` on the engine (or the one on `engine.socket`), by Session key. */
export async function copiesByKey(namespace: string, engine: { socket?: string; timeoutMs?: number } = {}): Promise<Map<string, Copy[]>> {
  const out = await dockerCli([
    'ps', '--all', '--no-trunc',
    '--filter', `label=dockerlet.dev/namespace=${namespace}`,
    '--format', '{{.Label "dockerlet.dev/namespace"}}/{{.Label "dockerlet.dev/name"}} {{.Label "dockerlet.dev/agent"}} {{.ID}} {{.State}} {{.Label "dockerlet.dev/epoch"}}',
  ], engine);
  const copies = new Map<string, Copy[]>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [key, agent, id, state, epoch] = line.split(' ');
    if (!key || !agent || !id || !state) continue;
    copies.set(key, [...(copies.get(key) ?? []), { agent, id, state, epoch: epoch ?? '' }]);
  }
  return copies;
}

export function running<C extends Copy>(copies: readonly C[] | undefined): C[] {
  return (copies ?? []).filter((c) => c.state === 'running');
}

/** Waits until every key has exactly one running copy and nothing else; returns key → agent. */
export async function exactlyOneEach(namespace: string, keys: readonly string[], timeoutMs: number): Promise<Map<string, string>> {
  return eventually(
    async () => {
      const copies = await copiesByKey(namespace);
      const placement = new Map<string, string>();
      for (const key of keys) {
        const all = copies.get(key) ?? [];
        expect(all.map((c) => `${c.agent}:${c.state}`), key).toHaveLength(1);
        expect(all[0]?.state, key).toBe('running');
        placement.set(key, all[0]!.agent);
      }
      expect([...copies.keys()].filter((k) => !keys.includes(k))).toEqual([]);
      return placement;
    },
    { timeoutMs, intervalMs: 250, message: `exactly one running container for each of ${keys.length} Sessions` },
  );
}

export function countByAgent(placement: ReadonlyMap<string, string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const agent of placement.values()) counts.set(agent, (counts.get(agent) ?? 0) + 1);
  return counts;
}

/** Whether `agent`'s record in Redis says Online with a beat after `sinceMs` (the agents' shared hash). */
export async function onlineInRedis(redis: Pick<Redis, 'hget'>, agent: string, sinceMs = 0): Promise<boolean> {
  const raw = await redis.hget('dockerlet:agents', agent);
  const record = raw ? (JSON.parse(raw) as { state?: string; lastHeartbeatTime?: string }) : undefined;
  return record?.state === 'Online' && Date.parse(record.lastHeartbeatTime ?? '') > sinceMs;
}

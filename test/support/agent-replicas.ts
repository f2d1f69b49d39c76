// Real agent processes for e2e tests that run several replicas (or several agents) at once: one
// place that starts them, finds the one leader, and removes everything on cleanup, whichever
// leader-election backend the test uses.
import { expect } from 'vitest';
import { AgentProcess, AgentWorld } from './agent-process.ts';
import { eventually } from './eventually.ts';

export class AgentReplicas {
  private readonly worlds: AgentWorld[] = [];
  private readonly processes: AgentProcess[] = [];

  /** A fresh agent: its own name, store and state directory. */
  async newWorld(): Promise<AgentWorld> {
    const world = await AgentWorld.create();
    this.worlds.push(world);
    return world;
  }

  /** One more replica of `world`'s agent with `args`, not started yet (cleaned up all the same). */
  replica(world: AgentWorld, args: string[]): AgentProcess {
    const replica = new AgentProcess(world, args);
    this.processes.push(replica);
    return replica;
  }

  /** One more replica of `world`'s agent, started with `args`, ready when this resolves. */
  async startReplica(world: AgentWorld, args: string[]): Promise<AgentProcess> {
    const replica = this.replica(world, args);
    await replica.start();
    return replica;
  }

  /** Waits until exactly one of `replicas` says it leads (its /metrics), and returns it. */
  theLeader(replicas: AgentProcess[], timeoutMs = 30_000): Promise<AgentProcess> {
    return eventually(
      async () => {
        const leading = [];
        for (const r of replicas) if (await r.leading()) leading.push(r);
        expect(leading).toHaveLength(1);
        return leading[0] as AgentProcess;
      },
      { timeoutMs, intervalMs: 50, message: 'exactly one leader' },
    );
  }

  /**
   * Kills every replica started here, then runs `forEachWorld` (e.g. deleting its Lease) and
   * removes each world's containers and directories.
   */
  async cleanup(forEachWorld?: (world: AgentWorld) => Promise<void>): Promise<void> {
    await Promise.all(this.processes.splice(0).map((p) => p.stop('SIGKILL')));
    for (const world of this.worlds.splice(0)) {
      await forEachWorld?.(world);
      await world.cleanup();
    }
  }
}

// `dockerlet drain` on a fleet that shares Redis (a YAML or Git store + --redis): one set per fleet,
// `<prefix>:draining`, of the agents to drain. The CLI adds or removes a name; the scheduler reads
// the set with the agent records, so a request takes effect within one pass.
import type { Redis } from 'ioredis';
import type { DrainRequests } from '../../controllers/scheduler/bindings.ts';

export function drainKey(fleetPrefix: string): string {
  return `${fleetPrefix}:draining`;
}

export class RedisDrainRequests implements DrainRequests {
  #names: ReadonlySet<string> = new Set();

  constructor(
    private readonly redis: Pick<Redis, 'smembers'>,
    private readonly fleetPrefix: string,
  ) {}

  requested(): ReadonlySet<string> {
    return this.#names;
  }

  async reload(): Promise<void> {
    this.#names = new Set(await this.redis.smembers(drainKey(this.fleetPrefix)));
  }
}

/** Asks the fleet's scheduler to drain `agent` (or, with `drain` false, to stop draining it). Returns whether anything changed. */
export async function requestDrain(redis: Pick<Redis, 'sadd' | 'srem'>, fleetPrefix: string, agent: string, drain: boolean): Promise<boolean> {
  const changed = drain ? await redis.sadd(drainKey(fleetPrefix), agent) : await redis.srem(drainKey(fleetPrefix), agent);
  return changed > 0;
}

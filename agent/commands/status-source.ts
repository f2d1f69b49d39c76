// Where `dockerlet get` reads status: Redis when the agent keeps it there (flags, or the URL the
// agent recorded in its state dir), the state directory otherwise. Same place the agent writes.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { AgentStatus, ObjectKey, SessionBinding, SessionStatus } from '../../crds/types.ts';
import { fleetRedisPrefix } from '../fleet.ts';
import { decodeBinding } from '../status/redis-binding-store.ts';
import { parseAgentStatus } from '../../controllers/agent/record.ts';
import { openRedis, redisReady } from '../redis/open-redis.ts';
import { REDIS_KEYS, STATE_FILES } from '../state-layout.ts';
import type { CommonConfig, RawRedisOptions, RedisConfig } from '../config.ts';
import { redisConfig } from '../config.ts';
import { FileStatusStore } from '../status/file-status-store.ts';
import { readRedisSnapshot } from '../status/redis-status-store.ts';
import { quietLogger } from './shared.ts';

export interface Statuses {
  sessions: Map<ObjectKey, SessionStatus>;
  agents: Map<string, AgentStatus>;
  /** Where they came from, for "No agents found in …". */
  source: string;
}

async function recorded(stateDir: string): Promise<{ redis?: unknown; fleet?: unknown }> {
  try {
    return JSON.parse(await readFile(join(stateDir, STATE_FILES.agent), 'utf8')) as { redis?: unknown; fleet?: unknown };
  } catch {
    return {};
  }
}

/** The fleet the agent of this state dir belongs to, as it recorded it. */
export async function recordedFleet(stateDir: string): Promise<string | undefined> {
  const { fleet } = await recorded(stateDir);
  return typeof fleet === 'string' ? fleet : undefined;
}

async function recordedRedisUrl(stateDir: string): Promise<string | undefined> {
  const { redis } = await recorded(stateDir);
  return typeof redis === 'string' ? redis : undefined;
}

export async function redisFor(config: CommonConfig, raw: RawRedisOptions): Promise<RedisConfig | undefined> {
  const url = raw.redis ?? (await recordedRedisUrl(config.stateDir));
  return redisConfig({ ...raw, ...(url ? { redis: url } : {}) });
}

export async function readStatuses(config: CommonConfig, redis: RedisConfig | undefined): Promise<Statuses> {
  if (!redis) {
    return {
      sessions: await FileStatusStore.readSnapshot<SessionStatus>(join(config.stateDir, STATE_FILES.sessions)),
      agents: await FileStatusStore.readSnapshot<AgentStatus>(join(config.stateDir, STATE_FILES.agents)),
      source: config.stateDir,
    };
  }
  const client = await openRedis(redis, quietLogger());
  try {
    await redisReady(client, quietLogger());
    const [sessions, agents] = await Promise.all([
      readRedisSnapshot<SessionStatus>(client, REDIS_KEYS.sessions(config.agentName)),
      readRedisSnapshot<AgentStatus>(client, REDIS_KEYS.agents, { decode: parseAgentStatus }),
    ]);
    const { fleet } = await recorded(config.stateDir);
    if (typeof fleet === 'string') await addFleetStatuses(client, fleet, sessions);
    return { sessions, agents, source: redis.url };
  } finally {
    client.disconnect();
  }
}

/**
 * In a fleet each Session's status is in the hash of the agent it is bound to: read the fleet's
 * bindings, then those agents' statuses, and show each Session with its binding.
 */
async function addFleetStatuses(client: Pick<Redis, 'hgetall'>, fleet: string, sessions: Map<ObjectKey, SessionStatus>): Promise<void> {
  const bindings = await readRedisSnapshot<SessionBinding>(client, `${fleetRedisPrefix(fleet)}:bindings`, { decode: decodeBinding });
  const byAgent = new Map<string, Map<ObjectKey, SessionStatus>>();
  for (const agent of new Set([...bindings.values()].map((b) => b.agent))) byAgent.set(agent, await readRedisSnapshot<SessionStatus>(client, REDIS_KEYS.sessions(agent)));
  for (const [key, binding] of bindings) {
    const status = byAgent.get(binding.agent)?.get(key) ?? sessions.get(key);
    sessions.set(key, { ...(status ?? {}), binding });
  }
}

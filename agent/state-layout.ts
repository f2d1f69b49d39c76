// Where an agent keeps its state: file names under --state-dir and key names in Redis. The agent
// writes them and the CLI (`get`, `diff`) reads them, so both take the names from here.

export const STATE_FILES = {
  sessions: 'sessions.status.json',
  agents: 'agents.status.json',
  generations: 'generations.json',
  /** Where this agent's store is, so `dockerlet get` finds it without flags. */
  agent: 'agent.json',
} as const;

/** Redis keys. Agents share one hash so `get agents` lists all of them. */
export const REDIS_KEYS = {
  sessions: (agent: string) => `dockerlet:${agent}:sessions`,
  agents: 'dockerlet:agents',
  leader: (agent: string) => `dockerlet:${agent}:leader`,
  replicas: (agent: string) => `dockerlet:${agent}:replicas`,
} as const;

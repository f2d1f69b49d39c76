// The agent's own record: on every beat it says it is Online, when, on which engine, and how many
// Sessions it runs. Offline is never written by a beat; it is derived from the beat's age.
import type { Logger } from 'pino';
import type { AgentStatus } from '../crds/types.ts';
import type { StatusStore } from '../reconciler/store.ts';
import type { Clock } from '../reconciler/clock.ts';
import type { EngineInfo } from './docker/docker-runtime.ts';

export interface HeartbeatOptions {
  agentName: string;
  /** This replica's identity (leader, when leader election is on). */
  identity: string;
  store: StatusStore<AgentStatus>;
  engine: () => EngineInfo | undefined;
  activeSessions: () => number;
  intervalMs: number;
  clock: Clock;
  logger: Logger;
  signal: AbortSignal;
}

export function agentStatus(options: HeartbeatOptions): AgentStatus {
  const engine = options.engine();
  const status: AgentStatus = {
    state: 'Online',
    lastHeartbeatTime: new Date(options.clock.now()).toISOString(),
    leader: options.identity,
    replicas: [options.identity],
    activeSessions: options.activeSessions(),
  };
  if (engine) {
    status.engineVersion = engine.version;
    status.capacity = { cpus: engine.cpus, memoryBytes: engine.memoryBytes };
  }
  return status;
}

/** Beats now and every interval until the signal aborts. */
export function startHeartbeat(options: HeartbeatOptions): void {
  let timer: unknown;
  options.signal.addEventListener('abort', () => options.clock.clearTimeout(timer), { once: true });
  const beat = (): void => {
    if (options.signal.aborted) return;
    options.store
      .write(options.agentName, agentStatus(options))
      .catch((error: unknown) => options.logger.warn({ err: error }, 'heartbeat write failed'))
      .finally(() => {
        if (!options.signal.aborted) timer = options.clock.setTimeout(beat, options.intervalMs);
      });
  };
  beat();
}

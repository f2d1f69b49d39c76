// Whether this agent is one of a fleet (README "Fleet"): several agents, one store, shared status,
// Sessions placed by one scheduler. A fleet needs somewhere all agents see the same bindings: the
// Session objects (--store kubernetes) or Redis (--redis). Without either the agent runs every
// unpinned Session itself, as a single agent always has; a fleet flag there would promise
// placement nobody performs, so it is refused at start.
import type { AgentConfig } from './config.ts';
import { StartupError } from './startup-error.ts';

export const FLEET_KINDS = ['solo', 'kubernetes', 'redis'] as const;
export type FleetKind = (typeof FLEET_KINDS)[number];

/** Where bindings live: the Session status subresource, a Redis hash, or nowhere (solo). */
export function fleetKind(config: Pick<AgentConfig, 'store' | 'redis'>): FleetKind {
  if (config.store.kind === 'kubernetes') return 'kubernetes';
  return config.redis ? 'redis' : 'solo';
}

/** Throws StartupError when fleet flags are given to an agent that cannot be part of a fleet. */
export function refuseFleetFlagsAlone(config: Pick<AgentConfig, 'store' | 'redis' | 'fleetFlags'>): void {
  if (fleetKind(config) !== 'solo' || config.fleetFlags.length === 0) return;
  const flags = config.fleetFlags.join(', ');
  throw new StartupError(
    `${flags} ${config.fleetFlags.length === 1 ? 'places' : 'place'} Sessions across a fleet, but this agent has no shared status to hold bindings: ` +
      `add --redis <url> (every agent of the fleet on the same Redis and store), or use --store kubernetes; ` +
      `without either, one agent runs every Session that is not pinned with spec.agent`,
  );
}

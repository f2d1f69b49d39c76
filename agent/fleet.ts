// Whether this agent is one of a fleet (README "Fleet"): several agents, one store, shared status,
// Sessions placed by one scheduler. A fleet needs somewhere all agents see the same bindings: the
// Session objects (--store kubernetes) or Redis (--redis). Without either the agent runs every
// unpinned Session itself, as a single agent always has; a fleet flag there would promise
// placement nobody performs, so it is refused at start.
import { createHash } from 'node:crypto';
import type { AgentConfig } from './config.ts';
import { describeStoreSpec } from './sources/store-spec.ts';
import type { AgentStatus } from '../crds/types.ts';
import { heartbeatAgeMs } from '../controllers/agent/record.ts';
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

/**
 * The fleet this agent is one of: the agents that see the same Sessions and the same shared
 * status. --fleet names it; otherwise it follows from the store, so agents sharing one Redis or
 * one API server but different stores (or different namespaces) never place each other's Sessions.
 * Undefined for a single agent with no shared status.
 */
export function fleetId(config: Pick<AgentConfig, 'store' | 'redis' | 'fleet' | 'sessionNamespace'>): string | undefined {
  if (fleetKind(config) === 'solo') return undefined;
  if (config.fleet) return config.fleet;
  switch (config.store.kind) {
    case 'kubernetes':
      return config.sessionNamespace ? `namespace-${config.sessionNamespace}` : 'all-namespaces';
    case 'yaml':
      return `dir-${digest(config.store.dir)}`;
    case 'git':
      return `git-${digest(describeStoreSpec(config.store))}`;
  }
}

/** Redis keys of a fleet: bindings, Scheduled conditions, the scheduler lease. */
export function fleetRedisPrefix(fleet: string): string {
  return `dockerlet:fleet:${fleet}`;
}

/** The Lease the fleet's scheduler holds: dockerlet-scheduler for the fleet of every namespace. */
export function schedulerLeaseName(fleet: string): string {
  if (fleet === 'all-namespaces') return 'dockerlet-scheduler';
  const name = `dockerlet-scheduler-${fleet.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`.replace(/-+$/, '');
  return name.length <= 63 ? name : `dockerlet-scheduler-${digest(fleet)}`;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/**
 * Where that Lease lives: with the agents' own Leases (--lease-namespace) when they elect on
 * Kubernetes, otherwise next to the Sessions of a fleet that watches one namespace (no other
 * namespace need exist), else --lease-namespace.
 */
export function schedulerLeaseNamespace(config: Pick<AgentConfig, 'leaderElection' | 'kubeLease' | 'sessionNamespace'>): string {
  const leases = config.kubeLease?.namespace ?? 'dockerlet-system';
  if (config.leaderElection === 'kubernetes') return leases;
  return config.sessionNamespace ?? leases;
}

/**
 * Throws StartupError when an agent with no shared status finds another agent beating in its own
 * --state-dir: two agents on one store, each running every unpinned Session (each Session twice).
 * What can be seen honestly is a fresh record of another name in the same agent records file;
 * agents with separate state dirs and no shared status cannot see each other at all.
 */
export function refuseUnsharedFleet(
  config: Pick<AgentConfig, 'store' | 'redis' | 'agentName' | 'livenessGraceMs' | 'stateDir'>,
  records: ReadonlyMap<string, AgentStatus>,
  now: number,
): void {
  if (fleetKind(config) !== 'solo') return;
  const others = [...records].filter(([name, record]) => name !== config.agentName && heartbeatAgeMs(record, now) <= config.livenessGraceMs).map(([name]) => name);
  if (others.length === 0) return;
  throw new StartupError(
    `agent ${others.join(', ')} beat in ${config.stateDir} within the last ${Math.round(config.livenessGraceMs / 1000)}s: two agents on one store ` +
      `without shared status would each run every Session not pinned with spec.agent. For a fleet give every agent --redis <url> ` +
      `(same Redis, same store) or use --store kubernetes; for one agent only, stop the other or give this one its own --state-dir`,
  );
}

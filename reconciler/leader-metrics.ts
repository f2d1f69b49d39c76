// Leader election metrics. The label is the election's name (the agent name), never the replica's
// identity: identities change with every restart, and a label per identity would grow without bound.
// Which replica leads is in the logs, in `get agents` and in the fencing token.
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

export const LEADER_MASTER_STATUS = 'dockerlet_leader_election_master_status';
export const LEADER_FENCING_TOKEN = 'dockerlet_leader_fencing_token';
export const LEADER_TRANSITIONS_TOTAL = 'dockerlet_leader_transitions_total';

/** Hooks for one election, labelled with its name. */
export interface LeaderElectionMetrics {
  leading(isLeader: boolean): void;
  token(token: number): void;
  /** This replica became leader. */
  acquired(): void;
}

export interface LeaderMetrics {
  readonly masterStatus: Gauge<'name'>;
  readonly fencingToken: Gauge<'name'>;
  readonly transitions: Counter<'name'>;
  /** Creates the election's series (status 0, transitions 0) so they exist from the first scrape. */
  forElection(name: string): LeaderElectionMetrics;
}

/**
 * Registers the metrics on `registry`, or reuses the ones already there: every replica in a
 * process (tests run three) shares one registry, and prom-client throws on a duplicate name.
 */
export function createLeaderMetrics(registry: Registry): LeaderMetrics {
  const masterStatus = gauge(registry, LEADER_MASTER_STATUS, 'Whether this replica is the leader of the election (1) or not (0).');
  const fencingToken = gauge(registry, LEADER_FENCING_TOKEN, 'Fencing token of the last lease this replica held.');
  const transitions = counter(
    registry,
    LEADER_TRANSITIONS_TOTAL,
    // Counting acquisitions only: summed over replicas it is how often leadership changed hands.
    'Times this replica became leader of the election.',
  );
  return {
    masterStatus,
    fencingToken,
    transitions,
    forElection(name) {
      const labels = { name };
      masterStatus.set(labels, 0);
      transitions.inc(labels, 0);
      return {
        leading: (isLeader) => masterStatus.set(labels, isLeader ? 1 : 0),
        token: (token) => fencingToken.set(labels, token),
        acquired: () => transitions.inc(labels),
      };
    },
  };
}

function gauge(registry: Registry, name: string, help: string): Gauge<'name'> {
  return existing(registry, name, Gauge) ?? new Gauge({ name, help, labelNames: ['name'] as const, registers: [registry] });
}

function counter(registry: Registry, name: string, help: string): Counter<'name'> {
  return existing(registry, name, Counter) ?? new Counter({ name, help, labelNames: ['name'] as const, registers: [registry] });
}

// Reuse what another copy of this module registered, as long as the type matches; a different type
// under our name is a real conflict.
function existing<M>(registry: Registry, name: string, type: abstract new (...args: never[]) => M): M | undefined {
  const found = registry.getSingleMetric(name);
  if (found === undefined) return undefined;
  if (found instanceof type) return found;
  throw new Error(`metric ${name} is already registered with a different type`);
}

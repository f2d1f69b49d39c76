import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLeaderMetrics, LEADER_TRANSITIONS_TOTAL } from './leader-metrics.ts';

describe('createLeaderMetrics', () => {
  it('registers once per registry and labels series by election name only', async () => {
    const registry = new Registry();
    const first = createLeaderMetrics(registry);
    const second = createLeaderMetrics(registry);
    expect(second.masterStatus).toBe(first.masterStatus);
    const election = first.forElection('agent-a');
    expect(await registry.metrics()).toContain('dockerlet_leader_election_master_status{name="agent-a"} 0');
    election.leading(true);
    election.token(7);
    election.acquired();
    second.forElection('agent-b').acquired();
    const text = await registry.metrics();
    expect(text).toContain('dockerlet_leader_election_master_status{name="agent-a"} 1');
    expect(text).toContain('dockerlet_leader_fencing_token{name="agent-a"} 7');
    expect(text).toContain('dockerlet_leader_transitions_total{name="agent-a"} 1');
    expect(text).toContain('dockerlet_leader_transitions_total{name="agent-b"} 1');
  });

  it('refuses a metric of another type under its name', () => {
    const registry = new Registry();
    new Counter({ name: 'dockerlet_leader_election_master_status', help: 'x', registers: [registry] });
    expect(() => createLeaderMetrics(registry)).toThrow(/different type/);
    expect(LEADER_TRANSITIONS_TOTAL).toBe('dockerlet_leader_transitions_total');
  });
});

import { describe, expect, it } from 'vitest';
import type { StepDownReason } from '../../reconciler/leader.ts';
import { NoLeaderElection } from './none.ts';

describe('NoLeaderElection', () => {
  it('leads from the start with token 1 until stopped', async () => {
    const election = new NoLeaderElection({ identity: 'solo' });
    expect(election.isLeader()).toBe(true);
    expect(election.token()).toBe(1);
    const stop = new AbortController();
    const events: Array<string | StepDownReason> = [];
    let leadership: AbortSignal | undefined;
    const done = election.run(
      {
        onStartedLeading: (grant, signal) => {
          leadership = signal;
          events.push(`started ${grant.token}`);
        },
        onStoppedLeading: (reason) => events.push(reason),
      },
      stop.signal,
    );
    await Promise.resolve();
    expect(events).toEqual(['started 1']);
    stop.abort();
    await done;
    expect(leadership?.aborted).toBe(true);
    expect(events).toEqual(['started 1', 'Stopped']);
    expect(election.isLeader()).toBe(false);
    // Nothing to fence without peers: the status of reconciles winding down at shutdown still goes out.
    expect(election.validToken()).toBe(1);
    expect(election.healthy()).toBe(true);
    expect(new NoLeaderElection().identity).toBe('embedded');
  });
});

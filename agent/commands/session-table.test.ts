// `get sessions` tables: the docker runtime's default table is unchanged; under --runtime swarm
// (a status names a node) NODE and ADDRESS are in the default table too, and in wide output they
// sit after CONTAINER.
import { describe, expect, it } from 'vitest';
import type { Session, SessionStatus } from '../../crds/types.ts';
import { formatSessions } from './session-table.ts';

const NOW = Date.parse('2026-01-01T00:01:00Z');

function session(name: string, status: SessionStatus): Session {
  return {
    apiVersion: 'dockerlet.dev/v1alpha1',
    kind: 'Session',
    metadata: { name, namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { image: 'busybox' },
    status,
  };
}

const ready = [{ type: 'Ready', status: 'True', reason: 'Running', lastTransitionTime: '2026-01-01T00:00:00Z' }] as SessionStatus['conditions'];
const container = session('web', { phase: 'Running', agent: 'host-a', containerID: '0123456789abcdef', conditions: ready, endpoints: ['127.0.0.1:8080/tcp'] });
const onSwarm = session('web', { phase: 'Running', agent: 'swarm', containerID: 'svc0123456789', node: 'node-1', address: '10.0.1.5', conditions: ready });
const notPlacedYet = session('api', { phase: 'Creating', agent: 'swarm' });

describe('formatSessions', () => {
  it('prints the docker runtime default table without NODE and ADDRESS', () => {
    expect(formatSessions([container], { wide: false, now: NOW })).toBe(
      [
        'NAMESPACE   NAME   PHASE     READY   AGENT    IMAGE     RESTARTS   AGE',
        'default     web    Running   True    host-a   busybox   0          60s',
        '',
      ].join('\n'),
    );
  });

  it('adds NODE and ADDRESS to the default table when Sessions run as Swarm services', () => {
    expect(formatSessions([notPlacedYet, onSwarm], { wide: false, now: NOW })).toBe(
      [
        'NAMESPACE   NAME   PHASE      READY     AGENT   IMAGE     RESTARTS   AGE   NODE     ADDRESS',
        'default     api    Creating   Unknown   swarm   busybox   0          60s',
        'default     web    Running    True      swarm   busybox   0          60s   node-1   10.0.1.5',
        '',
      ].join('\n'),
    );
  });

  it('puts NODE and ADDRESS after CONTAINER in wide output, and leaves them out for containers', () => {
    expect(formatSessions([onSwarm], { wide: true, now: NOW }).split('\n')[0]).toBe(
      'NAMESPACE   NAME   PHASE     READY   AGENT   IMAGE     RESTARTS   AGE   CONTAINER      NODE     ADDRESS    ENDPOINTS   MESSAGE',
    );
    expect(formatSessions([container], { wide: true, now: NOW }).split('\n')[0]).toBe(
      'NAMESPACE   NAME   PHASE     READY   AGENT    IMAGE     RESTARTS   AGE   CONTAINER      ENDPOINTS            MESSAGE',
    );
  });
});

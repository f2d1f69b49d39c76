import { describe, expect, it } from 'vitest';
import { fileBackendRefusal, multiNodeReason } from './placement.ts';

describe('multiNodeReason (may the replicas land on more than one node?)', () => {
  it.each([
    ['one replica', { Mode: { Replicated: { Replicas: 1 } } }],
    ['replicated without a count (Swarm default 1)', { Mode: { Replicated: {} } }],
    ['no mode at all', {}],
    ['three replicas pinned by hostname', { Mode: { Replicated: { Replicas: 3 } }, TaskTemplate: { Placement: { Constraints: ['node.hostname == host-a'] } } }],
    ['three replicas pinned by node id', { Mode: { Replicated: { Replicas: 3 } }, TaskTemplate: { Placement: { Constraints: ['node.role==manager', 'node.id==abc123'] } } }],
    ['global pinned to one host', { Mode: { Global: {} }, TaskTemplate: { Placement: { Constraints: ['node.hostname==host-a'] } } }],
  ])('allows %s', (_, spec) => {
    expect(multiNodeReason(spec)).toBeUndefined();
  });

  it.each([
    ['three replicas, no constraint', { Mode: { Replicated: { Replicas: 3 } } }, /3 replicas/],
    ['three replicas on managers (several managers)', { Mode: { Replicated: { Replicas: 3 } }, TaskTemplate: { Placement: { Constraints: ['node.role==manager'] } } }, /3 replicas/],
    ['a != constraint pins nothing', { Mode: { Replicated: { Replicas: 2 } }, TaskTemplate: { Placement: { Constraints: ['node.hostname!=host-a'] } } }, /2 replicas/],
    ['global mode', { Mode: { Global: {} } }, /global mode/],
  ])('refuses %s', (_, spec, reason) => {
    expect(multiNodeReason(spec)).toMatch(reason);
  });

  it('names the flag, the service and both alternatives in the refusal', () => {
    const message = fileBackendRefusal('agents', { Mode: { Replicated: { Replicas: 3 } } });
    expect(message).toContain('--leader-election file');
    expect(message).toContain('"agents"');
    expect(message).toContain('--leader-election swarm');
    expect(message).toContain('--leader-election redis');
    expect(fileBackendRefusal('agents', { Mode: { Replicated: { Replicas: 1 } } })).toBeUndefined();
  });
});

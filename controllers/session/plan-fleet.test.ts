// Plans of an agent in a fleet (README "Fleet"): it runs what is bound to it, removes its copy of
// what is bound elsewhere at once (the binding is positive knowledge, unlike an absence), keeps
// a copy of what nobody is bound to yet, and creates nothing while the bindings cannot be read.
import { describe, expect, it } from 'vitest';
import { LABELS } from './labels.ts';
import { plan, planToString } from './plan.ts';
import { A, containerFor, input, session } from './plan-fixtures.ts';

describe('plan in a fleet', () => {
  it('labels a new container with the binding epoch', () => {
    const made = plan(input({ desired: session(), imagePresent: true, ownership: { kind: 'mine', epoch: 3, mayCreate: true } }));
    expect(planToString(made)).toBe(
      ['plan default/web: 2 operation(s)', '  - create dockerlet_default_web_host-a (image busybox:1): no container for the Session', '  - start <new container>: spec.state is Running'].join('\n'),
    );
    expect(made.operations[0]).toMatchObject({ type: 'create', request: { labels: { [LABELS.epoch]: '3' } } });
  });

  it('removes its copy of a Session bound elsewhere, even during start-up adoption, naming both epochs', () => {
    const plain = containerFor(session(), A);
    const stale = { ...plain, labels: { ...plain.labels, [LABELS.epoch]: '1' } };
    const result = plan(input({ containers: [stale], mayDeleteUndesired: false, ownership: { kind: 'elsewhere', agent: 'host-b', epoch: 2, pinned: false } }));
    expect(planToString(result)).toBe(['plan default/web: 1 operation(s)', '  - remove aaaaaaaaaaaa: default/web is bound to host-b (epoch 2); this copy has epoch 1'].join('\n'));
  });

  it('keeps a copy of a Session pinned elsewhere until orphan collection may run (as before fleets)', () => {
    const copy = containerFor(session(), A);
    const result = plan(input({ containers: [copy], mayDeleteUndesired: false, ownership: { kind: 'elsewhere', agent: 'host-b', pinned: true } }));
    expect(result.operations).toEqual([]);
    expect(result.wait?.reason).toBe('DeletionDeferred');
  });

  it('keeps a copy of a Session not bound yet, or while the bindings cannot be read', () => {
    const copy = containerFor(session(), A);
    for (const ownership of [{ kind: 'unbound' as const }, { kind: 'unknown' as const }]) {
      const result = plan(input({ containers: [copy], mayDeleteUndesired: true, ownership }));
      expect(planToString(result)).toMatch(/^plan default\/web: no changes\n  wait 5000 ms: AwaitingBinding: default\/web is (not bound to any agent yet|the fleet bindings cannot be read); keeping this copy as it is$/);
    }
  });

  it('creates nothing while the bindings cannot be read, and keeps what runs', () => {
    const blind = { kind: 'mine' as const, epoch: 1, mayCreate: false };
    expect(planToString(plan(input({ desired: session(), imagePresent: true, ownership: blind })))).toBe(
      ['plan default/web: no changes', '  wait 5000 ms: BindingsUnknown: the fleet bindings cannot be read: creating nothing until they can'].join('\n'),
    );
    const running = containerFor(session(), A);
    expect(plan(input({ desired: session(), containers: [running], ownership: blind })).operations).toEqual([]);
  });
});

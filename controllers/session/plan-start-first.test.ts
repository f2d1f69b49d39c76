// Golden plans for updateStrategy StartFirst, one per step: the new container starts next to the
// old one under a temporary name; it takes over (old removed, new renamed) only once Ready; past
// progressDeadlineSeconds it is removed and the old one keeps serving (Stalled); a handover cut
// short is finished; Recreate stays what it was.
import { describe, expect, it } from 'vitest';
import type { SessionSpec } from '../../crds/types.ts';
import { LABELS } from './labels.ts';
import { plan, planToString } from './plan.ts';
import { A, B, NOW, containerFor, input, session } from './plan-fixtures.ts';
import { probeVerdict } from './probe-verdict.ts';

const START_FIRST: Partial<SessionSpec> = { updateStrategy: { type: 'StartFirst' }, progressDeadlineSeconds: 60 };
const READINESS: Partial<SessionSpec> = { readinessProbe: { httpGet: { port: 8080, path: '/healthz' }, periodSeconds: 1 } };
const old = session({ ...START_FIRST, ...READINESS, image: 'busybox:1' });
const next = session({ ...START_FIRST, ...READINESS, image: 'busybox:2' });
const CREATED_10S_AGO = Math.floor(NOW / 1000) - 10;

describe('plan: updateStrategy StartFirst', () => {
  it('starts the new container next to the one that serves, under a temporary name', () => {
    expect(planToString(plan(input({ desired: next, containers: [containerFor(old, A)], imagePresent: true })))).toBe(
      [
        'plan default/web: 2 operation(s)',
        '  - create dockerlet_default_web_host-a-next (image busybox:2): config-hash changed: image (StartFirst: next to aaaaaaaaaaaa)',
        '  - start <new container>: spec.state is Running',
        '  wait 60000 ms: Progressing: updateStrategy StartFirst: starting the new container; aaaaaaaaaaaa keeps serving',
      ].join('\n'),
    );
  });

  it('waits while the new container is not Ready, the old one serving', () => {
    const candidate = containerFor(next, B, 'running', { name: 'dockerlet_default_web_host-a-next', created: CREATED_10S_AGO });
    const probes = probeVerdict(next.spec, { started: true, results: { readinessProbe: { state: 'failure', output: 'HTTP 503', everSucceeded: false } } });
    const thePlan = plan(input({ desired: next, containers: [containerFor(old, A), candidate], probes }));
    expect(planToString(thePlan)).toBe(
      [
        'plan default/web: no changes',
        '  wait 50000 ms: Progressing: updateStrategy StartFirst: waiting for the new container bbbbbbbbbbbb to be Ready (readinessProbe httpGet :8080/healthz failed 3 times in a row: HTTP 503); aaaaaaaaaaaa keeps serving',
      ].join('\n'),
    );
    expect(thePlan.serving).toBe(A);
  });

  it('hands over once the new container is Ready: the old one goes, the new one takes the name', () => {
    const candidate = containerFor(next, B, 'running', { name: 'dockerlet_default_web_host-a-next', created: CREATED_10S_AGO });
    const probes = probeVerdict(next.spec, { started: true, results: { readinessProbe: { state: 'success', output: 'HTTP 200', everSucceeded: true } } });
    const thePlan = plan(input({ desired: next, containers: [containerFor(old, A), candidate], probes }));
    expect(planToString(thePlan)).toBe(
      [
        'plan default/web: 2 operation(s)',
        '  - remove aaaaaaaaaaaa: StartFirst: the new container bbbbbbbbbbbb is Ready',
        '  - rename bbbbbbbbbbbb to dockerlet_default_web_host-a: StartFirst: the new container takes over the Session',
      ].join('\n'),
    );
    expect(thePlan.serving).toBeUndefined();
  });

  it('without a readiness probe, running is Ready', () => {
    const plain = { ...START_FIRST };
    const candidate = containerFor(session({ ...plain, image: 'busybox:2' }), B, 'running', { name: 'dockerlet_default_web_host-a-next', created: CREATED_10S_AGO });
    const ops = plan(input({ desired: session({ ...plain, image: 'busybox:2' }), containers: [containerFor(session(plain), A), candidate] })).operations;
    expect(ops.map((op) => op.type)).toEqual(['remove', 'rename']);
  });

  it('past progressDeadlineSeconds removes the new container, keeps the old one serving, and stalls', () => {
    const candidate = containerFor(next, B, 'running', { name: 'dockerlet_default_web_host-a-next', created: Math.floor(NOW / 1000) - 61 });
    const probes = probeVerdict(next.spec, { started: true, results: { readinessProbe: { state: 'failure', output: 'HTTP 503', everSucceeded: false } } });
    const thePlan = plan(input({ desired: next, containers: [containerFor(old, A), candidate], probes }));
    expect(planToString(thePlan)).toBe(
      [
        'plan default/web: 1 operation(s)',
        '  - remove bbbbbbbbbbbb: progressDeadlineSeconds (60 s) passed before it was Ready: readinessProbe httpGet :8080/healthz failed 3 times in a row: HTTP 503',
        '  stalled: ProgressDeadlineExceeded: updateStrategy StartFirst: the new container was not Ready within progressDeadlineSeconds (60 s): readinessProbe httpGet :8080/healthz failed 3 times in a row: HTTP 503; aaaaaaaaaaaa keeps serving; change the Session to try again',
      ].join('\n'),
    );
    expect(thePlan.serving).toBe(A);
    // And it is not tried again for that version.
    const again = plan(input({ desired: next, containers: [containerFor(old, A)], failedRollout: containerFor(next, B).labels[LABELS.configHash] }));
    expect(planToString(again)).toBe(
      [
        'plan default/web: no changes',
        '  stalled: ProgressDeadlineExceeded: updateStrategy StartFirst: the new container was not Ready within progressDeadlineSeconds (60 s); aaaaaaaaaaaa keeps serving; change the Session to try again',
      ].join('\n'),
    );
  });

  it('starts a new container that was created but not started', () => {
    const candidate = containerFor(next, B, 'created', { name: 'dockerlet_default_web_host-a-next', created: CREATED_10S_AGO });
    expect(plan(input({ desired: next, containers: [containerFor(old, A), candidate] })).operations).toEqual([
      { type: 'start', container: { kind: 'existing', id: B }, cause: 'StartFirst: the new container was created, not started' },
    ]);
  });

  it('finishes a handover cut short between remove and rename', () => {
    const candidate = containerFor(next, B, 'running', { name: 'dockerlet_default_web_host-a-next' });
    expect(planToString(plan(input({ desired: next, containers: [candidate] })))).toBe(
      ['plan default/web: 1 operation(s)', '  - rename bbbbbbbbbbbb to dockerlet_default_web_host-a: StartFirst: the new container takes over the Session'].join('\n'),
    );
  });

  it('recreates as before when nothing serves (the old container exited) and with Recreate', () => {
    expect(plan(input({ desired: next, containers: [containerFor(old, A, 'exited')], imagePresent: true })).operations.map((op) => op.type)).toEqual(['remove', 'create', 'start']);
    const recreate = session({ image: 'busybox:2' });
    expect(plan(input({ desired: recreate, containers: [containerFor(session({}), A)], imagePresent: true })).operations.map((op) => op.type)).toEqual(['remove', 'create', 'start']);
  });
});

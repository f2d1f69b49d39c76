// The session reconciler end to end above the runtime boundary: real observe/plan/execute/status
// and ContainerCache, a fake engine, in-memory stores and a FakeClock. Each test drives one key
// through reconciles the way the controller loop would, and checks the engine and the status.
import { beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION } from '../../crds/types.ts';
import type { Condition, Session, SessionSpec, SessionStatus } from '../../crds/types.ts';
import { EngineError, EngineUnavailableError } from '../runtime/errors.ts';
import { getCondition } from '../../reconciler/conditions.ts';
import { fakeImageId } from '../../test/support/fake-runtime.ts';
import { LABELS } from './labels.ts';
import { crashBackoffMs } from './plan.ts';
import { sessionHarness } from '../../test/support/session-harness.ts';
import type { Step } from '../../test/support/session-harness.ts';

const AGENT = 'host-a';
const KEY = 'default/web';
const START = Date.parse('2026-01-01T00:00:00Z');
const MI = 1024 * 1024;

function session(spec: Partial<SessionSpec> = {}, generation = 1): Session {
  return {
    apiVersion: API_VERSION,
    kind: 'Session',
    metadata: { name: 'web', namespace: 'default', uid: 'uid-1', generation },
    spec: { image: 'busybox:1', ...spec },
  };
}

function harness() {
  return sessionHarness({ agent: AGENT, key: KEY, mayDelete: true, start: START });
}

type Harness = ReturnType<typeof harness>;

/** The delay of a reconcile that waits (RequeueAfterError) with `reason`; fails the test otherwise. */
function waitOf(step: Step, reason: string): number {
  expect(step).toMatchObject({ reason });
  return (step as { waitMs: number }).waitMs;
}

function condition(status: SessionStatus | undefined, type: string): Condition | undefined {
  return getCondition(status?.conditions, type);
}

/** Brings `s` up from nothing and forgets the calls that took. */
async function converged(h: Harness, s: Session = session()): Promise<string> {
  h.store.set(s);
  await h.run();
  const id = h.only().id;
  h.runtime.resetCalls();
  return id;
}

describe('session reconcile', () => {
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  it('creates and starts a container from nothing and reports Running/Ready', async () => {
    h.store.set(session({}, 3));
    await expect(h.run()).resolves.toEqual({});

    const c = h.only();
    expect(c.state).toBe('running');
    expect(c.name).toBe(`dockerlet_default_web_${AGENT}`);
    expect(c.labels).toMatchObject({ [LABELS.managedBy]: 'dockerlet', [LABELS.agent]: AGENT, [LABELS.name]: 'web', [LABELS.uid]: 'uid-1' });
    expect(h.runtime.calls).toMatchObject({ image_inspect: 1, create: 1, start: 1, inspect: 1, remove: 0, list: 0 });

    const status = h.status();
    expect(status).toMatchObject({ phase: 'Running', agent: AGENT, containerID: c.id, observedGeneration: 3, restartCount: 0, startedAt: c.startedAt });
    expect(condition(status, 'Ready')).toMatchObject({ status: 'True', reason: 'Running', observedGeneration: 3 });
    expect(condition(status, 'Reconciling')).toMatchObject({ status: 'False', reason: 'Converged' });
    expect(condition(status, 'Stalled')).toMatchObject({ status: 'False' });
  });

  it('does nothing the second time: no engine call at all and no status write', async () => {
    await converged(h);
    expect(h.statusStore.writes).toBe(1);
    h.clock.advance(60_000);

    await expect(h.run()).resolves.toEqual({});
    expect(h.totalCalls()).toBe(0);
    expect(h.statusStore.writes).toBe(1);
  });

  it('recreates on an image change, pulling first, and removes the old container', async () => {
    const oldId = await converged(h);
    h.runtime.pullable.add('busybox:2');
    h.store.set(session({ image: 'busybox:2' }, 2));

    await h.run();
    const c = h.only();
    expect(c.id).not.toBe(oldId);
    expect(c).toMatchObject({ image: 'busybox:2', state: 'running' });
    expect(h.runtime.container(oldId)).toBeUndefined();
    expect(h.runtime.log.map((r) => r.op).filter((op) => ['pull', 'remove', 'create', 'start'].includes(op))).toEqual(['pull', 'remove', 'create', 'start']);
    expect(h.status()).toMatchObject({ phase: 'Running', containerID: c.id, observedGeneration: 2 });
  });

  it('keeps the old container when the pull for a new image fails', async () => {
    const oldId = await converged(h);
    h.store.set(session({ image: 'busybox:404' }, 2));

    await expect(h.run()).rejects.toBeInstanceOf(EngineError);
    expect(h.only()).toMatchObject({ id: oldId, state: 'running', image: fakeImageId('busybox:1'), labels: { [LABELS.image]: 'busybox:1' } });
    expect(h.runtime.calls).toMatchObject({ pull: 1, remove: 0, create: 0 });
    const status = h.status();
    expect(status).toMatchObject({ containerID: oldId, observedGeneration: 1 });
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'ReconcileError' });
  });

  it('changes memory in place: same container, no recreate', async () => {
    const id = await converged(h, session({ resources: { memory: '128Mi' } }));
    h.store.set(session({ resources: { memory: '256Mi' } }, 2));

    await h.run();
    expect(h.only()).toMatchObject({ id, state: 'running', memoryBytes: 256 * MI });
    expect(h.runtime.calls).toMatchObject({ update: 1, create: 0, remove: 0, stop: 0 });
    expect(h.status()).toMatchObject({ phase: 'Running', containerID: id, observedGeneration: 2 });
    expect(condition(h.status(), 'Ready')).toMatchObject({ status: 'True' });
  });

  it('stops the container for state Stopped and starts the same one again for Running', async () => {
    const id = await converged(h);
    h.store.set(session({ state: 'Stopped' }, 2));

    await h.run();
    expect(h.only()).toMatchObject({ id, state: 'exited' });
    expect(h.runtime.calls).toMatchObject({ stop: 1, remove: 0 });
    const stopped = h.status();
    expect(stopped).toMatchObject({ phase: 'Stopped', containerID: id, observedGeneration: 2 });
    expect(stopped?.startedAt).toBeUndefined();
    expect(condition(stopped, 'Ready')).toMatchObject({ status: 'True', reason: 'Stopped' });

    h.store.set(session({ state: 'Running' }, 3));
    await h.run();
    expect(h.only()).toMatchObject({ id, state: 'running' });
    expect(h.status()).toMatchObject({ phase: 'Running', observedGeneration: 3 });
  });

  it('keeps the container and the status of a deleted Session while deletion is not allowed', async () => {
    const id = await converged(h);
    const before = h.status();
    h.world.mayDelete = false;
    h.store.remove(KEY);

    expect(waitOf(await h.run(), 'DeletionDeferred')).toBeGreaterThan(0);
    expect(h.only().id).toBe(id);
    expect(h.runtime.writes()).toBe(0);
    expect(h.status()).toEqual(before);
    expect(h.statusStore.deletes).toBe(0);
  });

  it('removes the container and the status of a deleted Session when deletion is allowed', async () => {
    await converged(h);
    h.store.remove(KEY);

    await expect(h.run()).resolves.toEqual({});
    expect(h.runtime.allContainers()).toEqual([]);
    expect(h.runtime.calls.remove).toBe(1);
    expect(h.status()).toBeUndefined();
    expect(h.statusStore.deletes).toBe(1);
  });

  it('reports Stalled for an object that was never valid, and touches no engine', async () => {
    h.store.setProblem(KEY, { reason: 'InvalidSpec', message: 'web.yaml: spec.image: is required', fieldPath: 'spec.image' });

    // Stalled: a TerminalError, so the queue does not retry it (an edit enqueues it again).
    await expect(h.run()).resolves.toEqual({ stalled: 'InvalidSpec' });
    expect(h.totalCalls()).toBe(0);
    const status = h.status();
    expect(status).toMatchObject({ phase: 'Pending', agent: AGENT, message: 'web.yaml: spec.image: is required' });
    expect(status?.containerID).toBeUndefined();
    expect(status?.observedGeneration).toBeUndefined();
    expect(condition(status, 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidSpec', message: 'web.yaml: spec.image: is required' });
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(condition(status, 'Reconciling')).toMatchObject({ status: 'False' });
  });

  it('keeps converging the last valid version while a newer one is refused', async () => {
    const oldId = await converged(h);
    h.store.setProblem(KEY, { reason: 'InvalidSpec', message: 'web.yaml: spec.resources.memory: not a quantity' });
    // Drift while the newer version is refused: the last valid one is still what we repair to.
    h.runtime.removeBehindOurBack(oldId);
    await h.cache.relist();

    await h.run();
    const c = h.only();
    expect(c).toMatchObject({ state: 'running', image: fakeImageId('busybox:1'), labels: { [LABELS.image]: 'busybox:1' } });
    expect(c.id).not.toBe(oldId);
    const status = h.status();
    expect(status).toMatchObject({ phase: 'Running', containerID: c.id, observedGeneration: 1 });
    expect(condition(status, 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(condition(status, 'Stalled')?.message).toContain('web.yaml: spec.resources.memory: not a quantity');
    expect(status?.message).toContain('web.yaml: spec.resources.memory: not a quantity');
  });

  it('reports EngineUnavailable and keeps observedGeneration when the engine fails during create', async () => {
    h.store.set(session());
    h.runtime.failNext('create', new EngineUnavailableError('connect ENOENT /var/run/docker.sock'));

    await expect(h.run()).rejects.toBeInstanceOf(EngineUnavailableError);
    const failed = h.status();
    expect(failed?.observedGeneration).toBeUndefined();
    expect(condition(failed, 'Ready')).toMatchObject({ status: 'False', reason: 'EngineUnavailable', message: 'connect ENOENT /var/run/docker.sock' });
    expect(condition(failed, 'Reconciling')).toMatchObject({ status: 'True', reason: 'EngineUnavailable' });
    expect(h.runtime.allContainers()).toEqual([]);

    // The retry succeeds and only then does observedGeneration move.
    await h.run();
    expect(h.status()).toMatchObject({ phase: 'Running', observedGeneration: 1 });
    expect(condition(h.status(), 'Ready')).toMatchObject({ status: 'True' });
  });

  it('does not move observedGeneration to a generation whose create failed', async () => {
    await converged(h);
    h.runtime.addImage('busybox:2');
    h.store.set(session({ image: 'busybox:2' }, 2));
    h.runtime.failNext('create', new EngineUnavailableError('connection reset'));

    await expect(h.run()).rejects.toBeInstanceOf(EngineUnavailableError);
    expect(h.status()?.observedGeneration).toBe(1);
    expect(condition(h.status(), 'Ready')).toMatchObject({ status: 'False', reason: 'EngineUnavailable' });

    await h.run();
    expect(h.status()?.observedGeneration).toBe(2);
  });

  it('waits with ErrImageNeverPull instead of pulling when imagePullPolicy is Never', async () => {
    h.store.set(session({ image: 'local/only:dev', imagePullPolicy: 'Never' }));

    expect(waitOf(await h.run(), 'ErrImageNeverPull')).toBeGreaterThan(0);
    expect(h.runtime.writes()).toBe(0);
    expect(h.status()).toMatchObject({ phase: 'Pending' });
    expect(condition(h.status(), 'Ready')).toMatchObject({ status: 'False', reason: 'ErrImageNeverPull' });
  });

  describe('crash loop', () => {
    it('restarts an exited container, then backs off while it keeps exiting at once', async () => {
      const id = await converged(h);

      h.runtime.kill(id, 1);
      await h.cache.relist();
      await expect(h.run()).resolves.toEqual({});
      expect(h.runtime.calls.start).toBe(1);
      expect(h.only()).toMatchObject({ id, state: 'running' });
      expect(h.status()).toMatchObject({ phase: 'Running', restartCount: 1 });

      // Exits again at once: the next start waits.
      h.runtime.resetCalls();
      h.runtime.kill(id, 1);
      await h.cache.relist();
      const backoff = waitOf(await h.run(), 'CrashLoopBackOff');
      expect(backoff).toBeGreaterThan(0);
      expect(h.runtime.calls.start).toBe(0);
      expect(h.only().state).toBe('exited');
      expect(h.status()).toMatchObject({ phase: 'Pending', restartCount: 1 });
      expect(condition(h.status(), 'Ready')).toMatchObject({ status: 'False', reason: 'CrashLoopBackOff' });

      // Not yet due: still waiting, for the rest of the back-off.
      h.clock.advance(backoff - 1);
      expect(await h.run()).toEqual({ waitMs: 1, reason: 'CrashLoopBackOff' });
      expect(h.runtime.calls.start).toBe(0);

      // Due: starts again, and the next back-off is longer.
      h.clock.advance(1);
      await expect(h.run()).resolves.toEqual({});
      expect(h.runtime.calls.start).toBe(1);
      expect(h.status()).toMatchObject({ phase: 'Running', restartCount: 2 });
      h.runtime.kill(id, 1);
      await h.cache.relist();
      expect(waitOf(await h.run(), 'CrashLoopBackOff')).toBeGreaterThan(backoff);
    });

    it('forgets the back-off once the container stayed up for a while', async () => {
      const id = await converged(h);
      // Three quick crashes in a row build the back-off up.
      for (let i = 0; i < 3; i++) {
        h.runtime.kill(id, 1);
        await h.cache.relist();
        const result = await h.run();
        if ('waitMs' in result) {
          h.clock.advance(result.waitMs);
          await h.run();
        }
      }
      expect(h.only().state).toBe('running');

      // A minute of uptime, then a crash: restarted at once...
      h.clock.advance(60_000);
      h.runtime.resetCalls();
      h.runtime.kill(id, 1);
      await h.cache.relist();
      await expect(h.run()).resolves.toEqual({});
      expect(h.runtime.calls.start).toBe(1);

      // ...and the count started over: the next quick crash waits the first step, not the fourth.
      h.runtime.kill(id, 1);
      await h.cache.relist();
      expect(await h.run()).toEqual({ waitMs: crashBackoffMs(1), reason: 'CrashLoopBackOff' });
    });
  });

  describe('a Session assigned to another agent', () => {
    it('is not ours: nothing created, no status written', async () => {
      h.store.set(session({ agent: 'other' }));

      await expect(h.run()).resolves.toEqual({});
      expect(h.totalCalls()).toBe(0);
      expect(h.statusStore.writes).toBe(0);
      expect(h.status()).toBeUndefined();
    });

    it('an explicit assignment to this agent is ours', async () => {
      h.store.set(session({ agent: AGENT }));
      await h.run();
      expect(h.only().state).toBe('running');
    });

    it('moving it away removes our container once deletion is allowed', async () => {
      await converged(h);
      h.store.set(session({ agent: 'other' }, 2));

      h.world.mayDelete = false;
      expect(waitOf(await h.run(), 'DeletionDeferred')).toBeGreaterThan(0);
      expect(h.runtime.calls.remove).toBe(0);

      h.world.mayDelete = true;
      await h.run();
      expect(h.runtime.allContainers()).toEqual([]);
    });

    // With a status store shared between agents (Kubernetes, Redis), an agent must not wipe the
    // status another agent maintains for a Session that is not its own.
    it('does not delete the status another agent wrote for it', async () => {
      h.store.set(session({ agent: 'other' }));
      const theirs: SessionStatus = { phase: 'Running', agent: 'other', containerID: 'f'.repeat(64), observedGeneration: 1 };
      h.statusStore.seed(KEY, theirs);

      await h.run();
      expect(h.statusStore.deletes).toBe(0);
      expect(h.status()).toEqual(theirs);
    });
  });
});

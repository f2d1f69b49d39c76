// ContainerCache against the fake engine: how many engine calls a relist costs, what events do,
// and that answers arriving out of order never overwrite fresher knowledge.
import { beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { API_VERSION } from '../../crds/types.ts';
import type { Session } from '../../crds/types.ts';
import { EngineUnavailableError, NotFoundError } from '../runtime/errors.ts';
import { FakeClock, flushMicrotasks } from '../../reconciler/fake-clock.ts';
import { FakeDockerRuntime } from '../../test/support/fake-runtime.ts';
import { ContainerCache } from './container-cache.ts';
import { desiredContainer } from './desired.ts';
import { ownedBy } from './labels.ts';

const AGENT = 'host-a';

function session(name: string): Session {
  return { apiVersion: API_VERSION, kind: 'Session', metadata: { name, namespace: 'default', uid: `uid-${name}`, generation: 1 }, spec: { image: 'busybox:1' } };
}

function harness() {
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  const runtime = new FakeDockerRuntime({ clock });
  runtime.addImage('busybox:1');
  const changed: string[] = [];
  const cache = new ContainerCache({ runtime, clock, selector: ownedBy(AGENT), logger: pino({ level: 'silent' }), onChange: (key) => changed.push(key) });
  /** A running container as dockerlet creates it for Session default/<name> (of `agent`). */
  const running = async (name: string, agent = AGENT): Promise<string> => {
    const id = await runtime.createContainer(desiredContainer(session(name), agent));
    await runtime.startContainer(id);
    return id;
  };
  return { clock, runtime, cache, changed, running };
}

type Harness = ReturnType<typeof harness>;

describe('ContainerCache', () => {
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  describe('relist', () => {
    it('fills the cache with one list and one inspect per new container, ours only', async () => {
      const a = await h.running('a');
      const b = await h.running('b');
      await h.running('c', 'host-b'); // another agent's
      await h.runtime.createContainer({ ...desiredContainer(session('x'), AGENT), name: 'not-ours', labels: {} });
      h.runtime.resetCalls();

      expect(h.cache.hasSynced()).toBe(false);
      await h.cache.relist();

      expect(h.cache.hasSynced()).toBe(true);
      expect(h.runtime.calls).toMatchObject({ list: 1, inspect: 2 });
      expect(h.runtime.log.filter((r) => r.op === 'inspect').map((r) => r.target).sort()).toEqual([a, b].sort());
      expect(h.cache.size()).toBe(2);
      expect(h.cache.containersFor('default/a').map((c) => c.id)).toEqual([a]);
      expect(h.cache.containersFor('default/a')[0]).toMatchObject({ state: 'running', exitCode: 0 });
      expect([...h.cache.keys()].sort()).toEqual(['default/a', 'default/b']);
      expect([...h.changed].sort()).toEqual(['default/a', 'default/b']);
    });

    it('costs exactly one list and no inspect when nothing changed', async () => {
      await h.running('a');
      await h.running('b');
      await h.cache.relist();
      h.runtime.resetCalls();
      h.changed.length = 0;

      await h.cache.relist();
      expect(h.runtime.calls).toMatchObject({ list: 1, inspect: 0 });
      expect(h.changed).toEqual([]);
    });

    it('inspects only the container whose state changed behind our back', async () => {
      const a = await h.running('a');
      await h.running('b');
      await h.cache.relist();
      h.runtime.resetCalls();
      h.changed.length = 0;

      h.runtime.setState(a, 'exited', { exitCode: 3, finishedAt: '2026-01-01T00:00:05.000Z' });
      await h.cache.relist();

      expect(h.runtime.calls).toMatchObject({ list: 1, inspect: 1 });
      expect(h.runtime.log.find((r) => r.op === 'inspect')?.target).toBe(a);
      expect(h.cache.containersFor('default/a')[0]).toMatchObject({ id: a, state: 'exited', exitCode: 3 });
      expect(h.changed).toEqual(['default/a']);
    });

    it('forgets a container that is gone and tells its owner', async () => {
      const a = await h.running('a');
      await h.running('b');
      await h.cache.relist();
      h.runtime.resetCalls();
      h.changed.length = 0;

      h.runtime.removeBehindOurBack(a);
      await h.cache.relist();

      expect(h.runtime.calls).toMatchObject({ list: 1, inspect: 0 });
      expect(h.cache.containersFor('default/a')).toEqual([]);
      expect(h.cache.size()).toBe(1);
      expect(h.changed).toEqual(['default/a']);
    });

    it('drops a container that vanished between the list and its inspect', async () => {
      const a = await h.running('a');
      h.runtime.failNext('inspect', new NotFoundError(`No such container: ${a}`, 404), a);

      await h.cache.relist();
      expect(h.cache.size()).toBe(0);
      expect(h.cache.hasSynced()).toBe(true);
    });

    it('fails, and is not synced, when an inspect fails for another reason', async () => {
      await h.running('a');
      h.runtime.failNext('inspect', new EngineUnavailableError('connection reset'));

      await expect(h.cache.relist()).rejects.toBeInstanceOf(EngineUnavailableError);
      expect(h.cache.hasSynced()).toBe(false);
    });
  });

  describe('handleEvent', () => {
    it('forgets a destroyed container without asking the engine', async () => {
      const a = await h.running('a');
      await h.cache.relist();
      h.runtime.resetCalls();
      h.changed.length = 0;

      h.cache.handleEvent({ containerId: a, action: 'destroy', labels: h.runtime.container(a)!.labels, timeNano: 1 });
      expect(h.cache.size()).toBe(0);
      expect(h.changed).toEqual(['default/a']);
      expect(h.runtime.calls.inspect).toBe(0);
    });

    it('keeps the cache fresh from the fake engine stream: die refreshes, destroy forgets', async () => {
      const abort = new AbortController();
      h.runtime.watchEvents(
        ownedBy(AGENT),
        { onEvent: (e) => h.cache.handleEvent(e), onReconnect: () => void h.cache.relist(), onDisconnect: () => {} },
        abort.signal,
      );
      const a = await h.running('a');
      await flushMicrotasks();
      expect(h.cache.containersFor('default/a')[0]).toMatchObject({ id: a, state: 'running' });

      h.changed.length = 0;
      h.runtime.kill(a, 137, { oomKilled: true });
      await flushMicrotasks();
      expect(h.cache.containersFor('default/a')[0]).toMatchObject({ state: 'exited', exitCode: 137, oomKilled: true });
      expect(h.changed).toContain('default/a');

      h.runtime.removeBehindOurBack(a);
      await flushMicrotasks();
      expect(h.cache.size()).toBe(0);

      // Another agent's container never reaches us.
      h.runtime.resetCalls();
      await h.running('b', 'host-b');
      await flushMicrotasks();
      expect(h.runtime.calls.inspect).toBe(0);
      abort.abort();
    });

    it('tells the owner to look again when the refresh after an event fails', async () => {
      const a = await h.running('a');
      await h.cache.relist();
      h.changed.length = 0;
      h.runtime.failNext('inspect', new EngineUnavailableError('connection reset'));

      h.clock.advance(5);
      h.cache.handleEvent({ containerId: a, action: 'die', labels: h.runtime.container(a)!.labels, exitCode: 1, timeNano: h.clock.now() * 1e6 });
      await flushMicrotasks();
      expect(h.changed).toEqual(['default/a']);
      // What we knew stays until we know better.
      expect(h.cache.containersFor('default/a')[0]?.state).toBe('running');
    });
  });

  describe('events the cache has already seen', () => {
    it('costs no inspect for an event older than the entry it holds (e.g. our own start)', async () => {
      const a = await h.running('a');
      h.clock.advance(10);
      await h.cache.relist();
      h.runtime.resetCalls();
      h.cache.handleEvent({ containerId: a, action: 'start', labels: h.runtime.container(a)!.labels, timeNano: (h.clock.now() - 5) * 1e6 });
      await flushMicrotasks();
      expect(h.runtime.calls.inspect ?? 0).toBe(0);
      h.cache.handleEvent({ containerId: a, action: 'die', labels: h.runtime.container(a)!.labels, timeNano: (h.clock.now() + 1) * 1e6 });
      await flushMicrotasks();
      expect(h.runtime.calls.inspect).toBe(1);
    });
  });

  describe('events that another event always follows', () => {
    it('costs no inspect for kill, stop and restart (die and start carry the news)', async () => {
      const a = await h.running('a');
      await h.cache.relist();
      h.runtime.resetCalls();
      h.clock.advance(5);
      for (const action of ['kill', 'stop', 'restart']) {
        h.cache.handleEvent({ containerId: a, action, labels: h.runtime.container(a)!.labels, timeNano: h.clock.now() * 1e6 });
      }
      await flushMicrotasks();
      expect(h.runtime.calls.inspect ?? 0).toBe(0);
    });
  });

  describe('hold and release around a reconcile', () => {
    it('holds back events of the held key and refreshes, on release, only what no later read saw', async () => {
      const a = await h.running('a');
      const b = await h.running('b');
      await h.cache.relist();
      h.runtime.resetCalls();
      h.changed.length = 0;

      h.cache.hold('default/a');
      h.clock.advance(5);
      const event = (id: string, action: string) => ({ containerId: id, action, labels: h.runtime.container(id)!.labels, timeNano: h.clock.now() * 1e6 });
      h.cache.handleEvent(event(a, 'start'));
      h.cache.handleEvent(event(b, 'die')); // another key: not held
      await flushMicrotasks();
      expect(h.runtime.calls.inspect).toBe(1);

      // The reconcile's own refresh reads `a` after its event: release then costs nothing more.
      h.clock.advance(5);
      await h.cache.refresh(a);
      h.runtime.resetCalls();
      await h.cache.release('default/a');
      expect(h.runtime.calls.inspect ?? 0).toBe(0);

      // An event newer than every read is refreshed when the hold ends.
      h.cache.hold('default/a');
      h.clock.advance(5);
      h.runtime.kill(a, 1);
      h.cache.handleEvent(event(a, 'die'));
      await flushMicrotasks();
      expect(h.runtime.calls.inspect ?? 0).toBe(0);
      expect(h.cache.containersFor('default/a')[0]?.state).toBe('running');
      await h.cache.release('default/a');
      expect(h.runtime.calls.inspect).toBe(1);
      expect(h.cache.containersFor('default/a')[0]).toMatchObject({ state: 'exited', exitCode: 1 });
    });

    it('keeps holding until the last of nested holds is released', async () => {
      const a = await h.running('a');
      await h.cache.relist();
      h.runtime.resetCalls();
      h.cache.hold('default/a');
      h.cache.hold('default/a');
      h.clock.advance(5);
      h.runtime.kill(a, 2);
      h.cache.handleEvent({ containerId: a, action: 'die', labels: h.runtime.container(a)!.labels, timeNano: h.clock.now() * 1e6 });
      await h.cache.release('default/a');
      expect(h.runtime.calls.inspect ?? 0).toBe(0);
      await h.cache.release('default/a');
      expect(h.cache.containersFor('default/a')[0]).toMatchObject({ state: 'exited', exitCode: 2 });
    });
  });

  describe('answers arriving out of order', () => {
    it('a slow inspect does not overwrite what a newer refresh found', async () => {
      const a = await h.running('a');
      await h.cache.relist();

      const gate = h.runtime.hold('inspect', a);
      const slow = h.cache.refresh(a); // answered now: running
      expect(gate.caught).toBe(true);
      h.runtime.kill(a, 2);
      await h.cache.refresh(a); // answered now: exited
      expect(h.cache.containersFor('default/a')[0]?.state).toBe('exited');

      gate.release();
      await slow;
      expect(h.cache.containersFor('default/a')[0]).toMatchObject({ state: 'exited', exitCode: 2 });
    });

    it('applies a finished inspect even while a later-started one is still in flight', async () => {
      // On a busy engine an inspect can wait seconds for the container lock while the engine
      // restarts the container; what an earlier inspect found must not be thrown away meanwhile.
      const a = await h.running('a');
      await h.cache.relist();
      h.runtime.kill(a, 3);
      const first = h.cache.refresh(a); // inspect already sent: exited
      const gate = h.runtime.hold('inspect', a);
      const second = h.cache.refresh(a); // held
      expect(gate.caught).toBe(true);
      await first;
      expect(h.cache.containersFor('default/a')[0]).toMatchObject({ state: 'exited', exitCode: 3 });
      gate.release();
      await second;
      expect(h.cache.containersFor('default/a')[0]).toMatchObject({ state: 'exited', exitCode: 3 });
    });

    it('a slow inspect does not resurrect a container forgotten meanwhile', async () => {
      const a = await h.running('a');
      await h.cache.relist();

      const gate = h.runtime.hold('inspect', a);
      const slow = h.cache.refresh(a); // answered now: running
      h.runtime.removeBehindOurBack(a);
      h.cache.handleEvent({ containerId: a, action: 'destroy', labels: {}, timeNano: 1 });
      expect(h.cache.size()).toBe(0);
      h.changed.length = 0;

      gate.release();
      await slow;
      expect(h.cache.size()).toBe(0);
      expect(h.changed).toEqual([]);
    });

    it('a slow inspect started by a relist does not resurrect a container destroyed meanwhile', async () => {
      const a = await h.running('a');
      const gate = h.runtime.hold('inspect', a);
      const relist = h.cache.relist();
      await flushMicrotasks();
      expect(gate.caught).toBe(true);

      h.runtime.removeBehindOurBack(a);
      h.cache.forget(a);
      gate.release();
      await relist;
      expect(h.cache.size()).toBe(0);
    });

    // Regression: a list answered before a container was created (a resync racing a reconcile
    // that creates and refreshes it) must not drop the brand-new container.
    it('a slow list does not forget a container refreshed after the list was answered', async () => {
      const gate = h.runtime.hold('list');
      const relist = h.cache.relist(); // answered now: no containers
      await flushMicrotasks();
      expect(gate.caught).toBe(true);

      const a = await h.running('a');
      await h.cache.refresh(a);
      expect(h.cache.size()).toBe(1);

      gate.release();
      await relist;
      expect(h.cache.containersFor('default/a').map((c) => c.id)).toEqual([a]);
    });
  });
});

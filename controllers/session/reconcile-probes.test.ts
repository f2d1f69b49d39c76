// Probes above the runtime boundary: the real reconciler, Prober and ContainerCache over the fake
// engine, a fake probe transport and a FakeClock (no sleeps). Ready follows readiness, a startup
// probe gates the others, a failing liveness probe restarts the same container under the crash
// back-off, and the engine's health_status events wake the Session. updateStrategy StartFirst, which
// hands over on the new container's readiness, is here too: status stays Ready on the old one.
import { beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION } from '../../crds/types.ts';
import type { Session, SessionSpec, SessionStatus } from '../../crds/types.ts';
import { getCondition } from '../../reconciler/conditions.ts';
import type { EventRecorder } from '../../reconciler/events.ts';
import { sessionHarness } from '../../test/support/session-harness.ts';
import { ownedBy } from './labels.ts';
import { crashBackoffMs } from './plan.ts';

const AGENT = 'host-a';
const KEY = 'default/web';
const START = Date.parse('2026-01-01T00:00:00Z');

function session(spec: Partial<SessionSpec> = {}, generation = 1): Session {
  return { apiVersion: API_VERSION, kind: 'Session', metadata: { name: 'web', namespace: 'default', uid: 'uid-1', generation }, spec: { image: 'busybox:1', ...spec } };
}

function harness() {
  const events: string[] = [];
  const recorder: EventRecorder = { record: (_subject, type, reason, message) => events.push(`${type} ${reason}: ${message}`) };
  const h = sessionHarness({ agent: AGENT, key: KEY, mayDelete: true, start: START, extra: () => ({ events: recorder }) });
  // The engine's events reach the cache, as in the agent.
  h.runtime.watchEvents(ownedBy(AGENT), { onEvent: (e) => h.cache.handleEvent(e), onReconnect: () => {}, onDisconnect: () => {} }, new AbortController().signal);
  return { ...h, events };
}

type Harness = ReturnType<typeof harness>;

/** Lets the checks and refreshes that a timer or an event started finish (no time passes). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Moves the fake clock on by `ms`, one second at a time, letting each check that comes due finish
 * (a check schedules the next one only once its answer is in).
 */
async function pass(h: Harness, ms: number): Promise<void> {
  await settle();
  for (let left = ms; left > 0; left -= Math.min(1_000, left)) {
    h.clock.advance(Math.min(1_000, left));
    await settle();
  }
}

function ready(status: SessionStatus | undefined) {
  return getCondition(status?.conditions, 'Ready');
}

const HTTP_READINESS = { readinessProbe: { httpGet: { port: 8080, path: '/healthz' }, periodSeconds: 5, failureThreshold: 3 } };

describe('probes', () => {
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  it('a failing readiness probe keeps the Session Running but not Ready; passing makes it Ready within one period', async () => {
    h.store.set(session(HTTP_READINESS));
    await h.run();
    const id = h.only().id;
    expect(h.status()?.phase).toBe('Running');
    expect(ready(h.status())).toMatchObject({ status: 'False', reason: 'ProbeFailed', message: 'readinessProbe httpGet :8080/healthz has not passed yet: no result yet' });

    // Three failures in a row (at 0, 5 and 10 s): failed, with the last output.
    h.clock.advance(0);
    await pass(h, 10_000);
    await h.run();
    expect(h.status()?.phase).toBe('Running');
    expect(ready(h.status())).toMatchObject({ status: 'False', reason: 'ProbeFailed', message: 'readinessProbe httpGet :8080/healthz failed 3 times in a row: connect ECONNREFUSED' });
    expect(getCondition(h.status()?.conditions, 'Reconciling')).toMatchObject({ status: 'True', reason: 'ProbeFailed' });
    expect(h.probes.checks.every((c) => c.host === h.only().ipAddress && c.port === 8080)).toBe(true);

    // It serves now: the next check (at most one period away) flips it and wakes the Session.
    h.probes.answer(8080, true);
    h.changed.length = 0;
    await pass(h, 5_000);
    expect(h.changed).toContain(KEY);
    await h.run();
    expect(ready(h.status())).toMatchObject({ status: 'True', reason: 'Running' });
    expect(getCondition(h.status()?.conditions, 'Reconciling')).toMatchObject({ status: 'False' });
    expect(h.only().id).toBe(id);
  });

  it('an exec readiness probe reads the engine HEALTHCHECK; its health_status event wakes the Session', async () => {
    h.store.set(session({ readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 2 } }));
    await h.run();
    const id = h.only().id;
    expect(h.runtime.requestOf(id)?.healthcheck).toEqual({ command: ['cat', '/tmp/ready'], intervalSeconds: 2, timeoutSeconds: 1, retries: 3, startPeriodSeconds: 0 });
    expect(ready(h.status())).toMatchObject({ status: 'False', reason: 'ProbeFailed' });

    h.changed.length = 0;
    h.runtime.setHealth(id, 'unhealthy', 'cat: can\'t open \'/tmp/ready\': No such file or directory\n');
    await settle();
    expect(h.changed).toContain(KEY);
    await h.run();
    expect(ready(h.status())?.message).toBe("readinessProbe exec [cat /tmp/ready] failed 3 times in a row: cat: can't open '/tmp/ready': No such file or directory");

    h.runtime.setHealth(id, 'healthy');
    await settle();
    await h.run();
    expect(ready(h.status())).toMatchObject({ status: 'True' });
    // A readiness probe restarts nothing.
    expect(h.runtime.calls.stop).toBe(0);
  });

  it('a failing liveness probe restarts the same container, counted, Event Unhealthy then Restarted, under the crash back-off', async () => {
    h.store.set(session({ livenessProbe: { tcpSocket: { port: 5432 }, periodSeconds: 1, failureThreshold: 2 } }));
    await h.run();
    const id = h.only().id;
    expect(ready(h.status())).toMatchObject({ status: 'True' });
    h.events.length = 0;

    h.clock.advance(0);
    await pass(h, 1_000);
    await h.run();
    expect(h.only()).toMatchObject({ id, state: 'running' });
    expect(h.runtime.calls.stop).toBe(1);
    expect(h.runtime.calls.start).toBe(2);
    expect(h.status()?.restartCount).toBe(1);
    expect(h.events.map((e) => e.split(':')[0])).toEqual(['Warning Unhealthy', 'Normal Stopped', 'Normal Restarted']);
    expect(h.events[0]).toContain('livenessProbe tcpSocket :5432 failed 2 times in a row: connect ECONNREFUSED');
    expect(h.events[2]).toContain('livenessProbe tcpSocket :5432 failed 2 times in a row');

    // Never healthy: each restart in a row waits longer (1 s, 2 s, ...), instead of hammering the
    // engine. The second one is due by the time the probe fails again (after 1 s); the third is not.
    h.clock.advance(0);
    await pass(h, 1_000);
    await h.run();
    expect(h.runtime.calls.stop).toBe(2);
    h.clock.advance(0);
    await pass(h, 1_000);
    const step = await h.run();
    expect(step).toMatchObject({ reason: 'CrashLoopBackOff', waitMs: crashBackoffMs(2) - 1_000 });
    expect(h.runtime.calls.stop).toBe(2);
    expect(ready(h.status())).toMatchObject({ status: 'False', reason: 'ProbeFailed' });
    expect(ready(h.status())?.message).toContain('restart 3 in a row waits 2000 ms');
    await pass(h, crashBackoffMs(2) - 1_000);
    await h.run();
    expect(h.runtime.calls.stop).toBe(3);
    expect(h.only().id).toBe(id);
    expect(h.status()?.restartCount).toBe(3);
  });

  it('a liveness restart after the container was healthy starts the back-off over', async () => {
    h.store.set(session({ livenessProbe: { tcpSocket: { port: 5432 }, periodSeconds: 1, failureThreshold: 1 } }));
    await h.run();
    for (let round = 1; round <= 3; round += 1) {
      h.probes.answer(5432, true);
      h.clock.advance(0);
      await pass(h, 1_000);
      h.probes.answer(5432, false, 'connect ECONNREFUSED');
      await pass(h, 1_000);
      // Healthy in between: never a back-off wait.
      await expect(h.run()).resolves.toEqual({});
      expect(h.runtime.calls.stop).toBe(round);
    }
  });

  it('a startup probe gates liveness and readiness: they are not checked before it passes', async () => {
    h.store.set(
      session({
        startupProbe: { httpGet: { port: 8080, path: '/started' }, periodSeconds: 1, failureThreshold: 30 },
        livenessProbe: { tcpSocket: { port: 9000 }, periodSeconds: 1, failureThreshold: 1 },
        readinessProbe: { httpGet: { port: 8080, path: '/ready' }, periodSeconds: 1 },
      }),
    );
    await h.run();
    h.clock.advance(0);
    await pass(h, 5_000);
    await h.run();
    expect(h.probes.checks.every((c) => c.port === 8080)).toBe(true);
    expect(h.runtime.calls.stop).toBe(0);
    expect(ready(h.status())?.message).toBe('startupProbe httpGet :8080/started has not passed yet: connect ECONNREFUSED');

    h.probes.answer(8080, true);
    h.probes.answer(9000, true);
    await pass(h, 1_000);
    await h.run();
    await pass(h, 1_000);
    await h.run();
    expect(h.probes.checks.some((c) => c.port === 9000)).toBe(true);
    expect(ready(h.status())).toMatchObject({ status: 'True' });
  });

  it('stops probing a deleted Session', async () => {
    h.store.set(session(HTTP_READINESS));
    await h.run();
    expect(h.prober.keys()).toEqual([KEY]);
    h.store.remove(KEY);
    await h.run();
    expect(h.prober.keys()).toEqual([]);
    expect(h.clock.pendingTimers()).toBe(0);
  });
});

describe('updateStrategy StartFirst', () => {
  let h: Harness;
  beforeEach(() => {
    h = harness();
    h.runtime.addImage('busybox:2');
  });

  const spec = (image: string): Partial<SessionSpec> => ({ image, updateStrategy: { type: 'StartFirst' }, progressDeadlineSeconds: 30, ...HTTP_READINESS });

  async function readyOn(image: string): Promise<string> {
    h.probes.answer(8080, true);
    h.store.set(session(spec(image)));
    await h.run();
    h.clock.advance(0);
    await settle();
    await h.run();
    expect(ready(h.status())).toMatchObject({ status: 'True' });
    return h.only().id;
  }

  it('keeps the old container serving and status Ready until the new one is Ready, then hands over', async () => {
    const old = await readyOn('busybox:1');
    h.probes.answer(8080, false);
    h.store.set(session(spec('busybox:2'), 2));

    await expect(h.run()).resolves.toMatchObject({ reason: 'Progressing' });
    const all = h.runtime.allContainers();
    expect(all.map((c) => c.name).sort()).toEqual(['dockerlet_default_web_host-a', 'dockerlet_default_web_host-a-next']);
    expect(h.status()?.containerID).toBe(old);
    expect(ready(h.status())).toMatchObject({ status: 'True' });
    expect(getCondition(h.status()?.conditions, 'Reconciling')).toMatchObject({ status: 'True', reason: 'Progressing' });
    // The new container is the one probed.
    const fresh = all.find((c) => c.id !== old)!;
    await pass(h, 5_000);
    expect(h.probes.checks.at(-1)?.host).toBe(fresh.ipAddress);
    await expect(h.run()).resolves.toMatchObject({ reason: 'Progressing' });
    expect(ready(h.status())).toMatchObject({ status: 'True' });

    h.probes.answer(8080, true);
    await pass(h, 5_000);
    await h.run();
    expect(h.only()).toMatchObject({ id: fresh.id, name: 'dockerlet_default_web_host-a' });
    expect(h.status()?.containerID).toBe(fresh.id);
    expect(ready(h.status())).toMatchObject({ status: 'True' });
    expect(getCondition(h.status()?.conditions, 'Reconciling')).toMatchObject({ status: 'False' });
  });

  it('past progressDeadlineSeconds: the new one goes, the old one serves, Stalled, and it is not tried again', async () => {
    const old = await readyOn('busybox:1');
    h.probes.answer(8080, false);
    h.store.set(session(spec('busybox:2'), 2));
    await h.run();
    await pass(h, 31_000);
    await expect(h.run()).resolves.toEqual({ stalled: 'ProgressDeadlineExceeded' });
    expect(h.only().id).toBe(old);
    expect(getCondition(h.status()?.conditions, 'Stalled')).toMatchObject({ status: 'True', reason: 'ProgressDeadlineExceeded' });
    expect(ready(h.status())).toMatchObject({ status: 'True' });
    // Seen (as a Deployment's observedGeneration after ProgressDeadlineExceeded), not rolled out.
    expect(h.status()?.observedGeneration).toBe(2);

    const creates = h.runtime.calls.create;
    await expect(h.run()).resolves.toEqual({ stalled: 'ProgressDeadlineExceeded' });
    expect(h.runtime.calls.create).toBe(creates);
    // A change of the Session tries again.
    h.store.set(session({ ...spec('busybox:2'), env: [{ name: 'TRY', value: '2' }] }, 3));
    await expect(h.run()).resolves.toMatchObject({ reason: 'Progressing' });
    expect(h.runtime.calls.create).toBe(creates + 1);
  });
});

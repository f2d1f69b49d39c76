// Golden plans for probes: exec probes become the engine HEALTHCHECK and so the config hash (a
// change recreates, naming the field); httpGet and tcpSocket are the agent's and change no
// container; a failed liveness probe restarts the same container under the crash back-off.
import { describe, expect, it } from 'vitest';
import type { SessionSpec } from '../../crds/types.ts';
import { desiredContainer } from './desired.ts';
import { configFieldHashes } from './hash.ts';
import { plan, planToString } from './plan.ts';
import { A, AGENT, NOW, containerFor, input, session } from './plan-fixtures.ts';
import { probeVerdict } from './probe-verdict.ts';

const EXEC_READY: Partial<SessionSpec> = { readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 2, timeoutSeconds: 3, failureThreshold: 4, initialDelaySeconds: 5 } };

describe('plan: probes', () => {
  it('maps an exec probe to the HEALTHCHECK: interval, timeout, retries, start period', () => {
    expect(desiredContainer(session(EXEC_READY), AGENT).healthcheck).toEqual({
      command: ['cat', '/tmp/ready'],
      intervalSeconds: 2,
      timeoutSeconds: 3,
      retries: 4,
      startPeriodSeconds: 5,
    });
    expect(desiredContainer(session({ readinessProbe: { httpGet: { port: 80 } } }), AGENT).healthcheck).toBeUndefined();
  });

  it('recreates when an exec probe is added or changed, naming healthcheck', () => {
    const old = session({});
    const next = session(EXEC_READY);
    expect(planToString(plan(input({ desired: next, containers: [containerFor(old, A)], imagePresent: true })))).toBe(
      [
        'plan default/web: 3 operation(s)',
        '  - remove aaaaaaaaaaaa: config-hash changed: healthcheck',
        '  - create dockerlet_default_web_host-a (image busybox:1): config-hash changed: healthcheck',
        '  - start <new container>: spec.state is Running',
      ].join('\n'),
    );
    const changed = session({ readinessProbe: { ...EXEC_READY.readinessProbe!, periodSeconds: 7 } });
    expect(plan(input({ desired: changed, containers: [containerFor(next, A)], imagePresent: true })).operations[0]?.cause).toBe('config-hash changed: healthcheck');
  });

  it('changes no container for an httpGet or tcpSocket probe: the agent runs those', () => {
    const old = session({});
    const next = session({ readinessProbe: { httpGet: { port: 80, path: '/' } }, livenessProbe: { tcpSocket: { port: 80 } } });
    expect(configFieldHashes(next.spec)).toBe(configFieldHashes(old.spec));
    expect(planToString(plan(input({ desired: next, containers: [containerFor(old, A)] })))).toBe('plan default/web: no changes');
  });

  it('restarts the same container when liveness failed: stop with the grace period, then start', () => {
    const s = session({ livenessProbe: { httpGet: { port: 8080, path: '/healthz' }, failureThreshold: 3 }, stopGracePeriodSeconds: 20 });
    const probes = probeVerdict(s.spec, { started: true, results: { livenessProbe: { state: 'failure', output: 'HTTP 500: boom', everSucceeded: true } } });
    const thePlan = plan(input({ desired: s, containers: [containerFor(s, A)], probes }));
    expect(planToString(thePlan)).toBe(
      [
        'plan default/web: 2 operation(s)',
        '  - stop aaaaaaaaaaaa (grace 20 s): livenessProbe httpGet :8080/healthz failed 3 times in a row: HTTP 500: boom',
        '  - start aaaaaaaaaaaa: livenessProbe httpGet :8080/healthz failed 3 times in a row: HTTP 500: boom',
      ].join('\n'),
    );
    expect(thePlan.probeRestart?.probe).toBe('livenessProbe');
  });

  it('waits out the crash back-off when it never got healthy', () => {
    const s = session({ startupProbe: { tcpSocket: { port: 5432 }, failureThreshold: 30 } });
    const probes = probeVerdict(s.spec, { started: false, results: { startupProbe: { state: 'failure', output: 'connect ECONNREFUSED', everSucceeded: false } } });
    const crashLoop = { consecutiveRestarts: 3, lastRestartAt: NOW - 1_000 };
    expect(planToString(plan(input({ desired: s, containers: [containerFor(s, A)], probes, crashLoop })))).toBe(
      [
        'plan default/web: no changes',
        '  wait 3000 ms: CrashLoopBackOff: startupProbe tcpSocket :5432 failed 30 times in a row: connect ECONNREFUSED; restart 4 in a row waits 4000 ms',
      ].join('\n'),
    );
  });

  it('does nothing for a readiness probe that fails: Ready is status, not an operation', () => {
    const s = session({ readinessProbe: { httpGet: { port: 80 } } });
    const probes = probeVerdict(s.spec, { started: true, results: { readinessProbe: { state: 'failure', output: 'HTTP 503', everSucceeded: false } } });
    expect(probes).toMatchObject({ ready: false, message: 'readinessProbe httpGet :80/ failed 3 times in a row: HTTP 503' });
    expect(planToString(plan(input({ desired: s, containers: [containerFor(s, A)], probes })))).toBe('plan default/web: no changes');
  });
});

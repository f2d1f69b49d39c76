import { describe, expect, it } from 'vitest';
import { desiredContainer } from './desired.ts';
import { LABELS } from './labels.ts';
import { crashBackoffMs, plan, planToString } from './plan.ts';
import { A, AGENT, B, NOW, containerFor, input, session } from './plan-fixtures.ts';

describe('plan', () => {
  it('creates and starts when there is no container', () => {
    expect(planToString(plan(input({ desired: session(), imagePresent: true })))).toBe(
      [
        'plan default/web: 2 operation(s)',
        '  - create dockerlet_default_web_host-a (image busybox:1): no container for the Session',
        '  - start <new container>: spec.state is Running',
      ].join('\n'),
    );
  });

  it('creates from the image ID it observed, and from the name after a pull', () => {
    const id = 'sha256:765f875080a9220ec3186dfc31b67b030c07e570665ba0e000bb9d17d5481cd5';
    const found = plan(input({ desired: session(), imagePresent: true, imageId: id }));
    expect(planToString(found)).toBe(
      [
        'plan default/web: 2 operation(s)',
        '  - create dockerlet_default_web_host-a (image busybox:1, ID 765f875080a9): no container for the Session',
        '  - start <new container>: spec.state is Running',
      ].join('\n'),
    );
    expect(found.operations[0]).toMatchObject({ type: 'create', request: { image: 'busybox:1', imageId: id, labels: { [LABELS.image]: 'busybox:1' } } });
    // imagePullPolicy Always: the pull may move the tag, so the ID seen before it is not used.
    const pulled = plan(input({ desired: session({ imagePullPolicy: 'Always' }), imagePresent: true, imageId: id }));
    expect(planToString(pulled)).toBe(
      [
        'plan default/web: 3 operation(s)',
        '  - pull busybox:1: imagePullPolicy is Always',
        '  - create dockerlet_default_web_host-a (image busybox:1): no container for the Session',
        '  - start <new container>: spec.state is Running',
      ].join('\n'),
    );
  });

  it('pulls first when the image is missing', () => {
    expect(planToString(plan(input({ desired: session(), imagePresent: false })))).toBe(
      [
        'plan default/web: 3 operation(s)',
        '  - pull busybox:1: image not present on the engine',
        '  - create dockerlet_default_web_host-a (image busybox:1): no container for the Session',
        '  - start <new container>: spec.state is Running',
      ].join('\n'),
    );
  });

  it('waits instead of pulling when imagePullPolicy is Never', () => {
    const p = plan(input({ desired: session({ imagePullPolicy: 'Never' }), imagePresent: false }));
    expect(planToString(p)).toBe(
      [
        'plan default/web: no changes',
        '  wait 30000 ms: ErrImageNeverPull: image busybox:1 is not on the engine and imagePullPolicy is Never; load or build it there',
      ].join('\n'),
    );
  });

  it('does nothing for a running container that matches (adoption)', () => {
    const s = session();
    expect(planToString(plan(input({ desired: s, containers: [containerFor(s, A)] })))).toBe('plan default/web: no changes');
  });

  it('recreates on an image change and names the changed field; pulls before removing', () => {
    const old = session({ image: 'busybox:1' });
    const next = session({ image: 'busybox:2' });
    expect(planToString(plan(input({ desired: next, containers: [containerFor(old, A)], imagePresent: false })))).toBe(
      [
        'plan default/web: 4 operation(s)',
        '  - pull busybox:2: image not present on the engine',
        '  - remove aaaaaaaaaaaa: config-hash changed: image',
        '  - create dockerlet_default_web_host-a (image busybox:2): config-hash changed: image',
        '  - start <new container>: spec.state is Running',
      ].join('\n'),
    );
  });

  it('recreates on an env change', () => {
    const old = session({ env: [{ name: 'A', value: '1' }] });
    const next = session({ env: [{ name: 'A', value: '2' }] });
    expect(planToString(plan(input({ desired: next, containers: [containerFor(old, A)], imagePresent: true })))).toBe(
      [
        'plan default/web: 3 operation(s)',
        '  - remove aaaaaaaaaaaa: config-hash changed: env',
        '  - create dockerlet_default_web_host-a (image busybox:1): config-hash changed: env',
        '  - start <new container>: spec.state is Running',
      ].join('\n'),
    );
  });

  it('ignores env order', () => {
    const old = session({ env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] });
    const next = session({ env: [{ name: 'B', value: '2' }, { name: 'A', value: '1' }] });
    expect(plan(input({ desired: next, containers: [containerFor(old, A)] })).operations).toEqual([]);
  });

  it('updates memory and restart policy in place', () => {
    const old = session({ resources: { memory: '256Mi' }, restartPolicy: 'Never' });
    const next = session({ resources: { memory: '512Mi' }, restartPolicy: 'Always' });
    expect(planToString(plan(input({ desired: next, containers: [containerFor(old, A)] })))).toBe(
      [
        'plan default/web: 1 operation(s)',
        '  - update aaaaaaaaaaaa: changed in place: resources.memory 256Mi → 512Mi; restartPolicy no → unless-stopped',
      ].join('\n'),
    );
  });

  it('recreates when a limit is removed, which the engine cannot do in place', () => {
    const old = session({ resources: { cpu: '500m' } });
    const next = session({});
    expect(planToString(plan(input({ desired: next, containers: [containerFor(old, A)], imagePresent: true })))).toBe(
      [
        'plan default/web: 3 operation(s)',
        '  - remove aaaaaaaaaaaa: resources.cpu removed (the engine cannot clear a limit in place)',
        '  - create dockerlet_default_web_host-a (image busybox:1): resources.cpu removed (the engine cannot clear a limit in place)',
        '  - start <new container>: spec.state is Running',
      ].join('\n'),
    );
  });

  it('stops without removing when state is Stopped, and starts the same container again', () => {
    const stopped = session({ state: 'Stopped' });
    expect(planToString(plan(input({ desired: stopped, containers: [containerFor(stopped, A)] })))).toBe(
      ['plan default/web: 1 operation(s)', '  - stop aaaaaaaaaaaa: spec.state is Stopped'].join('\n'),
    );
    const running = session({ state: 'Running' });
    expect(planToString(plan(input({ desired: running, containers: [containerFor(stopped, A, 'exited')] })))).toBe(
      ['plan default/web: 1 operation(s)', '  - start aaaaaaaaaaaa: container exited with code 0; restartPolicy is Always'].join('\n'),
    );
  });

  it('state does not enter the config hash', () => {
    const stopped = session({ state: 'Stopped' });
    const running = session({ state: 'Running' });
    expect(desiredContainer(stopped, AGENT).labels[LABELS.configHash]).toBe(desiredContainer(running, AGENT).labels[LABELS.configHash]);
  });

  it('removes the container when the Session is gone and deletion is allowed', () => {
    const s = session();
    expect(planToString(plan(input({ containers: [containerFor(s, A)] })))).toBe(
      ['plan default/web: 1 operation(s)', '  - remove aaaaaaaaaaaa: no Session default/web in the store'].join('\n'),
    );
  });

  it('removes nothing when the store is incomplete or adoption is running', () => {
    const s = session();
    const p = plan(input({ containers: [containerFor(s, A)], mayDeleteUndesired: false }));
    expect(p.operations).toEqual([]);
    expect(p.wait?.reason).toBe('DeletionDeferred');
  });

  it('keeps one container and removes duplicates', () => {
    const s = session();
    const p = plan(input({ desired: s, containers: [containerFor(s, A, 'exited', { created: 1 }), containerFor(s, B, 'running', { created: 2 })] }));
    expect(planToString(p)).toBe(
      ['plan default/web: 1 operation(s)', '  - remove aaaaaaaaaaaa: duplicate container for default/web (keeping bbbbbbbbbbbb)'].join('\n'),
    );
  });

  it('replaces a container that belongs to an earlier object with the same name', () => {
    const old = session();
    old.metadata.uid = 'uid-0';
    const p = plan(input({ desired: session(), containers: [containerFor(old, A)], imagePresent: true }));
    expect(p.operations.map((op) => op.type)).toEqual(['remove', 'create', 'start']);
    expect(p.operations[0]?.cause).toBe('container belongs to an earlier Session default/web (uid uid-0)');
  });

  it('leaves restarting to the engine', () => {
    const s = session();
    const p = plan(input({ desired: s, containers: [containerFor(s, A, 'restarting', { exitCode: 1 })] }));
    expect(planToString(p)).toBe(
      ['plan default/web: no changes', '  wait 1000 ms: EngineRestarting: the engine is restarting the container (exit code 1)'].join('\n'),
    );
  });

  it('backs off repeated restarts of a container that keeps exiting', () => {
    const s = session();
    const exited = containerFor(s, A, 'exited', { exitCode: 137, startedAt: '2025-12-31T23:59:59Z', finishedAt: '2025-12-31T23:59:59.5Z' });
    const first = plan(input({ desired: s, containers: [exited], crashLoop: { consecutiveRestarts: 0 } }));
    expect(first.operations.map((op) => op.type)).toEqual(['start']);
    const third = plan(input({ desired: s, containers: [exited], crashLoop: { consecutiveRestarts: 3, lastRestartAt: NOW - 1_000 } }));
    expect(planToString(third)).toBe(
      ['plan default/web: no changes', '  wait 3000 ms: CrashLoopBackOff: container exited with code 137; restart 4 in a row waits 4000 ms'].join('\n'),
    );
    expect([1, 2, 3, 4, 20].map(crashBackoffMs)).toEqual([1000, 2000, 4000, 8000, 300000]);
  });

  it('resets the back-off after a container ran long enough', () => {
    const s = session();
    const exited = containerFor(s, A, 'exited', { exitCode: 1, startedAt: '2025-12-31T23:00:00Z', finishedAt: '2025-12-31T23:30:00Z' });
    const p = plan(input({ desired: s, containers: [exited], crashLoop: { consecutiveRestarts: 5, lastRestartAt: NOW - 10 } }));
    expect(p.operations.map((op) => op.type)).toEqual(['start']);
  });

  it('does not restart a container that completed under OnFailure or Never', () => {
    for (const restartPolicy of ['OnFailure', 'Never'] as const) {
      const s = session({ restartPolicy });
      expect(plan(input({ desired: s, containers: [containerFor(s, A, 'exited', { exitCode: 0 })] })).operations).toEqual([]);
    }
    const never = session({ restartPolicy: 'Never' });
    expect(plan(input({ desired: never, containers: [containerFor(never, A, 'exited', { exitCode: 2 })] })).operations).toEqual([]);
  });

  it('maps spec to the container request', () => {
    const s = session({
      command: ['/bin/sh', '-c'],
      args: ['sleep 1000'],
      env: [{ name: 'MODE', value: 'x' }],
      ports: [{ containerPort: 80, hostPort: 8080 }],
      volumes: [{ name: 'data', volume: 'web-data' }, { name: 'scratch', emptyDir: { sizeLimit: '64Mi' } }],
      mounts: [{ name: 'data', mountPath: '/data' }, { name: 'scratch', mountPath: '/tmp', readOnly: false }],
      resources: { cpu: '500m', memory: '1Gi' },
      labels: { team: 'a' },
    });
    const request = desiredContainer(s, AGENT);
    expect(request).toMatchObject({
      name: 'dockerlet_default_web_host-a',
      image: 'busybox:1',
      entrypoint: ['/bin/sh', '-c'],
      cmd: ['sleep 1000'],
      env: ['MODE=x'],
      ports: [{ containerPort: 80, protocol: 'tcp', hostPort: 8080, hostIP: '127.0.0.1' }],
      mounts: [
        { type: 'volume', source: 'web-data', target: '/data', readOnly: false },
        { type: 'tmpfs', target: '/tmp', readOnly: false, tmpfsSizeBytes: 64 * 1024 * 1024 },
      ],
      memoryBytes: 1024 ** 3,
      nanoCpus: 500_000_000,
      restartPolicy: { name: 'unless-stopped' },
    });
    expect(request.labels).toMatchObject({
      team: 'a',
      [LABELS.managedBy]: 'dockerlet',
      [LABELS.agent]: AGENT,
      [LABELS.namespace]: 'default',
      [LABELS.name]: 'web',
      [LABELS.uid]: 'uid-1',
    });
    expect(request.labels[LABELS.configHash]).toMatch(/^[0-9a-f]{64}$/);
  });
});

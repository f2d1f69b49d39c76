// Golden plans for the session-grade container fields: each one reaches the create request, a
// change of it recreates (naming the field), a container made before the fields existed is
// adopted, and the waits for a missing network or an unreadable env file touch nothing.
import { describe, expect, it } from 'vitest';
import type { SessionSpec } from '../../crds/types.ts';
import { desiredContainer } from './desired.ts';
import type { EnvFiles } from './env-files.ts';
import { configFieldHashes, configHash } from './hash.ts';
import { LABELS } from './labels.ts';
import { plan, planToString } from './plan.ts';
import { A, AGENT, containerFor, input, session } from './plan-fixtures.ts';

const MiB = 1024 * 1024;

const SESSION_GRADE: Partial<SessionSpec> = {
  user: '1000:1000',
  workingDir: '/home/app',
  hostname: 'desk-1',
  shmSize: '1Gi',
  networks: ['front', 'back'],
  capabilities: { add: ['SYS_PTRACE', 'NET_ADMIN'], drop: ['ALL'] },
  devices: [{ hostPath: '/dev/fuse' }, { hostPath: '/dev/dri/card0', containerPath: '/dev/dri/card1', permissions: 'rw' }],
  gpus: { all: true },
  stopSignal: 'SIGINT',
  stopGracePeriodSeconds: 30,
  logging: { driver: 'json-file', options: { 'max-size': '10m' } },
  ulimits: [{ name: 'nofile', soft: 1024, hard: 4096 }],
  readOnlyRootFilesystem: true,
  tmpfs: [{ mountPath: '/run', sizeLimit: '16Mi', mode: 0o755 }],
};

function read(value: string, sha256 = `sha-of-${value}`): EnvFiles {
  return new Map([['/run/secrets/token', { ok: true, value, sha256 }]]);
}

describe('plan: session-grade fields', () => {
  it('maps every field to the create request', () => {
    const request = desiredContainer(session(SESSION_GRADE), AGENT);
    expect(request).toMatchObject({
      user: '1000:1000',
      workingDir: '/home/app',
      hostname: 'desk-1',
      shmSizeBytes: 1024 * MiB,
      networks: ['front', 'back'],
      capAdd: ['SYS_PTRACE', 'NET_ADMIN'],
      capDrop: ['ALL'],
      devices: [
        { hostPath: '/dev/fuse', containerPath: '/dev/fuse', permissions: 'rwm' },
        { hostPath: '/dev/dri/card0', containerPath: '/dev/dri/card1', permissions: 'rw' },
      ],
      gpus: { count: -1 },
      stopSignal: 'SIGINT',
      stopTimeoutSeconds: 30,
      logConfig: { driver: 'json-file', options: { 'max-size': '10m' } },
      ulimits: [{ name: 'nofile', soft: 1024, hard: 4096 }],
      readOnlyRootfs: true,
      mounts: [{ type: 'tmpfs', target: '/run', readOnly: false, tmpfsSizeBytes: 16 * MiB, tmpfsMode: 0o755 }],
    });
    expect(desiredContainer(session({ gpus: { count: 2 } }), AGENT).gpus).toEqual({ count: 2 });
  });

  it('leaves a container made before these fields existed alone (its hash is unchanged)', () => {
    // Computed by the agent before spec.user & co. existed (commit 2eb1365): adoption must keep it.
    const spec: SessionSpec = {
      image: 'busybox:1',
      command: ['sleep'],
      args: ['1'],
      env: [{ name: 'A', value: '1' }],
      ports: [{ containerPort: 80, hostPort: 8080 }],
      volumes: [{ name: 'v', emptyDir: {} }],
      mounts: [{ name: 'v', mountPath: '/v' }],
      labels: { team: 'a' },
      resources: { memory: '64Mi' },
    };
    expect(configHash(spec)).toBe('2c85edfae1ab3dfbc8253cdcefcfa8e754b42f006754df233bac2f62489b2ec5');
    expect(configFieldHashes(spec)).toBe('image:e9d5353c,command:96428168,args:43de3a41,env:79124373,ports:62c636de,mounts:45d452db,labels:a13b8de7');
    // Written-down defaults are not changes either.
    expect(configHash({ ...spec, readOnlyRootFilesystem: false, networks: [], devices: [], tmpfs: [], capabilities: {} })).toBe(configHash(spec));
  });

  it('recreates on a change of any of them and names the fields', () => {
    const old = session({});
    const next = session(SESSION_GRADE);
    expect(planToString(plan(input({ desired: next, containers: [containerFor(old, A)], imagePresent: true })))).toBe(
      [
        'plan default/web: 3 operation(s)',
        '  - remove aaaaaaaaaaaa: config-hash changed: user, workingDir, hostname, shmSize, networks, capabilities, devices, gpus, stopSignal, stopGracePeriodSeconds, logging, ulimits, readOnlyRootFilesystem, tmpfs',
        '  - create dockerlet_default_web_host-a (image busybox:1): config-hash changed: user, workingDir, hostname, shmSize, networks, capabilities, devices, gpus, stopSignal, stopGracePeriodSeconds, logging, ulimits, readOnlyRootFilesystem, tmpfs',
        '  - start <new container>: spec.state is Running',
      ].join('\n'),
    );
    const reordered = session({ ...SESSION_GRADE, capabilities: { add: ['NET_ADMIN', 'SYS_PTRACE'], drop: ['ALL'] }, shmSize: '1024Mi' });
    expect(plan(input({ desired: reordered, containers: [containerFor(next, A)] })).operations).toEqual([]);
    const swapped = session({ ...SESSION_GRADE, networks: ['back', 'front'] });
    expect(plan(input({ desired: swapped, containers: [containerFor(next, A)], imagePresent: true })).operations[0]?.cause).toBe(
      'config-hash changed: networks',
    );
  });

  it('stops with the Session grace period', () => {
    const s = session({ state: 'Stopped', stopGracePeriodSeconds: 45 });
    expect(planToString(plan(input({ desired: s, containers: [containerFor(s, A)] })))).toBe(
      ['plan default/web: 1 operation(s)', '  - stop aaaaaaaaaaaa (grace 45 s): spec.state is Stopped'].join('\n'),
    );
  });

  it('waits for a missing network without removing the container it would replace', () => {
    const old = session({});
    const next = session({ networks: ['front', 'back'] });
    expect(planToString(plan(input({ desired: next, containers: [containerFor(old, A)], imagePresent: true, missingNetworks: ['back'] })))).toBe(
      [
        'plan default/web: no changes',
        '  wait 10000 ms: NetworkNotFound: spec.networks: the engine has no network back; create it (docker network create back) or fix the name',
      ].join('\n'),
    );
  });

  it('reads a file-sourced env value: its hash recreates, its value reaches only the request', () => {
    const s = session({ env: [{ name: 'TOKEN', value: '', valueFrom: { file: '/run/secrets/token' } }] });
    const first = plan(input({ desired: s, imagePresent: true, envFiles: read('s3cret') }));
    const create = first.operations.find((op) => op.type === 'create');
    expect(create?.type === 'create' ? create.request.env : []).toEqual(['TOKEN=s3cret']);
    expect(planToString(first)).not.toContain('s3cret');
    expect(JSON.stringify(create?.type === 'create' ? create.request.labels : {})).not.toContain('s3cret');

    const running = containerFor(s, A, 'running', {}, read('s3cret'));
    expect(plan(input({ desired: s, containers: [running], envFiles: read('s3cret') })).operations).toEqual([]);
    expect(planToString(plan(input({ desired: s, containers: [running], imagePresent: true, envFiles: read('rotated') })))).toBe(
      [
        'plan default/web: 3 operation(s)',
        '  - remove aaaaaaaaaaaa: config-hash changed: env',
        '  - create dockerlet_default_web_host-a (image busybox:1): config-hash changed: env',
        '  - start <new container>: spec.state is Running',
      ].join('\n'),
    );
  });

  it('leaves everything as it is while an env file cannot be read, naming the variable and the path', () => {
    const s = session({ env: [{ name: 'A', value: '1' }, { name: 'TOKEN', value: '', valueFrom: { file: '/run/secrets/token' } }] });
    const missing: EnvFiles = new Map([['/run/secrets/token', { ok: false, error: 'ENOENT' }]]);
    const running = containerFor(s, A, 'running', {}, read('old'));
    expect(planToString(plan(input({ desired: s, containers: [running], envFiles: missing })))).toBe(
      ['plan default/web: no changes', '  wait 10000 ms: EnvFileUnreadable: spec.env[1] (TOKEN): cannot read /run/secrets/token: ENOENT'].join('\n'),
    );
  });

  it('refuses what the runtime cannot run, touching nothing', () => {
    const s = session({ devices: [{ hostPath: '/dev/fuse' }] });
    const p = plan(input({ desired: s, containers: [containerFor(session({}), A)], unsupported: ['spec.devices: Forbidden: not supported with --runtime swarm'] }));
    expect(planToString(p)).toBe(
      ['plan default/web: no changes', '  stalled: UnsupportedByRuntime: spec.devices: Forbidden: not supported with --runtime swarm'].join('\n'),
    );
    expect(desiredContainer(s, AGENT).labels[LABELS.configFields]).toContain('devices:');
  });
});

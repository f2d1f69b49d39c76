// The create options the engine receives for the session-grade fields: names and units as the
// Engine API (1.41) spells them. What the engine makes of them is proven against the real engine
// in test/integration/session-grade.test.ts.
import { describe, expect, it } from 'vitest';
import type { CreateContainerRequest } from '../../../controllers/runtime/docker-runtime.ts';
import type { InspectInfo } from './dockerode-mapping.ts';
import { WATCHED_ACTIONS, secondaryNetworks, toContainerDetails, toCreateOptions } from './dockerode-mapping.ts';

const BASE: CreateContainerRequest = {
  name: 'c',
  image: 'busybox:1',
  env: [],
  labels: {},
  ports: [],
  mounts: [],
  memoryBytes: 0,
  nanoCpus: 0,
  restartPolicy: { name: 'no' },
};

describe('toCreateOptions', () => {
  it('sends nothing for fields the request leaves unset (engine and image defaults apply)', () => {
    const options = toCreateOptions(BASE);
    for (const key of ['User', 'WorkingDir', 'Hostname', 'StopSignal', 'StopTimeout', 'NetworkingConfig', 'Healthcheck']) expect(options).not.toHaveProperty(key);
    for (const key of ['NetworkMode', 'ShmSize', 'CapAdd', 'CapDrop', 'Devices', 'DeviceRequests', 'LogConfig', 'Ulimits', 'ReadonlyRootfs']) {
      expect(options.HostConfig).not.toHaveProperty(key);
    }
  });

  it('maps every session-grade field', () => {
    const options = toCreateOptions({
      ...BASE,
      user: '1000:1000',
      workingDir: '/w',
      hostname: 'desk',
      stopSignal: 'SIGINT',
      stopTimeoutSeconds: 30,
      networks: ['front', 'back', 'more'],
      shmSizeBytes: 1 << 30,
      capAdd: ['NET_ADMIN'],
      capDrop: ['ALL'],
      devices: [{ hostPath: '/dev/fuse', containerPath: '/dev/fuse', permissions: 'rwm' }],
      gpus: { count: -1 },
      logConfig: { driver: 'json-file', options: { 'max-size': '1m' } },
      ulimits: [{ name: 'nofile', soft: 1, hard: 2 }],
      readOnlyRootfs: true,
      mounts: [{ type: 'tmpfs', target: '/run', readOnly: false, tmpfsMode: 0o700 }],
    });
    expect(options).toMatchObject({
      User: '1000:1000',
      WorkingDir: '/w',
      Hostname: 'desk',
      StopSignal: 'SIGINT',
      StopTimeout: 30,
      NetworkingConfig: { EndpointsConfig: { front: {} } },
      HostConfig: {
        NetworkMode: 'front',
        ShmSize: 1 << 30,
        CapAdd: ['NET_ADMIN'],
        CapDrop: ['ALL'],
        Devices: [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }],
        DeviceRequests: [{ Driver: '', Count: -1, Capabilities: [['gpu']] }],
        LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
        Ulimits: [{ Name: 'nofile', Soft: 1, Hard: 2 }],
        ReadonlyRootfs: true,
        Mounts: [{ Type: 'tmpfs', Target: '/run', Source: '', ReadOnly: false, TmpfsOptions: { SizeBytes: 0, Mode: 0o700 } }],
      },
    });
    expect(secondaryNetworks({ ...BASE, networks: ['front', 'back', 'more'] })).toEqual(['back', 'more']);
    expect(secondaryNetworks(BASE)).toEqual([]);
  });
});

describe('health', () => {
  it('sends the exec probes as the HEALTHCHECK, durations in nanoseconds', () => {
    const options = toCreateOptions({ ...BASE, healthcheck: { command: ['cat', '/tmp/ready'], intervalSeconds: 2, timeoutSeconds: 1, retries: 3, startPeriodSeconds: 5 } });
    expect(options.Healthcheck).toEqual({ Test: ['CMD', 'cat', '/tmp/ready'], Interval: 2e9, Timeout: 1e9, Retries: 3, StartPeriod: 5e9 });
  });

  it('reads State.Health as the verdict and the newest check, nothing when there is none', () => {
    const info = (health?: object) =>
      ({
        Id: 'x',
        Name: '/c',
        Created: '2026-01-01T00:00:00Z',
        Config: { Image: 'i', Labels: {} },
        State: { Status: 'running', ExitCode: 0, OOMKilled: false, StartedAt: '', FinishedAt: '', Error: '', ...(health ? { Health: health } : {}) },
        RestartCount: 0,
        HostConfig: {},
        NetworkSettings: { Ports: {}, Networks: {} },
      }) as unknown as InspectInfo;
    expect(toContainerDetails(info()).health).toBeUndefined();
    const log = [
      { ExitCode: 0, Output: 'ok' },
      { ExitCode: 1, Output: 'no such file' },
    ];
    expect(toContainerDetails(info({ Status: 'unhealthy', FailingStreak: 3, Log: log })).health).toEqual({ status: 'unhealthy', failingStreak: 3, lastOutput: 'no such file', lastExitCode: 1 });
  });

  it('asks the event stream for health_status (the engine matches it as a prefix), never exec_*', () => {
    expect(WATCHED_ACTIONS).toContain('health_status');
    expect(WATCHED_ACTIONS.some((a) => a.startsWith('exec_'))).toBe(false);
  });
});


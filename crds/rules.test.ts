import { describe, it, expect } from 'vitest';
import { validateObject } from './validate.ts';

function problemsOf(spec: Record<string, unknown>): string[] {
  const result = validateObject({
    apiVersion: 'dockerlet.dev/v1alpha1',
    kind: 'Session',
    metadata: { name: 'web' },
    spec: { image: 'x', ...spec },
  });
  return result.ok ? [] : result.problems.map((p) => p.message);
}

describe('cross-field rules', () => {
  it('requires every mount to name a declared volume', () => {
    expect(
      problemsOf({
        volumes: [{ name: 'data', emptyDir: { sizeLimit: '1Gi' } }],
        mounts: [
          { name: 'data', mountPath: '/data' },
          { name: 'cache', mountPath: '/cache' },
        ],
      }),
    ).toEqual(['spec.mounts[1].name: Not found: "cache": must name an entry of spec.volumes']);
    expect(problemsOf({ mounts: [{ name: 'data', mountPath: '/data' }] })).toEqual([
      'spec.mounts[0].name: Not found: "data": must name an entry of spec.volumes',
    ]);
  });

  it('rejects a host port published twice for one protocol, allows TCP and UDP on the same port', () => {
    expect(
      problemsOf({
        ports: [
          { containerPort: 53, hostPort: 5353 },
          { containerPort: 53, hostPort: 5353, protocol: 'UDP' },
          { containerPort: 54, hostPort: 5353, protocol: 'TCP' },
          { containerPort: 80 },
          { containerPort: 81 },
        ],
      }),
    ).toEqual([
      'spec.ports[2].hostPort: Duplicate value: 5353: host port 5353/TCP is already published by spec.ports[0]',
    ]);
  });

  it('rejects two mounts on one path', () => {
    expect(
      problemsOf({
        volumes: [
          { name: 'a', volume: 'a' },
          { name: 'b', hostPath: '/srv/b' },
        ],
        mounts: [
          { name: 'a', mountPath: '/data' },
          { name: 'b', mountPath: '/data/', readOnly: true },
        ],
      }),
    ).toEqual(['spec.mounts[1].mountPath: Duplicate value: "/data/": already mounted by spec.mounts[0]']);
  });

  it('reserves the dockerlet.dev/ label prefix in spec.labels', () => {
    expect(
      problemsOf({ labels: { 'dockerlet.dev/managed-by': 'me', team: 'a', 'example.com/dockerlet.dev': 'fine' } }),
    ).toEqual([
      'spec.labels[dockerlet.dev/managed-by]: Invalid value: "dockerlet.dev/managed-by": the prefix "dockerlet.dev/" is reserved for labels that dockerlet sets',
    ]);
  });

  it('takes an env value from value or valueFrom, not both', () => {
    expect(
      problemsOf({
        env: [
          { name: 'A', valueFrom: { file: '/run/secrets/a' } },
          { name: 'B', value: '', valueFrom: { file: '/run/secrets/b' } },
          { name: 'C', value: 'x', valueFrom: { file: '/run/secrets/c' } },
        ],
      }),
    ).toEqual(['spec.env[2].value: Invalid value: "x": set value or valueFrom, not both']);
  });

  it('keeps the host and none networks alone', () => {
    expect(problemsOf({ networks: ['host'] })).toEqual([]);
    expect(problemsOf({ networks: ['front', 'back'] })).toEqual([]);
    expect(problemsOf({ networks: ['front', 'none'] })).toEqual([
      'spec.networks[1]: Invalid value: "none": the network none must be the only entry of spec.networks',
    ]);
  });

  it('rejects two devices at one container path (containerPath defaults to hostPath)', () => {
    expect(
      problemsOf({
        devices: [{ hostPath: '/dev/fuse' }, { hostPath: '/dev/null', containerPath: '/dev/fuse' }, { hostPath: '/dev/zero', containerPath: '/dev/z' }],
      }),
    ).toEqual(['spec.devices[1].containerPath: Duplicate value: "/dev/fuse": already used by spec.devices[0]']);
  });

  it('keeps a soft ulimit within its hard one, -1 being unlimited', () => {
    expect(
      problemsOf({
        ulimits: [
          { name: 'nofile', soft: 1024, hard: 4096 },
          { name: 'core', soft: -1, hard: -1 },
          { name: 'nproc', soft: 10, hard: 5 },
          { name: 'stack', soft: -1, hard: 8192 },
        ],
      }),
    ).toEqual([
      'spec.ulimits[2].soft: Invalid value: 10: must not exceed hard (5); -1 is unlimited',
      'spec.ulimits[3].soft: Invalid value: -1: must not exceed hard (8192); -1 is unlimited',
    ]);
  });

  it('rejects a tmpfs on a path that spec.mounts uses', () => {
    expect(
      problemsOf({
        volumes: [{ name: 'a', emptyDir: {} }],
        mounts: [{ name: 'a', mountPath: '/data' }],
        tmpfs: [{ mountPath: '/tmp' }, { mountPath: '/data/' }],
      }),
    ).toEqual(['spec.tmpfs[1].mountPath: Duplicate value: "/data/": already mounted by spec.mounts[0]']);
  });

  it('reports rule problems together with unknown fields, but not on a spec with wrong types', () => {
    expect(problemsOf({ imagee: 'y', mounts: [{ name: 'data', mountPath: '/data' }] })).toEqual([
      'spec.imagee: unknown field "imagee"',
      'spec.mounts[0].name: Not found: "data": must name an entry of spec.volumes',
    ]);
    expect(problemsOf({ volumes: 'none', mounts: [{ name: 'data', mountPath: '/data' }] })).toEqual([
      'spec.volumes: Invalid value: "none": must be of type array',
    ]);
  });

  it('refuses spec.agent together with spec.agentSelector', () => {
    expect(problemsOf({ agent: 'host-a', agentSelector: { matchLabels: { zone: 'a' } } })).toEqual([
      'spec.agentSelector: Forbidden: may not be set together with spec.agent (a pinned Session is never placed by the scheduler)',
    ]);
    expect(problemsOf({ agentSelector: { matchLabels: { zone: 'a', 'example.com/gpu': 'true', empty: '' } } })).toEqual([]);
  });

  it('refuses agentSelector entries that are not label keys and values', () => {
    const problems = problemsOf({ agentSelector: { matchLabels: { 'bad key': 'a', zone: 'not ok' } } });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^spec\.agentSelector\.matchLabels\[bad key\]: Invalid value: "bad key": name part must consist of alphanumeric/);
    expect(problems[1]).toMatch(/^spec\.agentSelector\.matchLabels\.zone: Invalid value: "not ok": a valid label must be an empty string/);
  });

  it('refuses a .. segment in host paths (volumes, devices, env files), and relative ones by pattern', () => {
    expect(problemsOf({ volumes: [{ name: 'h', hostPath: '/srv/sessions/../../etc' }, { name: 'ok', hostPath: '/srv/a..b/..c' }] })).toEqual([
      'spec.volumes[0].hostPath: Invalid value: "/srv/sessions/../../etc": may not contain a ".." segment; write the path it means',
    ]);
    expect(problemsOf({ devices: [{ hostPath: '/dev/..' }] })).toEqual(['spec.devices[0].hostPath: Invalid value: "/dev/..": may not contain a ".." segment; write the path it means']);
    expect(problemsOf({ env: [{ name: 'T', valueFrom: { file: '/run/secrets/../../proc/self/environ' } }] })).toEqual([
      'spec.env[0].valueFrom.file: Invalid value: "/run/secrets/../../proc/self/environ": may not contain a ".." segment; write the path it means',
    ]);
    expect(problemsOf({ volumes: [{ name: 'h', hostPath: 'srv/data' }] })[0]).toMatch(/^spec\.volumes\[0\]\.hostPath: Invalid value: "srv\/data": must match pattern/);
    expect(problemsOf({ volumes: [{ name: 'h', hostPath: `/${'a'.repeat(4096)}` }] })[0]).toMatch(/^spec\.volumes\[0\]\.hostPath: Too long/);
  });

  it('requires exec probes to agree: they become one engine HEALTHCHECK', () => {
    const exec = { exec: { command: ['cat', '/tmp/ok'] }, periodSeconds: 2 };
    expect(problemsOf({ readinessProbe: exec, livenessProbe: exec, startupProbe: { httpGet: { port: 80 } } })).toEqual([]);
    expect(problemsOf({ readinessProbe: exec, livenessProbe: { ...exec, failureThreshold: 5 } })).toEqual([
      "spec.livenessProbe.exec: Invalid value: \"cat /tmp/ok\": differs from spec.readinessProbe: exec probes become the container's one engine HEALTHCHECK, so they must share command, initialDelaySeconds, periodSeconds, timeoutSeconds and failureThreshold; make them the same or use httpGet or tcpSocket for one of them",
    ]);
  });

  it('refuses StartFirst with a fixed host port (old and new container side by side), allows unpublished ports', () => {
    expect(problemsOf({ updateStrategy: { type: 'StartFirst' }, ports: [{ containerPort: 80 }, { containerPort: 81 }] })).toEqual([]);
    expect(problemsOf({ updateStrategy: { type: 'Recreate' }, ports: [{ containerPort: 80, hostPort: 8080 }] })).toEqual([]);
    expect(problemsOf({ updateStrategy: { type: 'StartFirst' }, ports: [{ containerPort: 80 }, { containerPort: 81, hostPort: 8080 }] })).toEqual([
      'spec.ports[1].hostPort: Invalid value: 8080: updateStrategy StartFirst runs the old and the new container side by side, so they cannot both publish a fixed host port; publish no hostPort (the agent probes the container on its own address) or use updateStrategy Recreate',
    ]);
  });
});

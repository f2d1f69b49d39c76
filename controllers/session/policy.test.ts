import { describe, expect, it } from 'vitest';
import { defaultHostPolicy, policyPaths, policyViolations } from './policy.ts';
import type { HostPolicy, ResolvedPath } from './policy.ts';
import { session } from './plan-fixtures.ts';

const SOCKET = '/var/run/docker.sock';
const base = defaultHostPolicy(SOCKET);
const withPrefixes = (prefixes: string[], extra: Partial<HostPolicy> = {}): HostPolicy => ({ ...base, hostPathPrefixes: prefixes, ...extra });
const hostPath = (path: string) => session({ volumes: [{ name: 'v', hostPath: path }], mounts: [{ name: 'v', mountPath: '/v' }] });

describe('host-safety policy', () => {
  it('accepts a plain Session under the default policy', () => {
    expect(policyViolations(base, session({ ports: [{ containerPort: 80, hostPort: 8080 }] }))).toEqual([]);
  });

  it('refuses hostPath volumes by default, naming the field and the flag', () => {
    expect(policyViolations(base, hostPath('/srv/data'))).toEqual([
      'spec.volumes[0].hostPath: "/srv/data" is not under --allow-host-paths (none); refused by policy',
    ]);
  });

  it('refuses the engine socket, and what contains it, even under an allowed prefix', () => {
    expect(policyViolations(withPrefixes(['/']), hostPath(SOCKET))).toEqual([
      'spec.volumes[0].hostPath: "/var/run/docker.sock" is the engine socket (--allow-dangerous-host-paths); refused by policy',
    ]);
    expect(policyViolations(withPrefixes(['/var']), hostPath('/var/run'))[0]).toContain('contains the engine socket /var/run/docker.sock');
    expect(policyViolations(withPrefixes(['/srv'], { engineSocket: '/srv/engine.sock' }), hostPath('/srv/engine.sock'))[0]).toContain('is the engine socket');
    for (const p of ['/', '/etc', '/etc/shadow', '/proc/1', '/sys', '/var/lib/docker/volumes']) {
      expect(policyViolations(withPrefixes(['/']), hostPath(p)), p).toHaveLength(1);
    }
  });

  it('lets --allow-dangerous-host-paths through, and only under an allowed prefix', () => {
    expect(policyViolations(withPrefixes(['/var/run'], { allowDangerousHostPaths: true }), hostPath(SOCKET))).toEqual([]);
    expect(policyViolations(withPrefixes(['/srv'], { allowDangerousHostPaths: true }), hostPath(SOCKET))).toHaveLength(1);
  });

  it('allows a path under a prefix on a path boundary only, after normalising ..', () => {
    expect(policyViolations(withPrefixes(['/srv/data']), hostPath('/srv/data/team-a'))).toEqual([]);
    expect(policyViolations(withPrefixes(['/srv/data']), hostPath('/srv/database'))).toHaveLength(1);
    expect(policyViolations(withPrefixes(['/srv/data']), hostPath('/srv/data/../../etc'))[0]).toContain('is under /etc');
    expect(policyViolations(withPrefixes(['/srv']), hostPath('relative/x'))[0]).toContain('is not an absolute path');
  });

  it('judges the path a symlink resolves to, and refuses one that cannot be resolved', () => {
    const resolved = new Map<string, ResolvedPath>([['/srv/data/link', { ok: true, path: '/var/run/docker.sock' }]]);
    expect(policyViolations(withPrefixes(['/srv/data']), hostPath('/srv/data/link'), resolved)).toEqual([
      'spec.volumes[0].hostPath: "/srv/data/link" resolves to "/var/run/docker.sock", which is the engine socket (--allow-dangerous-host-paths); refused by policy',
    ]);
    const outside = new Map<string, ResolvedPath>([['/srv/data/link', { ok: true, path: '/home/x' }]]);
    expect(policyViolations(withPrefixes(['/srv/data']), hostPath('/srv/data/link'), outside)[0]).toContain('resolves to "/home/x", which is not under --allow-host-paths');
    const loop = new Map<string, ResolvedPath>([['/srv/data/loop', { ok: false, error: 'ELOOP' }]]);
    expect(policyViolations(withPrefixes(['/srv/data']), hostPath('/srv/data/loop'), loop)[0]).toContain('cannot be resolved (ELOOP)');
    expect(policyPaths(hostPath('/srv/data/link'))).toEqual(['/srv/data/link']);
  });

  it('refuses host ports outside the allowed ranges', () => {
    const s = session({ ports: [{ containerPort: 80, hostPort: 80 }, { containerPort: 81, hostPort: 9000 }] });
    expect(policyViolations(base, s)).toEqual(['spec.ports[0].hostPort: 80 is outside --allow-host-ports (1024-65535); refused by policy']);
    expect(policyViolations({ ...base, hostPorts: [{ min: 80, max: 80 }, { min: 8000, max: 8999 }] }, s)).toEqual([
      'spec.ports[1].hostPort: 9000 is outside --allow-host-ports (80,8000-8999); refused by policy',
    ]);
  });

  it('refuses capabilities beyond the default set unless allowed; drop is always fine', () => {
    const s = session({ capabilities: { add: ['CHOWN', 'NET_ADMIN'], drop: ['ALL'] } });
    expect(policyViolations(base, s)).toEqual([
      'spec.capabilities.add[1]: "NET_ADMIN" is not in Docker\'s default set nor in --allow-capabilities (none); refused by policy',
    ]);
    expect(policyViolations({ ...base, capabilities: ['NET_ADMIN'] }, s)).toEqual([]);
  });

  it('refuses devices and GPUs unless --allow-devices names them', () => {
    const s = session({ devices: [{ hostPath: '/dev/fuse' }], gpus: { count: 1 } });
    expect(policyViolations(base, s)).toEqual([
      'spec.devices[0].hostPath: "/dev/fuse" is not under --allow-devices (none); refused by policy',
      'spec.gpus: GPUs are not allowed (--allow-devices gpus); refused by policy',
    ]);
    expect(policyViolations({ ...base, devices: ['/dev/fuse', 'gpus'] }, s)).toEqual([]);
  });

  it('refuses limits above --max-cpu/--max-memory, and no limit at all when a maximum is set', () => {
    const capped: HostPolicy = { ...base, maxNanoCpus: 2e9, maxMemoryBytes: 2 ** 30 };
    expect(policyViolations(capped, session({ resources: { cpu: '2', memory: '1Gi' } }))).toEqual([]);
    expect(policyViolations(capped, session({ resources: { cpu: '2500m', memory: '2Gi' } }))).toEqual([
      'spec.resources.cpu: "2500m" exceeds --max-cpu 2; refused by policy',
      'spec.resources.memory: "2Gi" exceeds --max-memory 1073741824 bytes; refused by policy',
    ]);
    expect(policyViolations(capped, session({}))).toHaveLength(2);
  });

  it('refuses a namespace outside --allow-namespaces', () => {
    expect(policyViolations({ ...base, namespaces: ['team-a'] }, session({}))).toEqual([
      'metadata.namespace: "default" is not in --allow-namespaces (team-a); refused by policy',
    ]);
    expect(policyViolations({ ...base, namespaces: ['default'] }, session({}))).toEqual([]);
  });

  it('refuses spec.env[].valueFrom.file outside --allow-env-files, and /proc even under an allowed prefix', () => {
    const env = (file: string) => session({ env: [{ name: 'A', value: 'x' }, { name: 'TOKEN', valueFrom: { file } }] });
    expect(policyViolations(base, env('/proc/self/environ'))).toEqual([
      'spec.env[1].valueFrom.file: "/proc/self/environ" is under /proc, a host system directory (--allow-dangerous-host-paths); refused by policy',
    ]);
    expect(policyViolations(base, env('/run/secrets/token'))).toEqual([
      'spec.env[1].valueFrom.file: "/run/secrets/token" is not under --allow-env-files (none); refused by policy',
    ]);
    expect(policyViolations({ ...base, envFilePrefixes: ['/run/secrets'] }, env('/run/secrets/token'))).toEqual([]);
    expect(policyViolations({ ...base, envFilePrefixes: ['/'] }, env('/etc/shadow'))[0]).toContain('is under /etc');
    const link = new Map<string, ResolvedPath>([['/run/secrets/token', { ok: true, path: '/proc/1/environ' }]]);
    expect(policyViolations({ ...base, envFilePrefixes: ['/run/secrets'] }, env('/run/secrets/token'), link)[0]).toContain('resolves to "/proc/1/environ"');
    expect(policyPaths(env('/run/secrets/token'))).toEqual(['/run/secrets/token']);
  });

  it('refuses the host network unless --allow-host-network', () => {
    const s = session({ networks: ['host'] });
    expect(policyViolations(base, s)).toEqual([
      'spec.networks[0]: "host" shares the host\'s network namespace (--allow-host-network); refused by policy',
    ]);
    expect(policyViolations({ ...base, allowHostNetwork: true }, s)).toEqual([]);
    expect(policyViolations(base, session({ networks: ['front', 'hostile'] }))).toEqual([]);
  });
});

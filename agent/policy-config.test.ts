import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { policyOptions } from './config.ts';
import { hostPolicyConfig, parsePortRanges } from './policy-config.ts';
import type { RawPolicyOptions } from './policy-config.ts';

const SOCKET = '/var/run/docker.sock';

/** The policy flags as commander reads them from argv and the environment, then the config. */
function parse(argv: string[], env: Record<string, string> = {}) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const command = new Command('t').exitOverride();
    for (const option of policyOptions()) command.addOption(option);
    command.parse(argv, { from: 'user' });
    return hostPolicyConfig(command.opts<RawPolicyOptions>(), SOCKET);
  } finally {
    for (const key of Object.keys(env)) if (!(key in saved)) delete process.env[key];
  }
}

describe('host policy flags', () => {
  it('defaults to nothing from the host beyond Docker defaults and unprivileged ports', () => {
    expect(parse([])).toEqual({
      hostPathPrefixes: [],
      allowDangerousHostPaths: false,
      engineSocket: SOCKET,
      hostPorts: [{ min: 1024, max: 65535 }],
      capabilities: [],
      devices: [],
      envFilePrefixes: [],
      allowHostNetwork: false,
    });
  });

  it('reads every flag', () => {
    const policy = parse([
      '--allow-host-paths', '/srv/sessions/,/data',
      '--allow-dangerous-host-paths',
      '--allow-host-ports', '80,8000-8999',
      '--allow-capabilities', 'net_admin,CAP_SYS_PTRACE',
      '--allow-devices', '/dev/fuse,gpus',
      '--allow-env-files', '/run/secrets',
      '--allow-host-network',
      '--allow-namespaces', 'team-a,team-b',
      '--max-cpu', '1500m',
      '--max-memory', '4Gi',
    ]);
    expect(policy).toEqual({
      hostPathPrefixes: ['/srv/sessions', '/data'],
      allowDangerousHostPaths: true,
      engineSocket: SOCKET,
      hostPorts: [{ min: 80, max: 80 }, { min: 8000, max: 8999 }],
      capabilities: ['NET_ADMIN', 'SYS_PTRACE'],
      devices: ['/dev/fuse', 'gpus'],
      envFilePrefixes: ['/run/secrets'],
      allowHostNetwork: true,
      namespaces: ['team-a', 'team-b'],
      maxNanoCpus: 1.5e9,
      maxMemoryBytes: 4 * 2 ** 30,
    });
  });

  it('reads the DOCKERLET_* environment variables, flags winning', () => {
    const policy = parse(['--allow-env-files', '/etc/dockerlet'], {
      DOCKERLET_ALLOW_HOST_PATHS: '/srv',
      DOCKERLET_ALLOW_ENV_FILES: '/run/secrets',
      DOCKERLET_ALLOW_HOST_NETWORK: 'true',
      DOCKERLET_MAX_MEMORY: '1Gi',
    });
    expect(policy).toMatchObject({ hostPathPrefixes: ['/srv'], envFilePrefixes: ['/etc/dockerlet'], allowHostNetwork: true, maxMemoryBytes: 2 ** 30 });
  });

  it('refuses bad values naming the flag and the fix', () => {
    expect(() => parse(['--allow-host-paths', 'srv'])).toThrow('--allow-host-paths: "srv" is not an absolute path');
    expect(() => parse(['--allow-host-paths', '/srv/../etc'])).toThrow('--allow-host-paths: "/srv/../etc" contains ".."');
    expect(() => parsePortRanges('0-100')).toThrow('--allow-host-ports: "0-100" must be within 1-65535');
    expect(() => parsePortRanges('9000-80')).toThrow('low end first');
    expect(() => parsePortRanges('http')).toThrow('--allow-host-ports takes ports and ranges');
    expect(() => parse(['--allow-capabilities', 'ALL'])).toThrow('ALL is not offered');
    expect(() => parse(['--allow-namespaces', 'Team_A'])).toThrow('--allow-namespaces: "Team_A" is not a namespace name');
    expect(() => parse(['--max-cpu', 'lots'])).toThrow('--max-cpu: invalid cpu quantity "lots"');
    expect(() => parse(['--max-memory', '-1Gi'])).toThrow('--max-memory: invalid memory quantity "-1Gi"');
  });
});

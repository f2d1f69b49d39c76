// The Kubernetes flags: defaults that match deploy/kubernetes, names checked before any request,
// errors that name the flag.
import { Command } from 'commander';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentConfig, agentOptions, commonOptions, DEFAULT_LEASE_NAMESPACE } from './config.ts';
import type { AgentConfig, RawAgentOptions, RawRedisOptions } from './config.ts';

/** Parses argv as `dockerlet agent` does (defaults included; the environment is not consulted for unset flags here). */
function configFrom(args: string[]): AgentConfig {
  const command = new Command('agent').exitOverride();
  for (const option of [...commonOptions(), ...agentOptions()]) command.addOption(option);
  command.parse(['--agent-name', 'host-a', ...args], { from: 'user' });
  return agentConfig(command.opts<RawAgentOptions & RawRedisOptions>());
}

describe('kubernetes configuration', () => {
  it('defaults the Lease to dockerlet-system/dockerlet-<agent name>, as deploy/kubernetes expects', () => {
    const config = configFrom(['--leader-election', 'kubernetes']);
    expect(config.leaderElection).toBe('kubernetes');
    expect(DEFAULT_LEASE_NAMESPACE).toBe('dockerlet-system');
    expect(config.kubeLease).toEqual({ namespace: 'dockerlet-system', name: 'dockerlet-host-a' });
    expect(config.kubeconfig).toBeUndefined();
  });

  it('takes --kubeconfig, --lease-namespace and --lease-name', () => {
    const config = configFrom(['--leader-election', 'kubernetes', '--kubeconfig', 'k.yaml', '--lease-namespace', 'ops', '--lease-name', 'edge.lease']);
    expect(config.kubeconfig).toBe(resolve('k.yaml'));
    expect(config.kubeLease).toEqual({ namespace: 'ops', name: 'edge.lease' });
  });

  it('refuses names the API server would refuse, naming the flag', () => {
    expect(() => configFrom(['--lease-name', 'Not_A_Name'])).toThrow(/--lease-name "Not_A_Name" must be a DNS-1123 subdomain/);
    expect(() => configFrom(['--lease-namespace', 'a.b'])).toThrow(/--lease-namespace "a.b" must be a namespace name/);
  });
});

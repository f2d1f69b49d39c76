import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentConfig, commonConfig, sessionNamespaceOf } from './config.ts';
import { parseStoreSpec } from './sources/store-spec.ts';

describe('parseStoreSpec', () => {
  it('reads "kubernetes" as the Kubernetes store and anything else as a directory', () => {
    expect(parseStoreSpec('kubernetes')).toEqual({ kind: 'kubernetes' });
    expect(parseStoreSpec('./sessions')).toEqual({ kind: 'yaml', dir: resolve('sessions') });
    // A directory that happens to be called kubernetes is still reachable as a path.
    expect(parseStoreSpec('./kubernetes')).toEqual({ kind: 'yaml', dir: resolve('kubernetes') });
  });

  it('refuses empty values and URLs without git: with a message naming the flag and the forms', () => {
    expect(() => parseStoreSpec(' ')).toThrow(/--store " ": must not be empty; accepted forms: .*--store kubernetes/);
    expect(() => parseStoreSpec('https://example.test/repo.git')).toThrow(/--store "https:\/\/example.test\/repo.git": a URL needs the "git:" prefix/);
  });
});

describe('Kubernetes access flags', () => {
  const common = { stateDir: '/tmp/dockerlet-state', agentName: 'a1', dockerSocket: '/var/run/docker.sock' };

  it('keeps --namespace for --store kubernetes; none means all namespaces', () => {
    expect(sessionNamespaceOf({ kind: 'kubernetes' }, 'team-a')).toBe('team-a');
    expect(sessionNamespaceOf({ kind: 'kubernetes' }, undefined)).toBeUndefined();
  });

  it('refuses --namespace with a YAML store, and a bad namespace', () => {
    expect(() => sessionNamespaceOf({ kind: 'yaml', dir: '/s' }, 'x')).toThrow(/--namespace is only used with --store kubernetes/);
    expect(() => sessionNamespaceOf({ kind: 'kubernetes' }, 'Team_A')).toThrow(/--namespace "Team_A" is not a namespace name/);
  });

  it('lets the state dir be anywhere with a Kubernetes store, but never inside a YAML store', () => {
    expect(commonConfig({ ...common, store: 'kubernetes' }).store).toEqual({ kind: 'kubernetes' });
    expect(() => commonConfig({ ...common, store: '/tmp' })).toThrow(/--state-dir .* is inside --store/);
  });

  it('puts the access settings into the agent config', () => {
    const config = agentConfig({
      ...common,
      store: 'kubernetes',
      namespace: 'team-a',
      kubeconfig: 'kc.yaml',
      leaseNamespace: 'dockerlet-system',
      gitPollInterval: 30_000,
      listen: '127.0.0.1:0',
      logFormat: 'json',
      logLevel: 'info',
      workers: 1,
      resyncPeriod: 60_000,
      reconcileTimeout: 60_000,
      stopTimeout: 1,
      heartbeatInterval: 5_000,
      pruneEmptyStore: false,
      leaseDuration: 15_000,
      renewDeadline: 10_000,
      retryPeriod: 2_000,
      redisTls: false,
      redisSentinelName: 'mymaster',
    });
    expect(config.store).toEqual({ kind: 'kubernetes' });
    expect(config.sessionNamespace).toBe('team-a');
    expect(config.kubeconfig).toBe(resolve('kc.yaml'));
  });
});

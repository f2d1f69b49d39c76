// --leader-election kubernetes with a YAML store loads its kubeconfig the way --store kubernetes
// does: with none to be found it is a StartupError naming --kubeconfig (the CLI prints it and
// exits 2), never the client library's silent fallback to http://localhost:8080.
import { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../reconciler/clock.ts';
import { openBackends } from './backends.ts';
import { agentConfig, agentOptions, commonOptions } from './config.ts';
import type { RawAgentOptions, RawRedisOptions } from './config.ts';
import { StartupError } from './startup-error.ts';

describe('openBackends with --leader-election kubernetes and no kubeconfig anywhere', () => {
  let home: string | undefined;
  afterEach(async () => {
    vi.unstubAllEnvs();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('fails with the StartupError that names --kubeconfig', async () => {
    home = await mkdtemp(join(tmpdir(), 'dockerlet-home-'));
    vi.stubEnv('KUBECONFIG', '');
    vi.stubEnv('DOCKERLET_KUBECONFIG', '');
    vi.stubEnv('HOME', home);
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '');
    const command = new Command('agent').exitOverride();
    for (const option of [...commonOptions(), ...agentOptions()]) command.addOption(option);
    command.parse(['--agent-name', 'host-a', '--store', join(home, 'store'), '--state-dir', join(home, 'state'), '--leader-election', 'kubernetes'], { from: 'user' });
    const config = agentConfig(command.opts<RawAgentOptions & RawRedisOptions>());
    expect(config.store.kind).toBe('yaml');

    const opening = openBackends(config, 'replica-1', { logger: pino({ level: 'silent' }), clock: systemClock, registry: new Registry() });
    await expect(opening).rejects.toBeInstanceOf(StartupError);
    await expect(opening).rejects.toThrow(/^--leader-election kubernetes: no kubeconfig found .*; pass --kubeconfig <path> or set DOCKERLET_KUBECONFIG$/);
  });
});

// Pieces shared by the read-only commands (get, diff): where the agent keeps its store and state,
// and a one-shot load of the YAML store.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import pino from 'pino';
import type { Logger } from 'pino';
import { InvalidArgumentError } from 'commander';
import { commonConfig, configOrExit } from '../config.ts';
import type { CommonConfig, RawCommonOptions } from '../config.ts';
import { STATE_FILES } from '../state-layout.ts';
import { gitCurrentDir } from '../sources/store-spec.ts';
import { openYamlStore } from '../sources/yaml/open-yaml-store.ts';
import type { YamlDirectoryStore } from '../sources/yaml/yaml-store.ts';

/** Errors only, to stderr: a command's stdout is its output. */
export function quietLogger(): Logger {
  return pino({ level: 'error' }, pino.destination(2));
}

/** The read-only commands read a YAML directory directly (for a Git store: the revision applied last). */
export type ReadOnlyConfig = CommonConfig & { storeDir: string };

/**
 * Common config for a read-only command. When --store was not given, the store the agent
 * recorded in its state directory is used, so `dockerlet get sessions` needs no flags.
 */
export async function readOnlyConfig(command: Command, raw: RawCommonOptions): Promise<ReadOnlyConfig> {
  if (command.getOptionValueSource('store') === 'default') {
    try {
      const recorded = JSON.parse(await readFile(join(raw.stateDir, STATE_FILES.agent), 'utf8')) as { storeDir?: unknown; agentName?: unknown; runtime?: unknown };
      if (typeof recorded.storeDir === 'string') raw = { ...raw, store: recorded.storeDir };
      if (typeof recorded.agentName === 'string' && command.getOptionValueSource('agentName') === 'default') {
        raw = { ...raw, agentName: recorded.agentName };
      }
      if ((recorded.runtime === 'docker' || recorded.runtime === 'swarm') && command.getOptionValueSource('runtime') === 'default') {
        raw = { ...raw, runtime: recorded.runtime };
      }
    } catch {
      // No agent has run with this state dir yet: the defaults stand.
    }
  }
  return configOrExit(command, () => {
    const config = commonConfig(raw);
    switch (config.store.kind) {
      case 'yaml':
        return { ...config, storeDir: config.store.dir };
      case 'git':
        return { ...config, storeDir: gitCurrentDir(config.stateDir, config.store) };
      case 'kubernetes':
        throw new InvalidArgumentError(
          `\`dockerlet ${command.name()}\` reads a directory of Session YAML; with --store kubernetes the API server holds the Sessions: use \`kubectl get sessions -A\``,
        );
    }
  });
}

/** Reads the store once (no watching). */
export async function loadStoreOnce(storeDir: string, logger: Logger): Promise<YamlDirectoryStore> {
  const { store, close } = await openYamlStore({ dir: storeDir, logger, watch: false });
  await store.start();
  await close();
  return store;
}

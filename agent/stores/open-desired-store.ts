// Builds the agent's desired-state store from --store: the YAML directory (watched), or a Git
// repository (fetched and applied commit by commit into the same YAML machinery).
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AgentSource, Session } from '../../crds/types.ts';
import type { DesiredStore } from '../../reconciler/store.ts';
import { GitCache } from '../git/git-cache.ts';
import { gitCacheDir } from '../store-spec.ts';
import type { StoreSpec } from '../store-spec.ts';
import { GitDesiredStore } from './git-store.ts';
import type { GitSyncResult } from './git-store.ts';
import { openYamlStore } from './open-yaml-store.ts';

/** Bound on one git command; a first clone of a large repository over a slow link fits. */
export const GIT_COMMAND_TIMEOUT_MS = 300_000;

export interface OpenDesiredStoreOptions {
  store: StoreSpec;
  stateDir: string;
  gitPollIntervalMs: number;
  logger: Logger;
  registry: Registry;
}

export interface OpenedDesiredStore {
  store: DesiredStore<Session>;
  /** Stops watching or polling and writes out what is pending. */
  close(): Promise<void>;
  /** For the Agent record (Git stores only). */
  source?: () => AgentSource;
  /** Fetch now, for the webhook endpoint (Git stores only). */
  sync?: () => Promise<GitSyncResult>;
}

export async function openDesiredStore(options: OpenDesiredStoreOptions): Promise<OpenedDesiredStore> {
  const { store: spec, stateDir, logger } = options;
  if (spec.kind === 'yaml') {
    const opened = await openYamlStore({ dir: spec.dir, stateDir, logger });
    return { store: opened.store, close: opened.close };
  }
  const cache = new GitCache({ spec, dir: gitCacheDir(stateDir, spec), timeoutMs: GIT_COMMAND_TIMEOUT_MS });
  // The Git store decides when the tree changes (after a swap), so the YAML store does not watch.
  const yaml = await openYamlStore({ dir: cache.currentLink, stateDir, logger, watch: false });
  const store = new GitDesiredStore({ spec, cache, yaml: yaml.store, logger, pollIntervalMs: options.gitPollIntervalMs, registry: options.registry });
  return {
    store,
    close: async () => {
      await store.stop();
      await yaml.close();
    },
    source: () => store.sourceStatus(),
    sync: () => store.sync(),
  };
}

// Builds the embedded default's desired-state store: the YAML directory, judged by the CRD
// validator, with generations kept in the state directory so they survive restarts.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { crdManifestParser } from './crd-manifest-parser.ts';
import { FileStatusStore } from '../../status/file-status-store.ts';
import type { GenerationRecord, GenerationStore } from './object-meta.ts';
import { YamlDirectoryStore } from './yaml-store.ts';
import type { PriorVersions } from './yaml-store.ts';

export interface OpenYamlStoreOptions {
  dir: string;
  /** Where generations are kept; absent for one-shot reads (`dockerlet get`, `diff`). */
  stateDir?: string;
  /** Follow changes (the agent) or read once (`get`, `diff`). Default true. */
  watch?: boolean;
  /** A file with any refused document is refused whole (the Git store). Default false. */
  wholeFiles?: boolean;
  /** Earlier versions of a refused file never read usable by this process (the Git store's record). */
  priorVersions?: PriorVersions;
  logger: Logger;
}

export interface OpenedYamlStore {
  store: YamlDirectoryStore;
  /** Stops watching and writes out what is pending (generations). */
  close(): Promise<void>;
}

export const GENERATIONS_FILE = 'generations.json';

export async function openYamlStore(options: OpenYamlStoreOptions): Promise<OpenedYamlStore> {
  let generationStore: GenerationStore | undefined;
  let file: FileStatusStore<GenerationRecord> | undefined;
  if (options.stateDir) {
    file = new FileStatusStore<GenerationRecord>({ path: join(options.stateDir, GENERATIONS_FILE), logger: options.logger });
    const generations = file;
    await generations.load();
    generationStore = {
      get: (key) => generations.get(key),
      set: (key, record) => {
        generations.write(key, record).catch((error: unknown) => options.logger.warn({ err: error, key }, 'saving generation failed'));
      },
    };
  }
  const store = new YamlDirectoryStore({
    dir: options.dir,
    logger: options.logger,
    parse: crdManifestParser,
    watch: options.watch ?? true,
    wholeFiles: options.wholeFiles ?? false,
    ...(options.priorVersions ? { priorVersions: options.priorVersions } : {}),
    ...(generationStore ? { generationStore } : {}),
  });
  return {
    store,
    close: async () => {
      await store.stop();
      await file?.close();
    },
  };
}

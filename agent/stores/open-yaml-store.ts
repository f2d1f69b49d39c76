// Builds the embedded default's desired-state store: the YAML directory, judged by the CRD
// validator, with generations kept in the state directory so they survive restarts.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { crdManifestParser } from './crd-manifest-parser.ts';
import { FileStatusStore } from './file-status-store.ts';
import type { GenerationRecord, GenerationStore } from './object-meta.ts';
import { YamlDirectoryStore } from './yaml-store.ts';

export interface OpenYamlStoreOptions {
  dir: string;
  /** Where generations are kept; absent for one-shot reads (`dockerlet get`, `diff`). */
  stateDir?: string;
  logger: Logger;
}

export const GENERATIONS_FILE = 'generations.json';

export async function openYamlStore(options: OpenYamlStoreOptions): Promise<YamlDirectoryStore> {
  let generationStore: GenerationStore | undefined;
  if (options.stateDir) {
    const file = new FileStatusStore<GenerationRecord>({ path: join(options.stateDir, GENERATIONS_FILE), logger: options.logger });
    await file.load();
    generationStore = {
      get: (key) => file.get(key),
      set: (key, record) => {
        file.write(key, record).catch((error: unknown) => options.logger.warn({ err: error, key }, 'saving generation failed'));
      },
    };
  }
  return new YamlDirectoryStore({
    dir: options.dir,
    logger: options.logger,
    parse: crdManifestParser,
    ...(generationStore ? { generationStore } : {}),
  });
}

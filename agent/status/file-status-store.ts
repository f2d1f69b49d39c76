// Status of objects from the YAML store, kept in one JSON file outside the watched tree (a Git
// checkout stays clean). Memory is the truth while the agent runs; the file is its durable copy,
// written in batches: a resync that writes 300 statuses costs a few file writes, not 300.
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ObjectKey } from '../../crds/types.ts';
import type { Fence } from '../../reconciler/fence.ts';
import type { StatusStore } from '../../reconciler/store.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { BatchFence } from './batch-fence.ts';
import { deepFreeze } from '../sources/yaml/object-meta.ts';
import { describeError, errorCode } from '../sources/yaml/yaml-tree.ts';

export interface FileStatusStoreOptions {
  /** The JSON file, e.g. `<stateDir>/sessions.status.json`. Its directory is created (0700). */
  path: string;
  logger: Logger;
  /** How long writes are collected before one file write. Default 200 ms. */
  flushDelayMs?: number;
  /** Leader-only writes: the file is written only while the lease is certainly ours (batch-fence.ts). */
  fence?: Fence;
}

const FORMAT_VERSION = 1;
const STALE_TEMP_MS = 60_000;

interface StatusFile {
  version: typeof FORMAT_VERSION;
  items: Record<ObjectKey, unknown>;
}

export class FileStatusStore<S> implements StatusStore<S> {
  private readonly path: string;
  private readonly logger: Logger;
  private readonly flushDelayMs: number;
  private items = new Map<ObjectKey, S>();
  private dirty = false;
  /** Keys changed in memory that no completed or in-flight flush has captured yet. */
  private readonly unsaved = new Set<ObjectKey>();
  private timer: NodeJS.Timeout | undefined;
  /** Flushes run one at a time, in order; a failed one does not break the chain. */
  private flushes: Promise<void> = Promise.resolve();
  private failing = false;
  private written = 0;
  private readonly fence: BatchFence;
  /** The newest fencing token a change since the last file write was decided under. */
  private stamp = 0;

  constructor(options: FileStatusStoreOptions) {
    this.path = path.resolve(options.path);
    this.logger = options.logger.child({ component: 'status-store', path: this.path });
    this.flushDelayMs = options.flushDelayMs ?? 200;
    this.fence = new BatchFence(options.fence, this.logger);
  }

  /**
   * Reads the file (call once, before use). A missing file is an empty store; a corrupt one is
   * moved aside to `<path>.corrupt-<timestamp>` and the store starts empty: status is rebuilt by
   * the next reconcile, while crashing would stop every Session from converging. A file that
   * exists but cannot be read (permissions) is a configuration error and rejects.
   */
  async load(): Promise<void> {
    const dir = path.dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await this.removeStaleTempFiles(dir);
    const text = await readIfExists(this.path);
    if (text === undefined) return;
    try {
      this.items = new Map(Object.entries(parseStatusFile(text)) as [ObjectKey, S][]);
      for (const value of this.items.values()) deepFreeze(value);
    } catch (error) {
      const movedTo = `${this.path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await rename(this.path, movedTo);
      this.logger.warn({ err: error, movedTo }, 'status file is corrupt; moved aside, starting with empty status');
    }
  }

  /**
   * Re-reads the file (a new leader picks up what its predecessor wrote). Pending writes of this
   * process go out first, so a re-read never throws away a change not yet on disk.
   */
  async reload(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // In the flush chain, so no flush is writing while the file is read.
    const run = this.flushes.then(() => this.flushNow()).then(() => this.readMerging());
    this.flushes = run.catch(() => undefined);
    await run;
  }

  /** Takes the file's content, except for keys changed here meanwhile (they go out next flush). */
  private async readMerging(): Promise<void> {
    const text = await readIfExists(this.path);
    if (text === undefined) return;
    const onDisk = new Map(Object.entries(parseStatusFile(text)) as [ObjectKey, S][]);
    for (const key of [...this.items.keys()]) if (!onDisk.has(key) && !this.unsaved.has(key)) this.items.delete(key);
    for (const [key, value] of onDisk) if (!this.unsaved.has(key)) this.items.set(key, deepFreeze(value));
  }

  /** Read-only view of a status file, for the CLI. Missing file: empty. Corrupt file: rejects. */
  static async readSnapshot<S>(file: string): Promise<Map<ObjectKey, S>> {
    const text = await readIfExists(file);
    if (text === undefined) return new Map();
    // Our own file format: the values are the S that was written.
    return new Map(Object.entries(parseStatusFile(text)) as [ObjectKey, S][]);
  }

  /** Number of times the file was written; exported as a metric and used by tests. */
  get flushCount(): number {
    return this.written;
  }

  get(key: ObjectKey): S | undefined {
    return this.items.get(key);
  }

  /** Values are frozen: copy before changing (`structuredClone`), then `write`. */
  list(): ReadonlyMap<ObjectKey, S> {
    return this.items;
  }

  /** Updates memory at once and resolves; the file follows within flushDelayMs. */
  async write(key: ObjectKey, status: S): Promise<void> {
    this.stamp = this.fence.stamp('status write');
    this.items.set(key, deepFreeze(structuredClone(status)));
    this.unsaved.add(key);
    this.schedule(this.flushDelayMs);
  }

  async delete(key: ObjectKey): Promise<void> {
    if (!this.items.has(key)) return;
    this.stamp = this.fence.stamp('status delete');
    this.items.delete(key);
    this.unsaved.add(key);
    this.schedule(this.flushDelayMs);
  }

  /** Writes pending changes now; resolves when they are on disk, rejects if that failed. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.flushes.then(() => this.flushNow());
    this.flushes = run.catch(() => undefined);
    return run;
  }

  /** Call at shutdown: the flush timer does not keep the process alive. */
  async close(): Promise<void> {
    await this.flush();
  }

  private schedule(delayMs: number): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((error: unknown) => {
        // Logged once per streak of failures (disk full does not need a line per retry).
        if (!this.failing) this.logger.error({ err: error }, 'cannot write status file; retrying');
        this.failing = true;
        this.schedule(Math.max(this.flushDelayMs, 1_000));
      });
    }, delayMs);
    this.timer.unref();
  }

  private async flushNow(): Promise<void> {
    if (!this.dirty) return;
    // The whole file is written at once: under the newest token, or not at all.
    if ((await this.fence.admit(new Map([[this.path, this.stamp]]))).send.length === 0) {
      this.dirty = false;
      this.unsaved.clear();
      return;
    }
    this.dirty = false;
    const captured = [...this.unsaved];
    this.unsaved.clear();
    const items: Record<ObjectKey, S> = {};
    for (const key of [...this.items.keys()].sort()) items[key] = this.items.get(key)!;
    const file: StatusFile = { version: FORMAT_VERSION, items };
    try {
      await writeFileAtomic(this.path, `${JSON.stringify(file, null, 2)}\n`);
    } catch (error) {
      this.dirty = true;
      for (const key of captured) this.unsaved.add(key);
      throw error;
    }
    this.written += 1;
    if (this.failing) this.logger.info('status file written again');
    this.failing = false;
  }

  /**
   * A crash between writing the temp file and renaming it leaves the temp file behind. Only old
   * ones go: a fresh one may belong to a process still shutting down.
   */
  private async removeStaleTempFiles(dir: string): Promise<void> {
    const prefix = `${path.basename(this.path)}.tmp-`;
    for (const name of await readdir(dir)) {
      if (!name.startsWith(prefix)) continue;
      const file = path.join(dir, name);
      const info = await stat(file).catch(() => undefined);
      if (!info || Date.now() - info.mtimeMs < STALE_TEMP_MS) continue;
      await rm(file, { force: true }).catch((error: unknown) => {
        this.logger.warn({ file: name, why: describeError(error) }, 'cannot remove stale temp file');
      });
    }
  }
}

/** The file's text, or undefined when there is no file yet. */
async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function parseStatusFile(text: string): Record<ObjectKey, unknown> {
  const parsed: unknown = JSON.parse(text);
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    !('version' in parsed) ||
    parsed.version !== FORMAT_VERSION ||
    !('items' in parsed) ||
    typeof parsed.items !== 'object' ||
    parsed.items === null ||
    Array.isArray(parsed.items)
  ) {
    throw new Error(`not a version ${FORMAT_VERSION} status file`);
  }
  return parsed.items as Record<ObjectKey, unknown>;
}

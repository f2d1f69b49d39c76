// Desired Sessions from a directory of YAML (typically a Git checkout), kept current by a watcher.
//
// Every reload is one "pass": list the tree, read the files that changed (named by watcher
// events, new, gone, or with a different mtime/size/inode), rebuild the entries and notify the
// keys whose entry changed. Watcher events only say "something happened, reload soon": they are
// collected and debounced, so `git checkout` touching 100 files costs one pass. Because a pass
// compares the listing with what it knows, a missed event is repaired by the next pass, and a
// slow periodic rescan is the safety net for the watcher itself (inotify limits, odd filesystems).
//
// chokidar rather than fs.watch({recursive}): on Linux, Node 20's recursive fs.watch is a
// userland emulation that has missed events in directories created after the watch started and
// thrown on directories removed under it; chokidar 4 (a dependency already) handles both and
// coalesces editors' write-to-temp-then-rename saves.
import { realpath, stat } from 'node:fs/promises';
import { MAX_MANIFEST_BYTES, manifestText, readAtMost } from '../../../crds/load-yaml.ts';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { watch } from 'chokidar';
import type { FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import type { ObjectKey, Session } from '../../../crds/types.ts';
import type { ChangeListener, DesiredEntry, DesiredStore } from '../../../reconciler/store.ts';
import { DesiredIndex, faulted, faultOf } from './desired-index.ts';
import type { FileSnapshot } from './desired-index.ts';
import { manifestKey } from './manifest-parser.ts';
import type { ManifestParser, ParsedDocument } from './manifest-parser.ts';
import { ObjectMetaTracker } from './object-meta.ts';
import type { GenerationStore, UidFor } from './object-meta.ts';
import { describeError, errorCode, isIgnoredPath, listManifestFiles, toRelative } from './yaml-tree.ts';
import type { FileStamp, TreeListing } from './yaml-tree.ts';

export interface YamlDirectoryStoreOptions {
  dir: string;
  logger: Logger;
  parse: ManifestParser;
  /** Quiet time after the last file event before reloading. Default 150 ms. */
  debounceMs?: number;
  /** A continuous stream of events still reloads at least this often. Default 10 × debounceMs. */
  maxDelayMs?: number;
  /** How often to look for a missing or unreadable directory. Default 2 s. */
  pollMs?: number;
  /** Full rescan as a safety net for missed watcher events. Default 60 s; 0 disables. */
  rescanMs?: number;
  /** false: `start()` loads once and nothing watches (CLI `get`/`diff`). Default true. */
  watch?: boolean;
  /**
   * true: a file with any refused document is refused whole and keeps its last usable content
   * (the Git store, where a commit's file applies all or nothing). Default false: per object,
   * as an edit in a directory is judged.
   */
  wholeFiles?: boolean;
  /**
   * Earlier versions of a file, newest first, for a file whose content is unusable and that this
   * process has not read usable before (it just started): the first that is usable stands in for
   * it, as the last valid content would. The Git store gives the revisions it recorded.
   */
  priorVersions?: PriorVersions;
  uidFor?: UidFor;
  generationStore?: GenerationStore;
}

/** One earlier version of a file (see `priorVersions`). */
export interface PriorVersion {
  text: string;
  /** The file's mtime in that version: creationTimestamp of the keys it brings. */
  mtimeMs: number;
  /** Which version it is (a commit), reported back by fileStates(). */
  origin: string;
}

export type PriorVersions = (file: string) => AsyncIterable<PriorVersion>;

/** What the store made of one file at its last pass. */
export interface FileState {
  path: string;
  /** Its newest content could not be used; its objects are those of an earlier version, if any. */
  faulted: boolean;
  /** The earlier version its objects came from when priorVersions supplied it. */
  origin?: string;
}

interface FileRecord {
  snapshot: FileSnapshot;
  stamp: FileStamp;
}

export class YamlDirectoryStore implements DesiredStore<Session> {
  private readonly dir: string;
  private readonly logger: Logger;
  private readonly parse: ManifestParser;
  private readonly debounceMs: number;
  private readonly maxDelayMs: number;
  private readonly pollMs: number;
  private readonly rescanMs: number;
  private readonly watchEnabled: boolean;
  private readonly wholeFiles: boolean;
  private readonly priorVersions: PriorVersions | undefined;
  private readonly index: DesiredIndex;

  private entries = new Map<ObjectKey, DesiredEntry<Session>>();
  private records = new Map<string, FileRecord>();
  /** Records whose newest content could not be used; kept with `records`, read by isComplete. */
  private faultedFiles = 0;
  private readonly listeners = new Set<ChangeListener>();
  private loaded = false;
  private rootProblem: string | undefined;
  private unreadableDirs = new Map<string, string>();

  private watcher: FSWatcher | undefined;
  private watchedRootIno: number | undefined;
  private pending = new Set<string>();
  private firstPendingAt: number | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  /** Passes run one after another, never overlapping. */
  private passes: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(options: YamlDirectoryStoreOptions) {
    this.dir = path.resolve(options.dir);
    this.logger = options.logger.child({ component: 'yaml-store', dir: this.dir });
    this.parse = options.parse;
    this.debounceMs = options.debounceMs ?? 150;
    this.maxDelayMs = options.maxDelayMs ?? this.debounceMs * 10;
    this.pollMs = options.pollMs ?? 2_000;
    this.rescanMs = options.rescanMs ?? 60_000;
    this.watchEnabled = options.watch ?? true;
    this.wholeFiles = options.wholeFiles ?? false;
    this.priorVersions = options.priorVersions;
    const metaOptions: ConstructorParameters<typeof ObjectMetaTracker>[0] = {};
    if (options.uidFor) metaOptions.uidFor = options.uidFor;
    if (options.generationStore) metaOptions.generationStore = options.generationStore;
    this.index = new DesiredIndex(new ObjectMetaTracker(metaOptions));
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.enqueuePass();
    if (!this.watchEnabled) return;
    this.pollTimer = setInterval(() => {
      if (this.rootProblem !== undefined) void this.enqueuePass();
    }, this.pollMs).unref();
    if (this.rescanMs > 0) {
      this.rescanTimer = setInterval(() => {
        if (this.rootProblem === undefined) void this.enqueuePass();
      }, this.rescanMs).unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounceTimer);
    clearInterval(this.pollTimer);
    clearInterval(this.rescanTimer);
    await this.passes;
    await this.closeWatcher();
  }

  /**
   * Reloads now and resolves when that pass is done. For a directory that changes only when its
   * owner says so (the Git store swaps a revision in, then calls this) rather than by watching.
   */
  reload(): Promise<void> {
    return this.enqueuePass();
  }

  isComplete(): boolean {
    // Asked by every reconcile (may it delete?): O(1), where loadProblems() walks every file.
    return this.loaded && this.rootProblem === undefined && this.unreadableDirs.size === 0 && this.faultedFiles === 0;
  }

  loadProblems(): string[] {
    if (!this.loaded) return [`${this.dir} has not been loaded yet`];
    if (this.rootProblem !== undefined) return [this.rootProblem];
    const problems = [...this.unreadableDirs].map(([dir, why]) => `${dir}: cannot list directory: ${why}`);
    for (const record of this.records.values()) {
      if (record.snapshot.fault) problems.push(record.snapshot.fault.message);
    }
    return problems;
  }

  list(): DesiredEntry<Session>[] {
    return [...this.entries.values()];
  }

  size(): number {
    return this.entries.size;
  }

  fileStates(): FileState[] {
    return [...this.records.values()].map(({ snapshot }) => ({
      path: snapshot.path,
      faulted: snapshot.fault !== undefined,
      ...(snapshot.origin !== undefined ? { origin: snapshot.origin } : {}),
    }));
  }

  get(key: ObjectKey): DesiredEntry<Session> | undefined {
    return this.entries.get(key.includes('/') ? key : manifestKey(undefined, key));
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private enqueuePass(): Promise<void> {
    const run = this.passes.then(() => this.pass());
    this.passes = run.catch((error: unknown) => {
      this.logger.error({ err: error }, 'reload failed');
    });
    return this.passes;
  }

  private onWatchEvent(absolutePath: string): void {
    if (this.stopped) return;
    this.pending.add(toRelative(this.dir, absolutePath));
    const now = Date.now();
    this.firstPendingAt ??= now;
    clearTimeout(this.debounceTimer);
    const wait = Math.min(this.debounceMs, Math.max(0, this.firstPendingAt + this.maxDelayMs - now));
    this.debounceTimer = setTimeout(() => {
      this.firstPendingAt = undefined;
      void this.enqueuePass();
    }, wait);
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    // Taken before listing: events from now on belong to the next pass, so none is lost.
    const pending = this.pending;
    this.pending = new Set();

    const listing = await this.listRoot();
    if (listing === undefined) return;
    this.unreadableDirs = listing.unreadableDirs;

    const next = new Map<string, FileRecord>();
    const toRead: [string, FileStamp][] = [];
    for (const [file, stamp] of listing.files) {
      const known = this.records.get(file);
      if (known && !pending.has(file) && sameStamp(known.stamp, stamp)) next.set(file, known);
      else toRead.push([file, stamp]);
    }
    for (const [file, record] of this.records) {
      // Under a directory we could not list: unknown is not gone, keep what we had.
      if (!listing.files.has(file) && [...listing.unreadableDirs.keys()].some((d) => file.startsWith(`${d}/`))) {
        next.set(file, record);
      }
    }
    const reads = await Promise.all(toRead.map(([file, stamp]) => this.readRecord(file, stamp)));
    for (const [i, record] of reads.entries()) {
      if (record) next.set(toRead[i]![0], record);
    }
    this.logTransitions(next);
    this.records = new Map([...next].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    this.faultedFiles = [...this.records.values()].filter((r) => r.snapshot.fault).length;
    this.apply(this.index.rebuild([...this.records.values()].map((r) => r.snapshot)));
    this.logger.debug({ files: this.records.size, read: toRead.length }, 'reloaded');
  }

  /** Lists the tree, managing the watcher; undefined when the directory itself is unusable. */
  private async listRoot(): Promise<TreeListing | undefined> {
    try {
      const root = await stat(this.dir);
      if (!root.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      // A directory replaced wholesale (rm -rf && git clone) leaves the old watch on a dead inode.
      if (this.watcher && this.watchedRootIno !== root.ino) await this.closeWatcher();
      // Watch before listing: a change racing the listing then shows up as an event.
      if (!this.watcher && !this.stopped && this.watchEnabled) await this.openWatcher(root.ino);
      const listing = await listManifestFiles(this.dir);
      if (this.rootProblem !== undefined) this.logger.info('directory is readable again');
      this.rootProblem = undefined;
      return listing;
    } catch (error) {
      const problem =
        errorCode(error) === 'ENOENT'
          ? `${this.dir} does not exist`
          : `${this.dir} cannot be read: ${describeError(error)}`;
      if (problem !== this.rootProblem) this.logger.warn({ problem }, 'desired-state directory unusable; keeping what was loaded');
      // What was loaded stays: a vanished checkout is not "delete every Session".
      this.rootProblem = problem;
      this.loaded = true;
      await this.closeWatcher();
      return undefined;
    }
  }

  /** Reads and parses one file; undefined when it vanished meanwhile. */
  private async readRecord(file: string, stamp: FileStamp): Promise<FileRecord | undefined> {
    const previous = this.records.get(file)?.snapshot;
    const mtime = rfc3339Seconds(stamp.mtimeMs);
    let docs: ParsedDocument[];
    try {
      const refusal = await this.refusal(file);
      if (refusal) return { stamp, snapshot: faulted(file, previous ?? (await this.priorSnapshot(file)), { message: `${file}: ${refusal}`, keys: [] }, mtime) };
      const text = manifestText(await readAtMost(path.join(this.dir, file), MAX_MANIFEST_BYTES + 1));
      if (!text.ok) return { stamp, snapshot: faulted(file, previous ?? (await this.priorSnapshot(file)), { message: `${file}: ${text.reason}`, keys: [] }, mtime) };
      docs = this.parse(text.text, file);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      const reason = errorCode(error) ? `cannot read file: ${describeError(error)}` : `cannot parse: ${describeError(error)}`;
      return { stamp, snapshot: faulted(file, previous ?? (await this.priorSnapshot(file)), { message: `${file}: ${reason}`, keys: [] }, mtime) };
    }
    for (const doc of docs) {
      if (doc.ok === 'ignored') this.logger.debug({ file, kind: doc.kind, key: doc.key }, 'ignoring object that is not a Session');
    }
    const fault = faultOf(file, docs, this.wholeFiles);
    if (fault) return { stamp, snapshot: faulted(file, previous ?? (await this.priorSnapshot(file)), fault, mtime) };
    return { stamp, snapshot: { path: file, mtime, docs } };
  }

  /**
   * Why a listed file is not read at all: a symlink out of the store directory (a checkout must
   * not make the agent read, and apply, what lies elsewhere on its host).
   */
  private async refusal(file: string): Promise<string | undefined> {
    const [root, real] = await Promise.all([realpath(this.dir), realpath(path.join(this.dir, file))]);
    if (real === root || real.startsWith(`${root}/`)) return undefined;
    return `links to ${real}, outside the store directory ${root}; refused (copy the file into the store instead)`;
  }

  /** The newest usable earlier version of an unusable file never read usable here (see priorVersions). */
  private async priorSnapshot(file: string): Promise<FileSnapshot | undefined> {
    if (!this.priorVersions) return undefined;
    try {
      for await (const version of this.priorVersions(file)) {
        let docs: ParsedDocument[];
        try {
          docs = this.parse(version.text, file);
        } catch {
          continue;
        }
        if (faultOf(file, docs, this.wholeFiles)) continue;
        this.logger.info({ file, origin: version.origin }, 'file cannot be used; keeping its objects from an earlier version');
        return { path: file, mtime: rfc3339Seconds(version.mtimeMs), docs, origin: version.origin };
      }
    } catch (error) {
      this.logger.warn({ err: error, file }, 'cannot read earlier versions of a file; its objects wait for a usable version');
    }
    return undefined;
  }

  private apply(entries: Map<ObjectKey, DesiredEntry<Session>>): void {
    const previous = this.entries;
    this.entries = entries;
    this.loaded = true;
    const changed = new Set<ObjectKey>();
    for (const [key, entry] of entries) if (!isDeepStrictEqual(previous.get(key), entry)) changed.add(key);
    for (const key of previous.keys()) if (!entries.has(key)) changed.add(key);
    for (const key of changed) {
      for (const listener of this.listeners) {
        try {
          listener(key);
        } catch (error) {
          this.logger.error({ err: error, key }, 'change listener threw');
        }
      }
    }
  }

  private logTransitions(next: Map<string, FileRecord>): void {
    for (const [file, record] of next) {
      const before = this.records.get(file)?.snapshot.fault;
      const after = record.snapshot.fault;
      if (after && after.message !== before?.message) this.logger.warn({ file, problem: after.message }, 'cannot use file; keeping its last valid objects');
      if (before && !after) this.logger.info({ file }, 'file is valid again');
    }
  }

  private async openWatcher(rootIno: number): Promise<void> {
    const watcher = watch(this.dir, {
      ignoreInitial: true,
      followSymlinks: false,
      ignored: (p: string) => isIgnoredPath(toRelative(this.dir, p)),
    });
    watcher.on('all', (_event, p) => this.onWatchEvent(p));
    // The periodic rescan covers for a broken watcher (e.g. out of inotify watches).
    watcher.on('error', (error) => this.logger.warn({ err: error }, 'file watcher error; relying on periodic rescan'));
    this.watcher = watcher;
    this.watchedRootIno = rootIno;
    await new Promise<void>((resolve) => watcher.once('ready', resolve));
  }

  private async closeWatcher(): Promise<void> {
    const watcher = this.watcher;
    this.watcher = undefined;
    this.watchedRootIno = undefined;
    await watcher?.close();
  }
}

/** Whole seconds, as the API server writes timestamps ("2026-01-02T03:04:05Z"). */
function rfc3339Seconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;
}

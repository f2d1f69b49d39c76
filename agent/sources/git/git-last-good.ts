// The revision at which each file of a Git store was last usable, kept on disk, so that a file a
// later commit broke keeps its objects from that revision after the agent restarts — not only as
// long as the process that read it good still runs.
//
// After every load of a revision, a usable file is good at that revision and a refused one keeps
// the revision it was good at. The record (`<cache>/last-good.json`) lists the files held at an
// older revision than the one applied; those revision directories are kept out of pruning. When a
// refused file has no such record (a fresh cache: a new replica, a lost state dir, or a crash
// between applying and recording) its earlier versions are looked up in the repository's history
// instead: the ref's own first-parent line, newest first, stopping where the file did not exist
// (a Session deleted then re-added broken does not come back from before its deletion).
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { GitCache } from './git-cache.ts';
import { writeFileAtomic } from '../../status/atomic-file.ts';
import type { FileState, PriorVersion, PriorVersions } from '../yaml/yaml-store.ts';

/** What this needs of the cache (git-cache.ts); tests give a fake. */
export type GitFileHistory = Pick<GitCache, 'currentRevision' | 'fileAt' | 'fileHistory'>;

/** Commits that changed a refused file looked at, at most, for a usable version without a record. */
export const HISTORY_LIMIT = 20;

interface RecordFile {
  /** The revision applied when this was written (for people reading the file). */
  appliedRevision: string;
  /** Files held at an older revision than the applied one: file → commit it was last usable at. */
  held: Record<string, string>;
}

export interface LastGoodRevisionsOptions {
  cache: GitFileHistory;
  /** Where the record lives: in the Git store's cache directory. */
  file: string;
  logger: Logger;
}

export class LastGoodRevisions {
  private readonly cache: GitFileHistory;
  private readonly file: string;
  private readonly logger: Logger;
  /** file → the commit it was last usable at (for usable files, the revision last loaded). */
  private goodAt = new Map<string, string>();
  private written: string | undefined;

  constructor(options: LastGoodRevisionsOptions) {
    this.cache = options.cache;
    this.file = options.file;
    this.logger = options.logger;
  }

  /** Reads the record an earlier run wrote; a missing or unreadable one is an empty record. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ err: error, file: this.file }, 'cannot read the last-good record; looking in the history instead');
      return;
    }
    // Whatever was read: an unusable record differs from any record written, so it is replaced.
    this.written = text;
    try {
      const record = JSON.parse(text) as Partial<RecordFile>;
      const held = typeof record.held === 'object' && record.held !== null ? record.held : {};
      this.goodAt = new Map(Object.entries(held).filter((e): e is [string, string] => typeof e[1] === 'string'));
    } catch (error) {
      this.logger.warn({ err: error, file: this.file }, 'last-good record is not JSON; looking in the history instead');
    }
  }

  /** Revisions some refused file still takes its objects from: keep their directories. */
  heldRevisions(applied: string): string[] {
    return [...new Set([...this.goodAt.values()].filter((commit) => commit !== applied))];
  }

  /** For the YAML store: a file's earlier versions, newest first (the recorded one, then history). */
  readonly versions: PriorVersions = (file) => this.versionsOf(file);

  /** After `applied` was loaded: usable files are good at it, refused ones keep their revision. Writes the record if it changed. */
  async update(applied: string, files: readonly FileState[]): Promise<void> {
    const next = new Map<string, string>();
    for (const state of files) {
      const at = state.faulted ? (this.goodAt.get(state.path) ?? state.origin) : applied;
      if (at !== undefined) next.set(state.path, at);
    }
    this.goodAt = next;
    const held = Object.fromEntries([...next].filter(([, commit]) => commit !== applied).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const text = `${JSON.stringify({ appliedRevision: applied, held } satisfies RecordFile, null, 2)}\n`;
    // Only held files matter to a restart: a record of nothing held is rewritten only to empty it.
    if (text === this.written || (Object.keys(held).length === 0 && this.written === undefined)) return;
    await writeFileAtomic(this.file, text, 0o644);
    this.written = text;
  }

  private async *versionsOf(file: string): AsyncGenerator<PriorVersion> {
    const applied = await this.cache.currentRevision();
    const recorded = this.goodAt.get(file);
    if (recorded !== undefined && recorded !== applied) {
      const version = await this.cache.fileAt(recorded, file);
      if (version) yield { ...version, origin: recorded };
    }
    if (applied === undefined) return;
    for (const commit of await this.cache.fileHistory(applied, file, HISTORY_LIMIT)) {
      // The applied commit's own content is the refused one.
      if (commit === applied || commit === recorded) continue;
      const version = await this.cache.fileAt(commit, file);
      // Deleted by this commit: nothing older is this file's previous version.
      if (!version) return;
      yield { ...version, origin: commit };
    }
  }
}

// Test support for the Git store: the git CLI faked at the cache boundary. Commits are a map of
// SHA → files (file → text, or null when the store's path is missing), in the order they were
// made; revisions are written into a real temp dir and read by the real YAML store. Not a test
// file itself.
import { mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { RevisionError } from './git-cache.ts';
import { LastGoodRevisions } from './git-last-good.ts';
import type { GitFileHistory } from './git-last-good.ts';
import type { GitRevisions } from './git-store.ts';

/** The mtime a file has when read from the fake repository rather than a revision directory. */
export const FAKE_COMMIT_TIME_MS = Date.parse('2026-01-01T00:00:00Z');

export class FakeRevisions implements GitRevisions, GitFileHistory {
  commits = new Map<string, Record<string, string> | null>();
  head = '';
  fetchError: Error | undefined;
  fetches = 0;
  materialised: string[] = [];
  /** Every revision directory pruning kept (besides `current`), per prune. */
  kept: string[][] = [];
  /** When set, fetch waits for it: lets a test hold a fetch in flight. */
  gate: Promise<void> | undefined;

  constructor(readonly dir: string) {}

  get link(): string {
    return path.join(this.dir, 'current');
  }

  get lastGoodFile(): string {
    return path.join(this.dir, 'last-good.json');
  }

  /** Makes a commit (the ref does not move until `head` is set). */
  commit(sha: string, files: Record<string, string> | null): void {
    this.commits.set(sha, files);
  }

  async fetch(): Promise<string> {
    this.fetches++;
    await this.gate;
    if (this.fetchError) throw this.fetchError;
    return this.head;
  }

  async currentRevision(): Promise<string | undefined> {
    return readlink(this.link).then((t) => path.basename(t), () => undefined);
  }

  async materialise(commit: string): Promise<string> {
    const files = this.commits.get(commit);
    if (files === null || files === undefined) throw new RevisionError(`path "s" does not exist in commit ${commit}`);
    this.materialised.push(commit);
    const target = path.join(this.dir, 'revisions', commit);
    await mkdir(target, { recursive: true });
    for (const [file, text] of Object.entries(files)) await writeFile(path.join(target, file), text);
    return target;
  }

  async activate(commit: string): Promise<void> {
    const tmp = `${this.link}.tmp`;
    await symlink(path.join('revisions', commit), tmp);
    await rename(tmp, this.link);
  }

  /** As the real cache: removes every revision directory but `keep` and the current one. */
  async prune(keep: readonly string[]): Promise<void> {
    this.kept.push([...keep].sort());
    const current = await this.currentRevision();
    const names = await readdir(path.join(this.dir, 'revisions')).catch(() => []);
    for (const name of names) {
      if (!keep.includes(name) && name !== current) await rm(path.join(this.dir, 'revisions', name), { recursive: true, force: true });
    }
  }

  async fileAt(commit: string, file: string): Promise<{ text: string; mtimeMs: number } | undefined> {
    const inRevision = path.join(this.dir, 'revisions', commit, file);
    try {
      return { text: await readFile(inRevision, 'utf8'), mtimeMs: (await stat(inRevision)).mtimeMs };
    } catch {
      const text = this.commits.get(commit)?.[file];
      return text === undefined ? undefined : { text, mtimeMs: FAKE_COMMIT_TIME_MS };
    }
  }

  async fileHistory(commit: string, file: string, limit: number): Promise<string[]> {
    const order = [...this.commits.keys()];
    const changed: string[] = [];
    for (const [i, sha] of order.slice(0, order.indexOf(commit) + 1).entries()) {
      const before = i === 0 ? undefined : this.commits.get(order[i - 1]!)?.[file];
      if (this.commits.get(sha)?.[file] !== before) changed.push(sha);
    }
    return changed.reverse().slice(0, limit);
  }

  /** Revision directories on disk now. */
  async revisionDirs(): Promise<string[]> {
    return (await readdir(path.join(this.dir, 'revisions')).catch(() => [])).sort();
  }
}

export function lastGoodFor(revisions: FakeRevisions, logger: Logger): LastGoodRevisions {
  return new LastGoodRevisions({ cache: revisions, file: revisions.lastGoodFile, logger });
}

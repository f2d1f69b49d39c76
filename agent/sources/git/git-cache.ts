// The agent's local copy of a Git store, under --state-dir (never inside a watched tree):
//
//   <cache>/repo.git           bare repository; each fetch updates refs/dockerlet/target
//   <cache>/revisions/<sha>/   the store's <path> as of commit <sha>, extracted once
//   <cache>/current            symlink to the revision last applied (what `dockerlet get` reads)
//   <cache>/last-good.json     refused files → the revision each was last usable at (git-last-good.ts)
//
// A revision directory is written under a temporary name and renamed into place, and `current` is
// replaced by renaming a new symlink over it: a reader sees one whole revision or the previous
// one, never a mix, and a crash mid-extract leaves only a temporary directory to sweep.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { GitStoreSpec } from '../store-spec.ts';
import { isLocalGitUrl } from '../store-spec.ts';
import { GitError, runGit } from './git-cli.ts';

/** The ref each fetch writes; never a branch, so nothing checks it out or pushes it. */
const TARGET_REF = 'refs/dockerlet/target';
const TMP_PREFIX = '.tmp-';
// A local remote (file:// or a path) is served by an upload-pack that git starts here, as this
// user. Since 2.35.2 it refuses a repository owned by another user ("dubious ownership") — which a
// repository mounted into the agent's container (uid 10001) usually is — and git clears `-c` from
// the environment of the local transport's child, so only the upload-pack command itself can
// carry the exception. It covers that one process, which only reads the repository --store names
// (upload-pack runs no hooks of the repository; its pack-objects hook is honoured only from the
// user's or system's config), never the agent's own cache.
const LOCAL_UPLOAD_PACK = ['--upload-pack', 'git -c safe.directory=* upload-pack'];

/** A commit that cannot be applied as a whole (its <path> is missing or not a directory). */
export class RevisionError extends Error {
  override readonly name = 'RevisionError';
}

export interface GitCacheOptions {
  spec: GitStoreSpec;
  /** The cache directory (agent/sources/store-spec.ts gitCacheDir). */
  dir: string;
  /** Bound on each git command (a fetch of a big repository over a slow link included). */
  timeoutMs: number;
}

export class GitCache {
  readonly repoDir: string;
  readonly revisionsDir: string;
  readonly currentLink: string;
  readonly lastGoodFile: string;
  private readonly spec: GitStoreSpec;
  private readonly timeoutMs: number;

  constructor(options: GitCacheOptions) {
    this.spec = options.spec;
    this.timeoutMs = options.timeoutMs;
    this.repoDir = path.join(options.dir, 'repo.git');
    this.revisionsDir = path.join(options.dir, 'revisions');
    this.currentLink = path.join(options.dir, 'current');
    this.lastGoodFile = path.join(options.dir, 'last-good.json');
  }

  /** Fetches the ref and returns the commit it names now. Throws GitError when the remote cannot be read. */
  async fetch(signal?: AbortSignal): Promise<string> {
    await this.ensureRepo();
    const source = this.spec.ref ?? 'HEAD';
    // "+": follow force-pushes too; the remote is the truth, whatever its history did.
    const fetch = (): Promise<string> =>
      runGit(['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', ...(isLocalGitUrl(this.spec.url) ? LOCAL_UPLOAD_PACK : []), '--', this.spec.url, `+${source}:${TARGET_REF}`], {
        gitDir: this.repoDir,
        timeoutMs: this.timeoutMs,
        ...(signal ? { signal } : {}),
      });
    try {
      await fetch();
    } catch (error) {
      // Replicas sharing a state dir share this cache: two fetches at once collide on the ref's
      // lock file. Git's objects are safe to write concurrently; one retry settles the ref.
      if (!(error instanceof GitError && /cannot lock ref|Unable to create .*\.lock/i.test(error.message))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 400));
      await fetch();
    }
    return (await this.git(['rev-parse', '--verify', '--quiet', `${TARGET_REF}^{commit}`])).trim();
  }

  /** The revision `current` points at (applied by this or an earlier run), if any. */
  async currentRevision(): Promise<string | undefined> {
    try {
      return path.basename(await readlink(this.currentLink));
    } catch {
      return undefined;
    }
  }

  /** Extracts <path> of `commit` into its revision directory (once) and returns that directory. */
  async materialise(commit: string): Promise<string> {
    const target = path.join(this.revisionsDir, commit);
    if (await isDirectory(target)) return target;
    const treeish = this.spec.path === '' ? `${commit}^{tree}` : `${commit}:${this.spec.path}`;
    const type = await this.git(['cat-file', '-t', treeish]).then(
      (out) => out.trim(),
      () => 'missing',
    );
    if (type !== 'tree') {
      const what = type === 'missing' ? 'does not exist' : `is a ${type}, not a directory`;
      throw new RevisionError(`path "${this.spec.path}" ${what} in commit ${commit.slice(0, 12)}`);
    }
    await mkdir(this.revisionsDir, { recursive: true });
    const tmp = path.join(this.revisionsDir, `${TMP_PREFIX}${commit.slice(0, 12)}-${randomBytes(4).toString('hex')}`);
    await mkdir(tmp);
    try {
      // The commit (not its tree) so files get the commit time as mtime: creationTimestamp of new keys.
      const strip = this.spec.path === '' ? 0 : this.spec.path.split('/').length;
      await this.extract(['archive', '--format=tar', commit, ...(this.spec.path === '' ? [] : ['--', this.spec.path])], tmp, strip);
      await rename(tmp, target).catch(async (error: unknown) => {
        // Another replica sharing this state dir extracted the same commit first: theirs is as good.
        if (!(await isDirectory(target))) throw error;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return target;
  }

  /** Points `current` at the revision of `commit` (already materialised), atomically. */
  async activate(commit: string): Promise<void> {
    const tmp = path.join(path.dirname(this.currentLink), `${TMP_PREFIX}current-${randomBytes(4).toString('hex')}`);
    await symlink(path.join('revisions', commit), tmp);
    await rename(tmp, this.currentLink);
  }

  /** Removes revision directories other than `keep` and leftovers of interrupted extracts. */
  async prune(keep: readonly string[]): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.revisionsDir);
    } catch {
      return;
    }
    const current = await this.currentRevision();
    const kept = new Set([...keep, ...(current ? [current] : [])]);
    await Promise.all(names.filter((n) => !kept.has(n)).map((n) => rm(path.join(this.revisionsDir, n), { recursive: true, force: true })));
  }

  /**
   * A file of the store (relative to <path>) as of `commit`: from its revision directory when that
   * is still there, else from the repository. Undefined when the file does not exist in `commit`.
   */
  async fileAt(commit: string, file: string): Promise<{ text: string; mtimeMs: number } | undefined> {
    const revision = path.join(this.revisionsDir, commit);
    if (await isDirectory(revision)) {
      try {
        const at = path.join(revision, file);
        const [text, info] = await Promise.all([readFile(at, 'utf8'), stat(at)]);
        return { text, mtimeMs: info.mtimeMs };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    }
    const blob = `${commit}:${this.repoPath(file)}`;
    const type = await this.git(['cat-file', '-t', blob]).then(
      (out) => out.trim(),
      () => 'missing',
    );
    if (type !== 'blob') return undefined;
    // As materialise would have written it: the commit's time as mtime.
    const [text, seconds] = await Promise.all([this.git(['cat-file', 'blob', blob]), this.git(['show', '--no-patch', '--format=%ct', commit])]);
    return { text, mtimeMs: Number(seconds.trim()) * 1000 };
  }

  /**
   * The commits on `commit`'s first-parent line (the states the ref itself went through) that
   * changed `file`, added or deleted it, newest first, at most `limit`.
   */
  async fileHistory(commit: string, file: string, limit: number): Promise<string[]> {
    const out = await this.git(['log', '--first-parent', '--format=%H', `--max-count=${limit}`, commit, '--', this.repoPath(file)]);
    return out.split('\n').filter(Boolean);
  }

  private repoPath(file: string): string {
    return this.spec.path === '' ? file : `${this.spec.path}/${file}`;
  }

  private async ensureRepo(): Promise<void> {
    if (await isDirectory(path.join(this.repoDir, 'objects'))) return;
    await mkdir(path.dirname(this.repoDir), { recursive: true });
    await runGit(['init', '--quiet', '--bare', this.repoDir], { timeoutMs: this.timeoutMs });
  }

  private git(args: string[]): Promise<string> {
    return runGit(args, { gitDir: this.repoDir, timeoutMs: this.timeoutMs });
  }

  /** `git <args> | tar -x -C dir`, with no shell in between. */
  private extract(args: string[], dir: string, strip: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const git = spawn('git', ['--git-dir', this.repoDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      const tar = spawn('tar', ['-x', '-f', '-', '-C', dir, '--no-same-owner', `--strip-components=${strip}`], { stdio: ['pipe', 'ignore', 'pipe'] });
      const timer = setTimeout(() => {
        git.kill('SIGKILL');
        tar.kill('SIGKILL');
      }, this.timeoutMs);
      let stderr = '';
      git.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      tar.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      git.stdout.pipe(tar.stdin);
      // tar exiting early (disk full) must not crash the process with EPIPE.
      tar.stdin.on('error', () => {});
      const exits = [git, tar].map(
        (child) =>
          new Promise<number | null>((done, failed) => {
            child.once('error', failed);
            child.once('close', (code) => done(code));
          }),
      );
      Promise.all(exits).then(
        ([gitCode, tarCode]) => {
          clearTimeout(timer);
          if (gitCode === 0 && tarCode === 0) resolve();
          else reject(new GitError(`extracting ${args.slice(2).join(' ')} failed: ${stderr.trim() || `git exit ${gitCode}, tar exit ${tarCode}`}`, args, gitCode ?? undefined));
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

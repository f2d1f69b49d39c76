// A real Git remote for tests: a bare repository in a temp dir and a clone to commit from, driven
// by the git CLI exactly as a user pushes to the repository an agent follows.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

function git(args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) {
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        reject(new Error(missing ? 'git is not installed: run `bash hack/test-env up` (installs it) or apt-get install git' : `git ${args.join(' ')}: ${stderr.trim() || error.message}`));
      } else resolve(stdout);
    });
  });
}

export class GitRemote {
  private constructor(
    readonly root: string,
    /** The bare repository: what the agent fetches. */
    readonly bare: string,
    /** A clone to commit and push from. */
    readonly work: string,
  ) {}

  /** A bare repository whose HEAD branch is `branch`, with a clone ready to commit to it. */
  static async create(branch = 'main'): Promise<GitRemote> {
    const root = await mkdtemp(join(tmpdir(), 'dockerlet-git-'));
    const remote = new GitRemote(root, join(root, 'remote.git'), join(root, 'work'));
    await git(['init', '--quiet', '--bare', `--initial-branch=${branch}`, remote.bare]);
    await git(['init', '--quiet', `--initial-branch=${branch}`, remote.work]);
    await git(['config', 'user.email', 'test@dockerlet.dev'], remote.work);
    await git(['config', 'user.name', 'dockerlet test'], remote.work);
    await git(['remote', 'add', 'origin', remote.bare], remote.work);
    return remote;
  }

  get fileUrl(): string {
    return `file://${this.bare}`;
  }

  async write(file: string, text: string): Promise<void> {
    const path = join(this.work, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  }

  async remove(file: string): Promise<void> {
    await git(['rm', '--quiet', file], this.work);
  }

  /** Commits everything in the clone and pushes it; returns the new commit's SHA. */
  async commitAndPush(message: string, branch = 'main'): Promise<string> {
    await git(['add', '--all'], this.work);
    await git(['commit', '--quiet', '--allow-empty', '-m', message], this.work);
    await git(['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`], this.work);
    return (await git(['rev-parse', 'HEAD'], this.work)).trim();
  }

  async cleanup(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

// The one place dockerlet runs the `git` CLI: execFile (no shell, so nothing in a URL or ref is
// ever interpreted), bounded by a timeout, never prompting. git rather than a JavaScript
// implementation: it speaks every transport (ssh with the user's keys and config, https with
// credential helpers, file://) exactly as the user's own `git clone` would.
import { execFile } from 'node:child_process';

/** Thrown when git is missing, exits non-zero or times out. The message is git's own, trimmed. */
export class GitError extends Error {
  override readonly name = 'GitError';
  constructor(
    message: string,
    readonly args: readonly string[],
    readonly exitCode: number | string | undefined,
  ) {
    super(message);
  }
}

export interface GitRunOptions {
  /** Repository (`--git-dir`) to run in; absent for commands that need none. */
  gitDir?: string;
  timeoutMs: number;
  /** Raw stdout as a Buffer (archives). Default: utf8 text. */
  binary?: boolean;
  /** Kills git when aborted (the agent stopping mid-fetch). */
  signal?: AbortSignal;
}

// Never wait for a person: an agent has no terminal. askPass=true answers every credential prompt
// with an empty string, so a missing credential fails fast instead of hanging on /dev/tty.
const NON_INTERACTIVE = ['-c', 'core.askPass=true', '-c', 'credential.interactive=false'];

export function runGit(args: readonly string[], options: GitRunOptions & { binary: true }): Promise<Buffer>;
export function runGit(args: readonly string[], options: GitRunOptions): Promise<string>;
export function runGit(args: readonly string[], options: GitRunOptions): Promise<string | Buffer> {
  const full = [...NON_INTERACTIVE, ...(options.gitDir ? ['--git-dir', options.gitDir] : []), ...args];
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      full,
      { timeout: options.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 256 * 1024 * 1024, encoding: options.binary ? 'buffer' : 'utf8', windowsHide: true, ...(options.signal ? { signal: options.signal } : {}) },
      (error, stdout, stderr) => {
        if (!error) {
          resolve(stdout);
          return;
        }
        const code = (error as NodeJS.ErrnoException).code;
        const text = (Buffer.isBuffer(stderr) ? stderr.toString('utf8') : stderr).trim();
        let message: string;
        if (options.signal?.aborted) message = `git ${args[0] ?? ''} cancelled: the agent is stopping`;
        else if (code === 'ENOENT') message = 'the git command is not installed (Debian/Ubuntu: apt-get install git)';
        else if (error.killed) message = `git ${args[0] ?? ''} timed out after ${Math.round(options.timeoutMs / 1000)}s`;
        else message = lastLines(text) || error.message;
        reject(new GitError(message, args, code));
      },
    );
  });
}

/** git prints progress first and the reason last: keep the last few lines, which say why. */
function lastLines(text: string): string {
  return text.split('\n').filter(Boolean).slice(-3).join('; ');
}

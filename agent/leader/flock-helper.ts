// Node has no flock(2), so a tiny helper process holds the lock for us: a shell opens the lock
// file on fd 9, takes an exclusive non-blocking flock on it, says "locked" and becomes `cat`,
// which keeps fd 9 (and so the lock) open while it reads our end of a pipe. When we exit — even
// by kill -9 — the kernel closes that pipe, cat reads EOF and exits, and the kernel drops the
// lock: no stale lock to guess about from timestamps.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';

/** The fd the helper holds the lock on; `/proc/<pid>/fd/9` is the locked file itself. */
export const HELPER_LOCK_FD = 9;

// `exec 9>>` creates the file if needed without truncating it. `flock -x -n` (short options:
// util-linux and busybox both take them) exits 1 when someone else holds the lock.
const SCRIPT = `exec ${HELPER_LOCK_FD}>>"$1" || exit 3
flock -x -n ${HELPER_LOCK_FD} || exit $?
echo locked
exec cat`;

/** How to start the helper for `lockPath` (exported so a test can hold the lock from another process). */
export function flockHelperCommand(lockPath: string): { command: string; args: string[] } {
  return { command: '/bin/sh', args: ['-c', SCRIPT, 'dockerlet-flock', lockPath] };
}

/** Exit code of `flock -n` when the lock is held elsewhere. */
const CONFLICT_EXIT_CODE = 1;

export class FlockHelper {
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #alive = true;

  constructor(child: ChildProcess) {
    this.#child = child;
    this.#exited = new Promise((resolve) =>
      child.once('exit', () => {
        this.#alive = false;
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  alive(): boolean {
    return this.#alive;
  }

  /**
   * Device and inode of the file the helper holds locked, or undefined when it no longer holds it
   * (the helper died). Compared with the lock path's, it proves we lock the file others open.
   */
  async lockedInode(): Promise<string | undefined> {
    if (!this.#alive) return undefined;
    try {
      const info = await stat(`/proc/${this.pid}/fd/${HELPER_LOCK_FD}`);
      return `${info.dev}:${info.ino}`;
    } catch {
      return undefined;
    }
  }

  /** Drops the lock: the kernel releases it when the helper has exited, which this waits for. */
  async kill(): Promise<void> {
    if (this.#alive) this.#child.kill('SIGKILL');
    this.#child.stdin?.destroy();
    await this.#exited;
  }
}

/**
 * Tries to take the lock. Resolves the running helper once it holds the lock, undefined when
 * someone else holds it; rejects when the helper cannot run or does not answer in `timeoutMs`.
 */
export function spawnFlockHelper(lockPath: string, timeoutMs: number): Promise<FlockHelper | undefined> {
  const { command, args } = flockHelperCommand(lockPath);
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const helper = new FlockHelper(child);
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const finish = (settle: () => void): void => {
      clearTimeout(timer);
      child.stdout?.removeAllListeners('data');
      child.removeListener('exit', onExit);
      settle();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (code === CONFLICT_EXIT_CODE) finish(() => resolve(undefined));
      else finish(() => reject(new Error(`flock helper for ${lockPath} exited with ${signal ?? `code ${code}`}: ${stderr.trim() || 'no output'}`)));
    };
    const timer = setTimeout(() => {
      void helper.kill();
      finish(() => reject(new Error(`flock helper for ${lockPath} did not answer within ${timeoutMs} ms`)));
    }, timeoutMs);
    child.once('error', (error) => finish(() => reject(new Error(`cannot run the flock helper (${command}): ${error.message}`, { cause: error }))));
    child.once('exit', onExit);
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('locked\n')) finish(() => resolve(helper));
    });
  });
}

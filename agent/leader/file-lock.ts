// A lease for replicas on ONE host: an exclusive flock(2) on <dir>/leader.lock held by a helper
// process (flock-helper.ts), a fencing token in <dir>/token, and <dir>/holder.json saying who
// leads, from which host and process, and when it last renewed.
//
// flock alone frees the lock the instant the holder's helper dies. If the holder's process is
// provably dead (same kernel and pid namespace, pid gone) the taker leads at once; otherwise (its
// helper was killed but it may still be acting, or it lives in another container) the taker holds
// the flock but waits until the previous lease has run out, as with any other backend.
//
// Safety rests on the flock alone: a token is read, incremented and written (fsync'd) only while
// our helper holds it, and a call grants a lease only if the flock was still ours after its last
// write. The `released` file that a release touches is only a hint that wakes standbys early.
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { mkdir, readFile, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { LeaseGrant, LeaseHolder, LeaseLock } from '../../reconciler/leader.ts';
import { writeFileAtomic } from '../status/atomic-file.ts';
import { checkLocalFilesystem, checkSameHost, currentHost, FileLockRefused, holderProcessGone, parseHolderRecord } from './file-lock-host.ts';
import type { HolderRecord, HostIdentity } from './file-lock-host.ts';
import { spawnFlockHelper } from './flock-helper.ts';
import type { FlockHelper } from './flock-helper.ts';

export { FileLockRefused } from './file-lock-host.ts';

/** Touched after every release, once the flock is free: what waiting standbys watch. */
export const RELEASED_FILE = 'released';

export interface FileLeaseLockOptions {
  /** A directory on a local filesystem that all replicas on this host mount. Created if missing. */
  dir: string;
  logger?: Logger;
  /** The filesystem type of `dir` (statfs f_type); injected by tests. */
  statfs?: (dir: string) => Promise<{ type: number | bigint }>;
  /** This host and process; injected by tests. */
  host?: () => Promise<HostIdentity>;
  /** Wall-clock ms: holder.json is read by other processes, so not a test clock. */
  now?: () => number;
  /** How long the helper may take to say whether it got the lock. Default 2 s. */
  helperTimeoutMs?: number;
}

interface Held {
  helper: FlockHelper;
  identity: string;
  /** dev:ino of the locked file. */
  inode: string;
  leaseDurationMs: number;
  /** Set once we lead; undefined while waiting for the previous holder's lease to run out. */
  token: number | undefined;
}

export class FileLeaseLock implements LeaseLock {
  readonly description: string;
  readonly dir: string;
  readonly lockPath: string;
  readonly holderPath: string;
  readonly tokenPath: string;
  readonly #log: Logger | undefined;
  readonly #statfs: (dir: string) => Promise<{ type: number | bigint }>;
  readonly #host: () => Promise<HostIdentity>;
  readonly #now: () => number;
  readonly #helperTimeoutMs: number;
  #verified: Promise<HostIdentity> | undefined;
  #held: Held | undefined;
  #waitingLogged = false;
  /** Watches the directory for RELEASED_FILE (onReleased); opened on first use. */
  #watcher: FSWatcher | undefined;
  readonly #releaseListeners = new Set<() => void>();
  // One operation at a time: a call the elector gave up on may still be running.
  #serial: Promise<unknown> = Promise.resolve();

  constructor(options: FileLeaseLockOptions) {
    this.dir = options.dir;
    this.lockPath = join(options.dir, 'leader.lock');
    this.holderPath = join(options.dir, 'holder.json');
    this.tokenPath = join(options.dir, 'token');
    this.description = `file lease ${this.lockPath}`;
    this.#log = options.logger;
    this.#statfs = options.statfs ?? ((dir) => statfs(dir));
    this.#host = options.host ?? currentHost;
    this.#now = options.now ?? Date.now;
    this.#helperTimeoutMs = options.helperTimeoutMs ?? 2_000;
  }

  /** Pid of the helper process holding the flock, if any (diagnostics, tests). */
  helperPid(): number | undefined {
    return this.#held?.helper.pid;
  }

  /** Checks the directory once (local filesystem, not used by another host); throws FileLockRefused. Call at start-up. */
  async verify(): Promise<void> {
    await this.#verify();
  }

  tryAcquireOrRenew(identity: string, leaseDurationMs: number): Promise<LeaseGrant | undefined> {
    return this.#serialize(() => this.#tryAcquireOrRenew(identity, leaseDurationMs));
  }

  release(identity: string): Promise<void> {
    return this.#serialize(async () => {
      const held = this.#held;
      if (held === undefined || held.identity !== identity) return;
      if (held.token !== undefined && (await this.#stillHolds(held))) {
        // Tell the successor it need not wait out our lease; only safe while we hold the lock.
        await this.#writeHolder(held, await this.#verify(), true);
      }
      await this.#drop();
      // Only now is the flock free: wake standbys (onReleased). Written after, never before; a
      // standby woken by it still takes the lock through tryAcquireOrRenew like any other time.
      await writeFile(join(this.dir, RELEASED_FILE), `${this.#now()}\n`).catch((error: unknown) => {
        this.#log?.debug({ err: error }, 'cannot touch the released file; standbys retry on their timer');
      });
    });
  }

  async holder(): Promise<LeaseHolder | undefined> {
    const record = await this.#readHolder();
    if (record === undefined || record.released === true) return undefined;
    if (await holderProcessGone(record, await this.#verify())) return undefined;
    return { identity: record.identity, token: record.token };
  }

  close(): Promise<void> {
    this.#releaseListeners.clear();
    this.#watcher?.close();
    this.#watcher = undefined;
    return this.#serialize(() => this.#drop());
  }

  /**
   * Calls `listener` when any replica's release has freed the flock (it touches RELEASED_FILE).
   * Only a hint: if the directory cannot be watched, standbys retry on their timer as before.
   */
  onReleased(listener: () => void): () => void {
    this.#releaseListeners.add(listener);
    // After verify(), which creates the directory: one cannot watch what does not exist yet.
    this.#verify().then(
      () => this.#watch(),
      () => undefined, // the next tryAcquireOrRenew reports it
    );
    return () => this.#releaseListeners.delete(listener);
  }

  #watch(): void {
    if (this.#watcher !== undefined || this.#releaseListeners.size === 0) return;
    try {
      const watcher = watch(this.dir, { persistent: false }, (_event, filename) => {
        if (filename === RELEASED_FILE) for (const notify of this.#releaseListeners) notify();
      });
      watcher.on('error', (error) => this.#log?.debug({ err: error }, 'lock directory watch failed; standbys retry on their timer'));
      this.#watcher = watcher;
    } catch (error) {
      this.#log?.debug({ err: error }, 'cannot watch the lock directory; standbys retry on their timer');
    }
  }

  async #tryAcquireOrRenew(identity: string, leaseDurationMs: number): Promise<LeaseGrant | undefined> {
    const me = await this.#verify();
    let held = this.#held;
    if (held !== undefined && held.identity !== identity) return undefined; // one lock object, one replica
    if (held !== undefined && !(await this.#stillHolds(held))) {
      this.#log?.warn({ identity, lock: this.lockPath }, 'file lock lost: the helper died or the lock file was replaced');
      await this.#drop();
      held = undefined;
    }
    if (held === undefined) {
      held = await this.#take(identity, leaseDurationMs);
      if (held === undefined) return undefined;
    }
    held.leaseDurationMs = leaseDurationMs;
    const previous = await this.#readHolder();
    if (previous !== undefined && !(previous.identity === identity && previous.token === held.token)) {
      try {
        checkSameHost(this.dir, previous, me);
      } catch (error) {
        await this.#drop();
        throw error;
      }
    }
    if (held.token === undefined) {
      if (previous !== undefined && (await this.#mustWait(previous, identity, leaseDurationMs, me))) return undefined;
      held.token = await this.#nextToken(previous);
      this.#waitingLogged = false;
    }
    await this.#writeHolder(held, me, false);
    // The flock must have been ours from the check above through the writes: if the helper died
    // meanwhile, another replica may have taken the lock and allocated a token, so no grant.
    if (!(await this.#stillHolds(held))) {
      this.#log?.warn({ identity, lock: this.lockPath }, 'file lock lost: the helper died or the lock file was replaced');
      await this.#drop();
      return undefined;
    }
    return { token: held.token };
  }

  async #take(identity: string, leaseDurationMs: number): Promise<Held | undefined> {
    const helper = await spawnFlockHelper(this.lockPath, this.#helperTimeoutMs);
    if (helper === undefined) return undefined;
    const [inode, current] = await Promise.all([helper.lockedInode(), this.#pathInode()]);
    if (inode === undefined || inode !== current) {
      await helper.kill();
      // Either the shell closed fd 9 across exec (then no helper can hold the lock) or the file was
      // replaced between open and flock: not ours either way.
      throw new Error(`file lock ${this.lockPath}: the helper does not hold the current lock file (${inode ?? 'no fd'} vs ${current ?? 'missing'})`);
    }
    const held: Held = { helper, identity, inode, leaseDurationMs, token: undefined };
    this.#held = held;
    return held;
  }

  /** The previous holder's lease still runs and its process may still act on it. */
  async #mustWait(previous: HolderRecord, identity: string, leaseDurationMs: number, me: HostIdentity): Promise<boolean> {
    if (previous.released === true || previous.identity === identity) return false;
    if (await holderProcessGone(previous, me)) return false;
    const expiresAt = Date.parse(previous.renewedAt) + Math.max(previous.leaseDurationMs, leaseDurationMs);
    const waitMs = expiresAt - this.#now();
    if (waitMs <= 0) return false;
    if (!this.#waitingLogged) {
      this.#waitingLogged = true;
      this.#log?.info({ identity, previous: previous.identity, token: previous.token, waitMs }, 'took the file lock; waiting for the previous lease to run out');
    }
    return true;
  }

  async #stillHolds(held: Held): Promise<boolean> {
    if (!held.helper.alive()) return false;
    const [inode, current] = await Promise.all([held.helper.lockedInode(), this.#pathInode()]);
    return inode !== undefined && inode === held.inode && current === held.inode;
  }

  async #drop(): Promise<void> {
    const held = this.#held;
    this.#held = undefined;
    await held?.helper.kill();
  }

  /** Called with the lock held. Never below a token in holder.json, should the token file be lost. */
  async #nextToken(previous: HolderRecord | undefined): Promise<number> {
    let last = 0;
    try {
      last = Number.parseInt(await readFile(this.tokenPath, 'utf8'), 10);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (!Number.isSafeInteger(last) || last < 0) throw new Error(`file lock token file ${this.tokenPath} is corrupt`);
    const token = Math.max(last, previous?.token ?? 0) + 1;
    await writeFileAtomic(this.tokenPath, `${token}\n`, 0o644);
    return token;
  }

  async #writeHolder(held: Held, me: HostIdentity, released: boolean): Promise<void> {
    const record: HolderRecord = {
      identity: held.identity,
      token: held.token ?? 0,
      ...(me.bootId !== undefined ? { bootId: me.bootId } : {}),
      hostname: me.hostname,
      pid: me.pid,
      ...(me.pidNamespace !== undefined ? { pidNamespace: me.pidNamespace } : {}),
      ...(me.startTicks !== undefined ? { startTicks: me.startTicks } : {}),
      renewedAt: new Date(this.#now()).toISOString(),
      leaseDurationMs: held.leaseDurationMs,
      ...(released ? { released: true } : {}),
    };
    await writeFileAtomic(this.holderPath, `${JSON.stringify(record)}\n`, 0o644);
  }

  async #readHolder(): Promise<HolderRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.holderPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return parseHolderRecord(text, this.holderPath);
  }

  async #pathInode(): Promise<string | undefined> {
    try {
      const info = await stat(this.lockPath);
      return `${info.dev}:${info.ino}`;
    } catch {
      return undefined;
    }
  }

  #verify(): Promise<HostIdentity> {
    if (this.#verified === undefined) {
      const verifying = (async () => {
        await mkdir(this.dir, { recursive: true });
        checkLocalFilesystem(this.dir, (await this.#statfs(this.dir)).type);
        const me = await this.#host();
        const previous = await this.#readHolder();
        if (previous !== undefined) checkSameHost(this.dir, previous, me);
        return me;
      })();
      this.#verified = verifying;
      // A refusal is final; anything else (a transient EACCES) is tried again on the next call.
      verifying.catch((error: unknown) => {
        if (!(error instanceof FileLockRefused) && this.#verified === verifying) this.#verified = undefined;
      });
    }
    return this.#verified;
  }

  #serialize<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#serial.then(operation, operation);
    this.#serial = result.catch(() => undefined);
    return result;
  }
}

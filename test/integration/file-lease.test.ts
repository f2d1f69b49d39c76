// FileLeaseLock and LeaseLeaderElector on a real directory with real flock helpers, plus its
// refusals of directories shared between hosts (FIELD-NOTES row 1).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileLeaseLock, FileLockRefused } from '../../agent/leader/file-lock.ts';
import { currentHost } from '../../agent/leader/file-lock-host.ts';
import type { HostIdentity } from '../../agent/leader/file-lock-host.ts';
import { flockHelperCommand } from '../../agent/leader/flock-helper.ts';
import { DEFAULT_LEASE_TIMINGS } from '../../reconciler/leader.ts';
import type { LeaseGrant, LeaseHolder, LeaseLock, LeaseTimings } from '../../reconciler/leader.ts';
import { FileLeadershipLedger, findOverlaps, readLedger } from '../../reconciler/leader-ledger.ts';
import { REPO } from '../support/agent-process.ts';
import { eventually } from '../support/eventually.ts';
import { currentLeaders, maxConcurrentLeaders, startReplica } from '../support/leader-replicas.ts';
import type { LiveReplica } from '../support/leader-replicas.ts';

const TIMINGS: LeaseTimings = { leaseDurationMs: 1_500, renewDeadlineMs: 1_000, retryPeriodMs: 250 };
const EXT4 = 0xef53;
const ERROR = 50;

interface LogLine {
  level: number;
  msg: string;
  identity?: string;
}

let dir: string;
let locks: FileLeaseLock[];
let replicas: LiveReplica[];
let children: ChildProcess[];
let lines: LogLine[];
let logger: Logger;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dockerlet-file-lease-'));
  locks = [];
  replicas = [];
  children = [];
  lines = [];
  logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
});

afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(replicas.map((r) => r.stop()));
  await Promise.all(locks.map((l) => l.close()));
  await rm(dir, { recursive: true, force: true });
});

function lock(options: Partial<ConstructorParameters<typeof FileLeaseLock>[0]> = {}): FileLeaseLock {
  const made = new FileLeaseLock({ dir, logger, ...options });
  locks.push(made);
  return made;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A lock whose process "dies": its helper is SIGKILLed and every later call fails. */
class DyingLock implements LeaseLock {
  readonly description: string;
  #dead = false;
  constructor(readonly inner: FileLeaseLock) {
    this.description = inner.description;
  }
  die(): void {
    this.#dead = true;
    process.kill(this.inner.helperPid()!, 'SIGKILL');
  }
  #check(): void {
    if (this.#dead) throw new Error('dead');
  }
  async tryAcquireOrRenew(identity: string, leaseDurationMs: number): Promise<LeaseGrant | undefined> {
    this.#check();
    return this.inner.tryAcquireOrRenew(identity, leaseDurationMs);
  }
  async release(identity: string): Promise<void> {
    this.#check();
    return this.inner.release(identity);
  }
  holder(): Promise<LeaseHolder | undefined> {
    return this.inner.holder();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * The real lock, watched: counts answers that found the lease held elsewhere, and when `stalled`
 * answers only after `stallMs` (a caller that outlives the elector's bound, as under heavy load).
 */
class WatchedLock implements LeaseLock {
  readonly description: string;
  heldAnswers = 0;
  stalled = false;
  constructor(
    readonly inner: FileLeaseLock,
    readonly stallMs = 0,
  ) {
    this.description = inner.description;
  }
  async tryAcquireOrRenew(identity: string, leaseDurationMs: number): Promise<LeaseGrant | undefined> {
    const answer = await this.inner.tryAcquireOrRenew(identity, leaseDurationMs);
    if (answer === undefined) this.heldAnswers += 1;
    if (this.stalled) await sleep(this.stallMs);
    return answer;
  }
  release(identity: string): Promise<void> {
    return this.inner.release(identity);
  }
  holder(): Promise<LeaseHolder | undefined> {
    return this.inner.holder();
  }
  onReleased(listener: () => void): () => void {
    return this.inner.onReleased(listener);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Starts `node` with `script` (ESM, .ts imports through tsx) and resolves its first stdout line. */
async function nodeChild(script: string, env: Record<string, string>): Promise<{ child: ChildProcess; firstLine: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const firstLine = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code}: ${stderr}`)));
  });
  return { child, firstLine };
}

async function killAndWait(child: ChildProcess): Promise<number> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
  return Date.now();
}

describe('FileLeaseLock', () => {

  it('elects exactly one of three replicas; after a release the next one leads at once', async () => {
    const ledgerPath = join(dir, 'ledger.jsonl');
    const ledger = new FileLeadershipLedger(ledgerPath);
    for (const identity of ['f1', 'f2', 'f3']) replicas.push(startReplica({ identity, lock: lock(), timings: TIMINGS, logger, ledger }));
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 5_000 });
    expect(await maxConcurrentLeaders(replicas, 2 * TIMINGS.leaseDurationMs)).toBe(1);
    // The current term of each replica is its last start: on a loaded machine a leader may have
    // missed a renew deadline and led again later, so its first start is an older term.
    const first = currentLeaders(replicas)[0]!;
    const firstTerm = first.starts.at(-1)!;
    const holder = JSON.parse(await readFile(join(dir, 'holder.json'), 'utf8')) as Record<string, unknown>;
    expect(holder).toMatchObject({ identity: first.identity, token: firstTerm.token, pid: process.pid, leaseDurationMs: 1_500 });
    expect(typeof holder['bootId']).toBe('string');

    const stoppedAt = Date.now();
    await first.stop();
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 5_000, intervalMs: 5 });
    const second = currentLeaders(replicas)[0]!;
    const secondTerm = second.starts.at(-1)!;
    const takeoverMs = secondTerm.at - stoppedAt;
    expect(takeoverMs).toBeLessThanOrEqual(TIMINGS.retryPeriodMs + 100);
    expect(secondTerm.token).toBeGreaterThan(firstTerm.token);

    await Promise.all(replicas.map((r) => r.stop()));
    const entries = readLedger(ledgerPath);
    expect(findOverlaps(entries)).toEqual([]);
    const tokens = entries.filter((e) => e.event === 'start').map((e) => e.token);
    expect(tokens.at(-1)).toBe(secondTerm.token);
    expect(tokens).toEqual([...new Set(tokens)].sort((a, b) => a - b));
    expect(lines.filter((l) => l.level >= ERROR)).toEqual([]);
    console.info(`file: takeover after release ${takeoverMs} ms`);
  });

  it('a leader that missed its renew deadline and leads again gets a greater token than the leader in between', async () => {
    // What a loaded CI machine did once: renewals slower than the bound, a step-down, another
    // replica leading, then the first one again. Its FIRST start is then an older term (token 1)
    // than its predecessor's (token 2); its current term must carry token 3.
    const ledgerPath = join(dir, 'ledger.jsonl');
    const ledger = new FileLeadershipLedger(ledgerPath);
    const slowA = new WatchedLock(lock(), TIMINGS.retryPeriodMs + 50);
    const a = startReplica({ identity: 'a', lock: slowA, timings: TIMINGS, logger, ledger });
    replicas.push(a);
    await eventually(() => expect(a.leading()).toBe(true), { timeoutMs: 5_000 });
    const b = startReplica({ identity: 'b', lock: lock(), timings: TIMINGS, logger, ledger });
    replicas.push(b);
    slowA.stalled = true;
    await eventually(() => expect(b.leading()).toBe(true), { timeoutMs: 5_000, intervalMs: 5 });
    expect(a.stops.map((s) => s.reason)).toEqual(['RenewDeadlineExceeded']);
    slowA.stalled = false;
    await b.stop();
    await eventually(() => expect(a.leading()).toBe(true), { timeoutMs: 5_000, intervalMs: 5 });

    expect(a.starts.map((s) => s.token)).toEqual([1, 3]);
    expect(b.starts.map((s) => s.token)).toEqual([2]);
    await a.stop();
    const entries = readLedger(ledgerPath);
    expect(entries.filter((e) => e.event === 'start').map((e) => [e.holder, e.token])).toEqual([
      ['a', 1],
      ['b', 2],
      ['a', 3],
    ]);
    expect(findOverlaps(entries)).toEqual([]);
    expect(lines.filter((l) => l.level >= ERROR)).toEqual([]);
  });

  it('wakes standbys on a release: with the default 2 s retry period a successor leads well under 2 s later', async () => {
    const watched = ['d1', 'd2', 'd3'].map((identity) => {
      const observed = new WatchedLock(lock());
      replicas.push(startReplica({ identity, lock: observed, timings: DEFAULT_LEASE_TIMINGS, logger }));
      return observed;
    });
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 10_000 });
    const first = currentLeaders(replicas)[0]!;
    const standbys = watched.filter((_, i) => replicas[i] !== first);
    // Both standbys have just been told "held": they now sleep about 2 s before trying again.
    const seen = standbys.map((s) => s.heldAnswers);
    await eventually(() => standbys.forEach((s, i) => expect(s.heldAnswers).toBeGreaterThan(seen[i]!)), { timeoutMs: 5_000, intervalMs: 5 });
    const stoppedAt = Date.now();
    await first.stop();
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 5_000, intervalMs: 5 });
    const takeoverMs = currentLeaders(replicas)[0]!.starts.at(-1)!.at - stoppedAt;
    expect(takeoverMs).toBeLessThan(DEFAULT_LEASE_TIMINGS.retryPeriodMs / 2);
    console.info(`file: takeover after release with the default 2 s retry period ${takeoverMs} ms`);
  });

  it('when the leader\'s helper is SIGKILLed, the leader steps down at its next renewal and one replica leads again', async () => {
    const ledgerPath = join(dir, 'ledger.jsonl');
    const ledger = new FileLeadershipLedger(ledgerPath);
    const fileLocks = new Map<string, FileLeaseLock>();
    for (const identity of ['f1', 'f2', 'f3']) {
      fileLocks.set(identity, lock());
      replicas.push(startReplica({ identity, lock: fileLocks.get(identity)!, timings: TIMINGS, logger, ledger }));
    }
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 5_000 });
    const leader = currentLeaders(replicas)[0]!;
    const killedAt = Date.now();
    process.kill(fileLocks.get(leader.identity)!.helperPid()!, 'SIGKILL');
    await eventually(() => expect(leader.aborts.length).toBeGreaterThanOrEqual(1), { timeoutMs: 5_000, intervalMs: 5 });
    const stepDownMs = leader.aborts[0]! - killedAt;
    expect(leader.stops[0]!.reason).toBe('LeaseLost');
    expect(stepDownMs).toBeLessThanOrEqual(TIMINGS.retryPeriodMs + 100);
    // Whoever wins the flock (the old leader may take it back), one replica leads, under a new token.
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: TIMINGS.leaseDurationMs + 2 * TIMINGS.retryPeriodMs + 500, intervalMs: 5 });
    const next = currentLeaders(replicas)[0]!;
    expect(next.starts.at(-1)!.token).toBeGreaterThan(leader.starts[0]!.token);
    expect(await maxConcurrentLeaders(replicas, TIMINGS.leaseDurationMs)).toBe(1);
    await Promise.all(replicas.map((r) => r.stop()));
    expect(findOverlaps(readLedger(ledgerPath))).toEqual([]);
    console.info(`file helper killed: old leader stepped down after ${stepDownMs} ms, ${next.identity} leads ${next.starts.at(-1)!.at - killedAt} ms after the kill`);
  });

  it('a successor waits out the lease of a holder that may still be acting (helper gone, process alive)', async () => {
    const ledgerPath = join(dir, 'ledger.jsonl');
    const ledger = new FileLeadershipLedger(ledgerPath);
    const dying = new DyingLock(lock());
    const zombie = startReplica({ identity: 'zombie', lock: dying, timings: TIMINGS, logger, ledger });
    replicas.push(zombie);
    await eventually(() => expect(zombie.leading()).toBe(true), { timeoutMs: 5_000 });
    const standby = startReplica({ identity: 'standby', lock: lock(), timings: TIMINGS, logger, ledger });
    replicas.push(standby);
    await sleep(3 * TIMINGS.retryPeriodMs);
    const killedAt = Date.now();
    dying.die();
    await eventually(() => expect(standby.leading()).toBe(true), { timeoutMs: 5_000, intervalMs: 5 });
    expect(zombie.stops.map((s) => s.reason)).toEqual(['RenewDeadlineExceeded']);
    // The zombie kept "leading" until its deadline; the standby held the flock but waited for the lease.
    expect(zombie.aborts[0]!).toBeLessThanOrEqual(standby.starts[0]!.at);
    const takeoverMs = standby.starts[0]!.at - killedAt;
    expect(takeoverMs).toBeGreaterThan(TIMINGS.leaseDurationMs - TIMINGS.retryPeriodMs - 100);
    expect(takeoverMs).toBeLessThanOrEqual(TIMINGS.leaseDurationMs + TIMINGS.retryPeriodMs + 100);
    await Promise.all(replicas.map((r) => r.stop()));
    expect(findOverlaps(readLedger(ledgerPath))).toEqual([]);
    console.info(`file zombie: stepped down ${zombie.aborts[0]! - killedAt} ms, successor leads ${takeoverMs} ms after the helper was killed`);
  });

  it('frees the lock when another process holding it through the helper is killed -9', async () => {
    const { command, args } = flockHelperCommand(join(dir, 'leader.lock'));
    const script = `
      import { spawn } from 'node:child_process';
      const helper = spawn(${JSON.stringify(command)}, ${JSON.stringify(args)}, { stdio: ['pipe', 'pipe', 'inherit'] });
      helper.stdout.on('data', (chunk) => { if (String(chunk).includes('locked')) console.log('locked ' + helper.pid); });
      setInterval(() => {}, 60_000);`;
    const { child, firstLine } = await nodeChild(script, {});
    expect(firstLine).toMatch(/^locked \d+$/);
    const mine = lock();
    expect(await mine.tryAcquireOrRenew('parent', 1_500)).toBeUndefined();
    const killedAt = await killAndWait(child);
    const grant = await eventually(
      async () => {
        const got = await mine.tryAcquireOrRenew('parent', 1_500);
        if (got === undefined) throw new Error('still held');
        return got;
      },
      { timeoutMs: 3_000, intervalMs: 5 },
    );
    expect(grant.token).toBe(1);
    console.info(`file kill -9 (raw helper): lock free ${Date.now() - killedAt} ms after the holder died`);
  });

  it('a standby leads within one retry period after a leader process is killed -9, despite a long lease', async () => {
    const script = `
      const { FileLeaseLock } = await import(${JSON.stringify(join(REPO, 'agent/leader/file-lock.ts'))});
      const lock = new FileLeaseLock({ dir: process.env.LOCK_DIR });
      console.log(JSON.stringify(await lock.tryAcquireOrRenew('child', 60_000)));
      setInterval(() => {}, 60_000);`;
    const { child, firstLine } = await nodeChild(script, { LOCK_DIR: dir });
    expect(JSON.parse(firstLine)).toEqual({ token: 1 });
    const standby = startReplica({ identity: 'standby', lock: lock(), timings: TIMINGS, logger });
    replicas.push(standby);
    await sleep(2 * TIMINGS.retryPeriodMs);
    expect(standby.leading()).toBe(false);
    const killedAt = await killAndWait(child);
    await eventually(() => expect(standby.leading()).toBe(true), { timeoutMs: 5_000, intervalMs: 5 });
    const takeoverMs = standby.starts[0]!.at - killedAt;
    expect(standby.starts[0]!.token).toBe(2);
    expect(takeoverMs).toBeLessThanOrEqual(TIMINGS.retryPeriodMs + 250); // slack for process exit on a busy CI machine
    console.info(`file kill -9 (FileLeaseLock process): standby leads ${takeoverMs} ms after the kill`);
  });
});

describe('FileLeaseLock refuses directories shared between hosts', () => {
  const host = async (overrides: Partial<HostIdentity> = {}): Promise<HostIdentity> => ({ ...(await currentHost()), ...overrides });

  it('refuses network and FUSE filesystems by statfs type, naming the type and the alternative', async () => {
    for (const [type, name] of [
      [0x6969, 'NFS'],
      [0xff534d42n, 'CIFS'],
      [0xfe534d42, 'SMB2'],
      [0x65735546, 'FUSE'],
      [0x00c36400, 'Ceph'],
      [0x01021997, '9p'],
    ] as const) {
      const refused = lock({ statfs: async () => ({ type }) });
      const error = await refused.verify().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FileLockRefused);
      expect((error as Error).message).toContain(name);
      expect((error as Error).message).toContain('--leader-election redis (or kubernetes)');
      await expect(refused.tryAcquireOrRenew('a', 1_500)).rejects.toBeInstanceOf(FileLockRefused);
    }
    await expect(lock({ statfs: async () => ({ type: EXT4 }) }).verify()).resolves.toBeUndefined();
  });

  it('refuses a holder.json written by another host (another boot id) while this host was up', async () => {
    const me = await host();
    const record = {
      identity: 'elsewhere-1',
      token: 7,
      bootId: '00000000-0000-4000-8000-000000000000',
      hostname: 'other-node',
      pid: 1,
      renewedAt: new Date().toISOString(),
      leaseDurationMs: 15_000,
    };
    await writeFile(join(dir, 'holder.json'), JSON.stringify(record));
    const refused = lock();
    const error = await refused.verify().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileLockRefused);
    expect((error as Error).message).toMatch(/another host \(other-node, boot id 00000000-.*\) while this host .* was up/);
    expect((error as Error).message).toContain(me.bootId!);
    await expect(refused.tryAcquireOrRenew('a', 1_500)).rejects.toBeInstanceOf(FileLockRefused);
    expect(refused.helperPid()).toBeUndefined();

    // Without boot ids, the hostname decides.
    await expect(lock({ host: () => host({ bootId: undefined }) }).verify()).rejects.toBeInstanceOf(FileLockRefused);
    // From this host before its last reboot: not a sign of sharing, and its lease ran out long ago.
    await writeFile(join(dir, 'holder.json'), JSON.stringify({ ...record, renewedAt: new Date(me.bootTimeMs - 60_000).toISOString() }));
    const rebooted = lock();
    expect(await rebooted.tryAcquireOrRenew('a', 1_500)).toEqual({ token: 8 });
  });

  it('refuses a holder.json that another host writes while we hold the lock', async () => {
    const mine = lock();
    expect(await mine.tryAcquireOrRenew('a', 1_500)).toEqual({ token: 1 });
    const me = await host();
    // A host that does not share our flock (the filesystem lies) rewrites holder.json.
    await writeFile(
      join(dir, 'holder.json'),
      JSON.stringify({ identity: 'b', token: 2, bootId: 'other-boot', hostname: 'other-node', pid: me.pid, renewedAt: new Date().toISOString(), leaseDurationMs: 1_500 }),
    );
    await expect(mine.tryAcquireOrRenew('a', 1_500)).rejects.toBeInstanceOf(FileLockRefused);
    expect(mine.helperPid()).toBeUndefined(); // and it let go of the flock
  });
});

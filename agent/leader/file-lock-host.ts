// What the file lock needs to know about hosts: is a directory local (flock(2) on a network or
// FUSE filesystem is not a lock between hosts), which host and process wrote holder.json, and is
// that process still alive. Replicas on one host share a kernel, so the kernel's boot id tells
// "same host" apart from "another host that mounts the same directory" (FIELD-NOTES row 1).
import { readFile, readlink } from 'node:fs/promises';
import { hostname, uptime } from 'node:os';

export class FileLockRefused extends Error {
  override readonly name = 'FileLockRefused';
}

const USE_INSTEAD = 'use --leader-election redis (or kubernetes) for replicas on several hosts';

/** statfs(2) f_type magic numbers of filesystems that other hosts (or a FUSE daemon) may share. */
export const SHARED_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x6969, 'NFS'],
  [0xff534d42, 'CIFS'],
  [0xfe534d42, 'SMB2'],
  [0x517b, 'SMB'],
  [0x564c, 'NCP'],
  [0x65735546, 'FUSE'], // also sshfs, virtiofs, Docker Desktop file sharing, GlusterFS, s3fs
  [0x00c36400, 'Ceph'],
  [0x01021997, '9p'],
  [0x5346414f, 'AFS'],
  [0x6b414653, 'kAFS'],
  [0x73757245, 'Coda'],
  [0x7461636f, 'OCFS2'],
  [0x01161970, 'GFS2'],
  [0x0bd00bd0, 'Lustre'],
  [0x47504653, 'GPFS'],
  [0x19830326, 'BeeGFS'],
  [0xaad7aaea, 'PanFS'],
]);

/** Throws FileLockRefused when `type` (statfs f_type) is a shared filesystem. */
export function checkLocalFilesystem(dir: string, type: number | bigint): void {
  const magic = Number(BigInt.asUintN(32, BigInt(type)));
  const name = SHARED_FILESYSTEMS.get(magic);
  if (name === undefined) return;
  throw new FileLockRefused(
    `file lock directory ${dir} is on ${name} (statfs type 0x${magic.toString(16)}), a network or FUSE filesystem: ` +
      `a file lock there does not keep replicas on different hosts apart; use a local directory for replicas on one host, or ${USE_INSTEAD}`,
  );
}

/** Who and where: written into holder.json and compared with it. */
export interface HostIdentity {
  /** /proc/sys/kernel/random/boot_id: one per running kernel, so one per host (containers share it). */
  bootId: string | undefined;
  hostname: string;
  /** When this kernel booted, ms since the epoch. */
  bootTimeMs: number;
  pid: number;
  /** /proc/self/ns/pid: pids are only comparable inside one pid namespace. */
  pidNamespace: string | undefined;
  /** Start time of the process in clock ticks since boot: with the pid, immune to pid reuse. */
  startTicks: number | undefined;
}

export async function currentHost(): Promise<HostIdentity> {
  const [bootId, pidNamespace, startTicks] = await Promise.all([
    readFile('/proc/sys/kernel/random/boot_id', 'utf8').then((s) => s.trim(), () => undefined),
    readlink('/proc/self/ns/pid').catch(() => undefined),
    processStartTicks(process.pid),
  ]);
  return { bootId, hostname: hostname(), bootTimeMs: Date.now() - uptime() * 1000, pid: process.pid, pidNamespace, startTicks };
}

/** Field 22 of /proc/<pid>/stat; undefined when there is no such process (or no /proc). */
export async function processStartTicks(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[22 - 3]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** holder.json: the last replica that took the lock, rewritten on every renewal. */
export interface HolderRecord {
  identity: string;
  token: number;
  bootId?: string;
  hostname: string;
  pid: number;
  pidNamespace?: string;
  startTicks?: number;
  /** RFC 3339; the lease runs leaseDurationMs from here. */
  renewedAt: string;
  leaseDurationMs: number;
  /** Set on a clean release: a successor need not wait for the lease to run out. */
  released?: boolean;
}

export function parseHolderRecord(text: string, path: string): HolderRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not JSON`, { cause: error });
  }
  const r = raw as Partial<HolderRecord> | null;
  if (
    r === null ||
    typeof r !== 'object' ||
    typeof r.identity !== 'string' ||
    typeof r.token !== 'number' ||
    typeof r.hostname !== 'string' ||
    typeof r.pid !== 'number' ||
    typeof r.renewedAt !== 'string' ||
    typeof r.leaseDurationMs !== 'number' ||
    Number.isNaN(Date.parse(r.renewedAt))
  ) {
    throw new Error(`${path} is not a dockerlet holder record`);
  }
  return r as HolderRecord;
}

/**
 * Refuses a holder record written by another host while this one was up. A record from another
 * kernel that predates our boot is this host before a reboot (or a host long gone): not proof of
 * sharing, since the boot id changes on every reboot.
 */
export function checkSameHost(dir: string, holder: HolderRecord, me: HostIdentity): void {
  const sameHost = holder.bootId !== undefined && me.bootId !== undefined ? holder.bootId === me.bootId : holder.hostname === me.hostname;
  if (sameHost || Date.parse(holder.renewedAt) < me.bootTimeMs) return;
  const them = `${holder.hostname}${holder.bootId ? `, boot id ${holder.bootId}` : ''}`;
  const us = `${me.hostname}${me.bootId ? `, boot id ${me.bootId}` : ''}`;
  throw new FileLockRefused(
    `file lock directory ${dir} was used at ${holder.renewedAt} by ${holder.identity} on another host (${them}) while this host (${us}) was up: ` +
      `the directory is shared between hosts, where a file lock cannot keep one leader; ${USE_INSTEAD}`,
  );
}

/**
 * True only when the holder's process is provably gone: same kernel, same pid namespace, and that
 * pid is no longer the process that wrote the record. Anything we cannot check counts as alive.
 */
export async function holderProcessGone(holder: HolderRecord, me: HostIdentity): Promise<boolean> {
  if (holder.bootId === undefined || holder.bootId !== me.bootId) return false;
  if (holder.pidNamespace === undefined || holder.pidNamespace !== me.pidNamespace) return false;
  const ticks = await processStartTicks(holder.pid);
  return ticks === undefined || (holder.startTicks !== undefined && ticks !== holder.startTicks);
}

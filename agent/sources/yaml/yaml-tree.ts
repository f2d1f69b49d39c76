// Which files of a desired-state directory are manifests, and listing them. Shared by the full
// scan and the watcher's ignore rule so both agree on what counts.
import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** What a reload compares to decide whether a file needs reading again. */
export interface FileStamp {
  mtimeMs: number;
  size: number;
  ino: number;
}

export interface TreeListing {
  /** Manifest files by path relative to the root, '/'-separated. */
  files: Map<string, FileStamp>;
  /** Subdirectories (relative) that could not be listed: what was known under them is kept. */
  unreadableDirs: Map<string, string>;
}

/**
 * Hidden entries (.git, .github, editor swap files like .web.yaml.swp, Kubernetes ConfigMap
 * `..data`) and editor leftovers (#web.yaml#, web.yaml~) are never desired state.
 */
export function isIgnoredName(name: string): boolean {
  return name.startsWith('.') || name.startsWith('#') || name.endsWith('~');
}

export function isManifestName(name: string): boolean {
  return !isIgnoredName(name) && (name.endsWith('.yaml') || name.endsWith('.yml'));
}

/** True when any segment of a root-relative path is ignored (the root itself never is). */
export function isIgnoredPath(relativePath: string): boolean {
  if (relativePath === '' || relativePath === '.') return false;
  return relativePath.split(/[\\/]/).some(isIgnoredName);
}

export function toRelative(root: string, absolutePath: string): string {
  return path.relative(root, absolutePath).split(path.sep).join('/');
}

/**
 * Lists manifest files under `root` recursively. Throws only when `root` itself cannot be listed.
 * Symlinked files are followed; symlinked directories are not (no cycles, and a link out of the
 * checkout is rarely meant as desired state).
 */
export async function listManifestFiles(root: string): Promise<TreeListing> {
  const listing: TreeListing = { files: new Map(), unreadableDirs: new Map() };
  await walk(root, '', listing);
  return listing;
}

async function walk(root: string, relDir: string, listing: TreeListing): Promise<void> {
  const absDir = relDir === '' ? root : path.join(root, relDir);
  let entries;
  try {
    entries = await readdir(absDir, { withFileTypes: true });
  } catch (error) {
    if (relDir === '') throw error;
    // Vanished between listing the parent and now: simply not there any more.
    if (errorCode(error) === 'ENOENT') return;
    listing.unreadableDirs.set(relDir, describeError(error));
    return;
  }
  await Promise.all(
    entries.map(async (entry) => {
      if (isIgnoredName(entry.name)) return;
      const rel = relDir === '' ? entry.name : `${relDir}/${entry.name}`;
      if (entry.isDirectory()) return walk(root, rel, listing);
      if (!isManifestName(entry.name) || !(entry.isFile() || entry.isSymbolicLink())) return;
      try {
        const info = await stat(path.join(root, rel));
        if (info.isFile()) listing.files.set(rel, { mtimeMs: info.mtimeMs, size: info.size, ino: info.ino });
      } catch (error) {
        // Removed meanwhile, or a dangling link: not a manifest now. A symlink loop is a broken
        // manifest, not an absent one: listed (by the link itself) so that reading it reports ELOOP.
        if (errorCode(error) !== 'ELOOP') return;
        const link = await lstat(path.join(root, rel)).catch(() => undefined);
        if (link) listing.files.set(rel, { mtimeMs: link.mtimeMs, size: link.size, ino: link.ino });
      }
    }),
  );
}

export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

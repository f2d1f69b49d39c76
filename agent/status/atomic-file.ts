// Replace a file so that readers see the old content or the new one, never a torn write, and a
// crash leaves one of the two on disk: temp file in the same directory, fsync, rename, fsync dir.
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

let sequence = 0;

/** Temp files are `<path>.tmp-<pid>-<n>`; a crash may leave one behind (see removeStaleTempFiles). */
export function tempPathFor(target: string): string {
  sequence += 1;
  return `${target}.tmp-${process.pid}-${sequence}`;
}

export async function writeFileAtomic(target: string, data: string, mode = 0o600): Promise<void> {
  const temp = tempPathFor(target);
  try {
    const handle = await open(temp, 'w', mode);
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(path.dirname(target));
}

/** Makes the rename itself durable. Some platforms cannot fsync a directory; that is not fatal. */
async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // EISDIR/EPERM/EINVAL on platforms without directory fsync: the data itself is synced.
  } finally {
    await handle?.close();
  }
}

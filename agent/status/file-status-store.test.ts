import { readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionStatus } from '../../crds/types.ts';
import { eventually } from '../../test/support/eventually.ts';
import { FileStatusStore } from './file-status-store.ts';
import { capturingLogger, makeTempDir } from '../sources/yaml/yaml-store.fixtures.ts';

const silent = pino({ level: 'silent' });
const dirs: string[] = [];
const stores: FileStatusStore<SessionStatus>[] = [];

async function storeIn(options: { flushDelayMs?: number; logger?: pino.Logger; dir?: string } = {}) {
  const dir = options.dir ?? (await makeTempDir());
  dirs.push(dir);
  const file = path.join(dir, 'state', 'sessions.status.json');
  const store = new FileStatusStore<SessionStatus>({ path: file, logger: options.logger ?? silent, flushDelayMs: options.flushDelayMs ?? 20 });
  stores.push(store);
  await store.load();
  return { store, file, dir };
}

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('FileStatusStore', () => {
  it('creates the state directory 0700 and starts empty', async () => {
    const { store, file } = await storeIn();
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    expect(store.list().size).toBe(0);
  });

  it('reload keeps a write that was not on disk yet, and picks up what another writer left', async () => {
    const { store, file } = await storeIn({ flushDelayMs: 60_000 });
    await store.write('default/web', { phase: 'Running' });
    await store.reload();
    expect(store.get('default/web')?.phase).toBe('Running');
    // A predecessor's file content replaces what this process had already written out.
    await writeFile(file, JSON.stringify({ version: 1, items: { 'default/api': { phase: 'Pending' } } }));
    await store.reload();
    expect([...store.list().keys()]).toEqual(['default/api']);
  });

  it('reload keeps a write made while it was reading the file', async () => {
    const { store } = await storeIn({ flushDelayMs: 60_000 });
    await store.write('default/web', { phase: 'Pending' });
    const reloading = store.reload();
    await store.write('default/web', { phase: 'Running' });
    await reloading;
    expect(store.get('default/web')?.phase).toBe('Running');
    await store.reload();
    expect(store.get('default/web')?.phase).toBe('Running');
  });

  it('keeps statuses across a restart and serves them to readSnapshot', async () => {
    const { store, file, dir } = await storeIn();
    await store.write('default/web', { phase: 'Running', observedGeneration: 2 });
    await store.write('default/api', { phase: 'Pending' });
    await store.write('default/old', { phase: 'Stopped' });
    await store.delete('default/old');
    await store.flush();

    const snapshot = await FileStatusStore.readSnapshot<SessionStatus>(file);
    expect([...snapshot.keys()]).toEqual(['default/api', 'default/web']);
    expect(snapshot.get('default/web')).toEqual({ phase: 'Running', observedGeneration: 2 });

    const { store: again } = await storeIn({ dir });
    expect(again.get('default/web')?.observedGeneration).toBe(2);
    expect(again.get('default/old')).toBeUndefined();
  });

  it('reads a missing file as an empty snapshot', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    expect((await FileStatusStore.readSnapshot(path.join(dir, 'nope.json'))).size).toBe(0);
  });

  it('batches many writes into a few file writes', async () => {
    const { store, file } = await storeIn({ flushDelayMs: 200 });
    await Promise.all(Array.from({ length: 300 }, (_, i) => store.write(`default/s${i}`, { phase: 'Running', restartCount: i })));
    expect(store.flushCount).toBe(0);
    await eventually(async () => expect((await FileStatusStore.readSnapshot(file)).size).toBe(300));
    // Waits for the timer's flush to finish (the file is visible before the directory fsync ends).
    await store.flush();
    expect(store.flushCount).toBe(1);
  });

  it('writes on its own after the flush delay', async () => {
    const { store, file } = await storeIn({ flushDelayMs: 10 });
    await store.write('default/web', { phase: 'Running' });
    await eventually(async () => expect((await FileStatusStore.readSnapshot<SessionStatus>(file)).get('default/web')?.phase).toBe('Running'));
  });

  it('serializes concurrent flushes so the newest state lands last', async () => {
    const { store, file } = await storeIn({ flushDelayMs: 60_000 });
    const flushes: Promise<void>[] = [];
    for (let i = 0; i < 20; i += 1) {
      await store.write(`default/s${i}`, { phase: 'Running' });
      flushes.push(store.flush());
      // Let the previous flush get going, so flushes really are in flight together.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(flushes);
    // Had an older snapshot been renamed over a newer one, keys would be missing.
    expect((await FileStatusStore.readSnapshot(file)).size).toBe(20);
    expect(store.flushCount).toBeGreaterThan(1);
    expect(store.flushCount).toBeLessThanOrEqual(20);

    const written = store.flushCount;
    await store.flush();
    expect(store.flushCount).toBe(written);
  });

  it('never shows a reader a partial file', async () => {
    const { store, file } = await storeIn({ flushDelayMs: 0 });
    const big = 'x'.repeat(2_000);
    let done = false;
    let reads = 0;
    const reader = (async () => {
      while (!done) {
        // Throws (and fails the test) on a torn or half-written file.
        await FileStatusStore.readSnapshot(file);
        reads += 1;
      }
    })();
    for (let round = 0; round < 40; round += 1) {
      for (let i = 0; i < 50; i += 1) await store.write(`default/s${i}`, { phase: 'Running', message: `${round}${big}` });
      await store.flush();
    }
    done = true;
    await reader;
    expect(store.flushCount).toBe(40);
    expect(reads).toBeGreaterThan(0);
    expect((await readdir(path.dirname(file))).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('moves a corrupt file aside, warns, and starts empty', async () => {
    const { file, dir } = await storeIn();
    await writeFile(file, '{"version": 1, "items": {"default/web": {"pha');
    const { logger, messages } = capturingLogger();
    const { store } = await storeIn({ dir, logger });
    expect(store.list().size).toBe(0);
    const aside = (await readdir(path.dirname(file))).filter((f) => f.startsWith('sessions.status.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(await readFile(path.join(path.dirname(file), aside[0]!), 'utf8')).toContain('"pha');
    expect(messages()).toContain('status file is corrupt; moved aside, starting with empty status');
    await expect(FileStatusStore.readSnapshot(path.join(path.dirname(file), aside[0]!))).rejects.toThrow();
  });

  it('treats valid JSON of another shape as corrupt', async () => {
    const { file, dir } = await storeIn();
    await writeFile(file, '[1, 2, 3]');
    const { store } = await storeIn({ dir });
    expect(store.list().size).toBe(0);
    expect((await readdir(path.dirname(file))).some((f) => f.includes('.corrupt-'))).toBe(true);
  });

  it('removes temp files a crash left behind, but not fresh ones', async () => {
    const { file, dir } = await storeIn();
    const stale = `${file}.tmp-999-1`;
    const fresh = `${file}.tmp-999-2`;
    await writeFile(stale, 'half');
    await writeFile(fresh, 'half');
    const old = new Date(Date.now() - 5 * 60_000);
    await utimes(stale, old, old);
    await storeIn({ dir });
    const names = await readdir(path.dirname(file));
    expect(names).not.toContain(path.basename(stale));
    expect(names).toContain(path.basename(fresh));
  });

  it('stores a frozen copy of what was written', async () => {
    const { store } = await storeIn();
    const status: SessionStatus = { phase: 'Running', endpoints: ['a'] };
    await store.write('default/web', status);
    status.endpoints!.push('b');
    const stored = store.get('default/web')!;
    expect(stored.endpoints).toEqual(['a']);
    expect(Object.isFrozen(stored.endpoints)).toBe(true);
  });
});

// The bad-input corpus through the YAML store and the CRD validator (what the agent loads): each
// case is refused with a problem that names its file and the field or reason, the Session it would
// declare has no valid object, and a good Session beside it loads as if the case were not there.
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { crdManifestParser } from '../../agent/sources/yaml/crd-manifest-parser.ts';
import { YamlDirectoryStore } from '../../agent/sources/yaml/yaml-store.ts';
import { BAD_INPUT_CORPUS, goodSession } from '../support/bad-input-corpus.ts';
import { eventually } from '../support/eventually.ts';

const roots: string[] = [];
const stores: YamlDirectoryStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.stop()));
  await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })));
});

async function world(): Promise<{ store: string; outside: string }> {
  const root = await mkdtemp(join(tmpdir(), 'dockerlet-corpus-'));
  roots.push(root);
  const store = join(root, 'store');
  await (await import('node:fs/promises')).mkdir(store);
  return { store, outside: join(root, 'outside') };
}

function open(dir: string, watch: boolean): YamlDirectoryStore {
  // The rescan is the agent's safety net for a watcher event lost in a burst of renames (60 s
  // there); short here, so that "settles" is checked and not how fast inotify is under load.
  const store = new YamlDirectoryStore({ dir, logger: pino({ level: 'silent' }), parse: crdManifestParser, watch, debounceMs: 20, rescanMs: 500 });
  stores.push(store);
  return store;
}

function problems(store: YamlDirectoryStore): string[] {
  return [...store.loadProblems(), ...store.list().flatMap((e) => (e.problem ? [e.problem.message] : []))];
}

describe('bad-input corpus through the YAML store', () => {
  it.each(BAD_INPUT_CORPUS.map((c) => [c.id, c] as const))('%s: refused naming the file and the field or reason; the good Session beside it loads', async (_id, c) => {
    const w = await world();
    await writeFile(join(w.store, 'good.yaml'), goodSession('good'));
    await c.write(w.store, w.outside);
    const store = open(w.store, false);
    await store.start();
    const found = problems(store).filter((p) => p.includes(c.file));
    expect(found.join('\n'), `no problem names ${c.file}: ${problems(store).join('\n')}`).toContain(c.expect);
    const good = store.get('default/good');
    expect(good?.object?.spec.image).toBeDefined();
    expect(good?.problem).toBeUndefined();
    if (c.key) expect(store.get(c.key)?.object).toBeUndefined();
  });

  it('a file rewritten and replaced while the store reads it settles on its last content', async () => {
    const w = await world();
    const file = join(w.store, 'churn.yaml');
    const full = (n: number): string => goodSession('churn').replace('sleep', `sleep${n}`);
    await writeFile(file, full(0));
    const store = open(w.store, true);
    await store.start();
    // Truncated writes (half a file) and atomic replacements, faster than the debounce.
    for (let n = 1; n <= 40; n += 1) {
      const text = full(n);
      if (n % 2 === 0) await writeFile(file, text.slice(0, text.length / 2));
      else {
        await writeFile(`${file}.tmp`, text);
        await rename(`${file}.tmp`, file);
      }
    }
    await writeFile(file, full(41));
    await eventually(
      () => {
        expect(store.get('default/churn')?.object?.spec.command).toEqual(['sleep41', 'infinity']);
        expect(store.loadProblems()).toEqual([]);
      },
      { timeoutMs: 20_000 },
    );
  }, 30_000);
});

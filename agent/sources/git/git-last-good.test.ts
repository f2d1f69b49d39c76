// A refused file of a Git store keeps the objects of the revision it was last usable at when the
// agent restarts (a new GitDesiredStore on the same cache), and a fresh cache finds that version
// in the history. The git CLI is faked at the cache boundary (git-store.fixtures.ts).
import { readFile, rm } from 'node:fs/promises';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeRevisions, lastGoodFor } from './git-store.fixtures.ts';
import { GitDesiredStore } from './git-store.ts';
import { YamlDirectoryStore } from '../yaml/yaml-store.ts';
import { fakeParser, makeTempDir, sessionYaml } from '../yaml/yaml-store.fixtures.ts';

const spec = { kind: 'git', url: 'file:///srv/s.git', ref: 'main', path: 's' } as const;
const logger = pino({ level: 'silent' });
const BROKEN = 'metadata: {name: a\n';

describe('a refused file of a Git store across restarts', () => {
  let dir: string;
  const open: GitDesiredStore[] = [];

  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  /** One agent run: a new store (and YAML store, and record) on the cache in `revisions.dir`. */
  async function run(revisions: FakeRevisions): Promise<GitDesiredStore> {
    const lastGood = lastGoodFor(revisions, logger);
    const yaml = new YamlDirectoryStore({ dir: revisions.link, logger, parse: fakeParser, watch: false, wholeFiles: true, priorVersions: lastGood.versions });
    const store = new GitDesiredStore({ spec, cache: revisions, yaml, lastGood, logger, pollIntervalMs: 3_600_000 });
    open.push(store);
    await store.start();
    return store;
  }

  const image = (s: GitDesiredStore, key: `default/${string}`): string | undefined => s.get(key)?.object?.spec.image;
  const record = async (revisions: FakeRevisions): Promise<unknown> => JSON.parse(await readFile(revisions.lastGoodFile, 'utf8'));

  it('keeps the objects of the revision the file was last usable at, keeps that revision from pruning, and lets go once fixed', async () => {
    dir = await makeTempDir();
    const revisions = new FakeRevisions(dir);
    revisions.commit('c1', { 'a.yaml': sessionYaml('a', 'img:1'), 'b.yaml': sessionYaml('b', 'img:1') });
    revisions.head = 'c1';
    const first = await run(revisions);
    revisions.commit('c2', { 'a.yaml': BROKEN, 'b.yaml': sessionYaml('b', 'img:2') });
    revisions.head = 'c2';
    await first.sync();
    expect([image(first, 'default/a'), image(first, 'default/b')]).toEqual(['img:1', 'img:2']);
    expect(await record(revisions)).toEqual({ appliedRevision: 'c2', held: { 'a.yaml': 'c1' } });
    expect(revisions.kept.at(-1)).toEqual(['c1', 'c2']);
    expect(await revisions.revisionDirs()).toEqual(['c1', 'c2']);
    await first.stop();

    // The restart: nothing in memory, the same cache; the ref has not moved.
    const second = await run(revisions);
    expect([image(second, 'default/a'), image(second, 'default/b')]).toEqual(['img:1', 'img:2']);
    expect(second.get('default/a')?.problem?.message).toMatch(/^a\.yaml:\d+: /);
    expect(second.isComplete()).toBe(false);

    // Still broken in the next commit, and after one more restart: still c1's objects.
    revisions.commit('c3', { 'a.yaml': `${BROKEN}# still\n`, 'b.yaml': sessionYaml('b', 'img:3') });
    revisions.head = 'c3';
    await second.sync();
    await second.stop();
    const third = await run(revisions);
    expect([image(third, 'default/a'), image(third, 'default/b')]).toEqual(['img:1', 'img:3']);
    expect(await revisions.revisionDirs()).toEqual(['c1', 'c3']);

    // Fixed: the file is good at the new revision, nothing is held, c1 may go.
    revisions.commit('c4', { 'a.yaml': sessionYaml('a', 'img:4'), 'b.yaml': sessionYaml('b', 'img:3') });
    revisions.head = 'c4';
    await third.sync();
    expect(image(third, 'default/a')).toBe('img:4');
    expect(third.isComplete()).toBe(true);
    expect(await record(revisions)).toEqual({ appliedRevision: 'c4', held: {} });
    expect(await revisions.revisionDirs()).toEqual(['c4']);
  });

  it('without a record (a fresh cache, as on a new replica) takes the newest usable version from the history', async () => {
    dir = await makeTempDir();
    const revisions = new FakeRevisions(dir);
    revisions.commit('c1', { 'a.yaml': sessionYaml('a', 'img:1') });
    revisions.commit('c2', { 'a.yaml': sessionYaml('a', 'img:2'), 'b.yaml': sessionYaml('b', 'img:1') });
    revisions.commit('c3', { 'a.yaml': BROKEN, 'b.yaml': sessionYaml('b', 'img:1') });
    revisions.commit('c4', { 'a.yaml': `${BROKEN}# still\n`, 'b.yaml': sessionYaml('b', 'img:4') });
    revisions.head = 'c4';
    const store = await run(revisions);
    expect(revisions.materialised).toEqual(['c4']);
    expect([image(store, 'default/a'), image(store, 'default/b')]).toEqual(['img:2', 'img:4']);
    // Recorded as found: the next restart reads it from c2 directly.
    expect(await record(revisions)).toEqual({ appliedRevision: 'c4', held: { 'a.yaml': 'c2' } });
  });

  it('does not bring back a file from before it was deleted', async () => {
    dir = await makeTempDir();
    const revisions = new FakeRevisions(dir);
    revisions.commit('c1', { 'a.yaml': sessionYaml('a', 'img:1'), 'b.yaml': sessionYaml('b', 'img:1') });
    revisions.commit('c2', { 'b.yaml': sessionYaml('b', 'img:1') });
    revisions.commit('c3', { 'a.yaml': 'apiVersion: dockerlet.dev/v1alpha1\nkind: Session\nmetadata:\n  name: a\nspec: {}\n', 'b.yaml': sessionYaml('b', 'img:1') });
    revisions.head = 'c3';
    const store = await run(revisions);
    // Re-added broken after its deletion: its objects wait for a usable version, none comes from c1.
    expect(store.get('default/a')?.object).toBeUndefined();
    expect(store.get('default/a')?.problem?.reason).toBe('InvalidSpec');
    expect(image(store, 'default/b')).toBe('img:1');
  });
});

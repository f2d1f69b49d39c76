// The Git store's rules with the git CLI faked at its boundary (a map of commits written into a
// real temp dir, read by the real YAML store): each commit applied once, syncs coalesced, a
// refused commit not retried, failures keeping what was applied and the store incomplete.
import { rm } from 'node:fs/promises';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeRevisions, lastGoodFor } from './git-store.fixtures.ts';
import { GitDesiredStore } from './git-store.ts';
import { YamlDirectoryStore } from '../yaml/yaml-store.ts';
import { fakeParser, makeTempDir, sessionYaml } from '../yaml/yaml-store.fixtures.ts';

const spec = { kind: 'git', url: 'file:///srv/s.git', ref: 'main', path: 's' } as const;
const logger = pino({ level: 'silent' });

describe('GitDesiredStore', () => {
  let dir: string;
  let store: GitDesiredStore | undefined;

  afterEach(async () => {
    await store?.stop();
    store = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function open(revisions?: FakeRevisions): Promise<{ store: GitDesiredStore; revisions: FakeRevisions }> {
    dir ??= await makeTempDir();
    const fake = revisions ?? new FakeRevisions(dir);
    const lastGood = lastGoodFor(fake, logger);
    const yaml = new YamlDirectoryStore({ dir: fake.link, logger, parse: fakeParser, watch: false, wholeFiles: true, priorVersions: lastGood.versions });
    store = new GitDesiredStore({ spec, cache: fake, yaml, lastGood, logger, pollIntervalMs: 3_600_000, now: () => Date.parse('2026-01-01T00:00:00Z') });
    return { store, revisions: fake };
  }

  const names = (s: GitDesiredStore): string[] => s.list().map((e) => e.key).sort();

  it('applies each new commit once, and reports where it got', async () => {
    dir = await makeTempDir();
    const revisions = new FakeRevisions(dir);
    revisions.commits.set('c1', { 'a.yaml': sessionYaml('a', 'img:1'), 'b.yaml': sessionYaml('b', 'img:1') });
    revisions.head = 'c1';
    const { store: s } = await open(revisions);
    await s.start();
    expect(names(s)).toEqual(['default/a', 'default/b']);
    expect(s.isComplete()).toBe(true);

    revisions.commits.set('c2', { 'a.yaml': sessionYaml('a', 'img:1') });
    revisions.head = 'c2';
    expect(await s.sync()).toEqual({ ok: true, applied: true, revision: 'c2', lastAppliedRevision: 'c2', problems: [] });
    expect(await s.sync()).toEqual({ ok: true, applied: false, revision: 'c2', lastAppliedRevision: 'c2', problems: [] });
    expect(names(s)).toEqual(['default/a']);
    expect(revisions.materialised).toEqual(['c1', 'c2']);
    expect(s.sourceStatus()).toEqual({
      kind: 'git',
      url: 'file:///srv/s.git',
      ref: 'main',
      path: 's',
      revision: 'c2',
      lastAppliedRevision: 'c2',
      lastAppliedTime: '2026-01-01T00:00:00.000Z',
      lastFetchTime: '2026-01-01T00:00:00.000Z',
    });
  });

  it('shares one queued fetch among every caller that asks while another is in flight', async () => {
    dir = await makeTempDir();
    const revisions = new FakeRevisions(dir);
    revisions.commits.set('c1', { 'a.yaml': sessionYaml('a', 'img:1') });
    revisions.head = 'c1';
    const { store: s } = await open(revisions);
    await s.start();
    expect(revisions.fetches).toBe(1);

    let release: () => void = () => {};
    revisions.gate = new Promise((resolve) => (release = resolve));
    const inFlight = s.sync();
    await Promise.resolve();
    // These arrive while the first is fetching: one more fetch serves all three.
    const queued = [s.sync(), s.sync(), s.sync()];
    expect(queued[0]).toBe(queued[1]);
    release();
    await Promise.all([inFlight, ...queued]);
    expect(revisions.fetches).toBe(3);
  });

  it('keeps the last applied revision on a failed fetch or a refused commit, and says why', async () => {
    dir = await makeTempDir();
    const revisions = new FakeRevisions(dir);
    revisions.commits.set('c1', { 'a.yaml': sessionYaml('a', 'img:1') });
    revisions.head = 'c1';
    const { store: s } = await open(revisions);
    await s.start();

    revisions.fetchError = new Error('fatal: could not read from remote repository');
    expect(await s.sync()).toEqual({ ok: false, applied: false, lastAppliedRevision: 'c1', error: 'fatal: could not read from remote repository', problems: [] });
    expect(names(s)).toEqual(['default/a']);
    expect(s.isComplete()).toBe(false);
    expect(s.loadProblems()).toEqual(['git fetch of file:///srv/s.git failed (keeping revision c1): fatal: could not read from remote repository']);

    revisions.fetchError = undefined;
    revisions.commits.set('c2', null);
    revisions.head = 'c2';
    expect(await s.sync()).toMatchObject({ ok: false, applied: false, revision: 'c2', lastAppliedRevision: 'c1', error: 'path "s" does not exist in commit c2' });
    await s.sync();
    // Refused once, not extracted again on every poll.
    expect(revisions.materialised).toEqual(['c1']);
    expect(names(s)).toEqual(['default/a']);
    expect(s.isComplete()).toBe(false);
    expect(s.sourceStatus().lastError).toBe('cannot apply commit c2 (keeping revision c1): path "s" does not exist in commit c2');

    // The ref moves on to a good commit: applied, complete again.
    revisions.commits.set('c3', { 'a.yaml': sessionYaml('a', 'img:1'), 'c.yaml': sessionYaml('c', 'img:1') });
    revisions.head = 'c3';
    expect(await s.sync()).toMatchObject({ ok: true, applied: true, lastAppliedRevision: 'c3' });
    expect(names(s)).toEqual(['default/a', 'default/c']);
    expect(s.isComplete()).toBe(true);
    expect(s.sourceStatus().lastError).toBeUndefined();
  });

  it('keeps the previous objects of a file that is broken in a new commit, across revisions', async () => {
    dir = await makeTempDir();
    const revisions = new FakeRevisions(dir);
    revisions.commits.set('c1', { 'a.yaml': sessionYaml('a', 'img:1'), 'b.yaml': sessionYaml('b', 'img:1') });
    revisions.head = 'c1';
    const { store: s } = await open(revisions);
    await s.start();

    revisions.commits.set('c2', { 'a.yaml': 'metadata: {name: a\n', 'b.yaml': sessionYaml('b', 'img:2') });
    revisions.head = 'c2';
    const result = await s.sync();
    expect(result).toMatchObject({ ok: true, applied: true, lastAppliedRevision: 'c2' });
    expect(result.problems).toEqual([expect.stringMatching(/^a\.yaml:\d+: /)]);
    expect(s.get('default/a')?.object?.spec.image).toBe('img:1');
    expect(s.get('default/b')?.object?.spec.image).toBe('img:2');
    // A broken file leaves the store incomplete: no orphan collection while it is broken.
    expect(s.isComplete()).toBe(false);

    // Still broken in the commit after: still the version from c1.
    revisions.commits.set('c3', { 'a.yaml': 'metadata: {name: a\n', 'b.yaml': sessionYaml('b', 'img:3') });
    revisions.head = 'c3';
    await s.sync();
    expect(s.get('default/a')?.object?.spec.image).toBe('img:1');
    expect(s.sourceStatus().lastError).toMatch(/^a\.yaml:\d+: /);
  });

  it('applies nothing from a file in which one Session is refused: its other Sessions keep their previous revision', async () => {
    dir = await makeTempDir();
    const revisions = new FakeRevisions(dir);
    revisions.commits.set('c1', { 'team.yaml': `${sessionYaml('a', 'img:1')}---\n${sessionYaml('b', 'img:1')}`, 'c.yaml': sessionYaml('c', 'img:1') });
    revisions.head = 'c1';
    const { store: s } = await open(revisions);
    await s.start();

    // c2: `a` changes validly, but `b` lost its image; c.yaml (another file) changes too.
    const bWithoutImage = ['apiVersion: dockerlet.dev/v1alpha1', 'kind: Session', 'metadata:', '  name: b', 'spec: {}', ''].join('\n');
    revisions.commits.set('c2', { 'team.yaml': `${sessionYaml('a', 'img:2')}---\n${bWithoutImage}`, 'c.yaml': sessionYaml('c', 'img:2') });
    revisions.head = 'c2';
    const result = await s.sync();
    expect(result).toMatchObject({ ok: true, applied: true, lastAppliedRevision: 'c2' });
    expect(s.get('default/a')?.object?.spec.image).toBe('img:1');
    expect(s.get('default/b')?.object?.spec.image).toBe('img:1');
    expect(s.get('default/c')?.object?.spec.image).toBe('img:2');
    // Both objects of the refused file say why, with the field and the file's line.
    for (const key of ['default/a', 'default/b'] as const) {
      expect(s.get(key)?.problem).toMatchObject({ reason: 'InvalidSpec', source: 'team.yaml' });
      expect(s.get(key)?.problem?.message).toMatch(/^team\.yaml:\d+: spec\.image: Required value; nothing in team\.yaml is applied until it is fixed$/);
    }
    expect(s.sourceStatus().lastError).toMatch(/^team\.yaml:\d+: spec\.image/);
    expect(s.isComplete()).toBe(false);

    // Fixed in the next commit: the whole file applies.
    revisions.commits.set('c3', { 'team.yaml': `${sessionYaml('a', 'img:3')}---\n${sessionYaml('b', 'img:3')}`, 'c.yaml': sessionYaml('c', 'img:2') });
    revisions.head = 'c3';
    await s.sync();
    expect([s.get('default/a')?.object?.spec.image, s.get('default/b')?.object?.spec.image]).toEqual(['img:3', 'img:3']);
    expect(s.get('default/a')?.problem).toBeUndefined();
    expect(s.isComplete()).toBe(true);
  });

  it('serves the revision an earlier run applied, even when the remote cannot be reached at start', async () => {
    dir = await makeTempDir();
    const revisions = new FakeRevisions(dir);
    revisions.commits.set('c1', { 'a.yaml': sessionYaml('a', 'img:1') });
    await revisions.materialise('c1');
    await revisions.activate('c1');
    revisions.fetchError = new Error('unreachable');
    const { store: s } = await open(revisions);
    await s.start();
    expect(names(s)).toEqual(['default/a']);
    await s.sync();
    expect(s.isComplete()).toBe(false);
    expect(names(s)).toEqual(['default/a']);
    expect(s.sourceStatus()).toMatchObject({ lastAppliedRevision: 'c1', lastError: expect.stringContaining('unreachable') });
  });

  it('holds nothing, and is incomplete, before any revision was applied', async () => {
    dir = await makeTempDir();
    const revisions = new FakeRevisions(dir);
    revisions.fetchError = new Error('unreachable');
    const { store: s } = await open(revisions);
    await s.start();
    expect(s.list()).toEqual([]);
    expect(s.isComplete()).toBe(false);
    expect(s.loadProblems()).toEqual(['git fetch of file:///srv/s.git failed (no revision applied yet): unreachable']);
  });
});

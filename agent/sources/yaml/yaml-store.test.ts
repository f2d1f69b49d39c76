import { mkdir, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { eventually } from '../../../test/support/eventually.ts';
import { harness, makeTempDir, sessionYaml } from './yaml-store.fixtures.ts';
import type { Harness } from './yaml-store.fixtures.ts';
import type { GenerationRecord } from './object-meta.ts';

// Files whose reads fail with EACCES. chmod 000 cannot do this for root (CI runs as root), so the
// failure is injected at the filesystem boundary instead.
const unreadable = vi.hoisted(() => new Set<string>());
vi.mock('node:fs/promises', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs/promises')>();
  const readFile = (async (file: Parameters<typeof original.readFile>[0], options?: Parameters<typeof original.readFile>[1]) => {
    if (typeof file === 'string' && unreadable.has(file)) {
      throw Object.assign(new Error(`EACCES: permission denied, open '${file}'`), { code: 'EACCES' });
    }
    return original.readFile(file, options);
  }) as typeof original.readFile;
  // The store reads through open() (a bounded read: crds/load-yaml.ts readAtMost).
  const open = (async (file: Parameters<typeof original.open>[0], flags?: Parameters<typeof original.open>[1]) => {
    if (typeof file === 'string' && unreadable.has(file)) {
      throw Object.assign(new Error(`EACCES: permission denied, open '${file}'`), { code: 'EACCES' });
    }
    return original.open(file, flags);
  }) as typeof original.open;
  return { ...original, default: { ...original, readFile, open }, readFile, open };
});

const open: Harness[] = [];
async function started(options: Parameters<typeof harness>[0] = {}): Promise<Harness> {
  const h = await harness(options);
  open.push(h);
  await h.store.start();
  return h;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.cleanup()));
});

const image = (h: Harness, key: string): string | undefined => h.store.get(key)?.object?.spec.image;

describe('YamlDirectoryStore: loading', () => {
  it('reads nested directories and multi-document files, defaulting the namespace', async () => {
    const h = await started({
      files: {
        'web.yaml': sessionYaml('web', 'nginx:1'),
        'teams/a/multi.yml': `${sessionYaml('one', 'busybox', { namespace: 'team-a' })}---\n${sessionYaml('two', 'alpine')}---\n`,
        'teams/agent.yaml': 'apiVersion: dockerlet.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: host-1\n',
        'README.md': 'not a manifest',
        'empty.yaml': '# nothing here\n',
      },
    });
    expect(h.store.list().map((e) => e.key).sort()).toEqual(['default/two', 'default/web', 'team-a/one']);
    expect(h.store.get('web')?.object?.metadata.namespace).toBe('default');
    expect(h.store.get('team-a/one')?.source).toBe('teams/a/multi.yml');
    expect(h.store.loadProblems()).toEqual([]);
    expect(h.store.isComplete()).toBe(true);
    expect([...h.events].sort()).toEqual(['default/two', 'default/web', 'team-a/one']);
  });

  it('treats an empty directory as complete with zero sessions', async () => {
    const h = await started();
    expect(h.store.list()).toEqual([]);
    expect(h.store.isComplete()).toBe(true);
  });

  it('skips hidden directories, hidden files and editor leftovers, also while watching', async () => {
    const h = await started({
      files: {
        '.git/objects/x.yaml': sessionYaml('git', 'x'),
        '.hidden.yaml': sessionYaml('hidden', 'x'),
        '.web.yaml.swp': 'binary',
        'web.yaml~': sessionYaml('backup', 'x'),
        '#web.yaml#': sessionYaml('emacs', 'x'),
        'web.yaml': sessionYaml('web', 'nginx'),
      },
    });
    expect(h.parsed).toEqual(['web.yaml']);
    await h.write('.git/refs/y.yaml', sessionYaml('git2', 'x'));
    await h.write('z.yaml', sessionYaml('z', 'nginx'));
    await eventually(() => expect(h.store.get('z')).toBeDefined());
    expect(h.parsed.filter((file) => file !== 'web.yaml' && file !== 'z.yaml')).toEqual([]);
    expect(h.store.list().map((e) => e.key).sort()).toEqual(['default/web', 'default/z']);
  });

  it('loads once without watching when watch is false', async () => {
    const h = await started({ watch: false, files: { 'web.yaml': sessionYaml('web', 'nginx') } });
    expect(h.store.isComplete()).toBe(true);
    expect(h.store.get('web')?.object?.spec.image).toBe('nginx');
    expect(h.messages()).not.toContain('file watcher error; relying on periodic rescan');
  });

  it('marks a file that is not YAML at all as malformed', async () => {
    const h = await started({ files: { 'junk.yaml': 'just some words\n', 'bad.yaml': 'a: [1, 2\n' } });
    expect(h.store.isComplete()).toBe(false);
    expect(h.store.loadProblems().join('\n')).toMatch(/junk\.yaml:1: document is not a mapping/);
    expect(h.store.loadProblems().join('\n')).toMatch(/bad\.yaml:\d+: /);
  });

  it('treats a parser that throws like a malformed file', async () => {
    const h = await started({
      files: { 'web.yaml': sessionYaml('web', 'nginx') },
      parse: () => {
        throw new Error('boom');
      },
    });
    expect(h.store.isComplete()).toBe(false);
    expect(h.store.loadProblems()).toEqual(['web.yaml: cannot parse: boom']);
  });
});

describe('YamlDirectoryStore: watching', () => {
  it('notifies added, changed and removed keys', async () => {
    const h = await started({ files: { 'a.yaml': sessionYaml('a', 'nginx:1') } });
    h.events.length = 0;

    await h.write('sub/b.yaml', sessionYaml('b', 'redis'));
    await eventually(() => expect(h.events).toEqual(['default/b']));

    await h.write('a.yaml', sessionYaml('a', 'nginx:2'));
    await eventually(() => expect(h.events).toEqual(['default/b', 'default/a']));
    expect(image(h, 'default/a')).toBe('nginx:2');

    await h.remove('sub/b.yaml');
    await eventually(() => expect(h.events).toEqual(['default/b', 'default/a', 'default/b']));
    expect(h.store.get('default/b')).toBeUndefined();
    expect(h.store.isComplete()).toBe(true);
  });

  it('emits nothing for a rewrite that changes nothing', async () => {
    const h = await started({ files: { 'a.yaml': sessionYaml('a', 'nginx'), 'b.yaml': sessionYaml('b', 'redis') } });
    h.events.length = 0;
    const before = h.parsed.length;
    // Same object, different bytes (a comment): the file is read again but the entry is equal.
    await h.write('a.yaml', `# touched\n${sessionYaml('a', 'nginx')}`);
    await h.write('b.yaml', sessionYaml('b', 'redis:7'));
    await eventually(() => expect(h.events).toEqual(['default/b']));
    expect(h.parsed.slice(before)).toContain('a.yaml');
  });

  it('coalesces a burst of 50 file writes into one reload pass', async () => {
    const h = await started({ debounceMs: 500 });
    const reloadsBefore = h.messages().filter((m) => m === 'reloaded').length;
    await Promise.all(Array.from({ length: 50 }, (_, i) => h.write(`burst/s${i}.yaml`, sessionYaml(`s${i}`, 'nginx'))));
    await eventually(() => expect(h.store.list()).toHaveLength(50));
    expect(h.messages().filter((m) => m === 'reloaded').length - reloadsBefore).toBe(1);
    expect(h.parsed).toHaveLength(50);
    expect(new Set(h.events).size).toBe(50);
    expect(h.events).toHaveLength(50);
  });
});

describe('YamlDirectoryStore: bad input', () => {
  it('keeps the last valid objects of a malformed file until it is fixed', async () => {
    const h = await started({ files: { 'pair.yaml': `${sessionYaml('a', 'nginx:1')}---\n${sessionYaml('b', 'redis:1')}` } });
    h.events.length = 0;

    await h.write('pair.yaml', `${sessionYaml('a', 'nginx:2')}---\nmetadata: [oops\n`);
    await eventually(() => expect(h.store.isComplete()).toBe(false));
    for (const key of ['default/a', 'default/b']) {
      const entry = h.store.get(key);
      expect(entry?.problem?.reason).toBe('MalformedFile');
      expect(entry?.problem?.message).toMatch(/^pair\.yaml:\d+: /);
    }
    // All or nothing: the valid-looking half of a broken file is not applied either.
    expect(image(h, 'default/a')).toBe('nginx:1');
    expect(image(h, 'default/b')).toBe('redis:1');
    expect(h.store.loadProblems()).toHaveLength(1);
    expect(h.store.loadProblems()[0]).toMatch(/^pair\.yaml:\d+: /);
    expect([...h.events].sort()).toEqual(['default/a', 'default/b']);

    h.events.length = 0;
    await h.write('pair.yaml', `${sessionYaml('a', 'nginx:2')}---\n${sessionYaml('b', 'redis:1')}`);
    await eventually(() => expect(h.store.isComplete()).toBe(true));
    expect(h.store.get('default/a')?.problem).toBeUndefined();
    expect(h.store.get('default/b')?.problem).toBeUndefined();
    expect(image(h, 'default/a')).toBe('nginx:2');
    expect([...h.events].sort()).toEqual(['default/a', 'default/b']);
  });

  it('keeps the last valid version of an object whose new spec is invalid', async () => {
    const h = await started({ files: { 'web.yaml': sessionYaml('web', 'nginx') } });
    await h.write('web.yaml', 'kind: Session\nmetadata:\n  name: web\nspec:\n  image: 42\n');
    await eventually(() => expect(h.store.get('web')?.problem).toBeDefined());
    const entry = h.store.get('web')!;
    expect(entry.object?.spec.image).toBe('nginx');
    expect(entry.problem).toEqual({
      reason: 'InvalidSpec',
      message: 'web.yaml:1: spec.image: Required value',
      source: 'web.yaml',
      fieldPath: 'spec.image',
    });
    // An invalid object is that object's problem; the store as a whole still knows everything.
    expect(h.store.isComplete()).toBe(true);
  });

  it('gives an invalid object that was never valid an entry without an object', async () => {
    const h = await started({ files: { 'new.yaml': 'kind: Session\nmetadata:\n  name: fresh\nspec: {}\n' } });
    const entry = h.store.get('default/fresh');
    expect(entry?.object).toBeUndefined();
    expect(entry?.problem?.reason).toBe('InvalidSpec');
    expect(entry?.problem?.fieldPath).toBe('spec.image');
  });

  it('freezes a file with a document whose name cannot be read', async () => {
    const h = await started({ files: { 'web.yaml': sessionYaml('web', 'nginx') } });
    // The name was typo'd away: that is not "web was deleted".
    await h.write('web.yaml', 'kind: Session\nmetadata:\n  nmae: web\nspec:\n  image: nginx\n');
    await eventually(() => expect(h.store.isComplete()).toBe(false));
    expect(image(h, 'default/web')).toBe('nginx');
    expect(h.store.get('default/web')?.problem?.message).toBe('web.yaml:1: metadata.name: Required value');
  });

  it('lets the first file in path order win a key defined twice', async () => {
    const h = await started({ files: { 'b.yaml': sessionYaml('web', 'from-b'), 'a.yaml': sessionYaml('web', 'from-a') } });
    const entry = h.store.get('default/web')!;
    expect(entry.object?.spec.image).toBe('from-a');
    expect(entry.source).toBe('a.yaml');
    expect(entry.problem?.reason).toBe('DuplicateObject');
    expect(entry.problem?.message).toContain('a.yaml');
    expect(entry.problem?.message).toContain('b.yaml');
    expect(entry.problem?.source).toBe('b.yaml');

    await h.remove('a.yaml');
    await eventually(() => expect(image(h, 'default/web')).toBe('from-b'));
    expect(h.store.get('default/web')?.problem).toBeUndefined();
  });

  it('reports an object defined twice in one file', async () => {
    const h = await started({ files: { 'a.yaml': `${sessionYaml('web', 'one')}---\n${sessionYaml('web', 'two')}` } });
    expect(image(h, 'default/web')).toBe('one');
    expect(h.store.get('default/web')?.problem?.reason).toBe('DuplicateObject');
  });

  it('keeps the objects of a file that became unreadable', async () => {
    const h = await started({ files: { 'web.yaml': sessionYaml('web', 'nginx') } });
    const file = path.join(h.dir, 'web.yaml');
    unreadable.add(file);
    try {
      // A new mtime makes the store read it again.
      await utimes(file, new Date(), new Date(Date.now() + 5_000));
      await h.write('touch.yaml', sessionYaml('t', 'x'));
      await eventually(() => expect(h.store.isComplete()).toBe(false));
      expect(h.store.loadProblems().join('\n')).toContain('EACCES');
      expect(image(h, 'default/web')).toBe('nginx');
    } finally {
      unreadable.delete(file);
    }
  });
});

describe('YamlDirectoryStore: the directory itself', () => {
  it('is incomplete while the directory is missing and loads it when it appears', async () => {
    const parent = await makeTempDir();
    const dir = path.join(parent, 'checkout');
    const h = await started({ dir });
    expect(h.store.isComplete()).toBe(false);
    expect(h.store.loadProblems()).toEqual([`${dir} does not exist`]);

    await mkdir(path.join(parent, 'staging'));
    await h.write('../staging/web.yaml', sessionYaml('web', 'nginx'));
    await rename(path.join(parent, 'staging'), dir);
    await eventually(() => expect(h.store.isComplete()).toBe(true));
    expect(image(h, 'default/web')).toBe('nginx');

    // Watching works once it was found.
    await h.write('api.yaml', sessionYaml('api', 'node'));
    await eventually(() => expect(image(h, 'default/api')).toBe('node'));
    await rm(parent, { recursive: true, force: true });
  });

  it('keeps what it had when the directory disappears, and follows a replacement', async () => {
    const h = await started({ files: { 'web.yaml': sessionYaml('web', 'nginx') } });
    await rm(h.dir, { recursive: true });
    await eventually(() => expect(h.store.isComplete()).toBe(false));
    expect(image(h, 'default/web')).toBe('nginx');

    await h.write('api.yaml', sessionYaml('api', 'node'));
    await eventually(() => expect(h.store.isComplete()).toBe(true));
    expect(h.store.get('default/web')).toBeUndefined();
    expect(image(h, 'default/api')).toBe('node');
  });
});

describe('YamlDirectoryStore: server-owned metadata', () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('derives the uid from namespace and name, the same on every start', async () => {
    const dir = await makeTempDir();
    const first = await started({ dir, files: { 'web.yaml': sessionYaml('web', 'nginx') } });
    const uid = first.store.get('web')?.object?.metadata.uid;
    expect(uid).toMatch(uuid);
    await first.store.stop();
    const second = await started({ dir });
    expect(second.store.get('web')?.object?.metadata.uid).toBe(uid);

    const custom = await started({ dir, uidFor: (ns, name) => `${ns}:${name}` });
    expect(custom.store.get('web')?.object?.metadata.uid).toBe('default:web');
  });

  it('keeps a uid the file sets', async () => {
    const h = await started({ files: { 'web.yaml': sessionYaml('web', 'nginx').replace('  name: web', '  name: web\n  uid: abc') } });
    expect(h.store.get('web')?.object?.metadata.uid).toBe('abc');
  });

  it('bumps the generation on spec changes only and keeps creationTimestamp', async () => {
    const h = await started({ files: { 'web.yaml': sessionYaml('web', 'nginx:1') } });
    const mtimeMs = (await stat(path.join(h.dir, 'web.yaml'))).mtimeMs;
    const mtime = new Date(Math.floor(mtimeMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    const meta = () => h.store.get('web')?.object?.metadata;
    expect(meta()?.generation).toBe(1);
    expect(meta()?.creationTimestamp).toBe(mtime);

    await h.write('web.yaml', sessionYaml('web', 'nginx:1', { labels: 'blue' }));
    await eventually(() => expect(meta()?.labels).toEqual({ team: 'blue' }));
    expect(meta()?.generation).toBe(1);

    // A later mtime is a change of the file, not a new object.
    await h.write('web.yaml', sessionYaml('web', 'nginx:2'));
    await utimes(path.join(h.dir, 'web.yaml'), new Date(), new Date(Date.now() + 60_000));
    await eventually(() => expect(meta()?.generation).toBe(2));
    expect(meta()?.creationTimestamp).toBe(mtime);
  });

  it('seeds generations from a generation store across restarts', async () => {
    const saved = new Map<string, GenerationRecord>();
    const generationStore = { get: (k: string) => saved.get(k), set: (k: string, r: GenerationRecord) => void saved.set(k, r) };
    const dir = await makeTempDir();
    const first = await started({ dir, generationStore, files: { 'web.yaml': sessionYaml('web', 'v1') } });
    await first.write('web.yaml', sessionYaml('web', 'v2'));
    await eventually(() => expect(first.store.get('web')?.object?.metadata.generation).toBe(2));
    await first.store.stop();

    const same = await started({ dir, generationStore });
    expect(same.store.get('web')?.object?.metadata.generation).toBe(2);
    await same.store.stop();

    await same.write('web.yaml', sessionYaml('web', 'v3'));
    const changed = await started({ dir, generationStore });
    expect(changed.store.get('web')?.object?.metadata.generation).toBe(3);
    expect(saved.get('default/web')?.generation).toBe(3);
  });

  it('hands out frozen objects without status', async () => {
    const h = await started({ files: { 'web.yaml': `${sessionYaml('web', 'nginx')}status:\n  phase: Running\n` } });
    const object = h.store.get('web')!.object!;
    expect(object.status).toBeUndefined();
    expect(Object.isFrozen(object.spec)).toBe(true);
  });
});

// The resolver on a real (temporary) directory tree: symlinks are followed, a missing tail resolves
// through its existing ancestor, a loop is an error the policy refuses.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveHostPaths } from './host-paths.ts';

describe('resolveHostPaths', async () => {
  const root = await realpath(await mkdtemp(join(tmpdir(), 'dockerlet-host-paths-')));
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('follows symlinks, walks up from a missing tail, and reports loops', async () => {
    await mkdir(join(root, 'data'));
    await symlink('/etc', join(root, 'data', 'etc-link'));
    await symlink(join(root, 'loop-b'), join(root, 'loop-a'));
    await symlink(join(root, 'loop-a'), join(root, 'loop-b'));
    const got = await resolveHostPaths([join(root, 'data', 'etc-link'), join(root, 'data', 'etc-link', 'not', 'there'), join(root, 'data', 'new'), join(root, 'loop-a'), 'rel']);
    expect(got.get(join(root, 'data', 'etc-link'))).toEqual({ ok: true, path: '/etc' });
    expect(got.get(join(root, 'data', 'etc-link', 'not', 'there'))).toEqual({ ok: true, path: '/etc/not/there' });
    expect(got.get(join(root, 'data', 'new'))).toEqual({ ok: true, path: join(root, 'data', 'new') });
    expect(got.get(join(root, 'loop-a'))).toEqual({ ok: false, error: 'ELOOP' });
    expect(got.get('rel')).toEqual({ ok: false, error: 'not an absolute path' });
  });
});

// --store parsing: a directory stays exactly what it was; git:<url>[#<ref>][:<path>] in each form
// git itself accepts; and every refusal names --store and shows the accepted forms.
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { describeStoreSpec, gitCacheDir, gitCurrentDir, isLocalGitUrl, parseStoreSpec, redactUrl } from './store-spec.ts';
import { commonConfig } from '../config.ts';

describe('parseStoreSpec', () => {
  it('reads a plain value as a directory, resolved like before', () => {
    expect(parseStoreSpec('./sessions')).toEqual({ kind: 'yaml', dir: path.resolve('sessions') });
    expect(parseStoreSpec('/srv/gitops/sessions/')).toEqual({ kind: 'yaml', dir: '/srv/gitops/sessions' });
    // Only the "git:" prefix makes a Git store; a directory named "github" is still a directory.
    expect(parseStoreSpec('github')).toEqual({ kind: 'yaml', dir: path.resolve('github') });
  });

  it.each([
    ['git:https://example.org/ops/sessions.git#main:prod', { url: 'https://example.org/ops/sessions.git', ref: 'main', path: 'prod' }],
    ['git:file:///srv/git/sessions.git#main:sessions', { url: 'file:///srv/git/sessions.git', ref: 'main', path: 'sessions' }],
    ['git:file:///srv/git/sessions.git', { url: 'file:///srv/git/sessions.git', path: '' }],
    ['git:/srv/git/sessions.git#v1.2.0', { url: '/srv/git/sessions.git', ref: 'v1.2.0', path: '' }],
    ['git:/srv/git/sessions.git#:deep/dir/', { url: '/srv/git/sessions.git', path: 'deep/dir' }],
    ['git:git@example.org:ops/sessions.git#release/2026:./a/./b', { url: 'git@example.org:ops/sessions.git', ref: 'release/2026', path: 'a/b' }],
    ['git:ssh://git@example.org:2222/ops/s.git#main', { url: 'ssh://git@example.org:2222/ops/s.git', ref: 'main', path: '' }],
  ])('parses %s', (value, expected) => {
    expect(parseStoreSpec(value)).toEqual({ kind: 'git', ...expected });
  });

  it('resolves a relative local repository path, since git runs in the cache directory', () => {
    expect(parseStoreSpec('git:../repo.git#main:s')).toEqual({ kind: 'git', url: path.resolve('../repo.git'), ref: 'main', path: 's' });
  });

  it.each([
    ['', 'must not be empty'],
    ['git:', 'URL is missing'],
    ['git:#main:sessions', 'URL is missing'],
    ['git:--upload-pack=touch /tmp/x', 'must not start with "-"'],
    ['git:ext::sh -c touch% /tmp/pwned', 'whitespace'],
    ['git:ftp://example.org/repo.git', 'scheme "ftp" is not supported'],
    ['git:file://', 'file:// needs a path'],
    ['git:/srv/repo.git#-b:sessions', 'not a valid branch or tag name'],
    ['git:/srv/repo.git#main..dev', 'not a valid branch or tag name'],
    ['git:/srv/repo.git#main:../etc', 'must stay inside the repository'],
    ['git:/srv/repo.git#main:a/-x', 'must not have a segment starting with "-"'],
  ])('refuses %j, naming --store and the accepted forms', (value, why) => {
    let error: unknown;
    try {
      parseStoreSpec(value);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    const message = (error as Error).message;
    expect(message).toContain(`--store "${value}"`);
    expect(message).toContain(why);
    expect(message).toContain('accepted forms: --store <dir>');
    expect(message).toContain('git:<url>[#<ref>][:<path>]');
  });
});

describe('Git store helpers', () => {
  const spec = { kind: 'git', url: 'https://bot:s3cret@example.org/ops/s.git', ref: 'main', path: 'prod' } as const;

  it('hides credentials in URLs shown in logs and status', () => {
    expect(redactUrl(spec.url)).toBe('https://bot:***@example.org/ops/s.git');
    expect(redactUrl('https://example.org/a.git')).toBe('https://example.org/a.git');
    expect(redactUrl('git@example.org:a.git')).toBe('git@example.org:a.git');
    expect(describeStoreSpec(spec)).toBe('git:https://bot:***@example.org/ops/s.git#main:prod');
    expect(describeStoreSpec({ kind: 'git', url: '/srv/r.git', path: '' })).toBe('git:/srv/r.git#HEAD:');
  });

  it('tells a repository on this machine (served by a local upload-pack) from a remote one', () => {
    const urlOf = (store: string): string => {
      const parsed = parseStoreSpec(store);
      if (parsed.kind !== 'git') throw new Error(`not a Git store: ${store}`);
      return parsed.url;
    };
    expect(isLocalGitUrl(urlOf('git:file:///srv/r.git#main'))).toBe(true);
    expect(isLocalGitUrl(urlOf('git:FILE:///srv/r.git'))).toBe(true);
    expect(isLocalGitUrl(urlOf('git:/srv/r.git#main:s'))).toBe(true);
    expect(isLocalGitUrl(urlOf('git:./r.git'))).toBe(true);
    expect(isLocalGitUrl(urlOf('git:https://example.org/r.git'))).toBe(false);
    expect(isLocalGitUrl(urlOf('git:ssh://git@example.org/r.git'))).toBe(false);
    expect(isLocalGitUrl(urlOf('git:git@example.org:ops/r.git'))).toBe(false);
  });

  it('keeps one cache per URL, ref and path under the state directory', () => {
    const dir = gitCacheDir('/var/lib/dockerlet', spec);
    expect(dir).toMatch(/^\/var\/lib\/dockerlet\/git\/[0-9a-f]{16}$/);
    expect(gitCacheDir('/var/lib/dockerlet', { ...spec, path: 'staging' })).not.toBe(dir);
    expect(gitCurrentDir('/var/lib/dockerlet', spec)).toBe(`${dir}/current`);
  });

  it('lets a Git store keep its cache in the state directory, but never a state directory inside a YAML store', () => {
    const config = commonConfig({ store: 'git:/srv/r.git#main:s', stateDir: '/tmp/st', agentName: 'a', dockerSocket: '/var/run/docker.sock' });
    expect(config.store).toEqual({ kind: 'git', url: '/srv/r.git', ref: 'main', path: 's' });
    // A directory store keeps refusing a state directory inside it; a Git store has no such tree.
    expect(() => commonConfig({ store: '/tmp/st', stateDir: '/tmp/st/state', agentName: 'a', dockerSocket: '/var/run/docker.sock' })).toThrow(/inside --store/);
  });
});

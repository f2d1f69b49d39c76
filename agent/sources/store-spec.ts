// What `--store` names: a directory of Session YAML (today's default), a Git repository that the
// agent clones and polls, or the Session CRD on a Kubernetes API server. Parsed once here so every
// command reads the same thing the same way.
//
//   --store ./sessions                              a directory (watched); `./kubernetes` too
//   --store kubernetes                              Session objects on the API server of the kubeconfig
//   --store git:<url>[#<ref>][:<path>]              a Git repository, e.g.
//           git:https://example.org/ops/sessions.git#main:prod
//           git:file:///srv/git/sessions.git#main:sessions
//           git:/srv/git/sessions.git               (a local path; ref = the remote HEAD branch)
import { createHash } from 'node:crypto';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';

export const STORE_KINDS = ['yaml', 'git', 'kubernetes'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export interface YamlStoreSpec {
  kind: 'yaml';
  /** Absolute directory of Session YAML. */
  dir: string;
}

export interface GitStoreSpec {
  kind: 'git';
  /** What `git fetch` is given: a URL (https, http, ssh, git, file), scp-style host:path, or an absolute local path. */
  url: string;
  /** Branch or tag to follow; absent: the branch the remote's HEAD names. */
  ref?: string;
  /** Directory inside the repository holding the Session YAML, '/'-separated, '' for the root. */
  path: string;
}

export interface KubernetesStoreSpec {
  kind: 'kubernetes';
}

export type StoreSpec = YamlStoreSpec | GitStoreSpec | KubernetesStoreSpec;

/** The word that names the Kubernetes store instead of a directory; `./kubernetes` is still a directory. */
export const KUBERNETES_STORE = 'kubernetes';

export const GIT_STORE_PREFIX = 'git:';
const URL_SCHEMES = ['https', 'http', 'ssh', 'git', 'file'] as const;

const FORMS = `accepted forms: --store <dir> (a directory of Session YAML), --store kubernetes (Sessions on a Kubernetes API server), --store git:<url>[#<ref>][:<path>] (e.g. git:https://example.org/ops/sessions.git#main:sessions, git:file:///srv/sessions.git, git:/srv/sessions.git#v1:prod)`;

function invalid(value: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`--store "${value}": ${why}; ${FORMS}`);
}

export function parseStoreSpec(value: string): StoreSpec {
  if (value.trim() === '') throw invalid(value, 'must not be empty');
  if (value.trim() === KUBERNETES_STORE) return { kind: 'kubernetes' };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) throw invalid(value, 'a URL needs the "git:" prefix (a Git repository)');
  if (!value.startsWith(GIT_STORE_PREFIX)) return { kind: 'yaml', dir: path.resolve(value) };

  const body = value.slice(GIT_STORE_PREFIX.length);
  // The last '#' starts the ref: URLs rarely contain one, and refs never contain ':' (git check-ref-format).
  const hash = body.lastIndexOf('#');
  const rawUrl = hash === -1 ? body : body.slice(0, hash);
  const after = hash === -1 ? '' : body.slice(hash + 1);
  const colon = after.indexOf(':');
  const rawRef = colon === -1 ? after : after.slice(0, colon);
  const rawPath = colon === -1 ? '' : after.slice(colon + 1);

  const spec: GitStoreSpec = { kind: 'git', url: gitUrl(value, rawUrl), path: repoPath(value, rawPath) };
  if (rawRef !== '') spec.ref = gitRef(value, rawRef);
  return spec;
}

function gitUrl(value: string, raw: string): string {
  if (raw === '') throw invalid(value, 'the Git repository URL is missing after "git:"');
  // Never let a value be read by git as an option.
  if (raw.startsWith('-')) throw invalid(value, 'the repository URL must not start with "-"');
  if (/\s/.test(raw)) throw invalid(value, 'the repository URL must not contain whitespace');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(raw)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (!(URL_SCHEMES as readonly string[]).includes(scheme)) {
      throw invalid(value, `URL scheme "${scheme}" is not supported (use ${URL_SCHEMES.join(', ')})`);
    }
    if (scheme === 'file' && raw.length <= 'file://'.length) throw invalid(value, 'file:// needs a path');
    return raw;
  }
  // scp-like "user@host:path" (a ':' before any '/'), as git itself reads it.
  if (/^[^/]+:/.test(raw)) return raw;
  // A local path: absolute, because git runs inside the agent's cache directory.
  return path.resolve(raw);
}

function gitRef(value: string, raw: string): string {
  // A subset of git check-ref-format, enough to keep a ref from being read as an option or a range.
  const bad =
    raw.startsWith('-') ||
    raw.startsWith('/') ||
    raw.endsWith('/') ||
    raw.endsWith('.lock') ||
    raw.includes('..') ||
    raw.includes('@{') ||
    /[\s~^:?*[\\]/.test(raw);
  if (bad) throw invalid(value, `"${raw}" is not a valid branch or tag name`);
  return raw;
}

function repoPath(value: string, raw: string): string {
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw invalid(value, `the path "${raw}" must stay inside the repository (no "..")`);
  if (segments.some((s) => s.startsWith('-'))) throw invalid(value, `the path "${raw}" must not have a segment starting with "-"`);
  return segments.join('/');
}

/** True for a repository on this machine (file:// or an absolute path): git serves it with its own upload-pack. */
export function isLocalGitUrl(url: string): boolean {
  return url.toLowerCase().startsWith('file://') || path.isAbsolute(url);
}

/** How a spec is shown in logs and status: the form it was given in, credentials in the URL hidden. */
export function describeStoreSpec(spec: StoreSpec): string {
  if (spec.kind === 'yaml') return spec.dir;
  if (spec.kind === 'kubernetes') return KUBERNETES_STORE;
  return `${GIT_STORE_PREFIX}${redactUrl(spec.url)}#${spec.ref ?? 'HEAD'}:${spec.path}`;
}

/** https://user:token@host/… → https://user:***@host/…: a token must not reach logs or the Agent status. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/, '$1:***@');
}

/**
 * Where the agent keeps its copy of a Git store: under the state directory (never inside a
 * watched tree), one directory per URL, ref and path, so changing --store starts a fresh cache.
 */
export function gitCacheDir(stateDir: string, spec: GitStoreSpec): string {
  const id = createHash('sha256').update(`${spec.url}#${spec.ref ?? ''}:${spec.path}`).digest('hex').slice(0, 16);
  return path.join(stateDir, 'git', id);
}

/** The directory the YAML store reads for a Git store: the revision last applied. */
export function gitCurrentDir(stateDir: string, spec: GitStoreSpec): string {
  return path.join(gitCacheDir(stateDir, spec), 'current');
}

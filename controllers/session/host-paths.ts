// Resolves the host paths a Session names (hostPath volumes, devices) to what they point at, so
// the pure policy (policy.ts) judges the target of a symlink, not its name. I/O, injected: observe
// calls it with the host's filesystem. A path that does not exist yet resolves through its
// deepest existing ancestor (the engine would create it there).
import { realpath } from 'node:fs/promises';
import { posix } from 'node:path';
import type { ResolvedPath } from './policy.ts';

export interface PathResolver {
  realpath(path: string): Promise<string>;
}

export const hostPathResolver: PathResolver = { realpath: (path) => realpath(path) };

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}

async function resolveOne(path: string, resolver: PathResolver): Promise<ResolvedPath> {
  if (!path.startsWith('/')) return { ok: false, error: 'not an absolute path' };
  let existing = posix.normalize(path);
  const rest: string[] = [];
  for (;;) {
    try {
      const real = await resolver.realpath(existing);
      return { ok: true, path: rest.length === 0 ? real : posix.join(real, ...rest.reverse()) };
    } catch (error) {
      const code = codeOf(error);
      // Only a missing component walks up; a loop or a refusal is reported, never guessed around.
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || existing === '/') return { ok: false, error: code };
      rest.push(posix.basename(existing));
      existing = posix.dirname(existing);
    }
  }
}

/** Each path once, resolved; errors (ELOOP, EACCES) are values the policy refuses with. */
export async function resolveHostPaths(paths: readonly string[], resolver: PathResolver = hostPathResolver): Promise<Map<string, ResolvedPath>> {
  const unique = [...new Set(paths)];
  return new Map(await Promise.all(unique.map(async (p): Promise<[string, ResolvedPath]> => [p, await resolveOne(p, resolver)])));
}

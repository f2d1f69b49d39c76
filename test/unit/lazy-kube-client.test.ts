// The Kubernetes client (@kubernetes/client-node) costs about 100 MB of heap, so only a process that
// talks to an API server may load it: agent/kube/kube-backends.ts is imported dynamically, where
// Kubernetes is configured. A static import of it anywhere the CLI reaches loads it into every
// agent and every `dockerlet get` — in the Swarm stack's 256 MiB task, `get` exec'd beside the
// agent was OOM-killed that way. This walks the CLI's static value imports (type-only imports and
// `import()` load nothing at start) and fails on any path that reaches the client.
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const CLIENT = '@kubernetes/client-node';

/** The modules a file loads when it is loaded: static imports and re-exports that are not type-only. */
function staticValueImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(resolve(REPO, file), 'utf8'), ts.ScriptTarget.Latest);
  const specifiers: string[] = [];
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly && ts.isStringLiteral(statement.moduleSpecifier)) specifiers.push(statement.moduleSpecifier.text);
    if (ts.isExportDeclaration(statement) && !statement.isTypeOnly && statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)) specifiers.push(statement.moduleSpecifier.text);
  }
  return specifiers.map((s) => (s.startsWith('.') ? relative(REPO, resolve(REPO, dirname(file), s)) : s));
}

/** The chain of files from `entry` to `target`, or undefined when it is not statically reachable. */
function pathTo(entry: string, target: string): string[] | undefined {
  const seen = new Set<string>([entry]);
  const queue: string[][] = [[entry]];
  while (queue.length > 0) {
    const chain = queue.shift()!;
    for (const next of staticValueImports(chain.at(-1)!)) {
      if (next === target) return [...chain, next];
      if (seen.has(next) || !next.endsWith('.ts')) continue;
      seen.add(next);
      queue.push([...chain, next]);
    }
  }
  return undefined;
}

describe('the Kubernetes client is loaded only where Kubernetes is configured', () => {
  it('is not reached from the CLI by static imports', () => {
    expect(pathTo('agent/cli.ts', CLIENT)).toBeUndefined();
  });

  it('is reached through agent/kube/kube-backends.ts (the check can see it)', () => {
    expect(pathTo('agent/kube/kube-backends.ts', CLIENT)).toBeDefined();
  });
});

// The layers run one way, as DESIGN.md draws them: crds/ ← reconciler/ ← controllers/ ← agent/ ←
// hack/, test/. A file may import from its own layer or any layer below it, never above, and no
// chain of imports may lead back to where it started. Imports are read with TypeScript's own
// pre-processor (static, dynamic and type-only imports alike), so nothing slips past a regex.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const LAYERS = ['crds', 'reconciler', 'controllers', 'agent', 'hack', 'test'] as const;
type Layer = (typeof LAYERS)[number];
/** hack/ and test/ sit side by side at the top: either may use the other's helpers. */
const RANK: Record<Layer, number> = { crds: 0, reconciler: 1, controllers: 2, agent: 3, hack: 4, test: 4 };

function sourceFiles(dir: string): string[] {
  return readdirSync(join(REPO, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.parentPath.split(sep).includes('node_modules'))
    .map((entry) => relative(REPO, join(entry.parentPath, entry.name)));
}

function layerOf(file: string): Layer | undefined {
  return LAYERS.find((layer) => file.startsWith(`${layer}/`));
}

/** file → the repository files it imports (relative specifiers only; packages are not layers). */
function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(REPO, file), 'utf8'), true, true);
    graph.set(
      file,
      importedFiles.filter((i) => i.fileName.startsWith('.')).map((i) => relative(REPO, resolve(REPO, dirname(file), i.fileName))),
    );
  }
  return graph;
}

/** Every import circle, each as the path that closes it (Tarjan's strongly connected components). */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    onStack.add(node);
    for (const target of graph.get(node) ?? []) {
      if (!graph.has(target)) continue;
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (onStack.has(target)) low.set(node, Math.min(low.get(node)!, index.get(target)!));
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

const files = LAYERS.flatMap(sourceFiles);
const graph = importGraph(files);

describe('layers', () => {
  it('reads every layer (the check is not vacuous)', () => {
    for (const layer of LAYERS) expect(files.filter((f) => layerOf(f) === layer).length, layer).toBeGreaterThan(5);
    expect([...graph.values()].flat().length).toBeGreaterThan(500);
  });

  it('has no upward import: crds/ ← reconciler/ ← controllers/ ← agent/ ← hack/, test/', () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = layerOf(file)!;
      for (const target of targets) {
        const to = layerOf(target);
        // Unit tests next to the code may use the shared fakes in test/support.
        const testSupport = file.endsWith('.test.ts') && target.startsWith('test/support/');
        if (to !== undefined && RANK[to] > RANK[from] && !testSupport) upward.push(`${file} imports ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('finds an import circle when there is one', () => {
    const sample = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts', 'd.ts']],
      ['d.ts', []],
      ['e.ts', ['e.ts']],
    ]);
    expect(circles(sample)).toEqual([['a.ts', 'b.ts', 'c.ts'], ['e.ts']]);
  });

  it('has no import circle', () => {
    expect(circles(graph)).toEqual([]);
  });
});

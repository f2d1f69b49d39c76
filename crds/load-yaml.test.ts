import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { parseManifests, validateFiles, validateText } from './load-yaml.ts';

const WEB = `apiVersion: dockerlet.dev/v1alpha1
kind: Session
metadata:
  name: web
spec:
  image: nginx:1.27
`;

describe('parseManifests', () => {
  it('splits a multi-document file, skipping empty documents but keeping their index', () => {
    const text = `# sessions\n---\n${WEB}---\n---\n# only a comment\n---\n${WEB.replace('name: web', 'name: api')}`;
    const docs = parseManifests(text, 'sessions.yaml');
    expect(
      docs.map((d) => ({
        index: d.index,
        line: d.position.line,
        name: (d.doc as { metadata: { name: string } }).metadata.name,
      })),
    ).toEqual([
      { index: 0, line: 3, name: 'web' },
      { index: 3, line: 13, name: 'api' },
    ]);
    expect(docs.every((d) => d.problem === undefined)).toBe(true);
  });

  it('returns nothing for an empty file', () => {
    expect(parseManifests('', 'empty.yaml')).toEqual([]);
    expect(parseManifests('# nothing here\n', 'empty.yaml')).toEqual([]);
  });

  it('reports malformed YAML with source, line and column, and still parses the other documents', () => {
    const text = `${WEB}---\napiVersion: dockerlet.dev/v1alpha1\nkind: Session\nmetadata:\n  name: bad\n   spec: {\n`;
    const docs = parseManifests(text, 'broken.yaml');
    expect(docs).toHaveLength(2);
    expect(docs[0]?.doc).toBeDefined();
    expect(docs[1]?.doc).toBeUndefined();
    expect(docs[1]?.problem?.message).toMatch(/^broken\.yaml:11:\d+: /);
    expect(docs[1]?.problem?.position.line).toBe(11);
  });

  it('rejects duplicate keys, as strict decoding does', () => {
    const [doc] = parseManifests(`${WEB}  image: httpd\n`, 'dup.yaml');
    expect(doc?.problem?.message).toMatch(/^dup\.yaml:7:3: Map keys must be unique/);
  });

  it('reads YAML 1.1 booleans the way kubectl does, but keeps timestamps as strings', () => {
    const [doc] = parseManifests('a: yes\nb: off\nc: 2024-01-01T00:00:00Z\nd: "yes"\n', 'x.yaml');
    expect(doc?.doc).toEqual({ a: true, b: false, c: '2024-01-01T00:00:00Z', d: 'yes' });
  });

  it('locates a field path, falling back to the nearest existing parent', () => {
    const [doc] = parseManifests(`${WEB}  ports:\n    - containerPort: 80\n    - containerPort: 81\n`, 'x.yaml');
    expect(doc?.locate('spec.ports[1].containerPort')).toEqual({ line: 9, col: 7 });
    expect(doc?.locate('spec.image')).toEqual({ line: 6, col: 3 });
    expect(doc?.locate('spec.resources.memory')).toEqual({ line: 5, col: 1 });
  });
});

describe('validateText', () => {
  it('prefixes problems with file:line:col of the offending field', () => {
    const text = `${WEB}  imagee: nginx\n  resources:\n    memory: -1Gi\n---\n${WEB.replace('  image: nginx:1.27\n', '  command: [sh]\n')}`;
    const report = validateText(text, 'web.yaml');
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.message)).toEqual([
      'web.yaml:7:3: spec.imagee: unknown field "imagee"',
      'web.yaml:9:5: spec.resources.memory: Invalid value: "-1Gi": must match pattern "^[0-9]+(\\.[0-9]+)?([KMGTPE]i|[kMGTPE])?$"',
      'web.yaml:15:1: spec.image: Required value',
    ]);
    expect(report.documents.map((d) => [d.index, d.kind, d.name, d.ok])).toEqual([
      [0, 'Session', 'web', false],
      [1, 'Session', 'web', false],
    ]);
  });

  it('skips documents of other API groups but checks ours, typos included', () => {
    const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n';
    const typo = WEB.replace('kind: Session', 'kind: Sesion');
    const report = validateText(`${configMap}---\n${typo}`, 'mixed.yaml');
    expect(report.documents.map((d) => [d.kind, d.ok, d.skipped ?? false])).toEqual([
      ['ConfigMap', true, true],
      ['Sesion', false, false],
    ]);
    expect(report.problems.map((p) => p.message)).toEqual([
      'mixed.yaml:7:1: kind: Unsupported value: "Sesion": supported values: "Session", "Agent"',
    ]);
  });

  it('reports an alias bomb instead of expanding it', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...'bcdefghi'.split('').map((c, i) => `${c}: &${c} [${Array(10).fill(`*${'abcdefghi'[i]}`).join(', ')}]`),
    ].join('\n');
    const [doc] = parseManifests(bomb, 'bomb.yaml');
    expect(doc?.doc).toBeUndefined();
    expect(doc?.problem?.message).toMatch(/^bomb\.yaml:1:1: .*alias/i);
  });

  it('returns the defaulted objects of valid documents', () => {
    const report = validateText(WEB, 'web.yaml');
    expect(report).toMatchObject({
      ok: true,
      problems: [],
      documents: [{ ok: true, object: { metadata: { namespace: 'default' }, spec: { state: 'Running' } } }],
    });
  });
});

describe('validateFiles', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dockerlet-crds-'));
    await mkdir(join(dir, 'team-a', 'nested'), { recursive: true });
    await mkdir(join(dir, '.git'));
    await writeFile(join(dir, 'web.yaml'), WEB);
    await writeFile(join(dir, 'team-a', 'api.yml'), WEB.replace('name: web', 'name: API'));
    await writeFile(join(dir, 'team-a', 'nested', 'broken.yaml'), 'spec: [\n');
    await writeFile(join(dir, 'team-a', 'notes.txt'), 'just some text\n');
    await writeFile(join(dir, '.git', 'config.yaml'), 'not: a manifest\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('walks directories for *.yaml and *.yml, skipping hidden entries, in a stable order', async () => {
    const reports = await validateFiles([dir]);
    expect(reports.map((r) => [r.path.slice(dir.length + 1), r.ok])).toEqual([
      ['team-a/api.yml', false],
      ['team-a/nested/broken.yaml', false],
      ['web.yaml', true],
    ]);
    expect(reports[0]?.problems[0]?.message).toMatch(
      /team-a\/api\.yml:4:3: metadata\.name: Invalid value: "API": a lowercase RFC 1123 subdomain/,
    );
    expect(reports[1]?.problems[0]?.message).toMatch(/broken\.yaml:2:1: /);
  });

  it('reports files that cannot be read, and reads named files whatever their extension', async () => {
    const reports = await validateFiles([join(dir, 'missing.yaml'), join(dir, 'team-a', 'notes.txt')]);
    expect(reports[0]).toMatchObject({ ok: false, documents: [] });
    expect(reports[0]?.problems[0]?.message).toMatch(/missing\.yaml: cannot read: ENOENT/);
    expect(reports[1]?.ok).toBe(false);
    expect(reports[1]?.problems[0]?.message).toContain(
      'notes.txt:1:1: <object>: Invalid value: "just some text": must be an object',
    );
  });
});

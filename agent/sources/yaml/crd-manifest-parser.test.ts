import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/eventually.ts';
import { crdManifestParser } from './crd-manifest-parser.ts';
import { harness, sessionYaml } from './yaml-store.fixtures.ts';
import type { Harness } from './yaml-store.fixtures.ts';

const session = (name: string, specLines: string[], metaLines: string[] = []): string =>
  ['apiVersion: dockerlet.dev/v1alpha1', 'kind: Session', 'metadata:', `  name: ${name}`, ...metaLines, 'spec:', ...specLines, ''].join('\n');

describe('crdManifestParser', () => {
  it('accepts a valid Session and skips empty documents', () => {
    const docs = crdManifestParser(`---\n${session('web', ['  image: nginx:1.27'])}---\n# just a comment\n`, 'web.yaml');
    expect(docs).toHaveLength(1);
    const [doc] = docs;
    expect(doc?.ok).toBe(true);
    if (doc?.ok === true) expect(doc.object.spec.image).toBe('nginx:1.27');
  });

  it('refuses a schema violation with key, field path and the line of the field', () => {
    const [doc] = crdManifestParser(session('web', ['  image: nginx', '  state: Paused'], ['  namespace: team']), 'web.yaml');
    expect(doc).toMatchObject({ ok: false, malformed: false, key: 'team/web', fieldPath: 'spec.state', line: 8 });
    if (doc?.ok === false) expect(doc.message).toMatch(/^spec\.state: Unsupported value: "Paused"/);
  });

  it('reports a YAML syntax error as malformed with its position', () => {
    const [doc] = crdManifestParser('kind: Session\nmetadata: [oops\n', 'bad.yaml');
    expect(doc).toMatchObject({ ok: false, malformed: true });
    if (doc?.ok === false) {
      expect(doc.line).toBeGreaterThan(0);
      expect(doc.message).not.toContain('bad.yaml');
    }
  });

  it('reports a document that is not a mapping as malformed', () => {
    expect(crdManifestParser('just words\n', 'x.yaml')).toMatchObject([{ ok: false, malformed: true, line: 1 }]);
  });

  it('ignores other kinds but refuses what looks like a mistyped Session', () => {
    const agent = 'apiVersion: dockerlet.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: host-1\n';
    const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n';
    const typo = session('web', ['  image: nginx']).replace('kind: Session', 'kind: Sesion');
    const noKind = session('web', ['  image: nginx']).replace('kind: Session\n', '');
    expect(crdManifestParser(agent, 'a.yaml')).toEqual([{ ok: 'ignored', kind: 'Agent', key: 'default/host-1' }]);
    expect(crdManifestParser(configMap, 'c.yaml')).toEqual([{ ok: 'ignored', kind: 'ConfigMap', key: 'default/cfg' }]);
    expect(crdManifestParser(typo, 't.yaml')).toMatchObject([{ ok: false, malformed: false, key: 'default/web', fieldPath: 'kind' }]);
    expect(crdManifestParser(noKind, 'n.yaml')).toMatchObject([{ ok: false, malformed: false, key: 'default/web', fieldPath: 'kind' }]);
  });
});

describe('YamlDirectoryStore with the CRD validator', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('keeps the last valid version and names file, line and field of a refused edit', async () => {
    h = await harness({ parse: crdManifestParser, files: { 'apps/web.yaml': sessionYaml('web', 'nginx:1') } });
    await h.store.start();
    expect(h.store.get('default/web')?.object?.spec.image).toBe('nginx:1');

    await h.write('apps/web.yaml', session('web', ['  image: nginx:2', '  ports:', '    - containerPort: 99999']));
    await eventually(() => expect(h?.store.get('default/web')?.problem).toBeDefined());
    const entry = h.store.get('default/web')!;
    expect(entry.object?.spec.image).toBe('nginx:1');
    expect(entry.problem?.reason).toBe('InvalidSpec');
    expect(entry.problem?.fieldPath).toBe('spec.ports[0].containerPort');
    expect(entry.problem?.message).toMatch(/^apps\/web\.yaml:8:\d+: spec\.ports\[0\]\.containerPort: /);
    expect(h.store.isComplete()).toBe(true);

    await rm(`${h.dir}/apps/web.yaml`);
    await eventually(() => expect(h?.store.get('default/web')).toBeUndefined());
  });
});

import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { Ajv } from 'ajv';
import { KINDS, loadCrd, parseCrd } from './schema.ts';
import type { StructuralSchema } from './schema.ts';

const SESSION_YAML = readFileSync(new URL('./session.yaml', import.meta.url), 'utf8');

describe('loadCrd', () => {
  it('reads scope, version and schema from the manifests, once', () => {
    expect(loadCrd('Session')).toMatchObject({
      kind: 'Session',
      group: 'dockerlet.dev',
      version: 'v1alpha1',
      scope: 'Namespaced',
      plural: 'sessions',
    });
    expect(loadCrd('Agent')).toMatchObject({ kind: 'Agent', scope: 'Cluster', plural: 'agents' });
    expect(loadCrd('Session')).toBe(loadCrd('Session'));
  });

  it('refuses a manifest that is not the CRD it should be', () => {
    expect(() => parseCrd('Agent', SESSION_YAML, 'session.yaml')).toThrow(
      'session.yaml: not a valid CRD for Agent: spec.names.kind is not Agent',
    );
    expect(() =>
      parseCrd('Session', SESSION_YAML.replace('group: dockerlet.dev', 'group: example.com'), 'x.yaml'),
    ).toThrow(/spec\.group/);
    expect(() => parseCrd('Session', SESSION_YAML.replace('- name: v1alpha1', '- name: v1'), 'x.yaml')).toThrow(
      /storage version/,
    );
  });

  // The API server refuses a CRD whose defaults do not validate against their own schema.
  it.each(KINDS)('%s: every default validates against its own schema', (kind) => {
    const ajv = new Ajv({ strict: false });
    const defaults: Array<[string, StructuralSchema]> = [];
    const walk = (schema: StructuralSchema, path: string): void => {
      if (schema.default !== undefined) defaults.push([path, schema]);
      for (const [key, sub] of Object.entries(schema.properties ?? {})) walk(sub, `${path}.${key}`);
      if (schema.items) walk(schema.items, `${path}[]`);
    };
    walk(loadCrd(kind).schema, '');
    for (const [path, schema] of defaults) {
      expect(ajv.validate({ ...schema, default: undefined }, schema.default), `${kind}${path} default`).toBe(true);
    }
  });
});

// Every cross-field rule the agent applies (crds/rules.ts) has a CEL mirror in the CRD, so the
// API server refuses the same objects; and every CEL rule is one of ours (none left orphaned).
// Whether both give the same verdict is checked against a real API server in
// test/integration/kube-validation.test.ts.
import { describe, expect, it } from 'vitest';
import { loadCrd } from './schema.ts';
import { SESSION_RULES } from './rules.ts';

function celRules(): { rule: string; message?: string }[] {
  const spec = loadCrd('Session').schema.properties?.['spec'];
  return spec?.['x-kubernetes-validations'] ?? [];
}

describe('CEL mirrors of the cross-field rules', () => {
  it('has one x-kubernetes-validations rule per rule in rules.ts, named by id in its message', () => {
    const ids = SESSION_RULES.map((r) => r.id).sort();
    const mirrored = celRules().map((r) => /^([a-z0-9-]+):/.exec(r.message ?? '')?.[1]).sort();
    expect(mirrored).toEqual(ids);
  });

  it('keeps every CEL rule guarded against absent optional fields', () => {
    for (const { rule } of celRules()) {
      const fields = [...rule.matchAll(/self\.(mounts|volumes|ports|labels|env|networks|devices|ulimits|tmpfs)\b/g)].map((m) => m[1]);
      for (const field of new Set(fields)) expect(rule, `rule uses self.${field}`).toMatch(new RegExp(`has\\(self\\.${field}\\)`));
    }
  });
});

// crds/generated/ is what hack/gen-types.ts renders from the CRDs now: a stale file fails here.
import { readFile } from 'node:fs/promises';
import { describe, it, expect } from 'vitest';
import { GENERATED_FILES, renderTypes } from '../../hack/gen-types.ts';
import { KINDS } from '../../crds/schema.ts';

describe('crds/generated', () => {
  it.each(KINDS)('%s types are up to date with the CRD', async (kind) => {
    const file = GENERATED_FILES[kind];
    const committed = await readFile(new URL(`../../${file}`, import.meta.url), 'utf8').catch(() => '<missing>');
    const fresh = await renderTypes(kind);
    // toBe would print a diff, but the fix is the same whatever the diff says.
    expect(committed === fresh, `${file} is stale: run \`npx tsx hack/gen-types.ts\` and commit the result`).toBe(true);
  });
});

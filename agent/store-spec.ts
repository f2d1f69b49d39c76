// What `--store` names: where desired Sessions come from. A plain path is a directory of YAML
// (the embedded default); the word `kubernetes` is the Session CRD on an API server. A union, so a
// new kind of store (a Git remote, ...) is one more variant here and one more case where it is built.
import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';

export type StoreSpec = { kind: 'yaml'; dir: string } | { kind: 'kubernetes' };
export type StoreKind = StoreSpec['kind'];

/** The words that name a store kind instead of a directory; `./kubernetes` is still a directory. */
const NAMED_STORES = { kubernetes: { kind: 'kubernetes' } } as const satisfies Record<string, StoreSpec>;

export function parseStoreSpec(value: string): StoreSpec {
  const trimmed = value.trim();
  if (trimmed === '') {
    throw new InvalidArgumentError('--store must be a directory of Session YAML or "kubernetes"; got an empty value');
  }
  if (Object.hasOwn(NAMED_STORES, trimmed)) return NAMED_STORES[trimmed as keyof typeof NAMED_STORES];
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw new InvalidArgumentError(
      `--store "${trimmed}": URLs are not supported; give a directory of Session YAML, or "kubernetes" for Sessions on a Kubernetes API server`,
    );
  }
  return { kind: 'yaml', dir: resolve(trimmed) };
}

/** For logs and the agent's state record. */
export function describeStoreSpec(spec: StoreSpec): string {
  switch (spec.kind) {
    case 'yaml':
      return spec.dir;
    case 'kubernetes':
      return 'kubernetes';
  }
}

// The bad-input corpus (issue 14): files a store directory may hold by mistake or by malice. Each
// case writes its files into a store directory (and, for a link out, into a directory beside it)
// and says which problem text must name it. Shared by the unit run over the YAML store
// (test/unit/bad-input-corpus.test.ts) and the run through the real agent
// (test/integration/bad-input-corpus.test.ts). Test code only.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TEST_IMAGE } from './docker.ts';

export interface CorpusCase {
  id: string;
  /** Writes the case's files into `store` (and anything outside it into `outside`). */
  write(store: string, outside: string): Promise<void>;
  /** The file the problem must name (relative to the store). */
  file: string;
  /** Text the problem must contain besides the file: the field path or the reason. */
  expect: string;
  /** The Session key the case would declare, if it has one: it must get no container. */
  key?: string;
}

function session(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'dockerlet.dev/v1alpha1', kind: 'Session', metadata: { name }, spec: { image: TEST_IMAGE, command: ['sleep', 'infinity'], ...spec } };
}

const yaml = (value: unknown): string => stringify(value);

/** Writes one Session file named after the case. */
function one(id: string, spec: Record<string, unknown>, expect: string, name = `bad-${id}`): CorpusCase {
  return { id, file: `${id}.yaml`, expect, key: `default/${name}`, write: (store) => writeFile(join(store, `${id}.yaml`), yaml(session(name, spec))) };
}

/** Nine levels of nine aliases each: 387 420 489 nodes when expanded ("billion laughs"). */
function aliasBomb(): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  const names = 'abcdefghi';
  for (let i = 1; i < names.length; i += 1) {
    const prev = names[i - 1] as string;
    lines.push(`${names[i]}: &${names[i]} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  return `${lines.join('\n')}\napiVersion: dockerlet.dev/v1alpha1\nkind: Session\nmetadata: {name: bad-alias-bomb}\nspec: {image: ${TEST_IMAGE}, labels: {x: *i}}\n`;
}

export const BAD_INPUT_CORPUS: readonly CorpusCase[] = [
  { id: 'alias-bomb', file: 'alias-bomb.yaml', expect: 'Excessive alias count', write: (store) => writeFile(join(store, 'alias-bomb.yaml'), aliasBomb()) },
  {
    id: 'ten-megabytes',
    file: 'ten-megabytes.yaml',
    expect: 'is more than 1048576 bytes, the most a manifest file may have',
    write: async (store) => {
      const head = yaml(session('bad-ten-megabytes', {}));
      await writeFile(join(store, 'ten-megabytes.yaml'), head + '#'.repeat(10 * 1024 * 1024 - head.length));
    },
  },
  {
    id: 'deep-nesting',
    file: 'deep-nesting.yaml',
    expect: 'deep-nesting.yaml',
    write: (store) => writeFile(join(store, 'deep-nesting.yaml'), `${yaml(session('bad-deep-nesting', {}))}  labels: {x: ${'['.repeat(20_000)}${']'.repeat(20_000)}}\n`),
  },
  {
    id: 'not-utf8',
    file: 'not-utf8.yaml',
    expect: 'is not UTF-8 text',
    write: (store) => writeFile(join(store, 'not-utf8.yaml'), Buffer.concat([Buffer.from(yaml(session('bad-not-utf8', {}))), Buffer.from('  hostname: caf'), Buffer.from([0xe9, 0xff]), Buffer.from('\n')])),
  },
  {
    id: 'duplicate-keys',
    file: 'duplicate-keys.yaml',
    expect: 'Map keys must be unique',
    write: (store) => writeFile(join(store, 'duplicate-keys.yaml'), `apiVersion: dockerlet.dev/v1alpha1\nkind: Session\nmetadata: {name: bad-duplicate-keys}\nspec:\n  image: ${TEST_IMAGE}\n  image: other\n`),
  },
  {
    id: 'symlink-loop',
    file: 'symlink-loop-a.yaml',
    expect: 'ELOOP',
    write: async (store) => {
      await symlink('symlink-loop-b.yaml', join(store, 'symlink-loop-a.yaml'));
      await symlink('symlink-loop-a.yaml', join(store, 'symlink-loop-b.yaml'));
    },
  },
  {
    id: 'symlink-out',
    file: 'symlink-out.yaml',
    expect: 'outside the store directory',
    key: 'default/bad-symlink-out',
    write: async (store, outside) => {
      // A valid Session, but not in the store: a checkout must not pull in what lies elsewhere.
      await mkdir(outside, { recursive: true });
      await writeFile(join(outside, 'elsewhere.yaml'), yaml(session('bad-symlink-out', {})));
      await symlink(join(outside, 'elsewhere.yaml'), join(store, 'symlink-out.yaml'));
    },
  },
  one('name-254', {}, 'metadata.name', 'a'.repeat(254)),
  one('env-nul', { env: [{ name: 'A', value: 'a\u0000b' }] }, 'spec.env[0].value'),
  one('image-flag', { image: '--privileged' }, 'spec.image'),
  one('image-space', { image: 'a b' }, 'spec.image'),
  one('port-0', { ports: [{ containerPort: 80, hostPort: 0 }] }, 'spec.ports[0].hostPort'),
  one('port-65536', { ports: [{ containerPort: 80, hostPort: 65536 }] }, 'spec.ports[0].hostPort'),
  one('memory-negative', { resources: { memory: '-1Gi' } }, 'spec.resources.memory'),
  one('memory-exponent', { resources: { memory: '1e30Gi' } }, 'spec.resources.memory'),
  one('memory-absurd', { resources: { memory: '99999999999999999999Gi' } }, 'spec.resources.memory: Invalid value: "99999999999999999999Gi": must be at most 4Pi'),
  one('cpu-absurd', { resources: { cpu: '99999999999999999999' } }, 'spec.resources.cpu: Invalid value: "99999999999999999999": must be at most 1000000 cores'),
];

/** Good Sessions written beside the corpus: each must converge whatever the corpus holds. */
export function goodSession(name: string): string {
  return yaml(session(name, {}));
}

// Session YAML files for the agent's store: N small, identical Sessions (the bench image running
// `sleep infinity`), one file each, as a GitOps checkout would hold them.
import { readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BENCH_IMAGE, pool } from './engine.ts';

export function sessionName(i: number): string {
  return `s-${String(i).padStart(4, '0')}`;
}

/** The one Session every benchmark declares; without a namespace it lands in `default`. */
export function sessionYaml(name: string, namespace?: string): string {
  return [
    'apiVersion: dockerlet.dev/v1alpha1',
    'kind: Session',
    'metadata:',
    `  name: ${name}`,
    ...(namespace === undefined ? [] : [`  namespace: ${namespace}`]),
    'spec:',
    `  image: ${BENCH_IMAGE}`,
    '  command: [sleep, infinity]',
    '',
  ].join('\n');
}

export async function writeSessions(storeDir: string, count: number, namespace: string): Promise<void> {
  await pool(count, 32, async (i) => {
    const name = sessionName(i);
    await writeFile(join(storeDir, `${name}.yaml`), sessionYaml(name, namespace));
  });
}

/**
 * Deletes every Session file but keeps the directory: a missing store directory is an incomplete
 * store, and the agent rightly removes nothing then.
 */
export async function deleteSessions(storeDir: string): Promise<void> {
  const files = (await readdir(storeDir)).filter((f) => f.endsWith('.yaml'));
  await pool(files.length, 32, async (i) => unlink(join(storeDir, files[i]!)));
}

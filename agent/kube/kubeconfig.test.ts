import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StartupError } from '../startup-error.ts';
import { kubeConfigFor } from './kubeconfig.ts';

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:6444", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: abc}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`;

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** No KUBECONFIG, a HOME without .kube/config, not in a pod: loadFromDefault finds nothing. */
async function withNoDefaultKubeconfig(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'dockerlet-home-'));
  vi.stubEnv('KUBECONFIG', '');
  vi.stubEnv('HOME', home);
  vi.stubEnv('KUBERNETES_SERVICE_HOST', '');
  vi.stubEnv('KUBERNETES_SERVICE_PORT', '');
  return home;
}

describe('kubeConfigFor', () => {
  let dir: string | undefined;
  afterEach(async () => {
    vi.unstubAllEnvs();
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('loads the file --kubeconfig names', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dockerlet-kc-'));
    const file = join(dir, 'config');
    await writeFile(file, KUBECONFIG);
    expect(kubeConfigFor(file, '--store kubernetes').getCurrentCluster()?.server).toBe('https://127.0.0.1:6444');
  });

  it('names the flag when the file cannot be read', () => {
    const error = thrown(() => kubeConfigFor('/nonexistent/kubeconfig', '--store kubernetes'));
    expect(error).toBeInstanceOf(StartupError);
    expect((error as Error).message).toMatch(/^cannot load --kubeconfig \/nonexistent\/kubeconfig: /);
  });

  it('refuses the localhost:8080 fallback when no kubeconfig exists, naming --kubeconfig and what needed one', async () => {
    dir = await withNoDefaultKubeconfig();
    const error = thrown(() => kubeConfigFor(undefined, '--leader-election kubernetes'));
    expect(error).toBeInstanceOf(StartupError);
    expect((error as Error).message).toBe(
      '--leader-election kubernetes: no kubeconfig found (looked at $KUBECONFIG, ~/.kube/config and the in-cluster service account); pass --kubeconfig <path> or set DOCKERLET_KUBECONFIG',
    );
  });

  it('finds ~/.kube/config without the flag', async () => {
    dir = await withNoDefaultKubeconfig();
    await mkdir(join(dir, '.kube'));
    await writeFile(join(dir, '.kube', 'config'), KUBECONFIG);
    expect(kubeConfigFor(undefined, '--store kubernetes').getCurrentCluster()?.server).toBe('https://127.0.0.1:6444');
  });
});

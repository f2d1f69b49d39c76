import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StartupError } from '../startup-error.ts';
import { kubeConfigFor, sessionsPath } from './open-kube-store.ts';

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:6444", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: abc}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`;

describe('kubeConfigFor', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads the file --kubeconfig names', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dockerlet-kc-'));
    const file = join(dir, 'config');
    await writeFile(file, KUBECONFIG);
    expect(kubeConfigFor({ kubeconfig: file }).getCurrentCluster()?.server).toBe('https://127.0.0.1:6444');
  });

  it('names the flag when the file cannot be read', () => {
    const error = (() => {
      try {
        kubeConfigFor({ kubeconfig: '/nonexistent/kubeconfig' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(StartupError);
    expect((error as Error).message).toMatch(/^cannot load --kubeconfig \/nonexistent\/kubeconfig: /);
  });
});

describe('sessionsPath', () => {
  it('watches one namespace or all of them', () => {
    expect(sessionsPath('team')).toBe('/apis/dockerlet.dev/v1alpha1/namespaces/team/sessions');
    expect(sessionsPath(undefined)).toBe('/apis/dockerlet.dev/v1alpha1/sessions');
  });
});

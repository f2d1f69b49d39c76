// kubectl for tests: the one hack/kube/build.sh builds with the test API server (same release) and
// `hack/test-env up` links into the test state, never whatever kubectl the machine may have.
// Scripts that call plain `kubectl` (deploy/kubernetes/external/make-kubeconfig.sh) get it first
// on their PATH.
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { TEST_KUBECONFIG } from './kube.ts';

const run = promisify(execFile);
const TEST_STATE = process.env['DOCKERLET_TEST_STATE'] ?? '/tmp/dockerlet-test-env';

/** Same default as hack/kube/test-env-kube.sh (KUBE_KUBECTL). */
export const TEST_KUBECTL = process.env['DOCKERLET_TEST_KUBECTL'] ?? join(TEST_STATE, 'kube', 'bin', 'kubectl');

/** Fails (never skips) when the test kubectl is missing, saying how to get it. */
export async function requireTestKubectl(): Promise<string> {
  try {
    await access(TEST_KUBECTL, constants.X_OK);
  } catch (error) {
    throw new Error(`no kubectl at ${TEST_KUBECTL}: run \`bash hack/test-env up\` (hack/kube/build.sh builds it with kube-apiserver)`, { cause: error });
  }
  return TEST_KUBECTL;
}

/** The environment for a child process that runs `kubectl`: the test kubectl first on PATH, the admin kubeconfig. */
export function kubectlEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PATH: [dirname(TEST_KUBECTL), process.env['PATH'] ?? ''].join(delimiter), KUBECONFIG: TEST_KUBECONFIG, ...extra };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the test kubectl to completion (a non-zero exit is a result, not an exception). */
export async function kubectl(args: string[], options: { kubeconfig?: string } = {}): Promise<KubectlResult> {
  try {
    const { stdout, stderr } = await run(TEST_KUBECTL, args, { env: kubectlEnv(options.kubeconfig ? { KUBECONFIG: options.kubeconfig } : {}), timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

// Readiness in Kubernetes mode, as a user sees it: `kubectl wait --for=condition=Ready` on a Session
// whose readiness probe fails keeps waiting while the Session is Running (the container serves
// nothing yet), and returns once the probe passes; a failing liveness probe shows as the Events
// Unhealthy then Restarted. Real API server, real engine, the agent as a process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import type { KubeConfig } from '@kubernetes/client-node';
import { dockerCli, requireTestEngine } from '../support/docker.ts';
import { AgentProcess, AgentWorld } from '../support/agent-process.ts';
import { eventually } from '../support/eventually.ts';
import { installCrds, requireTestKube, TEST_KUBECONFIG } from '../support/kube.ts';
import { KubeWorld } from '../support/kube-world.ts';
import { kubectlEnv, requireTestKubectl } from '../support/kubectl.ts';

/** `kubectl wait` in the background: its exit code once it ends. */
function startWait(kubectlPath: string, args: string[]): { done: Promise<number>; ended: () => boolean; output: () => string } {
  const child = spawn(kubectlPath, args, { env: kubectlEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let finished = false;
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const done = new Promise<number>((resolve) =>
    child.on('exit', (code) => {
      finished = true;
      resolve(code ?? -1);
    }),
  );
  return { done, ended: () => finished, output: () => output };
}

describe('Kubernetes mode: Ready follows readiness', () => {
  let kc: KubeConfig;
  let kube: KubeWorld;
  let world: AgentWorld;
  let agent: AgentProcess;
  let kubectlPath: string;

  beforeAll(async () => {
    await requireTestEngine();
    kubectlPath = await requireTestKubectl();
    kc = await requireTestKube();
    await installCrds(kc);
    kube = await KubeWorld.create(kc, 'dlt-ready');
    world = await AgentWorld.create();
    agent = new AgentProcess(world, ['--store', 'kubernetes', '--kubeconfig', TEST_KUBECONFIG, '--namespace', kube.namespace]);
    await agent.start();
  });

  afterAll(async () => {
    await agent?.stop('SIGTERM');
    await kube?.cleanup();
    await world?.cleanup();
  });

  it('kubectl wait --for=condition=Ready waits while the readiness probe fails and returns once it passes', async () => {
    await kube.createSession('web', {
      command: ['sh', '-c', 'mkdir -p /www && exec httpd -f -p 8080 -h /www'],
      readinessProbe: { httpGet: { port: 8080, path: '/ready.txt' }, periodSeconds: 1, failureThreshold: 1 },
    });
    const wait = startWait(kubectlPath, ['wait', '--for=condition=Ready', 'session/web', '-n', kube.namespace, '--timeout=90s']);
    const failing = await eventually(
      async () => {
        const s = await kube.getSession('web');
        expect(s?.status?.phase).toBe('Running');
        expect(s?.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ProbeFailed' });
        expect(s?.status?.conditions?.find((c) => c.type === 'Ready')?.message).toContain('HTTP 404');
        return s;
      },
      { timeoutMs: 60_000, message: 'web Running, not Ready (probe failing)' },
    );
    // kstatus reads Reconciling: the Session is in progress, not Current.
    expect(failing?.status?.conditions?.find((c) => c.type === 'Reconciling')).toMatchObject({ status: 'True', reason: 'ProbeFailed' });
    expect(wait.ended(), `kubectl wait returned while the probe failed: ${wait.output()}`).toBe(false);

    const id = failing?.status?.containerID ?? '';
    await dockerCli(['exec', id, 'touch', '/www/ready.txt']);
    expect(await wait.done, wait.output()).toBe(0);
    expect(wait.output()).toContain('condition met');
    const served = await kube.getSession('web');
    expect(served?.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    expect(served?.status?.conditions?.find((c) => c.type === 'Reconciling')).toMatchObject({ status: 'False' });
  });

  it('a failing liveness probe shows as Event Unhealthy, then Restarted with the cause', async () => {
    await kube.createSession('live', {
      command: ['sleep', '3600'],
      livenessProbe: { exec: { command: ['cat', '/tmp/alive'] }, periodSeconds: 1, failureThreshold: 2 },
    });
    await eventually(
      async () => {
        const events = (await kube.events()).filter((e) => e.involvedObject.name === 'live');
        const reasons = events.map((e) => e.reason);
        expect(reasons).toContain('Unhealthy');
        expect(reasons).toContain('Restarted');
        expect(events.find((e) => e.reason === 'Unhealthy')?.message).toContain('livenessProbe exec [cat /tmp/alive] failed 2 times in a row');
        expect(events.find((e) => e.reason === 'Restarted')?.message).toContain('livenessProbe exec [cat /tmp/alive] failed 2 times in a row');
        expect((await kube.getSession('live'))?.status?.restartCount ?? 0).toBeGreaterThanOrEqual(1);
      },
      { timeoutMs: 60_000, message: 'Unhealthy and Restarted Events' },
    );
  });
});

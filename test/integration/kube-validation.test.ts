// `kubectl apply` rejects what the agent rejects: each fixture goes to the real API server (a
// server-side dry run, so nothing is stored) and through crds/validate.ts, and both verdicts must
// agree; a rejection names the field path, and a CEL rejection names the rule of crds/rules.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { validateObject } from '../../crds/validate.ts';
import { installCrds, requireTestKube } from '../support/kube.ts';
import { KubeWorld, messageOf, statusOf } from '../support/kube-world.ts';

interface Fixture {
  name: string;
  spec: Record<string, unknown>;
  /** Undefined: both accept. Otherwise the field path both name, and the rule id (CEL) if any. */
  rejected?: { path: string; rule?: string };
}

const FIXTURES: Fixture[] = [
  { name: 'image-flag', spec: { image: '--privileged' }, rejected: { path: 'spec.image' } },
  { name: 'image-space', spec: { image: 'a b' }, rejected: { path: 'spec.image' } },
  { name: 'image-registry-digest', spec: { image: 'registry.local:5000/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' } },
  { name: 'env-nul', spec: { image: 'x', env: [{ name: 'A', value: 'a\u0000b' }] }, rejected: { path: 'spec.env[0].value' } },
  { name: 'args-nul', spec: { image: 'x', args: ['a\u0000b'] }, rejected: { path: 'spec.args[0]' } },
  { name: 'memory-absurd', spec: { image: 'x', resources: { memory: '99999999999999999999Gi' } }, rejected: { path: 'spec', rule: 'quantity-in-range' } },
  { name: 'cpu-absurd', spec: { image: 'x', resources: { cpu: '99999999999999999999' } }, rejected: { path: 'spec', rule: 'quantity-in-range' } },
  { name: 'tmpfs-absurd', spec: { image: 'x', tmpfs: [{ mountPath: '/t', sizeLimit: '5Pi' }] }, rejected: { path: 'spec', rule: 'quantity-in-range' } },
  { name: 'quantities-at-the-bounds', spec: { image: 'x', resources: { memory: '4Pi', cpu: '1000000' }, shmSize: '4Pi' } },
  { name: 'memory-exponent', spec: { image: 'x', resources: { memory: '1e30Gi' } }, rejected: { path: 'spec.resources.memory' } },
  { name: 'memory-negative', spec: { image: 'x', resources: { memory: '-1Gi' } }, rejected: { path: 'spec.resources.memory' } },
  { name: 'host-path-dot-dot', spec: { image: 'x', volumes: [{ name: 'h', hostPath: '/srv/sessions/../../etc' }] }, rejected: { path: 'spec.volumes', rule: 'host-path-no-dot-dot' } },
  { name: 'host-path-dots-in-names', spec: { image: 'x', volumes: [{ name: 'h', hostPath: '/srv/a..b/..c/d..' }] } },
  { name: 'host-path-relative', spec: { image: 'x', volumes: [{ name: 'h', hostPath: 'srv/data' }] }, rejected: { path: 'spec.volumes[0].hostPath' } },
  { name: 'device-path-dot-dot', spec: { image: 'x', devices: [{ hostPath: '/dev/..' }] }, rejected: { path: 'spec.devices', rule: 'device-path-no-dot-dot' } },
  { name: 'env-file-dot-dot', spec: { image: 'x', env: [{ name: 'T', valueFrom: { file: '/run/secrets/../../proc/self/environ' } }] }, rejected: { path: 'spec.env', rule: 'env-file-no-dot-dot' } },
  { name: 'env-file-relative', spec: { image: 'x', env: [{ name: 'T', valueFrom: { file: 'token' } }] }, rejected: { path: 'spec.env[0].valueFrom.file' } },
  { name: 'host-port-0', spec: { image: 'x', ports: [{ containerPort: 80, hostPort: 0 }] }, rejected: { path: 'spec.ports[0].hostPort' } },
  { name: 'host-port-65536', spec: { image: 'x', ports: [{ containerPort: 80, hostPort: 65536 }] }, rejected: { path: 'spec.ports[0].hostPort' } },
  { name: 'container-port-0', spec: { image: 'x', ports: [{ containerPort: 0 }] }, rejected: { path: 'spec.ports[0].containerPort' } },
  { name: 'valid', spec: { image: 'nginx:1.27', ports: [{ containerPort: 80, hostPort: 8080 }], resources: { memory: '64Mi', cpu: '500m' } } },
  { name: 'no-image', spec: { command: ['sleep'] }, rejected: { path: 'spec.image' } },
  { name: 'bad-memory', spec: { image: 'x', resources: { memory: '12XB' } }, rejected: { path: 'spec.resources.memory' } },
  { name: 'bad-state', spec: { image: 'x', state: 'Paused' }, rejected: { path: 'spec.state' } },
  {
    name: 'mount-without-volume',
    spec: { image: 'x', mounts: [{ name: 'data', mountPath: '/data' }] },
    rejected: { path: 'spec.mounts', rule: 'mount-names-a-volume' },
  },
  {
    name: 'host-port-twice',
    spec: { image: 'x', ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 81, hostPort: 8080 }] },
    rejected: { path: 'spec.ports', rule: 'host-port-unique-per-protocol' },
  },
  {
    name: 'host-port-tcp-and-udp',
    spec: { image: 'x', ports: [{ containerPort: 53, hostPort: 5353 }, { containerPort: 53, hostPort: 5353, protocol: 'UDP' }] },
  },
  {
    name: 'mount-path-twice',
    spec: {
      image: 'x',
      volumes: [{ name: 'a', emptyDir: {} }, { name: 'b', emptyDir: {} }],
      mounts: [{ name: 'a', mountPath: '/data' }, { name: 'b', mountPath: '/data/' }],
    },
    rejected: { path: 'spec.mounts', rule: 'mount-path-unique' },
  },
  {
    name: 'mount-path-prefix-only',
    spec: {
      image: 'x',
      volumes: [{ name: 'a', emptyDir: {} }, { name: 'b', emptyDir: {} }],
      mounts: [{ name: 'a', mountPath: '/data' }, { name: 'b', mountPath: '/data2' }],
    },
  },
  {
    name: 'session-grade',
    spec: {
      image: 'x',
      user: '1000:1000',
      workingDir: '/w',
      hostname: 'desk-1',
      shmSize: '1Gi',
      networks: ['front', 'back'],
      capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
      devices: [{ hostPath: '/dev/fuse' }, { hostPath: '/dev/null', containerPath: '/dev/null2', permissions: 'rw' }],
      gpus: { count: 1 },
      env: [{ name: 'TOKEN', valueFrom: { file: '/run/secrets/token' } }],
      stopSignal: 'SIGINT',
      stopGracePeriodSeconds: 30,
      logging: { driver: 'json-file', options: { 'max-size': '10m' } },
      ulimits: [{ name: 'nofile', soft: 1024, hard: -1 }],
      readOnlyRootFilesystem: true,
      tmpfs: [{ mountPath: '/tmp', sizeLimit: '64Mi', mode: 1023 }],
    },
  },
  {
    name: 'probes',
    spec: {
      image: 'x',
      readinessProbe: { httpGet: { port: 8080, path: '/healthz', httpHeaders: [{ name: 'X-Probe', value: '1' }] }, periodSeconds: 1 },
      livenessProbe: { exec: { command: ['cat', '/tmp/alive'] }, failureThreshold: 2 },
      startupProbe: { tcpSocket: { port: 5432 } },
    },
  },
  { name: 'probe-two-handlers', spec: { image: 'x', readinessProbe: { exec: { command: ['true'] }, tcpSocket: { port: 80 } } }, rejected: { path: 'spec.readinessProbe' } },
  { name: 'probe-no-handler', spec: { image: 'x', startupProbe: { periodSeconds: 1 } }, rejected: { path: 'spec.startupProbe' } },
  { name: 'liveness-success-threshold', spec: { image: 'x', livenessProbe: { tcpSocket: { port: 80 }, successThreshold: 2 } }, rejected: { path: 'spec.livenessProbe.successThreshold' } },
  { name: 'bad-capability', spec: { image: 'x', capabilities: { add: ['CAP_SYS_ADMIN'] } }, rejected: { path: 'spec.capabilities.add[0]' } },
  { name: 'gpus-both', spec: { image: 'x', gpus: { count: 1, all: true } }, rejected: { path: 'spec.gpus' } },
  {
    name: 'env-both-sources',
    spec: { image: 'x', env: [{ name: 'A', value: 'v', valueFrom: { file: '/s' } }] },
    rejected: { path: 'spec.env', rule: 'env-value-or-value-from' },
  },
  { name: 'host-network-and-more', spec: { image: 'x', networks: ['host', 'front'] }, rejected: { path: 'spec.networks', rule: 'special-network-alone' } },
  {
    name: 'device-path-twice',
    spec: { image: 'x', devices: [{ hostPath: '/dev/fuse' }, { hostPath: '/dev/null', containerPath: '/dev/fuse' }] },
    rejected: { path: 'spec.devices', rule: 'device-path-unique' },
  },
  { name: 'ulimit-soft-above-hard', spec: { image: 'x', ulimits: [{ name: 'nofile', soft: 10, hard: 5 }] }, rejected: { path: 'spec.ulimits', rule: 'ulimit-soft-within-hard' } },
  {
    name: 'tmpfs-on-a-mount',
    spec: { image: 'x', volumes: [{ name: 'a', emptyDir: {} }], mounts: [{ name: 'a', mountPath: '/data' }], tmpfs: [{ mountPath: '/data/' }] },
    rejected: { path: 'spec.tmpfs', rule: 'tmpfs-path-free' },
  },
  {
    name: 'reserved-label',
    spec: { image: 'x', labels: { 'dockerlet.dev/uid': 'mine', team: 'a' } },
    rejected: { path: 'spec.labels', rule: 'reserved-label-prefix' },
  },
  {
    name: 'exec-probes-same',
    spec: { image: 'x', readinessProbe: { exec: { command: ['cat', '/tmp/ok'] }, periodSeconds: 2 }, livenessProbe: { exec: { command: ['cat', '/tmp/ok'] }, periodSeconds: 2 }, startupProbe: { httpGet: { port: 80 } } },
  },
  {
    name: 'exec-probes-differ',
    spec: { image: 'x', readinessProbe: { exec: { command: ['cat', '/tmp/ok'] } }, livenessProbe: { exec: { command: ['cat', '/tmp/ok'] }, failureThreshold: 5 } },
    rejected: { path: 'spec', rule: 'exec-probes-agree' },
  },
  { name: 'start-first', spec: { image: 'x', updateStrategy: { type: 'StartFirst' }, progressDeadlineSeconds: 60, ports: [{ containerPort: 80 }] } },
  {
    name: 'start-first-fixed-host-port',
    spec: { image: 'x', updateStrategy: { type: 'StartFirst' }, ports: [{ containerPort: 80, hostPort: 8080 }] },
    rejected: { path: 'spec.ports', rule: 'start-first-no-fixed-host-port' },
  },
  { name: 'bad-strategy', spec: { image: 'x', updateStrategy: { type: 'RollingUpdate' } }, rejected: { path: 'spec.updateStrategy.type' } },
  { name: 'agent-selector', spec: { image: 'x', agentSelector: { matchLabels: { zone: 'a', 'example.com/gpu': 'true' } } } },
  {
    name: 'agent-and-selector',
    spec: { image: 'x', agent: 'host-a', agentSelector: { matchLabels: { zone: 'a' } } },
    rejected: { path: 'spec.agentSelector', rule: 'agent-or-agent-selector' },
  },
  {
    name: 'selector-bad-key',
    spec: { image: 'x', agentSelector: { matchLabels: { 'bad key': 'a' } } },
    rejected: { path: 'spec.agentSelector.matchLabels', rule: 'agent-selector-labels' },
  },
  {
    name: 'selector-bad-value',
    spec: { image: 'x', agentSelector: { matchLabels: { zone: 'not ok' } } },
    rejected: { path: 'spec.agentSelector.matchLabels', rule: 'agent-selector-labels' },
  },
];

describe('Session validation at apply time (real API server) matches the agent', () => {
  let kc: KubeConfig;
  let world: KubeWorld;

  beforeAll(async () => {
    kc = await requireTestKube();
    await installCrds(kc);
    world = await KubeWorld.create(kc, 'dlt-valid');
  });

  afterAll(async () => {
    await world?.cleanup();
  });

  for (const fixture of FIXTURES) {
    it(`${fixture.name}: ${fixture.rejected ? `rejected at ${fixture.rejected.path}${fixture.rejected.rule ? ` (${fixture.rejected.rule})` : ''}` : 'accepted'} by both`, async () => {
      const body = { apiVersion: 'dockerlet.dev/v1alpha1', kind: 'Session', metadata: { name: fixture.name, namespace: world.namespace }, spec: fixture.spec };
      const api = kc.makeApiClient(CustomObjectsApi);
      let serverError: unknown;
      try {
        await api.createNamespacedCustomObject({ group: 'dockerlet.dev', version: 'v1alpha1', plural: 'sessions', namespace: world.namespace, body, dryRun: 'All' });
      } catch (error) {
        serverError = error;
      }
      const local = validateObject(body);

      if (!fixture.rejected) {
        expect(serverError === undefined ? 'accepted' : messageOf(serverError)).toBe('accepted');
        expect(local.ok ? 'accepted' : local.problems.map((p) => p.message).join('; ')).toBe('accepted');
        return;
      }
      expect(serverError, 'the API server accepted it').toBeDefined();
      expect(statusOf(serverError)).toBe(422);
      const message = messageOf(serverError);
      expect(message).toContain(`${fixture.rejected.path}`);
      if (fixture.rejected.rule) expect(message).toContain(fixture.rejected.rule);
      expect(local.ok, 'the agent accepted it').toBe(false);
      if (!local.ok) expect(local.problems.map((p) => p.fieldPath).join(' ')).toContain(fixture.rejected.path);
    });
  }

  it('a real create of an invalid Session fails and stores nothing', async () => {
    await expect(world.createRaw(world.body('stored', { image: '' }))).rejects.toSatisfy((error: unknown) => messageOf(error).includes('spec.image'));
    expect(await world.getSession('stored')).toBeUndefined();
  });
});

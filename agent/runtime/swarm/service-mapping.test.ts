import { describe, expect, it } from 'vitest';
import type { Session } from '../../../crds/types.ts';
import { desiredContainer } from '../../../controllers/session/desired.ts';
import { LABELS } from '../../../controllers/session/labels.ts';
import type { RawService, RawTask } from './service-mapping.ts';
import { swarmSpecProblems } from './service-support.ts';
import {
  RUNTIME_LABEL,
  engineRestartPolicyOf,
  isTransitional,
  serviceLabelsOfTaskContainer,
  serviceName,
  serviceState,
  swarmRestartPolicy,
  toServiceDetails,
  toServiceSpec,
  toServiceSummary,
  withForcedRestart,
  withReplicas,
  withUpdate,
} from './service-mapping.ts';

const session: Session = {
  apiVersion: 'dockerlet.dev/v1alpha1',
  kind: 'Session',
  metadata: { name: 'web', namespace: 'team-a', uid: 'uid-1' },
  spec: {
    image: 'dockerlet-test/busybox:latest',
    command: ['sleep'],
    args: ['infinity'],
    env: [{ name: 'A', value: '1' }],
    ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 9000 }],
    volumes: [{ name: 'data', volume: 'vol1' }, { name: 'scratch', emptyDir: { sizeLimit: '1Mi' } }],
    mounts: [{ name: 'data', mountPath: '/data' }, { name: 'scratch', mountPath: '/tmp/s', readOnly: true }],
    resources: { cpu: '250m', memory: '32Mi' },
    restartPolicy: 'OnFailure',
    labels: { team: 'a' },
  },
};

function task(state: string, at: string, extra: Partial<RawTask> = {}): RawTask {
  return { ID: `t-${at}`, ServiceID: 's1', NodeID: 'n1', CreatedAt: at, DesiredState: 'running', Status: { State: state, Timestamp: at }, ...extra };
}

describe('service mapping', () => {
  it('maps a container request to a 0-replica service spec with our labels, limits, host-mode ports, mounts, env and command', () => {
    const request = desiredContainer(session, 'agent.one');
    const spec = toServiceSpec(request, 3);
    expect(spec.Name).toBe(serviceName(request.name));
    expect(spec.Labels).toEqual(request.labels);
    expect(spec.Labels?.[LABELS.configHash]).toMatch(/^[0-9a-f]{64}$/);
    expect(spec.Mode).toEqual({ Replicated: { Replicas: 0 } });
    const container = spec.TaskTemplate?.ContainerSpec;
    // Exactly as named: no registry digest is asked for (the image may be local only).
    expect(container?.Image).toBe('dockerlet-test/busybox:latest');
    expect(container?.Command).toEqual(['sleep']);
    expect(container?.Args).toEqual(['infinity']);
    expect(container?.Env).toEqual(['A=1']);
    expect(container?.StopGracePeriod).toBe(3_000_000_000);
    expect(container?.Labels?.[LABELS.managedBy]).toBeUndefined();
    expect(container?.Labels?.[RUNTIME_LABEL]).toBe('swarm');
    expect(container?.Labels?.[LABELS.agent]).toBe('agent.one');
    expect(container?.Mounts).toEqual([
      { Type: 'volume', Source: 'vol1', Target: '/data', ReadOnly: false },
      { Type: 'tmpfs', Target: '/tmp/s', ReadOnly: true, TmpfsOptions: { SizeBytes: 1024 * 1024 } },
    ]);
    expect(spec.TaskTemplate?.Resources).toEqual({ Limits: { NanoCPUs: 250_000_000, MemoryBytes: 32 * 1024 * 1024 } });
    expect(spec.TaskTemplate?.RestartPolicy).toEqual({ Condition: 'on-failure' });
    expect(spec.EndpointSpec?.Ports).toEqual([{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }]);
  });

  it('maps the session-grade fields Swarm has a place for; /dev/shm becomes a tmpfs of shmSize', () => {
    const request = desiredContainer(
      {
        ...session,
        spec: {
          image: 'x',
          user: '1000:1000',
          workingDir: '/w',
          hostname: 'desk',
          shmSize: '256Mi',
          networks: ['overlay-a', 'overlay-b'],
          capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
          stopSignal: 'SIGINT',
          stopGracePeriodSeconds: 30,
          logging: { driver: 'json-file', options: { 'max-size': '1m' } },
          ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }],
          readOnlyRootFilesystem: true,
          tmpfs: [{ mountPath: '/run', sizeLimit: '1Mi', mode: 0o700 }],
          livenessProbe: { exec: { command: ['cat', '/tmp/ok'] }, periodSeconds: 5, failureThreshold: 2 },
        },
      },
      'a',
    );
    const spec = toServiceSpec(request, 10);
    // Exec probes are the service's healthcheck: Swarm keeps the task "starting" until it passes
    // and replaces a task that turns unhealthy.
    expect(spec.TaskTemplate?.ContainerSpec?.Healthcheck).toEqual({ Test: ['CMD', 'cat', '/tmp/ok'], Interval: 5e9, Timeout: 1e9, Retries: 2, StartPeriod: 0 });
    expect(spec.TaskTemplate?.ContainerSpec).toMatchObject({
      User: '1000:1000',
      Dir: '/w',
      Hostname: 'desk',
      StopSignal: 'SIGINT',
      StopGracePeriod: 30_000_000_000,
      ReadOnly: true,
      CapabilityAdd: ['NET_ADMIN'],
      CapabilityDrop: ['ALL'],
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
      Mounts: [
        { Type: 'tmpfs', Target: '/run', ReadOnly: false, TmpfsOptions: { SizeBytes: 1024 * 1024, Mode: 0o700 } },
        { Type: 'tmpfs', Target: '/dev/shm', ReadOnly: false, TmpfsOptions: { SizeBytes: 256 * 1024 * 1024 } },
      ],
    });
    expect(spec.TaskTemplate?.LogDriver).toEqual({ Name: 'json-file', Options: { 'max-size': '1m' } });
    expect(spec.TaskTemplate?.Networks).toEqual([{ Target: 'overlay-a' }, { Target: 'overlay-b' }]);
  });

  it('refuses devices and GPUs, naming the field and the runtime', () => {
    expect(swarmSpecProblems({ image: 'x', user: '1000' })).toEqual([]);
    expect(swarmSpecProblems({ image: 'x', devices: [{ hostPath: '/dev/fuse' }], gpus: { count: 1 } }).map((p) => p.message)).toEqual([
      'spec.devices: Forbidden: not supported with --runtime swarm: a Swarm service cannot map host devices; run the Session on an agent with --runtime docker',
      'spec.gpus: Forbidden: not supported with --runtime swarm: Swarm offers GPUs as generic node resources, not device requests; run the Session on an agent with --runtime docker',
    ]);
  });

  it('refuses httpGet and tcpSocket probes (the agent cannot reach a task), accepts exec', () => {
    expect(swarmSpecProblems({ image: 'x', readinessProbe: { exec: { command: ['true'] } } })).toEqual([]);
    expect(swarmSpecProblems({ image: 'x', readinessProbe: { httpGet: { port: 80 } }, livenessProbe: { tcpSocket: { port: 80 } } }).map((p) => p.message)).toEqual([
      "spec.readinessProbe.httpGet: Forbidden: not supported with --runtime swarm: the agent cannot reach a Swarm task to probe it; use exec (it becomes the service's healthcheck) or run the Session on an agent with --runtime docker",
      "spec.livenessProbe.tcpSocket: Forbidden: not supported with --runtime swarm: the agent cannot reach a Swarm task to probe it; use exec (it becomes the service's healthcheck) or run the Session on an agent with --runtime docker",
    ]);
  });

  it('names services within Swarm limits, unique per full name', () => {
    expect(serviceName('dockerlet_default_web_host-a')).toBe('dockerlet_default_web_host-a');
    const dotted = serviceName('dockerlet_default_web_host.a');
    expect(dotted).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*$/);
    expect(dotted).not.toBe(serviceName('dockerlet_default_web_host-a'));
    const long = serviceName(`dockerlet_${'n'.repeat(60)}_${'x'.repeat(60)}_agent`);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).not.toBe(serviceName(`dockerlet_${'n'.repeat(60)}_${'x'.repeat(60)}_agent2`));
  });

  it('maps restart policies both ways (Always→any, OnFailure→on-failure, Never→none)', () => {
    expect(swarmRestartPolicy({ name: 'unless-stopped' })).toEqual({ Condition: 'any' });
    expect(swarmRestartPolicy({ name: 'on-failure' })).toEqual({ Condition: 'on-failure' });
    expect(swarmRestartPolicy({ name: 'no' })).toEqual({ Condition: 'none' });
    for (const name of ['unless-stopped', 'on-failure', 'no'] as const) expect(engineRestartPolicyOf(swarmRestartPolicy({ name }))).toEqual({ name });
  });

  it('changes only what an operation asks for', () => {
    const spec = toServiceSpec(desiredContainer(session, 'a'), 10);
    expect(withReplicas(spec, 1).TaskTemplate).toBe(spec.TaskTemplate);
    expect(withForcedRestart(withForcedRestart(spec)).TaskTemplate?.ForceUpdate).toBe(2);
    const updated = withUpdate(spec, { memoryBytes: 64 * 1024 * 1024, restartPolicy: { name: 'no' } });
    expect(updated.TaskTemplate?.Resources?.Limits).toEqual({ NanoCPUs: 250_000_000, MemoryBytes: 64 * 1024 * 1024 });
    expect(updated.TaskTemplate?.RestartPolicy).toEqual({ Condition: 'none' });
    expect(updated.TaskTemplate?.ContainerSpec).toBe(spec.TaskTemplate?.ContainerSpec);
  });

  it('reads the state from replicas and the newest task', () => {
    const any = { Mode: { Replicated: { Replicas: 1 } }, TaskTemplate: { RestartPolicy: { Condition: 'any' } } };
    const none = { Mode: { Replicated: { Replicas: 1 } }, TaskTemplate: { RestartPolicy: { Condition: 'none' } } };
    expect(serviceState({ Mode: { Replicated: { Replicas: 0 } } }, [task('running', '2026-01-01T00:00:01Z')])).toBe('created');
    expect(serviceState(any, [])).toBe('created');
    expect(serviceState(any, [task('preparing', '2026-01-01T00:00:01Z')])).toBe('created');
    expect(serviceState(any, [task('complete', '2026-01-01T00:00:01Z'), task('running', '2026-01-01T00:00:02Z')])).toBe('running');
    expect(serviceState(any, [task('failed', '2026-01-01T00:00:01Z')])).toBe('restarting');
    expect(serviceState(any, [task('failed', '2026-01-01T00:00:01Z'), task('pending', '2026-01-01T00:00:02Z')])).toBe('restarting');
    expect(serviceState(none, [task('failed', '2026-01-01T00:00:01Z')])).toBe('exited');
    expect(isTransitional(any, [task('pending', '2026-01-01T00:00:01Z')])).toBe(true);
    expect(isTransitional(any, [task('running', '2026-01-01T00:00:01Z')])).toBe(false);
    expect(isTransitional({ Mode: { Replicated: { Replicas: 0 } } }, [])).toBe(false);
  });

  it('reports node, task, address and host-mode ports of a running task', () => {
    const spec = withReplicas(toServiceSpec(desiredContainer(session, 'a'), 10), 1);
    const service: RawService = { ID: 's1', CreatedAt: '2026-01-01T00:00:00Z', Spec: spec };
    const running = task('running', '2026-01-01T00:00:05Z', {
      NetworksAttachments: [{ Network: { Spec: { Name: 'ingress' } }, Addresses: ['10.0.0.7/24'] }],
      Status: { State: 'running', Timestamp: '2026-01-01T00:00:05Z', PortStatus: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }, { Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] } },
    });
    const details = toServiceDetails(service, [task('failed', '2026-01-01T00:00:01Z'), running], { node: 'vm', nodeAddress: '192.168.1.2' });
    expect(details).toMatchObject({
      id: 's1',
      state: 'running',
      startedAt: '2026-01-01T00:00:05Z',
      ipAddress: '10.0.0.7',
      restartCount: 1,
      memoryBytes: 32 * 1024 * 1024,
      nanoCpus: 250_000_000,
      restartPolicy: { name: 'on-failure' },
      task: { id: 't-2026-01-01T00:00:05Z', state: 'running', node: 'vm' },
      ports: [{ containerPort: 80, protocol: 'tcp', hostIP: '192.168.1.2', hostPort: 8080 }],
    });
  });

  it('summarises a listed service so the cache re-reads only the unsettled', () => {
    const spec = (replicas: number) => withReplicas(toServiceSpec(desiredContainer(session, 'a'), 10), replicas);
    expect(toServiceSummary({ ID: 's', Spec: spec(1), ServiceStatus: { RunningTasks: 1, DesiredTasks: 1 } }).state).toBe('running');
    expect(toServiceSummary({ ID: 's', Spec: spec(0), ServiceStatus: { RunningTasks: 0, DesiredTasks: 0 } }).state).toBe('created');
    expect(toServiceSummary({ ID: 's', Spec: spec(1), ServiceStatus: { RunningTasks: 0, DesiredTasks: 1 } }).state).toBe('restarting');
  });

  it("reads a task container's event labels as the service's", () => {
    const labels = serviceLabelsOfTaskContainer({ [RUNTIME_LABEL]: 'swarm', [LABELS.agent]: 'a', [LABELS.name]: 'web', [LABELS.namespace]: 'ns' });
    expect(labels).toEqual({ [LABELS.managedBy]: 'dockerlet', [LABELS.agent]: 'a', [LABELS.name]: 'web', [LABELS.namespace]: 'ns' });
  });
});

describe('not a swarm manager', () => {
  it('turns the engine refusal into a start-up error that names the flag and the fix', async () => {
    const { notAManager } = await import('./service-runtime.ts');
    const error = notAManager(new Error('list services: This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.'));
    expect(error?.name).toBe('StartupError');
    expect(error?.message).toMatch(/^--runtime swarm needs a swarm manager.*--runtime docker$/);
    expect(notAManager(new Error('connection refused'))).toBeUndefined();
  });
});

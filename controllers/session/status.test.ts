// sessionStatus is pure: (desired, container as observed, plan, failure, previous) → status. The
// table pins phase and Ready for every container state the engine reports; the rest pins
// endpoints, problems, failures and when lastTransitionTime may move.
import { describe, expect, it } from 'vitest';
import { API_VERSION } from '../../crds/types.ts';
import type { DesiredState, RestartPolicy, Session, SessionPhase, SessionSpec, SessionStatus } from '../../crds/types.ts';
import type { ContainerDetails, ContainerState } from '../runtime/docker-runtime.ts';
import { getCondition } from '../../reconciler/conditions.ts';
import { desiredContainer } from './desired.ts';
import type { Plan } from './plan.ts';
import type { StatusInput } from './status.ts';
import { sessionStatus } from './status.ts';

const AGENT = 'host-a';
const T0 = new Date('2026-01-01T00:00:00Z');
const T1 = new Date('2026-01-01T00:05:00Z');
const T2 = new Date('2026-01-01T00:10:00Z');
const ID = 'c0ffee'.padEnd(64, '0');

function session(spec: Partial<SessionSpec> = {}, generation = 4): Session {
  return {
    apiVersion: API_VERSION,
    kind: 'Session',
    metadata: { name: 'web', namespace: 'default', uid: 'uid-1', generation },
    spec: { image: 'busybox:1', ...spec },
  };
}

function container(s: Session, state: ContainerState, extra: Partial<ContainerDetails> = {}): ContainerDetails {
  const request = desiredContainer(s, AGENT);
  return {
    id: ID,
    name: request.name,
    image: request.image,
    state,
    labels: request.labels,
    created: 1000,
    exitCode: 0,
    oomKilled: false,
    startedAt: '2025-12-31T23:00:00.000Z',
    restartCount: 0,
    memoryBytes: request.memoryBytes,
    nanoCpus: request.nanoCpus,
    restartPolicy: request.restartPolicy,
    ports: [],
    ...extra,
  };
}

function input(overrides: Partial<StatusInput>): StatusInput {
  return { agent: AGENT, upToDate: true, restartCount: 0, now: T0, ...overrides };
}

interface Row {
  state: DesiredState;
  container: ContainerState | 'none';
  exitCode?: number;
  policy?: RestartPolicy;
  phase: SessionPhase;
  ready: 'True' | 'False';
  reason: string;
  /** Nothing will change without a human: Stalled=True, Reconciling=False. */
  stalled?: true;
}

const TABLE: Row[] = [
  { state: 'Running', container: 'none', phase: 'Pending', ready: 'False', reason: 'ContainerMissing' },
  { state: 'Running', container: 'created', phase: 'Creating', ready: 'False', reason: 'Creating' },
  { state: 'Running', container: 'running', phase: 'Running', ready: 'True', reason: 'Running' },
  { state: 'Running', container: 'paused', phase: 'Running', ready: 'False', reason: 'Paused', stalled: true },
  { state: 'Running', container: 'restarting', exitCode: 1, phase: 'Pending', ready: 'False', reason: 'CrashLoopBackOff' },
  { state: 'Running', container: 'removing', phase: 'Pending', ready: 'False', reason: 'ContainerTransitioning' },
  { state: 'Running', container: 'dead', phase: 'Pending', ready: 'False', reason: 'ContainerTransitioning' },
  { state: 'Running', container: 'exited', exitCode: 0, policy: 'Never', phase: 'Stopped', ready: 'True', reason: 'Completed' },
  { state: 'Running', container: 'exited', exitCode: 2, policy: 'Never', phase: 'Failed', ready: 'False', reason: 'ContainerFailed', stalled: true },
  { state: 'Running', container: 'exited', exitCode: 0, policy: 'OnFailure', phase: 'Stopped', ready: 'True', reason: 'Completed' },
  { state: 'Running', container: 'exited', exitCode: 2, policy: 'OnFailure', phase: 'Pending', ready: 'False', reason: 'Restarting' },
  { state: 'Running', container: 'exited', exitCode: 0, policy: 'Always', phase: 'Pending', ready: 'False', reason: 'Restarting' },
  { state: 'Running', container: 'exited', exitCode: 137, phase: 'Pending', ready: 'False', reason: 'Restarting' },
  { state: 'Stopped', container: 'none', phase: 'Stopped', ready: 'True', reason: 'Stopped' },
  { state: 'Stopped', container: 'exited', exitCode: 143, phase: 'Stopped', ready: 'True', reason: 'Stopped' },
  { state: 'Stopped', container: 'created', phase: 'Stopped', ready: 'True', reason: 'Stopped' },
  { state: 'Stopped', container: 'running', phase: 'Running', ready: 'False', reason: 'Stopping' },
  { state: 'Stopped', container: 'paused', phase: 'Running', ready: 'False', reason: 'Stopping' },
  { state: 'Stopped', container: 'restarting', phase: 'Running', ready: 'False', reason: 'Stopping' },
];

describe('sessionStatus', () => {
  it.each(TABLE)(
    'spec.state $state, container $container (exit $exitCode, restartPolicy $policy) → $phase, Ready $ready/$reason',
    (row) => {
      const spec: Partial<SessionSpec> = { state: row.state };
      if (row.policy) spec.restartPolicy = row.policy;
      const s = session(spec);
      const c = row.container === 'none' ? undefined : container(s, row.container, { exitCode: row.exitCode ?? 0 });
      const status = sessionStatus(input({ desired: s, ...(c ? { container: c } : {}) }));

      expect(status.phase).toBe(row.phase);
      expect(getCondition(status.conditions, 'Ready')).toMatchObject({ status: row.ready, reason: row.reason, observedGeneration: 4 });
      expect(getCondition(status.conditions, 'Reconciling')?.status).toBe(row.ready === 'True' || row.stalled ? 'False' : 'True');
      expect(getCondition(status.conditions, 'Stalled')).toMatchObject(row.stalled ? { status: 'True', reason: row.reason } : { status: 'False' });
      expect(status.observedGeneration).toBe(4);
      expect(status.agent).toBe(AGENT);
      expect(status.containerID).toBe(c ? ID : undefined);
    },
  );

  it('says why a Never container failed, with its exit code and OOM kill', () => {
    const s = session({ restartPolicy: 'Never' });
    const status = sessionStatus(input({ desired: s, container: container(s, 'exited', { exitCode: 137, oomKilled: true }) }));
    expect(status.message).toBe('container exited with code 137 (OOM killed); restartPolicy is Never');
  });

  it('a running container with an outdated config is Running but not Ready', () => {
    const s = session();
    const status = sessionStatus(input({ desired: s, container: container(s, 'running'), upToDate: false }));
    expect(status.phase).toBe('Running');
    expect(getCondition(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'Outdated' });
  });

  it('reports the plan’s crash-loop wait, with its message, for an exited container', () => {
    const s = session();
    const plan: Plan = { key: 'default/web', operations: [], wait: { delayMs: 2000, reason: 'CrashLoopBackOff', message: 'container exited with code 1; restart 2 in a row waits 2000 ms' } };
    const status = sessionStatus(input({ desired: s, container: container(s, 'exited', { exitCode: 1 }), plan }));
    expect(status.phase).toBe('Pending');
    expect(getCondition(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'CrashLoopBackOff', message: plan.wait?.message });
  });

  it('reports the plan’s wait when there is no container yet', () => {
    const s = session({ imagePullPolicy: 'Never' });
    const plan: Plan = { key: 'default/web', operations: [], wait: { delayMs: 30_000, reason: 'ErrImageNeverPull', message: 'image busybox:1 is not on the engine' } };
    const status = sessionStatus(input({ desired: s, plan }));
    expect(status.phase).toBe('Pending');
    expect(getCondition(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'ErrImageNeverPull' });
  });

  it('sets startedAt only while the container runs', () => {
    const s = session();
    expect(sessionStatus(input({ desired: s, container: container(s, 'running') })).startedAt).toBe('2025-12-31T23:00:00.000Z');
    expect(sessionStatus(input({ desired: s, container: container(s, 'exited') })).startedAt).toBeUndefined();
  });

  describe('endpoints', () => {
    it('lists published ports as hostIP:hostPort/protocol', () => {
      const s = session({ ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 53, hostPort: 5353, protocol: 'UDP' }] });
      const c = container(s, 'running', {
        ipAddress: '172.17.0.2',
        ports: [
          { containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1', hostPort: 8080 },
          { containerPort: 53, protocol: 'udp', hostIP: '0.0.0.0', hostPort: 5353 },
        ],
      });
      expect(sessionStatus(input({ desired: s, container: c })).endpoints).toEqual(['127.0.0.1:8080/tcp', '0.0.0.0:5353/udp']);
    });

    it('falls back to the container IP and the spec ports when nothing is published', () => {
      const s = session({ ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'UDP' }] });
      const c = container(s, 'running', { ipAddress: '172.17.0.2' });
      expect(sessionStatus(input({ desired: s, container: c })).endpoints).toEqual(['172.17.0.2:80/tcp', '172.17.0.2:53/udp']);
    });

    it('is empty when the container does not run, or has neither ports nor an address', () => {
      const s = session({ ports: [{ containerPort: 80, hostPort: 8080 }] });
      const published = [{ containerPort: 80, protocol: 'tcp' as const, hostIP: '127.0.0.1', hostPort: 8080 }];
      expect(sessionStatus(input({ desired: s, container: container(s, 'exited', { ports: published }) })).endpoints).toEqual([]);
      expect(sessionStatus(input({ desired: s, container: container(s, 'running') })).endpoints).toEqual([]);
      expect(sessionStatus(input({ desired: s })).endpoints).toEqual([]);
    });
  });

  describe('lastTransitionTime', () => {
    it('stays while a condition keeps its status, and moves when it flips', () => {
      const s = session();
      const first = sessionStatus(input({ desired: s, container: container(s, 'running'), now: T0 }));
      expect(getCondition(first.conditions, 'Ready')?.lastTransitionTime).toBe(T0.toISOString());

      // Still Ready: the transition times stay, so nothing at all changed.
      const second = sessionStatus(input({ desired: s, container: container(s, 'running'), previous: first, now: T1 }));
      expect(getCondition(second.conditions, 'Ready')?.lastTransitionTime).toBe(T0.toISOString());
      expect(getCondition(second.conditions, 'Reconciling')?.lastTransitionTime).toBe(T0.toISOString());
      expect(second).toEqual(first);

      const third = sessionStatus(input({ desired: s, container: container(s, 'exited', { exitCode: 1 }), previous: second, now: T2 }));
      expect(getCondition(third.conditions, 'Ready')).toMatchObject({ status: 'False', lastTransitionTime: T2.toISOString() });
      expect(getCondition(third.conditions, 'Reconciling')).toMatchObject({ status: 'True', lastTransitionTime: T2.toISOString() });
      expect(getCondition(third.conditions, 'Stalled')?.lastTransitionTime).toBe(T0.toISOString());
    });
  });

  describe('failures and problems', () => {
    const previous: SessionStatus = { phase: 'Running', agent: AGENT, containerID: ID, observedGeneration: 3, restartCount: 0 };

    it('a failure overrides Ready and keeps the previous observedGeneration', () => {
      const s = session({}, 4);
      const status = sessionStatus(
        input({ desired: s, container: container(s, 'running'), failure: { reason: 'EngineUnavailable', message: 'connection refused' }, previous }),
      );
      expect(status.phase).toBe('Running');
      expect(status.observedGeneration).toBe(3);
      expect(status.message).toBe('connection refused');
      expect(getCondition(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'EngineUnavailable', message: 'connection refused' });
      expect(getCondition(status.conditions, 'Reconciling')).toMatchObject({ status: 'True', reason: 'EngineUnavailable' });
    });

    it('a refused newer version: still converging the last valid one, Stalled, observedGeneration kept', () => {
      const s = session({}, 4);
      const problem = { reason: 'InvalidSpec' as const, message: 'web.yaml: spec.ports[0].containerPort: must be <= 65535' };
      const status = sessionStatus(input({ desired: s, container: container(s, 'running'), problem, previous }));
      expect(status.phase).toBe('Running');
      expect(status.observedGeneration).toBe(3);
      expect(status.message).toBe(`container running; ${problem.message}`);
      expect(getCondition(status.conditions, 'Ready')?.status).toBe('True');
      expect(getCondition(status.conditions, 'Stalled')).toMatchObject({
        status: 'True',
        reason: 'InvalidSpec',
        message: `${problem.message} (still running the last valid version)`,
      });
    });

    it('a Session the runtime refuses: Stalled UnsupportedByRuntime, Pending without a container, observedGeneration kept', () => {
      const s = session({ devices: [{ hostPath: '/dev/fuse' }] }, 4);
      const plan: Plan = { key: 'default/web', operations: [], stalled: { reason: 'UnsupportedByRuntime', message: 'spec.devices: Forbidden: not supported with --runtime swarm' } };
      const fresh = sessionStatus(input({ desired: s, plan }));
      expect(fresh.phase).toBe('Pending');
      expect(getCondition(fresh.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'UnsupportedByRuntime' });
      expect(getCondition(fresh.conditions, 'Reconciling')).toMatchObject({ status: 'False', reason: 'UnsupportedByRuntime' });
      expect(getCondition(fresh.conditions, 'Stalled')).toMatchObject({ status: 'True', reason: 'UnsupportedByRuntime', message: plan.stalled?.message });
      expect(fresh.observedGeneration).toBeUndefined();
      const earlier = sessionStatus(input({ desired: s, container: container(session({}), 'running'), upToDate: false, plan, previous }));
      expect(earlier.observedGeneration).toBe(3);
      expect(getCondition(earlier.conditions, 'Stalled')?.message).toBe(`${plan.stalled?.message ?? ''} (the container of the last accepted version, c0ffee000000, keeps running as it was)`);
    });

    it('a Session edited into a policy violation: Stalled PolicyViolation, the old container kept and said so in the message', () => {
      const s = session({ volumes: [{ name: 'd', hostPath: '/var/run/docker.sock' }] }, 4);
      const message = 'spec.volumes[0].hostPath: "/var/run/docker.sock" is the engine socket (--allow-dangerous-host-paths); refused by policy';
      const plan: Plan = { key: 'default/web', operations: [], stalled: { reason: 'PolicyViolation', message } };
      const kept = sessionStatus(input({ desired: s, container: container(session({}), 'running'), upToDate: false, plan, previous }));
      expect(kept.phase).toBe('Running');
      expect(kept.containerID).toBe(container(session({}), 'running').id);
      expect(kept.observedGeneration).toBe(3);
      expect(getCondition(kept.conditions, 'Stalled')).toMatchObject({ status: 'True', reason: 'PolicyViolation' });
      expect(kept.message).toBe(`${message} (the container of the last accepted version, c0ffee000000, keeps running as it was)`);
      const none = sessionStatus(input({ desired: s, plan }));
      expect(none).toMatchObject({ phase: 'Pending', message });
      expect(none.containerID).toBeUndefined();
    });

    it('waits on a network or a file: Pending without a container, the running one kept Ready', () => {
      const s = session({ networks: ['front'] });
      const network: Plan = { key: 'default/web', operations: [], wait: { delayMs: 10_000, reason: 'NetworkNotFound', message: 'spec.networks: the engine has no network front' } };
      const none = sessionStatus(input({ desired: s, plan: network }));
      expect(none.phase).toBe('Pending');
      expect(getCondition(none.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'NetworkNotFound', message: network.wait?.message });
      const outdated = sessionStatus(input({ desired: s, container: container(s, 'running'), upToDate: false, plan: network }));
      expect(getCondition(outdated.conditions, 'Reconciling')).toMatchObject({ status: 'True', reason: 'NetworkNotFound' });

      const file: Plan = { key: 'default/web', operations: [], wait: { delayMs: 10_000, reason: 'EnvFileUnreadable', message: 'spec.env[0] (TOKEN): cannot read /s/t: ENOENT' } };
      const kept = sessionStatus(input({ desired: s, container: container(s, 'running'), upToDate: false, plan: file }));
      expect(kept.phase).toBe('Running');
      expect(getCondition(kept.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'Running' });
      expect(getCondition(kept.conditions, 'Reconciling')).toMatchObject({ status: 'True', reason: 'EnvFileUnreadable', message: file.wait?.message });
    });

    it('a problem and no valid version: Stalled, not Ready, the rest of the previous status kept', () => {
      const problem = { reason: 'MalformedFile' as const, message: 'web.yaml: line 3: bad indentation' };
      const status = sessionStatus(input({ problem, previous }));
      expect(status).toMatchObject({ phase: 'Running', containerID: ID, observedGeneration: 3, message: problem.message, agent: AGENT });
      expect(getCondition(status.conditions, 'Stalled')).toMatchObject({ status: 'True', reason: 'MalformedFile', message: problem.message });
      expect(getCondition(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'MalformedFile' });
      expect(getCondition(status.conditions, 'Reconciling')).toMatchObject({ status: 'False' });

      expect(sessionStatus(input({ problem })).phase).toBe('Pending');
    });
  });
});

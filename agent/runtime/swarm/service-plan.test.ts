// Golden plans for --runtime swarm: services and tasks as the engine returns them, read through
// the runtime's mapping (toServiceDetails), planned by the same pure plan() as containers.
import { describe, expect, it } from 'vitest';
import type { Session } from '../../../crds/types.ts';
import { desiredContainer } from '../../../controllers/session/desired.ts';
import type { PlanInput } from '../../../controllers/session/plan.ts';
import { plan, planToString } from '../../../controllers/session/plan.ts';
import { sessionStatus } from '../../../controllers/session/status.ts';
import type { RawService, RawServiceSpec, RawTask } from './service-mapping.ts';
import { toServiceDetails, toServiceSpec, withReplicas } from './service-mapping.ts';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const AGENT = 'host-a';
const SVC = 'svc0000000000000000000001';

function session(spec: Partial<Session['spec']> = {}): Session {
  return {
    apiVersion: 'dockerlet.dev/v1alpha1',
    kind: 'Session',
    metadata: { name: 'web', namespace: 'default', uid: 'uid-1', generation: 1 },
    spec: { image: 'busybox:1', restartPolicy: 'Always', imagePullPolicy: 'IfNotPresent', state: 'Running', ...spec },
  };
}

/** The service the runtime would have created for `s`, scaled to `replicas`. */
function serviceFor(s: Session, replicas = 1): RawService {
  const spec: RawServiceSpec = withReplicas(toServiceSpec(desiredContainer(s, AGENT), 10), replicas);
  return { ID: SVC, Version: { Index: 42 }, CreatedAt: '2025-12-31T22:00:00Z', Spec: spec };
}

function task(state: string, at: string, extra: Partial<RawTask> = {}): RawTask {
  return {
    ID: `task-${at}`,
    ServiceID: SVC,
    NodeID: 'node-1',
    Slot: 1,
    CreatedAt: at,
    DesiredState: 'running',
    Status: { State: state, Timestamp: at, ContainerStatus: { ContainerID: `c-${at}`, ExitCode: state === 'failed' ? 1 : 0 } },
    ...extra,
  };
}

function planFor(desired: Session | undefined, service: RawService | undefined, tasks: RawTask[] = [], overrides: Partial<PlanInput> = {}): string {
  const containers = service ? [toServiceDetails(service, tasks, { node: 'vm', nodeAddress: '10.0.0.5' })] : [];
  return planToString(
    plan({
      key: 'default/web',
      agent: AGENT,
      desired,
      containers,
      // The swarm runtime answers "present": the node that runs the task pulls.
      imagePresent: true,
      mayDeleteUndesired: true,
      crashLoop: { consecutiveRestarts: 0 },
      now: NOW,
      ...overrides,
    }),
  );
}

const RUNNING = [task('running', '2025-12-31T22:00:01Z')];

describe('service plans (--runtime swarm)', () => {
  it('creates a service (0 replicas) and starts it (scales to 1) when there is none', () => {
    expect(planFor(session(), undefined)).toBe(
      [
        'plan default/web: 2 operation(s)',
        '  - create dockerlet_default_web_host-a (image busybox:1): no container for the Session',
        '  - start <new container>: spec.state is Running',
      ].join('\n'),
    );
  });

  it('adopts a running service whose hash matches: no changes', () => {
    expect(planFor(session(), serviceFor(session()), RUNNING)).toBe('plan default/web: no changes');
  });

  it('scales a service at 0 replicas back up when the Session runs', () => {
    expect(planFor(session(), serviceFor(session(), 0), [task('shutdown', '2025-12-31T22:00:01Z', { DesiredState: 'shutdown' })])).toBe(
      ['plan default/web: 1 operation(s)', `  - start ${SVC.slice(0, 12)}: container created but not started`].join('\n'),
    );
  });

  it('scales to 0 when spec.state is Stopped, and plans nothing once it is', () => {
    const stopped = session({ state: 'Stopped' });
    expect(planFor(stopped, serviceFor(session()), RUNNING)).toBe(
      ['plan default/web: 1 operation(s)', `  - stop ${SVC.slice(0, 12)}: spec.state is Stopped`].join('\n'),
    );
    expect(planFor(stopped, serviceFor(session(), 0), [task('shutdown', '2025-12-31T22:00:01Z', { DesiredState: 'shutdown' })])).toBe('plan default/web: no changes');
  });

  it('recreates the service when the config hash changes (image)', () => {
    expect(planFor(session({ image: 'busybox:2' }), serviceFor(session()), RUNNING)).toBe(
      [
        'plan default/web: 3 operation(s)',
        `  - remove ${SVC.slice(0, 12)}: config-hash changed: image`,
        '  - create dockerlet_default_web_host-a (image busybox:2): config-hash changed: image',
        '  - start <new container>: spec.state is Running',
      ].join('\n'),
    );
  });

  it('updates limits and restart policy in place (same service)', () => {
    expect(planFor(session({ resources: { memory: '64Mi', cpu: '500m' }, restartPolicy: 'Never' }), serviceFor(session()), RUNNING)).toBe(
      [
        'plan default/web: 1 operation(s)',
        `  - update ${SVC.slice(0, 12)}: changed in place: resources.memory unlimited → 64Mi; resources.cpu unlimited → 0.5; restartPolicy unless-stopped → no`,
      ].join('\n'),
    );
  });

  it('waits while Swarm restarts a failed task (restart condition any)', () => {
    const tasks = [task('failed', '2025-12-31T22:00:01Z'), task('ready', '2025-12-31T22:00:07Z')];
    expect(planFor(session(), serviceFor(session()), tasks)).toBe(
      ['plan default/web: no changes', '  wait 1000 ms: EngineRestarting: the engine is restarting the container (exit code 1)'].join('\n'),
    );
  });

  it('leaves a completed task alone under restartPolicy Never, and reports it Completed', () => {
    const never = session({ restartPolicy: 'Never' });
    const tasks = [task('complete', '2025-12-31T22:00:01Z')];
    expect(planFor(never, serviceFor(never), tasks)).toBe('plan default/web: no changes');
    const details = toServiceDetails(serviceFor(never), tasks, { node: 'vm' });
    const status = sessionStatus({ agent: AGENT, desired: never, container: details, upToDate: true, restartCount: 0, now: new Date(NOW) });
    expect(status).toMatchObject({ phase: 'Stopped', node: 'vm', taskState: 'complete', containerID: SVC });
  });

  it('defers removing a service with no Session while adoption runs, then removes it', () => {
    expect(planFor(undefined, serviceFor(session()), RUNNING, { mayDeleteUndesired: false })).toBe(
      [
        'plan default/web: no changes',
        '  wait 5000 ms: DeletionDeferred: no Session in the store, but the store is incomplete or start-up adoption is running; removing nothing',
      ].join('\n'),
    );
    expect(planFor(undefined, serviceFor(session()), RUNNING)).toBe(
      ['plan default/web: 1 operation(s)', `  - remove ${SVC.slice(0, 12)}: no Session default/web in the store`].join('\n'),
    );
  });
});

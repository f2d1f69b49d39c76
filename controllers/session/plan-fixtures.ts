// Shared by the plan golden tests: a Session, the container dockerlet would have created for it,
// and a PlanInput with quiet defaults. Test code only.
import type { Session } from '../../crds/types.ts';
import type { ContainerDetails, ContainerState } from '../runtime/docker-runtime.ts';
import { desiredContainer } from './desired.ts';
import type { EnvFiles } from './env-files.ts';
import type { PlanInput } from './plan.ts';

export const NOW = Date.parse('2026-01-01T00:00:00Z');
export const AGENT = 'host-a';
export const A = 'aaaaaaaaaaaa1111';
export const B = 'bbbbbbbbbbbb2222';

export function session(spec: Partial<Session['spec']> = {}, name = 'web'): Session {
  return {
    apiVersion: 'dockerlet.dev/v1alpha1',
    kind: 'Session',
    metadata: { name, namespace: 'default', uid: 'uid-1', generation: 1 },
    spec: { image: 'busybox:1', restartPolicy: 'Always', imagePullPolicy: 'IfNotPresent', state: 'Running', ...spec },
  };
}

/** A container exactly as dockerlet would have created it for `s`, in the given state. */
export function containerFor(
  s: Session,
  id: string,
  state: ContainerState = 'running',
  extra: Partial<ContainerDetails> = {},
  envFiles?: EnvFiles,
): ContainerDetails {
  const request = desiredContainer(s, AGENT, envFiles);
  return {
    id,
    name: request.name,
    image: request.image,
    state,
    labels: request.labels,
    created: 1000,
    exitCode: 0,
    oomKilled: false,
    startedAt: '2025-12-31T23:00:00Z',
    restartCount: 0,
    memoryBytes: request.memoryBytes,
    nanoCpus: request.nanoCpus,
    restartPolicy: request.restartPolicy,
    ports: [],
    ...extra,
  };
}

export function input(overrides: Partial<PlanInput>): PlanInput {
  return {
    key: 'default/web',
    agent: AGENT,
    containers: [],
    mayDeleteUndesired: true,
    crashLoop: { consecutiveRestarts: 0 },
    now: NOW,
    ...overrides,
  };
}

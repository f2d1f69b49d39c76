// TypeScript shapes of the resources in crds/*.yaml. The YAML is the source of truth; the
// generated interfaces live in crds/generated/ and a unit test keeps them in step.
import type * as GenSession from './generated/session.ts';
import type * as GenAgent from './generated/agent.ts';

export const API_GROUP = 'dockerlet.dev' as const;
export const API_VERSION = 'dockerlet.dev/v1alpha1' as const;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
}

// Resource shapes come from crds/generated/ (hack/gen-types.ts, from the CRD schemas), so they
// cannot drift from what validation accepts. The `as const` lists below are hand-written because
// code needs them at run time; crds/types-compat.ts fails `tsc` if one disagrees with the schema.

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = GenSession.ConditionStatus;
export type Condition = GenSession.Condition;

export type EnvVar = GenSession.EnvVar;

export const PROTOCOLS = ['TCP', 'UDP'] as const;
export type Protocol = GenSession.Protocol;
export type PortSpec = GenSession.PortSpec;

/** Exactly one of hostPath, volume, emptyDir is set (enforced by validation, not by the type). */
export type VolumeSpec = GenSession.VolumeSpec;
export type EmptyDirVolumeSource = GenSession.EmptyDirVolumeSource;
export type MountSpec = GenSession.MountSpec;
export type ResourceSpec = GenSession.ResourceSpec;
export type EnvVarSource = GenSession.EnvVarSource;
export type CapabilitiesSpec = GenSession.CapabilitiesSpec;
export type DeviceSpec = GenSession.DeviceSpec;
export type GpuSpec = GenSession.GpuSpec;
export type LoggingSpec = GenSession.LoggingSpec;
export type UlimitSpec = GenSession.UlimitSpec;
export type TmpfsSpec = GenSession.TmpfsSpec;
export type ExecAction = GenSession.ExecAction;
export type HTTPGetAction = GenSession.HTTPGetAction;
export type TCPSocketAction = GenSession.TCPSocketAction;
/** Any of the three probes (readiness, liveness, startup): one shape, generated three times. */
export type Probe = GenSession.Probe | GenSession.LivenessProbe | GenSession.StartupProbe;

export const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'] as const;
export type RestartPolicy = GenSession.RestartPolicy;
export const IMAGE_PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export type ImagePullPolicy = GenSession.ImagePullPolicy;
export const DESIRED_STATES = ['Running', 'Stopped'] as const;
export type DesiredState = GenSession.DesiredState;

export type SessionSpec = GenSession.SessionSpec;
export type AgentSelector = GenSession.AgentSelector;
export type SessionBinding = GenSession.SessionBinding;

export const SESSION_PHASES = ['Pending', 'Creating', 'Running', 'Stopped', 'Failed', 'Terminating'] as const;
export type SessionPhase = GenSession.SessionPhase;
export type SessionStatus = GenSession.SessionStatus;

export interface Session {
  apiVersion: typeof API_VERSION;
  kind: 'Session';
  metadata: ObjectMeta;
  spec: SessionSpec;
  status?: SessionStatus;
}

export const AGENT_STATES = ['Online', 'Offline'] as const;
export type AgentState = GenAgent.AgentState;
export type AgentSpec = GenAgent.AgentSpec;
export type AgentCapacity = GenAgent.AgentCapacity;
export type AgentAllocated = GenAgent.AgentAllocated;
export type AgentSource = GenAgent.AgentSource;
export type AgentStatus = GenAgent.AgentStatus;

export interface Agent {
  apiVersion: typeof API_VERSION;
  kind: 'Agent';
  metadata: ObjectMeta;
  spec?: AgentSpec;
  status?: AgentStatus;
}

/** A Session's key, "namespace/name", the only thing a reconcile request carries. */
export type ObjectKey = string;

export const DEFAULT_NAMESPACE = 'default';

export function keyOf(meta: Pick<ObjectMeta, 'name' | 'namespace'>): ObjectKey {
  return meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name;
}

export function splitKey(key: ObjectKey): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

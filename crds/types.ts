// TypeScript shapes of the resources in crds/*.yaml. The YAML is the source of truth; the
// generated interfaces live in crds/generated/ and a unit test keeps them in step.
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

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface EnvVar {
  name: string;
  value?: string;
}

export const PROTOCOLS = ['TCP', 'UDP'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface PortSpec {
  containerPort: number;
  hostPort?: number;
  hostIP?: string;
  protocol?: Protocol;
}

export interface VolumeSpec {
  name: string;
  hostPath?: string;
  volume?: string;
  emptyDir?: { sizeLimit?: string };
}

export interface MountSpec {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}

export interface ResourceSpec {
  cpu?: string;
  memory?: string;
}

export const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];
export const IMAGE_PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export type ImagePullPolicy = (typeof IMAGE_PULL_POLICIES)[number];
export const DESIRED_STATES = ['Running', 'Stopped'] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

export interface SessionSpec {
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: PortSpec[];
  volumes?: VolumeSpec[];
  mounts?: MountSpec[];
  resources?: ResourceSpec;
  restartPolicy?: RestartPolicy;
  imagePullPolicy?: ImagePullPolicy;
  state?: DesiredState;
  agent?: string;
  labels?: Record<string, string>;
}

export const SESSION_PHASES = ['Pending', 'Creating', 'Running', 'Stopped', 'Failed', 'Terminating'] as const;
export type SessionPhase = (typeof SESSION_PHASES)[number];

export interface SessionStatus {
  phase?: SessionPhase;
  agent?: string;
  containerID?: string;
  startedAt?: string;
  restartCount?: number;
  observedGeneration?: number;
  endpoints?: string[];
  message?: string;
  conditions?: Condition[];
}

export interface Session {
  apiVersion: typeof API_VERSION;
  kind: 'Session';
  metadata: ObjectMeta;
  spec: SessionSpec;
  status?: SessionStatus;
}

export const AGENT_STATES = ['Online', 'Offline'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

export interface AgentStatus {
  state?: AgentState;
  lastHeartbeatTime?: string;
  leader?: string;
  fencingToken?: number;
  replicas?: string[];
  engineVersion?: string;
  capacity?: { cpus?: number; memoryBytes?: number };
  activeSessions?: number;
  conditions?: Condition[];
}

export interface Agent {
  apiVersion: typeof API_VERSION;
  kind: 'Agent';
  metadata: ObjectMeta;
  spec?: { description?: string };
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

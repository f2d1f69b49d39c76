// Configuration, read in this one place: command-line flags first, then DOCKERLET_* environment
// variables, then defaults. Nothing else in dockerlet reads process.env.
import { hostname, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import { labelValueErrors, qualifiedNameErrors } from '../crds/kube-names.ts';
import { describeStoreSpec, parseStoreSpec } from './sources/store-spec.ts';
import type { StoreSpec } from './sources/store-spec.ts';
import type { HostPolicy } from '../controllers/session/policy.ts';
import { DEFAULT_HOST_PORTS, hostPolicyConfig } from './policy-config.ts';
import type { RawPolicyOptions } from './policy-config.ts';

export const LEADER_ELECTION_BACKENDS = ['none', 'file', 'redis', 'kubernetes', 'swarm'] as const;
export type LeaderElectionBackend = (typeof LEADER_ELECTION_BACKENDS)[number];

/** What a Session runs as: a container on this engine, or a one-replica service of its swarm. */
export const RUNTIMES = ['docker', 'swarm'] as const;
export type RuntimeKind = (typeof RUNTIMES)[number];

export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface CommonConfig {
  /** What --store names: a directory of Session YAML, a Git repository, or the Session CRD on Kubernetes. */
  store: StoreSpec;
  /** Where status and agent records live; never inside a YAML store's directory. */
  stateDir: string;
  /** This agent's name; Sessions with spec.agent set to another name are not ours. */
  agentName: string;
  /** Unix socket of the Docker engine. TCP is refused on purpose: never expose an engine port. */
  dockerSocket: string;
  /** docker: each Session is a container; swarm: a one-replica Swarm service. */
  runtime: RuntimeKind;
}

export interface AgentConfig extends CommonConfig {
  listenHost: string;
  listenPort: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
  workers: number;
  resyncPeriodMs: number;
  reconcileTimeoutMs: number;
  stopTimeoutSeconds: number;
  heartbeatIntervalMs: number;
  /** Git store: how often the remote is fetched (the webhook endpoint fetches at once). */
  gitPollIntervalMs: number;
  /** Let an empty store remove every managed container (off: an empty directory is suspicious). */
  pruneEmptyStore: boolean;
  leaderElection: LeaderElectionBackend;
  /** Directory of the file backend's lock (shared by replicas on one host). */
  lockDir: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Append leadership intervals (token, holder, start, end) to this file, for audits and tests. */
  leaderLedger?: string;
  /** An agent whose heartbeat is older than this is marked Offline. */
  livenessGraceMs: number;
  redis?: RedisConfig;
  /** Kubeconfig file; undefined: the usual places (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  /** kubernetes backend: the coordination.k8s.io/v1 Lease the replicas of this agent compete for. */
  kubeLease?: { namespace: string; name: string };
  /** --store kubernetes: only Sessions in this namespace; undefined watches every namespace. */
  sessionNamespace?: string;
  /** --agent-labels: what a Session's spec.agentSelector is matched against. */
  agentLabels: Record<string, string>;
  /** --max-sessions: the most Sessions the scheduler binds here; undefined is unlimited. */
  maxSessions?: number;
  /** A Session whose agent has been Offline this long is bound elsewhere; 0 never moves it. */
  rescheduleAfterMs: number;
  /** --cordon: the scheduler binds nothing new here. */
  cordon: boolean;
  /** --fleet: the agents with the same fleet name share one scheduler; default derived from the store (agent/fleet.ts). */
  fleet?: string;
  /** The fleet flags given explicitly, for the refusal of a setup that has no fleet (agent/fleet.ts). */
  fleetFlags: string[];
  /** What a Session may take from this host (--allow-*, --max-*); README "Host policy". */
  policy: HostPolicy;
}

/** Default --reschedule-after: a host that is gone for a minute is gone. */
export const DEFAULT_RESCHEDULE_AFTER_MS = 60_000;

export interface RedisConfig {
  url: string;
  password?: string;
  tls: boolean;
  /** host:port of Sentinels; with them, `url` names no server and sentinelName is the master group. */
  sentinels: string[];
  sentinelName?: string;
}

const env = process.env;

function defaultStateDir(): string {
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'dockerlet');
  return process.getuid?.() === 0 ? '/var/lib/dockerlet' : join(homedir(), '.local', 'state', 'dockerlet');
}

/** Agent names end up in labels and resource names: lowercase DNS-1123. */
export function defaultAgentName(): string {
  const cleaned = hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return cleaned || 'dockerlet';
}

/** A socket path, or a unix:// URL as DOCKER_HOST spells it. TCP is refused. */
export function dockerSocketPath(value: string): string {
  if (value.startsWith('unix://')) return value.slice('unix://'.length);
  if (value.startsWith('/')) return value;
  throw new InvalidArgumentError(
    `Docker engine "${value}": only a unix socket (a path or unix://) is supported; dockerlet never talks to an engine over TCP`,
  );
}

function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a positive whole number, got "${value}"`);
    return n;
  };
}

export function durationMs(flag: string) {
  return (value: string): number => {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
    if (!match) throw new InvalidArgumentError(`${flag} must be a duration like 500ms, 30s, 5m; got "${value}"`);
    const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
    const ms = Math.round(Number(match[1]) * factor);
    if (ms <= 0) throw new InvalidArgumentError(`${flag} must be positive; got "${value}"`);
    return ms;
  };
}

/** Like durationMs, but 0 is allowed (it means "never"). */
export function durationOrZeroMs(flag: string) {
  const positive = durationMs(flag);
  return (value: string): number => (/^0+(\.0+)?(ms|s|m|h)?$/.test(value.trim()) ? 0 : positive(value));
}

/** A fleet name goes into Redis keys and a Lease name: letters, digits, '-', '_', '.', at most 63. */
export function fleetName(value: string): string {
  if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(value)) {
    throw new InvalidArgumentError(`--fleet "${value}" must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`);
  }
  return value;
}

/** `zone=a,gpu=true` → {zone: 'a', gpu: 'true'}, each key and value checked as Kubernetes checks labels. */
export function parseAgentLabels(value: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq < 0) throw new InvalidArgumentError(`--agent-labels takes key=value pairs separated by commas, e.g. zone=a,gpu=true; got "${pair}"`);
    const key = pair.slice(0, eq).trim();
    const label = pair.slice(eq + 1).trim();
    const errors = [...qualifiedNameErrors(key).map((e) => `key "${key}": ${e}`), ...labelValueErrors(label).map((e) => `value "${label}": ${e}`)];
    if (errors.length > 0) throw new InvalidArgumentError(`--agent-labels: ${errors.join('; ')}`);
    if (key in labels) throw new InvalidArgumentError(`--agent-labels: key "${key}" is given twice`);
    labels[key] = label;
  }
  return labels;
}

function listenAddress(value: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(value);
  if (!match) throw new InvalidArgumentError(`--listen must be HOST:PORT, e.g. 127.0.0.1:9464; got "${value}"`);
  return { host: (match[1] ?? '').replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(match[2]) };
}

/** Options shared by every command that reads the store or state. */
export function commonOptions(): Option[] {
  return [
    new Option('--store <dir|git:url#ref:path|kubernetes>', 'desired state: a directory of Session YAML (watched recursively), git:<url>[#<ref>][:<path>] for a Git repository the agent clones and polls, or "kubernetes" for Session objects on an API server')
      .env('DOCKERLET_STORE')
      .default('./sessions'),
    new Option('--state-dir <dir>', 'where status is kept (outside the store, so a Git checkout stays clean)')
      .env('DOCKERLET_STATE_DIR')
      .default(defaultStateDir()),
    new Option('--agent-name <name>', 'name of this agent').env('DOCKERLET_AGENT_NAME').default(defaultAgentName()),
    new Option('--docker-socket <path>', 'Docker engine unix socket')
      .env('DOCKERLET_DOCKER_SOCKET')
      .default(env.DOCKER_HOST ?? '/var/run/docker.sock'),
    new Option('--runtime <runtime>', 'what a Session runs as: docker (a container on this engine) or swarm (a one-replica service of the swarm this engine manages)')
      .choices(RUNTIMES)
      .env('DOCKERLET_RUNTIME')
      .default('docker'),
  ];
}

export function agentOptions(): Option[] {
  return [
    new Option('--listen <host:port>', 'address for /metrics, /healthz, /readyz (and POST /git/fetch with a Git store)').env('DOCKERLET_LISTEN').default('127.0.0.1:9464'),
    new Option('--log-format <format>', 'log format').choices(LOG_FORMATS).env('DOCKERLET_LOG_FORMAT').default('text'),
    new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).env('DOCKERLET_LOG_LEVEL').default('info'),
    new Option('--workers <n>', 'Sessions reconciled in parallel').env('DOCKERLET_WORKERS').argParser(positiveInt('--workers')).default(8),
    new Option('--resync-period <duration>', 'full relist of store and engine, the safety net behind events')
      .env('DOCKERLET_RESYNC_PERIOD')
      .argParser(durationMs('--resync-period'))
      .default(60_000, '60s'),
    new Option('--reconcile-timeout <duration>', 'give up on one reconcile after this long (includes image pulls)')
      .env('DOCKERLET_RECONCILE_TIMEOUT')
      .argParser(durationMs('--reconcile-timeout'))
      .default(300_000, '5m'),
    new Option('--stop-timeout <seconds>', 'grace period before a stopped container is killed')
      .env('DOCKERLET_STOP_TIMEOUT')
      .argParser(positiveInt('--stop-timeout'))
      .default(10),
    new Option('--heartbeat-interval <duration>', 'how often the agent record is refreshed')
      .env('DOCKERLET_HEARTBEAT_INTERVAL')
      .argParser(durationMs('--heartbeat-interval'))
      .default(5_000, '5s'),
    new Option('--git-poll-interval <duration>', 'Git store: how often to fetch (POST /git/fetch fetches at once)')
      .env('DOCKERLET_GIT_POLL_INTERVAL')
      .argParser(durationMs('--git-poll-interval'))
      .default(30_000, '30s'),
    new Option('--prune-empty-store', 'allow an empty store to remove every managed container').env('DOCKERLET_PRUNE_EMPTY_STORE').default(false),
    new Option('--leader-election <backend>', 'how replicas pick the one that reconciles (none: a single replica; file: replicas on ONE host; redis: anywhere; kubernetes: a Lease; swarm: replicas of one Swarm service, lease in Swarm itself)')
      .choices(LEADER_ELECTION_BACKENDS)
      .env('DOCKERLET_LEADER_ELECTION'),
    new Option('--lock-dir <dir>', 'file backend: lock directory shared by the replicas on this host (default: --state-dir)').env('DOCKERLET_LOCK_DIR'),
    new Option('--lease-duration <duration>', 'a standby may take over a lease not renewed for this long')
      .env('DOCKERLET_LEASE_DURATION')
      .argParser(durationMs('--lease-duration'))
      .default(15_000, '15s'),
    new Option('--renew-deadline <duration>', 'a leader that could not renew for this long stops reconciling (must be < lease duration)')
      .env('DOCKERLET_RENEW_DEADLINE')
      .argParser(durationMs('--renew-deadline'))
      .default(10_000, '10s'),
    new Option('--retry-period <duration>', 'how often leaders renew and standbys try to acquire')
      .env('DOCKERLET_RETRY_PERIOD')
      .argParser(durationMs('--retry-period'))
      .default(2_000, '2s'),
    new Option('--leader-ledger <file>', 'append every leadership interval (token, holder, start, end) to this file').env('DOCKERLET_LEADER_LEDGER'),
    new Option('--liveness-grace <duration>', 'mark an agent Offline when its heartbeat is older than this (default: 3 heartbeat intervals)')
      .env('DOCKERLET_LIVENESS_GRACE')
      .argParser(durationMs('--liveness-grace')),
    ...fleetOptions(),
    ...policyOptions(),
    ...redisOptions(),
    ...kubeOptions(),
  ];
}

/** A fleet (several agents, one store, shared status): placement by the scheduler. README "Fleet". */
export function fleetOptions(): Option[] {
  return [
    new Option('--agent-labels <key=value,...>', "this agent's labels, matched by a Session's spec.agentSelector (e.g. zone=a,gpu=true)").env('DOCKERLET_AGENT_LABELS').argParser(parseAgentLabels),
    new Option('--max-sessions <n>', 'the most Sessions the scheduler binds to this agent (default: unlimited)').env('DOCKERLET_MAX_SESSIONS').argParser(positiveInt('--max-sessions')),
    new Option('--cordon', 'take no new Sessions (those bound here stay); like `dockerlet cordon`, for as long as the agent runs with it').env('DOCKERLET_CORDON').default(false),
    new Option('--reschedule-after <duration>', 'move the Sessions of an agent that has been Offline this long to other agents (0: never)')
      .env('DOCKERLET_RESCHEDULE_AFTER')
      .argParser(durationOrZeroMs('--reschedule-after')),
    new Option('--fleet <name>', 'the agents that share one store and one scheduler (default: derived from the store: its namespace, directory or Git URL)').env('DOCKERLET_FLEET').argParser(fleetName),
  ];
}

/** The host policy (README "Host policy"): what a Session may take from the host. Privileged is never offered. */
export function policyOptions(): Option[] {
  return [
    new Option('--allow-host-paths <prefix,...>', 'hostPath volumes may name paths under these prefixes (default: none; hostPath refused)').env('DOCKERLET_ALLOW_HOST_PATHS'),
    new Option('--allow-dangerous-host-paths', 'let an allowed prefix reach the engine socket, /, /etc, /proc, /sys or /var/lib/docker (root on the host)').env('DOCKERLET_ALLOW_DANGEROUS_HOST_PATHS').default(false),
    new Option('--allow-host-ports <range,...>', 'host ports a Session may publish, e.g. 8000-8999,443').env('DOCKERLET_ALLOW_HOST_PORTS').default(DEFAULT_HOST_PORTS),
    new Option('--allow-capabilities <cap,...>', "capabilities a Session may add beyond Docker's default set, e.g. NET_ADMIN,SYS_PTRACE (default: none)").env('DOCKERLET_ALLOW_CAPABILITIES'),
    new Option('--allow-devices <prefix,...>', 'host devices a Session may use, by path prefix (e.g. /dev/fuse); "gpus" allows spec.gpus (default: none)').env('DOCKERLET_ALLOW_DEVICES'),
    new Option('--allow-env-files <prefix,...>', "spec.env[].valueFrom.file may read files under these prefixes on the agent's host (default: none)").env('DOCKERLET_ALLOW_ENV_FILES'),
    new Option('--allow-host-network', "let spec.networks name host (the host's network namespace)").env('DOCKERLET_ALLOW_HOST_NETWORK').default(false),
    new Option('--allow-namespaces <ns,...>', 'run only Sessions in these namespaces (default: any)').env('DOCKERLET_ALLOW_NAMESPACES'),
    new Option('--max-cpu <cpu>', 'the most spec.resources.cpu a Session may ask for, e.g. 2 or 500m; a Session without a cpu limit is then refused (default: no maximum)').env('DOCKERLET_MAX_CPU'),
    new Option('--max-memory <quantity>', 'the most spec.resources.memory a Session may ask for, e.g. 4Gi; a Session without a memory limit is then refused (default: no maximum)').env('DOCKERLET_MAX_MEMORY'),
  ];
}

/**
 * Kubernetes: the API server (--store kubernetes, and the Sessions to watch), the kubernetes
 * leader-election backend (a Lease) and Agent records as Agent resources.
 */
export function kubeOptions(): Option[] {
  return [
    new Option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster service account)').env('DOCKERLET_KUBECONFIG'),
    new Option('--namespace <ns>', 'with --store kubernetes: watch Sessions in this namespace only (default: all namespaces)').env('DOCKERLET_NAMESPACE'),
    new Option('--lease-namespace <namespace>', 'kubernetes backend: namespace of the Lease').env('DOCKERLET_LEASE_NAMESPACE').default(DEFAULT_LEASE_NAMESPACE),
    new Option('--lease-name <name>', 'kubernetes backend: name of the Lease (default: dockerlet-<agent name>)').env('DOCKERLET_LEASE_NAME'),
  ];
}

/** Where deploy/kubernetes puts the agent (its ServiceAccount, its Role for Leases). */
export const DEFAULT_LEASE_NAMESPACE = 'dockerlet-system';

/** Redis: shared status for replicas and `dockerlet get`, and the redis leader-election backend. */
export function redisOptions(): Option[] {
  return [
    new Option('--redis <url>', 'keep status and agent records in Redis (redis://host:port/db or rediss:// for TLS)').env('DOCKERLET_REDIS_URL'),
    new Option('--redis-password <password>', 'Redis password (prefer the environment variable)').env('DOCKERLET_REDIS_PASSWORD'),
    new Option('--redis-tls', 'use TLS to Redis (implied by rediss://)').env('DOCKERLET_REDIS_TLS').default(false),
    new Option('--redis-sentinels <host:port,...>', 'Redis Sentinels to find the master through').env('DOCKERLET_REDIS_SENTINELS'),
    new Option('--redis-sentinel-name <name>', 'Sentinel master group name').env('DOCKERLET_REDIS_SENTINEL_NAME').default('mymaster'),
  ];
}

export interface RawCommonOptions {
  store: string;
  stateDir: string;
  agentName: string;
  dockerSocket: string;
  runtime?: RuntimeKind;
}

export interface RawAgentOptions extends RawCommonOptions, RawPolicyOptions {
  listen: string;
  logFormat: LogFormat;
  logLevel: LogLevel;
  workers: number;
  resyncPeriod: number;
  reconcileTimeout: number;
  stopTimeout: number;
  heartbeatInterval: number;
  gitPollInterval: number;
  pruneEmptyStore: boolean | string;
  leaderElection?: LeaderElectionBackend;
  lockDir?: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  leaderLedger?: string;
  livenessGrace?: number;
  kubeconfig?: string;
  leaseNamespace: string;
  leaseName?: string;
  namespace?: string;
  agentLabels?: Record<string, string>;
  maxSessions?: number;
  rescheduleAfter?: number;
  cordon?: boolean | string;
  fleet?: string;
}

export interface RawRedisOptions {
  redis?: string;
  redisPassword?: string;
  redisTls: boolean | string;
  redisSentinels?: string;
  redisSentinelName: string;
}

/**
 * Runs a config builder inside a command's action: a bad value becomes commander's one-line
 * "error: ..." with exit status 2, like a bad flag, instead of a stack trace.
 */
export function configOrExit<T>(command: { error(message: string, options?: { exitCode?: number }): never }, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof InvalidArgumentError) command.error(`error: ${error.message}`, { exitCode: 2 });
    throw error;
  }
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function commonConfig(raw: RawCommonOptions): CommonConfig {
  const store = parseStoreSpec(raw.store);
  const stateDir = resolve(raw.stateDir);
  if (store.kind === 'yaml' && (stateDir === store.dir || stateDir.startsWith(`${store.dir}/`))) {
    throw new InvalidArgumentError(`--state-dir ${stateDir} is inside --store ${store.dir}; keep status outside the watched directory`);
  }
  if (!/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/.test(raw.agentName)) {
    throw new InvalidArgumentError(
      `--agent-name "${raw.agentName}" must be 1-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit (it is used in labels and container names)`,
    );
  }
  return { store, stateDir, agentName: raw.agentName, dockerSocket: dockerSocketPath(raw.dockerSocket), runtime: raw.runtime ?? 'docker' };
}

function truthy(value: boolean | string): boolean {
  return value === true || value === 'true' || value === '1';
}

export function redisConfig(raw: RawRedisOptions): RedisConfig | undefined {
  if (!raw.redis) return undefined;
  if (!/^rediss?:\/\//.test(raw.redis)) throw new InvalidArgumentError(`--redis must be a redis:// or rediss:// URL, got "${raw.redis}"`);
  const sentinels = (raw.redisSentinels ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const config: RedisConfig = { url: raw.redis, tls: truthy(raw.redisTls) || raw.redis.startsWith('rediss://'), sentinels };
  if (raw.redisPassword) config.password = raw.redisPassword;
  if (sentinels.length > 0) config.sentinelName = raw.redisSentinelName;
  return config;
}

export function agentConfig(raw: RawAgentOptions & RawRedisOptions): AgentConfig {
  const listen = listenAddress(raw.listen);
  const common = commonConfig(raw);
  const redis = redisConfig(raw);
  // With Redis configured the replicas can elect through it; otherwise one replica needs nothing.
  const leaderElection = raw.leaderElection ?? (redis ? 'redis' : 'none');
  if (leaderElection === 'redis' && !redis) throw new InvalidArgumentError('--leader-election redis needs --redis <url>');
  const leaseName = raw.leaseName ?? `dockerlet-${common.agentName}`;
  if (!DNS1123_SUBDOMAIN.test(leaseName)) {
    throw new InvalidArgumentError(`--lease-name "${leaseName}" must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253 characters`);
  }
  if (!DNS1123_LABEL.test(raw.leaseNamespace)) {
    throw new InvalidArgumentError(`--lease-namespace "${raw.leaseNamespace}" must be a namespace name: 1-63 lowercase letters, digits or '-'`);
  }
  if (!(raw.renewDeadline < raw.leaseDuration)) {
    throw new InvalidArgumentError(`--renew-deadline (${raw.renewDeadline} ms) must be shorter than --lease-duration (${raw.leaseDuration} ms)`);
  }
  if (!(raw.retryPeriod < raw.renewDeadline)) {
    throw new InvalidArgumentError(`--retry-period (${raw.retryPeriod} ms) must be shorter than --renew-deadline (${raw.renewDeadline} ms)`);
  }
  const config: AgentConfig = {
    ...common,
    leaderElection,
    lockDir: resolve(raw.lockDir ?? common.stateDir),
    leaseDurationMs: raw.leaseDuration,
    renewDeadlineMs: raw.renewDeadline,
    retryPeriodMs: raw.retryPeriod,
    livenessGraceMs: raw.livenessGrace ?? 3 * raw.heartbeatInterval,
    ...commonConfig(raw),
    listenHost: listen.host,
    listenPort: listen.port,
    logFormat: raw.logFormat,
    logLevel: raw.logLevel,
    workers: raw.workers,
    resyncPeriodMs: raw.resyncPeriod,
    reconcileTimeoutMs: raw.reconcileTimeout,
    stopTimeoutSeconds: raw.stopTimeout,
    heartbeatIntervalMs: raw.heartbeatInterval,
    gitPollIntervalMs: raw.gitPollInterval,
    pruneEmptyStore: truthy(raw.pruneEmptyStore),
    kubeLease: { namespace: raw.leaseNamespace, name: leaseName },
    agentLabels: raw.agentLabels ?? {},
    rescheduleAfterMs: raw.rescheduleAfter ?? DEFAULT_RESCHEDULE_AFTER_MS,
    cordon: truthy(raw.cordon ?? false),
    policy: hostPolicyConfig(raw, common.dockerSocket),
    fleetFlags: [
      ...(raw.agentLabels !== undefined ? ['--agent-labels'] : []),
      ...(raw.maxSessions !== undefined ? ['--max-sessions'] : []),
      ...(raw.rescheduleAfter !== undefined ? ['--reschedule-after'] : []),
      ...(truthy(raw.cordon ?? false) ? ['--cordon'] : []),
      ...(raw.fleet !== undefined ? ['--fleet'] : []),
    ],
  };
  if (raw.fleet !== undefined) config.fleet = raw.fleet;
  if (raw.maxSessions !== undefined) config.maxSessions = raw.maxSessions;
  if (raw.kubeconfig) config.kubeconfig = resolve(raw.kubeconfig);
  if (raw.leaderLedger) config.leaderLedger = resolve(raw.leaderLedger);
  if (redis) config.redis = redis;
  const sessionNamespace = sessionNamespaceOf(common.store, raw.namespace);
  if (sessionNamespace) config.sessionNamespace = sessionNamespace;
  return config;
}

/** `--namespace` picks the Sessions of `--store kubernetes`; with a YAML store it is a mistake. */
export function sessionNamespaceOf(store: StoreSpec, namespace: string | undefined): string | undefined {
  if (namespace === undefined || namespace === '') return undefined;
  if (store.kind !== 'kubernetes') {
    throw new InvalidArgumentError(`--namespace is only used with --store kubernetes (with --store ${describeStoreSpec(store)}, the files name their namespaces)`);
  }
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) {
    throw new InvalidArgumentError(`--namespace "${namespace}" is not a namespace name (1-63 lowercase letters, digits or '-')`);
  }
  return namespace;
}

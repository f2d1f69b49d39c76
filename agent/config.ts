// Configuration, read in this one place: command-line flags first, then DOCKERLET_* environment
// variables, then defaults. Nothing else in dockerlet reads process.env.
import { hostname, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';

export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface CommonConfig {
  /** Directory of Session YAML (the desired state). */
  storeDir: string;
  /** Where status and agent records live; never inside storeDir. */
  stateDir: string;
  /** This agent's name; Sessions with spec.agent set to another name are not ours. */
  agentName: string;
  /** Unix socket of the Docker engine. TCP is refused on purpose: never expose an engine port. */
  dockerSocket: string;
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
  /** Let an empty store remove every managed container (off: an empty directory is suspicious). */
  pruneEmptyStore: boolean;
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

function durationMs(flag: string) {
  return (value: string): number => {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
    if (!match) throw new InvalidArgumentError(`${flag} must be a duration like 500ms, 30s, 5m; got "${value}"`);
    const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
    return Math.round(Number(match[1]) * factor);
  };
}

function listenAddress(value: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(value);
  if (!match) throw new InvalidArgumentError(`--listen must be HOST:PORT, e.g. 127.0.0.1:9464; got "${value}"`);
  return { host: (match[1] ?? '').replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(match[2]) };
}

/** Options shared by every command that reads the store or state. */
export function commonOptions(): Option[] {
  return [
    new Option('--store <dir>', 'directory of Session YAML (watched recursively)').env('DOCKERLET_STORE').default('./sessions'),
    new Option('--state-dir <dir>', 'where status is kept (outside the store, so a Git checkout stays clean)')
      .env('DOCKERLET_STATE_DIR')
      .default(defaultStateDir()),
    new Option('--agent-name <name>', 'name of this agent').env('DOCKERLET_AGENT_NAME').default(defaultAgentName()),
    new Option('--docker-socket <path>', 'Docker engine unix socket')
      .env('DOCKERLET_DOCKER_SOCKET')
      .default(env.DOCKER_HOST ?? '/var/run/docker.sock'),
  ];
}

export function agentOptions(): Option[] {
  return [
    new Option('--listen <host:port>', 'address for /metrics, /healthz and /readyz').env('DOCKERLET_LISTEN').default('127.0.0.1:9464'),
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
    new Option('--prune-empty-store', 'allow an empty store to remove every managed container').env('DOCKERLET_PRUNE_EMPTY_STORE').default(false),
  ];
}

export interface RawCommonOptions {
  store: string;
  stateDir: string;
  agentName: string;
  dockerSocket: string;
}

export interface RawAgentOptions extends RawCommonOptions {
  listen: string;
  logFormat: LogFormat;
  logLevel: LogLevel;
  workers: number;
  resyncPeriod: number;
  reconcileTimeout: number;
  stopTimeout: number;
  heartbeatInterval: number;
  pruneEmptyStore: boolean | string;
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

export function commonConfig(raw: RawCommonOptions): CommonConfig {
  const storeDir = resolve(raw.store);
  const stateDir = resolve(raw.stateDir);
  if (stateDir === storeDir || stateDir.startsWith(`${storeDir}/`)) {
    throw new InvalidArgumentError(`--state-dir ${stateDir} is inside --store ${storeDir}; keep status outside the watched directory`);
  }
  if (!/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/.test(raw.agentName)) {
    throw new InvalidArgumentError(
      `--agent-name "${raw.agentName}" must be 1-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit (it is used in labels and container names)`,
    );
  }
  return { storeDir, stateDir, agentName: raw.agentName, dockerSocket: dockerSocketPath(raw.dockerSocket) };
}

export function agentConfig(raw: RawAgentOptions): AgentConfig {
  const listen = listenAddress(raw.listen);
  return {
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
    pruneEmptyStore: raw.pruneEmptyStore === true || raw.pruneEmptyStore === 'true' || raw.pruneEmptyStore === '1',
  };
}

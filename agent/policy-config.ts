// The --allow-* and --max-* flags (README "Host policy") turned into the HostPolicy the session
// controller and `dockerlet validate --policy` judge Sessions by. Parsing only: the flags and their
// environment variables are declared in config.ts, the rules live in controllers/session/policy.ts.
import { realpath } from 'node:fs/promises';
import { posix } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { QuantityError, parseCpuToNanoCpus, parseMemoryToBytes } from '../crds/quantity.ts';
import { GPUS_DEVICE_ENTRY, defaultHostPolicy } from '../controllers/session/policy.ts';
import type { HostPolicy, PortRange } from '../controllers/session/policy.ts';

export interface RawPolicyOptions {
  allowHostPaths?: string;
  allowDangerousHostPaths?: boolean | string;
  allowHostPorts?: string;
  allowCapabilities?: string;
  allowDevices?: string;
  allowEnvFiles?: string;
  allowHostNetwork?: boolean | string;
  allowNamespaces?: string;
  maxCpu?: string;
  maxMemory?: string;
}

/** The default of --allow-host-ports: the unprivileged ports, as Kubernetes' baseline suggests. */
export const DEFAULT_HOST_PORTS = '1024-65535';

function items(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function flagOn(value: boolean | string | undefined): boolean {
  return value === true || value === 'true' || value === '1';
}

/** Absolute prefixes, normalised (`/srv/data/` → `/srv/data`); `..` is refused rather than resolved. */
function prefixes(flag: string, value: string | undefined): string[] {
  return items(value).map((p) => {
    if (!p.startsWith('/')) throw new InvalidArgumentError(`${flag}: "${p}" is not an absolute path; give host path prefixes like /srv/sessions`);
    if (p.split('/').includes('..')) throw new InvalidArgumentError(`${flag}: "${p}" contains ".."; give the prefix as it is`);
    return posix.normalize(p).replace(/(.)\/+$/, '$1');
  });
}

/** `1024-65535`, `80,443,8000-8999`. */
export function parsePortRanges(value: string): PortRange[] {
  const flag = '--allow-host-ports';
  const ranges = items(value).map((part) => {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!match) throw new InvalidArgumentError(`${flag} takes ports and ranges like 1024-65535 or 80,443,8000-8999; got "${part}"`);
    const min = Number(match[1]);
    const max = Number(match[2] ?? match[1]);
    if (min < 1 || max > 65535 || min > max) throw new InvalidArgumentError(`${flag}: "${part}" must be within 1-65535, low end first`);
    return { min, max };
  });
  if (ranges.length === 0) throw new InvalidArgumentError(`${flag} needs at least one port or range (e.g. 1024-65535)`);
  return ranges;
}

function capabilities(value: string | undefined): string[] {
  return items(value).map((raw) => {
    const cap = raw.toUpperCase().replace(/^CAP_/, '');
    if (cap === 'ALL') throw new InvalidArgumentError('--allow-capabilities: ALL is not offered (it is privileged in all but name); list the capabilities');
    if (!/^[A-Z_]+$/.test(cap)) throw new InvalidArgumentError(`--allow-capabilities: "${raw}" is not a capability name (e.g. NET_ADMIN,SYS_PTRACE)`);
    return cap;
  });
}

function devices(value: string | undefined): string[] {
  return items(value).flatMap((d) => (d === GPUS_DEVICE_ENTRY ? [d] : prefixes('--allow-devices', d)));
}

function namespaces(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return items(value).map((ns) => {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns)) throw new InvalidArgumentError(`--allow-namespaces: "${ns}" is not a namespace name (1-63 lowercase letters, digits or '-')`);
    return ns;
  });
}

function quantity<T>(flag: string, value: string | undefined, parse: (q: string) => T, example: string): T | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    return parse(value.trim());
  } catch (error) {
    if (error instanceof QuantityError) throw new InvalidArgumentError(`${flag}: ${error.message} (e.g. ${example})`);
    throw error;
  }
}

export function hostPolicyConfig(raw: RawPolicyOptions, engineSocket: string): HostPolicy {
  const policy: HostPolicy = {
    ...defaultHostPolicy(engineSocket),
    hostPathPrefixes: prefixes('--allow-host-paths', raw.allowHostPaths),
    allowDangerousHostPaths: flagOn(raw.allowDangerousHostPaths),
    hostPorts: parsePortRanges(raw.allowHostPorts ?? DEFAULT_HOST_PORTS),
    capabilities: capabilities(raw.allowCapabilities),
    devices: devices(raw.allowDevices),
    envFilePrefixes: prefixes('--allow-env-files', raw.allowEnvFiles),
    allowHostNetwork: flagOn(raw.allowHostNetwork),
  };
  const ns = namespaces(raw.allowNamespaces);
  if (ns) policy.namespaces = ns;
  const cpu = quantity('--max-cpu', raw.maxCpu, parseCpuToNanoCpus, '2, 500m');
  if (cpu !== undefined) policy.maxNanoCpus = cpu;
  const memory = quantity('--max-memory', raw.maxMemory, parseMemoryToBytes, '4Gi, 512Mi');
  if (memory !== undefined) policy.maxMemoryBytes = memory;
  return policy;
}

/**
 * The engine socket as the host resolves it (/var/run is often a link to /run): a Session's path
 * is judged after its symlinks are followed, so the socket must be compared in the same form.
 */
export async function resolveEngineSocket(policy: HostPolicy): Promise<HostPolicy> {
  const real = await realpath(policy.engineSocket).catch(() => policy.engineSocket);
  return real === policy.engineSocket ? policy : { ...policy, engineSocket: real };
}

/** One line per rule in force, for the start-up log and `validate --policy`. */
export function describeHostPolicy(policy: HostPolicy): Record<string, string> {
  const list = (xs: readonly string[]): string => (xs.length === 0 ? 'none' : xs.join(','));
  return {
    hostPaths: list(policy.hostPathPrefixes),
    dangerousHostPaths: policy.allowDangerousHostPaths ? 'allowed' : 'refused',
    hostPorts: policy.hostPorts.map((r) => (r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`)).join(','),
    capabilities: list(policy.capabilities),
    devices: list(policy.devices),
    envFiles: list(policy.envFilePrefixes),
    hostNetwork: policy.allowHostNetwork ? 'allowed' : 'refused',
    namespaces: policy.namespaces ? list(policy.namespaces) : 'any',
    maxCpu: policy.maxNanoCpus === undefined ? 'unlimited' : `${policy.maxNanoCpus / 1e9}`,
    maxMemory: policy.maxMemoryBytes === undefined ? 'unlimited' : `${policy.maxMemoryBytes} bytes`,
  };
}

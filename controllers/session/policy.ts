// The agent's host-safety policy (issue 14): what a Session may take from the Docker host it runs
// on. Pure: paths are judged as given and, where observe resolved their symlinks, as resolved
// (resolution is I/O and happens outside). One message per violation, naming the field path and
// the rule, e.g. `spec.volumes[0].hostPath: "/var/run/docker.sock" is the engine socket; refused by policy`.
import { posix } from 'node:path';
import type { Session } from '../../crds/types.ts';
import { DEFAULT_NAMESPACE } from '../../crds/types.ts';
import { parseCpuToNanoCpus, parseMemoryToBytes } from '../../crds/quantity.ts';
import type { FieldProblem } from '../../crds/problems.ts';

export interface PortRange {
  min: number;
  max: number;
}

export interface HostPolicy {
  /** Host path prefixes a hostPath volume may name; empty: hostPath volumes are refused. */
  hostPathPrefixes: readonly string[];
  /** Let an allowed prefix reach the engine socket, /, /etc, /proc, /sys, /var/lib/docker. */
  allowDangerousHostPaths: boolean;
  /** The engine socket this agent talks to (refused like /var/run/docker.sock). */
  engineSocket: string;
  hostPorts: readonly PortRange[];
  /** Capabilities a Session may add beyond Docker's default set. */
  capabilities: readonly string[];
  /** Device path prefixes; the entry "gpus" also allows spec.gpus. */
  devices: readonly string[];
  maxNanoCpus?: number;
  maxMemoryBytes?: number;
  /** Only Sessions in these namespaces; undefined: any. */
  namespaces?: readonly string[];
  /** Path prefixes spec.env[].valueFrom.file may read on the agent's host; empty: none (the agent would read /proc/self/environ for anyone). */
  envFilePrefixes: readonly string[];
  /** Let spec.networks name `host`: the host's network namespace (its loopback, every port). */
  allowHostNetwork: boolean;
}

/** Docker's default capability set (moby's oci/caps/defaults.go): adding one of these changes nothing. */
export const DOCKER_DEFAULT_CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID',
  'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE',
] as const;

/** Host directories that hand out the host when mounted (or anything that contains them). */
export const DANGEROUS_HOST_PATHS = ['/etc', '/proc', '/sys', '/var/lib/docker'] as const;

export const GPUS_DEVICE_ENTRY = 'gpus';
const HOST_NETWORK = 'host';

export function defaultHostPolicy(engineSocket: string): HostPolicy {
  return {
    hostPathPrefixes: [],
    allowDangerousHostPaths: false,
    engineSocket,
    hostPorts: [{ min: 1024, max: 65535 }],
    capabilities: [],
    devices: [],
    envFilePrefixes: [],
    allowHostNetwork: false,
  };
}

/** What observe found a path to resolve to (symlinks followed), or why it could not. */
export type ResolvedPath = { ok: true; path: string } | { ok: false; error: string };

function under(path: string, prefix: string): boolean {
  const p = prefix === '/' ? '/' : prefix.replace(/\/+$/, '');
  return p === '/' || path === p || path.startsWith(`${p}/`);
}

/** Why a host path is dangerous whatever the prefixes say, or undefined. */
function dangerous(path: string, socket: string): string | undefined {
  if (path === '/') return 'is the host root filesystem';
  for (const s of new Set([socket, '/var/run/docker.sock', '/run/docker.sock'])) {
    if (path === s) return 'is the engine socket';
    if (under(s, path)) return `contains the engine socket ${s}`;
  }
  for (const d of DANGEROUS_HOST_PATHS) {
    if (under(path, d)) return `is under ${d}, a host system directory`;
    if (under(d, path)) return `contains ${d}, a host system directory`;
  }
  return undefined;
}

function listed(items: readonly string[]): string {
  return items.length === 0 ? 'none' : items.join(',');
}

function judgePath(field: string, raw: string, allowed: readonly string[], flag: string, policy: HostPolicy, resolved?: ResolvedPath): string[] {
  const refused = (why: string): string[] => [`${field}: ${JSON.stringify(raw)} ${why}; refused by policy`];
  if (!raw.startsWith('/')) return refused('is not an absolute path');
  if (resolved && !resolved.ok) return refused(`cannot be resolved (${resolved.error})`);
  const literal = posix.normalize(raw);
  const candidates = [literal, ...(resolved?.ok && resolved.path !== literal ? [resolved.path] : [])];
  for (const path of candidates) {
    const via = path === literal ? '' : `resolves to ${JSON.stringify(path)}, which `;
    const danger = dangerous(path, policy.engineSocket);
    if (danger && !policy.allowDangerousHostPaths) return refused(`${via}${danger} (--allow-dangerous-host-paths)`);
    if (!allowed.some((prefix) => under(path, prefix))) return refused(`${via}is not under ${flag} (${listed(allowed)})`);
  }
  return [];
}

function describeRanges(ranges: readonly PortRange[]): string {
  return ranges.length === 0 ? 'none' : ranges.map((r) => (r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`)).join(',');
}

/** Every way the Session breaks the policy; empty when it keeps to it. */
export function policyViolations(policy: HostPolicy, session: Session, resolved: ReadonlyMap<string, ResolvedPath> = new Map()): string[] {
  const spec = session.spec;
  const out: string[] = [];
  const namespace = session.metadata.namespace ?? DEFAULT_NAMESPACE;
  if (policy.namespaces && !policy.namespaces.includes(namespace)) {
    out.push(`metadata.namespace: ${JSON.stringify(namespace)} is not in --allow-namespaces (${listed(policy.namespaces)}); refused by policy`);
  }
  (spec.networks ?? []).forEach((n, i) => {
    if (n === HOST_NETWORK && !policy.allowHostNetwork) {
      out.push(`spec.networks[${i}]: "host" shares the host's network namespace (--allow-host-network); refused by policy`);
    }
  });
  (spec.volumes ?? []).forEach((v, i) => {
    if (v.hostPath !== undefined) out.push(...judgePath(`spec.volumes[${i}].hostPath`, v.hostPath, policy.hostPathPrefixes, '--allow-host-paths', policy, resolved.get(v.hostPath)));
  });
  (spec.ports ?? []).forEach((p, i) => {
    if (p.hostPort === undefined) return;
    const port = p.hostPort;
    if (!policy.hostPorts.some((r) => port >= r.min && port <= r.max)) {
      out.push(`spec.ports[${i}].hostPort: ${port} is outside --allow-host-ports (${describeRanges(policy.hostPorts)}); refused by policy`);
    }
  });
  const defaults: readonly string[] = DOCKER_DEFAULT_CAPABILITIES;
  (spec.capabilities?.add ?? []).forEach((cap, i) => {
    if (!defaults.includes(cap) && !policy.capabilities.includes(cap)) {
      out.push(`spec.capabilities.add[${i}]: ${JSON.stringify(cap)} is not in Docker's default set nor in --allow-capabilities (${listed(policy.capabilities)}); refused by policy`);
    }
  });
  const devicePrefixes = policy.devices.filter((d) => d !== GPUS_DEVICE_ENTRY);
  (spec.devices ?? []).forEach((d, i) => {
    out.push(...judgePath(`spec.devices[${i}].hostPath`, d.hostPath, devicePrefixes, '--allow-devices', { ...policy, allowDangerousHostPaths: true }, resolved.get(d.hostPath)));
  });
  // The agent reads these files itself (as root, often): judged like a hostPath before any read.
  (spec.env ?? []).forEach((e, i) => {
    if (e.valueFrom) out.push(...judgePath(`spec.env[${i}].valueFrom.file`, e.valueFrom.file, policy.envFilePrefixes, '--allow-env-files', policy, resolved.get(e.valueFrom.file)));
  });
  if (spec.gpus && !policy.devices.includes(GPUS_DEVICE_ENTRY)) {
    out.push(`spec.gpus: GPUs are not allowed (--allow-devices ${GPUS_DEVICE_ENTRY}); refused by policy`);
  }
  const { cpu, memory } = spec.resources ?? {};
  if (policy.maxNanoCpus !== undefined) {
    if (!cpu) out.push(`spec.resources.cpu: unset (unlimited) but --max-cpu is ${policy.maxNanoCpus / 1e9}; set a limit; refused by policy`);
    else if (parseCpuToNanoCpus(cpu) > policy.maxNanoCpus) out.push(`spec.resources.cpu: ${JSON.stringify(cpu)} exceeds --max-cpu ${policy.maxNanoCpus / 1e9}; refused by policy`);
  }
  if (policy.maxMemoryBytes !== undefined) {
    if (!memory) out.push(`spec.resources.memory: unset (unlimited) but --max-memory is ${policy.maxMemoryBytes} bytes; set a limit; refused by policy`);
    else if (parseMemoryToBytes(memory) > policy.maxMemoryBytes) out.push(`spec.resources.memory: ${JSON.stringify(memory)} exceeds --max-memory ${policy.maxMemoryBytes} bytes; refused by policy`);
  }
  return out;
}

/** The same violations with their field paths apart, for `dockerlet validate --policy` to place them at a file's line. */
export function policyProblems(policy: HostPolicy, session: Session, resolved?: ReadonlyMap<string, ResolvedPath>): FieldProblem[] {
  // Every message above starts with "<field path>: ", and no field path holds ": ".
  return policyViolations(policy, session, resolved).map((message) => ({ fieldPath: message.slice(0, message.indexOf(': ')), message }));
}

/** Host paths whose symlinks observe must resolve before policyViolations judges them. */
export function policyPaths(session: Session): string[] {
  const spec = session.spec;
  return [
    ...new Set([
      ...(spec.volumes ?? []).flatMap((v) => (v.hostPath !== undefined ? [v.hostPath] : [])),
      ...(spec.devices ?? []).map((d) => d.hostPath),
      ...(spec.env ?? []).flatMap((e) => (e.valueFrom ? [e.valueFrom.file] : [])),
    ]),
  ];
}

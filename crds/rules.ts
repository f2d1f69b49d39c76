// Cross-field rules that the openAPIV3Schema alone cannot express. Each one is mirrored as a CEL
// rule in `x-kubernetes-validations` on spec in crds/session.yaml (its message starts with the
// rule's id), so the API server enforces it too; crds/cel-rules.test.ts keeps the two lists in
// step and test/integration/kube-validation.test.ts checks both verdicts agree on the real server.
// They run only on a spec that already passed the schema, so they can rely on its types and defaults.
//
// Not here because the schema already says it (enforced in structural.ts, natively by the API
// server): env names and volume names are unique (`x-kubernetes-list-type: map` keyed by name);
// exactly one source per volume (`oneOf`).
import type { SessionSpec } from './types.ts';
import { labelValueErrors, qualifiedNameErrors } from './kube-names.ts';
import { problem } from './problems.ts';
import { QuantityError, parseCpuToNanoCpus, parseMemoryToBytes } from './quantity.ts';
import type { FieldProblem } from './problems.ts';

export const RESERVED_LABEL_PREFIX = 'dockerlet.dev/';

export interface Rule<Spec> {
  /** Stable identifier; the CEL mirror starts its message with it. */
  id: string;
  check(spec: Spec): FieldProblem[];
}

// A mount of a volume that is not declared cannot be built into a container (Docker would need a
// source); the API server accepts it unless we say so.
const mountsNameVolumes: Rule<SessionSpec> = {
  id: 'mount-names-a-volume',
  check(spec) {
    const volumes = new Set((spec.volumes ?? []).map((v) => v.name));
    return (spec.mounts ?? []).flatMap((m, i) =>
      volumes.has(m.name)
        ? []
        : [problem.notFound(['spec', 'mounts', i, 'name'], m.name, 'must name an entry of spec.volumes')],
    );
  },
};

// Docker refuses to create a container that publishes the same host port twice for one protocol
// ("port is already allocated"). Stricter than Docker on purpose: different hostIPs with the same
// port are rejected too, which keeps the rule simple and the CEL mirror a one-liner.
const hostPortsUnique: Rule<SessionSpec> = {
  id: 'host-port-unique-per-protocol',
  check(spec) {
    const seen = new Map<string, number>();
    return (spec.ports ?? []).flatMap((p, i) => {
      if (p.hostPort === undefined) return [];
      const key = `${p.hostPort}/${p.protocol ?? 'TCP'}`;
      const first = seen.get(key);
      if (first === undefined) {
        seen.set(key, i);
        return [];
      }
      return [
        problem.duplicate(
          ['spec', 'ports', i, 'hostPort'],
          p.hostPort,
          `host port ${key} is already published by spec.ports[${first}]`,
        ),
      ];
    });
  },
};

// Docker refuses two mounts on one path ("Duplicate mount point"); better to say so at apply time
// than as a Stalled condition after the fact.
const mountPathsUnique: Rule<SessionSpec> = {
  id: 'mount-path-unique',
  check(spec) {
    const seen = new Map<string, number>();
    return (spec.mounts ?? []).flatMap((m, i) => {
      const path = trimSlashes(m.mountPath);
      const first = seen.get(path);
      if (first === undefined) {
        seen.set(path, i);
        return [];
      }
      return [
        problem.duplicate(['spec', 'mounts', i, 'mountPath'], m.mountPath, `already mounted by spec.mounts[${first}]`),
      ];
    });
  },
};

// Ownership is decided by the dockerlet.dev/ labels on a container (managed-by, uid, config-hash...).
// Letting a user set them could make the agent adopt, or delete, the wrong container.
const reservedLabels: Rule<SessionSpec> = {
  id: 'reserved-label-prefix',
  check(spec) {
    return Object.keys(spec.labels ?? {})
      .filter((key) => key.startsWith(RESERVED_LABEL_PREFIX))
      .map((key) =>
        problem.invalid(
          ['spec', 'labels', key],
          key,
          `the prefix "${RESERVED_LABEL_PREFIX}" is reserved for labels that dockerlet sets`,
        ),
      );
  },
};

// A pinned Session is never placed by the scheduler, so a selector beside the pin would be a
// promise nobody keeps: say so rather than silently ignore one of the two.
const agentOrSelector: Rule<SessionSpec> = {
  id: 'agent-or-agent-selector',
  check(spec) {
    if (spec.agent === undefined || spec.agentSelector === undefined) return [];
    return [problem.forbidden(['spec', 'agentSelector'], 'may not be set together with spec.agent (a pinned Session is never placed by the scheduler)')];
  },
};

// Selector entries are compared with Agent labels, which --agent-labels checks as Kubernetes label
// keys and values: an entry no agent could ever carry would leave the Session Unschedulable forever.
const agentSelectorLabels: Rule<SessionSpec> = {
  id: 'agent-selector-labels',
  check(spec) {
    return Object.entries(spec.agentSelector?.matchLabels ?? {}).flatMap(([key, value]) => {
      const path = ['spec', 'agentSelector', 'matchLabels', key] as const;
      const keyErrors = qualifiedNameErrors(key);
      if (keyErrors.length > 0) return [problem.invalid(path, key, keyErrors.join('; '))];
      const valueErrors = labelValueErrors(value);
      return valueErrors.length > 0 ? [problem.invalid(path, value, valueErrors.join('; '))] : [];
    });
  },
};

// The schema defaults `value` to "", so a file-sourced entry has value "" too; only a non-empty
// value next to valueFrom is two sources for one variable.
const envOneSource: Rule<SessionSpec> = {
  id: 'env-value-or-value-from',
  check(spec) {
    return (spec.env ?? []).flatMap((e, i) =>
      e.valueFrom !== undefined && (e.value ?? '') !== ''
        ? [problem.invalid(['spec', 'env', i, 'value'], e.value, 'set value or valueFrom, not both')]
        : [],
    );
  },
};

// "host" shares the host's network namespace and "none" has none: the engine cannot attach a
// container in either mode to another network as well.
const SPECIAL_NETWORKS: ReadonlySet<string> = new Set(['host', 'none']);
const specialNetworkAlone: Rule<SessionSpec> = {
  id: 'special-network-alone',
  check(spec) {
    const networks = spec.networks ?? [];
    if (networks.length <= 1) return [];
    return networks.flatMap((n, i) =>
      SPECIAL_NETWORKS.has(n) ? [problem.invalid(['spec', 'networks', i], n, `the network ${n} must be the only entry of spec.networks`)] : [],
    );
  },
};

// The engine refuses two devices at one container path only when it starts the container.
const devicePathsUnique: Rule<SessionSpec> = {
  id: 'device-path-unique',
  check(spec) {
    const seen = new Map<string, number>();
    return (spec.devices ?? []).flatMap((d, i) => {
      const path = d.containerPath ?? d.hostPath;
      const first = seen.get(path);
      if (first === undefined) {
        seen.set(path, i);
        return [];
      }
      return [problem.duplicate(['spec', 'devices', i, 'containerPath'], path, `already used by spec.devices[${first}]`)];
    });
  },
};

// setrlimit(2) fails with EINVAL when soft > hard, at container start: say so at apply time.
const ulimitSoftWithinHard: Rule<SessionSpec> = {
  id: 'ulimit-soft-within-hard',
  check(spec) {
    return (spec.ulimits ?? []).flatMap((u, i) => {
      if (u.hard === -1 || (u.soft >= 0 && u.soft <= u.hard)) return [];
      return [problem.invalid(['spec', 'ulimits', i, 'soft'], u.soft, `must not exceed hard (${u.hard}); -1 is unlimited`)];
    });
  },
};

// A tmpfs on a path that spec.mounts also uses is a "Duplicate mount point" at create.
const tmpfsPathFree: Rule<SessionSpec> = {
  id: 'tmpfs-path-free',
  check(spec) {
    const mounted = new Map((spec.mounts ?? []).map((m, i) => [trimSlashes(m.mountPath), i]));
    return (spec.tmpfs ?? []).flatMap((t, i) => {
      const other = mounted.get(trimSlashes(t.mountPath));
      return other === undefined
        ? []
        : [problem.duplicate(['spec', 'tmpfs', i, 'mountPath'], t.mountPath, `already mounted by spec.mounts[${other}]`)];
    });
  },
};

// A `..` segment in a host path makes what a reader of the manifest sees differ from what the
// agent's host policy judges (the normalised path): /srv/sessions/../../etc is /etc. Refused at
// apply time; the agent's policy stays the authority (it normalises and follows symlinks too).
// Paths are absolute (the schema's pattern), so a `..` segment is "/../" inside or "/.." at the end.
function hasDotDot(path: string): boolean {
  return path.includes('/../') || path.endsWith('/..');
}

function noDotDot(id: string, list: 'volumes' | 'devices' | 'env', field: readonly (string | number)[], pathOf: (spec: SessionSpec, i: number) => string | undefined): Rule<SessionSpec> {
  return {
    id,
    check(spec) {
      const items = spec[list] ?? [];
      return items.flatMap((_item, i) => {
        const path = pathOf(spec, i);
        return path !== undefined && hasDotDot(path) ? [problem.invalid(['spec', list, i, ...field], path, 'may not contain a ".." segment; write the path it means')] : [];
      });
    },
  };
}

const hostPathNoDotDot = noDotDot('host-path-no-dot-dot', 'volumes', ['hostPath'], (spec, i) => spec.volumes?.[i]?.hostPath);
const devicePathNoDotDot = noDotDot('device-path-no-dot-dot', 'devices', ['hostPath'], (spec, i) => spec.devices?.[i]?.hostPath);
const envFileNoDotDot = noDotDot('env-file-no-dot-dot', 'env', ['valueFrom', 'file'], (spec, i) => spec.env?.[i]?.valueFrom?.file);

// Exec probes become the container's one engine HEALTHCHECK (controllers/session/probe-spec.ts):
// two that differ could not both be honoured, so say so at apply time rather than run one of them.
const EXEC_PROBE_FIELDS = ['readinessProbe', 'livenessProbe', 'startupProbe'] as const;
const execProbesAgree: Rule<SessionSpec> = {
  id: 'exec-probes-agree',
  check(spec) {
    const execs = EXEC_PROBE_FIELDS.filter((field) => spec[field]?.exec !== undefined);
    const first = execs[0];
    if (first === undefined) return [];
    const check = (field: (typeof EXEC_PROBE_FIELDS)[number]): string => {
      const p = spec[field];
      return JSON.stringify([p?.exec?.command, p?.initialDelaySeconds ?? 0, p?.periodSeconds ?? 10, p?.timeoutSeconds ?? 1, p?.failureThreshold ?? 3]);
    };
    return execs
      .filter((field) => check(field) !== check(first))
      .map((field) =>
        problem.invalid(
          ['spec', field, 'exec'],
          spec[field]?.exec?.command.join(' ') ?? '',
          `differs from spec.${first}: exec probes become the container's one engine HEALTHCHECK, so they must share command, initialDelaySeconds, periodSeconds, timeoutSeconds and failureThreshold; make them the same or use httpGet or tcpSocket for one of them`,
        ),
      );
  },
};

// The schema's patterns admit "99999999999999999999Gi": no host has it, and past 2^53 bytes the
// engine's int64 and a JS number part ways. Refused at apply time rather than failing (and being
// retried) at every reconcile; the bounds are far above any host, and exact in both validators.
const MAX_SIZE_BYTES = 4 * 2 ** 50;
const MAX_NANO_CPUS = 1_000_000 * 1e9;

function outOfRange(path: readonly (string | number)[], value: string | undefined, parse: (q: string) => number, max: number, limit: string): FieldProblem[] {
  if (value === undefined) return [];
  let parsed: number;
  try {
    parsed = parse(value);
  } catch (error) {
    if (!(error instanceof QuantityError)) throw error;
    parsed = Number.POSITIVE_INFINITY;
  }
  return parsed > max ? [problem.invalid(path, value, `must be at most ${limit}`)] : [];
}

const quantityInRange: Rule<SessionSpec> = {
  id: 'quantity-in-range',
  check(spec) {
    const size = (path: readonly (string | number)[], value: string | undefined) => outOfRange(path, value, parseMemoryToBytes, MAX_SIZE_BYTES, '4Pi');
    return [
      ...size(['spec', 'resources', 'memory'], spec.resources?.memory),
      ...outOfRange(['spec', 'resources', 'cpu'], spec.resources?.cpu, parseCpuToNanoCpus, MAX_NANO_CPUS, '1000000 cores'),
      ...size(['spec', 'shmSize'], spec.shmSize),
      ...(spec.volumes ?? []).flatMap((v, i) => size(['spec', 'volumes', i, 'emptyDir', 'sizeLimit'], v.emptyDir?.sizeLimit)),
      ...(spec.tmpfs ?? []).flatMap((t, i) => size(['spec', 'tmpfs', i, 'sizeLimit'], t.sizeLimit)),
    ];
  },
};

// StartFirst runs the old and the new container side by side: the engine cannot bind one fixed
// host port to both, so the new one could never start.
const startFirstNoFixedHostPort: Rule<SessionSpec> = {
  id: 'start-first-no-fixed-host-port',
  check(spec) {
    if (spec.updateStrategy?.type !== 'StartFirst') return [];
    return (spec.ports ?? []).flatMap((p, i) =>
      p.hostPort === undefined
        ? []
        : [
            problem.invalid(
              ['spec', 'ports', i, 'hostPort'],
              p.hostPort,
              'updateStrategy StartFirst runs the old and the new container side by side, so they cannot both publish a fixed host port; publish no hostPort (the agent probes the container on its own address) or use updateStrategy Recreate',
            ),
          ],
    );
  },
};

function trimSlashes(path: string): string {
  return path.replace(/(.)\/+$/, '$1');
}

export const SESSION_RULES: readonly Rule<SessionSpec>[] = [
  mountsNameVolumes,
  hostPortsUnique,
  mountPathsUnique,
  reservedLabels,
  agentOrSelector,
  agentSelectorLabels,
  envOneSource,
  specialNetworkAlone,
  devicePathsUnique,
  ulimitSoftWithinHard,
  tmpfsPathFree,
  hostPathNoDotDot,
  devicePathNoDotDot,
  envFileNoDotDot,
  execProbesAgree,
  quantityInRange,
  startFirstNoFixedHostPort,
];

export function checkSessionRules(spec: SessionSpec): FieldProblem[] {
  return SESSION_RULES.flatMap((rule) => rule.check(spec));
}

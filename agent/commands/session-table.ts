// `get sessions` as a table, from Sessions that already carry their status (desired object from
// the store, status from the state directory or Redis). Pure: it returns the text, the caller prints.
import type { Session } from '../../crds/types.ts';
import { formatAge, formatTable } from './table.ts';

export interface SessionTableOptions {
  /** `-o wide`: the container, endpoints and message too. */
  wide: boolean;
  /** Epoch ms the AGE column is measured against. */
  now: number;
}

/**
 * With --runtime swarm (some Session's status names a node) a Session may run on any node, so
 * where it runs — NODE and ADDRESS — is part of the default table; a local container's is not.
 */
export function formatSessions(sessions: readonly Session[], options: SessionTableOptions): string {
  const { wide } = options;
  const placed = sessions.some((s) => s.status?.node !== undefined);
  const header = [
    'NAMESPACE', 'NAME', 'PHASE', 'READY', 'AGENT', 'IMAGE', 'RESTARTS', 'AGE',
    ...(wide ? ['CONTAINER'] : []),
    ...(placed ? ['NODE', 'ADDRESS'] : []),
    ...(wide ? ['ENDPOINTS', 'MESSAGE'] : []),
  ];
  const rows = sessions.map((s) => {
    const ready = s.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
    return [
      s.metadata.namespace ?? '',
      s.metadata.name,
      s.status?.phase ?? 'Pending',
      ready,
      // A fleet's binding says where it runs (or will), before that agent wrote any status.
      s.status?.binding?.agent ?? s.status?.agent ?? s.spec.agent ?? '',
      s.spec.image || '<not in store>',
      String(s.status?.restartCount ?? 0),
      formatAge(s.metadata.creationTimestamp, options.now),
      ...(wide ? [s.status?.containerID?.slice(0, 12) ?? ''] : []),
      ...(placed ? [s.status?.node ?? '', s.status?.address ?? ''] : []),
      ...(wide ? [(s.status?.endpoints ?? []).join(','), s.status?.message ?? ''] : []),
    ];
  });
  return formatTable(header, rows);
}

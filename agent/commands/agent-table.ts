// `get agents` output from a map of agent records, whatever they were read from (the state
// directory's file, or Redis when replicas share it). Pure: it returns the text, the caller prints.
import { stringify } from 'yaml';
import type { Agent, AgentStatus } from '../../crds/types.ts';
import { API_VERSION } from '../../crds/types.ts';
import { DEFAULT_GRACE_PERIOD_MS, effectiveAgentState } from '../../controllers/agent/record.ts';
import { formatAge, formatTable } from './table.ts';
import type { OutputFormat } from './table.ts';

export interface AgentTableOptions {
  output: OutputFormat;
  /** Epoch ms the heartbeat ages are measured against. */
  now: number;
  /** A beat older than this shows Offline whatever the record says. Default 15 s (3 × 5 s). */
  gracePeriodMs?: number;
}

/**
 * The records as Agent objects, sorted by name, with the state to show: the stored one, but
 * Offline when the beat is older than the grace period, because nobody may be left to write
 * Offline when the only agent is down.
 */
export function agentObjects(statuses: ReadonlyMap<string, AgentStatus>, now: number, gracePeriodMs = DEFAULT_GRACE_PERIOD_MS): Agent[] {
  return [...statuses.keys()].sort().map((name) => {
    const status = statuses.get(name)!;
    return {
      apiVersion: API_VERSION,
      kind: 'Agent',
      metadata: { name },
      status: { ...status, state: effectiveAgentState(status, now, gracePeriodMs) },
    };
  });
}

/**
 * The text `dockerlet get agents -o <output>` prints. Table formats return '' when there are no
 * agents (the caller says where it looked, on stderr); json and yaml return an empty List.
 */
export function formatAgents(statuses: ReadonlyMap<string, AgentStatus>, options: AgentTableOptions): string {
  const agents = agentObjects(statuses, options.now, options.gracePeriodMs);
  if (options.output === 'json' || options.output === 'yaml') {
    const list = { apiVersion: 'v1', kind: 'List', items: agents };
    return options.output === 'json' ? `${JSON.stringify(list, null, 2)}\n` : stringify(list);
  }
  if (agents.length === 0) return '';
  const wide = options.output === 'wide';
  // Source columns only when some agent follows a Git store: a directory store has nothing to show.
  const sourced = wide && agents.some((a) => a.status?.source !== undefined);
  const header = ['NAME', 'STATE', 'LEADER', 'SESSIONS', 'HEARTBEAT', 'ENGINE', ...(wide ? ['TOKEN'] : []), ...(sourced ? ['REVISION', 'SOURCE-ERROR'] : [])];
  const rows = agents.map((a) => [
    a.metadata.name,
    a.status?.state ?? '',
    a.status?.leader ?? '',
    String(a.status?.activeSessions ?? 0),
    a.status?.lastHeartbeatTime ? `${formatAge(a.status.lastHeartbeatTime, options.now)} ago` : 'never',
    a.status?.engineVersion ?? '',
    ...(wide ? [a.status?.fencingToken === undefined ? '' : String(a.status.fencingToken)] : []),
    ...(sourced
      ? [
          // The Git store's last applied commit, short as git shows it; the full one is in -o json.
          a.status?.source?.lastAppliedRevision?.slice(0, 12) ?? '',
          a.status?.source?.lastError === undefined ? '' : truncate(a.status.source.lastError, 60),
        ]
      : []),
  ]);
  return formatTable(header, rows);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

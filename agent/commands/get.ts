// `dockerlet get sessions|agents`: desired state from the store, status from the state dir,
// printed like kubectl (table, or the objects as JSON/YAML).
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';
import type { Agent, AgentStatus, Session, SessionStatus } from '../../crds/types.ts';
import { API_VERSION, splitKey } from '../../crds/types.ts';
import { commonOptions } from '../config.ts';
import type { RawCommonOptions } from '../config.ts';
import { STATE_FILES } from '../agent.ts';
import { FileStatusStore } from '../stores/file-status-store.ts';
import { loadStoreOnce, quietLogger, readOnlyConfig } from './shared.ts';
import { formatAge, printTable } from './table.ts';

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml'] as const;
type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** An agent whose last heartbeat is older than this many beats is shown Offline. */
const MISSED_BEATS_OFFLINE = 3;
const DEFAULT_BEAT_MS = 5_000;

interface GetOptions extends RawCommonOptions {
  output: OutputFormat;
  namespace?: string;
}

function printObjects(objects: unknown[], format: 'json' | 'yaml'): void {
  const list = { apiVersion: 'v1', kind: 'List', items: objects };
  process.stdout.write(format === 'json' ? `${JSON.stringify(list, null, 2)}\n` : stringify(list));
}

async function getSessions(config: Awaited<ReturnType<typeof readOnlyConfig>>, options: GetOptions): Promise<void> {
  const store = await loadStoreOnce(config.storeDir, quietLogger());
  const statuses = await FileStatusStore.readSnapshot<SessionStatus>(join(config.stateDir, STATE_FILES.sessions));
  const sessions: Session[] = [];
  const seen = new Set<string>();
  for (const entry of store.list()) {
    seen.add(entry.key);
    const { namespace, name } = splitKey(entry.key);
    const base: Session = entry.object ?? {
      apiVersion: API_VERSION,
      kind: 'Session',
      metadata: { name, ...(namespace ? { namespace } : {}) },
      spec: { image: '' },
    };
    const status = statuses.get(entry.key);
    sessions.push(status ? { ...base, status } : base);
  }
  // Status without a desired object: being removed, or the store cannot be read right now.
  for (const [key, status] of statuses) {
    if (seen.has(key)) continue;
    const { namespace, name } = splitKey(key);
    sessions.push({ apiVersion: API_VERSION, kind: 'Session', metadata: { name, ...(namespace ? { namespace } : {}) }, spec: { image: '' }, status });
  }
  const shown = sessions
    .filter((s) => !options.namespace || s.metadata.namespace === options.namespace)
    .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  if (options.output === 'json' || options.output === 'yaml') return printObjects(shown, options.output);
  for (const problem of store.loadProblems()) process.stderr.write(`warning: store: ${problem}\n`);
  const wide = options.output === 'wide';
  const now = Date.now();
  const header = ['NAMESPACE', 'NAME', 'PHASE', 'READY', 'AGENT', 'IMAGE', 'RESTARTS', 'AGE', ...(wide ? ['CONTAINER', 'ENDPOINTS', 'MESSAGE'] : [])];
  const rows = shown.map((s) => {
    const ready = s.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
    return [
      s.metadata.namespace ?? '',
      s.metadata.name,
      s.status?.phase ?? 'Pending',
      ready,
      s.status?.agent ?? s.spec.agent ?? '',
      s.spec.image || '<not in store>',
      String(s.status?.restartCount ?? 0),
      formatAge(s.metadata.creationTimestamp, now),
      ...(wide ? [s.status?.containerID?.slice(0, 12) ?? '', (s.status?.endpoints ?? []).join(','), s.status?.message ?? ''] : []),
    ];
  });
  if (rows.length === 0) process.stderr.write(`No sessions found in ${config.storeDir}.\n`);
  else printTable(header, rows);
}

async function getAgents(config: Awaited<ReturnType<typeof readOnlyConfig>>, options: GetOptions): Promise<void> {
  const statuses = await FileStatusStore.readSnapshot<AgentStatus>(join(config.stateDir, STATE_FILES.agents));
  const now = Date.now();
  const agents: Agent[] = [...statuses].map(([name, status]) => {
    const beat = status.lastHeartbeatTime ? Date.parse(status.lastHeartbeatTime) : 0;
    // Offline is derived from heartbeat age only; a stale record never claims Online.
    const state = now - beat > MISSED_BEATS_OFFLINE * DEFAULT_BEAT_MS ? 'Offline' : (status.state ?? 'Offline');
    return { apiVersion: API_VERSION, kind: 'Agent', metadata: { name }, status: { ...status, state } };
  });
  if (options.output === 'json' || options.output === 'yaml') return printObjects(agents, options.output);
  const header = ['NAME', 'STATE', 'LEADER', 'SESSIONS', 'HEARTBEAT', 'ENGINE'];
  const rows = agents.map((a) => [
    a.metadata.name,
    a.status?.state ?? '',
    a.status?.leader ?? '',
    String(a.status?.activeSessions ?? 0),
    a.status?.lastHeartbeatTime ? `${formatAge(a.status.lastHeartbeatTime, now)} ago` : 'never',
    a.status?.engineVersion ?? '',
  ]);
  if (rows.length === 0) process.stderr.write(`No agents found in ${config.stateDir}.\n`);
  else printTable(header, rows);
}

export function getCommand(): Command {
  const command = new Command('get')
    .description('List sessions or agents with their status (like kubectl get).')
    .argument('<resource>', 'sessions (session, sess) or agents (agent, ag)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .option('-n, --namespace <namespace>', 'only sessions in this namespace')
    .addHelpText(
      'after',
      `
Examples:
  dockerlet get sessions
  dockerlet get sessions -o wide
  dockerlet get sessions -o json | jq '.items[].status.phase'
  dockerlet get agents`,
    );
  for (const option of commonOptions()) command.addOption(option);
  return command.action(async (resource: string, options: GetOptions, self: Command) => {
    const config = await readOnlyConfig(self, options);
    if (['sessions', 'session', 'sess'].includes(resource)) return getSessions(config, options);
    if (['agents', 'agent', 'ag'].includes(resource)) return getAgents(config, options);
    throw new InvalidArgumentError(`unknown resource "${resource}": use sessions or agents`);
  });
}

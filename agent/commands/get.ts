// `dockerlet get sessions|agents`: desired state from the store, status from the state dir,
// printed like kubectl (table, or the objects as JSON/YAML).
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';
import type { AgentStatus, Session, SessionStatus } from '../../crds/types.ts';
import { API_VERSION, splitKey } from '../../crds/types.ts';
import { commonOptions } from '../config.ts';
import type { RawCommonOptions } from '../config.ts';
import { STATE_FILES } from '../agent.ts';
import { DEFAULT_GRACE_PERIOD_MS } from '../agent-record.ts';
import { FileStatusStore } from '../stores/file-status-store.ts';
import { formatAgents } from './agent-table.ts';
import { loadStoreOnce, quietLogger, readOnlyConfig } from './shared.ts';
import { formatAge, printTable } from './table.ts';

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

interface GetOptions extends RawCommonOptions {
  output: OutputFormat;
  namespace?: string;
  /** Milliseconds; an agent whose last beat is older is shown Offline. */
  gracePeriod: number;
}

// Same syntax as the agent's duration flags (agent/config.ts keeps its parser private).
function gracePeriodMs(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`--grace-period must be a duration like 15s or 1m; got "${value}"`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const ms = Math.round(Number(match[1]) * factor);
  if (ms <= 0) throw new InvalidArgumentError(`--grace-period must be positive; got "${value}"`);
  return ms;
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
  // Offline is derived from heartbeat age too: a stale record never claims Online (agent-table.ts).
  const text = formatAgents(statuses, { output: options.output, now: Date.now(), gracePeriodMs: options.gracePeriod });
  if (text === '') process.stderr.write(`No agents found in ${config.stateDir}.\n`);
  else process.stdout.write(text);
}

export function getCommand(): Command {
  const command = new Command('get')
    .description('List sessions or agents with their status (like kubectl get).')
    .argument('<resource>', 'sessions (session, sess) or agents (agent, ag)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .option('-n, --namespace <namespace>', 'only sessions in this namespace')
    .addOption(
      new Option('--grace-period <duration>', 'show an agent Offline once its last heartbeat is older than this')
        .argParser(gracePeriodMs)
        .default(DEFAULT_GRACE_PERIOD_MS, '15s'),
    )
    .addHelpText(
      'after',
      `
Examples:
  dockerlet get sessions
  dockerlet get sessions -o wide
  dockerlet get sessions -o json | jq '.items[].status.phase'
  dockerlet get agents
  dockerlet get agents -o wide --grace-period 30s`,
    );
  for (const option of commonOptions()) command.addOption(option);
  return command.action(async (resource: string, options: GetOptions, self: Command) => {
    const config = await readOnlyConfig(self, options);
    if (['sessions', 'session', 'sess'].includes(resource)) return getSessions(config, options);
    if (['agents', 'agent', 'ag'].includes(resource)) return getAgents(config, options);
    throw new InvalidArgumentError(`unknown resource "${resource}": use sessions or agents`);
  });
}

// `dockerlet get sessions|agents`: desired state from the store, status from the state dir,
// printed like kubectl (table, or the objects as JSON/YAML).
import { Command, InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';
import type { ObjectKey, Session, SessionStatus } from '../../crds/types.ts';
import { API_VERSION, splitKey } from '../../crds/types.ts';
import { commonOptions, durationMs, redisOptions } from '../config.ts';
import type { RawCommonOptions, RawRedisOptions } from '../config.ts';
import { DEFAULT_GRACE_PERIOD_MS } from '../../controllers/agent/record.ts';
import { readStatuses, redisFor } from './status-source.ts';
import type { Statuses } from './status-source.ts';
import { formatAgents } from './agent-table.ts';
import { loadStoreOnce, quietLogger, readOnlyConfig } from './shared.ts';
import type { ReadOnlyConfig } from './shared.ts';
import { formatSessions } from './session-table.ts';
import { OUTPUT_FORMATS } from './table.ts';
import type { OutputFormat } from './table.ts';


interface GetOptions extends RawCommonOptions, RawRedisOptions {
  output: OutputFormat;
  namespace?: string;
  /** Milliseconds; an agent whose last beat is older is shown Offline. */
  gracePeriod: number;
}

function printObjects(objects: unknown[], format: 'json' | 'yaml'): void {
  const list = { apiVersion: 'v1', kind: 'List', items: objects };
  process.stdout.write(format === 'json' ? `${JSON.stringify(list, null, 2)}\n` : stringify(list));
}

async function getSessions(config: ReadOnlyConfig, options: GetOptions, statuses: Map<ObjectKey, SessionStatus>): Promise<void> {
  const store = await loadStoreOnce(config.storeDir, quietLogger());
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
  if (shown.length === 0) process.stderr.write(`No sessions found in ${config.storeDir}.\n`);
  else process.stdout.write(formatSessions(shown, { wide: options.output === 'wide', now: Date.now() }));
}

function getAgents(options: GetOptions, statuses: Statuses): void {
  // Offline is derived from heartbeat age too: a stale record never claims Online (agent-table.ts).
  const text = formatAgents(statuses.agents, { output: options.output, now: Date.now(), gracePeriodMs: options.gracePeriod });
  if (text === '') process.stderr.write(`No agents found in ${statuses.source}.\n`);
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
        .argParser(durationMs('--grace-period'))
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
  for (const option of [...commonOptions(), ...redisOptions()]) command.addOption(option);
  return command.action(async (resource: string, options: GetOptions, self: Command) => {
    const config = await readOnlyConfig(self, options);
    const sessionsWanted = ['sessions', 'session', 'sess'].includes(resource);
    if (!sessionsWanted && !['agents', 'agent', 'ag'].includes(resource)) {
      throw new InvalidArgumentError(`unknown resource "${resource}": use sessions or agents`);
    }
    const statuses = await readStatuses(config, await redisFor(config, options));
    if (sessionsWanted) return getSessions(config, options, statuses.sessions);
    return getAgents(options, statuses);
    throw new InvalidArgumentError(`unknown resource "${resource}": use sessions or agents`);
  });
}

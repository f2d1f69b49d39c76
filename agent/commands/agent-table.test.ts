// `get agents` output from a map of records, whichever source the CLI read it from.
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../crds/types.ts';
import { formatAgents } from './agent-table.ts';

const NOW = Date.parse('2026-01-01T00:01:00Z');
const records = new Map<string, AgentStatus>([
  ['host-b', { state: 'Online', lastHeartbeatTime: '2026-01-01T00:00:30Z', leader: 'b-1', activeSessions: 1, engineVersion: '27.5.1', fencingToken: 3 }],
  ['host-a', { state: 'Online', lastHeartbeatTime: '2026-01-01T00:00:58Z', leader: 'a-2', activeSessions: 4, engineVersion: '28.0.0', fencingToken: 12 }],
  ['host-c', { state: 'Offline' }],
]);

describe('formatAgents', () => {
  it('prints the table sorted by name, a stale Online record as Offline', () => {
    expect(formatAgents(records, { output: 'table', now: NOW })).toBe(
      [
        'NAME     STATE     LEADER   SESSIONS   HEARTBEAT   ENGINE',
        'host-a   Online    a-2      4          2s ago      28.0.0',
        'host-b   Offline   b-1      1          30s ago     27.5.1',
        'host-c   Offline            0          never',
        '',
      ].join('\n'),
    );
  });

  it('adds TOKEN in wide output and honours the grace period', () => {
    const text = formatAgents(records, { output: 'wide', now: NOW, gracePeriodMs: 60_000 });
    expect(text.split('\n')[0]).toBe('NAME     STATE     LEADER   SESSIONS   HEARTBEAT   ENGINE   TOKEN');
    expect(text.split('\n')[2]).toBe('host-b   Online    b-1      1          30s ago     27.5.1   3');
  });

  it('adds the Git store revision and its last error in wide output when an agent reports a source', () => {
    const sourced = new Map(records);
    sourced.set('host-a', {
      ...records.get('host-a')!,
      source: { kind: 'git', url: 'file:///srv/s.git', path: 's', lastAppliedRevision: '0123456789abcdef0123456789abcdef01234567', lastError: 'alpha.yaml:8:3: spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always"' },
    });
    const lines = formatAgents(sourced, { output: 'wide', now: NOW, gracePeriodMs: 60_000 }).split('\n');
    expect(lines[0]).toMatch(/^NAME +STATE +LEADER +SESSIONS +HEARTBEAT +ENGINE +TOKEN +REVISION +SOURCE-ERROR$/);
    expect(lines[1]).toMatch(/ 12 +0123456789ab +alpha\.yaml:8:3: spec\.restartPolicy: Unsupported value: "Som…$/);
    // Not in the default table.
    expect(formatAgents(sourced, { output: 'table', now: NOW }).split('\n')[0]).not.toContain('REVISION');
  });

  it('prints JSON and YAML Lists of Agent objects with the derived state', () => {
    const json = JSON.parse(formatAgents(records, { output: 'json', now: NOW })) as { kind: string; items: Array<{ kind: string; metadata: { name: string }; status: AgentStatus }> };
    expect(json.kind).toBe('List');
    expect(json.items.map((a) => [a.kind, a.metadata.name, a.status.state])).toEqual([
      ['Agent', 'host-a', 'Online'],
      ['Agent', 'host-b', 'Offline'],
      ['Agent', 'host-c', 'Offline'],
    ]);
    expect(parse(formatAgents(records, { output: 'yaml', now: NOW }))).toEqual(json);
  });

  it('returns nothing for an empty table (the caller says where it looked) and an empty List otherwise', () => {
    expect(formatAgents(new Map(), { output: 'table', now: NOW })).toBe('');
    expect(JSON.parse(formatAgents(new Map(), { output: 'json', now: NOW }))).toEqual({ apiVersion: 'v1', kind: 'List', items: [] });
  });
});

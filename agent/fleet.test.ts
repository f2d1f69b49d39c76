import { describe, expect, it } from 'vitest';
import { durationOrZeroMs, parseAgentLabels } from './config.ts';
import { fleetId, fleetKind, refuseFleetFlagsAlone, refuseUnsharedFleet, schedulerLeaseName } from './fleet.ts';
import { StartupError } from './startup-error.ts';

const yaml = { kind: 'yaml' as const, dir: '/srv/sessions' };
const redis = { url: 'redis://127.0.0.1:6379', tls: false, sentinels: [] };

describe('fleet setups', () => {
  it('is a fleet with the Kubernetes store or Redis, alone otherwise', () => {
    expect(fleetKind({ store: { kind: 'kubernetes' } })).toBe('kubernetes');
    expect(fleetKind({ store: yaml, redis })).toBe('redis');
    expect(fleetKind({ store: yaml })).toBe('solo');
  });

  it('refuses fleet flags with a YAML store and no --redis, naming the flags and the fix', () => {
    const refusal = (): void => refuseFleetFlagsAlone({ store: yaml, fleetFlags: ['--agent-labels', '--cordon'] });
    expect(refusal).toThrow(StartupError);
    expect(refusal).toThrow(/^--agent-labels, --cordon place Sessions across a fleet, .*add --redis <url>.*--store kubernetes/);
    expect(() => refuseFleetFlagsAlone({ store: yaml, fleetFlags: [] })).not.toThrow();
    expect(() => refuseFleetFlagsAlone({ store: yaml, redis, fleetFlags: ['--max-sessions'] })).not.toThrow();
  });

  it('reads --agent-labels as Kubernetes label keys and values', () => {
    expect(parseAgentLabels('zone=a, gpu=true,example.com/rack=r1,empty=')).toEqual({ zone: 'a', gpu: 'true', 'example.com/rack': 'r1', empty: '' });
    expect(() => parseAgentLabels('zone')).toThrow(/--agent-labels takes key=value pairs/);
    expect(() => parseAgentLabels('bad key=a')).toThrow(/--agent-labels: key "bad key": name part must consist/);
    expect(() => parseAgentLabels('zone=not ok')).toThrow(/--agent-labels: value "not ok": a valid label/);
    expect(() => parseAgentLabels('zone=a,zone=b')).toThrow(/key "zone" is given twice/);
  });

  it('takes --reschedule-after 0 as never, and durations otherwise', () => {
    const parse = durationOrZeroMs('--reschedule-after');
    expect(parse('0')).toBe(0);
    expect(parse('0s')).toBe(0);
    expect(parse('90s')).toBe(90_000);
    expect(() => parse('-1s')).toThrow(/--reschedule-after must be a duration/);
  });

  it('refuses a second agent beating in the same state dir with no shared status, naming it and the fix', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    const config = { store: yaml, agentName: 'host-a', livenessGraceMs: 15_000, stateDir: '/var/lib/dockerlet' };
    const beat = (ago: number) => ({ state: 'Online' as const, lastHeartbeatTime: new Date(now - ago).toISOString() });
    const refusal = (): void => refuseUnsharedFleet(config, new Map([['host-a', beat(1_000)], ['host-b', beat(2_000)]]), now);
    expect(refusal).toThrow(StartupError);
    expect(refusal).toThrow(/^agent host-b beat in \/var\/lib\/dockerlet within the last 15s: two agents on one store .*--redis <url>.*--store kubernetes.*its own --state-dir$/);
    // A record gone stale (an agent that ran here before), or a fleet with Redis: no refusal.
    expect(() => refuseUnsharedFleet(config, new Map([['host-b', beat(60_000)]]), now)).not.toThrow();
    expect(() => refuseUnsharedFleet({ ...config, redis }, new Map([['host-b', beat(1_000)]]), now)).not.toThrow();
  });

  it('names a fleet after its store unless --fleet does, and its scheduler Lease after the fleet', () => {
    expect(fleetId({ store: { kind: 'kubernetes' } })).toBe('all-namespaces');
    expect(fleetId({ store: { kind: 'kubernetes' }, sessionNamespace: 'team-a' })).toBe('namespace-team-a');
    expect(fleetId({ store: yaml, redis })).toMatch(/^dir-[0-9a-f]{12}$/);
    expect(fleetId({ store: yaml, redis, fleet: 'edge' })).toBe('edge');
    expect(fleetId({ store: yaml })).toBeUndefined();
    expect(schedulerLeaseName('all-namespaces')).toBe('dockerlet-scheduler');
    expect(schedulerLeaseName('namespace-team-a')).toBe('dockerlet-scheduler-namespace-team-a');
  });
});

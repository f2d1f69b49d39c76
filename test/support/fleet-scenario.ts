// The fleet scenario of issue 12, the same on every backend: N agents, 20 unbound Sessions →
// exactly 20 containers, spread; kill -9 the agent holding the most → its Sessions run on the
// others within reschedule-after + 10 s of the agent being Offline (liveness grace after the kill); restart it → its stale copies go, and once it reports
// Online again there are never two running copies of one Session (the engine polled throughout).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { eventually } from './eventually.ts';
import { metricValue } from './agent-process.ts';
import type { FleetOfAgents } from './fleet.ts';
import { copiesByKey, countByAgent, exactlyOneEach, FAST_LIVENESS_GRACE_MS, FAST_RESCHEDULE_AFTER_MS, running } from './fleet.ts';

export interface FleetScenario {
  fleet: FleetOfAgents;
  namespace: string;
  keys: readonly string[];
  /** Creates the Sessions (unbound: no spec.agent, no selector). */
  createSessions(): Promise<void>;
  /** Whether `agent`'s record says Online with a beat later than `sinceMs`. */
  onlineSince(agent: string, sinceMs: number): Promise<boolean>;
}

export interface ScenarioReport {
  spread: Map<string, number>;
  /** From creating the Sessions to one running container each. */
  convergedMs: number;
  victim: string;
  movedWithinMs: number;
  /** Polls of the engine after the victim was Online again, and duplicates seen in them (must be 0). */
  pollsAfterOnline: number;
}

export async function runFleetScenario(s: FleetScenario): Promise<ScenarioReport> {
  try {
    return await scenario(s);
  } catch (error) {
    // Each agent's log, for the one who debugs this (vitest keeps only the assertion).
    const dir = process.env['DOCKERLET_TEST_LOG_DIR'];
    if (dir) for (const [name, p] of s.fleet.processes) writeFileSync(join(dir, `${name}.log`), p.logs.join('\n'));
    throw error;
  }
}

async function scenario(s: FleetScenario): Promise<ScenarioReport> {
  const agents = s.fleet.names();
  const startedAt = Date.now();
  await s.fleet.startAll();
  // Placement is among the agents the scheduler sees Online: all of them, before any Session exists.
  await eventually(async () => {
    for (const agent of agents) expect(await s.onlineSince(agent, startedAt), agent).toBe(true);
    // ... as the scheduler (whichever agent holds the fleet lease) sees them.
    const seen = [];
    for (const p of s.fleet.processes.values()) {
      const text = await p.metrics().catch(() => '');
      if (metricValue(text, 'dockerlet_leader_election_master_status', { name: 'scheduler' }) === 1) seen.push(metricValue(text, 'dockerlet_scheduler_agents', { state: 'Online' }));
    }
    expect(seen).toEqual([agents.length]);
  }, { timeoutMs: 30_000, message: 'every agent Online, as the scheduler sees it' });
  const createdAt = Date.now();
  await s.createSessions();
  const placement = await exactlyOneEach(s.namespace, s.keys, 90_000);
  const convergedMs = Date.now() - createdAt;
  const spread = countByAgent(placement);
  const counts = agents.map((a) => spread.get(a) ?? 0);
  // Least-load: every agent gets its share, none more than one above another.
  const uneven = Math.max(...counts) - Math.min(...counts);
  expect(uneven, JSON.stringify([...spread])).toBeLessThanOrEqual(1);

  const victim = [...spread].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0];
  const victimKeys = [...placement].filter(([, agent]) => agent === victim).map(([key]) => key);
  const killedAt = Date.now();
  await s.fleet.kill(victim);
  await eventually(
    async () => {
      const copies = await copiesByKey(s.namespace);
      for (const key of s.keys) {
        const elsewhere = running(copies.get(key)).filter((c) => c.agent !== victim);
        expect(elsewhere.map((c) => c.agent), key).toHaveLength(1);
      }
    },
    { timeoutMs: FAST_LIVENESS_GRACE_MS + FAST_RESCHEDULE_AFTER_MS + 10_000, intervalMs: 200, message: `the ${victimKeys.length} Sessions of ${victim} running on the other agents` },
  );
  const movedWithinMs = Date.now() - killedAt;

  // Back: poll the engine the whole time; once its record says Online, one running copy per key at most.
  const restartedAt = Date.now();
  let polling = true;
  let pollsAfterOnline = 0;
  const duplicates: string[] = [];
  const poller = (async () => {
    while (polling) {
      const online = await s.onlineSince(victim, restartedAt);
      const copies = await copiesByKey(s.namespace);
      if (online) {
        pollsAfterOnline += 1;
        for (const [key, all] of copies) if (running(all).length > 1) duplicates.push(`${key}: ${running(all).map((c) => `${c.agent}@${c.epoch}`).join(', ')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    await s.fleet.start(victim);
    await eventually(() => s.onlineSince(victim, restartedAt).then((online) => expect(online).toBe(true)), { timeoutMs: 30_000, message: `${victim} Online again` });
    const after = await exactlyOneEach(s.namespace, s.keys, 30_000);
    for (const key of victimKeys) expect(after.get(key), key).not.toBe(victim);
    // A few more polls with the victim Online, so the check means something.
    await eventually(() => expect(pollsAfterOnline).toBeGreaterThanOrEqual(5), { timeoutMs: 10_000 });
  } finally {
    polling = false;
    await poller;
  }
  expect(duplicates, 'two running copies of one Session after the agent was back Online').toEqual([]);
  return { spread, convergedMs, victim, movedWithinMs, pollsAfterOnline };
}

// A fleet on one YAML store + real Redis (README "Fleet"): two and three agent processes with
// distinct names and state directories on the one engine; bindings written by the one scheduler
// through the compare-and-set script; kill -9 and return (test/support/fleet-scenario.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { runCli, sessionYaml } from '../support/agent-process.ts';
import { removeContainersByLabel, requireTestEngine, uniqueRunId } from '../support/docker.ts';
import { FAST_FLEET_FLAGS, FleetOfAgents, onlineInRedis } from '../support/fleet.ts';
import { runFleetScenario } from '../support/fleet-scenario.ts';
import { flushPrefix, requireTestRedis, TEST_REDIS_URL } from '../support/redis.ts';

const SESSIONS = 20;

describe('fleet on a YAML store + Redis', () => {
  let fleet: FleetOfAgents | undefined;
  let storeDir = '';
  let namespace = '';
  let fleetName = '';
  let redis: Redis;

  beforeEach(async () => {
    await requireTestEngine();
    await requireTestRedis();
    storeDir = await mkdtemp(join(tmpdir(), 'dockerlet-fleet-'));
    namespace = uniqueRunId('fleet');
    fleetName = uniqueRunId('fleet');
    redis = new Redis(TEST_REDIS_URL);
  });

  afterEach(async () => {
    await fleet?.cleanup();
    fleet = undefined;
    await removeContainersByLabel(`dockerlet.dev/namespace=${namespace}`);
    await rm(storeDir, { recursive: true, force: true });
    await flushPrefix(`dockerlet:fleet:${fleetName}`);
    redis.disconnect();
  });

  for (const size of [2, 3]) {
    it(`${size} agents: ${SESSIONS} Sessions run once each, spread; a killed agent's move within reschedule-after + 10 s; back, its stale copies go`, async () => {
      fleet = await FleetOfAgents.create(size, () => ['--store', storeDir, '--redis', TEST_REDIS_URL, '--fleet', fleetName, ...FAST_FLEET_FLAGS]);
      const keys = Array.from({ length: SESSIONS }, (_, i) => `${namespace}/s${String(i).padStart(2, '0')}`);
      const report = await runFleetScenario({
        fleet,
        namespace,
        keys,
        createSessions: async () => {
          for (const key of keys) {
            const name = key.split('/')[1]!;
            await writeFile(join(storeDir, `${name}.yaml`), sessionYaml({ name, namespace, spec: { command: ['sleep', 'infinity'] } }));
          }
        },
        onlineSince: (agent, sinceMs) => onlineInRedis(redis, agent, sinceMs),
      });
      // Every binding is in the fleet's hash, each on the agent that runs it.
      const bindings = await redis.hgetall(`dockerlet:fleet:${fleetName}:bindings`);
      expect(Object.keys(bindings).sort()).toEqual([...keys].sort());
      expect(Object.values(bindings).map((b) => (JSON.parse(b) as { agent: string }).agent)).not.toContain(report.victim);
      // `dockerlet get sessions` from any agent's state dir shows each Session on the agent it is bound to.
      const asked = fleet.worlds[0]!;
      const shown = await runCli(['get', 'sessions', '--store', storeDir, '--state-dir', asked.stateDir, '--agent-name', asked.agentName]);
      expect(shown.code, shown.stderr).toBe(0);
      const rows = shown.stdout.split('\n').slice(1).filter(Boolean).map((line) => line.split(/\s+/));
      expect(rows).toHaveLength(SESSIONS);
      for (const [ns, name, phase, , agent] of rows) {
        expect(JSON.parse(bindings[`${ns}/${name}`]!).agent, `${ns}/${name}`).toBe(agent);
        expect(phase, `${ns}/${name}`).toBe('Running');
      }
      console.log(`fleet redis ${size} agents: spread ${JSON.stringify([...report.spread])}, converged in ${report.convergedMs} ms, moved within ${report.movedWithinMs} ms, ${report.pollsAfterOnline} polls after return`);
    }, 240_000);
  }
});

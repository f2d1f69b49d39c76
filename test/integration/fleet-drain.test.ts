// `dockerlet drain` on a fleet of two agent processes (one YAML store + real Redis, one engine): the
// drained agent's Sessions move to the other one at a time (never two missing at once, never one
// running twice), it takes no new Session while drained, and `--undo` makes it take new ones again.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { runCli, sessionYaml } from '../support/agent-process.ts';
import { removeContainersByLabel, requireTestEngine, uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { copiesByKey, countByAgent, exactlyOneEach, FAST_FLEET_FLAGS, FleetOfAgents, onlineInRedis, running } from '../support/fleet.ts';
import { flushPrefix, requireTestRedis, TEST_REDIS_URL } from '../support/redis.ts';

const SESSIONS = 6;

describe('dockerlet drain (YAML store + Redis)', () => {
  let fleet: FleetOfAgents | undefined;
  let storeDir = '';
  let namespace = '';
  let fleetName = '';

  beforeEach(async () => {
    await requireTestEngine();
    await requireTestRedis();
    storeDir = await mkdtemp(join(tmpdir(), 'dockerlet-drain-'));
    namespace = uniqueRunId('drain');
    fleetName = uniqueRunId('drain');
  });

  afterEach(async () => {
    await fleet?.cleanup();
    fleet = undefined;
    await removeContainersByLabel(`dockerlet.dev/namespace=${namespace}`);
    await rm(storeDir, { recursive: true, force: true });
    await flushPrefix(`dockerlet:fleet:${fleetName}`);
  });

  const addSession = (name: string): Promise<void> => writeFile(join(storeDir, `${name}.yaml`), sessionYaml({ name, namespace, spec: { command: ['sleep', 'infinity'] } }));

  it('moves the drained agent\'s Sessions off one at a time, binds nothing new there, and --undo takes it back', async () => {
    fleet = await FleetOfAgents.create(2, () => ['--store', storeDir, '--redis', TEST_REDIS_URL, '--fleet', fleetName, ...FAST_FLEET_FLAGS]);
    const [drained, other] = fleet.names() as [string, string];
    const keys = Array.from({ length: SESSIONS }, (_, i) => `${namespace}/s${i}`);
    // Both agents Online before the Sessions appear, so the first pass spreads them over both.
    await fleet.startAll();
    const redis = new Redis(TEST_REDIS_URL);
    try {
      await eventually(
        async () => {
          for (const agent of [drained, other]) expect(await onlineInRedis(redis, agent), agent).toBe(true);
        },
        { timeoutMs: 30_000, message: 'both agents Online' },
      );
    } finally {
      redis.disconnect();
    }
    for (const key of keys) await addSession(key.split('/')[1]!);
    const before = await exactlyOneEach(namespace, keys, 90_000);
    expect(countByAgent(before).get(drained)).toBe(SESSIONS / 2);

    const asked = fleet.worlds[0]!;
    const cli = (args: string[]) => runCli(['drain', ...args, '--store', storeDir, '--state-dir', asked.stateDir, '--agent-name', asked.agentName]);
    const typo = await cli([`${drained}x`]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(`no agent "${drained}x" in fleet ${fleetName} (agents seen: ${[drained, other].sort().join(', ')})`);
    const result = await cli([drained]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`agent ${drained} in fleet ${fleetName}: draining: no new Sessions; ${SESSIONS / 2} bound here move off one at a time`);

    // Poll the engine throughout: at most one Session without a running copy at any moment, none twice.
    let mostMissing = 0;
    await eventually(
      async () => {
        const copies = await copiesByKey(namespace);
        const missing = keys.filter((key) => running(copies.get(key)).length === 0).length;
        mostMissing = Math.max(mostMissing, missing);
        for (const key of keys) expect(running(copies.get(key)).length, `${key} runs at most once`).toBeLessThanOrEqual(1);
        expect(mostMissing, 'Sessions moved off at the same time').toBeLessThanOrEqual(1);
        for (const key of keys) expect(running(copies.get(key)).map((c) => c.agent), key).toEqual([other]);
      },
      { timeoutMs: 90_000, intervalMs: 100, message: `every Session runs on ${other}` },
    );
    const after = await exactlyOneEach(namespace, [...keys], 10_000);
    expect(countByAgent(after)).toEqual(new Map([[other, SESSIONS]]));

    // Drained, it takes nothing new even though it is the less loaded one.
    await addSession('late');
    const late = await exactlyOneEach(namespace, [...keys, `${namespace}/late`], 60_000);
    expect(late.get(`${namespace}/late`)).toBe(other);

    // --undo: the next new Session goes to the (now empty) agent again.
    const undone = await cli([drained, '--undo']);
    expect(undone.code, undone.stderr).toBe(0);
    expect(undone.stdout).toContain(`agent ${drained} in fleet ${fleetName}: no longer draining`);
    await addSession('later');
    const later = await exactlyOneEach(namespace, [...keys, `${namespace}/late`, `${namespace}/later`], 60_000);
    expect(later.get(`${namespace}/later`)).toBe(drained);
    console.log(`fleet drain: ${SESSIONS / 2} Sessions moved off ${drained}, at most ${mostMissing} missing at any poll`);
  }, 240_000);

  it('names the flags it needs when it cannot find the fleet', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'dockerlet-drain-state-'));
    const result = await runCli(['drain', 'host-x', '--store', storeDir, '--state-dir', stateDir]).finally(() => rm(stateDir, { recursive: true, force: true }));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('dockerlet drain needs the fleet\'s shared status: pass --redis <url> and --fleet <name>');
  });
});

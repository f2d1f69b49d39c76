// The fleet on simulated hosts (issue 12, e2e): one agent per Docker host that `hack/test-env up
// hosts` starts (each dockerd in its own network namespace, its own socket and data root), all on
// the one kube-apiserver, as a user runs them: `kubectl apply` 30 Sessions, `kubectl get sessions`
// shows them Running on the 3 agents; then one host goes away (its agent kill -9, its dockerd
// stopped as test-env stops it) and its Sessions run on the other hosts; the host comes back
// (test-env starts its dockerd again, with the stale containers) and its agent removes them.
// The engines are the judge throughout: a poll of every engine that answers, never two running
// copies of one Session.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { REPO } from '../support/agent-process.ts';
import { dockerCli, TEST_IMAGE } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { copiesByKey, FAST_FLEET_FLAGS, FAST_LIVENESS_GRACE_MS, FAST_RESCHEDULE_AFTER_MS, FleetOfAgents, running } from '../support/fleet.ts';
import type { Copy } from '../support/fleet.ts';
import { simulatedHosts } from '../support/hosts.ts';
import type { SimulatedHost } from '../support/hosts.ts';
import { installCrds, requireTestKube, TEST_KUBECONFIG } from '../support/kube.ts';
import { deleteAgentRecords, kubeOnlineSince } from '../support/kube-agents.ts';
import { KubeWorld } from '../support/kube-world.ts';
import { kubectl, requireTestKubectl } from '../support/kubectl.ts';

const run = promisify(execFile);
const SESSIONS = 30;
const HOSTS_RUN = '/run/dockerlet-test';

/** Every copy of the namespace's Sessions on the engines that answer; a host that does not is left out. */
async function copiesOnHosts(hosts: readonly SimulatedHost[], namespace: string): Promise<{ copies: Map<string, (Copy & { host: string })[]>; answered: string[] }> {
  const copies = new Map<string, (Copy & { host: string })[]>();
  const answered: string[] = [];
  for (const host of hosts) {
    let found: Map<string, Copy[]>;
    try {
      found = await copiesByKey(namespace, { socket: host.socket, timeoutMs: 5_000 });
    } catch {
      continue;
    }
    answered.push(host.name);
    for (const [key, list] of found) copies.set(key, [...(copies.get(key) ?? []), ...list.map((c) => ({ ...c, host: host.name }))]);
  }
  return { copies, answered };
}

/** `kubectl get sessions` as a user reads it: the header's columns, one row per Session. */
async function getSessionsTable(namespace: string): Promise<Record<string, string>[]> {
  const result = await kubectl(['get', 'sessions', '-n', namespace]);
  expect(result.code, result.stderr).toBe(0);
  const [header, ...lines] = result.stdout.trim().split('\n');
  const columns = (header ?? '').trim().split(/\s+/);
  return lines.map((line) => Object.fromEntries(line.trim().split(/\s+/).map((cell, i) => [columns[i] ?? `#${i}`, cell])));
}

/** Stops a host's dockerd as hack/test-env does (SIGTERM: it stops its containers, then exits). */
async function stopHostEngine(host: SimulatedHost): Promise<void> {
  const pid = Number((await readFile(join(HOSTS_RUN, `${host.name}.pid`), 'utf8')).trim());
  process.kill(pid, 'SIGTERM');
  await eventually(
    () => {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      throw new Error(`dockerd ${pid} still runs`);
    },
    { timeoutMs: 60_000, intervalMs: 200, message: `the dockerd of ${host.name} gone` },
  );
}

/** Starts whatever simulated host is not up (idempotent), the way the test environment does. */
async function restoreHosts(): Promise<void> {
  await run('bash', [join(REPO, 'hack/test-env'), 'up', 'hosts'], { cwd: REPO, timeout: 180_000 });
}

describe('fleet on simulated hosts', () => {
  let kc: KubeConfig;
  let hosts: SimulatedHost[];
  let kube: KubeWorld | undefined;
  let fleet: FleetOfAgents | undefined;
  let hostStopped = false;

  beforeEach(async () => {
    // Loud (on stderr, in the test output) when test-env fell back to the root network namespace.
    hosts = (await simulatedHosts(3)).slice(0, 3);
    console.log(`simulated hosts: ${hosts.map((h) => `${h.name} (${h.netns ? `network namespace ${h.netns}` : 'ROOT NAMESPACE: fallback'})`).join(', ')}`);
    kc = await requireTestKube();
    await requireTestKubectl();
    await installCrds(kc);
    kube = await KubeWorld.create(kc, 'dlt-hosts');
  });

  afterEach(async () => {
    await fleet?.cleanup();
    await deleteAgentRecords(kc, fleet?.names() ?? []);
    fleet = undefined;
    // Later tests need every host: one stopped by a failed run comes back here.
    if (hostStopped) await restoreHosts();
    hostStopped = false;
    if (kube) {
      for (const host of hosts) {
        const ids = (await dockerCli(['ps', '--all', '--quiet', '--filter', `label=dockerlet.dev/namespace=${kube.namespace}`], { socket: host.socket })).split('\n').filter(Boolean);
        if (ids.length > 0) await dockerCli(['rm', '--force', '--volumes', ...ids], { socket: host.socket });
      }
    }
    await kube?.cleanup();
  });

  it(`${SESSIONS} Sessions from kubectl apply run once each on 3 hosts; a lost host's Sessions run on the others; back, its stale copies are removed`, async () => {
    const world = kube!;
    const namespace = world.namespace;
    const hostOf = new Map<string, SimulatedHost>();
    fleet = await FleetOfAgents.create(3, (w) => [
      '--docker-socket', hostOf.get(w.agentName)!.socket,
      '--store', 'kubernetes', '--kubeconfig', TEST_KUBECONFIG, '--namespace', namespace,
      ...FAST_FLEET_FLAGS,
    ]);
    fleet.worlds.forEach((w, i) => hostOf.set(w.agentName, hosts[i]!));
    const agents = fleet.names();
    const onlineSince = kubeOnlineSince(kc);
    const startedAt = Date.now();
    await fleet.startAll();
    await eventually(async () => {
      for (const agent of agents) expect(await onlineSince(agent, startedAt), agent).toBe(true);
    }, { timeoutMs: 30_000, message: 'every agent Online' });

    // What a user types: one file, kubectl apply.
    const names = Array.from({ length: SESSIONS }, (_, i) => `web-${String(i).padStart(2, '0')}`);
    const keys = names.map((n) => `${namespace}/${n}`);
    const file = join(fleet.worlds[0]!.root, 'sessions.yaml');
    // A short stop grace: a host's dockerd stops its containers before it exits (sleep ignores SIGTERM).
    await writeFile(file, names.map((name) => `apiVersion: dockerlet.dev/v1alpha1\nkind: Session\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\nspec:\n  image: ${TEST_IMAGE}\n  command: [sleep, infinity]\n  stopGracePeriodSeconds: 1\n`).join('---\n'));
    const applied = await kubectl(['apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout.match(/created/g)).toHaveLength(SESSIONS);

    // kubectl get sessions: every row Running, bound (AGENT column) to one of the 3 agents, all 3 used.
    const table = await eventually(async () => {
      const rows = await getSessionsTable(namespace);
      expect(rows).toHaveLength(SESSIONS);
      for (const row of rows) {
        expect(row['PHASE'], row['NAME']).toBe('Running');
        expect(agents, row['NAME']).toContain(row['AGENT']);
      }
      expect(new Set(rows.map((r) => r['AGENT'])).size).toBe(3);
      return rows;
    }, { timeoutMs: 120_000, intervalMs: 500, message: `kubectl get sessions: ${SESSIONS} Running on 3 agents` });
    // The engines: exactly 30 running containers across the hosts, none twice, each on the host of
    // the agent kubectl shows.
    const placed = await eventually(async () => {
      const { copies, answered } = await copiesOnHosts(hosts, namespace);
      expect(answered).toHaveLength(3);
      expect([...copies.values()].flat().filter((c) => c.state === 'running')).toHaveLength(SESSIONS);
      for (const row of table) {
        const all = copies.get(`${namespace}/${row['NAME']}`) ?? [];
        expect(all.map((c) => `${c.host}:${c.state}`), row['NAME']).toEqual([`${hostOf.get(row['AGENT']!)!.name}:running`]);
      }
      return copies;
    }, { timeoutMs: 30_000, intervalMs: 500, message: `${SESSIONS} containers across the hosts, each once, where kubectl says` });
    const spread = new Map<string, number>();
    for (const list of placed.values()) spread.set(list[0]!.host, (spread.get(list[0]!.host) ?? 0) + 1);
    console.log(`fleet on hosts: spread ${JSON.stringify([...spread])}`);

    // One host goes away: not the one whose agent schedules (that is the fleet-lease failover's test).
    const scheduler = await eventually(async () => {
      const leading = [];
      for (const [name, p] of fleet!.processes) if ((await p.metrics().catch(() => '')).match(/^dockerlet_leader_election_master_status\{name="scheduler"\} 1$/m)) leading.push(name);
      expect(leading).toHaveLength(1);
      return leading[0]!;
    }, { timeoutMs: 30_000, message: 'one scheduler' });
    const victim = agents.filter((a) => a !== scheduler).sort((a, b) => (spread.get(hostOf.get(b)!.name) ?? 0) - (spread.get(hostOf.get(a)!.name) ?? 0))[0]!;
    const victimHost = hostOf.get(victim)!;
    const victimKeys = [...placed].filter(([, list]) => list[0]!.host === victimHost.name).map(([key]) => key);

    // Every engine that answers, polled the whole time; never two running copies of one Session.
    const now: { phase: 'down' | 'engine back' | 'agent back' } = { phase: 'down' };
    let polls = 0;
    const duplicates: string[] = [];
    const whileEngineBack: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        // The phase when the poll starts: a poll begun before the agent was back may still see its stale copies.
        const phase = now.phase;
        const { copies } = await copiesOnHosts(hosts, namespace);
        polls += 1;
        for (const [key, list] of copies) {
          const twice = running(list);
          if (twice.length < 2) continue;
          const what = `${phase}: ${key} on ${twice.map((c) => `${c.host}@${c.epoch}`).join(', ')}`;
          if (phase === 'engine back') whileEngineBack.push(what);
          else duplicates.push(what);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    try {
      const killedAt = Date.now();
      hostStopped = true;
      await fleet.kill(victim);
      await stopHostEngine(victimHost);
      const engineGoneMs = Date.now() - killedAt;
      await eventually(async () => {
        const rows = await getSessionsTable(namespace);
        for (const row of rows) {
          expect(row['PHASE'], row['NAME']).toBe('Running');
          expect(row['AGENT'], row['NAME']).not.toBe(victim);
        }
        const { copies } = await copiesOnHosts(hosts, namespace);
        for (const key of keys) expect(running(copies.get(key)).map((c) => c.agent), key).toHaveLength(1);
      }, { timeoutMs: FAST_LIVENESS_GRACE_MS + FAST_RESCHEDULE_AFTER_MS + 10_000, intervalMs: 250, message: `the ${victimKeys.length} Sessions of ${victimHost.name} Running on the other hosts` });
      const movedMs = Date.now() - killedAt;

      // Back: test-env starts its dockerd again; the engine brings the stale containers with it
      // (restart policy unless-stopped) before any agent runs there, then the agent returns.
      const restartedAt = Date.now();
      now.phase = 'engine back';
      await restoreHosts();
      hostStopped = false;
      const stale = await copiesByKey(namespace, { socket: victimHost.socket });
      await fleet.start(victim);
      await eventually(() => onlineSince(victim, restartedAt).then((online) => expect(online).toBe(true)), { timeoutMs: 60_000, message: `${victim} Online again` });
      now.phase = 'agent back';
      // Its stale copies removed (not only stopped); every Session once, none on the returned host.
      await eventually(async () => {
        expect([...(await copiesByKey(namespace, { socket: victimHost.socket })).keys()]).toEqual([]);
        const { copies, answered } = await copiesOnHosts(hosts, namespace);
        expect(answered).toHaveLength(3);
        for (const key of keys) expect(running(copies.get(key)), key).toHaveLength(1);
      }, { timeoutMs: 30_000, intervalMs: 250, message: `the stale copies on ${victimHost.name} removed` });
      const pollsBefore = polls;
      await eventually(() => expect(polls - pollsBefore).toBeGreaterThanOrEqual(5), { timeoutMs: 20_000 });
      console.log(
        `fleet on hosts: ${victimHost.name} (${victimKeys.length} Sessions) down, dockerd gone after ${engineGoneMs} ms, all Running elsewhere after ${movedMs} ms; ` +
          `back with ${stale.size} stale container(s), ${[...stale.values()].flat().filter((c) => c.state === 'running').length} of them running again before its agent; ` +
          `${whileEngineBack.length} duplicate sighting(s) before the agent was back; ${polls} polls`,
      );
    } finally {
      polling = false;
      await poller;
    }
    expect(duplicates, 'two running copies of one Session while the host was down or after its agent was back').toEqual([]);
  }, 300_000);
});

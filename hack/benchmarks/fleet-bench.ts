// Scenario "fleet" (issue 12): N agent processes, distinct --agent-name and state dirs, all on the
// one engine, one kube-apiserver, one fleet (one namespace). Distinct agents on one engine rather
// than simulated hosts: there are only 3 of those, and the issue allows either.
//   converge    kubectl apply of N × M Sessions → all Running (status as kubectl shows it, written
//               by the agent each is bound to; the engine then holds exactly N × M, none twice)
//   floor       the same count on the same engine, measured in the same run (see --floor)
//   reschedule  kill -9 one agent that is not the scheduler and remove its containers (the host is
//               gone) → all its Sessions Running on the others
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { AgentProcess, REPO } from './agent-process.ts';
import { deferCleanup, interruptSignal } from './cleanup.ts';
import { FloorContender } from './contender-floor.ts';
import { removeByLabel, sleep } from './engine.ts';
import type { FleetBenchOptions } from './fleet-bench-options.ts';
import { KubeBench, runningOnBinding, SessionWatch } from './fleet-bench-kube.ts';
import type { SessionTrack } from './fleet-bench-kube.ts';
import type { ConvergeRun, FleetBenchReport, Footprint, RescheduleRun } from './fleet-bench-report.ts';
import type { Machine } from './machine.ts';
import { sampleSum } from './metrics-text.ts';
import { memory } from './proc-stats.ts';
import { percentile } from './stats.ts';

const CRD_FILES = ['crds/session.yaml', 'crds/agent.yaml'].map((f) => join(REPO, f));
/** After all Running: no Session event for this long means every agent has said what it will. */
const QUIET_MS = 3_000;
const QUIET_CAP_MS = 30_000;

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** One fleet: its namespace, agents and what the watch saw. */
class BenchFleet {
  readonly agents = new Map<string, AgentProcess>();
  /** Agents killed on purpose: not an error when found dead. */
  readonly killed = new Set<AgentProcess>();
  readonly watch: SessionWatch;
  readonly label: string;

  constructor(
    private readonly kube: KubeBench,
    readonly namespace: string,
    readonly names: readonly string[],
    private readonly root: string,
    private readonly options: FleetBenchOptions,
  ) {
    this.watch = new SessionWatch(kube.kc, namespace);
    this.label = `dockerlet.dev/namespace=${namespace}`;
  }

  agentArgs(): string[] {
    const o = this.options;
    return [
      '--kubeconfig', o.kubeconfig,
      '--namespace', this.namespace,
      '--heartbeat-interval', `${o.heartbeatMs}ms`,
      '--liveness-grace', `${o.livenessGraceMs}ms`,
      '--reschedule-after', `${o.rescheduleAfterMs}ms`,
    ];
  }

  async start(deadline: number): Promise<void> {
    for (const name of this.names) {
      const stateDir = join(this.root, name);
      await mkdir(stateDir, { recursive: true });
      const agent = await AgentProcess.start({
        // --store kubernetes: the Sessions of --namespace on the API server.
        storeDir: 'kubernetes',
        stateDir,
        agentName: name,
        workers: 8,
        logLevel: this.options.agentLogLevel,
        agentArgs: this.agentArgs(),
        ...(this.options.agentLogDir ? { logFile: join(this.options.agentLogDir, `${name}.log`) } : {}),
      });
      this.agents.set(name, agent);
    }
    for (const agent of this.agents.values()) await agent.waitReady(deadline, interruptSignal, 100);
    // Placement is among the agents the scheduler sees Online: all of them, before any Session.
    await this.until(deadline, `the scheduler seeing all ${this.names.length} agents Online`, async () => (await this.schedulerView())?.online === this.names.length);
    await this.watch.start();
  }

  /** The scheduler's metrics (whichever agent holds the fleet lease), or undefined between terms. */
  async schedulerView(): Promise<{ name: string; online: number; text: string } | undefined> {
    for (const [name, agent] of this.agents) {
      if (!agent.alive) continue;
      const text = await agent.metrics().catch(() => '');
      if (sampleSum(text, 'dockerlet_leader_election_master_status', { name: 'scheduler' }) === 1) {
        return { name, online: sampleSum(text, 'dockerlet_scheduler_agents', { state: 'Online' }), text };
      }
    }
    return undefined;
  }

  async until(deadline: number, what: string, done: () => Promise<boolean> | boolean): Promise<void> {
    for (;;) {
      interruptSignal.throwIfAborted();
      for (const agent of this.agents.values()) if (!this.killed.has(agent)) agent.assertAlive();
      if (await done()) return;
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(this.options.pollMs);
    }
  }

  /** Running containers of this fleet by Session name: how many copies each. */
  async copies(docker: Docker): Promise<Map<string, string[]>> {
    const containers = await docker.listContainers({ filters: { label: [this.label], status: ['running'] } });
    const out = new Map<string, string[]>();
    for (const c of containers) {
      const name = c.Labels['dockerlet.dev/name'] ?? '?';
      out.set(name, [...(out.get(name) ?? []), c.Labels['dockerlet.dev/agent'] ?? '?']);
    }
    return out;
  }

  async rss(): Promise<number[]> {
    const out: number[] = [];
    for (const agent of this.agents.values()) if (agent.alive && agent.pid) out.push((await memory(agent.pid)).rssBytes);
    return out;
  }

  async close(docker: Docker): Promise<void> {
    this.watch.stop();
    await Promise.all([...this.agents.values()].map((a) => a.stop(5_000)));
    await removeByLabel(docker, this.label);
    await this.kube.cleanup(this.namespace, this.names);
    await rm(this.root, { recursive: true, force: true });
  }
}

/** Starts a fleet of `size` agents in a namespace of its own; the caller must close() it. */
async function openFleet(kube: KubeBench, options: FleetBenchOptions, size: number, tag: string): Promise<BenchFleet> {
  const id = `bench-${tag}-${randomBytes(3).toString('hex')}`;
  const root = await mkdtemp(join(tmpdir(), 'dockerlet-bench-fleet-'));
  const names = Array.from({ length: size }, (_, i) => `${id}-${String(i + 1).padStart(2, '0')}`);
  await kube.createNamespace(id);
  return new BenchFleet(kube, id, names, root, options);
}

/** kubectl apply of `count` Sessions → every one Running on its bound agent; writes counted. */
async function converge(docker: Docker, kube: KubeBench, fleet: BenchFleet, count: number, options: FleetBenchOptions): Promise<ConvergeRun> {
  const file = join(tmpdir(), `${fleet.namespace}-sessions.yaml`);
  const names = await kube.writeSessions(file, fleet.namespace, count);
  const before = await kube.sessionRequests();
  const load = loadavg()[0] ?? Number.NaN;
  const t0 = performance.now();
  await kube.kubectl(['apply', '-f', file]);
  const appliedAt = performance.now();
  await rm(file, { force: true });
  log(`${fleet.namespace}: kubectl apply of ${count} Sessions returned after ${((appliedAt - t0) / 1000).toFixed(1)} s`);
  const deadline = t0 + options.timeoutMs;
  let shown = 0;
  await fleet.until(deadline, `${count} Sessions Running`, () => {
    const running = names.filter((n) => { const t = fleet.watch.tracks.get(n); return t !== undefined && runningOnBinding(t); }).length;
    if (running - shown >= count / 10) {
      shown = running;
      log(`${fleet.namespace}: ${running}/${count} Running after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    return running === count;
  });
  const allRunning = Math.max(...names.map((n) => fleet.watch.tracks.get(n)!.runningAt!));
  const copies = await fleet.copies(docker);
  const twice = [...copies].filter(([, agents]) => agents.length > 1).map(([name, agents]) => `${name}: ${agents.join(', ')}`);
  const tracks = names.map((n) => fleet.watch.tracks.get(n)!);
  // Settle: the agents' last status writes of this wave, then the API server's counters again.
  const quietDeadline = performance.now() + QUIET_CAP_MS;
  while (performance.now() - fleet.watch.lastEventAt < QUIET_MS && performance.now() < quietDeadline) await sleep(250);
  const after = await kube.sessionRequests();
  const scheduler = await fleet.schedulerView();
  const perAgent = new Map<string, number>();
  for (const t of tracks) perAgent.set(t.boundTo!, (perAgent.get(t.boundTo!) ?? 0) + 1);
  return {
    agents: fleet.names.length,
    sessions: count,
    appliedMs: appliedAt - t0,
    allRunningMs: allRunning - t0,
    engineRunning: [...copies.values()].reduce((n, a) => n + a.length, 0),
    runningTwice: twice,
    spread: { min: Math.min(...perAgent.values()), max: Math.max(...perAgent.values()), agentsUsed: perAgent.size },
    bindingMs: bindingLatencies(tracks),
    schedulerLatency: scheduler ? { sumSeconds: sampleSum(scheduler.text, 'dockerlet_scheduler_scheduling_latency_seconds_sum'), count: sampleSum(scheduler.text, 'dockerlet_scheduler_scheduling_latency_seconds_count') } : undefined,
    statusWritesSeen: perSession(tracks.map((t) => t.statusWrites)),
    otherWritesSeen: perSession(tracks.map((t) => t.otherWrites)),
    apiserverStatusWrites: after.statusWrites - before.statusWrites,
    apiserverObjectWrites: after.objectWrites - before.objectWrites,
    watchRestarts: fleet.watch.restarts,
    loadAverage: { start: load, end: loadavg()[0] ?? Number.NaN },
  };
}

function bindingLatencies(tracks: readonly SessionTrack[]): { p50: number; p99: number; max: number } {
  const values = tracks.flatMap((t) => (t.boundAt === undefined ? [] : [t.boundAt - t.addedAt]));
  return { p50: percentile(values, 50), p99: percentile(values, 99), max: Math.max(...values) };
}

function perSession(values: readonly number[]): { mean: number; max: number } {
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, max: Math.max(...values) };
}

/** kill -9 an agent that is not the scheduler, remove its containers, time its Sessions' move. */
async function reschedule(docker: Docker, kube: KubeBench, fleet: BenchFleet, options: FleetBenchOptions): Promise<RescheduleRun> {
  const scheduler = (await fleet.schedulerView())?.name;
  const held = new Map<string, string[]>();
  for (const [name, t] of fleet.watch.tracks) held.set(t.boundTo!, [...(held.get(t.boundTo!) ?? []), name]);
  const candidate = [...held].filter(([agent]) => agent !== scheduler).sort((a, b) => b[1].length - a[1].length)[0];
  if (!candidate) throw new Error(`no agent but the scheduler (${scheduler ?? 'none'}) holds a Session: ${JSON.stringify([...held].map(([a, n]) => [a, n.length]))}`);
  const [victim, moved] = candidate;
  const agent = fleet.agents.get(victim)!;
  fleet.killed.add(agent);
  const load = loadavg()[0] ?? Number.NaN;
  const t0 = performance.now();
  agent.signal('SIGKILL');
  await agent.waitExit(30_000);
  // The host is gone: so are its containers (on a shared engine they would otherwise run on).
  await removeByLabel(docker, `dockerlet.dev/agent=${victim}`);
  const removedAt = performance.now();
  const deadline = t0 + options.livenessGraceMs + options.rescheduleAfterMs + 120_000;
  let offlineAt = Number.NaN;
  let twiceSeen = 0;
  await fleet.until(deadline, `the ${moved.length} Sessions of ${victim} Running elsewhere`, async () => {
    if (Number.isNaN(offlineAt) && (await kube.agentState(victim)) === 'Offline') offlineAt = performance.now();
    const copies = await fleet.copies(docker);
    twiceSeen += [...copies.values()].filter((a) => a.length > 1).length;
    return moved.every((n) => { const t = fleet.watch.tracks.get(n)!; return t.boundTo !== victim && runningOnBinding(t); });
  });
  const doneAt = Math.max(...moved.map((n) => fleet.watch.tracks.get(n)!.runningAt!));
  return {
    victim,
    scheduler: scheduler ?? '?',
    sessions: moved.length,
    containersRemovedMs: removedAt - t0,
    offlineMs: offlineAt - t0,
    allRunningElsewhereMs: doneAt - t0,
    boundMs: options.rescheduleAfterMs + 5_000,
    runningTwiceSeen: twiceSeen,
    loadAverage: { start: load, end: loadavg()[0] ?? Number.NaN },
  };
}

async function apiserverFootprint(options: FleetBenchOptions): Promise<Pick<Footprint, 'apiserverRssBytes' | 'apiserverPeakRssBytes'>> {
  try {
    const pid = Number((await readFile(options.apiserverPidFile, 'utf8')).trim());
    const m = await memory(pid);
    return { apiserverRssBytes: m.rssBytes, apiserverPeakRssBytes: m.peakRssBytes };
  } catch {
    return { apiserverRssBytes: Number.NaN, apiserverPeakRssBytes: Number.NaN };
  }
}

/** The single-host floor: the same number of containers on the same engine, one way or another. */
async function floor(docker: Docker, kube: KubeBench, options: FleetBenchOptions, count: number): Promise<FleetBenchReport['floor']> {
  if (options.floor === 'none') return undefined;
  if (options.floor === 'engine') {
    const contender = new FloorContender(docker, `fleet-${randomBytes(3).toString('hex')}`, count, options.concurrency);
    const cleanup = deferCleanup(`floor containers ${contender.label}`, () => contender.dispose());
    try {
      const t0 = performance.now();
      await contender.up(interruptSignal);
      return { kind: 'engine', allRunningMs: performance.now() - t0 };
    } finally {
      await cleanup();
    }
  }
  const one = await openFleet(kube, options, 1, 'floor');
  const cleanup = deferCleanup(`floor agent ${one.namespace}`, () => one.close(docker));
  try {
    await one.start(performance.now() + 180_000);
    const run = await converge(docker, kube, one, count, options);
    return { kind: 'agent', allRunningMs: run.allRunningMs, run };
  } finally {
    await cleanup();
  }
}

export async function runFleetBench(docker: Docker, options: FleetBenchOptions, machine: Machine): Promise<FleetBenchReport> {
  const kube = KubeBench.load(options.kubeconfig, options.kubectl);
  await kube.prepare(CRD_FILES);
  if (options.agentLogDir) await mkdir(options.agentLogDir, { recursive: true });
  const total = options.agents * options.sessions;
  const loadAtStart = loadavg();
  log(`floor (${options.floor}): ${total} containers`);
  const floorRun = await floor(docker, kube, options, total);
  if (floorRun) log(`floor: all ${total} running after ${(floorRun.allRunningMs / 1000).toFixed(1)} s`);
  const fleet = await openFleet(kube, options, options.agents, 'fleet');
  const cleanup = deferCleanup(`fleet ${fleet.namespace}`, () => fleet.close(docker));
  try {
    await fleet.start(performance.now() + 180_000);
    log(`${fleet.namespace}: ${options.agents} agents ready and Online`);
    const run = await converge(docker, kube, fleet, total, options);
    log(`${fleet.namespace}: all ${total} Running after ${(run.allRunningMs / 1000).toFixed(1)} s`);
    const rss = await fleet.rss();
    const leases = (await kube.kubectl(['get', 'leases', '-n', fleet.namespace, '-o', 'name'])).split('\n').filter(Boolean).length;
    const footprint: Footprint = { agentRssBytes: rss, leases, ...(await apiserverFootprint(options)) };
    const moved = await reschedule(docker, kube, fleet, options);
    log(`${fleet.namespace}: the ${moved.sessions} Sessions of ${moved.victim} Running elsewhere ${(moved.allRunningElsewhereMs / 1000).toFixed(1)} s after the kill`);
    return { scenario: 'fleet', options, machine, loadAverageAtStart: loadAtStart, floor: floorRun, converge: run, reschedule: moved, footprint };
  } finally {
    await cleanup();
  }
}

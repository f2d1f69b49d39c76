// The fleet scenario's report: what was measured, the goals of issue 12 judged against it, and
// the Markdown for docs/benchmarks.md.
import type { FleetBenchOptions } from './fleet-bench-options.ts';
import type { Machine } from './machine.ts';
import { mib } from './proc-stats.ts';
import { markdownTable, ms, ratio, times } from './stats.ts';

/** Where docs/benchmarks.md's fleet section starts: `bash hack/bench all` keeps it from there on. */
export const FLEET_SECTION_MARKER = '<!-- fleet: from bash hack/bench fleet; bash hack/bench all keeps this section -->';

/** Goal of issue 12: status writes per Session to converge. */
export const STATUS_WRITES_GOAL = 2;
/** Goal of issue 12: an Offline agent's Sessions run elsewhere within reschedule-after + this. */
export const RESCHEDULE_SLACK_MS = 5_000;

export interface ConvergeRun {
  agents: number;
  sessions: number;
  /** Start → kubectl apply returned. */
  appliedMs: number;
  /** Start → the last Session's status said Running, written by the agent it is bound to. */
  allRunningMs: number;
  /** Running containers of the run on the engine then (must equal sessions). */
  engineRunning: number;
  /** Sessions with more than one running container ("name: agent, agent"). */
  runningTwice: string[];
  spread: { min: number; max: number; agentsUsed: number };
  /** Watch: Session added → status.binding seen. */
  bindingMs: { p50: number; p99: number; max: number };
  /** The scheduler's dockerlet_scheduler_scheduling_latency_seconds (first seen unbound → written). */
  schedulerLatency?: { sumSeconds: number; count: number };
  /** Watch events that changed a Session's status, per Session. */
  statusWritesSeen: { mean: number; max: number };
  /** Watch events that changed anything else (the finalizer), per Session. */
  otherWritesSeen: { mean: number; max: number };
  /** apiserver_request_total deltas, every namespace (other clients of a shared server included). */
  apiserverStatusWrites: number;
  apiserverObjectWrites: number;
  watchRestarts: number;
  loadAverage: { start: number; end: number };
}

export interface RescheduleRun {
  victim: string;
  scheduler: string;
  sessions: number;
  containersRemovedMs: number;
  /** kill → its Agent record said Offline (polled). */
  offlineMs: number;
  /** kill → the last of its Sessions Running on another agent (status, by the new agent). */
  allRunningElsewhereMs: number;
  /** The goal for Offline → all Running elsewhere: reschedule-after + 5 s. */
  boundMs: number;
  /** Polls that saw a Session with two running containers. */
  runningTwiceSeen: number;
  loadAverage: { start: number; end: number };
}

export interface Footprint {
  /** VmRSS of each agent when all Sessions ran. */
  agentRssBytes: number[];
  apiserverRssBytes: number;
  apiserverPeakRssBytes: number;
  /** Leases in the fleet's namespace (replica leases + the scheduler's). */
  leases: number;
}

export interface FleetBenchReport {
  scenario: 'fleet';
  options: FleetBenchOptions;
  machine: Machine;
  loadAverageAtStart: number[];
  floor?: { kind: 'engine' | 'agent'; allRunningMs: number; run?: ConvergeRun };
  converge: ConvergeRun;
  reschedule: RescheduleRun;
  footprint: Footprint;
}

export function fleetViolations(report: FleetBenchReport): string[] {
  const { converge: c, reschedule: r } = report;
  const out: string[] = [];
  if (c.engineRunning !== c.sessions) out.push(`${c.engineRunning} containers running for ${c.sessions} Sessions`);
  if (c.runningTwice.length > 0) out.push(`running twice: ${c.runningTwice.slice(0, 5).join('; ')}`);
  if (c.spread.agentsUsed !== c.agents) out.push(`only ${c.spread.agentsUsed} of ${c.agents} agents got Sessions`);
  if (c.statusWritesSeen.mean > STATUS_WRITES_GOAL) out.push(`${c.statusWritesSeen.mean.toFixed(2)} status writes per Session (goal ≤ ${STATUS_WRITES_GOAL})`);
  const moveMs = r.allRunningElsewhereMs - r.offlineMs;
  if (!(moveMs <= r.boundMs)) out.push(`Offline → moved took ${ms(moveMs)} (goal ≤ ${ms(r.boundMs)})`);
  if (r.runningTwiceSeen > 0) out.push(`${r.runningTwiceSeen} poll(s) saw a Session running twice while it moved`);
  return out;
}

function s(value: number): string {
  return Number.isFinite(value) ? `${(value / 1000).toFixed(1)} s` : 'n/a';
}

function load(l: { start: number; end: number }): string {
  return `${l.start.toFixed(1)} → ${l.end.toFixed(1)}`;
}

export function formatFleetBench(report: FleetBenchReport): string {
  const { options: o, converge: c, reschedule: r, footprint: f, machine } = report;
  const violations = fleetViolations(report);
  const floorName = report.floor?.kind === 'agent' ? `one agent, ${c.sessions} Sessions, same API server` : `dockerode create+start loop, ${o.concurrency} in flight`;
  const rows = [
    [`fleet: ${c.agents} agents × ${o.sessions}`, s(c.allRunningMs), report.floor ? times(ratio(c.allRunningMs, report.floor.allRunningMs)) : 'n/a', s(c.appliedMs), load(c.loadAverage)],
    ...(report.floor ? [[`floor (${floorName})`, s(report.floor.allRunningMs), '1.00×', report.floor.run ? s(report.floor.run.appliedMs) : '', report.floor.run ? load(report.floor.run.loadAverage) : '']] : []),
  ];
  const agentRss = [...f.agentRssBytes].sort((a, b) => a - b);
  const mean = c.schedulerLatency && c.schedulerLatency.count > 0 ? (c.schedulerLatency.sumSeconds / c.schedulerLatency.count) * 1000 : Number.NaN;
  return [
    `## fleet: ${c.agents} agents × ${o.sessions} Sessions (${c.sessions}) on one kube-apiserver`,
    '',
    `Distinct agent processes (own --agent-name and state dir) on one Docker engine, one namespace, one fleet; ` +
      `--heartbeat-interval ${ms(o.heartbeatMs)}, --liveness-grace ${ms(o.livenessGraceMs)}, --reschedule-after ${ms(o.rescheduleAfterMs)}. ` +
      'Times run from `kubectl apply -f` of all Sessions (one file) to the last Session whose status says Running, written by the agent it is bound to, ' +
      'as a watch on the namespace sees it.',
    '',
    markdownTable(['run', 'apply → all Running', 'ratio to floor', 'kubectl apply returned', 'load avg (1 min)'], rows),
    '',
    markdownTable(
      ['measure', 'value'],
      [
        ['engine after convergence', `${c.engineRunning} running containers for ${c.sessions} Sessions; ${c.runningTwice.length} Session(s) twice`],
        ['spread', `${c.spread.agentsUsed}/${c.agents} agents, ${c.spread.min}–${c.spread.max} Sessions each`],
        ['binding latency (watch: added → status.binding)', `p50 ${ms(c.bindingMs.p50)}, p99 ${ms(c.bindingMs.p99)}, max ${ms(c.bindingMs.max)}`],
        ['scheduler latency (its histogram: first seen → written)', `mean ${ms(mean)} over ${c.schedulerLatency?.count ?? 0}`],
        ['status writes per Session (watch)', `mean ${c.statusWritesSeen.mean.toFixed(2)}, max ${c.statusWritesSeen.max} (goal ≤ ${STATUS_WRITES_GOAL})`],
        ['other writes per Session (watch: finalizer)', `mean ${c.otherWritesSeen.mean.toFixed(2)}, max ${c.otherWritesSeen.max}`],
        ['API server: status PATCH/PUT (all clients)', `${c.apiserverStatusWrites} (${(c.apiserverStatusWrites / c.sessions).toFixed(2)} per Session)`],
        ['API server: Session POST/PATCH/PUT (all clients)', `${c.apiserverObjectWrites} (${(c.apiserverObjectWrites / c.sessions).toFixed(2)} per Session)`],
        [`reschedule: kill -9 ${r.victim} (${r.sessions} Sessions; scheduler on ${r.scheduler})`, `Offline after ${s(r.offlineMs)}, all Running elsewhere after ${s(r.allRunningElsewhereMs)}`],
        ['reschedule: Offline → all Running elsewhere', `${s(r.allRunningElsewhereMs - r.offlineMs)} (goal ≤ reschedule-after + 5 s = ${s(r.boundMs)}); load ${load(r.loadAverage)}`],
        ['agent RSS (all Running)', `median ${mib(agentRss[Math.floor(agentRss.length / 2)] ?? Number.NaN)}, max ${mib(agentRss[agentRss.length - 1] ?? Number.NaN)}, sum ${mib(agentRss.reduce((a, b) => a + b, 0))}`],
        ['kube-apiserver RSS', `${mib(f.apiserverRssBytes)} (peak ${mib(f.apiserverPeakRssBytes)}; shared with other clients)`],
        ['Leases in the namespace', String(f.leases)],
      ],
    ),
    '',
    violations.length === 0 ? 'Every goal met.' : ['**Goals missed:**', ...violations.map((v) => `- ${v}`)].join('\n'),
    '',
    `Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, ` +
      `Docker ${machine.engine.version} (${machine.engine.storageDriver}), node ${machine.node}, ${machine.date}, ` +
      `load average at start ${report.loadAverageAtStart.map((l) => l.toFixed(1)).join(', ')}` +
      (machine.git ? `, commit ${machine.git.commit.slice(0, 12)}${machine.git.dirty ? ' (dirty tree)' : ''}` : '') +
      '.',
    '',
  ].join('\n');
}

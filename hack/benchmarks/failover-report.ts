// The failover scenario's bounds, summaries and Markdown. The bounds are what DESIGN.md ("High
// availability") promises, stated in the run's own lease timings.
import type { LeaseTimings } from '../../reconciler/leader.ts';
import type { Backend, FailoverOptions, FailoverSignal } from './failover-options.ts';
import type { Machine } from './machine.ts';
import { markdownTable, ms, summarize } from './stats.ts';
import type { Summary } from './stats.ts';

/**
 * SIGTERM releases the lease, so a standby takes it at its next attempt: within one retry period
 * (2 s by default), whatever the lease duration.
 */
export const TERM_BOUND_MS = 2_000;

/**
 * kill -9 releases nothing: the lease runs out at most `leaseDuration` after the last renewal (which
 * came before the kill), and a standby takes it within one retry period after that.
 */
export function boundMs(signal: FailoverSignal, timings: LeaseTimings): number {
  return signal === 'kill' ? timings.leaseDurationMs + timings.retryPeriodMs : TERM_BOUND_MS;
}

export interface FailoverRound {
  round: number;
  /** Signal to the leader → the poll answer in which exactly one survivor reported leading. */
  takeoverMs: number;
  /** Signal to the leader → the list answer showing the container of the Session written right after it. */
  reconcilingAgainMs: number;
  /** Signal → the old leader's exit (SIGTERM: its graceful shutdown, lease release included). */
  oldLeaderExitMs: number;
  /** Spawn → /readyz 200 of the replacement replica. */
  restartReadyMs: number;
  /** Most survivors seen leading in one poll while waiting; above 1 means two leaders at once. */
  mostLeading: number;
}

export interface FailoverGroup {
  backend: Backend;
  signal: FailoverSignal;
  agentName: string;
  boundMs: number;
  rounds: FailoverRound[];
  /**
   * 1-minute load average when the group started and ended. The engine and CPUs may be shared
   * (other jobs, other benchmarks): a high value says the times include waiting for them.
   */
  loadAverage: { start: number; end: number };
  takeover: Summary;
  reconcilingAgain: Summary;
  /** One line per round and measure over its bound (or with two leaders seen). */
  violations: string[];
}

export interface FailoverReport {
  scenario: 'failover';
  options: FailoverOptions;
  machine: Machine;
  groups: FailoverGroup[];
  violations: string[];
}

export function summarizeGroup(group: Pick<FailoverGroup, 'backend' | 'signal' | 'agentName' | 'boundMs' | 'rounds' | 'loadAverage'>): FailoverGroup {
  const violations: string[] = [];
  const where = `${group.backend}/${group.signal}`;
  for (const r of group.rounds) {
    if (r.takeoverMs > group.boundMs) violations.push(`${where} round ${r.round}: takeover ${ms(r.takeoverMs)} > bound ${ms(group.boundMs)}`);
    if (r.reconcilingAgainMs > group.boundMs) {
      violations.push(`${where} round ${r.round}: reconciling again ${ms(r.reconcilingAgainMs)} > bound ${ms(group.boundMs)}`);
    }
    if (r.mostLeading > 1) violations.push(`${where} round ${r.round}: ${r.mostLeading} survivors reported leading at once`);
  }
  return {
    ...group,
    takeover: summarize(group.rounds.map((r) => r.takeoverMs)),
    reconcilingAgain: summarize(group.rounds.map((r) => r.reconcilingAgainMs)),
    violations,
  };
}

function seconds(value: number): string {
  return `${(value / 1000).toFixed(value < 10_000 ? 2 : 1)} s`;
}

/** Every round's time, in order; the ones over the bound in bold. */
function allRounds(values: readonly number[], bound: number): string {
  return values.map((v) => (v > bound ? `**${(v / 1000).toFixed(2)}**` : (v / 1000).toFixed(2))).join(', ');
}

function overCount(values: readonly number[], bound: number): string {
  const over = values.filter((v) => v > bound).length;
  return over === 0 ? 'none' : `**${over}/${values.length}**`;
}

export function formatFailover(report: FailoverReport): string {
  const { options, machine } = report;
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = options.timings;
  const rows = report.groups.flatMap((g) => {
    const row = (measure: string, values: number[], summary: Summary): string[] => [
      g.backend,
      g.signal,
      measure,
      seconds(g.boundMs),
      seconds(summary.median),
      summary.max > g.boundMs ? `**${seconds(summary.max)}**` : seconds(summary.max),
      overCount(values, g.boundMs),
      allRounds(values, g.boundMs),
    ];
    return [
      row('takeover', g.rounds.map((r) => r.takeoverMs), g.takeover),
      row('reconciling again', g.rounds.map((r) => r.reconcilingAgainMs), g.reconcilingAgain),
    ];
  });
  const context = report.groups.map((g) => [
    g.backend,
    g.signal,
    seconds(summarize(g.rounds.map((r) => r.oldLeaderExitMs)).median),
    seconds(summarize(g.rounds.map((r) => r.restartReadyMs)).median),
    String(Math.max(0, ...g.rounds.map((r) => r.mostLeading))),
    `${g.loadAverage.start.toFixed(1)} → ${g.loadAverage.end.toFixed(1)}`,
  ]);
  return [
    `## failover: 3 replicas, ${options.repeat} round(s) per backend × signal`,
    '',
    `Lease ${ms(leaseDurationMs)}, renew deadline ${ms(renewDeadlineMs)}, retry period ${ms(retryPeriodMs)}. ` +
      `Both times run from the signal to the leader. Takeover: exactly one survivor's ` +
      '`dockerlet_leader_election_master_status` is 1 (polled every ' +
      `${options.pollMs} ms). Reconciling again: the container of a Session written right after the signal runs. ` +
      `Bound: kill = lease duration + retry period; term = ${ms(TERM_BOUND_MS)}.`,
    '',
    markdownTable(['backend', 'signal', 'measure', 'bound', 'median', 'worst', 'over bound', 'all rounds (s)'], rows),
    '',
    markdownTable(
      ['backend', 'signal', 'old leader exited (median)', 'replacement ready (median)', 'most survivors leading at once', `load avg (${machine.nproc} CPUs)`],
      context,
    ),
    '',
    report.violations.length === 0
      ? `All ${report.groups.reduce((n, g) => n + g.rounds.length, 0)} rounds within their bounds.`
      : ['**Over bound:**', ...report.violations.map((v) => `- ${v}`)].join('\n'),
    '',
    `Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, ` +
      `Docker ${machine.engine.version} (${machine.engine.storageDriver}), node ${machine.node}, ${machine.date}` +
      (machine.git ? `, commit ${machine.git.commit.slice(0, 12)}${machine.git.dirty ? ' (dirty tree)' : ''}` : '') +
      '.',
    '',
  ].join('\n');
}

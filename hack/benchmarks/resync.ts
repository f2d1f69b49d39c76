// Scenario "resync": what one periodic resync costs with N Sessions running and nothing to do.
// The agent is restarted on the same fleet with a short --resync-period, in two passes:
//   A (--log-level debug): the agent logs one line per finished resync with its own timing (start
//     → every key it enqueued reconciled, and the relist's share), so each resync's wall time is
//     read exactly; a successful reconcile logs at trace, so the resync writes nothing else. The
//     target is judged on the median of these. /metrics is scraped only in the idle gap right
//     after a resync, so the engine-call and reconcile deltas cover exactly K whole resyncs.
//   B (--log-level warn): the same agent without the debug lines, for CPU:
//     /proc CPU time over a window of K periods, divided by the resyncs in it (reconciles / N); per
//     period it includes the idle background (heartbeat, timers) of one period. Wall time here is
//     the mean of the agent's dockerlet_resync_duration_seconds over the window.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interruptSignal } from './cleanup.ts';
import { sleep } from './engine.ts';
import type { Fleet } from './fleet.ts';
import { LogFollower } from './log-follower.ts';
import { agentCounters, callDelta } from './metrics-text.ts';
import type { AgentCounters } from './metrics-text.ts';
import { cpuSeconds } from './proc-stats.ts';
import { ms, summarize } from './stats.ts';
import type { Summary } from './stats.ts';

export interface ResyncOptions {
  resyncPeriodMs: number;
  /** Resyncs observed per pass. */
  resyncs: number;
}

export interface ResyncResult {
  sessions: number;
  resyncPeriodMs: number;
  resyncs: number;
  /** Pass A: engine calls per resync, by op (exact: K whole resyncs). */
  callsPerResync: Record<string, number>;
  reconcilesPerResync: number;
  /** Pass A: relist start → last reconcile of the burst, per resync. */
  wallMs: number[];
  wall: Summary;
  /** Pass A: the relist alone (the one engine call), per resync. */
  relist: Summary;
  /** Pass B: CPU ms per resync period (resync + one period of idle background). */
  cpuMsPerResync: number;
  /** Pass B: dockerlet_reconcile_time_seconds summed over the keys of one resync (a proxy; see report). */
  reconcileMsSumPerResync: number;
  /** Pass B: resyncs in its window (reconciles / N). */
  resyncsInWindow: number;
  /**
   * Pass B: mean wall time of the resyncs in its window, from the agent's own
   * dockerlet_resync_duration_seconds (relist → every key reconciled), with no debug log written.
   */
  quietWallMs: number;
}

const RESYNC_LINE = 'resync: every key reconciled';

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

interface Burst {
  relistMs: number;
  durationMs: number;
}

async function passA(fleet: Fleet, options: ResyncOptions): Promise<Pick<ResyncResult, 'callsPerResync' | 'reconcilesPerResync' | 'wallMs' | 'wall' | 'relist'>> {
  const dir = await mkdtemp(join(tmpdir(), 'dockerlet-bench-resync-'));
  try {
    const logFile = join(dir, 'agent.log');
    const agent = await fleet.replaceAgent({ args: ['--resync-period', `${options.resyncPeriodMs}ms`], logLevel: 'debug', logFile });
    const follower = new LogFollower(logFile);
    await follower.read(); // start-up and adoption: not a resync
    const bursts: Burst[] = [];
    let before: AgentCounters | undefined;
    let after: AgentCounters | undefined;
    const deadline = performance.now() + (options.resyncs + 3) * options.resyncPeriodMs * 2 + 30_000;
    while (!after) {
      interruptSignal.throwIfAborted();
      agent.assertAlive();
      if (performance.now() > deadline) throw new Error(`saw ${bursts.length} complete resyncs, wanted ${options.resyncs + 1}`);
      let completed = false;
      for (const record of await follower.read()) {
        if (record.msg !== RESYNC_LINE) continue;
        bursts.push({ relistMs: Number(record['relistMs']), durationMs: Number(record['durationMs']) });
        completed = true;
      }
      // Scrape only in the idle gap right after a resync completed: the deltas then cover whole
      // resyncs, and the scrape never competes with one.
      if (completed && !before) before = agentCounters(await agent.metrics());
      else if (completed && bursts.length >= options.resyncs + 1) after = agentCounters(await agent.metrics());
      await sleep(50);
    }
    const measured = bursts.slice(1, options.resyncs + 1);
    const wallMs = measured.map((b) => b.durationMs);
    const calls = callDelta(before!.calls, after.calls);
    const callsPerResync: Record<string, number> = {};
    for (const [op, n] of Object.entries(calls)) callsPerResync[op] = n / options.resyncs;
    return {
      callsPerResync,
      reconcilesPerResync: (after.reconciles - before!.reconciles) / options.resyncs,
      wallMs,
      wall: summarize(wallMs),
      relist: summarize(measured.map((b) => b.relistMs)),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function passB(fleet: Fleet, options: ResyncOptions): Promise<Pick<ResyncResult, 'cpuMsPerResync' | 'reconcileMsSumPerResync' | 'resyncsInWindow' | 'quietWallMs'>> {
  const agent = await fleet.replaceAgent({ args: ['--resync-period', `${options.resyncPeriodMs}ms`], logLevel: 'warn' });
  const pid = agent.pid;
  if (pid === undefined) throw new Error('the agent has no pid');
  const before = agentCounters(await agent.metrics());
  const cpuBefore = await cpuSeconds(pid);
  // The period is stretched by up to 10 % of jitter; the count below is what really happened.
  await sleep(options.resyncs * options.resyncPeriodMs * 1.05);
  const cpuAfter = await cpuSeconds(pid);
  const after = agentCounters(await agent.metrics());
  agent.assertAlive();
  const resyncs = (after.reconciles - before.reconciles) / fleet.sessions;
  if (resyncs < 1) throw new Error(`no resync in ${options.resyncs} periods`);
  const timed = after.resyncs - before.resyncs;
  if (timed < 1) throw new Error(`the agent timed no resync in ${options.resyncs} periods (dockerlet_resync_duration_seconds)`);
  return {
    quietWallMs: ((after.resyncSeconds - before.resyncSeconds) * 1000) / timed,
    cpuMsPerResync: ((cpuAfter - cpuBefore) * 1000) / resyncs,
    reconcileMsSumPerResync: ((after.reconcileSeconds - before.reconcileSeconds) * 1000) / resyncs,
    resyncsInWindow: resyncs,
  };
}

export async function runResync(fleet: Fleet, options: ResyncOptions): Promise<ResyncResult> {
  const a = await passA(fleet, options);
  log(`resync N=${fleet.sessions}: wall median ${ms(a.wall.median)} (relist ${ms(a.relist.median)}), calls ${JSON.stringify(a.callsPerResync)}`);
  const b = await passB(fleet, options);
  log(`resync N=${fleet.sessions}: CPU ${ms(b.cpuMsPerResync)} per period over ${b.resyncsInWindow.toFixed(2)} resyncs; wall mean ${ms(b.quietWallMs)} at --log-level warn`);
  // The fleet goes back to default flags for whoever uses it next.
  await fleet.replaceAgent({});
  return { sessions: fleet.sessions, resyncPeriodMs: options.resyncPeriodMs, resyncs: options.resyncs, ...a, ...b };
}

// Scenario "footprint": the agent's memory and CPU at idle with many Sessions (1,000 by default)
// running, with default flags (resync every 60 s, jittered up to 66 s: a 60 s window holds zero
// or one resync, and the report says how many). Measured from /proc, which costs the agent
// nothing; /metrics is scraped only at the window's edges, to count the resyncs in it. The same
// agent with no Session at all is the baseline: what the runtime costs before any Session does.
import { interruptSignal } from './cleanup.ts';
import { sleep } from './engine.ts';
import type { Fleet } from './fleet.ts';
import { agentCounters, sampleSum } from './metrics-text.ts';
import { cpuSeconds, memory, mib } from './proc-stats.ts';
import { median } from './stats.ts';

export interface FootprintOptions {
  idleSeconds: number;
  /** Idle windows, one after the other. */
  repeat: number;
}

export interface FootprintWindow {
  cpuSeconds: number;
  /** CPU time / wall time × 100: percent of one core. */
  cpuPercent: number;
  rssStartBytes: number;
  rssEndBytes: number;
  /** Highest RSS sampled (every second) in the window. */
  rssMaxBytes: number;
  /** Periodic resyncs in the window (engine list calls). */
  resyncs: number;
}

/** V8's view at the end of the last window, from the agent's own /metrics. */
export interface HeapBreakdown {
  /** Committed bytes per heap space (new, old, code, large_object…). */
  spaces: Record<string, number>;
  usedBytes: number;
  externalBytes: number;
}

export interface FootprintResult {
  sessions: number;
  idleSeconds: number;
  windows: FootprintWindow[];
  cpuPercentMedian: number;
  rssMaxMedianBytes: number;
  /** VmHWM: the highest RSS since the agent started, convergence of all N included. */
  peakRssBytes: number;
  heap: HeapBreakdown;
}

/** After convergence: let the heap settle (GC, status flush) before calling it idle. */
const SETTLE_MS = 10_000;

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

export async function runFootprint(fleet: Fleet, options: FootprintOptions): Promise<FootprintResult> {
  const pid = fleet.agent.pid;
  if (pid === undefined) throw new Error('the agent has no pid');
  await sleep(SETTLE_MS);
  const windows: FootprintWindow[] = [];
  for (let w = 0; w < options.repeat; w++) {
    const listsBefore = agentCounters(await fleet.agent.metrics()).calls['list'] ?? 0;
    const start = performance.now();
    const cpuStart = await cpuSeconds(pid);
    const rssStart = (await memory(pid)).rssBytes;
    let rssMax = rssStart;
    while (performance.now() - start < options.idleSeconds * 1000) {
      interruptSignal.throwIfAborted();
      fleet.agent.assertAlive();
      await sleep(Math.min(1000, options.idleSeconds * 1000 - (performance.now() - start)));
      rssMax = Math.max(rssMax, (await memory(pid)).rssBytes);
    }
    const cpuEnd = await cpuSeconds(pid);
    const elapsedSeconds = (performance.now() - start) / 1000;
    const rssEnd = (await memory(pid)).rssBytes;
    const listsAfter = agentCounters(await fleet.agent.metrics()).calls['list'] ?? 0;
    const window: FootprintWindow = {
      cpuSeconds: cpuEnd - cpuStart,
      cpuPercent: ((cpuEnd - cpuStart) / elapsedSeconds) * 100,
      rssStartBytes: rssStart,
      rssEndBytes: rssEnd,
      rssMaxBytes: rssMax,
      resyncs: listsAfter - listsBefore,
    };
    windows.push(window);
    log(`footprint N=${fleet.sessions} window ${w + 1}/${options.repeat}: CPU ${window.cpuPercent.toFixed(2)} % of a core, RSS max ${mib(rssMax)}, ${window.resyncs} resync(s)`);
  }
  const text = await fleet.agent.metrics();
  const spaces: Record<string, number> = {};
  for (const match of text.matchAll(/^dockerlet_nodejs_heap_space_size_total_bytes\{space="([^"]+)"\}\s+(\d+)/gm)) {
    if (Number(match[2]) > 0) spaces[match[1]!] = Number(match[2]);
  }
  return {
    sessions: fleet.sessions,
    idleSeconds: options.idleSeconds,
    heap: {
      spaces,
      usedBytes: sampleSum(text, 'dockerlet_nodejs_heap_size_used_bytes'),
      externalBytes: sampleSum(text, 'dockerlet_nodejs_external_memory_bytes'),
    },
    windows,
    cpuPercentMedian: median(windows.map((w) => w.cpuPercent)),
    rssMaxMedianBytes: median(windows.map((w) => w.rssMaxBytes)),
    peakRssBytes: (await memory(pid)).peakRssBytes,
  };
}

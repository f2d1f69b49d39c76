// Scenario "scheduler-pass": the CPU of one scheduling pass's placement (controllers/scheduler
// place(), pure) at fleet sizes no test machine can run for real, e.g. 1,000 agents × 100
// Sessions. Three shapes: steady (everything bound, nothing to do: the pass every heartbeat
// interval costs this), burst (the last --burst Sessions unbound: a wave of new Sessions) and
// host lost (one agent Offline past reschedule-after: its Sessions move). No engine, no store,
// no I/O: the figure is a floor under a real pass, which also reads the fleet and writes bindings.
import { parseArgs } from 'node:util';
import { place } from '../../controllers/scheduler/place.ts';
import type { AgentView, SessionView } from '../../controllers/scheduler/views.ts';
import { positiveInt, UsageError } from './args.ts';
import { markdownTable, median, ms } from './stats.ts';

export const SCHEDULER_PASS_HELP = `  scheduler-pass  CPU of the scheduler's placement (place(), pure, in this process) for one pass
             over N agents × M Sessions: steady (all bound), burst (the last --burst unbound)
             and host lost (one agent Offline past reschedule-after). No engine needed.

Options (scheduler-pass):
  --agents <n>            agents (default 1000)
  --sessions <m>          Sessions per agent (default 100)
  --burst <k>             unbound Sessions in the burst shape (default 1000)
  --repeat <r>            passes timed per shape, the median reported (default 5)`;

const NOW = '2026-01-01T00:00:00Z';

function agentName(i: number): string {
  return `host-${String(i).padStart(5, '0')}`;
}

function fleetOf(agents: number, perAgent: number, unbound: number, offline: number | undefined): { agents: AgentView[]; sessions: SessionView[] } {
  const views: AgentView[] = Array.from({ length: agents }, (_, i) => ({
    name: agentName(i),
    state: i === offline ? 'Offline' : 'Online',
    offlineForMs: i === offline ? 120_000 : 0,
    labels: {},
    capacity: { nanoCpus: 16e9, memoryBytes: 64 * 2 ** 30 },
    cordoned: false,
    draining: false,
  }));
  const total = agents * perAgent;
  const sessions: SessionView[] = Array.from({ length: total }, (_, i) => {
    const namespace = `team-${i % 50}`;
    const view: SessionView = { key: `${namespace}/s-${String(i).padStart(7, '0')}`, namespace, request: { nanoCpus: 0.1e9, memoryBytes: 256 * 2 ** 20 } };
    if (i < total - unbound) view.binding = { agent: agentName(i % agents), epoch: 1, time: NOW, reason: 'Bound' };
    return view;
  });
  return { agents: views, sessions };
}

function timePasses(input: { agents: AgentView[]; sessions: SessionView[] }, repeat: number): { ms: number; changes: number } {
  const times: number[] = [];
  let changes = 0;
  for (let r = 0; r < repeat; r++) {
    const started = performance.now();
    const decisions = place({ ...input, rescheduleAfterMs: 60_000, drainBusy: new Set(), now: NOW });
    times.push(performance.now() - started);
    changes = decisions.filter((d) => d.change !== 'none').length;
  }
  return { ms: median(times), changes };
}

export function runSchedulerPass(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { agents: { type: 'string' }, sessions: { type: 'string' }, burst: { type: 'string' }, repeat: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(`Usage: bash hack/bench scheduler-pass [options]\n\n${SCHEDULER_PASS_HELP}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals.join(' ')}`);
  const agents = positiveInt('--agents', values.agents, 1000);
  const perAgent = positiveInt('--sessions', values.sessions, 100);
  const burst = Math.min(positiveInt('--burst', values.burst, 1000), agents * perAgent);
  const repeat = positiveInt('--repeat', values.repeat, 5);
  const rows = [
    ['steady: all bound', timePasses(fleetOf(agents, perAgent, 0, undefined), repeat)],
    [`burst: ${burst} unbound`, timePasses(fleetOf(agents, perAgent, burst, undefined), repeat)],
    ['host lost: one agent Offline', timePasses(fleetOf(agents, perAgent, 0, 0), repeat)],
  ] as const;
  process.stdout.write(
    [
      `## scheduler-pass: place() over ${agents} agents × ${perAgent} Sessions (${agents * perAgent})`,
      '',
      markdownTable(['shape', `one pass (median of ${repeat})`, 'bindings written by it'], rows.map(([shape, r]) => [shape, ms(r.ms), String(r.changes)])),
      '',
      `node ${process.version}; placement only (no fleet read, no writes).`,
      '',
    ].join('\n'),
  );
  return 0;
}

// One contender in the converge and teardown scenarios (dockerlet, the dockerode floor, Compose,
// Swarm) and the one way every contender is timed: the clock starts just before its command, and
// "all running" / "all gone" is the list answer that showed it, polled the same way for everyone
// (one label-filtered list call per tick). The running counts of those ticks are the time series
// the plot draws.
import type Docker from 'dockerode';
import { deferCleanup, interruptSignal } from './cleanup.ts';
import { sleep, waitAllRunning } from './engine.ts';

export const CONTENDERS = ['floor', 'dockerlet', 'compose', 'swarm'] as const;
export type ContenderName = (typeof CONTENDERS)[number];

export interface Contender {
  readonly name: ContenderName;
  /** "key=value" that every container this contender makes carries, and nothing else does. */
  readonly label: string;
  /** Untimed: files written, project generated. */
  prepare(): Promise<void>;
  /**
   * Timed from its call: starts making the N containers run. Resolves when the contender's own
   * command is done (the floor's loop, `compose up -d`, `service create`, the agent's /readyz),
   * which may be before or after the containers run: the poll decides that.
   */
  up(signal: AbortSignal): Promise<void>;
  /** Timed from its call: starts removing them; the poll decides when the engine is empty. */
  down(signal: AbortSignal): Promise<void>;
  /** Untimed, once all N run: a chance to read what the contender itself counted. */
  afterUp?(): Promise<void>;
  /** Throws if the contender can no longer converge (its agent exited); checked on every tick. */
  check(): void;
  /** Untimed and idempotent: whatever is left goes, also after a failure. */
  dispose(): Promise<void>;
}

export interface ContenderRun {
  contender: ContenderName;
  sessions: number;
  round: number;
  /** Start → the list answer that showed all N running. */
  upMs: number;
  /** Start → up() resolved (see Contender.up). */
  commandMs: number;
  /** Down start → the list answer that showed none of them left, in any state. */
  downMs: number;
  /** [ms since start, running] per poll tick, until all ran. */
  series: [number, number][];
}

export interface RoundOptions {
  sessions: number;
  round: number;
  pollMs: number;
  timeoutMs: number;
}

/** Lets the engine finish background work (network teardown, shim exits) between phases. */
const SETTLE_MS = 1_000;

function since(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}

/** Polls (one list call per tick, all states) until no container with `label` is left. */
async function waitGone(docker: Docker, label: string, options: { intervalMs: number; deadline: number; signal: AbortSignal; onTick: () => void }): Promise<number> {
  for (;;) {
    const tickStart = performance.now();
    const left = (await docker.listContainers({ all: true, filters: { label: [label] } })).length;
    const answeredAt = performance.now();
    if (left === 0) return answeredAt;
    options.onTick();
    options.signal.throwIfAborted();
    if (answeredAt > options.deadline) throw new Error(`${left} containers with ${label} still there at the deadline`);
    await sleep(Math.max(0, options.intervalMs - (answeredAt - tickStart)));
  }
}

/**
 * Both results; whichever fails first stops the other (through `stop`), and both are settled
 * before this rejects, so nothing keeps creating containers while the cleanup runs.
 */
async function both<A, B>(a: Promise<A>, b: Promise<B>, stop: AbortController): Promise<[A, B]> {
  // The first failure explains; the other one is only the abort it caused.
  let first: { error: unknown } | undefined;
  const onError = (error: unknown): void => {
    first ??= { error };
    stop.abort();
  };
  a.catch(onError);
  b.catch(onError);
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (first) throw first.error;
  if (ra.status === 'rejected' || rb.status === 'rejected') throw new Error('unreachable: a rejection was not seen');
  return [ra.value, rb.value];
}

/** up (timed), settle, down (timed), dispose: one contender, one size, one round. */
export async function runRound(docker: Docker, contender: Contender, options: RoundOptions): Promise<ContenderRun> {
  const release = deferCleanup(`${contender.name} (${contender.label})`, () => contender.dispose());
  try {
    await contender.prepare();
    const series: [number, number][] = [];
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, interruptSignal]);
    const started = performance.now();
    const allRunning = waitAllRunning(docker, contender.label, options.sessions, {
      intervalMs: options.pollMs,
      deadline: started + options.timeoutMs,
      signal,
      onTick: (running) => {
        series.push([since(started), running]);
        contender.check();
      },
    });
    const command = contender.up(signal).then(() => performance.now());
    const [commandAt, allRunningAt] = await both(command, allRunning, stop);
    await contender.afterUp?.();

    await sleep(SETTLE_MS);
    const downStarted = performance.now();
    const gone = waitGone(docker, contender.label, {
      intervalMs: options.pollMs,
      deadline: downStarted + options.timeoutMs,
      signal,
      onTick: () => contender.check(),
    });
    const [, goneAt] = await both(contender.down(signal), gone, stop);
    return {
      contender: contender.name,
      sessions: options.sessions,
      round: options.round,
      upMs: allRunningAt - started,
      commandMs: commandAt - started,
      downMs: goneAt - downStarted,
      series,
    };
  } finally {
    await release();
    await sleep(SETTLE_MS);
  }
}

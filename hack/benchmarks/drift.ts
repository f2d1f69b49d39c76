// Scenario "drift": `docker kill` of a managed container (the engine does not restart a container
// killed by hand, whatever its restart policy) until it runs again, repaired by the agent from the
// engine's events. Kills go one at a time, each to a different container (a second kill of the
// same one would meet the crash-loop back-off, which is a different promise), and the moment of
// "running again" is the engine's own `start` event for that container, received on a stream the
// benchmark opened before the first kill. The agent runs with default flags (resync every 60 s),
// so no periodic resync can do the repair instead of the events.
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { consumeNdjson } from '../../agent/runtime/docker/ndjson.ts';
import { interruptSignal } from './cleanup.ts';
import { sleep } from './engine.ts';
import type { Fleet } from './fleet.ts';
import { agentCounters, callDelta } from './metrics-text.ts';
import { ms, percentile } from './stats.ts';

export interface DriftOptions {
  kills: number;
  /** Pause between one repair and the next kill. */
  gapMs: number;
}

export interface DriftResult {
  sessions: number;
  kills: number;
  /** kill call → the engine's start event for that container, per kill. */
  samplesMs: number[];
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Killed containers that came back with another ID (should be 0: repaired in place). */
  recreated: number;
  /** The agent's engine calls during the scenario, by op. */
  engineCalls: Record<string, number>;
}

const REPAIR_TIMEOUT_MS = 30_000;

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

export async function runDrift(docker: Docker, fleet: Fleet, options: DriftOptions): Promise<DriftResult> {
  const containers = (await docker.listContainers({ all: false, filters: { label: [fleet.label] } })).sort((a, b) => (a.Names[0] ?? '').localeCompare(b.Names[0] ?? ''));
  if (containers.length < options.kills) throw new Error(`drift wants ${options.kills} different containers, the fleet runs ${containers.length}`);
  const waiters = new Map<string, (at: number) => void>();
  const stop = new AbortController();
  const stream = (await docker.getEvents({
    filters: { type: ['container'], event: ['start'], label: [fleet.label] },
    abortSignal: AbortSignal.any([stop.signal, interruptSignal]),
  } as Docker.GetEventsOptions)) as unknown as Readable;
  const consumed = consumeNdjson(stream, (value) => {
    const at = performance.now();
    const id = (value as { id?: string }).id;
    if (id) waiters.get(id)?.(at);
  }).catch(() => undefined);
  const before = agentCounters(await fleet.agent.metrics());
  const samplesMs: number[] = [];
  try {
    for (let i = 0; i < options.kills; i++) {
      interruptSignal.throwIfAborted();
      fleet.agent.assertAlive();
      const id = containers[i]!.Id;
      const started = new Promise<number>((resolve) => waiters.set(id, resolve));
      const killedAt = performance.now();
      await docker.getContainer(id).kill();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`container ${id.slice(0, 12)} did not run again within ${REPAIR_TIMEOUT_MS} ms of its kill`)), REPAIR_TIMEOUT_MS);
      });
      try {
        samplesMs.push((await Promise.race([started, timeout])) - killedAt);
      } finally {
        clearTimeout(timer);
        waiters.delete(id);
      }
      await sleep(options.gapMs);
    }
  } finally {
    stop.abort();
    await consumed;
  }
  const after = agentCounters(await fleet.agent.metrics());
  const ids = await fleet.containerIds();
  const recreated = containers.slice(0, options.kills).filter((c) => !ids.has(c.Id)).length;
  const result: DriftResult = {
    sessions: fleet.sessions,
    kills: options.kills,
    samplesMs,
    p50Ms: percentile(samplesMs, 50),
    p99Ms: percentile(samplesMs, 99),
    maxMs: Math.max(...samplesMs),
    recreated,
    engineCalls: callDelta(before.calls, after.calls),
  };
  log(`drift N=${fleet.sessions}: p50 ${ms(result.p50Ms)}, p99 ${ms(result.p99Ms)} over ${options.kills} kills, recreated ${recreated}`);
  return result;
}

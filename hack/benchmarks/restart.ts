// Scenario "restart": the agent restarted (SIGTERM, then a new process on the same store and state
// dir, as systemd or a Deployment does) under N running Sessions. Timed from the new process's
// spawn (its start-up, node + tsx compiling, included) until it has reconciled every Session once,
// which is when each is Ready again by this agent's own judgement (the status it keeps is then
// re-confirmed; the file is checked afterwards). Nothing may be recreated: containers are adopted.
import { interruptSignal } from './cleanup.ts';
import { sleep } from './engine.ts';
import type { Fleet } from './fleet.ts';
import { agentCounters, sampleSum } from './metrics-text.ts';
import { ms, summarize } from './stats.ts';
import type { Summary } from './stats.ts';

export interface RestartRun {
  round: number;
  /** SIGTERM → the old agent exited. */
  stopMs: number;
  /** New agent's spawn → its first /readyz 200. */
  spawnToReadyMs: number;
  /** New agent's spawn → every Session reconciled once by it, queue empty. */
  spawnToAllReadyMs: number;
  /** Containers whose ID changed across the restart (must be 0). */
  recreated: number;
  /** Sessions with Ready=True in the status file afterwards. */
  readyInStatus: number;
  /** The new agent's engine calls until then, by op. */
  engineCalls: Record<string, number>;
}

export interface RestartResult {
  sessions: number;
  runs: RestartRun[];
  spawnToAllReady: Summary;
  spawnToReady: Summary;
  recreated: number;
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** Polls /metrics until every Session was reconciled once and nothing waits; returns that moment. */
async function waitAllReconciled(fleet: Fleet, deadline: number): Promise<number> {
  for (;;) {
    interruptSignal.throwIfAborted();
    fleet.agent.assertAlive();
    try {
      const text = await fleet.agent.metrics();
      const answeredAt = performance.now();
      const succeeded = sampleSum(text, 'dockerlet_reconcile_total', { controller: 'session', result: 'success' });
      const depth = sampleSum(text, 'dockerlet_workqueue_depth', { name: 'session' });
      if (succeeded >= fleet.sessions && depth === 0) return answeredAt;
    } catch {
      // Not listening yet.
    }
    if (performance.now() > deadline) throw new Error('the restarted agent did not reconcile every Session before the deadline');
    await sleep(50);
  }
}

export async function runRestart(fleet: Fleet, options: { repeat: number; timeoutMs: number }): Promise<RestartResult> {
  const runs: RestartRun[] = [];
  for (let round = 1; round <= options.repeat; round++) {
    const before = await fleet.containerIds();
    const stopMs = await fleet.stopAgent();
    const agent = await fleet.startAgent({});
    const deadline = agent.spawnedAt + options.timeoutMs;
    const [readyAt, allReadyAt] = await Promise.all([agent.waitReady(deadline, interruptSignal), waitAllReconciled(fleet, deadline)]);
    const calls = agentCounters(await agent.metrics()).calls;
    const after = await fleet.containerIds();
    const recreated = [...before].filter((id) => !after.has(id)).length;
    // The file follows memory within its flush delay.
    await sleep(500);
    const run: RestartRun = {
      round,
      stopMs,
      spawnToReadyMs: readyAt - agent.spawnedAt,
      spawnToAllReadyMs: allReadyAt - agent.spawnedAt,
      recreated,
      readyInStatus: await fleet.readyInStatusFile(),
      engineCalls: calls,
    };
    runs.push(run);
    log(`restart N=${fleet.sessions} round ${round}/${options.repeat}: all ready ${ms(run.spawnToAllReadyMs)} after spawn (readyz ${ms(run.spawnToReadyMs)}), recreated ${recreated}`);
    await fleet.waitQuiet();
  }
  return {
    sessions: fleet.sessions,
    runs,
    spawnToAllReady: summarize(runs.map((r) => r.spawnToAllReadyMs)),
    spawnToReady: summarize(runs.map((r) => r.spawnToReadyMs)),
    recreated: Math.max(...runs.map((r) => r.recreated)),
  };
}

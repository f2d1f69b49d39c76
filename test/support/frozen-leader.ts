// The frozen-leader scenario of the fencing e2e tests (test/e2e/*fencing*.test.ts), shared by each
// backend: replicas behind recording engine sockets, a leader frozen (SIGSTOP) with a stop in
// flight, its successor found in the leadership ledger, and the engine half of the proof.
import { join } from 'node:path';
import { expect } from 'vitest';
import { readLedger } from '../../reconciler/leader-ledger.ts';
import type { LedgerEntry } from '../../reconciler/leader-ledger.ts';
import type { AgentProcess, AgentWorld } from './agent-process.ts';
import type { AgentReplicas } from './agent-replicas.ts';
import { EngineRecorder } from './engine-recorder.ts';
import type { EngineRequest } from './engine-recorder.ts';
import { consistently, eventually } from './eventually.ts';

/** An agent replica that reaches the engine only through its own recorder. */
export interface RecordedReplica {
  process: AgentProcess;
  recorder: EngineRecorder;
}

/** Starts `count` replicas of `world`'s agent, each behind a recorder (closed with `recorders`). */
export async function startRecordedReplicas(replicas: AgentReplicas, world: AgentWorld, count: number, args: string[], recorders: EngineRecorder[]): Promise<RecordedReplica[]> {
  const started: RecordedReplica[] = [];
  for (let i = 0; i < count; i++) {
    const recorder = await EngineRecorder.start(join(world.root, `engine-${i}.sock`));
    recorders.push(recorder);
    started.push({ process: await replicas.startReplica(world, [...args, '--docker-socket', recorder.path]), recorder });
  }
  return started;
}

/**
 * Engine writes of `old` from `from` on that belong to its deposed term: under load the old replica
 * may later lead again, legitimately, under a new token (the ledger says when); its writes from then
 * on are not the deposed leader's.
 */
export function deposedWrites(old: RecordedReplica, ledger: string, oldId: string, oldToken: number, from: number): EngineRequest[] {
  const again = readLedger(ledger).find((e) => e.event === 'start' && e.holder === oldId && e.token > oldToken);
  return old.recorder.writesSince(from).filter((w) => again === undefined || w.at < again.at.getTime());
}

/**
 * The engine half of the proof: the successor wrote after the freeze, and the old leader sent
 * nothing under its deposed term from the freeze on (so nothing after the successor's first write).
 */
export function expectNoEngineWriteAfterSuccessor(frozen: FrozenTerm, next: RecordedReplica, atLeast: number): EngineRequest {
  const successorWrites = next.recorder.writesSince(frozen.frozenAt);
  expect(successorWrites.length, 'engine writes of the successor').toBeGreaterThanOrEqual(atLeast);
  const first = successorWrites[0]!;
  expect(deposedWrites(frozen.old, frozen.ledger, frozen.oldId, frozen.oldToken, first.at), 'engine writes of the old leader after the successor\u2019s first').toEqual([]);
  expect(deposedWrites(frozen.old, frozen.ledger, frozen.oldId, frozen.oldToken, frozen.frozenAt), 'engine writes of the old leader after its freeze').toEqual([]);
  return first;
}

/** The term that was frozen: who, under which token, recorded where, frozen when. */
export interface FrozenTerm {
  old: RecordedReplica;
  oldId: string;
  oldToken: number;
  ledger: string;
  frozenAt: number;
}

/** The replica that leads now and the other one, with their identities. */
export async function leaderAndStandby(replicas: AgentReplicas, started: RecordedReplica[]) {
  const leading = await replicas.theLeader(started.map((r) => r.process));
  const old = started.find((r) => r.process === leading)!;
  const next = started.find((r) => r !== old)!;
  return { old, next, oldId: old.process.identity(), nextId: next.process.identity() };
}

/**
 * Freezes `old` once it has sent the stop of `containerId` (which the engine takes --stop-timeout
 * to answer when the process ignores SIGTERM): the reconcile is mid-flight, its final status still
 * to be written. Returns when it froze.
 */
export async function freezeWhileStopping(old: RecordedReplica, containerId: string): Promise<number> {
  await eventually(() => expect(old.recorder.writes.some((w) => w.path.startsWith(`/containers/${containerId}/stop`))).toBe(true), {
    message: `the leader sent the stop of ${containerId}`,
  });
  old.process.freeze(true);
  return Date.now();
}

/** The ledger's first start of a term by `holder`, waited for. */
export function ledgerStart(ledger: string, holder: string, timeoutMs = 20_000): Promise<LedgerEntry> {
  return eventually(
    () => {
      const start = readLedger(ledger).find((e) => e.event === 'start' && e.holder === holder);
      expect(start).toBeDefined();
      return start!;
    },
    { timeoutMs, message: `${holder} leads` },
  );
}

/**
 * Resumes `old`, waits until it recorded the end of its term, then watches 3 s for anything late
 * (a retried flush, a queued engine call) before the records are judged. Returns when it resumed.
 */
export async function resumeUntilStepDown(frozen: FrozenTerm): Promise<number> {
  const { old, ledger, oldId } = frozen;
  old.process.freeze(false);
  const resumedAt = Date.now();
  await eventually(() => expect(readLedger(ledger).some((e) => e.event === 'end' && e.holder === oldId)).toBe(true), {
    timeoutMs: 10_000,
    message: 'the old leader recorded the end of its term',
  });
  await consistently(() => expect(deposedWrites(old, ledger, oldId, frozen.oldToken, resumedAt)).toEqual([]), { durationMs: 3_000, message: 'no engine write from the resumed leader' });
  return resumedAt;
}

// Stress for the file lease: several processes, each with several replicas churning (start,
// lead, release, start again under a new identity) on one lock directory, with 100 ms bounds on
// every backend call, and every fifth answer held back past that bound, so that many calls are
// abandoned by the elector after they took the flock (and maybe a token).
// Whatever the interleaving, the shared ledger must show strictly growing fencing tokens across
// acquisitions and never two leaders at once.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findOverlaps, readLedger } from '../../reconciler/leader-ledger.ts';
import type { LedgerEntry } from '../../reconciler/leader-ledger.ts';
import { REPO } from '../support/agent-process.ts';
import type { ChurnSummary } from '../support/file-lock-churn-worker.ts';

const WORKER = join(REPO, 'test/support/file-lock-churn-worker.ts');
const PROCESSES = 3;
const REPLICAS_PER_PROCESS = 3;
const DURATION_MS = 3_000;

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dockerlet-file-lease-stress-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function runWorker(name: string, ledger: string, mode: string): Promise<ChurnSummary> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, dir, ledger, String(DURATION_MS), String(REPLICAS_PER_PROCESS), name, mode], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`churn worker ${name} exited with ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout.trim()) as ChurnSummary);
    });
  });
}

/** Start lines in append order (one O_APPEND write each, so file order is real-time order). */
function startTokens(entries: readonly LedgerEntry[]): number[] {
  return entries.filter((e) => e.event === 'start').map((e) => e.token);
}

/** Pairs of consecutive starts whose token did not grow. */
function tokenRegressions(tokens: readonly number[]): Array<[number, number]> {
  const bad: Array<[number, number]> = [];
  for (let i = 1; i < tokens.length; i++) if (tokens[i]! <= tokens[i - 1]!) bad.push([tokens[i - 1]!, tokens[i]!]);
  return bad;
}

describe('FileLeaseLock under churn', () => {
  it.each(['releases', 'helper-kills'] as const)(
    'tokens strictly grow across acquisitions and terms never overlap (%s, 3 processes x 3 replicas, 100 ms bounds)',
    async (mode) => {
      const ledger = join(dir, 'ledger.jsonl');
      const summaries = await Promise.all(Array.from({ length: PROCESSES }, (_, i) => runWorker(`p${i}`, ledger, mode)));
      const entries = readLedger(ledger);
      const tokens = startTokens(entries);
      const terms = summaries.reduce((sum, s) => sum + s.terms, 0);
      const abandoned = summaries.reduce((sum, s) => sum + s.abandoned, 0);

      // The churn did happen: many terms across processes, and calls outlived their bound.
      expect(tokens.length).toBe(terms);
      expect(terms).toBeGreaterThanOrEqual(5);
      expect(new Set(entries.filter((e) => e.event === 'start').map((e) => e.holder.split('-')[0])).size).toBeGreaterThanOrEqual(2);
      expect(summaries.reduce((sum, s) => sum + s.delayed, 0)).toBeGreaterThan(0);
      if (mode === 'helper-kills') expect(summaries.reduce((sum, s) => sum + s.helperKills, 0)).toBeGreaterThan(0);

      expect(tokenRegressions(tokens)).toEqual([]);
      expect(findOverlaps(entries)).toEqual([]);
      // Never above the last token issued, which the token file keeps.
      expect(Math.max(...tokens)).toBeLessThanOrEqual(Number.parseInt(await readFile(join(dir, 'token'), 'utf8'), 10));
      expect(summaries.flatMap((s) => s.errors)).toEqual([]);
      console.info(`file lease churn (${mode}): ${terms} terms, tokens up to ${Math.max(...tokens)}, ${abandoned} abandoned calls logged`);
    },
    60_000,
  );
});

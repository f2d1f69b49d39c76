// Stress for the file lease: several processes, each with several replicas churning (start,
// lead, release, start again under a new identity) on one lock directory, with 100 ms bounds on
// every backend call, and every fifth answer held back past that bound, so that many calls are
// abandoned by the elector after they took the flock (and maybe a token).
// Whatever the interleaving, the shared ledger must show strictly growing fencing tokens across
// acquisitions and never two leaders at once.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findOverlaps, readLedger } from '../../reconciler/leader-ledger.ts';
import type { LedgerEntry } from '../../reconciler/leader-ledger.ts';
import { REPO } from '../support/agent-process.ts';
import { eventually } from '../support/eventually.ts';
import { CHURN_GO, CHURN_GRANTS, CHURN_STOP } from '../support/file-lock-churn.ts';
import type { ChurnSummary } from '../support/file-lock-churn.ts';

const WORKER = join(REPO, 'test/support/file-lock-churn-worker.ts');
const PROCESSES = 3;
const REPLICAS_PER_PROCESS = 3;
/** Churn at least this long, and until the ledger holds ENOUGH_TERMS, but never past MAX_MS. */
const MIN_MS = 3_000;
const ENOUGH_TERMS = 10;
const ENOUGH_GRANTS = 30;
const MAX_MS = 12_000;
const STOP_MS = 15_000;

let dir: string;
let control: string;
let children: ChildProcess[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dockerlet-file-lease-stress-'));
  control = await mkdtemp(join(tmpdir(), 'dockerlet-file-lease-stress-control-'));
  children = [];
});

afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
  await rm(control, { recursive: true, force: true });
});

interface Worker {
  ready: Promise<void>;
  summary: Promise<ChurnSummary>;
}

function startWorker(name: string, ledger: string, mode: string): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, dir, ledger, control, String(REPLICAS_PER_PROCESS), name, mode], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.startsWith('ready\n')) onReady();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const summary = new Promise<ChurnSummary>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`churn worker ${name} exited with ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout.slice('ready\n'.length).trim()) as ChurnSummary);
    });
  });
  // A worker that dies before it is ready fails the test through `summary`, not a hang.
  return { ready: Promise.race([ready, summary.then(() => undefined)]), summary };
}

/** Lets the workers churn together until enough terms are in the ledger (see MIN_MS). */
async function churn(ledger: string, mode: string): Promise<ChurnSummary[]> {
  const workers = Array.from({ length: PROCESSES }, (_, i) => startWorker(`p${i}`, ledger, mode));
  await Promise.all(workers.map((w) => w.ready));
  const startedAt = Date.now();
  await writeFile(join(control, CHURN_GO), '');
  await eventually(
    () => {
      const elapsed = Date.now() - startedAt;
      const terms = readLedger(ledger).filter((e) => e.event === 'start').length;
      const grants = readGrants().length;
      if (elapsed < MAX_MS && (elapsed < MIN_MS || (terms < ENOUGH_TERMS && grants < ENOUGH_GRANTS))) {
        throw new Error(`${terms} terms and ${grants} grants after ${elapsed} ms`);
      }
    },
    { timeoutMs: MAX_MS + 5_000, intervalMs: 100 },
  );
  await writeFile(join(control, CHURN_STOP), '');
  // Stopping is a release per replica: a worker that does not finish has a replica stuck in it.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`a churn worker did not stop within ${STOP_MS} ms of the stop file`)), STOP_MS);
  });
  try {
    return await Promise.race([Promise.all(workers.map((w) => w.summary)), stuck]);
  } finally {
    clearTimeout(timer);
  }
}

interface Grant {
  token: number;
  holder: string;
}

/** Every new token a lock granted, in grant order (on a loaded machine many never became terms). */
function readGrants(): Grant[] {
  let text: string;
  try {
    text = readFileSync(join(control, CHURN_GRANTS), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Grant);
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
      const summaries = await churn(ledger, mode);
      const entries = readLedger(ledger);
      const tokens = startTokens(entries);
      const grants = readGrants();
      const terms = summaries.reduce((sum, s) => sum + s.terms, 0);
      const abandoned = summaries.reduce((sum, s) => sum + s.abandoned, 0);

      // The churn did happen: locks in several processes took the lease again and again, and
      // answers came after the elector had given up on them.
      expect(grants.length).toBe(summaries.reduce((sum, s) => sum + s.acquisitions, 0));
      expect(grants.length).toBeGreaterThanOrEqual(5);
      expect(summaries.filter((s) => s.acquisitions > 0).length).toBeGreaterThanOrEqual(2);
      expect(summaries.reduce((sum, s) => sum + s.delayed, 0)).toBeGreaterThan(0);
      if (mode === 'helper-kills') expect(summaries.reduce((sum, s) => sum + s.helperKills, 0)).toBeGreaterThan(0);

      // Every grant of a new lease carries a greater token than any before it, across processes.
      expect(tokenRegressions(grants.map((g) => g.token))).toEqual([]);
      // Terms: what the electors made of those grants (a loaded machine may abandon most of them).
      expect(tokens.length).toBe(terms);
      expect(tokenRegressions(tokens)).toEqual([]);
      const granted = new Set(grants.map((g) => `${g.holder} ${g.token}`));
      expect(entries.filter((e) => e.event === 'start' && !granted.has(`${e.holder} ${e.token}`))).toEqual([]);
      expect(findOverlaps(entries)).toEqual([]);
      // Never above the last token issued, which the token file keeps.
      expect(Math.max(...grants.map((g) => g.token))).toBeLessThanOrEqual(Number.parseInt(await readFile(join(dir, 'token'), 'utf8'), 10));
      expect(summaries.flatMap((s) => s.errors)).toEqual([]);
      console.info(
        `file lease churn (${mode}): ${grants.length} grants (${summaries.map((s) => s.acquisitions).join('+')} by process), ` +
          `${terms} terms, ${abandoned} abandoned calls logged, ${summaries.reduce((sum, s) => sum + s.helperKills, 0)} helper kills`,
      );
    },
    60_000,
  );
});

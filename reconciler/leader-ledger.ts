// A leadership ledger: one line per start and end of a leadership term, appended by every replica
// to one file, so a test (or an operator after an incident) can prove that no two terms overlapped.
import { appendFileSync, readFileSync } from 'node:fs';
import type { StepDownReason } from './leader.ts';

export interface LedgerStart {
  token: number;
  holder: string;
  at: Date;
}

export interface LedgerEnd extends LedgerStart {
  reason: StepDownReason;
}

export interface LeadershipLedger {
  started(entry: LedgerStart): void;
  ended(entry: LedgerEnd): void;
}

export const LEDGER_EVENTS = ['start', 'end'] as const;
export type LedgerEvent = (typeof LEDGER_EVENTS)[number];

export interface LedgerEntry {
  event: LedgerEvent;
  token: number;
  holder: string;
  at: Date;
  reason?: string;
}

/**
 * Appends JSON lines with synchronous O_APPEND writes: a line is one write(2) far below
 * PIPE_BUF-sized limits, so lines from several processes on one host never interleave, and a
 * line is on its way to disk before the elector moves on (a kill -9 right after loses nothing).
 */
export class FileLeadershipLedger implements LeadershipLedger {
  constructor(readonly path: string) {}

  started(entry: LedgerStart): void {
    this.#append({ event: 'start', token: entry.token, holder: entry.holder, at: entry.at.toISOString() });
  }

  ended(entry: LedgerEnd): void {
    this.#append({ event: 'end', token: entry.token, holder: entry.holder, at: entry.at.toISOString(), reason: entry.reason });
  }

  #append(line: Record<string, unknown>): void {
    appendFileSync(this.path, `${JSON.stringify(line)}\n`, { flag: 'a' });
  }
}

/** Reads a ledger file; a missing file is an empty ledger. A torn or foreign line is an error. */
export function readLedger(path: string): LedgerEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, index) => parseLine(line, index + 1));
}

function parseLine(line: string, lineNumber: number): LedgerEntry {
  const raw: unknown = JSON.parse(line);
  if (typeof raw !== 'object' || raw === null) throw new Error(`ledger line ${lineNumber}: not an object`);
  const { event, token, holder, at, reason } = raw as Record<string, unknown>;
  if (!LEDGER_EVENTS.includes(event as LedgerEvent)) throw new Error(`ledger line ${lineNumber}: bad event ${String(event)}`);
  if (typeof token !== 'number' || typeof holder !== 'string' || typeof at !== 'string') {
    throw new Error(`ledger line ${lineNumber}: token, holder and at are required`);
  }
  const time = new Date(at);
  if (Number.isNaN(time.getTime())) throw new Error(`ledger line ${lineNumber}: bad time ${at}`);
  return { event: event as LedgerEvent, token, holder, at: time, ...(typeof reason === 'string' ? { reason } : {}) };
}

export const INTERVAL_CLOSURES = ['end', 'death', 'next-start', 'open'] as const;
/** How an interval's end was found: its own end line, its holder's death, the next start, or not at all. */
export type IntervalClosure = (typeof INTERVAL_CLOSURES)[number];

export interface LeadershipInterval {
  holder: string;
  token: number;
  start: Date;
  /** Undefined while open: the holder may still lead. */
  end: Date | undefined;
  closedBy: IntervalClosure;
}

export interface OverlapOptions {
  /** When each holder died without writing `end` (kill -9): its open interval closes there. */
  deaths?: Map<string, Date>;
}

/**
 * Pairs each start with the next end of the same (holder, token), in time order. A start without
 * an end closes at its holder's death if known, else at the next start by anyone else (all we know
 * is that someone took over), else stays open.
 */
export function leadershipIntervals(entries: readonly LedgerEntry[], options: OverlapOptions = {}): LeadershipInterval[] {
  // Stable sort: equal times keep file order, which is append order.
  const sorted = entries.map((entry, index) => ({ entry, index })).sort((a, b) => a.entry.at.getTime() - b.entry.at.getTime() || a.index - b.index);
  const intervals: LeadershipInterval[] = [];
  const open = new Map<string, LeadershipInterval[]>();
  const keyOf = (holder: string, token: number): string => JSON.stringify([holder, token]);
  for (const { entry } of sorted) {
    const key = keyOf(entry.holder, entry.token);
    if (entry.event === 'start') {
      const interval: LeadershipInterval = { holder: entry.holder, token: entry.token, start: entry.at, end: undefined, closedBy: 'open' };
      intervals.push(interval);
      open.set(key, [...(open.get(key) ?? []), interval]);
      continue;
    }
    // An end without a start (the ledger was created mid-term) has nothing to close.
    const interval = open.get(key)?.shift();
    if (interval !== undefined) {
      interval.end = entry.at;
      interval.closedBy = 'end';
    }
  }
  for (const interval of intervals) {
    if (interval.closedBy !== 'open') continue;
    const death = options.deaths?.get(interval.holder);
    if (death !== undefined && death.getTime() >= interval.start.getTime()) {
      interval.end = death;
      interval.closedBy = 'death';
      continue;
    }
    // Strictly later: another holder starting at the same instant is an overlap, not a successor.
    const next = intervals.find((other) => other.start.getTime() > interval.start.getTime() && other.holder !== interval.holder);
    if (next !== undefined) {
      interval.end = next.start;
      interval.closedBy = 'next-start';
    }
  }
  return intervals;
}

/** Every pair of intervals that share a moment; touching ends (end == next start) do not overlap. */
export function findOverlaps(entries: readonly LedgerEntry[], options: OverlapOptions = {}): Array<[LeadershipInterval, LeadershipInterval]> {
  const intervals = leadershipIntervals(entries, options);
  const endOf = (interval: LeadershipInterval): number => interval.end?.getTime() ?? Number.POSITIVE_INFINITY;
  const overlaps: Array<[LeadershipInterval, LeadershipInterval]> = [];
  for (let i = 0; i < intervals.length; i++) {
    for (let j = i + 1; j < intervals.length; j++) {
      const a = intervals[i]!;
      const b = intervals[j]!;
      if (a.start.getTime() < endOf(b) && b.start.getTime() < endOf(a)) overlaps.push([a, b]);
    }
  }
  return overlaps;
}

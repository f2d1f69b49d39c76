import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileLeadershipLedger, findOverlaps, leadershipIntervals, readLedger } from './leader-ledger.ts';
import type { LedgerEntry } from './leader-ledger.ts';

const at = (s: number): Date => new Date(Date.UTC(2025, 0, 1, 0, 0, s));
const start = (holder: string, token: number, s: number): LedgerEntry => ({ event: 'start', holder, token, at: at(s) });
const end = (holder: string, token: number, s: number): LedgerEntry => ({ event: 'end', holder, token, at: at(s), reason: 'Released' });

describe('findOverlaps', () => {
  it('finds nothing in back-to-back terms, including an end and a start at the same instant', () => {
    expect(findOverlaps([start('a', 1, 0), end('a', 1, 10), start('b', 2, 10), end('b', 2, 20), start('c', 3, 25)])).toEqual([]);
  });

  it('finds two leaders at once, whatever the order of the lines', () => {
    const overlaps = findOverlaps([start('b', 2, 5), start('a', 1, 0), end('b', 2, 8), end('a', 1, 10)]);
    expect(overlaps).toHaveLength(1);
    expect(overlaps[0]!.map((i) => i.holder).sort()).toEqual(['a', 'b']);
  });

  it('pairs by holder and token, not by position', () => {
    // a's end for token 1 comes after b's start: a overlapped b.
    const overlaps = findOverlaps([start('a', 1, 0), start('b', 2, 5), end('b', 2, 6), end('a', 1, 7)]);
    expect(overlaps).toHaveLength(1);
    // An end for another token does not close a's term.
    expect(findOverlaps([start('a', 1, 0), end('a', 9, 1), start('b', 2, 5)])).toHaveLength(0); // closed by next start
    expect(leadershipIntervals([start('a', 1, 0), end('a', 9, 1), start('b', 2, 5)])[0]).toMatchObject({ closedBy: 'next-start', end: at(5) });
  });

  it('closes a killed holder at its death, and reports a successor that started before it', () => {
    const entries = [start('a', 1, 0), start('b', 2, 20), end('b', 2, 30)];
    expect(findOverlaps(entries, { deaths: new Map([['a', at(15)]]) })).toEqual([]);
    const overlaps = findOverlaps(entries, { deaths: new Map([['a', at(25)]]) });
    expect(overlaps).toHaveLength(1);
    expect(overlaps[0]![0]).toMatchObject({ holder: 'a', closedBy: 'death', end: at(25) });
  });

  it('without a death, closes an unended term at the next start by someone else', () => {
    const intervals = leadershipIntervals([start('a', 1, 0), start('a', 2, 3), start('b', 3, 5)]);
    expect(intervals.map((i) => [i.holder, i.token, i.closedBy, i.end])).toEqual([
      ['a', 1, 'next-start', at(5)],
      ['a', 2, 'next-start', at(5)],
      ['b', 3, 'open', undefined],
    ]);
    // a's two unended terms overlap each other: the same holder cannot lead twice either.
    expect(findOverlaps([start('a', 1, 0), start('a', 2, 3), start('b', 3, 5)])).toHaveLength(1);
  });

  it('treats an open term as running on, and two starts at one instant as an overlap', () => {
    expect(findOverlaps([start('a', 1, 0), start('b', 2, 0)])).toHaveLength(1);
    expect(findOverlaps([start('a', 1, 0), end('a', 1, 5), start('a', 1, 6), end('a', 1, 8)])).toEqual([]);
  });
});

describe('FileLeadershipLedger', () => {
  const dirs: string[] = [];
  const ledgerPath = (): string => {
    dirs.push(mkdtempSync(join(tmpdir(), 'dockerlet-ledger-')));
    return join(dirs.at(-1)!, 'ledger.jsonl');
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('appends one JSON line per event with RFC 3339 millisecond times and reads them back', () => {
    const path = ledgerPath();
    expect(readLedger(path)).toEqual([]);
    const one = new FileLeadershipLedger(path);
    const two = new FileLeadershipLedger(path);
    one.started({ token: 1, holder: 'a', at: new Date('2025-01-01T00:00:00.123Z') });
    one.ended({ token: 1, holder: 'a', at: new Date('2025-01-01T00:00:01.000Z'), reason: 'Released' });
    two.started({ token: 2, holder: 'b', at: new Date('2025-01-01T00:00:01.500Z') });
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('{"event":"start","token":1,"holder":"a","at":"2025-01-01T00:00:00.123Z"}');
    expect(JSON.parse(lines[1]!)).toEqual({ event: 'end', token: 1, holder: 'a', at: '2025-01-01T00:00:01.000Z', reason: 'Released' });
    const entries = readLedger(path);
    expect(entries.map((e) => e.event)).toEqual(['start', 'end', 'start']);
    expect(entries[2]!.at).toEqual(new Date('2025-01-01T00:00:01.500Z'));
    expect(findOverlaps(entries)).toEqual([]);
  });

  it('rejects a line that is not a ledger entry', () => {
    const path = ledgerPath();
    writeFileSync(path, '{"event":"start","token":1,"holder":"a","at":"2025-01-01T00:00:00.000Z"}\n{"event":"begin"}\n');
    expect(() => readLedger(path)).toThrow(/line 2/);
  });
});
